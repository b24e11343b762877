package gateway

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/lakegate/lakegate/arrowstore/rows"
)

func gzipBytes(t testing.TB, parts ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, p := range parts { // one gzip member each
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestGunzip(t *testing.T) {
	good, over := gzipBytes(t, "abc"), gzipBytes(t, "abcde")
	cases := []struct {
		name    string
		payload []byte
		limit   int64
		want    string // decompressed, or the error text
		wantErr bool
	}{
		{"one member", good, 16, "abc", false},
		{"two members", gzipBytes(t, "ab", "cd"), 16, "abcd", false},
		{"exactly the limit", gzipBytes(t, "abcd"), 4, "abcd", false},
		{"one byte over", over, 4, fmt.Sprintf("decompressing gzip payload: more than 4 bytes (the route's max_decompressed_size) from %d compressed", len(over)), true},
		{"empty", nil, 16, "decompressing gzip payload: unexpected EOF", true},
		{"short, not gzip", []byte("abc,1\n"), 16, "decompressing gzip payload: unexpected EOF", true},
		{"not gzip", []byte("name,time,value\nd1,1,2\n"), 16, "decompressing gzip payload: gzip: invalid header", true},
		{"truncated", good[:len(good)-3], 16, "decompressing gzip payload: unexpected EOF", true},
		{"bad checksum", append(append([]byte(nil), good[:len(good)-8]...), 0, 0, 0, 0, 3, 0, 0, 0), 16, "decompressing gzip payload: gzip: invalid checksum", true},
		{"trailing byte", append(append([]byte(nil), good...), 'x'), 16, "decompressing gzip payload: unexpected EOF", true},
		{"trailing garbage", append(append([]byte(nil), good...), "not a gzip member"...), 16, "decompressing gzip payload: gzip: invalid header", true},
	}
	var pooled *gzip.Reader // reused across cases, as the route's pool does
	for _, c := range cases {
		for _, fresh := range []bool{true, false} {
			zr := pooled
			if fresh {
				zr = nil
			}
			got, zr, err := gunzip(zr, c.payload, c.limit)
			if zr != nil {
				pooled = zr
			}
			switch {
			case c.wantErr && (err == nil || err.Error() != c.want || !errors.Is(err, rows.ErrMalformedPayload)):
				t.Errorf("%s (fresh reader %t): got %q, %v; want malformed error %q", c.name, fresh, got, err, c.want)
			case !c.wantErr && (err != nil || string(got) != c.want):
				t.Errorf("%s (fresh reader %t): got %q, %v; want %q", c.name, fresh, got, err, c.want)
			}
		}
	}
}

func TestAddTopicColumns(t *testing.T) {
	topic := []rows.Column{{Name: "site", Value: rows.String("north")}, {Name: "line", Value: rows.String("l1")}}
	// Two rows over one backing array, as the plugin codec hands them out:
	// adding to the first must not overwrite the second.
	backing := []rows.Column{
		{Name: "temp", Value: rows.Float(1)},
		{Name: "temp", Value: rows.Float(2)}, {Name: "site", Value: rows.String("north")},
	}
	rs := []rows.Row{{Columns: backing[0:1:1]}, {Columns: backing[1:3:3]}}
	if err := addTopicColumns(rs, topic); err != nil {
		t.Fatal(err)
	}
	want := []string{`temp=1 (float64) site="north" line="l1"`, `temp=2 (float64) site="north" line="l1"`}
	for i, r := range rs {
		var got []string
		for _, c := range r.Columns {
			got = append(got, c.Name+"="+describeValue(c.Value))
		}
		if g := strings.Join(got, " "); g != want[i] {
			t.Errorf("row %d: %s, want %s", i, g, want[i])
		}
	}
	if backing[1].Name != "temp" || backing[2].Value.Str != "north" {
		t.Errorf("the codec's backing array was changed: %+v", backing)
	}

	conflicts := []struct {
		col  rows.Column
		want string
	}{
		{rows.Column{Name: "line", Value: rows.String("l9")}, `row 1: column "line" is "l9" in the payload but "l1" in the topic (rename the topic column with topic_columns)`},
		{rows.Column{Name: "line", Value: rows.Float(1)}, `row 1: column "line" is 1 (float64) in the payload but "l1" in the topic (rename the topic column with topic_columns)`},
		{rows.Column{Name: "site", Value: rows.Null()}, `row 1: column "site" is null in the payload but "north" in the topic (rename the topic column with topic_columns)`},
	}
	for _, c := range conflicts {
		rs := []rows.Row{{}, {Columns: []rows.Column{c.col}}}
		err := addTopicColumns(rs, topic)
		if err == nil || err.Error() != c.want || !errors.Is(err, rows.ErrMalformedPayload) {
			t.Errorf("%+v: got %v, want malformed error %q", c.col, err, c.want)
		}
	}
}
