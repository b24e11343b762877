package format

import (
	"strings"
	"testing"

	sdk "github.com/lakegate/lakegate/sdk-plugin/go"
	"github.com/lakegate/lakegate/sdk-plugin/go/sdktest"
)

// The formatter's behaviour is tested end to end, through the real wasm
// module and runtime, by the golden cases in ../testdata. Natively, the
// fuzz target checks that no layout or payload panics it and that errors
// have the right status.

// FuzzFormat runs any payload through the formatter with any layout.
func FuzzFormat(f *testing.F) {
	f.Add([]byte{0xA5, 0x5A, 0, 0, 0, 42, 8, 0x66, 1, 0xA9, 0, 0, 0x65, 0x53, 0xF1, 0}, "magic:u16=0xA55A,device:u32,temp:i16*0.01,hum:u16*0.1,pad[2],ts:u32:time_s", false)
	f.Add([]byte("\xff\xff\x34\x12ok\x00\x00"), "a:u8,b:i8,c:u16,h:str[4]", true)
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8}, "x:f64-3.5", true)
	f.Add([]byte{1}, "b:bool=1", false)
	f.Add([]byte{}, "t:i64:time_ns,v:f32*2+1", true)
	f.Fuzz(func(t *testing.T, payload []byte, spec string, little bool) {
		opts := []sdk.Option{{Key: OptFields, Value: spec}}
		if little {
			opts = append(opts, sdk.Option{Key: OptEndian, Value: "little"})
		}
		var hs sdktest.Harness
		checkErr := hs.Check(Check, sdktest.Message{Table: "t", Options: opts})
		var fm Formatter
		_, err := hs.Run(fm.Handle, sdktest.Message{Payload: payload, Table: "t", Options: opts})
		if err == nil {
			if checkErr != nil {
				t.Fatalf("spec %q: check failed (%v) but a message passed", spec, checkErr)
			}
			return
		}
		e, ok := err.(*sdktest.Error)
		if !ok {
			t.Fatalf("spec %q payload %x: %v", spec, payload, err)
		}
		if (checkErr != nil) != (e.Status == sdk.StatusFailed) {
			t.Fatalf("spec %q payload %x: check %v, message %v", spec, payload, checkErr, err)
		}
		if e.Status == sdk.StatusMalformed && !strings.HasPrefix(e.Text, "byte ") {
			t.Fatalf("payload %x: %v (want a positioned error)", payload, err)
		}
	})
}

func TestParseField(t *testing.T) {
	cases := []struct {
		spec string
		want field
		err  string
	}{
		{spec: "temp:i16*0.01", want: field{name: "temp", t: tI16, size: 2, scaled: true, scale: 0.01}},
		{spec: "t:i16*1e-2-40", want: field{name: "t", t: tI16, size: 2, scaled: true, scale: 0.01, offset: -40}},
		{spec: "v:u8+5", want: field{name: "v", t: tU8, size: 1, scaled: true, scale: 1, offset: 5}},
		{spec: "magic:u16=0xA55A", want: field{name: "magic", t: tU16, size: 2, hasConst: true, konst: 0xA55A}},
		{spec: "m:i8=-1", want: field{name: "m", t: tI8, size: 1, hasConst: true, konst: 0xFF}},
		{spec: "ts:u32:time_ms", want: field{name: "ts", t: tU32, size: 4, timeMult: 1e6}},
		{spec: "s:str[8]", want: field{name: "s", t: tStr, size: 8}},
		{spec: "pad[3]", want: field{t: tPad, size: 3}},
		{spec: "x:pad[2]", want: field{t: tPad, size: 2}},
		{spec: "x", err: "expected name:type"},
		{spec: "x:u24", err: `type "u24"`},
		{spec: "x:f32=1", err: "integer type"},
		{spec: "x:str[0]", err: "str needs a size"},
		{spec: "x:u8*a", err: "scale"},
		{spec: "x:u8:time_h", err: "time_h"},
		{spec: "x:f32:time_s", err: "unscaled integer"},
		{spec: "x:bool*2", err: "number type"},
	}
	for _, c := range cases {
		got, err := parseField(c.spec)
		if c.err != "" {
			if !strings.Contains(err, c.err) {
				t.Errorf("%q: error %q, want %q", c.spec, err, c.err)
			}
			continue
		}
		if err != "" || got != c.want {
			t.Errorf("%q: %+v %q, want %+v", c.spec, got, err, c.want)
		}
	}
}

// BenchmarkHandle is the formatter natively on a typical payload.
func BenchmarkHandle(b *testing.B) {
	payload := []byte(string([]byte{0xA5, 0x5A, 0, 0, 0, 42, 8, 0x66, 1, 0xA9, 0, 0, 0x65, 0x53, 0xF1, 0}))
	in := sdktest.AppendInput(nil, sdktest.Message{Payload: payload, Table: "t", Received: 42, Options: []sdk.Option{{Key: OptFields, Value: "magic:u16=0xA55A,device:u32,temp:i16*0.01,hum:u16*0.1,pad[2],ts:u32:time_s"}}}, false)
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
