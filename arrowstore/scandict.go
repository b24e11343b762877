package arrowstore

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/file"
)

// dictType is the Arrow type of a string column read as a dictionary, as
// pqarrow gives it.
var dictType = &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}

// directDictColumn reads one flat string column of a file (BYTE_ARRAY) and
// gives it as an Arrow dictionary (int32 indices into a string
// dictionary), as pqarrow does with ReadDict, without pqarrow's per-batch
// scratch and builder: the indices go into a buffer from the worker's
// bufPool. The dictionary only grows within a task, and each record shares
// it until a new value appears.
//
// Its pages are decoded in pages.go: a dictionary-encoded page's indices
// are remapped to the task's dictionary by a table built once per column
// chunk (per dictionary page), a PLAIN page's values (a dictionary that
// overflowed) looked up by their bytes.
//
// A chunk with pages of another encoding is read with parquet's
// ByteArrayColumnChunkReader instead, and each value's index found as
// follows. The reader gives each value as a slice of the page it was
// decoded from: values of a dictionary-encoded page are slices of the
// column chunk's dictionary page, so a value repeats with the same data
// pointer. A small direct-mapped cache keyed by that pointer
// (dictState.cache) finds its index, confirmed by comparing the value's
// length and bytes with the cached ones (a pointer alone is never trusted:
// page memory can be reused for other bytes); a miss, and every value of a
// PLAIN page, looks the bytes up in a map. Values are looked up right after
// each ReadBatch of dictChunk rows; those of a page that one ReadBatch read
// before the next stay valid as page buffers are not reused while
// referenced (Go memory).
type directDictColumn struct {
	directColumn // leaf, field (dictType), maxDef, groups, pg, cr and advance
	st           *dictState
}

// dictField returns the Arrow field (a dictionary of strings) that
// directDictColumn gives for leaf and whether it can read it: a flat
// BYTE_ARRAY column that pqarrow reads as strings (or as a dictionary of
// them).
func dictField(rdr *file.Reader, fsc *arrow.Schema, leaf int) (arrow.Field, bool) {
	descr := rdr.MetaData().Schema.Column(leaf)
	if descr.MaxRepetitionLevel() != 0 || descr.MaxDefinitionLevel() > 1 || descr.PhysicalType() != parquet.Types.ByteArray {
		return arrow.Field{}, false
	}
	idx := fsc.FieldIndices(descr.Name())
	if len(idx) != 1 || idx[0] != leaf {
		return arrow.Field{}, false
	}
	fld := fsc.Field(leaf)
	switch dt := fld.Type.(type) {
	case *arrow.StringType:
	case *arrow.DictionaryType:
		if dt.ValueType.ID() != arrow.STRING {
			return arrow.Field{}, false
		}
	default:
		return arrow.Field{}, false
	}
	fld.Type = dictType
	return fld, true
}

// dictCacheBits sizes dictState.cache. Slots are picked by the value's
// address / 4: the values of a dictionary page lie one after another, each
// after a 4-byte length, so a dictionary of up to 4 << dictCacheBits bytes
// (16 KiB: 1,000 values of 12 bytes) fills distinct slots.
const dictCacheBits = 12

// dictChunk is how many values directDictColumn reads and looks up at a
// time.
const dictChunk = 2048

// dictSlot is an entry of dictState.cache: id-1 is the index of the value
// of n bytes last seen at address p, whose bytes w0 and w1 hold (words).
// id 0 is an empty slot.
type dictSlot struct {
	p      uintptr
	w0, w1 uint64
	n, id  int32
}

// words packs v's bytes into two words: all of them if v has up to 16 (its
// first and last 8, overlapping, or for fewer than 8 all in w0), which with
// its length then says it exactly; the first and last 8 otherwise.
func words(v []byte) (w0, w1 uint64) {
	switch n := len(v); {
	case n >= 8:
		return binary.LittleEndian.Uint64(v), binary.LittleEndian.Uint64(v[n-8:])
	case n >= 4:
		return uint64(binary.LittleEndian.Uint32(v)) | uint64(binary.LittleEndian.Uint32(v[n-4:]))<<32, 0
	}
	for i, b := range v {
		w0 |= uint64(b) << (8 * i)
	}
	return w0, 0
}

// dictState is a directDictColumn's scratch (recycled across batches, tasks
// and files by a worker) and its task's dictionary.
type dictState struct {
	vals  []parquet.ByteArray
	defs  []int16
	cache []dictSlot
	index map[string]int32 // value -> dictionary index
	// The task's dictionary values: value i is arena[offs[i]:offs[i+1]].
	// Both only grow (a reset starts new ones), so the arrays over their
	// prefixes stay valid.
	arena []byte
	offs  []int32
	dict  arrow.Array // *array.String over the first dictN values
	dictN int
	gen   int // counts resets: chunkPages.remap is for one generation
}

// reset drops the dictionary (records holding it keep it) and empties the
// lookup tables.
func (st *dictState) reset() {
	if st.dict != nil {
		st.dict.Release()
	}
	st.dict, st.dictN = nil, 0
	st.gen++ // chunks' remap tables are stale
	st.arena, st.offs = nil, []int32{0}
	clear(st.vals) // keep no page alive through the scratch
	if st.cache == nil {
		st.cache = make([]dictSlot, 1<<dictCacheBits)
	} else {
		clear(st.cache)
	}
	if st.index == nil {
		st.index = map[string]int32{}
	} else {
		clear(st.index)
	}
}

// indices sets idx[i] to the dictionary index of vals[i], adding new
// values to the dictionary. A value found in the cache slot of its address
// is confirmed by its length and bytes (words, and for a value longer than
// 16 bytes the rest), never by the address alone.
func (st *dictState) indices(vals []parquet.ByteArray, idx []int32) {
	cache := st.cache[:1<<dictCacheBits]
	idx = idx[:len(vals)]
	for i, v := range vals {
		p := uintptr(unsafe.Pointer(unsafe.SliceData(v)))
		sl := &cache[(p>>2)&(1<<dictCacheBits-1)]
		if sl.p == p && int(sl.n) == len(v) && sl.id != 0 {
			w0, w1 := words(v)
			if w0 == sl.w0 && w1 == sl.w1 && (len(v) <= 16 || string(v[8:len(v)-8]) == st.value(sl.id - 1)[8:len(v)-8]) {
				idx[i] = sl.id - 1
				continue
			}
		}
		idx[i] = st.miss(v, sl)
	}
}

// miss looks v up by its bytes, adding it to the dictionary if new, and
// puts it in cache slot sl.
func (st *dictState) miss(v []byte, sl *dictSlot) int32 {
	id := st.add(v)
	sl.p, sl.n, sl.id = uintptr(unsafe.Pointer(unsafe.SliceData(v))), int32(len(v)), id+1
	sl.w0, sl.w1 = words(v)
	return id
}

// add looks v up by its bytes, adding it to the dictionary if new.
func (st *dictState) add(v []byte) int32 {
	id, ok := st.index[string(v)]
	if !ok {
		start := len(st.arena)
		st.arena = append(st.arena, v...)
		s := unsafe.String(unsafe.SliceData(st.arena[start:]), len(v))
		id = int32(len(st.offs) - 1)
		st.offs = append(st.offs, int32(len(st.arena)))
		st.index[s] = id
	}
	return id
}

// value is dictionary value i, as the map holds it.
func (st *dictState) value(i int32) string {
	a, b := st.offs[i], st.offs[i+1]
	return unsafe.String(unsafe.SliceData(st.arena[a:]), int(b-a))
}

// dictionary returns the current dictionary, a new one (over the same
// memory) if values were added since the last.
func (st *dictState) dictionary() *array.Data {
	if n := len(st.offs) - 1; st.dict == nil || n > st.dictN {
		if st.dict != nil {
			st.dict.Release()
		}
		offs := memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(st.offs[:n+1]))
		data := memory.NewBufferBytes(st.arena[:st.offs[n]])
		d := array.NewData(arrow.BinaryTypes.String, n, []*memory.Buffer{nil, offs, data}, nil, 0, 0)
		st.dict, st.dictN = array.MakeFromData(d), n
		d.Release()
	}
	return st.dict.Data().(*array.Data)
}

// read reads the next n rows of the column, moving on through its row
// groups, as a dictionary array whose indices (and validity) come from
// pool.
func (d *directDictColumn) read(rdr *file.Reader, n int, pool *bufPool) (arrow.Array, error) {
	st := d.st
	if len(st.offs)-1 > scanBatchRows || len(st.arena) > 1<<30 {
		// Many distinct values (a dictionary that overflowed to PLAIN
		// pages): start a new dictionary rather than one that grows
		// without bound (int32 offsets).
		st.reset()
	}
	var defs []int16
	if d.maxDef > 0 {
		if cap(st.defs) < n {
			st.defs = make([]int16, n)
		}
		defs = st.defs[:n]
	}
	idxBuf := memory.NewResizableBuffer(pool)
	defer idxBuf.Release()
	idxBuf.Resize(n * 4)
	idx := arrow.Int32Traits.CastFromBytes(idxBuf.Bytes())[:n]
	var total int64
	nvals := 0
	valid := validity{pool: pool, n: n}
	defer valid.release()
	for total < int64(n) {
		if err := d.advance(rdr, int64(n)-total, true); err != nil {
			return nil, err
		}
		if d.cr == nil {
			k, v, err := d.pageRun(&valid, total, n)
			if err != nil {
				return nil, err
			}
			if err := d.indices(idx[nvals : nvals+v]); err != nil {
				return nil, err
			}
			d.pg.left -= k
			d.pg.done += int64(k)
			total += int64(k)
			nvals += v
			continue
		}
		cr, ok := d.cr.(*file.ByteArrayColumnChunkReader)
		if !ok {
			return nil, fmt.Errorf("column %q: unexpected reader %T", d.field.Name, d.cr)
		}
		if st.vals == nil {
			st.vals = make([]parquet.ByteArray, dictChunk)
		}
		var dl []int16
		want := min(int64(n)-total, dictChunk)
		if defs != nil {
			dl = defs[total:]
		}
		// A chunk at a time, so the values are looked up while in cache.
		t, v, err := cr.ReadBatch(want, st.vals, dl, nil)
		if err != nil {
			return nil, err
		}
		if t == 0 && v == 0 {
			return nil, fmt.Errorf("column %q: no progress reading", d.field.Name)
		}
		if defs != nil {
			valid.defs(int(total), defs[total:total+t], d.maxDef)
		}
		st.indices(st.vals[:v], idx[nvals:])
		total += t
		nvals += v
	}
	bufs := []*memory.Buffer{nil, idxBuf}
	if nvals < n {
		if err := valid.ready(nvals); err != nil {
			return nil, fmt.Errorf("column %q: %w", d.field.Name, err)
		}
		spreadBits(idx, nvals, valid.bits, n)
		bufs[0] = valid.buf
	}
	data := array.NewDataWithDictionary(d.field.Type, n, bufs, n-nvals, 0, st.dictionary())
	defer data.Release()
	return array.MakeFromData(data), nil
}

// indices sets idx to the task dictionary's indices of the current page's
// next len(idx) values: a dictionary-encoded page's indices remapped from
// the chunk's dictionary (whose values are looked up once per chunk, and
// again after the task's dictionary is reset), a PLAIN page's values
// looked up by their bytes.
func (d *directDictColumn) indices(idx []int32) error {
	p, st := &d.pg, d.st
	if !p.isDict {
		b := p.plain
		for i := range idx {
			if len(b) < 4 {
				return d.damaged("PLAIN values end early")
			}
			n := binary.LittleEndian.Uint32(b)
			if uint64(n) > uint64(len(b)-4) {
				return d.damaged("PLAIN value of %d bytes, %d left", n, len(b)-4)
			}
			idx[i] = st.add(b[4 : 4+n])
			b = b[4+n:]
		}
		p.plain = b
		return nil
	}
	if p.remapGen != st.gen {
		p.remap = p.remap[:0]
		for i := 0; i < len(p.offs); i += 2 {
			p.remap = append(p.remap, st.add(p.raw[p.offs[i]:p.offs[i+1]]))
		}
		p.remapGen = st.gen
	}
	if err := gather(&p.idx, idx, p.remap); err != nil {
		return d.damaged("dictionary indices: %v", err)
	}
	return nil
}
