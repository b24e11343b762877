package format

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sdk "github.com/lakegate/lakegate/sdk-plugin/go"
	"github.com/lakegate/lakegate/sdk-plugin/go/sdktest"
)

// The formatter's behaviour is tested end to end, through the real wasm
// module and runtime, by the golden cases in ../testdata. The tests here
// check what is easier to check natively: the fast path against the
// general one, the RFC 3339 parser against the time package, and that no
// input makes the formatter panic.

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

func TestRFC3339(t *testing.T) {
	good := []string{
		"2024-01-15T04:10:59Z",
		"2024-01-15T04:10:59.5Z",
		"2024-01-15T04:10:59.123456789Z",
		"2024-01-15t04:10:59z",
		"2024-01-15 04:10:59+09:00",
		"2024-02-29T23:59:59-05:30",
		"1970-01-01T00:00:00Z",
		"1969-12-31T23:59:59.999999999Z",
		"1700-03-01T00:00:00Z",
		"2262-04-11T23:47:16Z",
	}
	for _, s := range good {
		want, err := time.Parse(time.RFC3339Nano, strings.Replace(strings.Replace(strings.ToUpper(s), " ", "T", 1), "Z", "Z", 1))
		if err != nil {
			t.Fatal(err)
		}
		got, ok := parseRFC3339([]byte(s))
		if !ok || got != want.UnixNano() {
			t.Errorf("%s: got %d %v, want %d", s, got, ok, want.UnixNano())
		}
	}
	bad := []string{
		"2024-01-15", "2024-01-15T04:10:59", "2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z",
		"2024-01-15T24:00:00Z", "2024-01-15T04:10:60Z", "2024-01-15T04:10:59.Z", "2024-01-15T04:10:59+0900",
		"2024-01-15T04:10:59Zx", "1600-01-01T00:00:00Z", "9999-01-01T00:00:00Z", "2024-01-15X04:10:59Z",
	}
	for _, s := range bad {
		if _, ok := parseRFC3339([]byte(s)); ok {
			t.Errorf("%s: accepted", s)
		}
	}
}

// FuzzRFC3339 checks the hand-written parser against the time package.
func FuzzRFC3339(f *testing.F) {
	f.Add("2024-01-15T04:10:59.5+01:00")
	f.Add("1999-12-31T23:59:59Z")
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseRFC3339([]byte(s))
		if !ok {
			return
		}
		norm := strings.ToUpper(s)
		if norm[10] == ' ' {
			norm = norm[:10] + "T" + norm[11:]
		}
		want, err := time.Parse(time.RFC3339Nano, norm)
		if err != nil {
			// time.Parse accepts at most 9 fraction digits; we cut longer ones.
			if i := strings.IndexByte(norm, '.'); i > 0 {
				j := i + 1
				for j < len(norm) && norm[j] >= '0' && norm[j] <= '9' {
					j++
				}
				if j-i-1 > 9 {
					return
				}
			}
			t.Fatalf("%q accepted, but time.Parse says %v", s, err)
		}
		if got != want.UnixNano() {
			t.Fatalf("%q: got %d, want %d", s, got, want.UnixNano())
		}
	})
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
