package jsonscan_test

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lakegate/lakegate/sdk-plugin/go/jsonscan"
)

// decode walks one value with the scanner and builds the same tree
// encoding/json would (with float64 numbers).
func decode(s *jsonscan.Scanner) (any, error) {
	switch s.Peek() {
	case jsonscan.KindObject:
		if err := s.BeginObject(); err != nil {
			return nil, err
		}
		m := map[string]any{}
		for {
			k, ok, err := s.NextKey()
			if err != nil {
				return nil, err
			}
			if !ok {
				return m, nil
			}
			key := string(k)
			v, err := decode(s)
			if err != nil {
				return nil, err
			}
			m[key] = v
		}
	case jsonscan.KindArray:
		if err := s.BeginArray(); err != nil {
			return nil, err
		}
		a := []any{}
		for {
			ok, err := s.NextElem()
			if err != nil {
				return nil, err
			}
			if !ok {
				return a, nil
			}
			v, err := decode(s)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
	case jsonscan.KindString:
		b, err := s.String()
		return string(b), err
	case jsonscan.KindNumber:
		n, err := s.Number()
		if err != nil {
			return nil, err
		}
		f, _ := n.Float()
		return f, nil
	case jsonscan.KindBool:
		return s.Bool()
	case jsonscan.KindNull:
		return nil, s.Null()
	}
	return nil, s.Skip()
}

// decodeDoc decodes exactly one document.
func decodeDoc(data []byte) (any, error) {
	var s jsonscan.Scanner
	s.Reset(data)
	v, err := decode(&s)
	if err != nil {
		return nil, err
	}
	if !s.AtEnd() {
		return nil, s.ErrorAt(s.Offset(), "data after value")
	}
	return v, nil
}

func TestValues(t *testing.T) {
	tests := []struct {
		name, in string
		want     any
	}{
		{"object", `{"ts":1700000000000,"device":"d1","temp":21.5}`, map[string]any{"ts": 1.7e12, "device": "d1", "temp": 21.5}},
		{"empty object", ` { } `, map[string]any{}},
		{"empty array", `[]`, []any{}},
		{"nested", `{"a":{"b":[1,true,null,"x",{"c":-0.5e-3}]}}`, map[string]any{"a": map[string]any{"b": []any{1.0, true, nil, "x", map[string]any{"c": -0.5e-3}}}}},
		{"escapes", `"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00"`, "a\"b\\c/d\b\f\n\r\té😀"},
		{"lone surrogate", `"\ud800x"`, "\ufffdx"},
		{"lone low surrogate", `"\udc00"`, "\ufffd"},
		{"utf8", `"grüße 温度"`, "grüße 温度"},
		{"whitespace", "\t\r\n [ 1 , 2 ] \n", []any{1.0, 2.0}},
		{"big int", `12345678901234567890123`, 12345678901234567890123.0},
		{"exponent", `1E+2`, 100.0},
		{"zero", `-0`, math.Copysign(0, -1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeDoc([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !equal(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"a" 1}`, "line 1 col 6: expected ':' after object key, found '1'"},
		{`{"a":1,}`, `line 1 col 8: expected object key string after ',', found '}'`},
		{`{"a":1 "b":2}`, "line 1 col 8: expected ',' or '}' after object member, found '\"'"},
		{`[1,]`, "line 1 col 4: expected a value after ',', found ']'"},
		{`[1 2]`, "line 1 col 4: expected ',' or ']' after array element, found '2'"},
		{"{\n  \"a\": tru\n}", "line 2 col 8: expected true or false, found 't'"},
		{`"abc`, "line 1 col 5: unexpected end of input in string starting at line 1 col 1"},
		{"\"a\tb\"", "line 1 col 3: control character byte 0x09 in string"},
		{`"\q"`, `line 1 col 2: invalid escape 'q' in string`},
		{`"\u12g4"`, `line 1 col 2: invalid \u escape, expected 4 hex digits`},
		{"\"\xff\"", "line 1 col 2: invalid UTF-8 in string"},
		{`01`, "line 1 col 2: invalid character '1' in number"},
		{`-`, "line 1 col 2: unexpected end of input in number"},
		{`1.`, "line 1 col 3: expected a digit after '.' in number"},
		{`1e`, "line 1 col 3: expected a digit in number exponent"},
		{`12a`, "line 1 col 3: invalid character 'a' in number"},
		{`nul`, "line 1 col 1: expected null, found 'n'"},
		{`{`, "line 1 col 2: unexpected end of input, expected '}'"},
		{`[`, "line 1 col 2: unexpected end of input, expected ']'"},
		{`@`, "line 1 col 1: expected a value, found '@'"},
		{`{"a":1}}`, "line 1 col 8: data after value"},
		{strings.Repeat("[", 200), "line 1 col 129: nesting deeper than 128"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := decodeDoc([]byte(tt.in))
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != tt.want {
				t.Fatalf("error\n got %q\nwant %q", err, tt.want)
			}
			var e *jsonscan.Error
			if !asError(err, &e) || e.Offset < 0 || e.Offset > len(tt.in) {
				t.Fatalf("not a positioned *Error: %#v", err)
			}
		})
	}
}

func asError(err error, target **jsonscan.Error) bool {
	e, ok := err.(*jsonscan.Error)
	*target = e
	return ok
}

func TestNumbers(t *testing.T) {
	tests := []struct {
		in    string
		f     float64
		i     int64
		isInt bool // Int() ok
		plain bool // IsInt()
	}{
		{"0", 0, 0, true, true},
		{"42", 42, 42, true, true},
		{"-42", -42, -42, true, true},
		{"21.5", 21.5, 0, false, false},
		{"42.0", 42, 42, true, false},
		{"4.2e1", 42, 42, true, false},
		{"4200e-2", 42, 42, true, false},
		{"0.001", 0.001, 0, false, false},
		{"1705291859000000000", 1705291859000000000, 1705291859000000000, true, true},
		{"9223372036854775807", 9223372036854775807, 9223372036854775807, true, true},
		{"-9223372036854775808", -9223372036854775808, -9223372036854775808, true, true},
		{"9223372036854775808", 9223372036854775808, 0, false, true},
		{"12345678901234567890123", 12345678901234567890123, 0, false, true},
		{"1e400", math.Inf(1), 0, false, false},
		{"0.1", 0.1, 0, false, false},
		{"123456789.123456789", 123456789.123456789, 0, false, false},
		{"1e-400", 0, 0, false, false},
		{"0e10", 0, 0, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n, err := jsonscan.ParseNumber([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			f, fok := n.Float()
			if f != tt.f || fok != !math.IsInf(tt.f, 0) {
				t.Errorf("Float() = %v, %v; want %v", f, fok, tt.f)
			}
			i, ok := n.Int()
			if ok != tt.isInt || (ok && i != tt.i) {
				t.Errorf("Int() = %d, %v; want %d, %v", i, ok, tt.i, tt.isInt)
			}
			if n.IsInt() != tt.plain {
				t.Errorf("IsInt() = %v", n.IsInt())
			}
		})
	}
	if _, err := jsonscan.ParseNumber([]byte("1 ")); err == nil {
		t.Error("ParseNumber accepted trailing space")
	}
}

// TestFloatMatchesStrconv checks the fast float path against strconv on
// many decimal forms.
func TestFloatMatchesStrconv(t *testing.T) {
	for m := 0; m < 20000; m += 7 {
		for _, e := range []int{-25, -22, -10, -3, -1, 0, 1, 5, 22, 23} {
			s := strconv.Itoa(m*1234567+m) + "e" + strconv.Itoa(e)
			n, err := jsonscan.ParseNumber([]byte(s))
			if err != nil {
				t.Fatal(s, err)
			}
			got, _ := n.Float()
			want, _ := strconv.ParseFloat(s, 64)
			if got != want {
				t.Fatalf("%s: got %v, want %v", s, got, want)
			}
		}
	}
}

func TestStream(t *testing.T) {
	in := "{\"a\":1}\n{\"a\":2}\n\n {\"a\":3}\n"
	var s jsonscan.Scanner
	s.Reset([]byte(in))
	n := 0
	for !s.AtEnd() {
		if _, err := decode(&s); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 3 {
		t.Fatalf("read %d documents, want 3", n)
	}
}

func TestRaw(t *testing.T) {
	var s jsonscan.Scanner
	s.Reset([]byte(`{"a": [1, {"b": "\u0041"}] , "c":2}`))
	if err := s.BeginObject(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.NextKey(); err != nil {
		t.Fatal(err)
	}
	raw, err := s.Raw()
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != `[1, {"b": "\u0041"}]` {
		t.Fatalf("Raw = %q", raw)
	}
	k, ok, err := s.NextKey()
	if err != nil || !ok || string(k) != "c" {
		t.Fatalf("NextKey = %q %v %v", k, ok, err)
	}
}

// TestNoAllocs checks that scanning a typical payload does not allocate
// once the buffers have grown.
func TestNoAllocs(t *testing.T) {
	data := []byte(`{"ts":1700000000000,"device":"d\u00e91","temp":21.5,"ok":true,"n":null,"loc":{"lat":52.1,"lon":-4.25}}`)
	var s jsonscan.Scanner
	allocs := testing.AllocsPerRun(100, func() {
		s.Reset(data)
		walk(t, &s)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per document", allocs)
	}
}

func walk(t testing.TB, s *jsonscan.Scanner) {
	switch s.Peek() {
	case jsonscan.KindObject:
		_ = s.BeginObject()
		for {
			_, ok, err := s.NextKey()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return
			}
			walk(t, s)
		}
	case jsonscan.KindNumber:
		n, err := s.Number()
		if err != nil {
			t.Fatal(err)
		}
		n.Float()
	case jsonscan.KindString:
		if _, err := s.String(); err != nil {
			t.Fatal(err)
		}
	default:
		if err := s.Skip(); err != nil {
			t.Fatal(err)
		}
	}
}

func equal(a, b any) bool {
	switch a := a.(type) {
	case float64:
		b, ok := b.(float64)
		return ok && (a == b && math.Signbit(a) == math.Signbit(b) || math.IsNaN(a) && math.IsNaN(b))
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			if !equal(v, b[k]) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !equal(a[i], b[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}

func depth(data []byte) int {
	d, max := 0, 0
	inStr, esc := false, false
	for _, c := range data {
		switch {
		case inStr && esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case inStr && c == '"':
			inStr = false
		case inStr:
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			d++
			if d > max {
				max = d
			}
		case c == '}' || c == ']':
			d--
		}
	}
	return max
}

// FuzzScanner checks the scanner against encoding/json: it must accept
// exactly the valid documents (within its depth limit and UTF-8 rule) and
// read the same values, and never panic.
func FuzzScanner(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "seed", "*.json"))
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"a":[1,2,{"b":null}],"c":"\u00e9\n","d":-1.5e-7}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeDoc(data)
		valid := json.Valid(data)
		if err == nil && !valid {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		if err != nil {
			if valid && utf8.Valid(data) && depth(data) <= jsonscan.DefaultMaxDepth {
				t.Fatalf("rejected valid JSON %q: %v", data, err)
			}
			e, ok := err.(*jsonscan.Error)
			if !ok || e.Offset < 0 || e.Offset > len(data) {
				t.Fatalf("error %v is not a positioned *Error", err)
			}
			return
		}
		var want any
		d := json.NewDecoder(bytes.NewReader(data))
		if err := d.Decode(&want); err != nil {
			return // e.g. a number out of float64 range
		}
		if !equal(got, want) {
			t.Fatalf("%q: got %#v, want %#v", data, got, want)
		}
	})
}
