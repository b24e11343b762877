package gateway

import (
	"errors"
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
