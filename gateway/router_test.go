package gateway

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lakegate/lakegate/arrowstore/rows"
)

func TestRouterMatch(t *testing.T) {
	r, err := NewRouter([]RouteConfig{
		{Topic: "db/write/{table}", Formatter: "json"},
		{Topic: "factory/{site}/{line}/telemetry", Formatter: "json", Table: "telemetry_{site}"},
		{Topic: "sensors/+/temp", Formatter: "json", Table: "temps"},
		{Topic: "archive/#", Formatter: "json", Table: "archive"},
		{Topic: "#", Formatter: "json", Table: "everything"},
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		topic   string
		table   string // "" = no match
		index   int
		invalid bool
	}{
		{"db/write/sensors", "sensors", 0, false},
		{"db/write/a/b", "everything", 4, false},
		{"db/write/", "", 0, true},
		{"db/write/bad.name", "", 0, true},
		{"factory/north/l1/telemetry", "telemetry_north", 1, false},
		{"sensors/s1/temp", "temps", 2, false},
		{"sensors/s1/hum", "everything", 4, false},
		{"archive", "archive", 3, false},
		{"archive/x/y/z", "archive", 3, false},
		{"$SYS/broker/uptime", "", 0, false},
	}
	for _, c := range cases {
		m, ok, err := r.Match(c.topic)
		switch {
		case c.invalid:
			if !ok || !errors.Is(err, rows.ErrInvalidName) {
				t.Errorf("%s: want an invalid table name error, got ok=%v err=%v", c.topic, ok, err)
			}
		case c.table == "":
			if ok {
				t.Errorf("%s: matched route %d, want no match", c.topic, m.Index)
			}
		default:
			if !ok || err != nil || m.Table != c.table || m.Index != c.index || m.Route.Table != c.table {
				t.Errorf("%s: got %+v ok=%v err=%v; want table %s from route %d", c.topic, m, ok, err, c.table, c.index)
			}
		}
	}
}

func TestRouteOptionsCarryTypes(t *testing.T) {
	r, err := NewRouter([]RouteConfig{{
		Topic: "t/{table}", Formatter: "json",
		Options: map[string]any{"time_field": "time", "columns": []any{"name", "time", "value"}},
		Types:   []ColumnType{{Column: "Count", Type: "int"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	m, _, _ := r.Match("t/x")
	got := m.Route.Options
	want := []struct{ k, v string }{{"columns", "name,time,value"}, {"time_field", "time"}, {"type.Count", "int64"}}
	if len(got) != len(want) {
		t.Fatalf("options = %v", got)
	}
	for i, w := range want {
		if got[i].Key != w.k || got[i].Value != w.v {
			t.Errorf("option %d = %v, want %s=%s", i, got[i], w.k, w.v)
		}
	}
}

func BenchmarkRouterMatch(b *testing.B) {
	r, err := NewRouter([]RouteConfig{
		{Topic: "factory/{site}/{line}/telemetry", Formatter: "json", Table: "telemetry"},
		{Topic: "db/write/{table}", Formatter: "json"},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, _ := r.Match("db/write/sensors"); !ok {
			b.Fatal("no match")
		}
	}
}

// FuzzRouter compiles arbitrary topic patterns and table templates and
// matches arbitrary topics against them: nothing may panic, and a match
// must name a valid table or return an error.
func FuzzRouter(f *testing.F) {
	f.Add("db/write/{table}", "", "db/write/sensors")
	f.Add("factory/{site}/{line}/telemetry", "t_{site}_{line}", "factory/a/b/telemetry")
	f.Add("#", "all", "$SYS/x")
	f.Add("+/+/#", "x", "a//b")
	f.Add("a/{b}{c}", "{b}", "a/x")
	f.Fuzz(func(t *testing.T, pattern, table, topic string) {
		r, err := NewRouter([]RouteConfig{{Topic: pattern, Formatter: "json", Table: table}})
		if err != nil {
			return
		}
		m, ok, err := r.Match(topic)
		if ok && err == nil {
			if cerr := rows.CheckTableName(m.Table); cerr != nil {
				t.Fatalf("pattern %q table %q topic %q: matched invalid table %q", pattern, table, topic, m.Table)
			}
		}
	})
}

// TestRouteCases runs each testdata/routes/<case>/: the routes of
// config.yaml, then every line of messages.txt (a topic, then MQTT 5 user
// properties as key=value) through Match and the user-property choice,
// compared with expected.txt: the compiled routes, then per message the
// formatter, table, format, compression, topic columns and options, or the
// error with its MQTT 5 reason code. -update rewrites expected.txt.
func TestRouteCases(t *testing.T) {
	dirs, err := filepath.Glob("testdata/routes/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no route cases")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			cfg, err := LoadConfig(filepath.Join(dir, "config.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			r, err := NewRouter(cfg.Routes)
			if err != nil {
				t.Fatal(err)
			}
			msgs, err := os.ReadFile(filepath.Join(dir, "messages.txt"))
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			describeRouter(&b, r)
			for _, line := range strings.Split(strings.TrimSpace(string(msgs)), "\n") {
				fields := strings.Fields(line)
				var props []rows.Property
				for _, kv := range fields[1:] {
					k, v, _ := strings.Cut(kv, "=")
					props = append(props, rows.Property{Key: k, Value: v})
				}
				fmt.Fprintf(&b, "%s\n  %s\n", line, describeRouting(r, fields[0], props))
			}
			got := b.String()
			golden := filepath.Join(dir, "expected.txt")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("reading golden file (run with -update to create it): %v", err)
			}
			if got != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// describeRouter lists the compiled routes: formatters, topic columns and formats.
func describeRouter(b *strings.Builder, r *Router) {
	fmt.Fprintf(b, "formatters: %v\n", r.Formatters())
	for _, rt := range r.routes {
		var cols []string
		for _, c := range rt.columns {
			cols = append(cols, fmt.Sprintf("{%s}->%s", c.placeholder, c.name))
		}
		fmt.Fprintf(b, "routes[%d]: formatter=%s topic_columns=%v", rt.index, rt.formatter, cols)
		if fc := rt.formats; fc != nil {
			fmt.Fprintf(b, " formats=[%s] max_decompressed_size=%d", fc.names, fc.maxDecompressed)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

// describeRouting routes one message as Ingest does up to the formatter.
func describeRouting(r *Router, topic string, props []rows.Property) string {
	m, ok, err := r.Match(topic)
	if !ok {
		return "no route"
	}
	if err == nil && m.route.formats != nil {
		err = m.chooseByProperties(props)
	}
	if err != nil {
		return fmt.Sprintf("routes[%d] error, reason %#x: %v", m.Index, byte(reasonFor(err).Code), err)
	}
	var cols []string
	for _, c := range m.Columns {
		cols = append(cols, c.Name+"="+c.Value.Str)
	}
	return fmt.Sprintf("routes[%d] table=%s formatter=%s format=%q compression=%q columns=%v options=%v",
		m.Index, m.Table, m.Formatter, m.Format, m.Compression, cols, m.Route.Options)
}

// FuzzTopicSuffix feeds arbitrary topics and user properties through a
// route with formats: nothing may panic; the suffix split must give back
// the topic; a routed message names a valid table, an accepted format and
// a known compression, or fails with a sentinel that has a reason code.
func FuzzTopicSuffix(f *testing.F) {
	for _, seed := range []struct{ topic, format, compress string }{
		{"db/write/t", "", ""},
		{"db/write/t:csv:gzip", "", ""},
		{"db/write/t:gzip", "csv", ""},
		{"db/write/t::-", "", "gzip"},
		{"db/write/t:CSV", "json", "zip"},
		{"db/write/:a:b:c", "", ""},
		{"db/write/t:ndjson", "ndjson", "-"},
		{"x/y:z", "", ""},
	} {
		f.Add(seed.topic, seed.format, seed.compress)
	}
	r, err := NewRouter([]RouteConfig{
		{Topic: "db/write/{table}", Formatter: "json", Formats: []FormatConfig{{Name: "csv", Options: map[string]any{"header": false}}}},
		{Topic: "#", Formatter: "line", Table: "rest", Formats: []FormatConfig{{Name: "line"}}},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, topic, format, compress string) {
		last := topic[strings.LastIndexByte(topic, '/')+1:]
		base, sfx, serr := splitSuffix(last)
		if base+sfx.text != last || strings.Contains(base, ":") {
			t.Fatalf("splitSuffix(%q) = %q + %q", last, base, sfx.text)
		}
		if serr != nil && !errors.Is(serr, rows.ErrInvalidName) {
			t.Fatalf("splitSuffix(%q): %v does not wrap ErrInvalidName", last, serr)
		}
		m, ok, err := r.Match(topic)
		if !ok {
			return
		}
		var props []rows.Property
		if format != "" {
			props = append(props, rows.Property{Key: "format", Value: format})
		}
		if compress != "" {
			props = append(props, rows.Property{Key: "compress", Value: compress})
		}
		if err == nil {
			err = m.chooseByProperties(props)
		}
		if err != nil {
			if !errors.Is(err, rows.ErrInvalidName) && !errors.Is(err, rows.ErrMalformedPayload) {
				t.Fatalf("topic %q: error %v wraps no sentinel", topic, err)
			}
			return
		}
		if cerr := rows.CheckTableName(m.Table); cerr != nil {
			t.Fatalf("topic %q: routed to invalid table %q", topic, m.Table)
		}
		if _, ok := m.route.formats.targets[m.Format]; m.Format != "" && !ok {
			t.Fatalf("topic %q: format %q is not accepted", topic, m.Format)
		}
		switch m.Compression {
		case "", compressionGzip, compressionNone:
		default:
			t.Fatalf("topic %q: compression %q", topic, m.Compression)
		}
		if m.Formatter != "json" && m.Formatter != "csv" && m.Formatter != "line" {
			t.Fatalf("topic %q: formatter %q", topic, m.Formatter)
		}
	})
}
