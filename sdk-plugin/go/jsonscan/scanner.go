// Package jsonscan is a fast, allocation-light pull reader for JSON, made for
// lakegate plugins compiled to WebAssembly, where encoding/json costs
// several times more than the rest of a formatter.
//
// A Scanner walks one document (or a stream of documents) value by value:
// Peek tells the kind of the next value, and the caller reads it with
// BeginObject/NextKey, BeginArray/NextElem, String, Number, Bool, Null, or
// skips it with Skip or Raw. Strings without escapes are returned as slices
// of the input; strings with escapes are decoded into a buffer the Scanner
// reuses. Numbers are kept as their decimal mantissa and exponent, so
// integers come back exact and the common decimal forms convert to float64
// without strconv.
//
// Errors are *Error values carrying the byte offset, line and column of the
// problem and what was expected there.
//
// The scanner is strict RFC 8259 JSON: no comments, no trailing commas, no
// NaN or Infinity, strings must be valid UTF-8.
package jsonscan

import (
	"unicode/utf8"
	"unsafe"
)

// Kind is the kind of the next value.
type Kind uint8

// Value kinds returned by Peek.
const (
	KindEnd     Kind = iota // no more input (only whitespace left)
	KindObject              // '{'
	KindArray               // '['
	KindString              // '"'
	KindNumber              // '-' or a digit
	KindBool                // 't' or 'f'
	KindNull                // 'n'
	KindInvalid             // any other byte
)

var kindNames = [...]string{"end of input", "object", "array", "string", "number", "bool", "null", "invalid"}

// String returns the kind's name as used in error messages.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "invalid"
}

var kindOf = func() (t [256]Kind) {
	for i := range t {
		t[i] = KindInvalid
	}
	t['{'] = KindObject
	t['['] = KindArray
	t['"'] = KindString
	t['-'] = KindNumber
	for c := '0'; c <= '9'; c++ {
		t[c] = KindNumber
	}
	t['t'] = KindBool
	t['f'] = KindBool
	t['n'] = KindNull
	return t
}()

// DefaultMaxDepth is the nesting depth a Scanner accepts unless MaxDepth says otherwise.
const DefaultMaxDepth = 128

// Container state flags kept on the stack.
const (
	inArray  = 1 << 0
	hasElems = 1 << 1
)

// Scanner reads JSON values from a byte slice. The zero value is ready for
// Reset. A Scanner is not safe for concurrent use.
type Scanner struct {
	// MaxDepth limits the nesting of objects and arrays; 0 means DefaultMaxDepth.
	MaxDepth int

	data   []byte
	pos    int
	stack  []byte
	keyBuf []byte
	strBuf []byte
}

// Reset starts reading data from its beginning, keeping the buffers.
func (s *Scanner) Reset(data []byte) { s.ResetAt(data, 0) }

// ResetAt starts reading data at byte offset off; errors still report
// offsets, lines and columns within all of data.
func (s *Scanner) ResetAt(data []byte, off int) {
	s.data = data
	s.pos = off
	s.stack = s.stack[:0]
}

// Seek moves to byte offset off, keeping the open objects and arrays. It
// is for callers that read a value by themselves (a specialised fast path)
// and hand the rest back: off must be just after that value.
func (s *Scanner) Seek(off int) { s.pos = off }

// Data returns the input being read.
func (s *Scanner) Data() []byte { return s.data }

// Offset returns the current byte offset: just after the last value read,
// or at the next value once Peek has skipped whitespace.
func (s *Scanner) Offset() int { return s.pos }

// Depth returns how many objects and arrays are open.
func (s *Scanner) Depth() int { return len(s.stack) }

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

func (s *Scanner) skipSpace() {
	for s.pos < len(s.data) && isSpace(s.data[s.pos]) {
		s.pos++
	}
}

// Peek skips whitespace and returns the kind of the next value, or KindEnd.
// Inside an object or array, call it only where a value is expected (after
// NextKey or NextElem reported one).
func (s *Scanner) Peek() Kind {
	s.skipSpace()
	if s.pos >= len(s.data) {
		return KindEnd
	}
	return kindOf[s.data[s.pos]]
}

// AtEnd reports whether only whitespace is left.
func (s *Scanner) AtEnd() bool { return s.Peek() == KindEnd }

func (s *Scanner) push(flags byte) error {
	max := s.MaxDepth
	if max <= 0 {
		max = DefaultMaxDepth
	}
	if len(s.stack) >= max {
		return s.ErrorAt(s.pos, "nesting deeper than "+itoa(max))
	}
	s.stack = append(s.stack, flags)
	return nil
}

// BeginObject consumes the '{' of an object. Read its members with NextKey.
func (s *Scanner) BeginObject() error {
	s.skipSpace()
	if s.pos >= len(s.data) || s.data[s.pos] != '{' {
		return s.expected("'{'")
	}
	if err := s.push(0); err != nil {
		return err
	}
	s.pos++
	return nil
}

// NextKey moves to the next member of the innermost open object. It returns
// the member's key (decoded; valid until the next NextKey) and true, after
// which the caller must read or skip the member's value; or false once the
// closing '}' is consumed.
func (s *Scanner) NextKey() (key []byte, ok bool, err error) {
	top := len(s.stack) - 1
	if top < 0 || s.stack[top]&inArray != 0 {
		return nil, false, s.ErrorAt(s.pos, "NextKey called outside an object")
	}
	s.skipSpace()
	if s.pos >= len(s.data) {
		return nil, false, s.ErrorAt(s.pos, "unexpected end of input, expected '}'")
	}
	c := s.data[s.pos]
	if s.stack[top]&hasElems != 0 {
		switch c {
		case '}':
			s.pos++
			s.stack = s.stack[:top]
			return nil, false, nil
		case ',':
			s.pos++
			s.skipSpace()
			if s.pos >= len(s.data) || s.data[s.pos] != '"' {
				return nil, false, s.expected("object key string after ','")
			}
		default:
			return nil, false, s.expected("',' or '}' after object member")
		}
	} else {
		if c == '}' {
			s.pos++
			s.stack = s.stack[:top]
			return nil, false, nil
		}
		if c != '"' {
			return nil, false, s.expected("object key string or '}'")
		}
		s.stack[top] |= hasElems
	}
	// Fast path, inlined here because calls are dear in wasm: a plain
	// ASCII key followed directly by ':'.
	data := s.data
	start := s.pos + 1
	for i := start; i < len(data); i++ {
		c := data[i]
		if c == '"' {
			if i+1 < len(data) && data[i+1] == ':' {
				s.pos = i + 2
				return data[start:i:i], true, nil
			}
			break
		}
		if c == '\\' || c < 0x20 || c >= 0x80 {
			break
		}
	}
	key, err = s.readString(&s.keyBuf)
	if err != nil {
		return nil, false, err
	}
	s.skipSpace()
	if s.pos >= len(s.data) || s.data[s.pos] != ':' {
		return nil, false, s.expected("':' after object key")
	}
	s.pos++
	return key, true, nil
}

// BeginArray consumes the '[' of an array. Read its elements with NextElem.
func (s *Scanner) BeginArray() error {
	s.skipSpace()
	if s.pos >= len(s.data) || s.data[s.pos] != '[' {
		return s.expected("'['")
	}
	if err := s.push(inArray); err != nil {
		return err
	}
	s.pos++
	return nil
}

// NextElem moves to the next element of the innermost open array. It
// returns true if an element follows (which the caller must read or skip),
// or false once the closing ']' is consumed.
func (s *Scanner) NextElem() (bool, error) {
	top := len(s.stack) - 1
	if top < 0 || s.stack[top]&inArray == 0 {
		return false, s.ErrorAt(s.pos, "NextElem called outside an array")
	}
	s.skipSpace()
	if s.pos >= len(s.data) {
		return false, s.ErrorAt(s.pos, "unexpected end of input, expected ']'")
	}
	c := s.data[s.pos]
	if s.stack[top]&hasElems != 0 {
		switch c {
		case ']':
			s.pos++
			s.stack = s.stack[:top]
			return false, nil
		case ',':
			s.pos++
			s.skipSpace()
			if s.pos >= len(s.data) || s.data[s.pos] == ']' {
				return false, s.expected("a value after ','")
			}
			return true, nil
		default:
			return false, s.expected("',' or ']' after array element")
		}
	}
	if c == ']' {
		s.pos++
		s.stack = s.stack[:top]
		return false, nil
	}
	s.stack[top] |= hasElems
	return true, nil
}

// String reads a string value and returns it decoded. The bytes are a slice
// of the input when the string has no escapes, else of a buffer the Scanner
// reuses: either way they are valid until the next call to String.
func (s *Scanner) String() ([]byte, error) {
	s.skipSpace()
	data := s.data
	if s.pos >= len(data) || data[s.pos] != '"' {
		return nil, s.expected("a string")
	}
	start := s.pos + 1
	for i := start; i < len(data); i++ {
		c := data[i]
		if c == '"' {
			s.pos = i + 1
			return data[start:i:i], nil
		}
		if c == '\\' || c < 0x20 || c >= 0x80 {
			break
		}
	}
	return s.readString(&s.strBuf)
}

// readString reads the string starting at the '"' at s.pos.
func (s *Scanner) readString(buf *[]byte) ([]byte, error) {
	data := s.data
	start := s.pos + 1
	i := start
	// Fast path: plain ASCII without escapes.
	for ; i < len(data); i++ {
		c := data[i]
		if c == '"' {
			s.pos = i + 1
			return data[start:i:i], nil
		}
		if c == '\\' || c < 0x20 || c >= 0x80 {
			break
		}
	}
	var out []byte
	copied := start
	for i < len(data) {
		c := data[i]
		switch {
		case c == '"':
			s.pos = i + 1
			if out == nil {
				return data[start:i:i], nil
			}
			out = append(out, data[copied:i]...)
			*buf = out
			return out, nil
		case c == '\\':
			if out == nil {
				out = (*buf)[:0]
			}
			out = append(out, data[copied:i]...)
			n, err := s.unescape(&out, i)
			if err != nil {
				*buf = out
				return nil, err
			}
			i += n
			copied = i
		case c < 0x20:
			return nil, s.ErrorAt(i, "control character "+quoteByte(c)+" in string")
		case c < 0x80:
			i++
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size <= 1 {
				return nil, s.ErrorAt(i, "invalid UTF-8 in string")
			}
			i += size
		}
	}
	if out != nil {
		*buf = out
	}
	return nil, s.ErrorAt(len(data), "unexpected end of input in string starting at "+s.where(start-1))
}

// unescape decodes the escape at data[i] ('\\') onto out and returns its length.
func (s *Scanner) unescape(out *[]byte, i int) (int, error) {
	data := s.data
	if i+1 >= len(data) {
		return 0, s.ErrorAt(len(data), "unexpected end of input in string escape")
	}
	switch c := data[i+1]; c {
	case '"', '\\', '/':
		*out = append(*out, c)
	case 'b':
		*out = append(*out, '\b')
	case 'f':
		*out = append(*out, '\f')
	case 'n':
		*out = append(*out, '\n')
	case 'r':
		*out = append(*out, '\r')
	case 't':
		*out = append(*out, '\t')
	case 'u':
		r, ok := hex4(data, i+2)
		if !ok {
			return 0, s.ErrorAt(i, "invalid \\u escape, expected 4 hex digits")
		}
		n := 6
		if r >= 0xD800 && r < 0xDC00 {
			// A high surrogate must be followed by an escaped low one.
			if i+7 < len(data) && data[i+6] == '\\' && data[i+7] == 'u' {
				if r2, ok := hex4(data, i+8); ok && r2 >= 0xDC00 && r2 < 0xE000 {
					r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
					n = 12
				} else {
					r = utf8.RuneError
				}
			} else {
				r = utf8.RuneError
			}
		} else if r >= 0xDC00 && r < 0xE000 {
			r = utf8.RuneError
		}
		*out = utf8.AppendRune(*out, r)
		return n, nil
	default:
		return 0, s.ErrorAt(i, "invalid escape "+quoteByte(c)+" in string")
	}
	return 2, nil
}

func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// Number reads a number value.
func (s *Scanner) Number() (Number, error) {
	for s.pos < len(s.data) && isSpace(s.data[s.pos]) {
		s.pos++
	}
	n, end, msg := scanNumber(s.data, s.pos)
	if msg != "" {
		return Number{}, s.errorAt(end, msg)
	}
	s.pos = end
	return n, nil
}

// Float reads a number value as the nearest float64: Number followed by
// Number.Float in one call, for the common case.
func (s *Scanner) Float() (float64, error) {
	for s.pos < len(s.data) && isSpace(s.data[s.pos]) {
		s.pos++
	}
	start := s.pos
	n, end, msg := scanNumber(s.data, s.pos)
	if msg != "" {
		return 0, s.errorAt(end, msg)
	}
	s.pos = end
	if n.trunc || n.mant >= 1<<53 || n.exp < -22 || n.exp > 22 {
		f, ok := n.floatSlow()
		if !ok {
			return f, s.errorAt(start, "number "+string(n.Raw)+" is out of the float64 range")
		}
		return f, nil
	}
	f := float64(n.mant)
	if n.exp < 0 {
		f /= pow10[-n.exp&31]
	} else {
		f *= pow10[n.exp&31]
	}
	if n.neg {
		f = -f
	}
	return f, nil
}

// errorAt is ErrorAt kept out of line, so that its callers stay small
// enough to be inlined.
//
//go:noinline
func (s *Scanner) errorAt(off int, msg string) error { return newError(s.data, off, msg) }

// Bool reads true or false.
func (s *Scanner) Bool() (bool, error) {
	s.skipSpace()
	if s.literal("true") {
		return true, nil
	}
	if s.literal("false") {
		return false, nil
	}
	return false, s.expected("true or false")
}

// Null reads null.
func (s *Scanner) Null() error {
	s.skipSpace()
	if s.literal("null") {
		return nil
	}
	return s.expected("null")
}

func (s *Scanner) literal(lit string) bool {
	end := s.pos + len(lit)
	if end > len(s.data) || string(s.data[s.pos:end]) != lit {
		return false
	}
	if end < len(s.data) && isIdentByte(s.data[end]) {
		return false
	}
	s.pos = end
	return true
}

func isIdentByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// Skip reads and discards the next value, checking its syntax.
func (s *Scanner) Skip() error {
	switch s.Peek() {
	case KindObject:
		if err := s.BeginObject(); err != nil {
			return err
		}
		for {
			_, ok, err := s.NextKey()
			if err != nil {
				return err
			}
			if !ok {
				return nil
			}
			if err := s.Skip(); err != nil {
				return err
			}
		}
	case KindArray:
		if err := s.BeginArray(); err != nil {
			return err
		}
		for {
			ok, err := s.NextElem()
			if err != nil {
				return err
			}
			if !ok {
				return nil
			}
			if err := s.Skip(); err != nil {
				return err
			}
		}
	case KindString:
		return s.skipString()
	case KindNumber:
		_, err := s.Number()
		return err
	case KindBool:
		_, err := s.Bool()
		return err
	case KindNull:
		return s.Null()
	}
	return s.expected("a value")
}

// skipString checks and skips a string without decoding it.
func (s *Scanner) skipString() error {
	data := s.data
	for i := s.pos + 1; i < len(data); {
		c := data[i]
		switch {
		case c == '"':
			s.pos = i + 1
			return nil
		case c == '\\':
			var scratch [4]byte
			out := scratch[:0]
			n, err := s.unescape(&out, i)
			if err != nil {
				return err
			}
			i += n
		case c < 0x20:
			return s.ErrorAt(i, "control character "+quoteByte(c)+" in string")
		case c < 0x80:
			i++
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size <= 1 {
				return s.ErrorAt(i, "invalid UTF-8 in string")
			}
			i += size
		}
	}
	return s.ErrorAt(len(data), "unexpected end of input in string starting at "+s.where(s.pos))
}

// Raw reads and discards the next value and returns its JSON text, a slice
// of the input.
func (s *Scanner) Raw() ([]byte, error) {
	s.skipSpace()
	start := s.pos
	if err := s.Skip(); err != nil {
		return nil, err
	}
	return s.data[start:s.pos:s.pos], nil
}

// Expected returns an error at the current position (after whitespace)
// saying what was expected there and what was found, for callers that
// check the kind of a value themselves.
func (s *Scanner) Expected(what string) error {
	s.skipSpace()
	if s.pos < len(s.data) {
		switch k := kindOf[s.data[s.pos]]; k {
		case KindObject, KindArray:
			return s.ErrorAt(s.pos, "expected "+what+", found an "+k.String())
		case KindString, KindNumber, KindBool, KindNull:
			return s.ErrorAt(s.pos, "expected "+what+", found a "+k.String())
		}
	}
	return s.expected(what)
}

// expected returns an error at the current position saying what was
// expected and what was found.
func (s *Scanner) expected(what string) error {
	if s.pos >= len(s.data) {
		return s.ErrorAt(s.pos, "unexpected end of input, expected "+what)
	}
	return s.ErrorAt(s.pos, "expected "+what+", found "+quoteByte(s.data[s.pos]))
}

// UnsafeString returns b as a string without copying. The string is valid
// only while b is neither modified nor reused (for strings returned by a
// Scanner: until the next call that says it reuses its buffer).
func UnsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
