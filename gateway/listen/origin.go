package listen

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// AnyOrigin in a WebSocket listener's allowed origins lets a page from
// any origin open a connection.
const AnyOrigin = "*"

// ErrBadOrigin: an allowed-origins entry is neither AnyOrigin nor a
// scheme://host[:port] origin.
var ErrBadOrigin = errors.New("not an origin (want scheme://host[:port] or *)")

// CheckOrigins reports the first entry of an allowed-origins list that is
// not an origin; configuration validation calls it.
func CheckOrigins(allowed []string) error {
	for _, o := range allowed {
		if _, err := normalizeOrigin(o); err != nil {
			return err
		}
	}
	return nil
}

// normalizeOrigin returns an origin as browsers send it in the Origin
// header (lower case, no path), or an error.
func normalizeOrigin(s string) (string, error) {
	if s == AnyOrigin {
		return s, nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("allowed origin %q: %w", s, ErrBadOrigin)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// originPolicy decides which WebSocket handshakes a listener accepts, by
// their Origin header. Browsers always send one on a WebSocket handshake
// and pages cannot forge it, so it tells which site's script is
// connecting; clients that are not browsers send none and are accepted
// (MQTT auth applies to them as to everyone). Without an allow-list only
// pages served from the listener's own host and port may connect (a
// dashboard served by the same address, as gorilla/websocket's default);
// otherwise the listed origins may too, and AnyOrigin opens it to all.
type originPolicy struct {
	any     bool
	allowed map[string]bool
}

func newOriginPolicy(list []string) (originPolicy, error) {
	p := originPolicy{allowed: map[string]bool{}}
	for _, o := range list {
		n, err := normalizeOrigin(o)
		if err != nil {
			return p, err
		}
		if n == AnyOrigin {
			p.any = true
		}
		p.allowed[n] = true
	}
	return p, nil
}

// allows reports whether the handshake r may proceed.
func (p originPolicy) allows(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || p.any {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	return p.allowed[strings.ToLower(u.Scheme+"://"+u.Host)]
}
