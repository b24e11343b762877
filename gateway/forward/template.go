package forward

import (
	"fmt"
	"strconv"
	"strings"
)

// Template is a compiled upstream topic template such as
// "edge/{client}/{table}": literal text with placeholders {table} (the
// row's table), {topic} (the whole topic published), {client} (the
// publisher's client id), {1}, {2}, ... (levels of the published topic,
// from 1) and the route's named topic placeholders ({site} for a route
// topic "sites/{site}/#").
type Template struct {
	src   string
	parts []part
}

type partKind uint8

const (
	partLiteral partKind = iota
	partTable
	partTopic
	partClient
	partLevel
)

type part struct {
	kind    partKind
	literal string
	level   int // 0-based topic level for partLevel
}

// Vars are the values a Template is expanded with.
type Vars struct {
	Table  string
	Topic  string
	Client string
	Levels []string // the published topic split at '/'
}

// MaxTopicLevels bounds {N} placeholders.
const MaxTopicLevels = 128

// ParseTemplate compiles tmpl. names maps the route's named topic
// placeholders to their 0-based topic level; it may be nil.
func ParseTemplate(tmpl string, names map[string]int) (*Template, error) {
	if tmpl == "" {
		return nil, fmt.Errorf("must not be empty")
	}
	if strings.HasPrefix(tmpl, "$") {
		return nil, fmt.Errorf("%q: upstream topics must not start with '$'", tmpl)
	}
	if strings.ContainsAny(tmpl, "+#\x00") {
		return nil, fmt.Errorf("%q: a topic to publish on has no wildcards '+', '#' (or NUL)", tmpl)
	}
	t := &Template{src: tmpl}
	rest := tmpl
	for rest != "" {
		open := strings.IndexAny(rest, "{}")
		if open < 0 {
			t.parts = append(t.parts, part{kind: partLiteral, literal: rest})
			break
		}
		if rest[open] == '}' {
			return nil, fmt.Errorf("%q: '}' without '{'", tmpl)
		}
		if open > 0 {
			t.parts = append(t.parts, part{kind: partLiteral, literal: rest[:open]})
		}
		end := strings.IndexAny(rest[open+1:], "{}")
		if end < 0 || rest[open+1+end] != '}' {
			return nil, fmt.Errorf("%q: unclosed '{'", tmpl)
		}
		name := rest[open+1 : open+1+end]
		p, err := placeholder(name, names)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", tmpl, err)
		}
		t.parts = append(t.parts, p)
		rest = rest[open+end+2:]
	}
	return t, nil
}

func placeholder(name string, names map[string]int) (part, error) {
	switch name {
	case "table":
		return part{kind: partTable}, nil
	case "topic":
		return part{kind: partTopic}, nil
	case "client":
		return part{kind: partClient}, nil
	}
	if n, err := strconv.Atoi(name); err == nil && name[0] != '0' && name[0] != '+' {
		if n < 1 || n > MaxTopicLevels {
			return part{}, fmt.Errorf("{%s}: topic levels count from 1 to %d", name, MaxTopicLevels)
		}
		return part{kind: partLevel, level: n - 1}, nil
	}
	if lvl, ok := names[name]; ok {
		return part{kind: partLevel, level: lvl}, nil
	}
	return part{}, fmt.Errorf("unknown placeholder {%s}: want {table}, {topic}, {client}, a level {1}, {2}, ... or a placeholder of the route's topic", name)
}

// String returns the template's source.
func (t *Template) String() string { return t.src }

// Expand fills the template in. A topic level the published topic does
// not have expands to "". Wildcard characters and NUL in the values
// (a client id may hold them) become '_', so the result is always a topic
// name that can be published on.
func (t *Template) Expand(v Vars) string {
	var b strings.Builder
	for _, p := range t.parts {
		switch p.kind {
		case partLiteral:
			b.WriteString(p.literal)
		case partTable:
			writeClean(&b, v.Table)
		case partTopic:
			writeClean(&b, v.Topic)
		case partClient:
			writeClean(&b, v.Client)
		case partLevel:
			if p.level < len(v.Levels) {
				writeClean(&b, v.Levels[p.level])
			}
		}
	}
	return b.String()
}

func writeClean(b *strings.Builder, s string) {
	if !strings.ContainsAny(s, "+#\x00") {
		b.WriteString(s)
		return
	}
	for _, r := range s {
		if r == '+' || r == '#' || r == 0 {
			r = '_'
		}
		b.WriteRune(r)
	}
}
