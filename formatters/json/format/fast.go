package format

import (
	"github.com/lakegate/lakegate/sdk-plugin/go/jsonscan"
	"github.com/lakegate/lakegate/sdk-plugin/go/timeparse"
)

// fastRow reads the object at the scanner's offset as one row in a single
// pass, without the scanner's calls: in wasm a call costs tens of
// nanoseconds, more than reading a whole member. It takes only the common
// shape: a flat object of plain ASCII keys and values that are numbers
// (in float64's exact range), plain ASCII strings, booleans or null, with
// at most one time field holding a number. On anything else it rewinds
// the output and reports false, and the caller reads the object with the
// general path, which produces the same rows or a precise error.
// FuzzFastPath checks that both paths agree.
func (f *Formatter) fastRow() bool {
	if f.noFast || f.cfg.hasTypes {
		return false
	}
	sc := &f.sc
	data := sc.Data()
	i := sc.Offset() // at '{'
	out := f.out
	mark := out.Mark()
	out.Row("")
	i++
	timeSeen := false
	for first := true; ; first = false {
		for i < len(data) && isSpace(data[i]) {
			i++
		}
		if i >= len(data) {
			break
		}
		if !first {
			if data[i] == '}' {
				sc.Seek(i + 1)
				return true
			}
			if data[i] != ',' {
				break
			}
			i++
			for i < len(data) && isSpace(data[i]) {
				i++
			}
			if i >= len(data) {
				break
			}
		} else if data[i] == '}' {
			sc.Seek(i + 1)
			return true
		}
		// Key: plain printable ASCII.
		if data[i] != '"' {
			break
		}
		ks := i + 1
		i = ks
		for i < len(data) && data[i] != '"' && data[i] != '\\' && data[i] >= 0x20 && data[i] < 0x80 {
			i++
		}
		if i >= len(data) || data[i] != '"' || i == ks {
			break
		}
		key := data[ks:i]
		i++
		for i < len(data) && isSpace(data[i]) {
			i++
		}
		if i >= len(data) || data[i] != ':' {
			break
		}
		i++
		for i < len(data) && isSpace(data[i]) {
			i++
		}
		if i >= len(data) {
			break
		}
		name := jsonscan.UnsafeString(key)

		// The time field: a number, once.
		if f.cfg.timeCandidate(len(key)) && f.isTimeField(name) {
			if timeSeen || !isNumberStart(data[i]) {
				break
			}
			timeSeen = true
			end := numberEnd(data, i)
			n, err := jsonscan.ParseNumber(data[i:end])
			if err != nil || !delimiter(data, end) {
				break
			}
			ns, msg := timeparse.FromNumber(n, f.cfg.unit)
			if msg != "" {
				break
			}
			out.Time(ns)
			i = end
			continue
		}

		switch c := data[i]; {
		case c == '"':
			vs := i + 1
			i = vs
			for i < len(data) && data[i] != '"' && data[i] != '\\' && data[i] >= 0x20 && data[i] < 0x80 {
				i++
			}
			if i >= len(data) || data[i] != '"' {
				out.Rewind(mark)
				return false
			}
			out.StringBytes(name, data[vs:i])
			i++
		case c == '-' || c >= '0' && c <= '9':
			v, end, ok := fastFloat(data, i)
			if !ok {
				out.Rewind(mark)
				return false
			}
			out.Float(name, v)
			i = end
		case c == 't' && i+4 <= len(data) && string(data[i:i+4]) == "true" && delimiter(data, i+4):
			out.Bool(name, true)
			i += 4
		case c == 'f' && i+5 <= len(data) && string(data[i:i+5]) == "false" && delimiter(data, i+5):
			out.Bool(name, false)
			i += 5
		case c == 'n' && i+4 <= len(data) && string(data[i:i+4]) == "null" && delimiter(data, i+4):
			out.Null(name)
			i += 4
		default:
			out.Rewind(mark)
			return false
		}
	}
	out.Rewind(mark)
	return false
}

// isTimeField reports whether a top-level key is the time field. In auto
// mode any of ts, time and timestamp is; fastRow gives up if a second one
// appears, leaving the choice among them to the general path.
func (f *Formatter) isTimeField(name string) bool {
	if f.cfg.timeField != "" {
		return name == f.cfg.timeField
	}
	return autoRank(name) >= 0
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

func isNumberStart(c byte) bool { return c == '-' || c >= '0' && c <= '9' }

// delimiter reports whether a value may end at data[i].
func delimiter(data []byte, i int) bool {
	if i >= len(data) {
		return true
	}
	c := data[i]
	return c == ',' || c == '}' || c == ']' || isSpace(c)
}

// numberEnd returns where the number-like run of bytes at i ends.
func numberEnd(data []byte, i int) int {
	for i < len(data) {
		c := data[i]
		if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
			break
		}
		i++
	}
	return i
}

// fastFloat reads a JSON number at i whose value float64 represents by one
// exact operation (at most 15 significant digits and a small exponent),
// giving exactly what jsonscan.Number.Float gives. ok is false for any
// other number or bad syntax.
func fastFloat(data []byte, i int) (v float64, end int, ok bool) {
	neg := false
	if data[i] == '-' {
		neg = true
		i++
		if i >= len(data) {
			return 0, i, false
		}
	}
	var mant uint64
	var exp, nd int
	switch c := data[i]; {
	case c == '0':
		i++
	case c >= '1' && c <= '9':
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			mant = mant*10 + uint64(data[i]-'0')
			nd++
			i++
		}
	default:
		return 0, i, false
	}
	if i < len(data) && data[i] == '.' {
		i++
		start := i
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			if mant == 0 && data[i] == '0' {
				exp--
			} else {
				mant = mant*10 + uint64(data[i]-'0')
				nd++
				exp--
			}
			i++
		}
		if i == start {
			return 0, i, false
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		return 0, i, false // exponents: leave them to the general path
	}
	if nd > 15 || exp < -22 || !delimiter(data, i) {
		return 0, i, false
	}
	f := float64(mant)
	if exp < 0 {
		f /= pow10[-exp]
	}
	if neg {
		f = -f
	}
	return f, i, true
}

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}
