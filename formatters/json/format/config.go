package format

import (
	"strconv"

	sdk "github.com/lakegate/lakegate/sdk-plugin/go"
	"github.com/lakegate/lakegate/sdk-plugin/go/timeparse"
)

// parse reads the route options. Unknown options are errors only when
// strict (route check at start); messages ignore them.
func (c *config) parse(opts []sdk.Option, strict bool) error {
	cols := c.columns[:0]
	*c = config{options: opts, columnsRaw: DefaultColumns, columns: cols}
	for _, o := range opts {
		switch {
		case o.Key == OptTimeField:
			c.timeField = o.Value
			c.noTime = o.Value == noTimeField
			if o.Value == "" {
				return sdk.Fail("option time_field: empty (use \"-\" for no time field)")
			}
		case o.Key == OptTimeFormat:
			u, ok := timeparse.ParseUnit(o.Value)
			if !ok {
				return sdk.Fail("option time_format: " + strconv.Quote(o.Value) + " is not auto, s, ms, us, ns or rfc3339")
			}
			c.unit = u
		case o.Key == OptColumns:
			c.columnsRaw = o.Value
			if strict {
				for _, name := range splitColumns(nil, o.Value) {
					if name == "" {
						return sdk.Fail("option columns: " + strconv.Quote(o.Value) + " has an empty column name")
					}
				}
			}
		case len(o.Key) > len(OptTypePrefix) && o.Key[:len(OptTypePrefix)] == OptTypePrefix:
			if _, ok := parseType(o.Value); !ok {
				return sdk.Fail("option " + o.Key + ": " + strconv.Quote(o.Value) + " is not int64, float64, bool, string or timestamp")
			}
			c.hasTypes = true
		case strict:
			return sdk.Fail("unknown option " + strconv.Quote(o.Key) + " (want time_field, time_format, columns or type.<column>)")
		}
	}
	return nil
}

// cols returns the positional column names, splitting the option on
// first use for the message.
func (c *config) cols() []string {
	if !c.split {
		c.columns = splitColumns(c.columns[:0], c.columnsRaw)
		c.split = true
	}
	return c.columns
}

// timeCandidate reports whether a top-level key of length n may be the
// time field: a cheap test that keeps most keys off the slower path.
func (c *config) timeCandidate(n int) bool {
	if c.noTime {
		return false
	}
	if c.timeField != "" {
		return n == len(c.timeField)
	}
	return n == 2 || n == 4 || n == 9
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

// timeIndex returns which of the positional columns is the time, or -1.
func (c *config) timeIndex(cols []string) int {
	if c.noTime {
		return -1
	}
	if c.timeField != "" {
		for i, name := range cols {
			if name == c.timeField {
				return i
			}
		}
		return -1
	}
	best, bestRank := -1, 3
	for i, name := range cols {
		if r := autoRank(name); r >= 0 && r < bestRank {
			best, bestRank = i, r
		}
	}
	return best
}

// parseType accepts the column types of the JSON formatter, with the same
// aliases as the gateway's configuration (rows.ParseKind) except bytes.
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
