package forward

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/lakegate/lakegate/arrowstore/rows"
)

func TestTemplate(t *testing.T) {
	names := map[string]int{"site": 1, "table": 2}
	vars := Vars{Table: "temps", Topic: "sites/berlin/temps", Client: "dev#1+x", Levels: []string{"sites", "berlin", "temps"}}
	cases := []struct {
		tmpl, want, err string
	}{
		{tmpl: "edge/{table}", want: "edge/temps"},
		{tmpl: "{topic}", want: "sites/berlin/temps"},
		{tmpl: "edge/{client}/{table}", want: "edge/dev_1_x/temps"},
		{tmpl: "up/{2}/{1}", want: "up/berlin/sites"},
		{tmpl: "up/{site}-{3}", want: "up/berlin-temps"},
		{tmpl: "up/{9}/x", want: "up//x"},
		{tmpl: "plain/topic", want: "plain/topic"},
		{tmpl: "", err: "must not be empty"},
		{tmpl: "a/+/b", err: "wildcards"},
		{tmpl: "a/#", err: "wildcards"},
		{tmpl: "$SYS/x", err: "'$'"},
		{tmpl: "a/{nope}", err: "unknown placeholder {nope}"},
		{tmpl: "a/{0}", err: "unknown placeholder {0}"},
		{tmpl: "a/{129}", err: "levels count from 1"},
		{tmpl: "a/{table", err: "unclosed"},
		{tmpl: "a/{ta{ble}", err: "unclosed"},
		{tmpl: "a/table}", err: "without '{'"},
		{tmpl: "a/{}", err: "unknown placeholder {}"},
	}
	for _, tc := range cases {
		tp, err := ParseTemplate(tc.tmpl, names)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseTemplate(%q): %v, want an error with %q", tc.tmpl, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseTemplate(%q): %v", tc.tmpl, err)
			continue
		}
		if got := tp.Expand(vars); got != tc.want {
			t.Errorf("%q expanded to %q, want %q", tc.tmpl, got, tc.want)
		}
		if tp.String() != tc.tmpl {
			t.Errorf("String() = %q", tp.String())
		}
	}
}

// FuzzTemplate: parsing never panics, and an accepted template always
// expands to a topic one may publish on (no wildcard, no NUL), whatever
// the values.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"edge/{table}", "{topic}/{client}", "{1}/{2}/{site}", "a/{", "}{", "{{1}}"} {
		f.Add(s, "v+#al", "a/b/c")
	}
	f.Fuzz(func(t *testing.T, tmpl, value, topic string) {
		tp, err := ParseTemplate(tmpl, map[string]int{"site": 0})
		if err != nil {
			return
		}
		got := tp.Expand(Vars{Table: value, Topic: topic, Client: value, Levels: strings.Split(topic, "/")})
		if strings.ContainsAny(got, "+#\x00") {
			t.Fatalf("%q expanded to %q, which has a wildcard or NUL", tmpl, got)
		}
	})
}

func TestRowJSON(t *testing.T) {
	r := rows.Row{Table: "t", Time: 1700000000123456789, Columns: []rows.Column{
		{Name: "dev", Value: rows.String("d\"1")},
		{Name: "n", Value: rows.Int(-3)},
		{Name: "f", Value: rows.Float(21)},
		{Name: "g", Value: rows.Float(0.5)},
		{Name: "nan", Value: rows.Float(math.NaN())},
		{Name: "ok", Value: rows.Value{Kind: rows.KindBool, Int: 1}},
		{Name: "raw", Value: rows.Bytes([]byte{0, 1, 2})},
		{Name: "at", Value: rows.Value{Kind: rows.KindTimestamp, Int: 0}},
		{Name: "none", Value: rows.Null()},
		{Name: "ts", Value: rows.Int(7)}, // same name as the time key: left out
	}}
	got := string(RowJSON(nil, r, "ts"))
	want := `{"ts":"2023-11-14T22:13:20.123456789Z","dev":"d\"1","n":-3,"f":21.0,"g":0.5,"nan":"NaN","ok":true,"raw":"AAEC","at":"1970-01-01T00:00:00Z","none":null}`
	if got != want {
		t.Fatalf("RowJSON:\n got %s\nwant %s", got, want)
	}
	if !json.Valid([]byte(got)) {
		t.Fatal("not valid JSON")
	}
}
