package gateway

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/lakegate/lakegate/arrowstore"
	"github.com/lakegate/lakegate/arrowstore/rows"
	"github.com/lakegate/lakegate/formatters"
	"github.com/lakegate/lakegate/plugins"
)

// Router picks, for a topic, the first configured route that matches it and
// resolves the route's table. It is immutable after construction and safe for
// concurrent use.
type Router struct {
	routes []*route
}

// route is a compiled RouteConfig.
type route struct {
	topic     string // as configured, for metrics
	messages  atomic.Uint64
	index     int
	filter    []level
	formatter string
	table     []tablePart
	plugin    plugins.Route // options and, after matching, nothing else: Table is set per match
	columns   []topicColumn // topic levels stored as columns, in topic order
	formats   *formatChoice // nil unless the route has formats
	// builtin: every formatter the route may choose is built in, so a
	// message's formatting takes time bounded by its size (ingestqueue.go).
	builtin bool
}

// topicColumn is a placeholder stored as a string column.
type topicColumn struct {
	placeholder string
	name        string // the column
	level       int
}

type levelKind uint8

const (
	levelLiteral levelKind = iota
	levelPlus              // '+' or '{name}'
	levelHash              // '#'
)

type level struct {
	kind levelKind
	text string // literal text, or the placeholder's name ("" for '+')
}

// RouteMessages is how many messages one route took.
type RouteMessages struct {
	Topic    string // the route's topic filter, as configured
	Messages uint64
}

// countMatch notes a message taken by the route at index i.
func (r *Router) countMatch(i int) { r.routes[i].messages.Add(1) }

// Messages returns, for every route in order, the messages it took since
// the router was built (a reload starts from zero).
func (r *Router) Messages() []RouteMessages {
	out := make([]RouteMessages, len(r.routes))
	for i, rt := range r.routes {
		out[i] = RouteMessages{Topic: rt.topic, Messages: rt.messages.Load()}
	}
	return out
}

// tablePart is a literal piece of a table template or a reference to the
// topic level at position level.
type tablePart struct {
	literal string
	level   int // -1 for a literal
}

// Match is the outcome of routing one topic.
type Match struct {
	Formatter string
	Table     string
	Route     *plugins.Route // options for the formatter; Table equals Match.Table
	Index     int            // the route's position in the config
	// Columns are the topic levels every row of the message gets as
	// string columns (the route's topic_columns).
	Columns []rows.Column
	// Format and Compression are what the topic suffix chose on a route
	// with formats: a format name ("" for the route's own) and "gzip",
	// "none" (an explicit "-") or "" (not given). Formatter and Route
	// already follow Format; the MQTT 5 user properties format and
	// compress may still choose when the message is prepared.
	Format, Compression string

	route *route
}

// NewRouter compiles routes; it fails on the first invalid one, naming it.
func NewRouter(cfgs []RouteConfig) (*Router, error) {
	r := &Router{}
	for i, c := range cfgs {
		rt, err := compileRoute(c)
		if err != nil {
			return nil, fmt.Errorf("routes[%d]: %w", i, err)
		}
		rt.index = i
		r.routes = append(r.routes, rt)
	}
	return r, nil
}

// Formatters lists the formatter ids the routes use, sorted, each once:
// their own and those their formats may choose.
func (r *Router) Formatters() []string {
	seen := map[string]bool{}
	var ids []string
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for _, rt := range r.routes {
		add(rt.formatter)
		if rt.formats != nil {
			for _, t := range rt.formats.targets {
				add(t.formatter)
			}
		}
	}
	sort.Strings(ids)
	return ids
}

// Match finds the route for topic. ok is false when no route matches; err is
// set when a route matches but the table it names, or the topic suffix, is
// invalid (it wraps rows.ErrInvalidName).
//
// On a route with formats a suffix on the last topic level
// (db/write/t:csv:gzip) chooses the payload format and compression; the
// route is matched, and its table and topic columns taken, without it.
func (r *Router) Match(topic string) (m Match, ok bool, err error) {
	var levels, bare [16]string
	lv := splitLevels(topic, levels[:0])
	var (
		stripped []string // lv without the suffix, once a route needs it
		sfx      topicSuffix
		sfxErr   error
	)
	for _, rt := range r.routes {
		at := lv
		if rt.formats != nil {
			if stripped == nil {
				stripped = append(bare[:0], lv...)
				stripped[len(stripped)-1], sfx, sfxErr = splitSuffix(lv[len(lv)-1])
			}
			at = stripped
		}
		if !rt.matches(topic, at) {
			continue
		}
		table := rt.resolveTable(at)
		m = Match{Formatter: rt.formatter, Table: table, Index: rt.index, route: rt}
		if err := rows.CheckTableName(table); err != nil {
			return m, true, fmt.Errorf("topic %q routed by routes[%d]: %w", topic, rt.index, err)
		}
		p := rt.plugin
		if rt.formats != nil {
			if sfxErr != nil {
				return m, true, fmt.Errorf("topic %q routed by routes[%d]: %w", topic, rt.index, sfxErr)
			}
			m.Format, m.Compression = sfx.format, sfx.compression
			if sfx.format != "" {
				t, ok := rt.formats.targets[sfx.format]
				if !ok {
					return m, true, fmt.Errorf("topic %q routed by routes[%d]: %w", topic, rt.index,
						formatErr(rows.ErrInvalidName, "topic suffix %q: unknown format %q (the route accepts %s)", sfx.text, sfx.format, rt.formats.names))
				}
				m.Formatter, p = t.formatter, t.plugin
			}
		}
		p.Table = table
		m.Route = &p
		if len(rt.columns) > 0 {
			m.Columns = make([]rows.Column, len(rt.columns))
			for i, c := range rt.columns {
				m.Columns[i] = rows.Column{Name: c.name, Value: rows.String(at[c.level])}
			}
		}
		return m, true, nil
	}
	return Match{}, false, nil
}

func splitLevels(topic string, dst []string) []string {
	for {
		i := strings.IndexByte(topic, '/')
		if i < 0 {
			return append(dst, topic)
		}
		dst = append(dst, topic[:i])
		topic = topic[i+1:]
	}
}

func (rt *route) matches(topic string, lv []string) bool {
	// [MQTT-4.7.2-1]: filters starting with a wildcard do not match $-topics.
	if strings.HasPrefix(topic, "$") && len(rt.filter) > 0 && rt.filter[0].kind != levelLiteral {
		return false
	}
	for i, f := range rt.filter {
		switch f.kind {
		case levelHash:
			return true
		case levelPlus:
			if i >= len(lv) {
				return false
			}
		default:
			if i >= len(lv) || lv[i] != f.text {
				return false
			}
		}
	}
	return len(lv) == len(rt.filter)
}

func (rt *route) resolveTable(lv []string) string {
	if len(rt.table) == 1 {
		if p := rt.table[0]; p.level < 0 {
			return p.literal
		} else {
			return lv[p.level]
		}
	}
	var b strings.Builder
	for _, p := range rt.table {
		if p.level < 0 {
			b.WriteString(p.literal)
		} else {
			b.WriteString(lv[p.level])
		}
	}
	return b.String()
}

// compileRoute checks one route and builds its matcher. Errors are
// *FieldError with keys relative to the route.
func compileRoute(c RouteConfig) (*route, error) {
	rt := &route{formatter: c.Formatter, topic: c.Topic}
	if c.Topic == "" {
		return nil, &FieldError{Key: "topic", Reason: "must not be empty"}
	}
	if c.Formatter == "" {
		return nil, &FieldError{Key: "formatter", Reason: "must not be empty"}
	}
	names := map[string]int{}
	parts := strings.Split(c.Topic, "/")
	for i, p := range parts {
		switch {
		case p == "#":
			if i != len(parts)-1 {
				return nil, &FieldError{Key: "topic", Reason: fmt.Sprintf("%q: '#' must be the last level", c.Topic)}
			}
			rt.filter = append(rt.filter, level{kind: levelHash})
		case p == "+":
			rt.filter = append(rt.filter, level{kind: levelPlus})
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}"):
			name := p[1 : len(p)-1]
			if !isIdent(name) {
				return nil, &FieldError{Key: "topic", Reason: fmt.Sprintf("%q: placeholder %q must be a name of letters, digits and '_'", c.Topic, p)}
			}
			if _, dup := names[name]; dup {
				return nil, &FieldError{Key: "topic", Reason: fmt.Sprintf("%q: placeholder {%s} appears twice", c.Topic, name)}
			}
			names[name] = i
			rt.filter = append(rt.filter, level{kind: levelPlus, text: name})
		case strings.ContainsAny(p, "+#{}"):
			return nil, &FieldError{Key: "topic", Reason: fmt.Sprintf("%q: level %q mixes text with a wildcard or placeholder", c.Topic, p)}
		default:
			rt.filter = append(rt.filter, level{kind: levelLiteral, text: p})
		}
	}

	tmpl := c.Table
	if tmpl == "" {
		if _, ok := names["table"]; !ok {
			return nil, &FieldError{Key: "table", Reason: "must be set when the topic has no {table} placeholder"}
		}
		tmpl = "{table}"
	}
	table, err := compileTableTemplate(tmpl, names)
	if err != nil {
		return nil, &FieldError{Key: "table", Reason: err.Error()}
	}
	rt.table = table

	opts, err := routeOptions(c)
	if err != nil {
		return nil, err
	}
	rt.plugin = plugins.Route{Options: opts}
	if rt.columns, err = compileTopicColumns(c, rt.filter, table); err != nil {
		return nil, err
	}
	if rt.formats, err = compileFormats(c, rt.plugin); err != nil {
		return nil, err
	}
	rt.builtin = rt.builtinOnly()
	return rt, nil
}

// builtinOnly reports whether every formatter the route may choose is built in.
func (rt *route) builtinOnly() bool {
	if _, ok := formatters.Lookup(rt.formatter); !ok {
		return false
	}
	if rt.formats != nil {
		for _, t := range rt.formats.targets {
			if _, ok := formatters.Lookup(t.formatter); !ok {
				return false
			}
		}
	}
	return true
}

// compileTopicColumns picks the placeholders stored as columns: those
// topic_columns lists or, by default, every one the table template does
// not use.
func compileTopicColumns(c RouteConfig, filter []level, table []tablePart) ([]topicColumn, error) {
	if c.NoTopicColumns {
		if len(c.TopicColumns) > 0 {
			return nil, &FieldError{Key: "no_topic_columns", Reason: "set together with topic_columns: keep one"}
		}
		return nil, nil
	}
	var cols []topicColumn
	if len(c.TopicColumns) == 0 {
		inTable := map[int]bool{}
		for _, p := range table {
			if p.level >= 0 {
				inTable[p.level] = true
			}
		}
		for i, f := range filter {
			if f.kind == levelPlus && f.text != "" && !inTable[i] {
				cols = append(cols, topicColumn{placeholder: f.text, name: f.text, level: i})
			}
		}
	} else {
		for j, tc := range c.TopicColumns {
			key := fmt.Sprintf("topic_columns[%d]", j)
			lvl := -1
			for i, f := range filter {
				if f.kind == levelPlus && f.text != "" && f.text == tc.Placeholder {
					lvl = i
				}
			}
			if lvl < 0 {
				return nil, &FieldError{Key: key + ".placeholder", Reason: fmt.Sprintf("{%s} is not a placeholder of topic %q", tc.Placeholder, c.Topic)}
			}
			name := tc.Column
			if name == "" {
				name = tc.Placeholder
			}
			if err := rows.CheckColumnName(name); err != nil {
				return nil, &FieldError{Key: key + ".column", Reason: err.Error()}
			}
			cols = append(cols, topicColumn{placeholder: tc.Placeholder, name: name, level: lvl})
		}
	}
	for j, col := range cols {
		key := "topic_columns"
		if len(c.TopicColumns) > 0 {
			key = fmt.Sprintf("topic_columns[%d]", j)
		}
		if strings.EqualFold(col.name, arrowstore.PartitionColumn) {
			return nil, &FieldError{Key: key, Reason: fmt.Sprintf("placeholder {%s} would be stored as column %q, the partition column: rename it with topic_columns or set no_topic_columns", col.placeholder, col.name)}
		}
		for _, prev := range cols[:j] {
			if prev.name == col.name {
				return nil, &FieldError{Key: key, Reason: fmt.Sprintf("column %q is stored twice", col.name)}
			}
		}
		for i, t := range c.Types {
			if k, err := rows.ParseKind(t.Type); t.Column == col.name && err == nil && k != rows.KindString {
				return nil, &FieldError{Key: fmt.Sprintf("types[%d].type", i), Reason: fmt.Sprintf("column %q comes from topic placeholder {%s} and is a string, not %s", col.name, col.placeholder, k)}
			}
		}
	}
	return cols, nil
}

// topicColumn finds the topic column stored under name.
func (rt *route) topicColumn(name string) (topicColumn, bool) {
	for _, c := range rt.columns {
		if c.name == name {
			return c, true
		}
	}
	return topicColumn{}, false
}

func compileTableTemplate(tmpl string, names map[string]int) ([]tablePart, error) {
	var parts []tablePart
	rest := tmpl
	for rest != "" {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			parts = append(parts, tablePart{literal: rest, level: -1})
			break
		}
		if open > 0 {
			parts = append(parts, tablePart{literal: rest[:open], level: -1})
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("%q: unclosed '{'", tmpl)
		}
		name := rest[open+1 : open+end]
		lvl, ok := names[name]
		if !ok {
			return nil, fmt.Errorf("%q: {%s} is not a placeholder of the route's topic", tmpl, name)
		}
		parts = append(parts, tablePart{level: lvl})
		rest = rest[open+end+1:]
	}
	var literal strings.Builder
	for _, p := range parts {
		if p.level < 0 {
			literal.WriteString(p.literal)
		} else {
			literal.WriteString("x")
		}
	}
	if err := rows.CheckTableName(literal.String()); err != nil {
		return nil, fmt.Errorf("%q: %w", tmpl, err)
	}
	return parts, nil
}

// routeOptions flattens a route's formatter options into the ordered
// key/value pairs the plugin ABI carries: options sorted by key, then each
// declared column type as "type.<column>".
func routeOptions(c RouteConfig) ([]plugins.Option, error) {
	keys := make([]string, 0, len(c.Options))
	for k := range c.Options {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var opts []plugins.Option
	for _, k := range keys {
		v, err := optionString(c.Options[k])
		if err != nil {
			return nil, &FieldError{Key: "options." + k, Reason: err.Error()}
		}
		opts = append(opts, plugins.Option{Key: k, Value: v})
	}
	for i, t := range c.Types {
		if err := rows.CheckColumnName(t.Column); err != nil {
			return nil, &FieldError{Key: fmt.Sprintf("types[%d].column", i), Reason: err.Error()}
		}
		k, err := rows.ParseKind(t.Type)
		if err != nil {
			return nil, &FieldError{Key: fmt.Sprintf("types[%d].type", i), Reason: err.Error()}
		}
		opts = append(opts, plugins.Option{Key: "type." + t.Column, Value: k.String()})
	}
	return opts, nil
}

func optionString(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string, bool, int, int64, float64, uint64, int32, uint32, float32:
		return fmt.Sprint(x), nil
	case []any:
		s := make([]string, len(x))
		for i, e := range x {
			es, err := optionString(e)
			if err != nil {
				return "", err
			}
			s[i] = es
		}
		return strings.Join(s, ","), nil
	}
	return "", fmt.Errorf("want a string, number, bool or a list of them, got %T", v)
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}

// checkRoutes asks, for every route, its formatter (and the formatter of
// each of its per-message formats) whether it accepts the route's options,
// using the plugin ABI's check-route call. It reports every refusal, each
// naming the route's key.
func (r *Router) checkRoutes(ctx context.Context, fs map[string]*plugins.Formatter) error {
	var errs []error
	check := func(key, id string, route plugins.Route) {
		f := fs[id]
		if f == nil {
			return
		}
		if err := f.CheckRoute(ctx, &route); err != nil {
			errs = append(errs, &FieldError{Key: key, Reason: fmt.Sprintf("formatter %s refuses the route: %v", id, err)})
		}
	}
	for _, rt := range r.routes {
		key := fmt.Sprintf("routes[%d]", rt.index)
		route := rt.plugin
		route.Table = rt.literalTable()
		check(key+".options", rt.formatter, route)
		if rt.formats == nil {
			continue
		}
		names := make([]string, 0, len(rt.formats.targets))
		for name := range rt.formats.targets {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			t := rt.formats.targets[name]
			route := t.plugin
			route.Table = rt.literalTable()
			check(key+".formats", t.formatter, route)
		}
	}
	return errors.Join(errs...)
}

// literalTable returns the route's table when its template has no
// placeholder, else "" (the table is known per message only).
func (rt *route) literalTable() string {
	var b strings.Builder
	for _, p := range rt.table {
		if p.level >= 0 {
			return ""
		}
		b.WriteString(p.literal)
	}
	return b.String()
}
