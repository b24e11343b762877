package timeparse

import (
	"strconv"

	"github.com/lakegate/lakegate/sdk-plugin/go/jsonscan"
)

// Unit is how a formatter reads a time value, as its time_format option
// names it.
type Unit uint8

// The time formats: Auto reads numbers by magnitude (below 1e11 seconds,
// below 1e14 milliseconds, below 1e17 microseconds, else nanoseconds) and
// text as RFC 3339; UnitRFC3339 accepts only RFC 3339 text.
const (
	UnitAuto Unit = iota
	UnitS
	UnitMS
	UnitUS
	UnitNS
	UnitRFC3339
)

// ParseUnit reads a time_format option: auto (or empty), s, ms, us, ns or rfc3339.
func ParseUnit(s string) (Unit, bool) {
	switch s {
	case "auto", "":
		return UnitAuto, true
	case "s":
		return UnitS, true
	case "ms":
		return UnitMS, true
	case "us":
		return UnitUS, true
	case "ns":
		return UnitNS, true
	case "rfc3339":
		return UnitRFC3339, true
	}
	return 0, false
}

// FromNumber converts a number in unit u to unix nanoseconds. It returns an
// error message for the payload, or "".
func FromNumber(n jsonscan.Number, u Unit) (int64, string) {
	scale := 0
	switch u {
	case UnitS:
		scale = 9
	case UnitMS:
		scale = 6
	case UnitUS:
		scale = 3
	case UnitNS:
	case UnitRFC3339:
		return 0, "expected an RFC 3339 string (time_format rfc3339), found a number"
	default:
		v, ok := n.Float()
		if v < 0 {
			v = -v
		}
		switch {
		case !ok:
			return 0, "time " + string(n.Raw) + " is out of range"
		case v < 1e11:
			scale = 9
		case v < 1e14:
			scale = 6
		case v < 1e17:
			scale = 3
		}
	}
	ns, ok := n.Scaled(scale)
	if !ok {
		return 0, "time " + string(n.Raw) + " is out of range"
	}
	return ns, ""
}

// FromText converts a time text to unix nanoseconds: RFC 3339 whatever the
// unit, or else a number in unit u (not for UnitRFC3339). It returns an
// error message for the payload, or "".
func FromText(s []byte, u Unit) (int64, string) {
	if ns, ok := RFC3339(s); ok {
		return ns, ""
	}
	if u == UnitRFC3339 {
		return 0, strconv.Quote(string(s)) + " is not an RFC 3339 time"
	}
	n, err := jsonscan.ParseNumber(s)
	if err != nil {
		return 0, strconv.Quote(string(s)) + " is neither an RFC 3339 time nor a number"
	}
	return FromNumber(n, u)
}
