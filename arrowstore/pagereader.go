package arrowstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/metadata"
)

// chunkReader is a file.PageReader of one column chunk that reuses its
// memory: the chunk's bytes are read at once into a buffer kept across
// chunks (arrow's reader allocates one per chunk, copies each page's
// compressed bytes into another, and decompresses into a third), page
// headers are parsed here (thrift compact protocol, pageHeader), and each
// page is decompressed into a kept buffer too. A page is valid until Next:
// the direct columns copy what they keep (a dictionary) before moving on.
//
// Only for chunks without encryption, written by writers other than the
// old parquet-mr ones whose footers understate a chunk's size (those go
// through arrow's reader, which pads for it).
type chunkReader struct {
	chunk []byte // the chunk's bytes
	page  []byte // the current page, decompressed
	v2    []byte // scratch: a v2 page's values, decompressed
	pos   int    // offset in chunk of the next page header
	codec compress.Codec
	plain bool  // not compressed
	left  int64 // values the footer says are still to come
	cur   file.Page
	err   error
}

// keptChunkBytes bounds the buffers a chunkReader keeps between chunks.
const keptChunkBytes = 16 << 20

// ownPages reports whether chunkReader can read the column chunk cc.
func ownPages(md *metadata.FileMetaData, cc *metadata.ColumnChunkMetaData) bool {
	if cc.CryptoMetadata() != nil || md.WriterVersion().LessThan(metadata.Parquet816FixedVersion) {
		return false
	}
	_, err := compress.GetCodec(cc.Compression())
	return err == nil
}

// open reads column chunk cc of src into the kept buffer.
func (r *chunkReader) open(src io.ReaderAt, cc *metadata.ColumnChunkMetaData) error {
	r.release()
	start := cc.DataPageOffset()
	if cc.HasDictionaryPage() && cc.DictionaryPageOffset() > 0 && start > cc.DictionaryPageOffset() {
		start = cc.DictionaryPageOffset()
	}
	n := cc.TotalCompressedSize()
	if start < 0 || n < 0 || n > 1<<31 {
		return fmt.Errorf("%w: column chunk at %d of %d bytes", ErrDamagedFile, start, n)
	}
	if int64(cap(r.chunk)) < n {
		r.chunk = make([]byte, n)
	}
	r.chunk = r.chunk[:n]
	if k, err := src.ReadAt(r.chunk, start); int64(k) != n {
		return fmt.Errorf("%w: column chunk at %d: %d of its %d bytes read: %v", ErrDamagedFile, start, k, n, err)
	}
	codec, err := compress.GetCodec(cc.Compression())
	if err != nil {
		return err
	}
	r.codec, r.plain = codec, cc.Compression() == compress.Codecs.Uncompressed
	r.pos, r.left, r.err = 0, cc.NumValues(), nil
	return nil
}

// release lets go of the current page, and of buffers too large to keep.
func (r *chunkReader) release() {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	if cap(r.chunk) > keptChunkBytes {
		r.chunk = nil
	}
	if cap(r.page) > keptChunkBytes {
		r.page = nil
	}
	if cap(r.v2) > keptChunkBytes {
		r.v2 = nil
	}
}

func (r *chunkReader) SetMaxPageHeaderSize(int) {}
func (r *chunkReader) Page() file.Page          { return r.cur }
func (r *chunkReader) Err() error               { return r.err }

func (r *chunkReader) Reset(parquet.BufferedReader, int64, compress.Compression, *file.CryptoContext) {
	panic("chunkReader: Reset")
}

// errPage is a page header or page that does not parse.
var errPage = errors.New("malformed page")

// Next moves to the chunk's next page: false at the end (the values the
// footer promises read) or on an error (Err).
func (r *chunkReader) Next() bool {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	for r.left > 0 && r.err == nil {
		var h pageHeader
		n, err := h.parse(r.chunk[r.pos:])
		if err != nil {
			r.err = fmt.Errorf("page header at %d of the chunk: %w", r.pos, err)
			return false
		}
		r.pos += n
		if h.compressed < 0 || h.uncompressed < 0 || int64(h.compressed) > int64(len(r.chunk)-r.pos) {
			r.err = fmt.Errorf("%w: page of %d bytes, %d left in the chunk", errPage, h.compressed, len(r.chunk)-r.pos)
			return false
		}
		raw := r.chunk[r.pos : r.pos+int(h.compressed)]
		r.pos += int(h.compressed)
		switch h.typ {
		case pageDictionary, pageData:
			if h.typ == pageDictionary && !h.hasDict || h.typ == pageData && !h.hasData {
				r.err = fmt.Errorf("%w: page type %d without its header", errPage, h.typ)
				return false
			}
			data, err := r.decompress(r.page, raw, int(h.uncompressed))
			if err != nil {
				r.err = err
				return false
			}
			if !r.plain {
				r.page = data
			}
			buf := memory.NewBufferBytes(data)
			if h.typ == pageDictionary {
				r.cur = file.NewDictionaryPage(buf, h.numValues, parquet.Encoding(h.encoding))
				return true
			}
			r.left -= int64(h.numValues)
			r.cur = file.NewDataPageV1(buf, h.numValues, parquet.Encoding(h.encoding), parquet.Encoding(h.defEncoding), parquet.Encoding(h.repEncoding), h.uncompressed)
			return true
		case pageDataV2:
			if !h.hasV2 {
				r.err = fmt.Errorf("%w: page type %d without its header", errPage, h.typ)
				return false
			}
			lv := int64(h.defBytes) + int64(h.repBytes)
			if h.defBytes < 0 || h.repBytes < 0 || lv > int64(len(raw)) || lv > int64(h.uncompressed) {
				r.err = fmt.Errorf("%w: levels of %d bytes in a page of %d", errPage, lv, len(raw))
				return false
			}
			r.page = append(r.page[:0], raw[:lv]...)
			if h.isCompressed {
				vals, err := r.decompress(r.v2, raw[lv:], int(int64(h.uncompressed)-lv))
				if err != nil {
					r.err = err
					return false
				}
				if !r.plain {
					r.v2 = vals
				}
				r.page = append(r.page, vals...)
			} else {
				r.page = append(r.page, raw[lv:]...)
			}
			if len(r.page) != int(h.uncompressed) {
				r.err = fmt.Errorf("%w: %d bytes uncompressed, the header says %d", errPage, len(r.page), h.uncompressed)
				return false
			}
			r.left -= int64(h.numValues)
			r.cur = file.NewDataPageV2(memory.NewBufferBytes(r.page), h.numValues, h.numNulls, h.numRows, parquet.Encoding(h.encoding), h.defBytes, h.repBytes, h.uncompressed, h.isCompressed)
			return true
		default:
			// An index page, or another kind: skipped, as arrow does.
		}
	}
	return false
}

// decompress decodes raw, of want bytes uncompressed, into dst's memory
// (grown if need be); raw itself if the chunk is not compressed.
func (r *chunkReader) decompress(dst, raw []byte, want int) ([]byte, error) {
	if cap(dst) < want {
		dst = make([]byte, want)
	}
	dst = dst[:want]
	if r.plain {
		if len(raw) != want {
			return nil, fmt.Errorf("%w: %d bytes uncompressed, the header says %d", errPage, len(raw), want)
		}
		return raw, nil // the chunk's bytes, valid as long as the page
	}
	out, err := decode(r.codec, dst, raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errPage, err)
	}
	if len(out) != want {
		return nil, fmt.Errorf("%w: %d bytes uncompressed, the header says %d", errPage, len(out), want)
	}
	if len(out) > 0 && &out[0] != &dst[0] {
		copy(dst, out) // a codec that did not decode in place
	}
	return dst, nil
}

// decode is codec.Decode, whose arrow implementations (gzip, snappy, ...)
// panic on bytes that do not decode: an error here.
func decode(codec compress.Codec, dst, raw []byte) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("decompressing: %v", p)
		}
	}()
	return codec.Decode(dst, raw), nil
}

// Page types (parquet.thrift PageType).
const (
	pageData       = 0
	pageDictionary = 2
	pageDataV2     = 3
)

// pageHeader is what the direct columns use of parquet.thrift's
// PageHeader and its DataPageHeader, DictionaryPageHeader and
// DataPageHeaderV2.
type pageHeader struct {
	typ, uncompressed, compressed         int32
	hasData, hasDict, hasV2               bool
	numValues, encoding                   int32
	defEncoding, repEncoding              int32 // v1
	numNulls, numRows, defBytes, repBytes int32 // v2
	isCompressed                          bool  // v2 (default true)
}

// Thrift compact protocol types.
const (
	tStop   = 0
	tTrue   = 1
	tFalse  = 2
	tByte   = 3
	tI16    = 4
	tI32    = 5
	tI64    = 6
	tDouble = 7
	tBinary = 8
	tList   = 9
	tSet    = 10
	tMap    = 11
	tStruct = 12
)

// thriftReader reads the thrift compact protocol, bounds-checked.
type thriftReader struct {
	b   []byte
	pos int
	err error
}

func (t *thriftReader) fail() {
	if t.err == nil {
		t.err = errPage
	}
}

func (t *thriftReader) byte() byte {
	if t.pos >= len(t.b) {
		t.fail()
		return 0
	}
	c := t.b[t.pos]
	t.pos++
	return c
}

func (t *thriftReader) uvarint() uint64 {
	if t.pos > len(t.b) {
		t.fail()
		return 0
	}
	v, n := binary.Uvarint(t.b[t.pos:])
	if n <= 0 {
		t.fail()
		return 0
	}
	t.pos += n
	return v
}

func (t *thriftReader) varint() int64 {
	u := t.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

func (t *thriftReader) i32() int32 {
	v := t.varint()
	if v != int64(int32(v)) {
		t.fail()
	}
	return int32(v)
}

// field reads a struct field's header: its type (tStop at the end) and id.
func (t *thriftReader) field(last int16) (typ byte, id int16) {
	c := t.byte()
	typ = c & 0x0f
	if typ == tStop {
		return tStop, 0
	}
	if d := c >> 4; d != 0 {
		return typ, last + int16(d)
	}
	return typ, int16(t.varint())
}

// skip skips a value of type typ, nested at most depth deep.
func (t *thriftReader) skip(typ byte, depth int) {
	if depth > 16 {
		t.fail()
		return
	}
	switch typ {
	case tTrue, tFalse:
	case tByte:
		t.byte()
	case tI16, tI32, tI64:
		t.uvarint()
	case tDouble:
		t.pos += 8
	case tBinary:
		n := t.uvarint()
		if n > uint64(len(t.b)) {
			t.fail()
			return
		}
		t.pos += int(n)
	case tList, tSet:
		c := t.byte()
		n := uint64(c >> 4)
		if n == 15 {
			n = t.uvarint()
		}
		et := c & 0x0f
		if n > uint64(len(t.b)) {
			t.fail()
			return
		}
		for range n {
			if t.err != nil {
				return
			}
			if et == tTrue || et == tFalse {
				t.byte() // a bool element is a byte
			} else {
				t.skip(et, depth+1)
			}
		}
	case tMap:
		n := t.uvarint()
		if n == 0 {
			return
		}
		if n > uint64(len(t.b)) {
			t.fail()
			return
		}
		kv := t.byte()
		for range n {
			if t.err != nil {
				return
			}
			for _, et := range []byte{kv >> 4, kv & 0x0f} {
				if et == tTrue || et == tFalse {
					t.byte()
				} else {
					t.skip(et, depth+1)
				}
			}
		}
	case tStruct:
		var last int16
		for t.err == nil {
			ft, id := t.field(last)
			if ft == tStop {
				return
			}
			t.skip(ft, depth+1)
			last = id
		}
	default:
		t.fail()
	}
	if t.pos > len(t.b) {
		t.fail()
	}
}

// bool reads a struct field's boolean value (in its type).
func boolOf(typ byte) (bool, bool) {
	switch typ {
	case tTrue:
		return true, true
	case tFalse:
		return false, true
	}
	return false, false
}

// parse reads a PageHeader from b, returning its length in bytes.
func (h *pageHeader) parse(b []byte) (int, error) {
	t := thriftReader{b: b}
	*h = pageHeader{isCompressed: true}
	var last int16
	seen := 0
	for t.err == nil {
		typ, id := t.field(last)
		if typ == tStop {
			break
		}
		last = id
		switch {
		case id == 1 && typ == tI32:
			h.typ, seen = t.i32(), seen|1
		case id == 2 && typ == tI32:
			h.uncompressed, seen = t.i32(), seen|2
		case id == 3 && typ == tI32:
			h.compressed, seen = t.i32(), seen|4
		case id == 5 && typ == tStruct:
			h.hasData = true
			h.parseSub(&t, func(id int16, typ byte) bool {
				switch {
				case id == 1 && typ == tI32:
					h.numValues = t.i32()
				case id == 2 && typ == tI32:
					h.encoding = t.i32()
				case id == 3 && typ == tI32:
					h.defEncoding = t.i32()
				case id == 4 && typ == tI32:
					h.repEncoding = t.i32()
				default:
					return false
				}
				return true
			})
		case id == 7 && typ == tStruct:
			h.hasDict = true
			h.parseSub(&t, func(id int16, typ byte) bool {
				switch {
				case id == 1 && typ == tI32:
					h.numValues = t.i32()
				case id == 2 && typ == tI32:
					h.encoding = t.i32()
				default:
					return false
				}
				return true
			})
		case id == 8 && typ == tStruct:
			h.hasV2 = true
			h.parseSub(&t, func(id int16, typ byte) bool {
				switch {
				case id == 1 && typ == tI32:
					h.numValues = t.i32()
				case id == 2 && typ == tI32:
					h.numNulls = t.i32()
				case id == 3 && typ == tI32:
					h.numRows = t.i32()
				case id == 4 && typ == tI32:
					h.encoding = t.i32()
				case id == 5 && typ == tI32:
					h.defBytes = t.i32()
				case id == 6 && typ == tI32:
					h.repBytes = t.i32()
				case id == 7:
					v, ok := boolOf(typ)
					if !ok {
						return false
					}
					h.isCompressed = v
				default:
					return false
				}
				return true
			})
		default:
			t.skip(typ, 0)
		}
	}
	if t.err != nil {
		return 0, t.err
	}
	if seen != 7 {
		return 0, fmt.Errorf("%w: header without its type or sizes", errPage)
	}
	return t.pos, nil
}

// parseSub reads a nested struct's fields, giving each to fn, which
// reads those it knows (returning true); the others are skipped.
func (h *pageHeader) parseSub(t *thriftReader, fn func(id int16, typ byte) bool) {
	var last int16
	for t.err == nil {
		typ, id := t.field(last)
		if typ == tStop {
			return
		}
		last = id
		if !fn(id, typ) {
			t.skip(typ, 1)
		}
	}
}
