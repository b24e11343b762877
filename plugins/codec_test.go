package plugins

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/lakegate/lakegate/arrowstore/rows"
)

// FuzzDecode feeds arbitrary guest output to the host's decoder: it must
// never panic, and whatever it accepts must respect the limits.
func FuzzDecode(f *testing.F) {
	le := binary.LittleEndian
	good := []byte{0, 0, 0, 0}
	good = le.AppendUint32(good, 1)
	good = le.AppendUint32(good, 3)
	good = append(good, 1)
	good = le.AppendUint64(good, 42)
	good = le.AppendUint32(good, 3)
	good = le.AppendUint32(good, 1)
	good = append(good, 'x')
	good = append(good, 4)
	good = le.AppendUint32(good, 1)
	good = append(good, 's')
	good = le.AppendUint32(good, 2)
	good = append(good, "hi"...)
	good = append(good, 2)
	good = le.AppendUint32(good, 1)
	good = append(good, 'f')
	good = le.AppendUint64(good, math.Float64bits(1.5))
	good = append(good, 3)
	good = le.AppendUint32(good, 1)
	good = append(good, 'b')
	good = append(good, 1)
	f.Add(good)
	// other is good with other string bytes, decoded between the checks.
	other := bytes.Replace(bytes.Clone(good), []byte("hi"), []byte("ZZ"), 1)
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255})
	l := Limits{MaxRows: 100, MaxOutputBytes: 1 << 20}
	f.Fuzz(func(t *testing.T, out []byte) {
		var d decoder
		rs, oerr := d.decode(out, "route", 7, &l)
		if oerr != nil {
			if oerr.reason != ReasonBadOutput && oerr.reason != ReasonOutputLimit {
				t.Fatalf("reason %v", oerr.reason)
			}
			return
		}
		if len(rs) > l.MaxRows {
			t.Fatalf("%d rows", len(rs))
		}
		// Rows handed out stay as they were while the decoder goes on
		// (its chunks are never written twice).
		var strs []string
		for _, r := range rs {
			for _, c := range r.Columns {
				strs = append(strs, strings.Clone(c.Value.Str))
			}
		}
		for range 3 {
			_, _ = d.decode(out, "route", 7, &l)
			if _, oerr := d.decode(other, "route", 7, &l); oerr != nil {
				t.Fatal(oerr.text)
			}
		}
		k := 0
		for _, r := range rs {
			for _, c := range r.Columns {
				if c.Value.Str != strs[k] {
					t.Fatalf("a string value changed to %q from %q after later decodes", c.Value.Str, strs[k])
				}
				k++
			}
		}
		for _, r := range rs {
			if r.Table == "" {
				t.Fatal("empty table")
			}
			for _, c := range r.Columns {
				if c.Value.Kind > rows.KindTimestamp {
					t.Fatalf("kind %d", c.Value.Kind)
				}
			}
		}
	})
}

func TestDecode(t *testing.T) {
	le := binary.LittleEndian
	b := []byte{0, 0, 0, 0}
	b = le.AppendUint32(b, 2)
	b = le.AppendUint32(b, 2)
	row := func(flags byte, tm int64, table, col, val string) {
		b = append(b, flags)
		b = le.AppendUint64(b, uint64(tm))
		b = le.AppendUint32(b, 1)
		b = le.AppendUint32(b, uint32(len(table)))
		b = append(b, table...)
		b = append(b, byte(rows.KindString))
		b = le.AppendUint32(b, uint32(len(col)))
		b = append(b, col...)
		b = le.AppendUint32(b, uint32(len(val)))
		b = append(b, val...)
	}
	row(rowHasTime, 5, "", "a", "x")
	row(0, 5, "other", "a", "y")
	var d decoder
	rs, oerr := d.decode(b, "route", 7, &Limits{MaxRows: 10})
	if oerr != nil {
		t.Fatal(oerr.text)
	}
	want := []rows.Row{
		{Table: "route", Time: 5, Columns: []rows.Column{{Name: "a", Value: rows.String("x")}}},
		{Table: "other", Time: 7, Columns: []rows.Column{{Name: "a", Value: rows.String("y")}}},
	}
	for i := range want {
		if rs[i].Table != want[i].Table || rs[i].Time != want[i].Time || rs[i].Columns[0].Name != want[i].Columns[0].Name || !rs[i].Columns[0].Value.Equal(want[i].Columns[0].Value) {
			t.Fatalf("row %d: %+v, want %+v", i, rs[i], want[i])
		}
	}
	if _, oerr := d.decode(b, "route", 7, &Limits{MaxRows: 1}); oerr == nil || oerr.reason != ReasonOutputLimit {
		t.Fatalf("MaxRows 1: %+v", oerr)
	}
	if _, oerr := d.decode(append(b, 0), "route", 7, &Limits{MaxRows: 10}); oerr == nil || oerr.reason != ReasonBadOutput {
		t.Fatalf("trailing byte: %+v", oerr)
	}
}

func TestEncodeInputSize(t *testing.T) {
	m := &rows.Message{Topic: "a/b", Payload: []byte("{}"), ClientID: "c", Username: "u", ContentType: "application/json",
		UserProperties: []rows.Property{{Key: "k", Value: "v"}}, Received: time.Unix(1, 0)}
	r := &Route{Table: "t", Options: []Option{{Key: "x", Value: "y"}}}
	for _, check := range []bool{false, true} {
		n := inputSize(m, r, check)
		b := make([]byte, n+8)
		for i := range b {
			b[i] = 0xAA
		}
		encodeInput(b[:n], m, r, 1e9, check, &Limits{MaxRows: 1, MaxOutputBytes: 2})
		for _, c := range b[n:] {
			if c != 0xAA {
				t.Fatal("encodeInput wrote past inputSize")
			}
		}
		if got := le32(b[n-4-len(payload(m, check)):]); int(got) != len(payload(m, check)) {
			t.Fatalf("payload length %d", got)
		}
	}
}

// TestEncodeInputUTF8: the strings a guest gets are UTF-8 (ABI.md,
// "Encodings"): each byte that is not part of a valid sequence becomes
// '?', lengths stay, valid text is left alone, and the payload is bytes.
func TestEncodeInputUTF8(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain/topic", "plain/topic"},
		{"a\xffb", "a?b"},
		{"\xe2\x82", "??"},                       // a cut three-byte sequence
		{"\xc0\xaf", "??"},                       // an overlong '/'
		{"\xed\xa0\x80", "???"},                  // a surrogate
		{"caf\u00e9 \ufffd", "caf\u00e9 \ufffd"}, // valid, the replacement character included
	} {
		m := &rows.Message{Topic: c.in, ClientID: c.in, Username: c.in, ContentType: c.in,
			UserProperties: []rows.Property{{Key: c.in, Value: c.in}}, Payload: []byte("\xff{}")}
		r := &Route{Table: c.in, Options: []Option{{Key: c.in, Value: c.in}}}
		b := make([]byte, inputSize(m, r, false))
		encodeInput(b, m, r, 1, false, &Limits{})
		off := inputHeaderSize
		next := func() string {
			n := int(le32(b[off:]))
			off += 4 + n
			return string(b[off-n : off])
		}
		var got []string
		for range 4 {
			got = append(got, next())
		}
		off += 4 // user property count
		got = append(got, next(), next(), next())
		off += 4 // option count
		got = append(got, next(), next())
		for i, g := range got {
			if g != c.want {
				t.Errorf("%q: string %d is %q, want %q", c.in, i, g, c.want)
			}
		}
		if p := next(); p != "\xff{}" {
			t.Errorf("%q: payload %q changed", c.in, p)
		}
	}
}

func payload(m *rows.Message, check bool) []byte {
	if check {
		return nil
	}
	return m.Payload
}

func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
