package auth

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrInvalidFilter is wrapped by every error CheckFilter returns.
var ErrInvalidFilter = errors.New("invalid topic filter")

// CheckFilter reports whether f is a well-formed MQTT topic filter: not
// empty, valid UTF-8 without NUL, '+' and '#' only as whole levels, '#'
// only as the last level.
func CheckFilter(f string) error {
	if f == "" {
		return fmt.Errorf("%w: empty", ErrInvalidFilter)
	}
	if !utf8.ValidString(f) || strings.ContainsRune(f, 0) {
		return fmt.Errorf("%w %q: not valid UTF-8 or contains NUL", ErrInvalidFilter, f)
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.ContainsAny(l, "+#") && len(l) > 1 {
			return fmt.Errorf("%w %q: '+' and '#' must be a whole level", ErrInvalidFilter, f)
		}
		if l == "#" && i != len(levels)-1 {
			return fmt.Errorf("%w %q: '#' must be the last level", ErrInvalidFilter, f)
		}
	}
	return nil
}

// Covers reports whether every topic that filter f matches is also matched
// by filter r. A topic name is a filter without wildcards, so Covers(r, t)
// is also "topic t matches filter r". As MQTT requires, a wildcard in the
// first level of r never matches a topic starting with '$' (such as $SYS).
// Both arguments are expected to be well-formed (see CheckFilter); for
// malformed input Covers returns false or an answer that is only
// consistent, never a panic.
func Covers(r, f string) bool {
	if r == "" || f == "" {
		return false
	}
	if strings.HasPrefix(f, "$") && (r[0] == '+' || r[0] == '#') {
		return false
	}
	for {
		rl, rrest, rmore := strings.Cut(r, "/")
		if rl == "#" {
			return true
		}
		fl, frest, fmore := strings.Cut(f, "/")
		switch {
		case fl == "#":
			return false // f matches everything below; only '#' in r covers it
		case rl == "+":
		case fl == "+" || rl != fl:
			return false
		}
		if !rmore {
			return !fmore
		}
		if !fmore {
			// f has ended: only a final "#" in r ("a/#" matches "a") remains possible.
			return rrest == "#"
		}
		r, f = rrest, frest
	}
}

// shareFilter strips a shared subscription's "$share/<group>/" prefix, so
// ACL rules are written for the topic filter that is shared.
func shareFilter(f string) string {
	rest, ok := strings.CutPrefix(f, "$share/")
	if !ok {
		return f
	}
	if _, filter, ok := strings.Cut(rest, "/"); ok {
		return filter
	}
	return f
}
