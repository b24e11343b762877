package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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
	ctx := context.Background()
	f := loadKV(t)
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

// kv is the example plugin, built and loaded once per test binary.
var kv struct {
	once sync.Once
	skip string
	err  error
	rt   *plugins.Runtime
	f    *plugins.Formatter
}

func loadKV(tb testing.TB) *plugins.Formatter {
	tb.Helper()
	kv.once.Do(func() {
		if _, err := wasmbuild.GoTool(); err != nil {
			kv.skip = fmt.Sprintf("cannot build the example guest: %v", err)
			return
		}
		ctx := context.Background()
		dir, err := os.MkdirTemp("", "kv-wasm-")
		if err != nil {
			kv.err = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "kv.wasm")
		if kv.err = wasmbuild.Build(ctx, ".", "./examples/kv", out); kv.err != nil {
			return
		}
		mod, err := os.ReadFile(out)
		if err != nil {
			kv.err = err
			return
		}
		if kv.rt, kv.err = plugins.NewRuntime(ctx, plugins.RuntimeOptions{CacheDir: plugintest.CacheDir()}); kv.err != nil {
			return
		}
		kv.f, kv.err = kv.rt.Load(ctx, "kv", mod, plugins.Limits{Instances: 1})
	})
	if kv.skip != "" {
		if os.Getenv("LAKEGATE_REQUIRE_TOOLCHAINS") == "1" {
			tb.Fatalf("LAKEGATE_REQUIRE_TOOLCHAINS=1 but %s", kv.skip)
		}
		tb.Skip(kv.skip)
	}
	if kv.err != nil {
		tb.Fatal(kv.err)
	}
	return kv.f
}

// kvPayload is a typical reading, 116 bytes.
var kvPayload = []byte("ts=1700000000000 device=sensor-0042 temp=21.53 humidity=48.2 battery=3.71 status=ok seq=12345 rssi=-67 fw=1.4.2")

// BenchmarkExampleKV is the kv example plugin through the runtime.
func BenchmarkExampleKV(b *testing.B) {
	f := loadKV(b)
	ctx := context.Background()
	msg := &rows.Message{Topic: "sensors/sensor-0042/kv", Payload: kvPayload, Received: time.Unix(1700000000, 0)}
	route := &plugins.Route{Table: "readings"}
	b.SetBytes(int64(len(kvPayload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Format(ctx, msg, route); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNativeKV is the same parsing in plain Go, natively, into the
// same rows: the baseline.
func BenchmarkNativeKV(b *testing.B) {
	b.SetBytes(int64(len(kvPayload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := nativeKV("sensors/sensor-0042/kv", kvPayload, "readings"); err != nil {
			b.Fatal(err)
		}
	}
}

// nativeKV parses key=value pairs as examples/kv does.
func nativeKV(topic string, payload []byte, table string) ([]rows.Row, error) {
	levels := strings.Split(topic, "/")
	r := rows.Row{Table: table, Columns: make([]rows.Column, 0, 8)}
	if len(levels) > 1 {
		r.Columns = append(r.Columns, rows.Column{Name: "device", Value: rows.String(levels[1])})
	}
	for _, pair := range strings.Fields(string(payload)) {
		k, v, ok := strings.Cut(pair, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("expected key=value, found %q", pair)
		}
		if k == "ts" {
			ms, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, err
			}
			r.Time = ms * 1e6
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			r.Columns = append(r.Columns, rows.Column{Name: k, Value: rows.Float(f)})
		} else {
			r.Columns = append(r.Columns, rows.Column{Name: k, Value: rows.String(v)})
		}
	}
	return []rows.Row{r}, nil
}

// TestNativeKVMatchesPlugin keeps the benchmark baseline honest: it must
// produce what the plugin produces.
func TestNativeKVMatchesPlugin(t *testing.T) {
	f := loadKV(t)
	msg := &rows.Message{Topic: "sensors/sensor-0042/kv", Payload: kvPayload, Received: time.Unix(1, 0)}
	got, err := f.Format(context.Background(), msg, &plugins.Route{Table: "readings"})
	if err != nil {
		t.Fatal(err)
	}
	want, err := nativeKV(msg.Topic, kvPayload, "readings")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Time != want[0].Time || len(got[0].Columns) != len(want[0].Columns) {
		t.Fatalf("plugin %+v\nnative %+v", got, want)
	}
	for i, c := range want[0].Columns {
		if got[0].Columns[i].Name != c.Name || !got[0].Columns[i].Value.Equal(c.Value) {
			t.Fatalf("column %d: plugin %+v, native %+v", i, got[0].Columns[i], c)
		}
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if kv.rt != nil {
		_ = kv.rt.Close(context.Background())
	}
	os.Exit(code)
}
