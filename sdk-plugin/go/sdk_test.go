package sdk_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	sdk "github.com/lakegate/lakegate/sdk-plugin/go"
	"github.com/lakegate/lakegate/sdk-plugin/go/sdktest"
)

func TestInput(t *testing.T) {
	m := sdktest.Message{
		Topic: "plant/line1/press/7", Payload: []byte("p"), ClientID: "c", Username: "u",
		ContentType: "application/json", QoS: 2, Retain: true, ProtocolVersion: 5, Received: 123,
		UserProperties: []sdk.Property{{Key: "k", Value: "v"}, {Key: "k", Value: "w"}},
		Table:          "presses", Options: []sdk.Option{{Key: "a", Value: "1"}, {Key: "b", Value: ""}},
	}
	var got sdk.Input
	_, err := sdktest.Run(func(in *sdk.Input, out *sdk.Output) error {
		got = *in
		got.Payload = append([]byte(nil), in.Payload...)
		if l := in.TopicLevels(); !reflect.DeepEqual(l, []string{"plant", "line1", "press", "7"}) {
			t.Errorf("TopicLevels = %q", l)
		}
		if in.TopicLevel(2) != "press" || in.TopicLevel(9) != "" {
			t.Errorf("TopicLevel")
		}
		if v, ok := in.Option("b"); !ok || v != "" {
			t.Errorf("Option(b) = %q, %v", v, ok)
		}
		if _, ok := in.Option("c"); ok {
			t.Errorf("Option(c) found")
		}
		if v, _ := in.UserProperty("k"); v != "v" {
			t.Errorf("UserProperty(k) = %q", v)
		}
		return nil
	}, m)
	if err != nil {
		t.Fatal(err)
	}
	if got.Topic != m.Topic || string(got.Payload) != "p" || got.ClientID != "c" || got.Username != "u" ||
		got.ContentType != m.ContentType || got.QoS != 2 || !got.Retain || got.ProtocolVersion != 5 ||
		got.Received != 123 || got.Table != "presses" || len(got.Options) != 2 || len(got.UserProperties) != 2 || got.CheckOnly {
		t.Fatalf("input %+v", got)
	}
}

func TestOutputKinds(t *testing.T) {
	rs, err := sdktest.Run(func(in *sdk.Input, out *sdk.Output) error {
		out.Int("i", -7) // starts a row in the route's table
		out.Float("f", math.Pi)
		out.Bool("b", true)
		out.String("s", "x")
		out.StringBytes("sb", []byte(strings.Repeat("y", 40)))
		out.Bytes("by", []byte{0, 1})
		out.Timestamp("t", 5)
		out.Null("n")
		out.Time(99)
		out.Row("other")
		out.BeginRow(7)
		out.ClearTime()
		return nil
	}, sdktest.Message{})
	if err != nil {
		t.Fatal(err)
	}
	want := []sdktest.Row{
		{HasTime: true, Time: 99, Columns: []sdktest.Column{
			col("i", sdk.KindInt64, int64(-7)), col("f", sdk.KindFloat64, math.Pi), col("b", sdk.KindBool, true),
			col("s", sdk.KindString, "x"), col("sb", sdk.KindString, strings.Repeat("y", 40)), col("by", sdk.KindBytes, []byte{0, 1}),
			col("t", sdk.KindTimestamp, int64(5)), col("n", sdk.KindNull, nil),
		}},
		{Table: "other"},
		{},
	}
	if !reflect.DeepEqual(rs, want) {
		t.Fatalf("rows\n%+v\nwant\n%+v", rs, want)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		err    error
		status sdk.Status
		text   string
	}{
		{errors.New("bad"), sdk.StatusMalformed, "bad"},
		{sdk.Malformed("line 1 col 2: x"), sdk.StatusMalformed, "line 1 col 2: x"},
		{sdk.Fail("option x"), sdk.StatusFailed, "option x"},
		{wrapped{sdk.Fail("deep")}, sdk.StatusFailed, "wrapped: deep"},
	}
	for _, tt := range tests {
		_, err := sdktest.Run(func(in *sdk.Input, out *sdk.Output) error {
			out.Int("dropped", 1)
			return tt.err
		}, sdktest.Message{})
		var e *sdktest.Error
		if !errors.As(err, &e) || e.Status != tt.status || e.Text != tt.text {
			t.Errorf("%v: got %v", tt.err, err)
		}
	}
}

func col(name string, kind sdk.Kind, v any) sdktest.Column {
	return sdktest.Column{Name: name, Kind: kind, Value: v}
}

type wrapped struct{ err error }

func (w wrapped) Error() string { return "wrapped: " + w.err.Error() }
func (w wrapped) Unwrap() error { return w.err }

func TestLimits(t *testing.T) {
	rows := func(n int) sdk.Handler {
		return func(in *sdk.Input, out *sdk.Output) error {
			for i := 0; i < n; i++ {
				out.Row("")
				out.String("s", strings.Repeat("x", 100))
			}
			return nil
		}
	}
	if _, err := sdktest.Run(rows(3), sdktest.Message{MaxRows: 3}); err != nil {
		t.Fatalf("3 rows with MaxRows 3: %v", err)
	}
	_, err := sdktest.Run(rows(4), sdktest.Message{MaxRows: 3})
	if e, ok := err.(*sdktest.Error); !ok || e.Status != sdk.StatusLimit || e.Text != "output limit: more than 3 rows" {
		t.Fatalf("4 rows with MaxRows 3: %v", err)
	}
	_, err = sdktest.Run(rows(10), sdktest.Message{MaxOutputBytes: 500})
	if e, ok := err.(*sdktest.Error); !ok || e.Status != sdk.StatusLimit || e.Text != "output limit: more than 500 bytes" {
		t.Fatalf("10 rows with MaxOutputBytes 500: %v", err)
	}
}

func TestMarkRewind(t *testing.T) {
	rs, err := sdktest.Run(func(in *sdk.Input, out *sdk.Output) error {
		out.Row("")
		out.Int("a", 1)
		m := out.Mark()
		out.Int("b", 2)
		out.Row("")
		out.Int("c", 3)
		out.Rewind(m)
		out.Int("d", 4)
		return nil
	}, sdktest.Message{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || len(rs[0].Columns) != 2 || rs[0].Columns[1].Name != "d" {
		t.Fatalf("rows %+v", rs)
	}
}

func TestCheck(t *testing.T) {
	check := func(in *sdk.Input) error {
		if !in.CheckOnly || len(in.Payload) != 0 {
			t.Error("check input")
		}
		if _, ok := in.Option("bad"); ok {
			return sdk.Fail("option bad is bad")
		}
		return nil
	}
	if err := sdktest.Check(check, sdktest.Message{Options: []sdk.Option{{Key: "ok"}}}); err != nil {
		t.Fatal(err)
	}
	err := sdktest.Check(check, sdktest.Message{Options: []sdk.Option{{Key: "bad"}}})
	if e, ok := err.(*sdktest.Error); !ok || e.Status != sdk.StatusFailed {
		t.Fatalf("got %v", err)
	}
	if err := sdktest.Check(nil, sdktest.Message{}); err != nil {
		t.Fatalf("no checker: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	var r sdk.Runner
	for _, in := range [][]byte{nil, make([]byte, 19), append([]byte{9}, make([]byte, 40)...)} {
		out := r.Run(nil, nil, in)
		if sdk.Status(out[0]) != sdk.StatusFailed {
			t.Errorf("input %v: status %d", in, out[0])
		}
	}
	good := sdktest.AppendInput(nil, sdktest.Message{Payload: []byte("x")}, false)
	for i := range good {
		r.Run(func(*sdk.Input, *sdk.Output) error { return nil }, nil, good[:i]) // must not panic
	}
}

func TestNoAllocs(t *testing.T) {
	var hs sdktest.Harness
	in := sdktest.AppendInput(nil, sdktest.Message{Topic: "a/b", Payload: []byte("x"), Options: []sdk.Option{{Key: "k", Value: "v"}}}, false)
	h := func(in *sdk.Input, out *sdk.Output) error {
		in.TopicLevels()
		out.Row("")
		out.Float("v", 1)
		out.StringBytes("p", in.Payload)
		return nil
	}
	hs.RunRaw(h, nil, in)
	if n := testing.AllocsPerRun(100, func() { hs.RunRaw(h, nil, in) }); n != 0 {
		t.Fatalf("%v allocations per message", n)
	}
}

// TestRunBatch runs a batch of inputs through RunBatch and checks that
// each message's output is what Run gives it alone, and that a batch that
// is not well formed gets the empty output that refuses it.
func TestRunBatch(t *testing.T) {
	h := func(in *sdk.Input, out *sdk.Output) error {
		if len(in.Payload) == 0 {
			return errors.New("empty payload")
		}
		out.Row("")
		out.String("p", string(in.Payload))
		return nil
	}
	inputs := [][]byte{
		sdktest.AppendInput(nil, sdktest.Message{Topic: "a", Payload: []byte("one")}, false),
		sdktest.AppendInput(nil, sdktest.Message{Topic: "b"}, false), // malformed
		sdktest.AppendInput(nil, sdktest.Message{Topic: "c", Payload: []byte("three")}, false),
	}
	batch := binary.LittleEndian.AppendUint32(nil, uint32(len(inputs)))
	for _, in := range inputs {
		batch = append(binary.LittleEndian.AppendUint32(batch, uint32(len(in))), in...)
	}
	var r, alone sdk.Runner
	out := r.RunBatch(h, nil, batch, nil)
	if len(out) < 4 || binary.LittleEndian.Uint32(out) != uint32(len(inputs)) {
		t.Fatalf("batch output %q", out)
	}
	off := 4
	for i, in := range inputs {
		n := int(binary.LittleEndian.Uint32(out[off:]))
		got := out[off+4 : off+4+n]
		off += 4 + n
		if want := alone.Run(h, nil, in); !bytes.Equal(got, want) {
			t.Errorf("message %d: batch output %q, alone %q", i, got, want)
		}
	}
	if off != len(out) {
		t.Fatalf("%d bytes after the last output", len(out)-off)
	}
	for _, bad := range [][]byte{nil, batch[:3], batch[:len(batch)-1], append(append([]byte(nil), batch...), 0)} {
		if got := r.RunBatch(h, nil, bad, out); len(got) != 0 {
			t.Errorf("batch of %d bytes: output %q, want none", len(bad), got)
		}
	}
}
