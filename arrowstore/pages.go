package arrowstore

import (
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/bitutil"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/file"
)

// chunkPages is a direct column's reading of one column chunk page by page
// (file.PageReader gives the pages decompressed): directColumn and
// directDictColumn decode the definition levels and the values of the
// encodings lakegate's files use themselves, into their output buffers:
//
//   - definition levels (RLE, the only level encoding of current
//     writers), not decoded at all for a page whose levels are one RLE run
//     of maxDef (no nulls);
//   - PLAIN values (fixed-width: copied; BYTE_ARRAY: looked up in the
//     task's dictionary by their bytes);
//   - RLE_DICTIONARY / PLAIN_DICTIONARY indices, gathered from the chunk's
//     decoded dictionary page (fixed-width) or, for BYTE_ARRAY, remapped
//     to the task's dictionary by a table built once per chunk.
//
// A page of another encoding (DELTA_*, BYTE_STREAM_SPLIT, BIT_PACKED
// levels, ...) makes the column read the rest of its chunk with parquet's
// column chunk reader (skipped to the same row), as before. Bytes that do
// not decode are ErrDamagedFile.
type chunkPages struct {
	pr    file.PageReader
	group int   // the row group
	rows  int64 // the chunk's rows (footer)
	done  int64 // rows of the chunk read (pages consumed, and of the current one)
	// The current data page: left rows to read; their levels (unless
	// allDef: every row has a value), and values.
	left   int
	allDef bool
	levels rleDecoder
	isDict bool
	idx    rleDecoder // indices of a dictionary-encoded page
	plain  []byte     // the values left of a PLAIN page
	// The chunk's dictionary page, decoded: fixed-width values (as bits),
	// or a BYTE_ARRAY dictionary's values (raw[offs[i]:offs[i+1]]) and
	// remap, the task dictionary's index of each; raw[offs[2i]:offs[2i+1]] is value i (built for st's
	// generation remapGen).
	hasDict  bool
	dict64   []uint64
	dict32   []uint32
	raw      []byte
	offs     []int32
	remap    []int32
	remapGen int
}

// damaged wraps a decoding failure of a column's page in ErrDamagedFile.
func (d *directColumn) damaged(format string, args ...any) error {
	return fmt.Errorf("%w: column %q, row group %d: %s", ErrDamagedFile, d.field.Name, d.pg.group, fmt.Sprintf(format, args...))
}

// release lets go of the page reader's current page (a v2 page holds
// allocator memory until the next page is read).
func (p *chunkPages) release() {
	if cr, ok := p.pr.(*chunkReader); ok {
		cr.release()
	} else if p.pr != nil {
		if pg := p.pr.Page(); pg != nil {
			pg.Release()
		}
	}
	p.pr = nil
}

// advance gets the column ready to read its next rows: a data page with
// rows left (d.pg.left > 0), or d.cr, a column chunk reader with values
// left (ReadBatch). It moves on through pages, chunks and row groups, and
// fails if there are none (short rows still wanted).
func (d *directColumn) advance(rdr *file.Reader, short int64, byteArray bool) error {
	for {
		if d.cr != nil {
			if d.cr.HasNext() {
				return nil
			}
			if err := d.cr.Err(); err != nil {
				return fmt.Errorf("%w: %v", ErrDamagedFile, err) // a page that cannot be read
			}
			d.cr = nil
			continue
		}
		if d.pg.pr != nil {
			if d.pg.left > 0 {
				return nil
			}
			if d.pg.pr.Next() {
				if err := d.page(rdr, byteArray); err != nil {
					return err
				}
				continue
			}
			if err := d.pg.pr.Err(); err != nil {
				return d.damaged("%v", err)
			}
			if d.pg.done != d.pg.rows {
				return d.damaged("pages of %d rows, the footer says %d", d.pg.done, d.pg.rows)
			}
			d.pg.pr = nil
		}
		if len(d.groups) == 0 {
			return fmt.Errorf("%w: column %q: %d rows short", ErrDamagedFile, d.field.Name, short)
		}
		g := d.groups[0]
		rg := rdr.RowGroup(g)
		cc, err := rg.MetaData().ColumnChunk(d.leaf)
		if err != nil {
			return err
		}
		var pr file.PageReader
		if d.own != nil && ownPages(rdr.MetaData(), cc) {
			if err := d.own.open(d.src, cc); err != nil {
				return err
			}
			pr = d.own
		} else if pr, err = rg.GetColumnPageReader(d.leaf); err != nil {
			return err
		}
		d.groups = d.groups[1:]
		d.pg.group, d.pg.pr, d.pg.rows, d.pg.done, d.pg.left, d.pg.hasDict = g, pr, rg.NumRows(), 0, 0, false
	}
}

// fallback reads the rest of the current chunk with parquet's column chunk
// reader, from the row reached.
func (d *directColumn) fallback(rdr *file.Reader) error {
	d.scan.pageFallbacks.Add(1)
	d.pg.release()
	cr, err := rdr.RowGroup(d.pg.group).Column(d.leaf)
	if err != nil {
		return err
	}
	if d.pg.done > 0 {
		sk, ok := cr.(interface {
			Skip(int64) (int64, error)
		})
		if !ok {
			return fmt.Errorf("column %q: cannot skip with %T", d.field.Name, cr)
		}
		n, err := sk.Skip(d.pg.done)
		if err != nil || n != d.pg.done {
			return d.damaged("skipping %d rows: %d, %v", d.pg.done, n, err)
		}
	}
	d.cr, d.pg.left = cr, 0
	return nil
}

// page takes the page reader's current page: a dictionary page is decoded,
// a data page's levels and values set up; a page of an encoding not
// decoded here moves the chunk to fallback.
func (d *directColumn) page(rdr *file.Reader, byteArray bool) error {
	p := &d.pg
	var (
		nv       int
		data     []byte
		levels   []byte
		hasLevel bool
	)
	switch pg := p.pr.Page().(type) {
	case *file.DictionaryPage:
		if enc := parquet.Encoding(pg.Encoding()); enc != parquet.Encodings.Plain && enc != parquet.Encodings.PlainDict {
			return d.fallback(rdr)
		}
		return d.dictPage(pg.Data(), int(pg.NumValues()), byteArray)
	case *file.DataPageV1:
		nv, data = int(pg.NumValues()), pg.Data()
		if d.maxDef > 0 {
			if pg.DefinitionLevelEncoding() != parquet.Encodings.RLE {
				return d.fallback(rdr)
			}
			if len(data) < 4 {
				return d.damaged("page of %d bytes", len(data))
			}
			n := binary.LittleEndian.Uint32(data)
			if uint64(n) > uint64(len(data)-4) {
				return d.damaged("levels of %d bytes in a page of %d", n, len(data))
			}
			levels, data, hasLevel = data[4:4+n], data[4+n:], true
		}
	case *file.DataPageV2:
		nv, data = int(pg.NumValues()), pg.Data()
		rl, dl := int64(pg.RepetitionLevelByteLen()), int64(pg.DefinitionLevelByteLen())
		if rl < 0 || dl < 0 || rl+dl > int64(len(data)) {
			return d.damaged("levels of %d and %d bytes in a page of %d", rl, dl, len(data))
		}
		if d.maxDef > 0 {
			levels, hasLevel = data[rl:rl+dl], true
		}
		data = data[rl+dl:]
	default:
		return nil // not a data page: skip it
	}
	if nv < 0 || int64(nv) > p.rows-p.done {
		return d.damaged("page of %d rows, %d of %d left", nv, p.rows-p.done, p.rows)
	}
	p.allDef = true
	if hasLevel && !allOf(levels, bits.Len16(uint16(d.maxDef)), nv, uint32(d.maxDef)) {
		p.allDef = false
		if err := p.levels.reset(levels, bits.Len16(uint16(d.maxDef))); err != nil {
			return d.damaged("%v", err)
		}
	}
	switch parquet.Encoding(p.pr.Page().Encoding()) {
	case parquet.Encodings.Plain:
		if d.scan.plainFallback {
			return d.fallback(rdr)
		}
		p.isDict, p.plain = false, data
	case parquet.Encodings.RLEDict, parquet.Encodings.PlainDict:
		if !p.hasDict {
			return d.damaged("a dictionary-encoded page without a dictionary")
		}
		if len(data) < 1 {
			return d.damaged("no bit width")
		}
		if err := p.idx.reset(data[1:], int(data[0])); err != nil {
			return d.damaged("%v", err)
		}
		p.isDict = true
	default:
		return d.fallback(rdr)
	}
	p.left = nv
	return nil
}

// dictPage decodes a chunk's (PLAIN) dictionary page of nv values.
func (d *directColumn) dictPage(data []byte, nv int, byteArray bool) error {
	p := &d.pg
	if nv < 0 {
		return d.damaged("dictionary of %d values", nv)
	}
	p.hasDict, p.remapGen = true, -1
	switch {
	case byteArray:
		p.raw = append(p.raw[:0], data...) // the page's memory is not ours to keep
		p.offs = p.offs[:0]                // value i is raw[offs[2i]:offs[2i+1]]
		o := 0
		for range nv {
			if len(p.raw)-o < 4 {
				return d.damaged("dictionary ends early")
			}
			n := binary.LittleEndian.Uint32(p.raw[o:])
			if uint64(n) > uint64(len(p.raw)-o-4) {
				return d.damaged("dictionary value of %d bytes, %d left", n, len(p.raw)-o-4)
			}
			p.offs = append(p.offs, int32(o+4), int32(o+4+int(n)))
			o += 4 + int(n)
		}
	case d.width == 8:
		if len(data) < nv*8 {
			return d.damaged("dictionary of %d values in %d bytes", nv, len(data))
		}
		p.dict64 = p.dict64[:0]
		for i := range nv {
			p.dict64 = append(p.dict64, binary.LittleEndian.Uint64(data[8*i:]))
		}
	default:
		if len(data) < nv*4 {
			return d.damaged("dictionary of %d values in %d bytes", nv, len(data))
		}
		p.dict32 = p.dict32[:0]
		for i := range nv {
			p.dict32 = append(p.dict32, binary.LittleEndian.Uint32(data[4*i:]))
		}
	}
	return nil
}

// fixedValues reads the current page's next values into out (width bytes
// each, len(out)/width of them).
func (d *directColumn) fixedValues(out []byte) error {
	p := &d.pg
	if !p.isDict {
		if len(p.plain) < len(out) {
			return d.damaged("PLAIN values end early")
		}
		copy(out, p.plain)
		p.plain = p.plain[len(out):]
		return nil
	}
	var err error
	if d.width == 8 {
		err = gather(&p.idx, arrow.Uint64Traits.CastFromBytes(out), p.dict64)
	} else {
		err = gather(&p.idx, arrow.Uint32Traits.CastFromBytes(out), p.dict32)
	}
	if err != nil {
		return d.damaged("dictionary indices: %v", err)
	}
	return nil
}

// ready checks that the bitmap is complete for the batch's n rows and
// has a bit set for each of its nvals values (spreadBits relies on it).
func (v *validity) ready(nvals int) error {
	if v.buf == nil || v.upto != v.n {
		return fmt.Errorf("%w: %d nulls without their levels", ErrDamagedFile, v.n-nvals)
	}
	if c := countBits(v.bits, v.n); c != nvals {
		return fmt.Errorf("%w: %d values, levels for %d", ErrDamagedFile, nvals, c)
	}
	return nil
}

// validity builds a batch's validity bitmap as its rows are read: not at
// all while every row has a value (pages whose levels are one run of
// maxDef), from the first row without one (or read by parquet's reader)
// on, with the rows before set valid. Levels of 1 bit (maxDef 1, the only
// ones direct columns read) are bits already: a bit-packed run is copied,
// an RLE run set, with no per-row work.
type validity struct {
	pool *bufPool
	n    int            // rows of the batch
	buf  *memory.Buffer // nil until needed; BytesForBits(n) + 8 bytes (slack for 8-byte stores)
	bits []byte
	upto int // bits[:upto] are written, when buf is not nil
}

// need allocates the bitmap, rows before from valid.
func (v *validity) need(from int) {
	if v.buf != nil {
		return
	}
	v.buf = memory.NewResizableBuffer(v.pool)
	v.buf.Resize(int(bitutil.BytesForBits(int64(v.n))) + 8)
	v.bits = v.buf.Bytes()
	setBits(v.bits, 0, from, true)
	v.upto = from
}

// all notes that rows [from, from+k) have values.
func (v *validity) all(from, k int) {
	if v.buf != nil {
		setBits(v.bits, from, k, true)
		v.upto = from + k
	}
}

// defs sets rows [from, from+len(defs)) by their levels (parquet's
// reader's).
func (v *validity) defs(from int, defs []int16, maxDef int16) {
	v.need(from)
	for i, l := range defs {
		setBits(v.bits, from+i, 1, l == maxDef)
	}
	v.upto = from + len(defs)
}

// release gives the bitmap back, if the batch had no use for it.
func (v *validity) release() {
	if v.buf != nil {
		v.buf.Release()
		v.buf = nil
	}
}

// setBits sets (or clears) bits [from, from+n) of b, which has 8 bytes of
// slack past them.
func setBits(b []byte, from, n int, set bool) {
	for n > 0 {
		c := min(n, 56)
		o, sh := from>>3, uint(from&7)
		m := uint64(1)<<c - 1
		x := binary.LittleEndian.Uint64(b[o:])
		x &^= m << sh
		if set {
			x |= m << sh
		}
		binary.LittleEndian.PutUint64(b[o:], x)
		from, n = from+c, n-c
	}
}

// pageRun takes the next run of the current page for the rows from total
// on, up to n: k rows, v of them with a value, their validity set in valid.
func (d *directColumn) pageRun(valid *validity, total int64, n int) (k, v int, err error) {
	k = int(min(int64(n)-total, int64(d.pg.left)))
	if d.pg.allDef {
		valid.all(int(total), k)
		return k, k, nil
	}
	v, err = d.levelBits(valid, int(total), k)
	return k, v, err
}

// levelBits reads the 1-bit definition levels of the current page's next
// k rows into bits [from, from+k) of v, returning how many are set.
func (d *directColumn) levelBits(v *validity, from, k int) (int, error) {
	v.need(from)
	dec := &d.pg.levels
	if dec.width != 1 {
		return 0, d.damaged("definition levels of %d bits", dec.width)
	}
	b, ones := v.bits, 0
	for k > 0 {
		switch {
		case dec.rle > 0:
			c := min(dec.rle, k)
			setBits(b, from, c, dec.val == 1)
			if dec.val == 1 {
				ones += c
			}
			dec.rle -= c
			from, k = from+c, k-c
		case dec.packed > 0:
			c := min(dec.packed, k)
			src, bit := dec.data, dec.bit
			if (bit+c+7)/8 > len(src) {
				return 0, d.damaged("definition levels: %v", errRLE)
			}
			dec.bit, dec.packed = bit+c, dec.packed-c
			for c > 0 {
				m := min(c, 56)
				w := load(src, bit>>3) >> uint(bit&7) & (uint64(1)<<m - 1)
				ones += bits.OnesCount64(w)
				o, sh := from>>3, uint(from&7)
				x := binary.LittleEndian.Uint64(b[o:])
				x = x&^((uint64(1)<<m-1)<<sh) | w<<sh
				binary.LittleEndian.PutUint64(b[o:], x)
				from, bit, c, k = from+m, bit+m, c-m, k-m
			}
		default:
			if err := dec.header(); err != nil {
				return 0, d.damaged("definition levels: %v", err)
			}
		}
	}
	v.upto = from
	return ones, nil
}

// countBits counts the set bits among the first n of b.
func countBits(b []byte, n int) int {
	c := 0
	for len(b) >= 8 && n >= 64 {
		c += bits.OnesCount64(binary.LittleEndian.Uint64(b))
		b, n = b[8:], n-64
	}
	for i := range n {
		c += int(b[i>>3] >> uint(i&7) & 1)
	}
	return c
}

// spreadBits moves the nvals dense values of v to the slots of the rows
// whose bit is set in valid (n rows) and zeroes the others'.
func spreadBits[T int32 | int64](v []T, nvals int, valid []byte, n int) {
	j := nvals - 1
	for i := n - 1; i > j; i-- { // below i == j every row has its value in place
		if i&7 == 7 && i >= 7 && valid[i>>3] == 0xff {
			copy(v[i-7:i+1], v[j-7:j+1])
			i, j = i-7, j-8
			continue
		}
		if valid[i>>3]>>uint(i&7)&1 != 0 {
			v[i] = v[j]
			j--
		} else {
			v[i] = 0
		}
	}
}
