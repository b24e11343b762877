// Package wal is arrowstore's write-ahead log: the byte format of one log
// record, and the segment files that hold records until the rows in them
// are safe in Parquet files.
//
// A record is one Write of the store: a sequence number and the rows that
// were accepted, already normalized to the table's column types. The format
// is described in arrowstore/README.md ("Write-ahead log") and below.
package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/lakegate/lakegate/arrowstore/rows"
)

// Framing of one record in a segment file, all integers little-endian:
//
//	u32 length of payload
//	u32 CRC-32C (Castagnoli) of payload
//	payload:
//	  u64 seq
//	  uvarint row count
//	  per row:
//	    uvarint len, table name bytes
//	    varint (zigzag) time, unix ns
//	    uvarint column count
//	    per column:
//	      uvarint len, column name bytes
//	      u8 kind (rows.Kind numbering)
//	      value: null -> nothing; int64, timestamp -> varint (zigzag);
//	             float64 -> u64 IEEE-754 bits; bool -> u8 0 or 1;
//	             string, bytes -> uvarint len, bytes
const headerLen = 8

// MaxRecordSize is the largest payload one record may have. A length field
// above it is taken as corruption, not as a reason to allocate.
const MaxRecordSize = 128 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	// ErrTruncated reports a record cut short: the buffer ends before the
	// length field or the payload it announces. At the tail of the log this
	// is what a crash in the middle of a write leaves behind.
	ErrTruncated = errors.New("wal: truncated record")
	// ErrCorrupt reports a record whose checksum or content is wrong.
	ErrCorrupt = errors.New("wal: corrupt record")
	// ErrTooLarge reports a Write whose encoded rows exceed MaxRecordSize.
	ErrTooLarge = errors.New("wal: record too large")
)

// AppendRecord appends the framed record for (seq, rs) to dst and returns
// the extended slice.
func AppendRecord(dst []byte, seq uint64, rs []rows.Row) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, headerLen)...)
	dst = binary.LittleEndian.AppendUint64(dst, seq)
	dst = binary.AppendUvarint(dst, uint64(len(rs)))
	for i := range rs {
		r := &rs[i]
		dst = appendString(dst, r.Table)
		dst = binary.AppendVarint(dst, r.Time)
		dst = binary.AppendUvarint(dst, uint64(len(r.Columns)))
		for j := range r.Columns {
			c := &r.Columns[j]
			dst = appendString(dst, c.Name)
			dst = append(dst, byte(c.Value.Kind))
			switch c.Value.Kind {
			case rows.KindNull:
			case rows.KindInt64, rows.KindTimestamp:
				dst = binary.AppendVarint(dst, c.Value.Int)
			case rows.KindFloat64:
				dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(c.Value.Float))
			case rows.KindBool:
				if c.Value.Int != 0 {
					dst = append(dst, 1)
				} else {
					dst = append(dst, 0)
				}
			case rows.KindString:
				dst = appendString(dst, c.Value.Str)
			case rows.KindBytes:
				dst = binary.AppendUvarint(dst, uint64(len(c.Value.Bytes)))
				dst = append(dst, c.Value.Bytes...)
			default:
				return dst[:start], fmt.Errorf("encoding column %q: unknown kind %d", c.Name, c.Value.Kind)
			}
		}
	}
	payload := dst[start+headerLen:]
	if len(payload) > MaxRecordSize {
		return dst[:start], fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(payload), MaxRecordSize)
	}
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(dst[start+4:], crcOf(payload))
	return dst, nil
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// DecodeRecord decodes the framed record at the start of b. It returns the
// record's sequence number, its rows and the number of bytes it took. The
// rows do not alias b. An empty b gives ErrTruncated with n == 0.
func DecodeRecord(b []byte) (seq uint64, rs []rows.Row, n int, err error) {
	if len(b) < headerLen {
		return 0, nil, 0, fmt.Errorf("%w: %d bytes left, header needs %d", ErrTruncated, len(b), headerLen)
	}
	size := binary.LittleEndian.Uint32(b)
	sum := binary.LittleEndian.Uint32(b[4:])
	if size > MaxRecordSize {
		return 0, nil, 0, fmt.Errorf("%w: length %d over limit %d", ErrCorrupt, size, MaxRecordSize)
	}
	end := headerLen + int(size)
	if len(b) < end {
		return 0, nil, 0, fmt.Errorf("%w: payload of %d bytes, %d present", ErrTruncated, size, len(b)-headerLen)
	}
	payload := b[headerLen:end]
	if got := crcOf(payload); got != sum {
		return 0, nil, 0, fmt.Errorf("%w: checksum %08x, want %08x", ErrCorrupt, got, sum)
	}
	seq, rs, err = DecodePayload(payload)
	if err != nil {
		return 0, nil, 0, err
	}
	return seq, rs, end, nil
}

// DecodePayload decodes a record payload (without its frame). Any payload
// that is not exactly one well-formed encoding gives an error wrapping
// ErrCorrupt.
func DecodePayload(p []byte) (uint64, []rows.Row, error) {
	d := decoder{b: p}
	seq := d.u64()
	nrows := d.count(3) // a row takes at least 3 bytes
	var rs []rows.Row
	if d.err == nil {
		rs = make([]rows.Row, 0, nrows)
	}
	for i := 0; i < nrows && d.err == nil; i++ {
		var r rows.Row
		r.Table = d.str()
		r.Time = d.varint()
		ncols := d.count(3) // a column takes at least 3 bytes
		if d.err != nil {
			break
		}
		if ncols > 0 {
			r.Columns = make([]rows.Column, ncols)
		}
		for j := 0; j < ncols && d.err == nil; j++ {
			c := &r.Columns[j]
			c.Name = d.str()
			c.Value.Kind = rows.Kind(d.u8())
			switch c.Value.Kind {
			case rows.KindNull:
			case rows.KindInt64, rows.KindTimestamp:
				c.Value.Int = d.varint()
			case rows.KindFloat64:
				c.Value.Float = math.Float64frombits(d.u64())
			case rows.KindBool:
				switch d.u8() {
				case 0:
				case 1:
					c.Value.Int = 1
				default:
					d.fail("bool value not 0 or 1")
				}
			case rows.KindString:
				c.Value.Str = d.str()
			case rows.KindBytes:
				c.Value.Bytes = d.bytes()
			default:
				d.fail(fmt.Sprintf("unknown kind %d", c.Value.Kind))
			}
		}
		rs = append(rs, r)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail(fmt.Sprintf("%d trailing bytes", len(d.b)))
	}
	if d.err != nil {
		return 0, nil, d.err
	}
	return seq, rs, nil
}

// decoder reads from b, remembering the first error; after an error every
// read returns a zero value.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) u8() byte {
	if len(d.b) < 1 {
		d.fail("short byte")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) u64() uint64 {
	if len(d.b) < 8 {
		d.fail("short u64")
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads an element count and checks that the rest of the buffer can
// hold that many elements of at least min bytes each, so a corrupt count
// cannot make the decoder allocate more than the buffer's size.
func (d *decoder) count(min int) int {
	v := d.uvarint()
	if d.err != nil {
		return 0
	}
	if v > uint64(len(d.b)/min) {
		d.fail(fmt.Sprintf("count %d does not fit in %d bytes", v, len(d.b)))
		return 0
	}
	return int(v)
}

func (d *decoder) raw() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail(fmt.Sprintf("length %d past end (%d left)", n, len(d.b)))
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string { return string(d.raw()) }

func (d *decoder) bytes() []byte {
	v := d.raw()
	if v == nil {
		return nil
	}
	return append([]byte(nil), v...)
}

func crcOf(p []byte) uint32 { return crc32.Checksum(p, castagnoli) }
