// Package format is the logic of lakegate's built-in binary formatter: it
// reads packed fixed-size frames with a layout declared in the route
// options (in the spirit of Telegraf's binary parser) through the plugin
// SDK. The guest program in ../guest registers it; keeping it in a plain
// package lets it be tested and fuzzed natively.
//
// The layout language, route options and output are described in
// formatters/binary/README.md.
package format

import (
	"math"
	"strconv"
	"unicode/utf8"

	sdk "github.com/lakegate/lakegate/sdk-plugin/go"
)

// Route option keys.
const (
	OptFields = "fields"
	OptEndian = "endian"
)

type ftype uint8

const (
	tU8 ftype = iota
	tU16
	tU32
	tU64
	tI8
	tI16
	tI32
	tI64
	tF32
	tF64
	tBool
	tStr
	tPad
)

var typeNames = [...]struct {
	name string
	t    ftype
	size int
}{
	{"u8", tU8, 1}, {"uint8", tU8, 1}, {"u16", tU16, 2}, {"uint16", tU16, 2},
	{"u32", tU32, 4}, {"uint32", tU32, 4}, {"u64", tU64, 8}, {"uint64", tU64, 8},
	{"i8", tI8, 1}, {"int8", tI8, 1}, {"i16", tI16, 2}, {"int16", tI16, 2},
	{"i32", tI32, 4}, {"int32", tI32, 4}, {"i64", tI64, 8}, {"int64", tI64, 8},
	{"f32", tF32, 4}, {"float32", tF32, 4}, {"f64", tF64, 8}, {"float64", tF64, 8},
	{"bool", tBool, 1},
}

// field is one entry of the layout.
type field struct {
	name     string
	t        ftype
	size     int
	hasConst bool
	konst    uint64 // the raw bits expected (for magic numbers)
	scaled   bool
	scale    float64
	offset   float64
	timeMult int64 // > 0: the field is the row's time, in units of timeMult ns
}

// layout is a route's options, parsed for one message. Names alias the input.
type layout struct {
	fields []field
	size   int
	big    bool
}

func (l *layout) parse(opts []sdk.Option) error {
	fields := l.fields[:0]
	*l = layout{fields: fields, big: true}
	spec, haveSpec := "", false
	for _, o := range opts {
		switch o.Key {
		case OptFields:
			spec, haveSpec = o.Value, true
		case OptEndian:
			switch o.Value {
			case "big", "be":
				l.big = true
			case "little", "le":
				l.big = false
			default:
				return sdk.Fail("option endian: " + strconv.Quote(o.Value) + " is not big or little")
			}
		default:
			return sdk.Fail("unknown option " + strconv.Quote(o.Key) + " (want fields or endian)")
		}
	}
	if !haveSpec || spec == "" {
		return sdk.Fail("option fields is required: a layout such as \"magic:u16=0xA55A,temp:i16*0.01,ts:u32:time_s\"")
	}
	hasTime := false
	start := 0
	for i := 0; i <= len(spec); i++ {
		if i < len(spec) && spec[i] != ',' {
			continue
		}
		item := trimSpace(spec[start:i])
		n := len(l.fields) + 1
		start = i + 1
		fd, err := parseField(item)
		if err != "" {
			return sdk.Fail("option fields: field " + strconv.Itoa(n) + " " + strconv.Quote(item) + ": " + err)
		}
		if fd.timeMult > 0 {
			if hasTime {
				return sdk.Fail("option fields: field " + strconv.Itoa(n) + " " + strconv.Quote(item) + ": a second time field")
			}
			hasTime = true
		}
		l.fields = append(l.fields, fd)
		l.size += fd.size
	}
	if l.size == 0 {
		return sdk.Fail("option fields: the layout has no bytes")
	}
	return nil
}

// parseField parses name:type[=const][*scale][+offset|-offset][:time_unit]
// or pad[N]. It returns an error text, or "".
func parseField(s string) (field, string) {
	var fd field
	if s == "" {
		return fd, "empty field"
	}
	if n, ok := bracket(s, "pad"); ok {
		if n <= 0 {
			return fd, "pad needs a size: pad[N]"
		}
		return field{t: tPad, size: n}, ""
	}
	colon := indexByte(s, ':')
	if colon <= 0 {
		return fd, "expected name:type"
	}
	fd.name = s[:colon]
	rest := s[colon+1:]
	// an optional role after a second ':'
	if c := indexByte(rest, ':'); c >= 0 {
		switch rest[c+1:] {
		case "time_s":
			fd.timeMult = 1e9
		case "time_ms":
			fd.timeMult = 1e6
		case "time_us":
			fd.timeMult = 1e3
		case "time_ns":
			fd.timeMult = 1
		default:
			return fd, strconv.Quote(rest[c+1:]) + " is not time_s, time_ms, time_us or time_ns"
		}
		rest = rest[:c]
	}
	// the type ends at the first of = * + -
	end := len(rest)
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; c == '=' || c == '*' || c == '+' || c == '-' {
			end = i
			break
		}
	}
	tname, mods := rest[:end], rest[end:]
	if n, ok := bracket(tname, "pad"); ok {
		if n <= 0 || mods != "" || fd.timeMult > 0 {
			return fd, "pad takes a size and nothing else: pad[N]"
		}
		return field{t: tPad, size: n}, ""
	}
	if n, ok := bracket(tname, "str"); ok {
		if n <= 0 {
			return fd, "str needs a size: str[N]"
		}
		fd.t, fd.size = tStr, n
	} else {
		found := false
		for _, tn := range typeNames {
			if tn.name == tname {
				fd.t, fd.size, found = tn.t, tn.size, true
				break
			}
		}
		if !found {
			return fd, "type " + strconv.Quote(tname) + " is not u8..u64, i8..i64, f32, f64, bool, str[N] or pad[N]"
		}
	}
	if mods != "" && mods[0] == '=' {
		j := 1
		for j < len(mods) && mods[j] != '*' && mods[j] != '+' && !(mods[j] == '-' && j > 1) {
			j++
		}
		v, err := strconv.ParseUint(mods[1:j], 0, 64)
		if err != nil {
			if iv, err2 := strconv.ParseInt(mods[1:j], 0, 64); err2 == nil {
				v = uint64(iv)
			} else {
				return fd, "constant " + strconv.Quote(mods[1:j]) + " is not an integer"
			}
		}
		if fd.t == tStr || fd.t >= tF32 {
			return fd, "a constant needs an integer type"
		}
		fd.hasConst, fd.konst = true, v&mask(fd.size)
		mods = mods[j:]
	}
	if mods != "" && mods[0] == '*' {
		j := 1
		for j < len(mods) && mods[j] != '+' && !(mods[j] == '-' && j > 1 && mods[j-1] != 'e' && mods[j-1] != 'E') {
			j++
		}
		v, err := strconv.ParseFloat(mods[1:j], 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return fd, "scale " + strconv.Quote(mods[1:j]) + " is not a number"
		}
		fd.scaled, fd.scale = true, v
		mods = mods[j:]
	}
	if mods != "" && (mods[0] == '+' || mods[0] == '-') {
		v, err := strconv.ParseFloat(mods, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return fd, "offset " + strconv.Quote(mods) + " is not a number"
		}
		if !fd.scaled {
			fd.scaled, fd.scale = true, 1
		}
		fd.offset = v
		mods = ""
	}
	if mods != "" {
		return fd, "unexpected " + strconv.Quote(mods) + " (want =const, *scale, +offset)"
	}
	if fd.scaled && (fd.t == tStr || fd.t == tBool) {
		return fd, "scale and offset need a number type"
	}
	if fd.timeMult > 0 && (fd.t == tStr || fd.t == tBool || fd.t == tF32 || fd.t == tF64 || fd.scaled) {
		return fd, "a time field must be an unscaled integer"
	}
	return fd, ""
}

func mask(size int) uint64 {
	if size >= 8 {
		return math.MaxUint64
	}
	return 1<<(8*size) - 1
}

// bracket parses prefix[N].
func bracket(s, prefix string) (int, bool) {
	if len(s) < len(prefix)+2 || s[:len(prefix)] != prefix || s[len(prefix)] != '[' || s[len(s)-1] != ']' {
		return 0, false
	}
	n, err := strconv.Atoi(s[len(prefix)+1 : len(s)-1])
	if err != nil || n > 1<<16 {
		return -1, true
	}
	return n, true
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// Formatter holds the buffers reused from message to message. The zero
// value is ready; it is not safe for concurrent use.
type Formatter struct {
	lay layout
}

// Check validates a route's options; the gateway calls it at start.
func Check(in *sdk.Input) error {
	var l layout
	return l.parse(in.Options)
}

// Handle formats one message: one row per frame.
func (f *Formatter) Handle(in *sdk.Input, out *sdk.Output) error {
	l := &f.lay
	if err := l.parse(in.Options); err != nil {
		return err
	}
	data := in.Payload
	if len(data) == 0 {
		return sdk.Malformed("byte 0: empty payload, expected frames of " + strconv.Itoa(l.size) + " bytes")
	}
	if len(data)%l.size != 0 {
		return sdk.Malformed("byte " + strconv.Itoa(len(data)-len(data)%l.size) + ": payload has " + strconv.Itoa(len(data)) +
			" bytes, not a whole number of " + strconv.Itoa(l.size) + "-byte frames (" + strconv.Itoa(len(data)%l.size) + " bytes left over)")
	}
	for at := 0; at < len(data); at += l.size {
		if err := f.frame(out, data[at:at+l.size], at); err != nil {
			return err
		}
	}
	return nil
}

func (f *Formatter) frame(out *sdk.Output, b []byte, base int) error {
	l := &f.lay
	out.Row("")
	off := 0
	for i := range l.fields {
		fd := &l.fields[i]
		v := b[off : off+fd.size]
		at := base + off
		off += fd.size
		switch fd.t {
		case tPad:
			continue
		case tStr:
			n := len(v)
			for n > 0 && v[n-1] == 0 {
				n--
			}
			if !utf8.Valid(v[:n]) {
				return sdk.Malformed("byte " + strconv.Itoa(at) + ": frame " + strconv.Itoa(base/l.size+1) + " field " + strconv.Quote(fd.name) + " is not valid UTF-8")
			}
			out.StringBytes(fd.name, v[:n])
			continue
		case tBool:
			if fd.hasConst {
				break
			}
			out.Bool(fd.name, v[0] != 0)
			continue
		}
		raw := l.uint(v)
		if fd.hasConst {
			if raw != fd.konst {
				return sdk.Malformed("byte " + strconv.Itoa(at) + ": frame " + strconv.Itoa(base/l.size+1) + " field " + strconv.Quote(fd.name) +
					" is 0x" + strconv.FormatUint(raw, 16) + ", expected 0x" + strconv.FormatUint(fd.konst, 16))
			}
			continue
		}
		var iv int64
		var fv float64
		isFloat := false
		switch fd.t {
		case tU8, tU16, tU32:
			iv = int64(raw)
		case tU64:
			if raw > math.MaxInt64 && !fd.scaled {
				return sdk.Malformed("byte " + strconv.Itoa(at) + ": frame " + strconv.Itoa(base/l.size+1) + " field " + strconv.Quote(fd.name) +
					" is " + strconv.FormatUint(raw, 10) + ", which does not fit an int64")
			}
			iv = int64(raw)
			if fd.scaled {
				fv, isFloat = float64(raw), true
			}
		case tI8:
			iv = int64(int8(raw))
		case tI16:
			iv = int64(int16(raw))
		case tI32:
			iv = int64(int32(raw))
		case tI64:
			iv = int64(raw)
		case tF32:
			fv, isFloat = float64(math.Float32frombits(uint32(raw))), true
		case tF64:
			fv, isFloat = math.Float64frombits(raw), true
		}
		if fd.timeMult > 0 {
			if iv > math.MaxInt64/fd.timeMult || iv < math.MinInt64/fd.timeMult {
				return sdk.Malformed("byte " + strconv.Itoa(at) + ": frame " + strconv.Itoa(base/l.size+1) + " time field " + strconv.Quote(fd.name) + " is out of range")
			}
			out.Time(iv * fd.timeMult)
			continue
		}
		if fd.scaled {
			if !isFloat {
				fv = float64(iv)
			}
			out.Float(fd.name, fv*fd.scale+fd.offset)
		} else if isFloat {
			out.Float(fd.name, fv)
		} else {
			out.Int(fd.name, iv)
		}
	}
	return nil
}

// uint reads b (1 to 8 bytes) as an unsigned integer in the layout's byte order.
func (l *layout) uint(b []byte) uint64 {
	var v uint64
	if l.big {
		for _, c := range b {
			v = v<<8 | uint64(c)
		}
		return v
	}
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}
