// Package format is the logic of lakegate's built-in CSV formatter: it
// turns CSV payloads (RFC 4180) into rows through the plugin SDK. The guest
// program in ../guest registers it; keeping it in a plain package lets it
// be tested and fuzzed natively.
//
// The accepted payloads, route options and output are described in
// formatters/csv/README.md.
package format

import (
	"strconv"

	sdk "github.com/lakegate/lakegate/sdk-plugin/go"
	"github.com/lakegate/lakegate/sdk-plugin/go/jsonscan"
	"github.com/lakegate/lakegate/sdk-plugin/go/timeparse"
)

// Route option keys.
const (
	OptColumns    = "columns"
	OptHeader     = "header"
	OptDelimiter  = "delimiter"
	OptTimeColumn = "time_column"
	OptTimeFormat = "time_format"
	OptTypePrefix = "type."
)

// noTimeColumn, as time_column, turns time extraction off.
const noTimeColumn = "-"

// config is a route's options, parsed for one message. Strings alias the input.
type config struct {
	columns    string // the columns option, "" if unset
	header     bool
	delim      byte
	timeColumn string // "" = auto (ts, time, timestamp)
	noTime     bool
	unit       timeparse.Unit
	options    []sdk.Option
	hasTypes   bool
}

func (c *config) parse(opts []sdk.Option, strict bool) error {
	*c = config{delim: ',', options: opts}
	headerSet := false
	for _, o := range opts {
		switch {
		case o.Key == OptColumns:
			c.columns = o.Value
			if o.Value == "" {
				return sdk.Fail("option columns: empty")
			}
			if strict {
				for _, n := range splitColumns(nil, o.Value) {
					if n == "" {
						return sdk.Fail("option columns: " + strconv.Quote(o.Value) + " has an empty column name")
					}
				}
			}
		case o.Key == OptHeader:
			switch o.Value {
			case "true":
				c.header = true
			case "false":
				c.header = false
			default:
				return sdk.Fail("option header: " + strconv.Quote(o.Value) + " is not true or false")
			}
			headerSet = true
		case o.Key == OptDelimiter:
			switch v := o.Value; {
			case v == "\\t" || v == "tab" || v == "\t":
				c.delim = '\t'
			case len(v) == 1 && v[0] != '"' && v[0] != '\n' && v[0] != '\r' && v[0] != ' ':
				c.delim = v[0]
			default:
				return sdk.Fail("option delimiter: " + strconv.Quote(v) + " is not one character (other than '\"', space or a line break) or tab")
			}
		case o.Key == OptTimeColumn:
			if o.Value == "" {
				return sdk.Fail("option time_column: empty (use \"-\" for no time column)")
			}
			c.timeColumn, c.noTime = o.Value, o.Value == noTimeColumn
		case o.Key == OptTimeFormat:
			u, ok := timeparse.ParseUnit(o.Value)
			if !ok {
				return sdk.Fail("option time_format: " + strconv.Quote(o.Value) + " is not auto, s, ms, us, ns or rfc3339")
			}
			c.unit = u
		case len(o.Key) > len(OptTypePrefix) && o.Key[:len(OptTypePrefix)] == OptTypePrefix:
			if _, ok := parseType(o.Value); !ok {
				return sdk.Fail("option " + o.Key + ": " + strconv.Quote(o.Value) + " is not int64, float64, bool, string or timestamp")
			}
			c.hasTypes = true
		case strict:
			return sdk.Fail("unknown option " + strconv.Quote(o.Key) + " (want columns, header, delimiter, time_column, time_format or type.<column>)")
		}
	}
	if !headerSet {
		c.header = c.columns == ""
	}
	if !c.header && c.columns == "" {
		return sdk.Fail("option header: false needs the columns option to name the columns")
	}
	return nil
}

// typeOf returns the type declared for a column with a type.<column> option.
func (c *config) typeOf(name string) (sdk.Kind, bool) {
	if !c.hasTypes {
		return 0, false
	}
	for _, o := range c.options {
		if len(o.Key) == len(OptTypePrefix)+len(name) && o.Key[:len(OptTypePrefix)] == OptTypePrefix && o.Key[len(OptTypePrefix):] == name {
			return parseType(o.Value)
		}
	}
	return 0, false
}

// parseType accepts the column types of the JSON formatter, with the same
// aliases.
func parseType(s string) (sdk.Kind, bool) {
	switch s {
	case "int64", "int", "integer", "long":
		return sdk.KindInt64, true
	case "float64", "float", "double", "number":
		return sdk.KindFloat64, true
	case "bool", "boolean":
		return sdk.KindBool, true
	case "string", "text", "str":
		return sdk.KindString, true
	case "timestamp", "time", "datetime":
		return sdk.KindTimestamp, true
	}
	return 0, false
}

// splitColumns appends the comma-separated names of s, trimmed of spaces.
func splitColumns(dst []string, s string) []string {
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			dst = append(dst, trimSpace(s[start:i]))
			start = i + 1
		}
	}
	return dst
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// field is one field of the current record: its text in Formatter.vals.
type field struct {
	start, end int
	at         int // its offset in the payload
	quoted     bool
}

// column is one column of the payload: its name and declared type.
type column struct {
	name  string
	kind  sdk.Kind
	typed bool
}

// Formatter holds the buffers reused from message to message. The zero
// value is ready; it is not safe for concurrent use.
type Formatter struct {
	cfg     config
	errs    jsonscan.Scanner // only to place errors (line and column)
	data    []byte
	pos     int
	out     *sdk.Output
	vals    []byte // the current record's unquoted fields
	fields  []field
	names   []byte // header names (column names alias it)
	cols    []column
	split   []string
	timeIdx int
}

// Check validates a route's options; the gateway calls it at start.
func Check(in *sdk.Input) error {
	var c config
	return c.parse(in.Options, true)
}

func (f *Formatter) errorAt(off int, msg string) error { return f.errs.ErrorAt(off, msg) }

// Handle formats one message: an optional header record, then one row per
// record.
func (f *Formatter) Handle(in *sdk.Input, out *sdk.Output) error {
	if err := f.cfg.parse(in.Options, false); err != nil {
		return err
	}
	f.out, f.data, f.pos = out, in.Payload, 0
	f.errs.Reset(in.Payload)
	if len(f.data) >= 3 && f.data[0] == 0xEF && f.data[1] == 0xBB && f.data[2] == 0xBF {
		f.pos = 3 // UTF-8 byte order mark
	}
	f.cols = f.cols[:0]
	if f.cfg.columns != "" {
		f.split = splitColumns(f.split[:0], f.cfg.columns)
		for _, n := range f.split {
			if n == "" {
				return sdk.Fail("option columns: " + strconv.Quote(f.cfg.columns) + " has an empty column name")
			}
			f.cols = append(f.cols, column{name: n})
		}
	}
	headerPending := f.cfg.header
	if !headerPending {
		if err := f.resolve(); err != nil {
			return err
		}
	}
	records := 0
	for {
		more, at, err := f.record()
		if err != nil {
			return err
		}
		if !more {
			break
		}
		if len(f.fields) == 0 {
			continue // a blank line
		}
		if headerPending {
			headerPending = false
			if err := f.header(); err != nil {
				return err
			}
			continue
		}
		if err := f.row(at); err != nil {
			return err
		}
		records++
	}
	if headerPending {
		return f.errorAt(f.pos, "empty payload, expected a header line")
	}
	if records == 0 && !f.cfg.header {
		return f.errorAt(f.pos, "empty payload, expected CSV records")
	}
	return nil
}

// header takes the column names from the current record, unless the
// columns option names them, and resolves types and the time column.
func (f *Formatter) header() error {
	if f.cfg.columns == "" {
		f.names = append(f.names[:0], f.vals...)
		for _, fl := range f.fields {
			if fl.end == fl.start {
				return f.errorAt(fl.at, "empty column name in the header")
			}
			f.cols = append(f.cols, column{name: jsonscan.UnsafeString(f.names[fl.start:fl.end])})
		}
	}
	return f.resolve()
}

// resolve finds each column's declared type and the time column.
func (f *Formatter) resolve() error {
	f.timeIdx = -1
	bestRank := 3
	for i := range f.cols {
		c := &f.cols[i]
		c.kind, c.typed = f.cfg.typeOf(c.name)
		switch {
		case f.cfg.noTime:
		case f.cfg.timeColumn != "":
			if c.name == f.cfg.timeColumn && f.timeIdx < 0 {
				f.timeIdx = i
			}
		default:
			if r := autoRank(c.name); r >= 0 && r < bestRank {
				f.timeIdx, bestRank = i, r
			}
		}
	}
	return nil
}

// autoRank is the preference of a default time column name: ts, time,
// timestamp in any letter case; -1 for other names.
func autoRank(name string) int {
	for r, want := range [...]string{"ts", "time", "timestamp"} {
		if len(name) != len(want) {
			continue
		}
		ok := true
		for i := 0; i < len(name); i++ {
			c := name[i]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != want[i] {
				ok = false
				break
			}
		}
		if ok {
			return r
		}
	}
	return -1
}

// record reads the next record's fields into f.fields and f.vals. more is
// false at the end of the payload; a blank line gives no fields.
func (f *Formatter) record() (more bool, at int, err error) {
	data, d := f.data, f.cfg.delim
	f.vals, f.fields = f.vals[:0], f.fields[:0]
	if f.pos >= len(data) {
		return false, f.pos, nil
	}
	at = f.pos
	if end, ok := lineEnd(data, f.pos); ok {
		f.pos = end
		return true, at, nil
	}
	for {
		fl := field{start: len(f.vals), at: f.pos}
		if f.pos < len(data) && data[f.pos] == '"' {
			fl.quoted = true
			f.pos++
			for {
				if f.pos >= len(data) {
					return false, at, f.errorAt(fl.at, "quoted field has no closing '\"'")
				}
				c := data[f.pos]
				f.pos++
				if c == '"' {
					if f.pos < len(data) && data[f.pos] == '"' {
						f.vals = append(f.vals, '"')
						f.pos++
						continue
					}
					break
				}
				f.vals = append(f.vals, c)
			}
			if f.pos < len(data) && data[f.pos] != d {
				if _, ok := lineEnd(data, f.pos); !ok {
					return false, at, f.errorAt(f.pos, "expected the delimiter or the end of the line after a quoted field, found "+quoteByte(data[f.pos]))
				}
			}
		} else {
			for f.pos < len(data) && data[f.pos] != d {
				c := data[f.pos]
				if c == '\n' || c == '\r' && f.pos+1 < len(data) && data[f.pos+1] == '\n' {
					break
				}
				if c == '"' {
					return false, at, f.errorAt(f.pos, "'\"' in an unquoted field (quote the whole field and double the quote)")
				}
				f.vals = append(f.vals, c)
				f.pos++
			}
		}
		fl.end = len(f.vals)
		f.fields = append(f.fields, fl)
		if f.pos < len(data) && data[f.pos] == d {
			f.pos++
			continue
		}
		if end, ok := lineEnd(data, f.pos); ok {
			f.pos = end
		}
		return true, at, nil
	}
}

// lineEnd reports whether a line ends at i (a line break or the end of
// data) and where the next line starts.
func lineEnd(data []byte, i int) (int, bool) {
	switch {
	case i >= len(data):
		return i, true
	case data[i] == '\n':
		return i + 1, true
	case data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n':
		return i + 2, true
	}
	return i, false
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return "'" + string(rune(c)) + "'"
	}
	return "byte 0x" + strconv.FormatUint(uint64(c), 16)
}

// row writes the current record as one row.
func (f *Formatter) row(at int) error {
	if len(f.fields) != len(f.cols) {
		return f.errorAt(at, "record has "+strconv.Itoa(len(f.fields))+" fields, expected "+strconv.Itoa(len(f.cols))+" ("+f.colList()+")")
	}
	out := f.out
	out.Row("")
	for i, fl := range f.fields {
		c := &f.cols[i]
		v := f.vals[fl.start:fl.end]
		if i == f.timeIdx {
			if len(v) == 0 {
				continue // the receive time
			}
			ns, msg := timeparse.FromText(v, f.cfg.unit)
			if msg != "" {
				return f.errorAt(fl.at, "time column "+strconv.Quote(c.name)+": "+msg)
			}
			out.Time(ns)
			continue
		}
		if len(v) == 0 && (!fl.quoted || c.typed && c.kind != sdk.KindString) {
			out.Null(c.name)
			continue
		}
		if !c.typed {
			if x, ok := parseFloat(v); ok {
				out.Float(c.name, x)
			} else {
				out.StringBytes(c.name, v)
			}
			continue
		}
		if err := f.typed(c, v, fl.at); err != nil {
			return err
		}
	}
	return nil
}

func (f *Formatter) colList() string {
	s := ""
	for i, c := range f.cols {
		if i > 0 {
			s += ","
		}
		s += c.name
	}
	return s
}

// typed writes a value of a declared type.
func (f *Formatter) typed(c *column, v []byte, at int) error {
	out, s := f.out, jsonscan.UnsafeString(v)
	switch c.kind {
	case sdk.KindString:
		out.StringBytes(c.name, v)
		return nil
	case sdk.KindFloat64:
		if x, ok := parseFloat(v); ok {
			out.Float(c.name, x)
			return nil
		}
		return f.errorAt(at, "column "+strconv.Quote(c.name)+": "+strconv.Quote(s)+" is not a float64")
	case sdk.KindInt64:
		if x, err := strconv.ParseInt(s, 10, 64); err == nil {
			out.Int(c.name, x)
			return nil
		}
		if n, err := jsonscan.ParseNumber(v); err == nil {
			if x, ok := n.Int(); ok {
				out.Int(c.name, x)
				return nil
			}
		}
		return f.errorAt(at, "column "+strconv.Quote(c.name)+": "+strconv.Quote(s)+" is not an int64")
	case sdk.KindBool:
		if b, err := strconv.ParseBool(s); err == nil {
			out.Bool(c.name, b)
			return nil
		}
		return f.errorAt(at, "column "+strconv.Quote(c.name)+": "+strconv.Quote(s)+" is not a bool (true, false, 1, 0)")
	case sdk.KindTimestamp:
		ns, msg := timeparse.FromText(v, f.cfg.unit)
		if msg != "" {
			return f.errorAt(at, "column "+strconv.Quote(c.name)+": "+msg)
		}
		out.Timestamp(c.name, ns)
		return nil
	}
	return nil
}

// parseFloat parses a decimal number (no hexadecimal, underscores, Inf or
// NaN, which strconv would take).
func parseFloat(b []byte) (float64, bool) {
	digits := false
	for i, c := range b {
		switch {
		case c >= '0' && c <= '9':
			digits = true
		case c == '.' || c == 'e' || c == 'E':
		case c == '-' || c == '+':
			if i != 0 && b[i-1] != 'e' && b[i-1] != 'E' {
				return 0, false
			}
		default:
			return 0, false
		}
	}
	if !digits {
		return 0, false
	}
	x, err := strconv.ParseFloat(jsonscan.UnsafeString(b), 64)
	return x, err == nil
}
