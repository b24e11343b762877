package format

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	sdk "github.com/lakegate/lakegate/sdk-plugin/go"
	"github.com/lakegate/lakegate/sdk-plugin/go/sdktest"
)

// The formatter's behaviour is tested end to end, through the real wasm
// module and runtime, by the golden cases in ../testdata. The tests here
// check what is easier to check natively: the fast path against the
// general one, and that no input makes the formatter panic.

func run(t testing.TB, f *Formatter, payload string, opts ...sdk.Option) []byte {
	t.Helper()
	var hs sdktest.Harness
	in := sdktest.AppendInput(nil, sdktest.Message{Payload: []byte(payload), Table: "t", Received: 42, Options: opts}, false)
	return append([]byte(nil), hs.RunRaw(f.Handle, nil, in)...)
}

var fastSeeds = []string{
	`{"ts":1700000000000,"device":"sensor-0042","temp":21.53,"humidity":48.2,"battery":3.71,"status":"ok","seq":12345}`,
	`{"a":1,"b":-0.5,"c":true,"d":false,"e":null,"f":"x"}`,
	`{ "time" : 1700000000 , "v" : 0.000123 }`,
	`{"ts":1,"time":2}`,
	`{"time":2,"ts":1}`,
	`{"a":{"b":1}}`,
	`{"a":[1,2]}`,
	`{"a":"\u00e9"}`,
	`{"a":1e5,"b":1.5E-3}`,
	`{"a":12345678901234567890}`,
	`{"a":01}`,
	`{"a":1,}`,
	`{"":1}`,
	`{"ts":"2024-01-15T04:10:59Z","v":1}`,
	`{"ts":null,"v":1}`,
	`[{"a":1},{"b":2}]`,
	"{\"a\":1}\n{\"a\":2}",
	`{}`,
	`{"a":-0}`,
	`{"a":1.0000000000000002}`,
	`{"a":tru}`,
	`{"a":1 "b":2}`,
}

// FuzzFastPath checks that the single-pass reader of flat objects and the
// general path give byte-identical output (rows or error) for any input.
func FuzzFastPath(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, payload []byte, explicit bool) {
		var opts []sdk.Option
		if explicit {
			opts = []sdk.Option{{Key: OptTimeField, Value: "ts"}, {Key: OptTimeFormat, Value: "ms"}}
		}
		fast, slow := &Formatter{}, &Formatter{noFast: true}
		a := run(t, fast, string(payload), opts...)
		b := run(t, slow, string(payload), opts...)
		if !bytes.Equal(a, b) {
			t.Fatalf("payload %q:\nfast %q\nslow %q", payload, a, b)
		}
	})
}

// FuzzFormat checks that no payload or option panics the formatter and
// that every failure is a positioned malformed-payload error.
func FuzzFormat(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("..", "testdata", "*", "payload.json"))
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "")
	}
	for _, s := range fastSeeds {
		f.Add([]byte(s), "type.a=int64")
	}
	f.Add([]byte(`[["d1",1705291859000000000,1.23]]`), "columns=name,time,value")
	f.Fuzz(func(t *testing.T, payload []byte, opt string) {
		var opts []sdk.Option
		if k, v, ok := strings.Cut(opt, "="); ok {
			opts = append(opts, sdk.Option{Key: k, Value: v})
		}
		var fm Formatter
		_, err := sdktest.Run(fm.Handle, sdktest.Message{Payload: payload, Table: "t", Options: opts})
		if err == nil {
			return
		}
		e, ok := err.(*sdktest.Error)
		if !ok {
			t.Fatalf("bad output: %v", err)
		}
		if e.Status == sdk.StatusMalformed && !strings.HasPrefix(e.Text, "line ") {
			t.Fatalf("malformed error without a position: %q", e.Text)
		}
	})
}

func BenchmarkHandle(b *testing.B) {
	for _, fast := range []bool{true, false} {
		name := "fast"
		if !fast {
			name = "general"
		}
		b.Run(name, func(b *testing.B) {
			f := Formatter{noFast: !fast}
			var hs sdktest.Harness
			in := sdktest.AppendInput(nil, sdktest.Message{Payload: []byte(fastSeeds[0]), Table: "t"}, false)
			b.SetBytes(int64(len(fastSeeds[0])))
			b.ReportAllocs()
			for b.Loop() {
				hs.RunRaw(f.Handle, nil, in)
			}
		})
	}
}

func TestNoAllocs(t *testing.T) {
	var f Formatter
	var hs sdktest.Harness
	for _, p := range fastSeeds[:3] {
		in := sdktest.AppendInput(nil, sdktest.Message{Payload: []byte(p), Table: "t"}, false)
		hs.RunRaw(f.Handle, nil, in)
		if n := testing.AllocsPerRun(50, func() { hs.RunRaw(f.Handle, nil, in) }); n != 0 {
			t.Errorf("%s: %v allocations per message", p, n)
		}
	}
}
