package plugins_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/lakegate/lakegate/arrowstore/rows"
	jsonformat "github.com/lakegate/lakegate/formatters/json"
	"github.com/lakegate/lakegate/formatters/json/format"
	"github.com/lakegate/lakegate/plugins"
	"github.com/lakegate/lakegate/plugins/plugintest"
	"github.com/lakegate/lakegate/sdk-plugin/go/sdktest"
)

// benchPayload is a typical ~120-byte sensor reading.
var benchPayload = []byte(`{"ts":1700000000000,"device":"sensor-0042","temp":21.53,"humidity":48.2,"battery":3.71,"status":"ok","seq":12345}`)

func benchMsg() *rows.Message {
	return &rows.Message{Topic: "sensors/sensor-0042/data", Payload: benchPayload, ClientID: "sensor-0042",
		QoS: 1, ProtocolVersion: 5, Received: time.Unix(1700000000, 0)}
}

// BenchmarkFormatJSON is the built-in JSON formatter through the runtime:
// input encoding, one guest call, output decoding into rows; once per
// deadline mode.
func BenchmarkFormatJSON(b *testing.B) {
	ctx := context.Background()
	for _, mode := range []plugins.DeadlineMode{plugins.DeadlineInstrument, plugins.DeadlineCloseOnContextDone} {
		b.Run(mode.String(), func(b *testing.B) {
			r := testRuntime
			if mode != plugins.DeadlineInstrument {
				var err error
				r, err = plugins.NewRuntime(ctx, plugins.RuntimeOptions{CacheDir: plugintest.CacheDir(), Deadline: mode})
				if err != nil {
					b.Fatal(err)
				}
				defer r.Close(ctx)
			}
			f, err := r.Load(ctx, "bench", jsonformat.Module(), plugins.Limits{Instances: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close(ctx)
			m, rt := benchMsg(), &plugins.Route{Table: "sensors"}
			b.SetBytes(int64(len(benchPayload)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.Format(ctx, m, rt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFormatJSONBatch formats 128 messages at a time through one
// Batch, as the gateway's ingest queue does: one call per message
// (Format) against one batch call for them all (FormatAll). ns/op is per
// message. The one-column payload shows what a message costs beyond its
// columns: input encoding, the guest's setup, output decoding.
func BenchmarkFormatJSONBatch(b *testing.B) {
	ctx := context.Background()
	f, err := testRuntime.Load(ctx, "bench", jsonformat.Module(), plugins.Limits{Instances: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close(ctx)
	const n = 128
	rt := &plugins.Route{Table: "sensors"}
	items := make([]plugins.Item, n)
	for _, p := range []struct {
		name    string
		payload []byte
	}{{"sensor", benchPayload}, {"one_column", []byte(`{"a":1}`)}} {
		m := benchMsg()
		m.Payload = p.payload
		for _, all := range []bool{false, true} {
			b.Run(p.name+"/"+map[bool]string{false: "format", true: "format_all"}[all], func(b *testing.B) {
				b.SetBytes(int64(len(p.payload)))
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					if i%n != 0 {
						continue // a batch of n does the work of n iterations
					}
					batch := f.NewBatch(ctx)
					if all {
						for j := range items {
							items[j] = plugins.Item{Msg: m, Route: rt}
						}
						batch.FormatAll(items)
						for _, it := range items {
							if it.Err != nil || len(it.Rows) != 1 {
								b.Fatal(it.Err)
							}
						}
					} else {
						for range n {
							if rs, err := batch.Format(m, rt); err != nil || len(rs) != 1 {
								b.Fatal(err)
							}
						}
					}
					batch.Close()
				}
			})
		}
	}
}

// BenchmarkFormatJSONParallel runs the same with one instance per CPU.
func BenchmarkFormatJSONParallel(b *testing.B) {
	ctx := context.Background()
	f, err := testRuntime.Load(ctx, "bench", jsonformat.Module(), plugins.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close(ctx)
	r := &plugins.Route{Table: "sensors"}
	b.SetBytes(int64(len(benchPayload)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		m := benchMsg()
		for pb.Next() {
			if _, err := f.Format(ctx, m, r); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkNativeEncodingJSON is the baseline most Go code would write:
// encoding/json into a map, natively.
func BenchmarkNativeEncodingJSON(b *testing.B) {
	b.SetBytes(int64(len(benchPayload)))
	b.ReportAllocs()
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(benchPayload, &m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNativeSDKScanner is the JSON formatter's guest code (SDK input
// decoding, jsonscan, output encoding) compiled natively.
func BenchmarkNativeSDKScanner(b *testing.B) {
	var hs sdktest.Harness
	var f format.Formatter
	in := sdktest.AppendInput(nil, sdktest.Message{Topic: "sensors/sensor-0042/data", Payload: benchPayload, Table: "sensors"}, false)
	b.SetBytes(int64(len(benchPayload)))
	b.ReportAllocs()
	for b.Loop() {
		out := hs.RunRaw(f.Handle, nil, in)
		if out[0] != 0 {
			b.Fatal(string(out[1:]))
		}
	}
}

// BenchmarkLoadJSON measures Load of the JSON formatter (instrumenting,
// compiling or finding the compiled code, starting one instance):
//
//   - cold: a runtime over an empty CacheDir, as at a first start;
//   - warm_disk: a new runtime over a CacheDir that holds the module, as at
//     a restart;
//   - warm_memory: the same runtime loading the module again.
//
// Compilation takes seconds: run with -benchtime 3x.
func BenchmarkLoadJSON(b *testing.B) {
	ctx := context.Background()
	load := func(b *testing.B, r *plugins.Runtime) {
		f, err := r.Load(ctx, "json", jsonformat.Module(), plugins.Limits{Instances: 1})
		if err != nil {
			b.Fatal(err)
		}
		if err := f.Close(ctx); err != nil {
			b.Fatal(err)
		}
	}
	newRuntime := func(b *testing.B, dir string) *plugins.Runtime {
		r, err := plugins.NewRuntime(ctx, plugins.RuntimeOptions{CacheDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		return r
	}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			dir, err := os.MkdirTemp("", "lakegate-cold-cache-")
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			r := newRuntime(b, dir)
			load(b, r)
			b.StopTimer()
			_ = r.Close(ctx)
			_ = os.RemoveAll(dir)
			b.StartTimer()
		}
	})
	b.Run("warm_disk", func(b *testing.B) {
		dir := b.TempDir()
		r := newRuntime(b, dir)
		load(b, r) // fills the cache
		_ = r.Close(ctx)
		for b.Loop() {
			r := newRuntime(b, dir)
			load(b, r)
			b.StopTimer()
			_ = r.Close(ctx)
			b.StartTimer()
		}
	})
	b.Run("warm_memory", func(b *testing.B) {
		r := newRuntime(b, "")
		defer r.Close(ctx)
		load(b, r)
		for b.Loop() {
			load(b, r)
		}
	})
}
