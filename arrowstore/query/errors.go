package query

import (
	"errors"
	"fmt"
)

// Sentinel errors returned by Engine.Query. Callers test them with errors.Is
// to choose a status code; the error's text is meant for the user.
var (
	// ErrSyntax: the text is not valid SQL (the error is then a *SyntaxError
	// carrying the position the parser stopped at), or a quoted value compared
	// with the time column is not a time.
	ErrSyntax = errors.New("syntax error")
	// ErrUnsupported: valid SQL that this engine does not run yet. The message
	// names the construct, as in "not supported yet: OR in WHERE".
	ErrUnsupported = errors.New("not supported yet")
	// ErrNoTable: the query names a table the source does not have.
	ErrNoTable = errors.New("table not found")
	// ErrNoColumn: the query names a column the table does not have.
	ErrNoColumn = errors.New("column not found")
	// ErrTooManyRows: the result would hold more than Options.MaxRows rows.
	ErrTooManyRows = errors.New("result too large")
)

// SyntaxError is the error for SQL the parser rejects. It matches ErrSyntax
// with errors.Is.
type SyntaxError struct {
	// Pos is the 1-based byte offset just past the token the parser stopped
	// at, as vitess reports it; 0 when the parser gave no position.
	Pos int
	// Near is that token's text, if any.
	Near string
	// Msg is the parser's message without the position, e.g. "syntax error".
	Msg string

	panicked any // the parser's panic value, if it panicked
}

// Error formats the error as "syntax error at position 6 near 'selec'".
func (e *SyntaxError) Error() string {
	switch {
	case e.Pos > 0 && e.Near != "":
		return fmt.Sprintf("%s at position %d near '%s'", e.Msg, e.Pos, e.Near)
	case e.Pos > 0:
		return fmt.Sprintf("%s at position %d", e.Msg, e.Pos)
	default:
		return e.Msg
	}
}

// Is reports whether target is ErrSyntax.
func (e *SyntaxError) Is(target error) bool { return target == ErrSyntax }

// unsupported returns an error wrapping ErrUnsupported naming what is missing.
func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}

// noColumn returns an error wrapping ErrNoColumn naming the column.
func noColumn(name string) error {
	return fmt.Errorf("%w: %s", ErrNoColumn, name)
}

// noTable returns an error wrapping ErrNoTable naming the table.
func noTable(name string) error {
	return fmt.Errorf("%w: %s", ErrNoTable, name)
}
