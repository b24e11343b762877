package query

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFloatsRoundTrip: every float64 written to JSON or CSV reads back to
// the same bits (NaN and infinities are null in JSON).
func TestFloatsRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	vals := []float64{0, math.Copysign(0, -1), 0.1, 1.0 / 3, math.MaxFloat64, math.SmallestNonzeroFloat64, -1e-310, 1e21, 123456789012345678}
	for range 2000 {
		vals = append(vals, math.Float64frombits(r.Uint64()))
	}
	res := &Result{Columns: []string{"v"}, Types: []string{TypeFloat64}}
	for _, v := range vals {
		res.Rows = append(res.Rows, []any{v})
	}

	var jb bytes.Buffer
	if err := WriteJSON(&jb, res, time.Millisecond, Format{}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Data struct {
			Rows [][]*json.Number `json:"rows"`
		} `json:"data"`
	}
	dec := json.NewDecoder(&jb)
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	var cb bytes.Buffer
	if err := WriteCSV(&cb, res, Format{}); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&cb).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		jn := doc.Data.Rows[i][0]
		if math.IsNaN(v) || math.IsInf(v, 0) {
			if jn != nil {
				t.Errorf("json %v: got %s, want null", v, *jn)
			}
		} else if got, err := strconv.ParseFloat(string(*jn), 64); err != nil || math.Float64bits(got) != math.Float64bits(v) {
			t.Errorf("json %v: read back %v (%v)", v, got, err)
		}
		got, err := strconv.ParseFloat(recs[i+1][0], 64)
		if err != nil || (math.Float64bits(got) != math.Float64bits(v) && !(math.IsNaN(v) && math.IsNaN(got))) {
			t.Errorf("csv %v: read back %v (%v)", v, got, err)
		}
	}
}

// TestJSONStrings: strings and bytes survive encoding/json decoding;
// invalid UTF-8 becomes U+FFFD.
func TestJSONStrings(t *testing.T) {
	strs := []string{"", "plain", `"quoted" \back\`, "tab\tnew\nline\r", "\x00\x01\x1f\x7f", "ü €𝄞", "\u2028\u2029", "<>&", "bad\xffutf8"}
	res := &Result{Columns: []string{"s", "b"}, Types: []string{TypeString, TypeBytes}}
	for _, s := range strs {
		res.Rows = append(res.Rows, []any{s, []byte(s)})
	}
	var b bytes.Buffer
	if err := WriteJSON(&b, res, 0, Format{}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Data struct {
			Rows [][2]any `json:"rows"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("%v: %s", err, b.Bytes())
	}
	for i, s := range strs {
		if got, want := doc.Data.Rows[i][0], strings.ToValidUTF8(s, "\ufffd"); got != want {
			t.Errorf("string %q: got %q, want %q", s, got, want)
		}
		var raw []byte
		rb, _ := json.Marshal(doc.Data.Rows[i][1])
		if err := json.Unmarshal(rb, &raw); err != nil || string(raw) != s {
			t.Errorf("bytes %q: got %q (%v)", s, raw, err)
		}
	}
}

func TestTimeFormats(t *testing.T) {
	ts := time.Date(1969, 12, 31, 23, 59, 59, 123_456_789, time.UTC)
	res := &Result{Columns: []string{"ts"}, Types: []string{TypeTimestamp}, Rows: [][]any{{ts}}}
	tests := []struct {
		format   string
		json     string
		csvField string
	}{
		{"", `"1969-12-31T23:59:59.123Z"`, "1969-12-31T23:59:59.123Z"},
		{"RFC3339", `"1969-12-31T23:59:59.123Z"`, "1969-12-31T23:59:59.123Z"},
		{"s", "-1", "-1"},
		{"ms", "-877", "-877"},
		{"us", "-876544", "-876544"},
		{"ns", "-876543211", "-876543211"},
	}
	for _, tt := range tests {
		tf, err := ParseTimeFormat(tt.format)
		if err != nil {
			t.Fatal(err)
		}
		var jb, cb bytes.Buffer
		if err := WriteJSON(&jb, res, 0, Format{Time: tf}); err != nil {
			t.Fatal(err)
		}
		if want := `"rows":[[` + tt.json + `]]`; !strings.Contains(jb.String(), want) {
			t.Errorf("json %q: got %s, want %s", tt.format, jb.String(), want)
		}
		if err := WriteCSV(&cb, res, Format{Time: tf}); err != nil {
			t.Fatal(err)
		}
		if want := "ts\n" + tt.csvField + "\n"; cb.String() != want {
			t.Errorf("csv %q: got %q, want %q", tt.format, cb.String(), want)
		}
	}
	if _, err := ParseTimeFormat("minutes"); err == nil {
		t.Error("ParseTimeFormat accepted minutes")
	}
	if err := WriteJSON(&bytes.Buffer{}, res, 0, Format{Time: "minutes"}); err == nil {
		t.Error("WriteJSON accepted an unknown time format")
	}
}

func TestWriteJSONError(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSONError(&b, errors.New(`table not found: "x"`), 1500*time.Microsecond); err != nil {
		t.Fatal(err)
	}
	want := `{"success":false,"reason":"table not found: \"x\"","elapse":"1.5ms"}` + "\n"
	if b.String() != want {
		t.Errorf("got %s, want %s", b.String(), want)
	}
}

// failWriter fails every write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteErrors(t *testing.T) {
	res := &Result{Columns: []string{"v"}, Types: []string{TypeInt64}, Rows: [][]any{{int64(1)}}}
	if err := WriteJSON(failWriter{}, res, 0, Format{}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("WriteJSON: %v", err)
	}
	if err := WriteCSV(failWriter{}, res, Format{}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("WriteCSV: %v", err)
	}
	if err := WriteJSONError(failWriter{}, errors.New("x"), 0); err == nil {
		t.Error("WriteJSONError: no error")
	}
}

// TestWriteNDJSON: one object per row, keys in column order, nulls kept,
// times in the requested zone.
func TestWriteNDJSON(t *testing.T) {
	seoul, err := ParseLocation("Asia/Seoul")
	if err != nil {
		t.Skip("no tz database:", err)
	}
	ts := time.UnixMilli(1700000000000).UTC()
	res := &Result{
		Columns: []string{"ts", "device", "temp"},
		Types:   []string{TypeTimestamp, TypeString, TypeFloat64},
		Rows:    [][]any{{ts, "d1", 21.5}, {ts, nil, math.NaN()}},
	}
	var b bytes.Buffer
	if err := WriteNDJSON(&b, res, Format{Location: seoul}); err != nil {
		t.Fatal(err)
	}
	want := `{"ts":"2023-11-15T07:13:20.000+09:00","device":"d1","temp":21.5}
{"ts":"2023-11-15T07:13:20.000+09:00","device":null,"temp":null}
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	if err := WriteNDJSON(&b, &Result{Columns: []string{"n"}}, Format{Time: TimeMillis}); err != nil || b.Len() != 0 {
		t.Fatalf("empty result: %q, %v", b.String(), err)
	}
	if _, err := ParseLocation("Mars/Olympus"); err == nil {
		t.Fatal("want an error for an unknown zone")
	}
}
