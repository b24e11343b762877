package sdk

import "math"

// Output collects the rows a handler makes of one message. It appends
// straight into one buffer that is reused for every message, so adding rows
// and columns does not allocate once the buffer has grown to the size of a
// typical output.
//
// A row is started with Row or BeginRow; column methods add to the current
// row. Column methods called before any row start one in the route's table.
type Output struct {
	buf      []byte
	rows     uint32
	cols     uint32
	rowAt    int // offset of the current row's header, -1 if none
	rowCols  uint32
	maxRows  uint32
	maxBytes uint32
	over     uint8 // 0, overRows or overBytes
}

const (
	overRows  = 1
	overBytes = 2
)

func (o *Output) reset(maxRows, maxBytes uint32) {
	if cap(o.buf) < OutputHeaderSize {
		o.buf = make([]byte, OutputHeaderSize, 4096)
	}
	o.buf = o.buf[:OutputHeaderSize]
	for i := range o.buf {
		o.buf[i] = 0
	}
	o.rows, o.cols, o.rowCols = 0, 0, 0
	o.rowAt = -1
	o.maxRows, o.maxBytes = maxRows, maxBytes
	o.over = 0
}

// Row starts a new row bound for table ("" means the route's table). The row
// has no time of its own (the host uses the message's receive time) until
// Time is called.
func (o *Output) Row(table string) {
	o.begin(table, 0, false)
}

// BeginRow starts a new row in the route's table with the given time in
// unix nanoseconds.
func (o *Output) BeginRow(timeNanos int64) {
	o.begin("", timeNanos, true)
}

// Time sets the time of the current row in unix nanoseconds, replacing any
// earlier one. Formats that carry the time after other fields use it.
func (o *Output) Time(timeNanos int64) {
	if o.rowAt < 0 {
		o.Row("")
	}
	if o.over != 0 {
		return
	}
	o.buf[o.rowAt] |= RowHasTime
	put64(o.buf[o.rowAt+1:], uint64(timeNanos))
}

// ClearTime removes the current row's own time: the host will use the
// receive time.
func (o *Output) ClearTime() {
	if o.rowAt < 0 || o.over != 0 {
		return
	}
	o.buf[o.rowAt] &^= RowHasTime
	put64(o.buf[o.rowAt+1:], 0)
}

// Mark is a position in an Output to rewind to.
type Mark struct {
	n, rowAt            int
	rows, cols, rowCols uint32
	over                uint8
}

// Mark returns the current position, for Rewind.
func (o *Output) Mark() Mark {
	return Mark{n: len(o.buf), rowAt: o.rowAt, rows: o.rows, cols: o.cols, rowCols: o.rowCols, over: o.over}
}

// Rewind drops every row and column added since m was taken. Formatters
// use it to give up a fast path and read the input again another way.
func (o *Output) Rewind(m Mark) {
	if m.n <= len(o.buf) {
		o.buf = o.buf[:m.n]
	}
	o.rowAt, o.rows, o.cols, o.rowCols, o.over = m.rowAt, m.rows, m.cols, m.rowCols, m.over
}

// Rows reports how many rows were started so far.
func (o *Output) Rows() int { return int(o.rows) }

// RowColumns reports how many columns the current row has so far.
func (o *Output) RowColumns() int { return int(o.rowCols) }

// Len reports the encoded size so far in bytes.
func (o *Output) Len() int { return len(o.buf) }

// Over reports whether the output broke the limits the host passed in
// (rows or bytes); once it has, further rows and columns are dropped and
// the host receives a limit status instead of rows.
func (o *Output) Over() bool { return o.over != 0 }

func (o *Output) begin(table string, t int64, hasTime bool) {
	if o.over != 0 {
		return
	}
	o.finishRow()
	if o.maxRows != 0 && o.rows >= o.maxRows {
		o.over = overRows
		return
	}
	o.checkBytes()
	if o.over != 0 {
		return
	}
	o.rowAt = len(o.buf)
	var flags byte
	if hasTime {
		flags = RowHasTime
	}
	o.buf = append(o.buf, flags)
	o.buf = append64(o.buf, uint64(t))
	o.buf = append32(o.buf, 0)
	o.buf = append32(o.buf, uint32(len(table)))
	o.buf = append(o.buf, table...)
	o.rows++
}

func (o *Output) finishRow() {
	if o.rowAt >= 0 {
		put32(o.buf[o.rowAt+9:], o.rowCols)
		o.cols += o.rowCols
		o.rowCols = 0
	}
}

func (o *Output) checkBytes() {
	if o.maxBytes != 0 && uint64(len(o.buf)) > uint64(o.maxBytes) {
		o.over = overBytes
	}
}

// colAt reserves room for a column of the given kind, name and value size
// at the end of the buffer, writes its kind and name and returns the buffer
// and the offset of the value; ok is false if the column is dropped.
// Everything is written in place, without calls to append or memmove,
// because calls cost much more than the work in wasm.
func (o *Output) colAt(kind Kind, name string, size int) (b []byte, at int, ok bool) {
	if o.rowAt < 0 {
		o.Row("")
	}
	if o.over != 0 {
		return nil, 0, false
	}
	b = o.buf
	n := len(b)
	need := 5 + len(name) + size
	if cap(b)-n < need {
		b = o.grow(need)
	}
	b = b[:n+need]
	b[n] = byte(kind)
	put32(b[n+1:], uint32(len(name)))
	at = n + 5
	if len(name) <= 32 {
		for i := 0; i < len(name); i++ {
			b[at+i] = name[i]
		}
	} else {
		copy(b[at:], name)
	}
	o.buf = b
	o.rowCols++
	return b, at + len(name), true
}

// grow makes room for need more bytes.
func (o *Output) grow(need int) []byte {
	nb := make([]byte, len(o.buf), 2*cap(o.buf)+need)
	copy(nb, o.buf)
	o.buf = nb
	return nb
}

// Null adds a null column.
func (o *Output) Null(name string) {
	o.colAt(KindNull, name, 0)
}

// Int adds an int64 column.
func (o *Output) Int(name string, v int64) {
	if b, at, ok := o.colAt(KindInt64, name, 8); ok {
		put64(b[at:], uint64(v))
	}
}

// Float adds a float64 column.
func (o *Output) Float(name string, v float64) {
	if b, at, ok := o.colAt(KindFloat64, name, 8); ok {
		put64(b[at:], math.Float64bits(v))
	}
}

// Bool adds a bool column.
func (o *Output) Bool(name string, v bool) {
	if b, at, ok := o.colAt(KindBool, name, 1); ok {
		if v {
			b[at] = 1
		} else {
			b[at] = 0
		}
	}
}

// Timestamp adds a timestamp column in unix nanoseconds.
func (o *Output) Timestamp(name string, unixNanos int64) {
	if b, at, ok := o.colAt(KindTimestamp, name, 8); ok {
		put64(b[at:], uint64(unixNanos))
	}
}

// String adds a string column.
func (o *Output) String(name, v string) {
	if b, at, ok := o.colAt(KindString, name, 4+len(v)); ok {
		put32(b[at:], uint32(len(v)))
		copyShort(b[at+4:], v)
		o.checkBytes()
	}
}

// StringBytes adds a string column from bytes, without converting them to
// a string first.
func (o *Output) StringBytes(name string, v []byte) {
	if b, at, ok := o.colAt(KindString, name, 4+len(v)); ok {
		put32(b[at:], uint32(len(v)))
		copyShort(b[at+4:], unsafeString(v))
		o.checkBytes()
	}
}

// Bytes adds a bytes column.
func (o *Output) Bytes(name string, v []byte) {
	if b, at, ok := o.colAt(KindBytes, name, 4+len(v)); ok {
		put32(b[at:], uint32(len(v)))
		copyShort(b[at+4:], unsafeString(v))
		o.checkBytes()
	}
}

// copyShort copies s to the start of dst, by hand when it is short.
func copyShort(dst []byte, s string) {
	if len(s) <= 32 {
		for i := 0; i < len(s); i++ {
			dst[i] = s[i]
		}
		return
	}
	copy(dst, s)
}

// finish patches the counts and returns the encoded rows.
func (o *Output) finish() []byte {
	o.finishRow()
	o.rowAt = -1
	o.checkBytes()
	o.buf[0] = byte(StatusOK)
	put32(o.buf[4:], o.rows)
	put32(o.buf[8:], o.cols)
	return o.buf
}

// fail replaces the output with an error status and text.
func (o *Output) fail(s Status, text string) []byte {
	o.buf = append(o.buf[:0], byte(s))
	if len(text) > maxErrorText {
		text = text[:maxErrorText]
	}
	o.buf = append(o.buf, text...)
	return o.buf
}

// maxErrorText is the longest error text handed to the host (ABI.md, "Limits").
const maxErrorText = 1024
