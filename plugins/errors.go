package plugins

import (
	"errors"

	"github.com/lakegate/lakegate/arrowstore/rows"
)

// Reason says why a call failed. Stats counts failures by reason.
type Reason uint8

// Failure reasons.
const (
	// ReasonMalformed: the guest could not parse the payload (rows.ErrMalformedPayload).
	ReasonMalformed Reason = iota + 1
	// ReasonGuestError: the guest reported a failure that is not the
	// payload's fault, such as bad route options. The instance is kept.
	ReasonGuestError
	// ReasonTrap: the guest trapped (unreachable, out-of-bounds access, ...).
	ReasonTrap
	// ReasonExit: the guest exited, e.g. a Go panic.
	ReasonExit
	// ReasonTimeout: the call ran past Limits.CallTimeout.
	ReasonTimeout
	// ReasonCanceled: the caller's context ended during the call.
	ReasonCanceled
	// ReasonOOM: the guest ran out of memory (Limits.MemoryPages).
	ReasonOOM
	// ReasonOutputLimit: the output broke Limits.MaxRows or MaxOutputBytes.
	ReasonOutputLimit
	// ReasonBadOutput: the guest broke the ABI (bad pointers or encoding).
	ReasonBadOutput
	// ReasonInstantiate: a new instance could not be started.
	ReasonInstantiate
	// ReasonInputTooLarge: the message does not fit a 32-bit guest buffer.
	ReasonInputTooLarge

	numReasons
)

var reasonNames = [numReasons]string{
	"", "malformed", "guest_error", "trap", "exit", "timeout", "canceled",
	"oom", "output_limit", "bad_output", "instantiate", "input_too_large",
}

// String returns the reason's snake_case name, as used in metrics.
func (r Reason) String() string {
	if r < numReasons && r > 0 {
		return reasonNames[r]
	}
	return "unknown"
}

// Reasons lists every failure reason, for exporting metrics.
func Reasons() []Reason {
	rs := make([]Reason, 0, numReasons-1)
	for r := Reason(1); r < numReasons; r++ {
		rs = append(rs, r)
	}
	return rs
}

// discards reports whether a failure of this reason closes the instance.
func (r Reason) discards() bool {
	switch r {
	case ReasonMalformed, ReasonGuestError, ReasonInputTooLarge, ReasonInstantiate:
		return false
	}
	return true
}

var _ error = (*Error)(nil)

// Error is the error a Formatter returns. It wraps rows.ErrMalformedPayload
// for ReasonMalformed and rows.ErrPluginFailed for every other reason, and
// the context's error for ReasonCanceled.
type Error struct {
	Formatter string
	Reason    Reason
	Text      string // the guest's error text, or the host's explanation
	cause     error
}

// Error returns "formatter NAME: malformed payload: TEXT" or
// "formatter NAME failed (REASON): TEXT".
func (e *Error) Error() string {
	if e.Reason == ReasonMalformed {
		return "formatter " + e.Formatter + ": " + rows.ErrMalformedPayload.Error() + ": " + e.Text
	}
	return "formatter " + e.Formatter + " failed (" + e.Reason.String() + "): " + e.Text
}

// Unwrap returns the sentinel and, if any, the underlying cause.
func (e *Error) Unwrap() []error {
	s := rows.ErrPluginFailed
	if e.Reason == ReasonMalformed {
		s = rows.ErrMalformedPayload
	}
	if e.cause != nil {
		return []error{s, e.cause}
	}
	return []error{s}
}

// ErrClosed is returned by calls on a closed Formatter or Runtime.
var ErrClosed = errors.New("plugins: closed")
