package jsonscan

import "strconv"

// Number is a JSON number as read: its text and its value as a decimal
// mantissa and exponent (value = ±mantissa × 10^exp).
type Number struct {
	// Raw is the number's text, a slice of the input.
	Raw []byte

	mant  uint64
	exp   int32
	neg   bool
	trunc bool // more than 19 significant digits: mant holds the first 19
}

// maxMantDigits is how many significant decimal digits fit a uint64 for sure.
const maxMantDigits = 19

// Float returns the number as the nearest float64. ok is false if it is
// out of the float64 range (the value is then ±Inf).
func (n Number) Float() (v float64, ok bool) {
	if n.trunc || n.mant >= 1<<53 || n.exp < -22 || n.exp > 22 {
		return n.floatSlow()
	}
	// Both operands are exact, so one rounding gives the correctly rounded
	// result (Clinger's fast path).
	f := float64(n.mant)
	if n.exp < 0 {
		f /= pow10[-n.exp&31]
	} else {
		f *= pow10[n.exp&31]
	}
	if n.neg {
		f = -f
	}
	return f, true
}

func (n Number) floatSlow() (float64, bool) {
	f, err := strconv.ParseFloat(UnsafeString(n.Raw), 64)
	return f, err == nil
}

var pow10 = [32]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// Int returns the number as an int64 if its value is an integer that fits,
// whatever its notation ("42", "4.2e1" and "42.0" all give 42).
func (n Number) Int() (int64, bool) {
	if n.trunc {
		return 0, false
	}
	m, e := n.mant, n.exp
	if m == 0 {
		return 0, true
	}
	for ; e > 0; e-- {
		if m > (1<<64-1)/10 {
			return 0, false
		}
		m *= 10
	}
	for ; e < 0; e++ {
		if m%10 != 0 {
			return 0, false
		}
		m /= 10
	}
	if n.neg {
		if m > 1<<63 {
			return 0, false
		}
		return -int64(m), true
	}
	if m > 1<<63-1 {
		return 0, false
	}
	return int64(m), true
}

// Scaled returns the number times 10^k as an int64, rounded half away
// from zero, computed exactly from the decimal digits (so 1700000000000.5
// milliseconds is exactly 1700000000000500000 nanoseconds with k=6). ok is
// false if the result does not fit an int64 or the number has more than 19
// significant digits.
func (n Number) Scaled(k int) (int64, bool) {
	if n.trunc || k > 1000 || k < -1000 {
		return 0, false
	}
	m, e := n.mant, int(n.exp)+k
	if m == 0 {
		return 0, true
	}
	for ; e > 0; e-- {
		if m > (1<<64-1)/10 {
			return 0, false
		}
		m *= 10
	}
	if e < -20 {
		return 0, true // below 0.5 for any 19-digit mantissa
	}
	var last uint64
	for ; e < 0; e++ {
		last = m % 10
		m /= 10
	}
	if last >= 5 {
		m++
	}
	if n.neg {
		if m > 1<<63 {
			return 0, false
		}
		return -int64(m), true
	}
	if m > 1<<63-1 {
		return 0, false
	}
	return int64(m), true
}

// IsInt reports whether the number was written as an integer: no fraction
// and no exponent.
func (n Number) IsInt() bool {
	for _, c := range n.Raw {
		if c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}

// ParseNumber parses b, which must be exactly one JSON number (no
// surrounding space). Errors are *Error values with offsets within b.
func ParseNumber(b []byte) (Number, error) {
	n, end, msg := scanNumber(b, 0)
	if msg == "" && end != len(b) {
		msg = "invalid number"
	}
	if msg != "" {
		return Number{}, newError(b, end, msg)
	}
	return n, nil
}

// scanNumber reads the number at data[i]. It returns the number and the
// offset after it, or an error message and the offset of the problem.
func scanNumber(data []byte, i int) (n Number, end int, msg string) {
	start := i
	if i < len(data) && data[i] == '-' {
		n.neg = true
		i++
	}
	if i >= len(data) {
		return n, i, "unexpected end of input in number"
	}
	var mant uint64
	var exp int32
	nd := 0 // significant digits taken into mant
	switch c := data[i]; {
	case c == '0':
		i++
	case c >= '1' && c <= '9':
		for ; i < len(data); i++ {
			c := data[i]
			if c < '0' || c > '9' {
				break
			}
			if nd < maxMantDigits {
				mant = mant*10 + uint64(c-'0')
				nd++
			} else {
				n.trunc = n.trunc || c != '0'
				exp++
			}
		}
	default:
		return n, i, "expected a digit, found " + quoteByte(c)
	}
	if i < len(data) && data[i] == '.' {
		i++
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			return n, i, "expected a digit after '.' in number"
		}
		for ; i < len(data); i++ {
			c := data[i]
			if c < '0' || c > '9' {
				break
			}
			if mant == 0 && c == '0' {
				exp-- // leading zero of the fraction
				continue
			}
			if nd < maxMantDigits {
				mant = mant*10 + uint64(c-'0')
				nd++
				exp--
			} else if c != '0' {
				n.trunc = true
			}
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		eneg := false
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			eneg = data[i] == '-'
			i++
		}
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			return n, i, "expected a digit in number exponent"
		}
		var e int32
		for ; i < len(data); i++ {
			c := data[i]
			if c < '0' || c > '9' {
				break
			}
			if e < 100000 {
				e = e*10 + int32(c-'0')
			}
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	if i < len(data) {
		if c := data[i]; c == '.' || c == '+' || c == '-' || isIdentByte(c) {
			return n, i, "invalid character " + quoteByte(c) + " in number"
		}
	}
	n.Raw = data[start:i:i]
	n.mant, n.exp = mant, exp
	return n, i, ""
}
