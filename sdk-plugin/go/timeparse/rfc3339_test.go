package timeparse

import (
	"strings"
	"testing"
	"time"
)

func TestRFC3339(t *testing.T) {
	good := []string{
		"2024-01-15T04:10:59Z",
		"2024-01-15T04:10:59.5Z",
		"2024-01-15T04:10:59.123456789Z",
		"2024-01-15t04:10:59z",
		"2024-01-15 04:10:59+09:00",
		"2024-02-29T23:59:59-05:30",
		"1970-01-01T00:00:00Z",
		"1969-12-31T23:59:59.999999999Z",
		"1700-03-01T00:00:00Z",
		"2262-04-11T23:47:16Z",
	}
	for _, s := range good {
		want, err := time.Parse(time.RFC3339Nano, strings.Replace(strings.Replace(strings.ToUpper(s), " ", "T", 1), "Z", "Z", 1))
		if err != nil {
			t.Fatal(err)
		}
		got, ok := RFC3339([]byte(s))
		if !ok || got != want.UnixNano() {
			t.Errorf("%s: got %d %v, want %d", s, got, ok, want.UnixNano())
		}
	}
	bad := []string{
		"2024-01-15", "2024-01-15T04:10:59", "2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z",
		"2024-01-15T24:00:00Z", "2024-01-15T04:10:60Z", "2024-01-15T04:10:59.Z", "2024-01-15T04:10:59+0900",
		"2024-01-15T04:10:59Zx", "1600-01-01T00:00:00Z", "9999-01-01T00:00:00Z", "2024-01-15X04:10:59Z",
	}
	for _, s := range bad {
		if _, ok := RFC3339([]byte(s)); ok {
			t.Errorf("%s: accepted", s)
		}
	}
}

// FuzzRFC3339 checks the hand-written parser against the time package.
func FuzzRFC3339(f *testing.F) {
	f.Add("2024-01-15T04:10:59.5+01:00")
	f.Add("1999-12-31T23:59:59Z")
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := RFC3339([]byte(s))
		if !ok {
			return
		}
		norm := strings.ToUpper(s)
		if norm[10] == ' ' {
			norm = norm[:10] + "T" + norm[11:]
		}
		want, err := time.Parse(time.RFC3339Nano, norm)
		if err != nil {
			// time.Parse accepts at most 9 fraction digits; we cut longer ones.
			if i := strings.IndexByte(norm, '.'); i > 0 {
				j := i + 1
				for j < len(norm) && norm[j] >= '0' && norm[j] <= '9' {
					j++
				}
				if j-i-1 > 9 {
					return
				}
			}
			t.Fatalf("%q accepted, but time.Parse says %v", s, err)
		}
		if got != want.UnixNano() {
			t.Fatalf("%q: got %d, want %d", s, got, want.UnixNano())
		}
	})
}
