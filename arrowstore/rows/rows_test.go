package rows

import (
	"errors"
	"math"
	"testing"
)

func TestCheckTableName(t *testing.T) {
	for _, ok := range []string{"sensors", "a", "Plant_1", "line-2", "_x"} {
		if err := CheckTableName(ok); err != nil {
			t.Errorf("CheckTableName(%q) = %v", ok, err)
		}
	}
	long := make([]byte, MaxNameLen+1)
	for i := range long {
		long[i] = 'a'
	}
	for _, bad := range []string{"", "-x", "a/b", "..", "a.b", "a b", "é", string(long)} {
		if err := CheckTableName(bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("CheckTableName(%q) = %v, want ErrInvalidName", bad, err)
		}
	}
}

func TestCheckColumnName(t *testing.T) {
	for _, ok := range []string{"temp", "loc.room", "Température", "a b"} {
		if err := CheckColumnName(ok); err != nil {
			t.Errorf("CheckColumnName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a\x00b", "tab\there", "\xff"} {
		if err := CheckColumnName(bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("CheckColumnName(%q) = %v, want ErrInvalidName", bad, err)
		}
	}
}

func TestParseKindRoundTrip(t *testing.T) {
	for k := KindInt64; k <= KindTimestamp; k++ {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", k.String(), got, err)
		}
	}
	if _, err := ParseKind("decimal"); err == nil {
		t.Error("ParseKind accepted decimal")
	}
}

func TestValueEqual(t *testing.T) {
	cases := []struct {
		a, b Value
		eq   bool
	}{
		{Int(1), Int(1), true},
		{Int(1), Float(1), false},
		{Float(math.NaN()), Float(math.NaN()), true},
		{String("a"), String("a"), true},
		{Bytes([]byte("a")), Bytes([]byte("a")), true},
		{Bool(true), Bool(false), false},
		{Null(), Null(), true},
		{Timestamp(5), Int(5), false},
	}
	for _, c := range cases {
		if got := c.a.Equal(c.b); got != c.eq {
			t.Errorf("%+v.Equal(%+v) = %v", c.a, c.b, got)
		}
	}
}
