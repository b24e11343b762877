package gateway

import (
	"fmt"
	"sort"
	"strings"

	"github.com/lakegate/lakegate/arrowstore/rows"
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
	index     int
	filter    []level
	formatter string
	table     []tablePart
	plugin    plugins.Route // options and, after matching, nothing else: Table is set per match
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

// Formatters lists the formatter ids the routes use, sorted, each once.
func (r *Router) Formatters() []string {
	seen := map[string]bool{}
	var ids []string
	for _, rt := range r.routes {
		if !seen[rt.formatter] {
			seen[rt.formatter] = true
			ids = append(ids, rt.formatter)
		}
	}
	sort.Strings(ids)
	return ids
}

// Match finds the route for topic. ok is false when no route matches; err is
// set when a route matches but the table it names is invalid.
func (r *Router) Match(topic string) (m Match, ok bool, err error) {
	var levels [16]string
	lv := splitLevels(topic, levels[:0])
	for _, rt := range r.routes {
		if !rt.matches(topic, lv) {
			continue
		}
		table := rt.resolveTable(lv)
		m = Match{Formatter: rt.formatter, Table: table, Index: rt.index}
		if err := rows.CheckTableName(table); err != nil {
			return m, true, fmt.Errorf("topic %q routed by routes[%d]: %w", topic, rt.index, err)
		}
		p := rt.plugin
		p.Table = table
		m.Route = &p
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
	rt := &route{formatter: c.Formatter}
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
	return rt, nil
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
