package format

import (
	"path/filepath"
	"strings"
	"testing"

	sdk "github.com/lakegate/lakegate/sdk-plugin/go"
	"github.com/lakegate/lakegate/sdk-plugin/go/sdktest"
)

// The formatter's behaviour is tested end to end, through the real wasm
// module and runtime, by the golden cases in ../testdata. Natively, the
// fuzz target checks that no input panics it and that every payload error
// is a positioned malformed-payload error.

var fuzzOptions = [][]sdk.Option{
	nil,
	{{Key: OptTableFromMeasurement, Value: "false"}, {Key: OptPrecision, Value: "s"}},
}

// FuzzFormat runs any payload through the formatter with a few option sets.
func FuzzFormat(f *testing.F) {
	sdktest.AddSeedFiles(f, filepath.Join("..", "testdata", "*", "payload.txt"), 2)
	f.Fuzz(func(t *testing.T, payload []byte, opt uint8) {
		var hs sdktest.Harness
		var fm Formatter
		opts := fuzzOptions[int(opt)%len(fuzzOptions)]
		rs, err := hs.Run(fm.Handle, sdktest.Message{Payload: payload, Table: "t", Options: opts})
		if err == nil {
			for _, r := range rs {
				if len(r.Columns) == 0 {
					t.Fatalf("payload %q: a row without columns", payload)
				}
			}
			return
		}
		sdktest.CheckPositioned(t, payload, err, "line ")
	})
}

func TestCheck(t *testing.T) {
	cases := []struct {
		opts []sdk.Option
		err  string
	}{
		{opts: nil},
		{opts: []sdk.Option{{Key: OptTableFromMeasurement, Value: "false"}, {Key: OptPrecision, Value: "us"}}},
		{opts: []sdk.Option{{Key: OptTableFromMeasurement, Value: "yes"}}, err: "table_from_measurement"},
		{opts: []sdk.Option{{Key: OptPrecision, Value: "m"}}, err: "precision"},
		{opts: []sdk.Option{{Key: "type.x", Value: "int64"}}, err: `unknown option "type.x"`},
	}
	var hs sdktest.Harness
	for _, c := range cases {
		err := hs.Check(Check, sdktest.Message{Table: "t", Options: c.opts})
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("options %v: %v, want %q", c.opts, err, c.err)
		}
	}
}

// BenchmarkHandle is the formatter natively on a typical payload.
func BenchmarkHandle(b *testing.B) {
	payload := []byte("weather,site=a,region=eu temp=21.5,hum=40i,ok=t 1700000000000000000\ncpu,host=h1 usage_idle=98.2,usage_user=1.1 1700000000000000000\n")
	in := sdktest.AppendInput(nil, sdktest.Message{Payload: payload, Table: "t", Received: 42, Options: nil}, false)
	var hs sdktest.Harness
	var f Formatter
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if out := hs.RunRaw(f.Handle, nil, in); out[0] != byte(sdk.StatusOK) {
			b.Fatalf("status %d: %s", out[0], out[1:])
		}
	}
}
