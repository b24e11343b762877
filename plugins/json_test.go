package plugins_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/lakegate/lakegate/arrowstore/rows"
	jsonformat "github.com/lakegate/lakegate/formatters/json"
	"github.com/lakegate/lakegate/plugins"
)

// The JSON formatter's own golden cases (formatters/json/testdata) run it
// through this runtime; these tests cover what the runtime adds.

func TestJSONFormatter(t *testing.T) {
	ctx := context.Background()
	f := load(t, jsonformat.Module(), plugins.Limits{Instances: 2})
	m := msg(`{"ts":1700000000000,"device":"d1","temp":21.5,"meta":{"fw":"1.2"}}`)
	rs, err := f.Format(ctx, m, route)
	if err != nil {
		t.Fatal(err)
	}
	want := rows.Row{Table: "sensors", Time: 1700000000000 * 1e6, Columns: []rows.Column{
		{Name: "device", Value: rows.String("d1")},
		{Name: "temp", Value: rows.Float(21.5)},
		{Name: "meta.fw", Value: rows.String("1.2")},
	}}
	if len(rs) != 1 || !sameRow(rs[0], want) {
		t.Fatalf("got %+v\nwant %+v", rs, want)
	}

	_, err = f.Format(ctx, msg(`{"device" "d1"}`), route)
	pe := wantReason(t, err, plugins.ReasonMalformed, rows.ErrMalformedPayload)
	if want := `line 1 col 11: expected ':' after object key, found '"'`; pe.Text != want {
		t.Fatalf("text %q, want %q", pe.Text, want)
	}

	// A payload larger than the input buffer the guest has: it grows.
	big := `[` + strings.Repeat(`{"v":1},`, 5000) + `{"v":2}]`
	rs, err = f.Format(ctx, msg(big), route)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 5001 {
		t.Fatalf("%d rows", len(rs))
	}
}

func TestJSONRowLimits(t *testing.T) {
	ctx := context.Background()
	f := load(t, jsonformat.Module(), plugins.Limits{Instances: 1, MaxRows: 3, MaxOutputBytes: 4096})
	_, err := f.Format(ctx, msg(`[{"a":1},{"a":2},{"a":3},{"a":4}]`), route)
	pe := wantReason(t, err, plugins.ReasonOutputLimit, rows.ErrPluginFailed)
	if !strings.Contains(pe.Text, "more than 3 rows") {
		t.Fatalf("text %q", pe.Text)
	}
	_, err = f.Format(ctx, msg(`{"a":"`+strings.Repeat("x", 5000)+`"}`), route)
	pe = wantReason(t, err, plugins.ReasonOutputLimit, rows.ErrPluginFailed)
	if !strings.Contains(pe.Text, "more than 4096 bytes") {
		t.Fatalf("text %q", pe.Text)
	}
	if _, err := f.Format(ctx, msg(`[{"a":1},{"a":2},{"a":3}]`), route); err != nil {
		t.Fatal(err)
	}
}

func TestJSONCheckRoute(t *testing.T) {
	ctx := context.Background()
	f := load(t, jsonformat.Module(), plugins.Limits{Instances: 1})
	if err := f.CheckRoute(ctx, &plugins.Route{Table: "t", Options: []plugins.Option{{Key: "time_field", Value: "at"}, {Key: "type.n", Value: "int64"}}}); err != nil {
		t.Fatal(err)
	}
	err := f.CheckRoute(ctx, &plugins.Route{Table: "t", Options: []plugins.Option{{Key: "time_fromat", Value: "ms"}}})
	pe := wantReason(t, err, plugins.ReasonGuestError, rows.ErrPluginFailed)
	if !strings.Contains(pe.Text, `unknown option "time_fromat"`) {
		t.Fatalf("text %q", pe.Text)
	}
	if errors.Is(err, rows.ErrMalformedPayload) {
		t.Fatal("a route error is not a malformed payload")
	}
}

// TestJSONGuestPanicRecovers feeds a payload deep enough to exhaust a
// small memory limit... rather than rely on that, it checks that an
// instance discarded for any reason is replaced by a working one.
func TestJSONReplacesInstance(t *testing.T) {
	ctx := context.Background()
	f := load(t, jsonformat.Module(), plugins.Limits{Instances: 1, MaxOutputBytes: 64})
	// 64 bytes is below the SDK's initial buffer, but the guest is told the
	// limit and refuses with a limit status; the host keeps nothing bad.
	_, err := f.Format(ctx, msg(`{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa":1}`), route)
	wantReason(t, err, plugins.ReasonOutputLimit, rows.ErrPluginFailed)
	if _, err := f.Format(ctx, msg(`{"a":1}`), route); err != nil {
		t.Fatal(err)
	}
	if s := f.Stats(); s.InstancesStarted != 2 || s.InstancesDiscarded != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func sameRow(a, b rows.Row) bool {
	if a.Table != b.Table || a.Time != b.Time || len(a.Columns) != len(b.Columns) {
		return false
	}
	for i := range a.Columns {
		if a.Columns[i].Name != b.Columns[i].Name || !a.Columns[i].Value.Equal(b.Columns[i].Value) {
			return false
		}
	}
	return true
}

// TestJSONOutOfMemory gives the JSON formatter (a Rust guest) too little
// memory for a large payload: it must fail as oom (the Rust SDK's
// allocator says so through the log import before the call aborts; a Go
// guest's runtime prints it, see gateway's hostile plugin test), and the
// next (small) message must work.
func TestJSONOutOfMemory(t *testing.T) {
	ctx := context.Background()
	f := load(t, jsonformat.Module(), plugins.Limits{Instances: 1, MemoryPages: 64}) // 4 MiB
	_, err := f.Format(ctx, msg(`{"a":"`+strings.Repeat("x", 6<<20)+`"}`), route)
	pe := wantReason(t, err, plugins.ReasonOOM, rows.ErrPluginFailed)
	if !strings.Contains(pe.Text, "out of memory") {
		t.Fatalf("text %q", pe.Text)
	}
	if _, err := f.Format(ctx, msg(`{"a":1}`), route); err != nil {
		t.Fatal(err)
	}
}
