// Package rows holds the small set of types every stage of lakegate shares:
// a published MQTT message with its context, the typed rows a formatter makes
// of it, and the sentinel errors that travel back to the broker hook.
//
// It sits under arrowstore only because the repository's top level is fixed;
// it is a leaf that imports nothing but the standard library, so the broker
// hook, the router, the formatter runtime and the store can all depend on it
// without depending on each other.
package rows

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Kind is the type of one value in a row.
type Kind uint8

// The value kinds a formatter may produce. The numbers are part of the plugin
// ABI and the write-ahead log format: never renumber them.
const (
	KindNull      Kind = 0
	KindInt64     Kind = 1
	KindFloat64   Kind = 2
	KindBool      Kind = 3
	KindString    Kind = 4
	KindBytes     Kind = 5
	KindTimestamp Kind = 6 // unix nanoseconds, UTC
)

var kindNames = [...]string{"null", "int64", "float64", "bool", "string", "bytes", "timestamp"}

// String returns the kind's name as used in configuration ("int64", "float64", ...).
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseKind turns a configuration type name into a Kind. It accepts the
// canonical names and the common aliases ("int", "double", "text", "boolean").
func ParseKind(name string) (Kind, error) {
	switch name {
	case "int64", "int", "integer", "long":
		return KindInt64, nil
	case "float64", "float", "double", "number":
		return KindFloat64, nil
	case "bool", "boolean":
		return KindBool, nil
	case "string", "text", "str":
		return KindString, nil
	case "bytes", "binary", "blob":
		return KindBytes, nil
	case "timestamp", "time", "datetime":
		return KindTimestamp, nil
	}
	return KindNull, fmt.Errorf("unknown column type %q (want int64, float64, bool, string, bytes or timestamp)", name)
}

// Value is one typed cell. Only the field that matches Kind is meaningful.
type Value struct {
	Kind  Kind
	Int   int64   // KindInt64, KindTimestamp (unix ns), KindBool (0 or 1)
	Float float64 // KindFloat64
	Str   string  // KindString
	Bytes []byte  // KindBytes
}

// Null returns the null value.
func Null() Value { return Value{} }

// Int returns an int64 value.
func Int(v int64) Value { return Value{Kind: KindInt64, Int: v} }

// Float returns a float64 value.
func Float(v float64) Value { return Value{Kind: KindFloat64, Float: v} }

// Bool returns a bool value.
func Bool(v bool) Value {
	if v {
		return Value{Kind: KindBool, Int: 1}
	}
	return Value{Kind: KindBool}
}

// String returns a string value.
func String(v string) Value { return Value{Kind: KindString, Str: v} }

// Bytes returns a bytes value. The slice is kept, not copied.
func Bytes(v []byte) Value { return Value{Kind: KindBytes, Bytes: v} }

// Timestamp returns a timestamp value from unix nanoseconds.
func Timestamp(unixNanos int64) Value { return Value{Kind: KindTimestamp, Int: unixNanos} }

// AsBool reports the value of a KindBool value.
func (v Value) AsBool() bool { return v.Int != 0 }

// Equal reports whether two values have the same kind and content.
func (v Value) Equal(o Value) bool {
	if v.Kind != o.Kind {
		return false
	}
	switch v.Kind {
	case KindFloat64:
		return v.Float == o.Float || (math.IsNaN(v.Float) && math.IsNaN(o.Float))
	case KindString:
		return v.Str == o.Str
	case KindBytes:
		return string(v.Bytes) == string(o.Bytes)
	default:
		return v.Int == o.Int
	}
}

// Column is one named value of a row.
type Column struct {
	Name  string
	Value Value
}

// Row is one record bound for a table: a timestamp and named, typed columns.
// The time column itself is not among Columns.
type Row struct {
	Table   string // destination table; empty means the route's table
	Time    int64  // unix nanoseconds, UTC
	Columns []Column
}

// Property is one MQTT 5 user property.
type Property struct {
	Key   string
	Value string
}

// Message is one PUBLISH as the gateway received it, with the context a
// formatter may use.
type Message struct {
	Topic           string
	Payload         []byte
	ClientID        string
	Username        string
	QoS             byte
	Retain          bool
	ProtocolVersion byte // 3, 4 (MQTT 3.1.1) or 5
	ContentType     string
	UserProperties  []Property
	Received        time.Time
}

// Sentinel errors that cross package boundaries. Callers test them with
// errors.Is; the broker hook maps them to MQTT 5 reason codes.
var (
	// ErrMalformedPayload: the formatter could not parse the payload (MQTT 5 reason 0x99).
	ErrMalformedPayload = errors.New("malformed payload")
	// ErrPluginFailed: the formatter trapped, timed out, ran out of memory or broke its limits.
	ErrPluginFailed = errors.New("formatter failed")
	// ErrSchemaConflict: a value's type does not fit the column's stored type.
	ErrSchemaConflict = errors.New("schema conflict")
	// ErrInvalidName: a table or column name that cannot be stored.
	ErrInvalidName = errors.New("invalid name")
	// ErrStoreClosed: the store no longer accepts writes.
	ErrStoreClosed = errors.New("store closed")
)

// MaxNameLen is the longest table or column name accepted.
const MaxNameLen = 128

// CheckTableName reports whether name can be a table: 1 to MaxNameLen
// characters from [A-Za-z0-9_-], not starting with '-'. Tables become
// directory names, so nothing that could escape the data directory passes.
func CheckTableName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("%w: table name %q must be 1 to %d characters", ErrInvalidName, name, MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c == '-' && i > 0)
		if !ok {
			return fmt.Errorf("%w: table name %q may hold only letters, digits, '_' and '-'", ErrInvalidName, name)
		}
	}
	return nil
}

// CheckColumnName reports whether name can be a column: 1 to MaxNameLen
// bytes of valid, printable text.
func CheckColumnName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("%w: column name %q must be 1 to %d bytes", ErrInvalidName, name, MaxNameLen)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return fmt.Errorf("%w: column name %q has a control or invalid character", ErrInvalidName, name)
		}
	}
	return nil
}
