package gateway

// Topic levels as columns and Machbase Neo's per-message format choice:
// what happens to a message between the router's Match and its formatter.
//
// A route with formats lets each message name its payload format and
// compression, either as a suffix on the last topic level,
//
//	db/write/TABLE:FORMAT[:COMPRESSION]   db/write/t:csv  db/write/t:csv:gzip
//	db/write/TABLE:COMPRESSION            db/write/t:gzip (a lakegate shorthand)
//
// or with the MQTT 5 user properties format and compress (Machbase Neo's
// names). The suffix is not part of the table or of any topic column. A
// format the route does not accept, an unknown compression or a suffix and
// a property that disagree are errors, never a fallback to the route's own
// formatter.

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/lakegate/lakegate/arrowstore/rows"
	"github.com/lakegate/lakegate/plugins"
)

// DefaultMaxDecompressedSize is the default of a route's
// max_decompressed_size: the most bytes a gzip payload may decompress to.
// A larger one is refused as malformed (MQTT 5 reason 0x99), so a small
// "gzip bomb" cannot make the gateway allocate more than this per message.
const DefaultMaxDecompressedSize = 16 << 20

// The compressions a message may name. "none" is the explicit "-" (or an
// empty third suffix part).
const (
	compressionGzip = "gzip"
	compressionNone = "none"
)

// The user properties that choose a message's format and compression.
const (
	formatProperty   = "format"
	compressProperty = "compress"
)

// maxFormatName bounds a format name.
const maxFormatName = 32

// formatChoice is the compiled formats of one route.
type formatChoice struct {
	targets         map[string]formatTarget // by format name (lower case)
	names           string                  // the accepted names, sorted, for messages
	maxDecompressed int64
	readers         sync.Pool // *gzip.Reader, reused: each holds some 40 KB of tables
}

// formatTarget is the formatter one format name selects, with its options.
type formatTarget struct {
	formatter string
	plugin    plugins.Route
}

// formatError is an error about a message's format choice; it wraps the
// rows sentinel that gives its MQTT 5 reason code, without repeating the
// sentinel's text.
type formatError struct {
	sentinel error
	msg      string
}

func (e *formatError) Error() string { return e.msg }
func (e *formatError) Unwrap() error { return e.sentinel }

func formatErr(sentinel error, format string, args ...any) error {
	return &formatError{sentinel: sentinel, msg: fmt.Sprintf(format, args...)}
}

// defaultFormatter is the formatter a format entry without one uses.
func defaultFormatter(name string) string {
	if name == "ndjson" {
		return "json" // the json formatter reads NDJSON as it is
	}
	return name
}

// ownFormatNames are the names that select a route's own formatter and
// options: its id, and ndjson for json.
func ownFormatNames(formatter string) []string {
	if formatter == "json" {
		return []string{"json", "ndjson"}
	}
	if validFormatName(formatter) {
		return []string{formatter}
	}
	return nil
}

func validFormatName(s string) bool {
	if s == "" || len(s) > maxFormatName || s == compressionGzip || s == compressionNone {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == '-' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}

// compileFormats builds a route's format choice; nil when it has no formats.
func compileFormats(c RouteConfig, own plugins.Route) (*formatChoice, error) {
	if c.MaxDecompressedSize < 0 {
		return nil, &FieldError{Key: "max_decompressed_size", Reason: "must not be negative"}
	}
	if len(c.Formats) == 0 {
		if c.MaxDecompressedSize != 0 {
			return nil, &FieldError{Key: "max_decompressed_size", Reason: "has no effect on a route without formats"}
		}
		return nil, nil
	}
	fc := &formatChoice{targets: map[string]formatTarget{}, maxDecompressed: int64(c.MaxDecompressedSize)}
	if fc.maxDecompressed == 0 {
		fc.maxDecompressed = DefaultMaxDecompressedSize
	}
	ownNames := ownFormatNames(c.Formatter)
	declared := map[string]bool{}
	for i, f := range c.Formats {
		key := fmt.Sprintf("formats[%d]", i)
		if !validFormatName(f.Name) {
			return nil, &FieldError{Key: key + ".name", Reason: fmt.Sprintf("%q: want 1 to %d lower-case letters, digits, '_' or '-', not gzip or none", f.Name, maxFormatName)}
		}
		if declared[f.Name] {
			return nil, &FieldError{Key: key + ".name", Reason: fmt.Sprintf("format %q listed twice", f.Name)}
		}
		declared[f.Name] = true
		if f.Formatter == "" && len(f.Options) == 0 && slices.Contains(ownNames, f.Name) {
			continue // names the route's own formatter: accepted below
		}
		if f.Name == c.Formatter {
			return nil, &FieldError{Key: key, Reason: fmt.Sprintf("format %q is the route's own formatter: set its options on the route", f.Name)}
		}
		id := f.Formatter
		if id == "" {
			id = defaultFormatter(f.Name)
		}
		opts, err := routeOptions(RouteConfig{Options: f.Options, Types: c.Types})
		if err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				fe.Key = key + "." + fe.Key
			}
			return nil, err
		}
		fc.targets[f.Name] = formatTarget{formatter: id, plugin: plugins.Route{Options: opts}}
	}
	for _, n := range ownNames {
		if _, taken := fc.targets[n]; !taken {
			fc.targets[n] = formatTarget{formatter: c.Formatter, plugin: own}
		}
	}
	names := make([]string, 0, len(fc.targets))
	for n := range fc.targets {
		names = append(names, n)
	}
	sort.Strings(names)
	fc.names = strings.Join(names, ", ")
	return fc, nil
}

// routeFormatterIDs lists the formatters route i may use, with the config
// key that names each: its own and its formats'.
func routeFormatterIDs(i int, r RouteConfig) (ids, keys []string) {
	ids, keys = []string{r.Formatter}, []string{fmt.Sprintf("routes[%d].formatter", i)}
	own := ownFormatNames(r.Formatter)
	for j, f := range r.Formats {
		switch {
		case f.Formatter != "":
			ids, keys = append(ids, f.Formatter), append(keys, fmt.Sprintf("routes[%d].formats[%d].formatter", i, j))
		case len(f.Options) == 0 && slices.Contains(own, f.Name):
			// the route's own formatter
		default:
			ids, keys = append(ids, defaultFormatter(f.Name)), append(keys, fmt.Sprintf("routes[%d].formats[%d].name", i, j))
		}
	}
	return ids, keys
}

// topicSuffix is a parsed suffix of the last topic level.
type topicSuffix struct {
	text        string // as given, with its leading ':'
	format      string // lower case; "" for the route's own
	compression string // compressionGzip, compressionNone or "" (not given)
}

// splitSuffix cuts ":FORMAT[:COMPRESSION]" or ":COMPRESSION" off the last
// topic level. Errors wrap rows.ErrInvalidName.
func splitSuffix(last string) (base string, sfx topicSuffix, err error) {
	i := strings.IndexByte(last, ':')
	if i < 0 {
		return last, topicSuffix{}, nil
	}
	base, sfx.text = last[:i], last[i:]
	parts := strings.Split(strings.ToLower(last[i+1:]), ":")
	switch len(parts) {
	case 1:
		if parts[0] == compressionGzip {
			sfx.compression = compressionGzip
		} else {
			sfx.format = parts[0]
		}
	case 2:
		sfx.format = parts[0]
		switch parts[1] {
		case compressionGzip:
			sfx.compression = compressionGzip
		case "", "-":
			sfx.compression = compressionNone
		default:
			return base, sfx, formatErr(rows.ErrInvalidName, "topic suffix %q: unknown compression %q (want gzip, or - for none)", sfx.text, parts[1])
		}
	default:
		return base, sfx, formatErr(rows.ErrInvalidName, "topic suffix %q: want :FORMAT, :FORMAT:COMPRESSION or :gzip", sfx.text)
	}
	return base, sfx, nil
}

// chooseByProperties applies the user properties format and compress to m,
// a match on a route with formats. Errors wrap rows.ErrMalformedPayload.
func (m *Match) chooseByProperties(props []rows.Property) error {
	var format, compress string
	var haveFormat, haveCompress bool
	for _, p := range props {
		var dst *string
		var have *bool
		switch p.Key {
		case formatProperty:
			dst, have = &format, &haveFormat
		case compressProperty:
			dst, have = &compress, &haveCompress
		default:
			continue
		}
		v := strings.ToLower(p.Value)
		if *have && *dst != v {
			return formatErr(rows.ErrMalformedPayload, "user property %s given twice, as %q and %q", p.Key, *dst, v)
		}
		*dst, *have = v, true
	}
	if haveCompress {
		switch compress {
		case compressionGzip:
		case "", "-":
			compress = compressionNone
		default:
			return formatErr(rows.ErrMalformedPayload, "user property compress %q: unknown compression (want gzip, or - for none)", compress)
		}
		if m.Compression != "" && m.Compression != compress {
			return formatErr(rows.ErrMalformedPayload, "user property compress %q contradicts the topic suffix's %q", compress, m.Compression)
		}
		m.Compression = compress
	}
	if haveFormat {
		if m.Format != "" && m.Format != format {
			return formatErr(rows.ErrMalformedPayload, "user property format %q contradicts the topic suffix's %q", format, m.Format)
		}
		fc := m.route.formats
		t, ok := fc.targets[format]
		if !ok {
			return formatErr(rows.ErrMalformedPayload, "user property format %q: unknown format (the route accepts %s)", format, fc.names)
		}
		m.Format, m.Formatter = format, t.formatter
		p := t.plugin
		p.Table = m.Table
		m.Route = &p
	}
	return nil
}

// formatInput applies the message's format choice (user properties,
// decompression) to m and returns the formatter to run and the message to
// give it: msg, or a copy of it with the payload decompressed. m.Formatter
// and m.Route are updated to what was chosen; msg itself is not changed,
// so a dead letter keeps the payload as it was received. The formatter's
// rows then go through formatted.
func (rt *routing) formatInput(msg *rows.Message, m *Match) (*plugins.Formatter, *rows.Message, error) {
	if m.route != nil && m.route.formats != nil {
		if err := m.chooseByProperties(msg.UserProperties); err != nil {
			return nil, nil, err
		}
		if m.Compression == compressionGzip {
			payload, err := m.route.formats.gunzip(msg.Payload)
			if err != nil {
				return nil, nil, err
			}
			plain := *msg
			plain.Payload = payload
			msg = &plain
		}
	}
	f := rt.formatters[m.Formatter]
	if f == nil {
		return nil, nil, fmt.Errorf("%w: formatter %s is not loaded", rows.ErrPluginFailed, m.Formatter)
	}
	return f, msg, nil
}

// formatted finishes what the formatter of a message routed by m gave:
// the topic columns are added to its rows.
func formatted(rs []rows.Row, err error, m *Match) ([]rows.Row, error) {
	if err != nil {
		return nil, err
	}
	if err := addTopicColumns(rs, m.Columns); err != nil {
		return nil, err
	}
	return rs, nil
}

// gunzip decompresses a gzip payload for the route, with a reader from
// its pool.
func (fc *formatChoice) gunzip(payload []byte) ([]byte, error) {
	zr, _ := fc.readers.Get().(*gzip.Reader)
	out, zr, err := gunzip(zr, payload, fc.maxDecompressed)
	if zr != nil {
		fc.readers.Put(zr)
	}
	return out, err
}

// gunzip decompresses a gzip payload (one or more members) of at most
// limit bytes, with zr (nil: a new reader). It returns the reader for
// reuse, nil if there is none. Errors wrap rows.ErrMalformedPayload.
func gunzip(zr *gzip.Reader, payload []byte, limit int64) ([]byte, *gzip.Reader, error) {
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(bytes.NewReader(payload))
		if err != nil {
			zr = nil // a failed NewReader returns no usable reader
		}
	} else {
		err = zr.Reset(bytes.NewReader(payload))
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, zr, formatErr(rows.ErrMalformedPayload, "decompressing gzip payload: %v", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil {
		return nil, zr, formatErr(rows.ErrMalformedPayload, "decompressing gzip payload: %v", err)
	}
	if int64(len(out)) > limit {
		return nil, zr, formatErr(rows.ErrMalformedPayload, "decompressing gzip payload: more than %d bytes (the route's max_decompressed_size) from %d compressed", limit, len(payload))
	}
	return out, zr, nil
}

// addTopicColumns appends cols to every row. A row whose formatter already
// made a column of that name keeps it when it holds the same string, and
// is an error otherwise: the payload and the topic disagree, and neither
// value may silently win. Errors wrap rows.ErrMalformedPayload.
func addTopicColumns(rs []rows.Row, cols []rows.Column) error {
	if len(cols) == 0 || len(rs) == 0 {
		return nil
	}
	total := 0
	for i := range rs {
		total += len(rs[i].Columns) + len(cols)
	}
	block := make([]rows.Column, 0, total) // one allocation for every row
	for i := range rs {
		r := &rs[i]
		start := len(block)
		block = append(block, r.Columns...)
	next:
		for _, tc := range cols {
			for _, have := range r.Columns {
				if have.Name != tc.Name {
					continue
				}
				if have.Value.Kind == rows.KindString && have.Value.Str == tc.Value.Str {
					continue next
				}
				return formatErr(rows.ErrMalformedPayload, "row %d: column %q is %s in the payload but %q in the topic (rename the topic column with topic_columns)",
					i, tc.Name, describeValue(have.Value), tc.Value.Str)
			}
			block = append(block, tc)
		}
		r.Columns = block[start:len(block):len(block)]
	}
	return nil
}

// describeValue renders a value for an error message.
func describeValue(v rows.Value) string {
	switch v.Kind {
	case rows.KindNull:
		return "null"
	case rows.KindString:
		return fmt.Sprintf("%q", v.Str)
	case rows.KindFloat64:
		return fmt.Sprintf("%v (float64)", v.Float)
	case rows.KindBool:
		return fmt.Sprintf("%v (bool)", v.Int != 0)
	case rows.KindBytes:
		return fmt.Sprintf("%d bytes", len(v.Bytes))
	}
	return fmt.Sprintf("%d (%s)", v.Int, v.Kind)
}
