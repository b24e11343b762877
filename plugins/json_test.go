package plugins_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lakegate/lakegate/arrowstore/rows"
	jsonformat "github.com/lakegate/lakegate/formatters/json"
	lineformat "github.com/lakegate/lakegate/formatters/line"
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

// formatAllCases are messages for the JSON formatter's batch export: rows,
// several rows, none, malformed payloads, a bad route option, a message
// over the row limit, one too large to batch, invalid UTF-8 in a topic,
// user properties, and routes that differ from message to message.
func formatAllCases() []plugins.Item {
	timeMS := &plugins.Route{Table: "t2", Options: []plugins.Option{{Key: "time_field", Value: "at"}, {Key: "time_format", Value: "ms"}}}
	badOption := &plugins.Route{Table: "t3", Options: []plugins.Option{{Key: "time_format", Value: "fortnights"}}}
	withProps := msg(`{"v":true}`)
	withProps.UserProperties = []rows.Property{{Key: "k", Value: "v"}}
	withProps.Topic = "bad\xffutf8"
	items := []plugins.Item{
		{Msg: msg(`{"ts":1700000000000,"device":"d1","temp":21.5}`), Route: route},
		{Msg: msg(`[{"a":1},{"a":2,"b":"x"},{"c":null}]`), Route: route},
		{Msg: msg(`[]`), Route: route},
		{Msg: msg(`{"device" "d1"}`), Route: route},
		{Msg: msg(``), Route: route},
		{Msg: msg(`{"at":1700000000123,"v":1}`), Route: timeMS},
		{Msg: msg(`{"v":1}`), Route: badOption},
		{Msg: msg(`[` + strings.Repeat(`{"a":1},`, 20) + `{"a":2}]`), Route: route}, // over MaxRows
		{Msg: msg(`{"big":"` + strings.Repeat("y", 20<<10) + `"}`), Route: route},
		{Msg: withProps, Route: route},
		{Msg: msg("\xef\xbb\xbf{\"bom\":1}"), Route: nil},
		{Msg: msg(`{"last":1.5e3}`), Route: route},
	}
	for i := range items {
		items[i].Msg.Received = time.Unix(1700000000, int64(i)*1e6)
	}
	return items
}

// TestJSONFormatAllMatchesFormat formats the same messages with Format,
// one by one, and with FormatAll, which hands the JSON formatter (a Rust
// guest on the SDK's batch export) batches: every message must come out
// the same, rows or error, and the stats must count the same calls, rows
// and failures.
func TestJSONFormatAllMatchesFormat(t *testing.T) {
	limits := plugins.Limits{Instances: 1, MaxRows: 10}
	one := load(t, jsonformat.Module(), limits)
	all := load(t, jsonformat.Module(), limits)
	if !all.TakesBatches() {
		t.Fatal("the JSON formatter does not export lakegate_format_batch")
	}
	items := formatAllCases()
	formatAllLikeFormat(t, one, all, items)
	s1, s2 := one.Stats(), all.Stats()
	if s1.Calls != s2.Calls || s1.Rows != s2.Rows || s1.Malformed() != s2.Malformed() || s1.Failed() != s2.Failed() {
		t.Fatalf("stats: Format %+v, FormatAll %+v", s1, s2)
	}
	if s2.Malformed() != 2 || s2.Failed() != 2 {
		t.Fatalf("stats %+v: want 2 malformed, 2 failed (bad option, row limit)", s2)
	}
}

// FuzzJSONFormatAll splits the fuzzer's input into payloads and checks
// that FormatAll gives what Format gives for each.
func FuzzJSONFormatAll(f *testing.F) {
	f.Add([]byte("{\"a\":1}\x00[1,2]\x00{\"b\"\x00"))
	f.Add([]byte("[{\"a\":1},{\"a\":2}]\x00\x00\xff"))
	limits := plugins.Limits{Instances: 1, MaxRows: 8, MaxOutputBytes: 2048}
	one := load(f, jsonformat.Module(), limits)
	all := load(f, jsonformat.Module(), limits)
	f.Fuzz(func(t *testing.T, data []byte) {
		var items []plugins.Item
		for p := range bytes.SplitSeq(data, []byte{0}) {
			items = append(items, plugins.Item{Msg: msg(string(p)), Route: route})
		}
		formatAllLikeFormat(t, one, all, items)
	})
}

// formatAllLikeFormat runs items through all's FormatAll and checks each
// outcome against one's Format of the same message.
func formatAllLikeFormat(t *testing.T, one, all *plugins.Formatter, items []plugins.Item) {
	t.Helper()
	ctx := context.Background()
	b := all.NewBatch(ctx)
	b.FormatAll(items)
	b.Close()
	for i, it := range items {
		rs, err := one.Format(ctx, it.Msg, it.Route)
		if (err == nil) != (it.Err == nil) || err != nil && err.Error() != it.Err.Error() {
			t.Fatalf("message %d: FormatAll error %v, Format error %v", i, it.Err, err)
		}
		if len(rs) != len(it.Rows) {
			t.Fatalf("message %d: FormatAll %d rows, Format %d", i, len(it.Rows), len(rs))
		}
		for j := range rs {
			if !sameRow(rs[j], it.Rows[j]) {
				t.Fatalf("message %d row %d: FormatAll %+v, Format %+v", i, j, it.Rows[j], rs[j])
			}
		}
	}
}

// TestGoGuestFormatAllMatchesFormat is TestJSONFormatAllMatchesFormat for
// a guest on the Go SDK: the line protocol formatter, given its golden
// cases' payloads (good and malformed) in one batch.
func TestGoGuestFormatAllMatchesFormat(t *testing.T) {
	paths, err := filepath.Glob("../formatters/line/testdata/*/payload.txt")
	if err != nil || len(paths) < 5 {
		t.Fatalf("payloads %v: %v", paths, err)
	}
	var items []plugins.Item
	for _, p := range paths {
		payload, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, plugins.Item{Msg: msg(string(payload)), Route: route})
	}
	one := load(t, lineformat.Module(), plugins.Limits{Instances: 1})
	all := load(t, lineformat.Module(), plugins.Limits{Instances: 1})
	if !all.TakesBatches() {
		t.Fatal("the line formatter does not export lakegate_format_batch")
	}
	formatAllLikeFormat(t, one, all, items)
	if s := all.Stats(); s.Malformed() == 0 || s.Rows == 0 || s.InstancesDiscarded != 0 {
		t.Fatalf("stats %+v: want rows, malformed payloads and no instance discarded", s)
	}
}
