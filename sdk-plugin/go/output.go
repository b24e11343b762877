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

// col starts a column: kind and name. It reports false if the column is dropped.
func (o *Output) col(kind Kind, name string) bool {
	if o.rowAt < 0 {
		o.Row("")
	}
	if o.over != 0 {
		return false
	}
	o.buf = append(o.buf, byte(kind))
	o.buf = append32(o.buf, uint32(len(name)))
	o.buf = append(o.buf, name...)
	o.rowCols++
	return true
}

// Null adds a null column.
func (o *Output) Null(name string) {
	if o.col(KindNull, name) {
		o.checkBytes()
	}
}

// Int adds an int64 column.
func (o *Output) Int(name string, v int64) {
	if o.col(KindInt64, name) {
		o.buf = append64(o.buf, uint64(v))
		o.checkBytes()
	}
}

// Float adds a float64 column.
func (o *Output) Float(name string, v float64) {
	if o.col(KindFloat64, name) {
		o.buf = append64(o.buf, math.Float64bits(v))
		o.checkBytes()
	}
}

// Bool adds a bool column.
func (o *Output) Bool(name string, v bool) {
	if o.col(KindBool, name) {
		var b byte
		if v {
			b = 1
		}
		o.buf = append(o.buf, b)
		o.checkBytes()
	}
}

// Timestamp adds a timestamp column in unix nanoseconds.
func (o *Output) Timestamp(name string, unixNanos int64) {
	if o.col(KindTimestamp, name) {
		o.buf = append64(o.buf, uint64(unixNanos))
		o.checkBytes()
	}
}

// String adds a string column.
func (o *Output) String(name, v string) {
	if o.col(KindString, name) {
		o.buf = append32(o.buf, uint32(len(v)))
		o.buf = append(o.buf, v...)
		o.checkBytes()
	}
}

// StringBytes adds a string column from bytes, without converting them to
// a string first.
func (o *Output) StringBytes(name string, v []byte) {
	if o.col(KindString, name) {
		o.buf = append32(o.buf, uint32(len(v)))
		o.buf = append(o.buf, v...)
		o.checkBytes()
	}
}

// Bytes adds a bytes column.
func (o *Output) Bytes(name string, v []byte) {
	if o.col(KindBytes, name) {
		o.buf = append32(o.buf, uint32(len(v)))
		o.buf = append(o.buf, v...)
		o.checkBytes()
	}
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
