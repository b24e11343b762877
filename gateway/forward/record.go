package forward

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Framing of one outbox record in a segment file, integers little-endian:
//
//	u32 length of body
//	u32 CRC-32C (Castagnoli) of body
//	body:
//	  u64 seq
//	  u8  QoS (0 or 1)
//	  uvarint topic length, topic bytes
//	  payload bytes (the rest of the body)
const recordHeaderLen = 8

// MaxRecordSize is the largest record body; a length field above it is
// corruption, not a reason to allocate. MQTT caps a PUBLISH at 256 MiB.
const MaxRecordSize = 256 << 20

var (
	// ErrTruncated: the bytes end inside a record (a torn tail after a crash).
	ErrTruncated = errors.New("forward: truncated outbox record")
	// ErrCorrupt: a record that cannot be what the outbox wrote.
	ErrCorrupt = errors.New("forward: corrupt outbox record")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Item is one message to send upstream: where to, what, and how.
type Item struct {
	Topic   string
	Payload []byte
	QoS     byte // 0 or 1
}

// Entry is an Item with its place in the outbox.
type Entry struct {
	Seq uint64
	Item
}

// appendRecord appends the framed record of it with seq to dst.
func appendRecord(dst []byte, seq uint64, it Item) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, recordHeaderLen)...)
	dst = binary.LittleEndian.AppendUint64(dst, seq)
	dst = append(dst, it.QoS)
	dst = binary.AppendUvarint(dst, uint64(len(it.Topic)))
	dst = append(dst, it.Topic...)
	dst = append(dst, it.Payload...)
	body := dst[start+recordHeaderLen:]
	if len(body) > MaxRecordSize {
		return dst[:start], fmt.Errorf("encoding outbox record: %d bytes, limit %d", len(body), MaxRecordSize)
	}
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(body)))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(body, castagnoli))
	return dst, nil
}

// decodeRecord decodes the framed record at the start of b, returning it
// and the bytes it took. The entry does not alias b. Damage wraps
// ErrTruncated (b ends inside the record) or ErrCorrupt.
func decodeRecord(b []byte) (Entry, int, error) {
	if len(b) < recordHeaderLen {
		return Entry{}, 0, fmt.Errorf("%w: %d bytes left, header needs %d", ErrTruncated, len(b), recordHeaderLen)
	}
	size := binary.LittleEndian.Uint32(b)
	if size > MaxRecordSize {
		return Entry{}, 0, fmt.Errorf("%w: length %d over limit %d", ErrCorrupt, size, MaxRecordSize)
	}
	end := recordHeaderLen + int(size)
	if len(b) < end {
		return Entry{}, 0, fmt.Errorf("%w: body of %d bytes, %d present", ErrTruncated, size, len(b)-recordHeaderLen)
	}
	body := b[recordHeaderLen:end]
	if got, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(b[4:]); got != want {
		return Entry{}, 0, fmt.Errorf("%w: checksum %08x, want %08x", ErrCorrupt, got, want)
	}
	e, err := decodeBody(body)
	if err != nil {
		return Entry{}, 0, err
	}
	return e, end, nil
}

// decodeBody decodes a record body (without its frame).
func decodeBody(body []byte) (Entry, error) {
	if len(body) < 10 {
		return Entry{}, fmt.Errorf("%w: body of %d bytes, at least 10 needed", ErrCorrupt, len(body))
	}
	var e Entry
	e.Seq = binary.LittleEndian.Uint64(body)
	e.QoS = body[8]
	if e.QoS > 1 {
		return Entry{}, fmt.Errorf("%w: QoS %d", ErrCorrupt, e.QoS)
	}
	rest := body[9:]
	n, k := binary.Uvarint(rest)
	if k <= 0 || n > uint64(len(rest)-k) {
		return Entry{}, fmt.Errorf("%w: bad topic length", ErrCorrupt)
	}
	rest = rest[k:]
	e.Topic = string(rest[:n])
	e.Payload = append([]byte{}, rest[n:]...)
	return e, nil
}
