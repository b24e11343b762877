package query

import (
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// TimeFormat says how an encoder writes timestamps.
type TimeFormat string

// The time formats, as the timeformat option names them.
const (
	// TimeRFC3339 writes RFC 3339 text in UTC with milliseconds:
	// "2023-11-14T22:13:20.000Z".
	TimeRFC3339 TimeFormat = "rfc3339"
	// TimeSeconds writes whole seconds since the Unix epoch.
	TimeSeconds TimeFormat = "s"
	// TimeMillis writes milliseconds since the Unix epoch.
	TimeMillis TimeFormat = "ms"
	// TimeMicros writes microseconds since the Unix epoch.
	TimeMicros TimeFormat = "us"
	// TimeNanos writes nanoseconds since the Unix epoch.
	TimeNanos TimeFormat = "ns"
)

// rfc3339Millis is the layout of TimeRFC3339.
const rfc3339Millis = "2006-01-02T15:04:05.000Z07:00"

// ParseTimeFormat reads a timeformat option, ignoring case. The empty string
// means TimeRFC3339.
func ParseTimeFormat(s string) (TimeFormat, error) {
	switch f := TimeFormat(strings.ToLower(s)); f {
	case "":
		return TimeRFC3339, nil
	case TimeRFC3339, TimeSeconds, TimeMillis, TimeMicros, TimeNanos:
		return f, nil
	}
	return "", fmt.Errorf("unknown time format %q (want rfc3339, s, ms, us or ns)", s)
}

// Format controls how a result is encoded. The zero value is the default.
type Format struct {
	// Time is how timestamps are written; "" means TimeRFC3339.
	Time TimeFormat
	// Location is the zone RFC 3339 times are written in; nil means UTC.
	// Epoch counts do not depend on it.
	Location *time.Location
}

// ParseLocation reads a tz option: an IANA zone name ("Asia/Seoul"),
// "UTC" or "Local"; the empty string means UTC.
func ParseLocation(s string) (*time.Location, error) {
	if s == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(s)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q (want an IANA name such as Europe/Paris, or UTC)", s)
	}
	return loc, nil
}

// check validates f.
func (f Format) check() (Format, error) {
	tf, err := ParseTimeFormat(string(f.Time))
	if err != nil {
		return f, fmt.Errorf("encoding result: %w", err)
	}
	f.Time = tf
	return f, nil
}

// appendTime appends t as f says: a JSON string for RFC 3339 when quote is
// set, or a bare number.
func (f Format) appendTime(b []byte, t time.Time, quote bool) []byte {
	switch f.Time {
	case TimeSeconds:
		return strconv.AppendInt(b, t.Unix(), 10)
	case TimeMillis:
		return strconv.AppendInt(b, t.UnixMilli(), 10)
	case TimeMicros:
		return strconv.AppendInt(b, t.UnixMicro(), 10)
	case TimeNanos:
		return strconv.AppendInt(b, t.UnixNano(), 10)
	}
	if quote {
		b = append(b, '"')
	}
	loc := f.Location
	if loc == nil {
		loc = time.UTC
	}
	b = t.In(loc).AppendFormat(b, rfc3339Millis)
	if quote {
		b = append(b, '"')
	}
	return b
}

// flushAt is the buffered size past which the JSON encoder writes out.
const flushAt = 64 << 10

// WriteJSON writes res as Machbase Neo does:
//
//	{"success":true,"reason":"success","elapse":"1.234ms",
//	 "data":{"columns":[...],"types":[...],"rows":[[...],...]}}
//
// Timestamps follow f.Time; floats are written so that they read back to the
// same value, NaN and infinities as null; bytes as standard base64.
func WriteJSON(w io.Writer, res *Result, elapsed time.Duration, f Format) error {
	f, err := f.check()
	if err != nil {
		return err
	}
	b := make([]byte, 0, 4096)
	b = append(b, `{"success":true,"reason":"success","elapse":`...)
	b = appendJSONString(b, elapsed.String())
	b = append(b, `,"data":{"columns":`...)
	b = appendJSONStrings(b, res.Columns)
	b = append(b, `,"types":`...)
	b = appendJSONStrings(b, res.Types)
	b = append(b, `,"rows":[`...)
	for i, row := range res.Rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		for j, v := range row {
			if j > 0 {
				b = append(b, ',')
			}
			b = f.appendJSONValue(b, v)
		}
		b = append(b, ']')
		if len(b) >= flushAt {
			if _, err := w.Write(b); err != nil {
				return fmt.Errorf("writing json result: %w", err)
			}
			b = b[:0]
		}
	}
	b = append(b, "]}}\n"...)
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("writing json result: %w", err)
	}
	return nil
}

// WriteJSONError writes a failed query's answer:
// {"success":false,"reason":"...","elapse":"..."}.
func WriteJSONError(w io.Writer, qerr error, elapsed time.Duration) error {
	reason := "unknown error"
	if qerr != nil {
		reason = qerr.Error()
	}
	b := append([]byte(nil), `{"success":false,"reason":`...)
	b = appendJSONString(b, reason)
	b = append(b, `,"elapse":`...)
	b = appendJSONString(b, elapsed.String())
	b = append(b, "}\n"...)
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("writing json error: %w", err)
	}
	return nil
}

// appendJSONValue appends one cell.
func (f Format) appendJSONValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return append(b, "null"...)
		}
		return strconv.AppendFloat(b, x, 'g', -1, 64)
	case bool:
		return strconv.AppendBool(b, x)
	case string:
		return appendJSONString(b, x)
	case []byte:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, x)
		return append(b, '"')
	case time.Time:
		return f.appendTime(b, x, true)
	}
	return appendJSONString(b, fmt.Sprint(v))
}

// appendJSONStrings appends a JSON array of strings.
func appendJSONStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD;
// HTML characters are left alone (the output is not embedded in HTML).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c >= 0x20 && c != 0x7f:
				b = append(b, c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028':
			b = append(b, `\u2028`...)
		case r == '\u2029':
			b = append(b, `\u2029`...)
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// WriteNDJSON writes res as newline-delimited JSON: one object per row,
// {"column":value,...}, keys in column order, values as WriteJSON writes
// them. A result with no row writes nothing. Repeated column names repeat
// as keys (the reader keeps the last, as with any JSON object).
func WriteNDJSON(w io.Writer, res *Result, f Format) error {
	f, err := f.check()
	if err != nil {
		return err
	}
	keys := make([][]byte, len(res.Columns))
	for j, c := range res.Columns {
		keys[j] = append(appendJSONString(nil, c), ':')
	}
	b := make([]byte, 0, 4096)
	for _, row := range res.Rows {
		b = append(b, '{')
		for j, v := range row {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, keys[j]...)
			b = f.appendJSONValue(b, v)
		}
		b = append(b, '}', '\n')
		if len(b) >= flushAt {
			if _, err := w.Write(b); err != nil {
				return fmt.Errorf("writing ndjson result: %w", err)
			}
			b = b[:0]
		}
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("writing ndjson result: %w", err)
	}
	return nil
}

// WriteCSV writes res as CSV (RFC 4180) with a header line of column names.
// Null is an empty field; timestamps follow f.Time; floats are written so
// that they read back to the same value (NaN, +Inf and -Inf included); bytes
// as standard base64.
func WriteCSV(w io.Writer, res *Result, f Format) error {
	f, err := f.check()
	if err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(res.Columns); err != nil {
		return fmt.Errorf("writing csv header: %w", err)
	}
	rec := make([]string, len(res.Columns))
	var scratch []byte
	for _, row := range res.Rows {
		rec = rec[:len(row)]
		for j, v := range row {
			scratch = f.appendCSVValue(scratch[:0], v)
			rec[j] = string(scratch)
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("writing csv row: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("writing csv: %w", err)
	}
	return nil
}

// appendCSVValue appends one cell's text, unquoted.
func (f Format) appendCSVValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return b
	case int64:
		return strconv.AppendInt(b, x, 10)
	case float64:
		return strconv.AppendFloat(b, x, 'g', -1, 64)
	case bool:
		return strconv.AppendBool(b, x)
	case string:
		return append(b, x...)
	case []byte:
		return base64.StdEncoding.AppendEncode(b, x)
	case time.Time:
		return f.appendTime(b, x, false)
	}
	return fmt.Append(b, v)
}
