// Package format is the logic of lakegate's built-in InfluxDB line protocol
// formatter: it turns line protocol payloads into rows through the plugin
// SDK. The guest program in ../guest registers it; keeping it in a plain
// package lets it be tested and fuzzed natively.
//
// The accepted payloads, route options and output are described in
// formatters/line/README.md.
package format

import (
	"strconv"

	sdk "github.com/lakegate/lakegate/sdk-plugin/go"
	"github.com/lakegate/lakegate/sdk-plugin/go/jsonscan"
)

// Route option keys.
const (
	OptTableFromMeasurement = "table_from_measurement"
	OptPrecision            = "precision"
)

// MeasurementColumn names the string column that holds the measurement
// when table_from_measurement is false.
const MeasurementColumn = "measurement"

type config struct {
	fromMeasurement bool
	mult            int64 // nanoseconds per timestamp unit
}

func (c *config) parse(opts []sdk.Option, strict bool) error {
	*c = config{fromMeasurement: true, mult: 1}
	for _, o := range opts {
		switch o.Key {
		case OptTableFromMeasurement:
			switch o.Value {
			case "true":
				c.fromMeasurement = true
			case "false":
				c.fromMeasurement = false
			default:
				return sdk.Fail("option table_from_measurement: " + strconv.Quote(o.Value) + " is not true or false")
			}
		case OptPrecision:
			switch o.Value {
			case "ns", "n":
				c.mult = 1
			case "us", "u":
				c.mult = 1e3
			case "ms":
				c.mult = 1e6
			case "s":
				c.mult = 1e9
			default:
				return sdk.Fail("option precision: " + strconv.Quote(o.Value) + " is not ns, us, ms or s")
			}
		default:
			if strict {
				return sdk.Fail("unknown option " + strconv.Quote(o.Key) + " (want table_from_measurement or precision)")
			}
		}
	}
	return nil
}

// Formatter holds the buffers reused from message to message. The zero
// value is ready; it is not safe for concurrent use.
type Formatter struct {
	cfg  config
	errs jsonscan.Scanner // only to place errors (line and column)
	data []byte
	pos  int
	out  *sdk.Output
	key  []byte // an unescaped name
	val  []byte // an unescaped tag value or string field
}

// Check validates a route's options; the gateway calls it at start.
func Check(in *sdk.Input) error {
	var c config
	return c.parse(in.Options, true)
}

func (f *Formatter) errorAt(off int, msg string) error { return f.errs.ErrorAt(off, msg) }

// expected returns an error at the current position saying what was
// expected and what was found.
func (f *Formatter) expected(what string) error {
	if f.pos >= len(f.data) || f.data[f.pos] == '\n' || f.data[f.pos] == '\r' {
		return f.errorAt(f.pos, "unexpected end of line, expected "+what)
	}
	return f.errorAt(f.pos, "expected "+what+", found "+quoteByte(f.data[f.pos]))
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return "'" + string(rune(c)) + "'"
	}
	return "byte 0x" + strconv.FormatUint(uint64(c), 16)
}

// Handle formats one message: lines of line protocol, one row each.
func (f *Formatter) Handle(in *sdk.Input, out *sdk.Output) error {
	if err := f.cfg.parse(in.Options, false); err != nil {
		return err
	}
	f.out, f.data, f.pos = out, in.Payload, 0
	f.errs.Reset(in.Payload)
	if len(f.data) >= 3 && f.data[0] == 0xEF && f.data[1] == 0xBB && f.data[2] == 0xBF {
		f.pos = 3 // UTF-8 byte order mark
	}
	n := 0
	for f.pos < len(f.data) {
		f.skipBlank()
		if f.pos >= len(f.data) {
			break
		}
		switch f.data[f.pos] {
		case '\n':
			f.pos++
			continue
		case '\r':
			if f.pos+1 < len(f.data) && f.data[f.pos+1] == '\n' {
				f.pos += 2
				continue
			}
		case '#': // a comment line
			for f.pos < len(f.data) && f.data[f.pos] != '\n' {
				f.pos++
			}
			continue
		}
		if err := f.line(); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return f.errorAt(0, "no lines of line protocol in the payload")
	}
	return nil
}

func (f *Formatter) skipBlank() {
	for f.pos < len(f.data) && (f.data[f.pos] == ' ' || f.data[f.pos] == '\t') {
		f.pos++
	}
}

// atLineEnd reports whether the line ends at the current position.
func (f *Formatter) atLineEnd() bool {
	if f.pos >= len(f.data) {
		return true
	}
	c := f.data[f.pos]
	return c == '\n' || c == '\r' && f.pos+1 < len(f.data) && f.data[f.pos+1] == '\n'
}

// line reads one line: measurement[,tag=value...] field=value[,...] [time].
func (f *Formatter) line() error {
	out := f.out
	start := f.pos
	name, err := f.name(true, "a measurement")
	if err != nil {
		return err
	}
	if f.cfg.fromMeasurement {
		if !validTable(name) {
			return f.errorAt(start, "measurement "+strconv.Quote(string(name))+" cannot name a table (letters, digits, '_' and '-'); set table_from_measurement: false to keep it in a column")
		}
		out.Row(jsonscan.UnsafeString(name))
	} else {
		out.Row("")
		out.StringBytes(MeasurementColumn, name)
	}
	for f.pos < len(f.data) && f.data[f.pos] == ',' {
		f.pos++
		if err := f.tag(); err != nil {
			return err
		}
	}
	if f.pos >= len(f.data) || f.data[f.pos] != ' ' {
		return f.expected("',' and a tag, or ' ' and the fields")
	}
	for f.pos < len(f.data) && f.data[f.pos] == ' ' {
		f.pos++
	}
	for {
		if err := f.field(); err != nil {
			return err
		}
		if f.pos < len(f.data) && f.data[f.pos] == ',' {
			f.pos++
			continue
		}
		break
	}
	if f.atLineEnd() {
		return f.endLine()
	}
	if f.data[f.pos] != ' ' {
		return f.expected("',' and a field, ' ' and a timestamp, or the end of the line")
	}
	f.skipBlank()
	if f.atLineEnd() {
		return f.endLine()
	}
	tsAt := f.pos
	for f.pos < len(f.data) && f.data[f.pos] != ' ' && f.data[f.pos] != '\t' && !f.atLineEnd() {
		f.pos++
	}
	raw := f.data[tsAt:f.pos]
	t, err := strconv.ParseInt(jsonscan.UnsafeString(raw), 10, 64)
	if !digitsOnly(raw) {
		return f.errorAt(tsAt, "timestamp "+strconv.Quote(string(raw))+" is not an integer")
	}
	if err != nil {
		return f.errorAt(tsAt, "timestamp "+string(raw)+" is out of the int64 range")
	}
	if m := f.cfg.mult; m != 1 {
		if t > (1<<63-1)/m || t < -(1<<63-1)/m {
			return f.errorAt(tsAt, "timestamp "+string(raw)+" is out of range")
		}
		t *= m
	}
	out.Time(t)
	f.skipBlank()
	if !f.atLineEnd() {
		return f.expected("the end of the line after the timestamp")
	}
	return f.endLine()
}

func digitsOnly(b []byte) bool {
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		b = b[1:]
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

func (f *Formatter) endLine() error {
	if f.pos < len(f.data) && f.data[f.pos] == '\r' {
		f.pos++
	}
	if f.pos < len(f.data) {
		f.pos++ // '\n'
	}
	return nil
}

// name reads a measurement (measurement: only ',' and ' ' end it) or a tag
// or field key (also '='), unescaping "\,", "\ ", "\=" (and "\\" outside
// measurements); any other backslash is kept. The result is in f.key.
func (f *Formatter) name(measurement bool, what string) ([]byte, error) {
	data := f.data
	start := f.pos
	f.key = f.key[:0]
	for f.pos < len(data) {
		c := data[f.pos]
		if c == '\\' && f.pos+1 < len(data) {
			n := data[f.pos+1]
			if n == ',' || n == ' ' || n == '=' || n == '\\' && !measurement {
				f.key = append(f.key, n)
				f.pos += 2
				continue
			}
		}
		if c == ',' || c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '=' && !measurement {
			break
		}
		f.key = append(f.key, c)
		f.pos++
	}
	if f.pos == start {
		return nil, f.expected(what)
	}
	return f.key, nil
}

// tag reads key=value and writes a string column.
func (f *Formatter) tag() error {
	key, err := f.name(false, "a tag key")
	if err != nil {
		return err
	}
	if f.pos >= len(f.data) || f.data[f.pos] != '=' {
		return f.expected("'=' after tag key " + strconv.Quote(string(key)))
	}
	f.pos++
	// The tag value is unescaped into f.val, the key stays in f.key.
	f.key, f.val = f.val, f.key
	v, err := f.name(false, "a tag value")
	f.key, f.val = f.val, f.key
	if err != nil {
		return err
	}
	f.out.StringBytes(jsonscan.UnsafeString(f.key), v)
	return nil
}

// field reads key=value and writes a column of the value's type.
func (f *Formatter) field() error {
	key, err := f.name(false, "a field key")
	if err != nil {
		return err
	}
	name := jsonscan.UnsafeString(key)
	if f.pos >= len(f.data) || f.data[f.pos] != '=' {
		return f.expected("'=' after field key " + strconv.Quote(name))
	}
	f.pos++
	data, out := f.data, f.out
	at := f.pos
	if at < len(data) && data[at] == '"' {
		f.pos++
		f.val = f.val[:0]
		for {
			if f.pos >= len(data) {
				return f.errorAt(at, "string field "+strconv.Quote(name)+" has no closing '\"'")
			}
			c := data[f.pos]
			if c == '\\' && f.pos+1 < len(data) && (data[f.pos+1] == '"' || data[f.pos+1] == '\\') {
				f.val = append(f.val, data[f.pos+1])
				f.pos += 2
				continue
			}
			f.pos++
			if c == '"' {
				break
			}
			f.val = append(f.val, c)
		}
		out.StringBytes(name, f.val)
		return nil
	}
	for f.pos < len(data) && data[f.pos] != ',' && data[f.pos] != ' ' && data[f.pos] != '\t' && !f.atLineEnd() {
		f.pos++
	}
	raw := data[at:f.pos]
	if len(raw) == 0 {
		return f.errorAt(at, "expected a value for field "+strconv.Quote(name))
	}
	s := jsonscan.UnsafeString(raw)
	switch s {
	case "t", "T", "true", "True", "TRUE":
		out.Bool(name, true)
		return nil
	case "f", "F", "false", "False", "FALSE":
		out.Bool(name, false)
		return nil
	}
	switch last := raw[len(raw)-1]; {
	case last == 'i' && digitsOnly(raw[:len(raw)-1]):
		v, err := strconv.ParseInt(s[:len(s)-1], 10, 64)
		if err != nil {
			return f.errorAt(at, "field "+strconv.Quote(name)+": "+s+" is out of the int64 range")
		}
		out.Int(name, v)
		return nil
	case last == 'u' && digitsOnly(raw[:len(raw)-1]) && raw[0] != '-' && raw[0] != '+':
		v, err := strconv.ParseUint(s[:len(s)-1], 10, 64)
		if err != nil || v > 1<<63-1 {
			return f.errorAt(at, "field "+strconv.Quote(name)+": "+s+" does not fit an int64")
		}
		out.Int(name, int64(v))
		return nil
	}
	if floatSyntax(raw) {
		if v, err := strconv.ParseFloat(s, 64); err == nil {
			out.Float(name, v)
			return nil
		}
	}
	return f.errorAt(at, "field "+strconv.Quote(name)+": "+strconv.Quote(s)+" is not a float, integer (12i), unsigned (12u), boolean or \"string\"")
}

// floatSyntax accepts the decimal float forms of line protocol (no
// hexadecimal, no underscores, no Inf or NaN).
func floatSyntax(b []byte) bool {
	digits := false
	for i, c := range b {
		switch {
		case c >= '0' && c <= '9':
			digits = true
		case c == '.' || c == 'e' || c == 'E':
		case c == '-' || c == '+':
			if i != 0 && b[i-1] != 'e' && b[i-1] != 'E' {
				return false
			}
		default:
			return false
		}
	}
	return digits
}

// validTable reports whether name can be a table in the store (as
// rows.CheckTableName: letters, digits, '_' and '-' not first, at most
// 128 bytes), so that a bad name is refused here with its position.
func validTable(name []byte) bool {
	if len(name) == 0 || len(name) > 128 {
		return false
	}
	for i, c := range name {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' && i > 0) {
			return false
		}
	}
	return true
}
