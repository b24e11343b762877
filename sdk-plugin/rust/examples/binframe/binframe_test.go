package binframe_test

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lakegate/lakegate/arrowstore/rows"
	"github.com/lakegate/lakegate/plugins"
	"github.com/lakegate/lakegate/plugins/plugintest"
	"github.com/lakegate/lakegate/sdk-plugin/rust/cargobuild"
)

var update = flag.Bool("update", false, "rewrite the expected.json files of testdata/<case>/")

// The module is built from source once per test binary, into a temporary
// target directory, and loaded once.
var (
	buildOnce sync.Once
	wasm      []byte
	buildErr  error
	skipMsg   string
	rt        *plugins.Runtime
	formatter *plugins.Formatter
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if rt != nil {
		_ = rt.Close(context.Background())
	}
	os.Exit(code)
}

// load builds and loads binframe.wasm, or skips the test when the Rust
// toolchain is missing (fails instead with LAKEGATE_REQUIRE_TOOLCHAINS=1).
func load(tb testing.TB) *plugins.Formatter {
	tb.Helper()
	buildOnce.Do(func() {
		ctx := context.Background()
		tc, err := cargobuild.Find(ctx)
		if err != nil {
			skipMsg = err.Error()
			return
		}
		target, err := os.MkdirTemp("", "binframe-target-")
		if err != nil {
			buildErr = err
			return
		}
		defer os.RemoveAll(target)
		start := time.Now()
		if wasm, buildErr = tc.Build(ctx, ".", "binframe", target); buildErr != nil {
			return
		}
		tb.Logf("built binframe.wasm (%d bytes) in %v", len(wasm), time.Since(start).Round(time.Millisecond))
		if rt, buildErr = plugins.NewRuntime(ctx, plugins.RuntimeOptions{CacheDir: plugintest.CacheDir()}); buildErr != nil {
			return
		}
		formatter, buildErr = rt.Load(ctx, "binframe", wasm, plugins.Limits{Instances: 2})
	})
	if skipMsg != "" {
		if os.Getenv("LAKEGATE_REQUIRE_TOOLCHAINS") == "1" {
			tb.Fatalf("LAKEGATE_REQUIRE_TOOLCHAINS=1 but %s", skipMsg)
		}
		tb.Skip(skipMsg)
	}
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return formatter
}

// TestCases runs testdata/<case>/ through the module built from source and
// the real runtime. Run with -update to rewrite expected.json.
func TestCases(t *testing.T) {
	f := load(t)
	plugintest.RunCases(t, f, "testdata", plugintest.CaseConfig{Table: "climate", Topic: "acme/th20/4242/up"}, *update)
}

func TestCheckRoute(t *testing.T) {
	f := load(t)
	ctx := context.Background()
	good := &plugins.Route{Table: "t", Options: []plugins.Option{{Key: "crc", Value: "ignore"}, {Key: "time", Value: "received"}}}
	if err := f.CheckRoute(ctx, good); err != nil {
		t.Fatal(err)
	}
	for opt, want := range map[plugins.Option]string{
		{Key: "crc", Value: "maybe"}: `option crc: "maybe" is not check or ignore`,
		{Key: "tz", Value: "utc"}:    `unknown option "tz" (known: crc, time)`,
	} {
		err := f.CheckRoute(ctx, &plugins.Route{Table: "t", Options: []plugins.Option{opt}})
		var pe *plugins.Error
		if !errors.As(err, &pe) || pe.Reason != plugins.ReasonGuestError || pe.Text != want {
			t.Errorf("option %v: got %v, want guest_error %q", opt, err, want)
		}
	}
}

// TestModuleShape checks what the Rust SDK produces: the ABI exports and
// no imports but lakegate.log (no WASI: wasm32-unknown-unknown).
func TestModuleShape(t *testing.T) {
	load(t)
	s := string(wasm)
	for _, name := range []string{"lakegate_abi_version", "lakegate_input", "lakegate_format", "memory"} {
		if !strings.Contains(s, name) {
			t.Errorf("module does not mention export %s", name)
		}
	}
	if strings.Contains(s, "wasi_snapshot_preview1") {
		t.Error("module imports WASI")
	}
	t.Logf("binframe.wasm: %d bytes", len(wasm))
}

// TestMatchesNativeDecoder compares the module with decodeFrames, a Go
// reading of the same layout, on random batches of valid frames.
func TestMatchesNativeDecoder(t *testing.T) {
	f := load(t)
	rnd := rand.New(rand.NewPCG(1, 2))
	route := &plugins.Route{Table: "climate"}
	for i := 0; i < 300; i++ {
		var payload []byte
		for n := 1 + rnd.IntN(6); n > 0; n-- {
			payload = appendFrame(payload, frame{
				flags: uint8(rnd.IntN(4)), device: rnd.Uint32(), time: uint32(rnd.IntN(2)) * rnd.Uint32(),
				temp: int16(rnd.Uint32()), hum: uint16(rnd.IntN(1001)), battery: uint16(rnd.Uint32()),
			})
		}
		msg := &rows.Message{Topic: "acme/th20/1/up", Payload: payload, Received: plugintest.Received}
		got, err := f.Format(context.Background(), msg, route)
		if err != nil {
			t.Fatalf("payload %x: %v", payload, err)
		}
		want, err := decodeFrames(payload, "climate", plugintest.Received.UnixNano())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("payload %x: %d rows, want %d", payload, len(got), len(want))
		}
		for j := range got {
			if !sameRow(got[j], want[j]) {
				t.Fatalf("payload %x row %d:\n got %+v\nwant %+v", payload, j, got[j], want[j])
			}
		}
	}
}

// benchPayload is six frames, 120 bytes: a typical buffered upload.
func benchPayload() []byte {
	var p []byte
	for i := 0; i < 6; i++ {
		p = appendFrame(p, frame{device: 4242, time: 1700000000 + uint32(60*i), temp: 2153, hum: 482, battery: 3710})
	}
	return p
}

// BenchmarkBinframe is the Rust module through the runtime.
func BenchmarkBinframe(b *testing.B) {
	f := load(b)
	ctx := context.Background()
	msg := &rows.Message{Topic: "acme/th20/4242/up", Payload: benchPayload(), Received: time.Unix(1700000000, 0)}
	route := &plugins.Route{Table: "climate"}
	b.SetBytes(int64(len(msg.Payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Format(ctx, msg, route); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNativeBinframe is the same decoding in Go, natively, into the
// same rows: the baseline.
func BenchmarkNativeBinframe(b *testing.B) {
	p := benchPayload()
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeFrames(p, "climate", 0); err != nil {
			b.Fatal(err)
		}
	}
}

type frame struct {
	flags        uint8
	device, time uint32
	temp         int16
	hum, battery uint16
}

func appendFrame(p []byte, f frame) []byte {
	b := make([]byte, 20)
	binary.LittleEndian.PutUint16(b[0:], 0xA55A)
	b[2], b[3] = 1, f.flags
	binary.LittleEndian.PutUint32(b[4:], f.device)
	binary.LittleEndian.PutUint32(b[8:], f.time)
	binary.LittleEndian.PutUint16(b[12:], uint16(f.temp))
	binary.LittleEndian.PutUint16(b[14:], f.hum)
	binary.LittleEndian.PutUint16(b[16:], f.battery)
	binary.LittleEndian.PutUint16(b[18:], crc16(b[:18]))
	return append(p, b...)
}

func crc16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, x := range b {
		crc ^= uint16(x) << 8
		for i := 0; i < 8; i++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

var errFrame = errors.New("bad frame")

// decodeFrames is README.md's layout read in plain Go, as a native service
// would: the reference for TestMatchesNativeDecoder and the benchmark baseline.
func decodeFrames(p []byte, table string, received int64) ([]rows.Row, error) {
	if len(p) == 0 || len(p)%20 != 0 {
		return nil, errFrame
	}
	out := make([]rows.Row, 0, len(p)/20)
	for off := 0; off < len(p); off += 20 {
		b := p[off : off+20]
		le := binary.LittleEndian
		if le.Uint16(b) != 0xA55A || b[2] != 1 || le.Uint16(b[18:]) != crc16(b[:18]) {
			return nil, errFrame
		}
		flags := b[3]
		r := rows.Row{Table: table, Time: received, Columns: make([]rows.Column, 0, 5)}
		if t := le.Uint32(b[8:]); t != 0 {
			r.Time = int64(t) * 1e9
		}
		r.Columns = append(r.Columns, rows.Column{Name: "device_id", Value: rows.Int(int64(le.Uint32(b[4:])))})
		if temp := int16(le.Uint16(b[12:])); temp == -32768 {
			r.Columns = append(r.Columns, rows.Column{Name: "temperature", Value: rows.Null()})
		} else {
			r.Columns = append(r.Columns, rows.Column{Name: "temperature", Value: rows.Float(float64(temp) / 100)})
		}
		if flags&2 != 0 {
			r.Columns = append(r.Columns, rows.Column{Name: "humidity", Value: rows.Null()})
		} else {
			r.Columns = append(r.Columns, rows.Column{Name: "humidity", Value: rows.Float(float64(le.Uint16(b[14:])) / 10)})
		}
		r.Columns = append(r.Columns,
			rows.Column{Name: "battery_mv", Value: rows.Int(int64(le.Uint16(b[16:])))},
			rows.Column{Name: "battery_low", Value: rows.Bool(flags&1 != 0)})
		out = append(out, r)
	}
	return out, nil
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
