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
	{{Key: OptColumns, Value: "time,a,b"}, {Key: OptDelimiter, Value: ";"}, {Key: "type.a", Value: "int64"}, {Key: "type.b", Value: "timestamp"}},
	{{Key: OptTimeColumn, Value: "-"}, {Key: "type.x", Value: "bool"}, {Key: OptTimeFormat, Value: "ms"}},
}

// FuzzFormat runs any payload through the formatter with a few option sets.
func FuzzFormat(f *testing.F) {
	sdktest.AddSeedFiles(f, filepath.Join("..", "testdata", "*", "payload.csv"), 2)
	f.Fuzz(func(t *testing.T, payload []byte, opt uint8) {
		var hs sdktest.Harness
		var fm Formatter
		opts := fuzzOptions[int(opt)%len(fuzzOptions)]
		_, err := hs.Run(fm.Handle, sdktest.Message{Payload: payload, Table: "t", Options: opts})
		sdktest.CheckPositioned(t, payload, err, "line ")
	})
}

func TestCheck(t *testing.T) {
	cases := []struct {
		opts []sdk.Option
		err  string
	}{
		{opts: nil},
		{opts: []sdk.Option{{Key: OptColumns, Value: "a,b"}, {Key: OptHeader, Value: "false"}, {Key: OptDelimiter, Value: "tab"}, {Key: OptTimeFormat, Value: "rfc3339"}, {Key: "type.a", Value: "int"}}},
		{opts: []sdk.Option{{Key: OptHeader, Value: "false"}}, err: "needs the columns option"},
		{opts: []sdk.Option{{Key: OptColumns, Value: "a,,b"}}, err: "empty column name"},
		{opts: []sdk.Option{{Key: OptDelimiter, Value: "ab"}}, err: "delimiter"},
		{opts: []sdk.Option{{Key: OptDelimiter, Value: `"`}}, err: "delimiter"},
		{opts: []sdk.Option{{Key: OptTimeFormat, Value: "hours"}}, err: "time_format"},
		{opts: []sdk.Option{{Key: "type.a", Value: "decimal"}}, err: "type.a"},
		{opts: []sdk.Option{{Key: "precision", Value: "s"}}, err: `unknown option "precision"`},
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
	payload := []byte("ts,device,temp,hum,seq\n1700000000000,d1,21.5,48.2,42\n1700000001000,d1,21.6,48.1,43\n")
	in := sdktest.AppendInput(nil, sdktest.Message{Payload: payload, Table: "t", Received: 42, Options: []sdk.Option{{Key: "type.seq", Value: "int64"}}}, false)
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
