package jsonscan

// Error is a syntax or content error at a position in the input.
type Error struct {
	Offset int // byte offset from the start of the input
	Line   int // 1-based line
	Col    int // 1-based column, in bytes
	Msg    string
}

// Error returns "line L col C: message".
func (e *Error) Error() string {
	return "line " + itoa(e.Line) + " col " + itoa(e.Col) + ": " + e.Msg
}

// ErrorAt returns an *Error for byte offset off of the input with the given
// message. Formatters use it to report content errors (a value of the wrong
// type, say) at the value's position.
func (s *Scanner) ErrorAt(off int, msg string) error {
	return newError(s.data, off, msg)
}

func newError(data []byte, off int, msg string) *Error {
	if off > len(data) {
		off = len(data)
	}
	if off < 0 {
		off = 0
	}
	line, col := lineCol(data, off)
	return &Error{Offset: off, Line: line, Col: col, Msg: msg}
}

func lineCol(data []byte, off int) (line, col int) {
	line, lineStart := 1, 0
	for i := 0; i < off; i++ {
		if data[i] == '\n' {
			line++
			lineStart = i + 1
		}
	}
	return line, off - lineStart + 1
}

// where describes an offset as "line L col C".
func (s *Scanner) where(off int) string {
	line, col := lineCol(s.data, off)
	return "line " + itoa(line) + " col " + itoa(col)
}

// quoteByte describes a byte for an error message.
func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		if c == '\'' {
			return `"'"`
		}
		return "'" + string(rune(c)) + "'"
	}
	const hex = "0123456789abcdef"
	return "byte 0x" + string([]byte{hex[c>>4], hex[c&15]})
}

func itoa(v int) string {
	if v == 0 {
		return "0"
	}
	neg := v < 0
	u := uint64(v)
	if neg {
		u = uint64(-v)
	}
	var b [21]byte
	i := len(b)
	for u > 0 {
		i--
		b[i] = byte('0' + u%10)
		u /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
