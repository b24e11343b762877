package sdk

var _ error = (*Error)(nil)

// Error is an error with the output status it stands for. Handlers usually
// return plain errors (which mean StatusMalformed) and use Fail for errors
// that are not the payload's fault.
type Error struct {
	Status Status
	Text   string
	Err    error // optional cause
}

// Error returns the text handed to the host.
func (e *Error) Error() string {
	if e.Err != nil {
		if e.Text == "" {
			return e.Err.Error()
		}
		return e.Text + ": " + e.Err.Error()
	}
	return e.Text
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Malformed returns an error that reports the payload as malformed with the
// given text (the host answers an MQTT 5 publisher with reason 0x99).
func Malformed(text string) error { return &Error{Status: StatusMalformed, Text: text} }

// Fail returns an error that is not the payload's fault, such as a route
// option the plugin does not understand. The host counts it as a formatter
// failure (rows.ErrPluginFailed) but keeps the instance.
func Fail(text string) error { return &Error{Status: StatusFailed, Text: text} }

// statusOf finds the status an error stands for: that of the first *Error
// in its chain, else StatusMalformed. It avoids errors.As so that TinyGo
// builds need no reflection.
func statusOf(err error) Status {
	for err != nil {
		if e, ok := err.(*Error); ok {
			return e.Status
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			break
		}
		err = u.Unwrap()
	}
	return StatusMalformed
}
