package plugins

import (
	"encoding/binary"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/lakegate/lakegate/arrowstore/rows"
)

// ABI v1 constants (sdk-plugin/ABI.md). They are repeated here rather than
// imported from the guest SDK so that the host's reading of the ABI is
// checked against the SDK's by the tests that run real modules.
const (
	abiVersion       = 1
	inputHeaderSize  = 20
	outputHeaderSize = 12
	rowHeaderSize    = 13

	flagRetain     = 1 << 0
	flagCheckRoute = 1 << 1
	rowHasTime     = 1 << 0

	statusOK        = 0
	statusMalformed = 1
	statusFailed    = 2
	statusLimit     = 3

	maxErrorText = 1024
)

// inputSize returns the encoded size of one input.
func inputSize(msg *rows.Message, route *Route, check bool) int {
	n := inputHeaderSize + 4*4 + len(msg.Topic) + len(msg.ClientID) + len(msg.Username) + len(msg.ContentType)
	n += 4
	for _, p := range msg.UserProperties {
		n += 8 + len(p.Key) + len(p.Value)
	}
	n += 4 + len(route.Table) + 4
	for _, o := range route.Options {
		n += 8 + len(o.Key) + len(o.Value)
	}
	n += 4
	if !check {
		n += len(msg.Payload)
	}
	return n
}

// encodeInput writes one input into b, which has exactly inputSize bytes
// (it is a view of guest memory: nothing is allocated).
func encodeInput(b []byte, msg *rows.Message, route *Route, received int64, check bool, l *Limits) {
	var flags byte
	if msg.Retain {
		flags |= flagRetain
	}
	if check {
		flags |= flagCheckRoute
	}
	b[0], b[1], b[2], b[3] = abiVersion, flags, msg.QoS, msg.ProtocolVersion
	le := binary.LittleEndian
	le.PutUint64(b[4:], uint64(received))
	le.PutUint32(b[12:], uint32(l.MaxRows))
	le.PutUint32(b[16:], uint32(l.MaxOutputBytes))
	off := inputHeaderSize
	str := func(s string) {
		le.PutUint32(b[off:], uint32(len(s)))
		n := copy(b[off+4:], s)
		if !utf8.ValidString(s) {
			validUTF8(b[off+4 : off+4+n])
		}
		off += 4 + n
	}
	str(msg.Topic)
	str(msg.ClientID)
	str(msg.Username)
	str(msg.ContentType)
	le.PutUint32(b[off:], uint32(len(msg.UserProperties)))
	off += 4
	for _, p := range msg.UserProperties {
		str(p.Key)
		str(p.Value)
	}
	str(route.Table)
	le.PutUint32(b[off:], uint32(len(route.Options)))
	off += 4
	for _, o := range route.Options {
		str(o.Key)
		str(o.Value)
	}
	if check {
		str("")
	} else {
		le.PutUint32(b[off:], uint32(len(msg.Payload)))
		copy(b[off+4:], msg.Payload)
	}
}

// validUTF8 replaces, in place, each byte of b that is not part of a
// valid UTF-8 sequence with '?': the ABI promises guests UTF-8 strings
// (ABI.md, "Encodings"), and the length stays the same.
func validUTF8(b []byte) {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			b[i] = '?'
		}
		i += size
	}
}

// receivedNanos is the time given to rows without one of their own.
func receivedNanos(msg *rows.Message) int64 {
	if msg.Received.IsZero() {
		return time.Now().UnixNano()
	}
	return msg.Received.UnixNano()
}

// maxInterned bounds the names one instance keeps for reuse.
const maxInterned = 4096

// wholeCopyMax is the largest output whose string values share one copy
// of their bytes; larger outputs copy each string on its own so that a
// small string does not keep a large buffer alive.
const wholeCopyMax = 64 << 10

// decoder turns a guest's output into rows. It keeps the names it has seen
// (tables, columns) so that steady traffic does not allocate them again.
type decoder struct {
	names map[string]string
	// last holds the column names of the previous row by position: rows
	// nearly always repeat them, and comparing the bytes with the name at
	// the same position is cheaper than a map lookup.
	last []string
	// strs are the string values of the output being decoded, copied
	// together once it is read.
	strs []strValue
	// rowChunk and colChunk are fresh memory that outputs' rows and
	// columns are cut from, so that a message costs no allocation of its
	// own for them. A piece is handed out once and never reused: the rows
	// returned belong to the caller.
	rowChunk []rows.Row
	colChunk []rows.Column
	strChunk []byte // string values' bytes, the same way
}

// Chunk sizes, in rows and columns: one allocation serves about a hundred
// typical messages. An output larger than a quarter chunk gets its own.
const (
	rowChunkLen = 256
	colChunkLen = 1024
	strChunkLen = 16 << 10
)

// cut returns n zeroed elements from the front of *chunk, refilling it
// with a fresh chunk of size elements when it is too short.
func cut[T any](chunk *[]T, n, size int) []T {
	if n > size/4 {
		return make([]T, n)
	}
	if n > len(*chunk) {
		*chunk = make([]T, size)
	}
	s := (*chunk)[:n:n]
	*chunk = (*chunk)[n:]
	return s
}

// strValue is a string value in an output: its column (an index in the
// output's columns) and where its bytes are.
type strValue struct {
	col, off, n int
}

// maxLastColumns bounds decoder.last, and what decoder.strs keeps.
const maxLastColumns = 256

// column returns the name b of the i-th column of a row.
func (d *decoder) column(i int, b []byte) string {
	if i < len(d.last) && d.last[i] == string(b) {
		return d.last[i]
	}
	s := d.intern(b)
	switch {
	case i < len(d.last):
		d.last[i] = s
	case i == len(d.last) && i < maxLastColumns:
		d.last = append(d.last, s)
	}
	return s
}

func (d *decoder) intern(b []byte) string {
	if s, ok := d.names[string(b)]; ok {
		return s
	}
	s := string(b)
	if d.names == nil {
		d.names = make(map[string]string)
	}
	if len(d.names) < maxInterned {
		d.names[s] = s
	}
	return s
}

// outputError is a decoding failure: a reason and a text.
type outputError struct {
	reason Reason
	text   string
}

// decode reads an output buffer (status ok). Rows without a table get
// table; rows without a time get received.
func (d *decoder) decode(out []byte, table string, received int64, l *Limits) ([]rows.Row, *outputError) {
	bad := func(off int, what string) *outputError {
		return &outputError{ReasonBadOutput, "output encoding at offset " + strconv.Itoa(off) + ": " + what}
	}
	if len(out) < outputHeaderSize {
		return nil, bad(0, "short header")
	}
	le := binary.LittleEndian
	nrows := le.Uint32(out[4:])
	ncols := le.Uint32(out[8:])
	if uint64(nrows) > uint64(l.MaxRows) {
		return nil, &outputError{ReasonOutputLimit, strconv.FormatUint(uint64(nrows), 10) + " rows, more than the limit of " + strconv.Itoa(l.MaxRows)}
	}
	rest := uint64(len(out) - outputHeaderSize)
	if uint64(nrows)*rowHeaderSize+4*uint64(nrows) > rest || uint64(ncols)*5 > rest {
		return nil, bad(4, "row or column count larger than the output")
	}
	if nrows == 0 {
		if ncols != 0 || len(out) != outputHeaderSize {
			return nil, bad(outputHeaderSize, "data after zero rows")
		}
		return nil, nil
	}
	result := cut(&d.rowChunk, int(nrows), rowChunkLen)
	cols := cut(&d.colChunk, int(ncols), colChunkLen)
	d.strs = d.strs[:0]
	strBytes := 0
	off, ci := outputHeaderSize, uint32(0)
	for r := range result {
		if len(out)-off < rowHeaderSize+4 {
			return nil, bad(off, "short row header")
		}
		flags := out[off]
		t := int64(le.Uint64(out[off+1:]))
		n := le.Uint32(out[off+9:])
		tl := le.Uint32(out[off+13:])
		off += rowHeaderSize + 4
		if uint64(tl) > uint64(len(out)-off) {
			return nil, bad(off-4, "table name runs past the end")
		}
		row := &result[r]
		if tl == 0 {
			row.Table = table
		} else {
			row.Table = d.intern(out[off : off+int(tl)])
			off += int(tl)
		}
		if flags&rowHasTime != 0 {
			row.Time = t
		} else {
			row.Time = received
		}
		if n > ncols-ci {
			return nil, bad(off, "more columns than the header says")
		}
		first := int(ci) // of rc in cols
		rc := cols[ci : ci+n : ci+n]
		ci += n
		for c := range rc {
			if len(out)-off < 5 {
				return nil, bad(off, "short column")
			}
			kind := rows.Kind(out[off])
			nl := le.Uint32(out[off+1:])
			off += 5
			if uint64(nl) > uint64(len(out)-off) {
				return nil, bad(off-4, "column name runs past the end")
			}
			col := &rc[c]
			col.Name = d.column(c, out[off:off+int(nl)])
			off += int(nl)
			col.Value.Kind = kind
			switch kind {
			case rows.KindNull:
			case rows.KindInt64, rows.KindTimestamp, rows.KindFloat64:
				if len(out)-off < 8 {
					return nil, bad(off, "short value")
				}
				v := le.Uint64(out[off:])
				off += 8
				if kind == rows.KindFloat64 {
					col.Value.Float = math.Float64frombits(v)
				} else {
					col.Value.Int = int64(v)
				}
			case rows.KindBool:
				if len(out)-off < 1 {
					return nil, bad(off, "short value")
				}
				if out[off] != 0 {
					col.Value.Int = 1
				}
				off++
			case rows.KindString, rows.KindBytes:
				if len(out)-off < 4 {
					return nil, bad(off, "short value")
				}
				vl := le.Uint32(out[off:])
				off += 4
				if uint64(vl) > uint64(len(out)-off) {
					return nil, bad(off-4, "value runs past the end")
				}
				v := out[off : off+int(vl)]
				switch {
				case kind == rows.KindBytes:
					col.Value.Bytes = append([]byte(nil), v...)
				case len(out) > wholeCopyMax:
					col.Value.Str = string(v)
				case vl > 0:
					d.strs = append(d.strs, strValue{col: first + c, off: off, n: int(vl)})
					strBytes += int(vl)
				}
				off += int(vl)
			default:
				return nil, bad(off-5-int(nl), "unknown kind "+strconv.Itoa(int(kind)))
			}
		}
		row.Columns = rc
	}
	if ci != ncols {
		return nil, bad(8, "fewer columns than the header says")
	}
	if off != len(out) {
		return nil, bad(off, "trailing bytes")
	}
	if len(d.strs) > 0 {
		d.setStrings(cols, out, strBytes)
	}
	return result, nil
}

// setStrings gives the string values listed in d.strs, size bytes in all,
// copies of their bytes in the decoder's string chunk.
func (d *decoder) setStrings(cols []rows.Column, out []byte, size int) {
	if size > len(d.strChunk) {
		d.strChunk = make([]byte, max(size, strChunkLen))
	}
	for _, v := range d.strs {
		n := copy(d.strChunk, out[v.off:v.off+v.n])
		// The chunk's bytes are written once, here, and never again: a
		// string may point into them.
		cols[v.col].Value.Str = unsafe.String(&d.strChunk[0], n)
		d.strChunk = d.strChunk[n:]
	}
	d.strs = d.strs[:0]
	if cap(d.strs) > maxLastColumns {
		d.strs = nil // an unusually large output
	}
}

// errorText returns a guest's error text, cut to maxErrorText bytes.
func errorText(out []byte) string {
	t := out[1:]
	if len(t) > maxErrorText {
		t = t[:maxErrorText]
	}
	return string(t)
}
