package timeparse

import (
	"testing"

	"github.com/lakegate/lakegate/sdk-plugin/go/jsonscan"
)

func TestFromText(t *testing.T) {
	cases := []struct {
		in   string
		unit Unit
		want int64
		err  bool
	}{
		{"1700000000", UnitAuto, 1700000000e9, false},
		{"1700000000000", UnitAuto, 1700000000000e6, false},
		{"1700000000000000", UnitAuto, 1700000000000000e3, false},
		{"1700000000000000000", UnitAuto, 1700000000000000000, false},
		{"1700000000", UnitMS, 1700000000e6, false},
		{"1.5", UnitS, 1500000000, false},
		{"2023-11-14T22:13:20Z", UnitMS, 1700000000e9, false},
		{"1700000000", UnitRFC3339, 0, true},
		{"soon", UnitAuto, 0, true},
		{"1e300", UnitNS, 0, true},
	}
	for _, c := range cases {
		got, msg := FromText([]byte(c.in), c.unit)
		if (msg != "") != c.err || (!c.err && got != c.want) {
			t.Errorf("FromText(%q, %d) = %d, %q", c.in, c.unit, got, msg)
		}
	}
	n, err := jsonscan.ParseNumber([]byte("5"))
	if err != nil {
		t.Fatal(err)
	}
	if _, msg := FromNumber(n, UnitRFC3339); msg == "" {
		t.Error("a number accepted as rfc3339")
	}
	for _, s := range []string{"", "auto", "s", "ms", "us", "ns", "rfc3339"} {
		if _, ok := ParseUnit(s); !ok {
			t.Errorf("ParseUnit(%q) refused", s)
		}
	}
	if _, ok := ParseUnit("minutes"); ok {
		t.Error("ParseUnit accepted minutes")
	}
}
