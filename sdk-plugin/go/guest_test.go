package sdk_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lakegate/lakegate/arrowstore/rows"
	"github.com/lakegate/lakegate/plugins"
	"github.com/lakegate/lakegate/plugins/plugintest"
	"github.com/lakegate/lakegate/sdk-plugin/go/wasmbuild"
)

// TestExampleGuest builds the example plugin in examples/kv with the Go
// toolchain and runs it through the real runtime: the SDK's exports, its
// encodings and the host's must agree.
func TestExampleGuest(t *testing.T) {
	if _, err := wasmbuild.GoTool(); err != nil {
		if os.Getenv("LAKEGATE_REQUIRE_TOOLCHAINS") == "1" {
			t.Fatalf("LAKEGATE_REQUIRE_TOOLCHAINS=1 but %v", err)
		}
		t.Skipf("cannot build the example guest: %v", err)
	}
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "kv.wasm")
	if err := wasmbuild.Build(ctx, ".", "./examples/kv", out); err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	r, err := plugins.NewRuntime(ctx, plugins.RuntimeOptions{CacheDir: plugintest.CacheDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	f, err := r.Load(ctx, "kv", mod, plugins.Limits{Instances: 1})
	if err != nil {
		t.Fatal(err)
	}
	route := &plugins.Route{Table: "readings"}
	msg := &rows.Message{Topic: "sensors/d7/kv", Payload: []byte("temp=21.5 unit=C ts=1700000000000"), Received: time.Unix(1, 0)}
	rs, err := f.Format(ctx, msg, route)
	if err != nil {
		t.Fatal(err)
	}
	want := rows.Row{Table: "readings", Time: 1700000000000 * 1e6, Columns: []rows.Column{
		{Name: "device", Value: rows.String("d7")},
		{Name: "temp", Value: rows.Float(21.5)},
		{Name: "unit", Value: rows.String("C")},
	}}
	if len(rs) != 1 || rs[0].Table != want.Table || rs[0].Time != want.Time || len(rs[0].Columns) != 3 {
		t.Fatalf("rows %+v", rs)
	}
	for i, c := range want.Columns {
		if rs[0].Columns[i].Name != c.Name || !rs[0].Columns[i].Value.Equal(c.Value) {
			t.Fatalf("column %d: %+v, want %+v", i, rs[0].Columns[i], c)
		}
	}
	msg.Payload = []byte("temp=1 oops")
	if _, err := f.Format(ctx, msg, route); !errors.Is(err, rows.ErrMalformedPayload) {
		t.Fatalf("malformed payload gave %v", err)
	}
	if err := f.CheckRoute(ctx, &plugins.Route{Table: "t", Options: []plugins.Option{{Key: "nope"}}}); !errors.Is(err, rows.ErrPluginFailed) {
		t.Fatalf("bad option gave %v", err)
	}
}
