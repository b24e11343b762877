package arrowstore

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/metadata"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
)

// scanTask is one unit of a parallel scan: an in-memory batch, or one row
// group of a file.
type scanTask struct {
	rec    arrow.Record
	file   *dataFile
	md     *metadata.FileMetaData // the file's footer, read once for all its tasks
	groups []int                  // consecutive row groups of file
}

// tasksPerWorker is how many tasks a worker gets on average: enough to
// balance uneven row groups, few enough that setting up a reader for each
// costs little.
const tasksPerWorker = 4

// openReader is a worker's open file: consecutive tasks of one file (the
// usual case, as tasks are dealt in file order) reuse it.
type openReader struct {
	file   *dataFile
	rdr    *file.Reader
	src    *os.File // the file rdr reads
	fr     *pqarrow.FileReader
	leaves []int // every leaf read, in the order of the records built
	// direct are the leaves read by directColumn (templates, copied per
	// task); pq those read through fr (strings not read as dictionaries,
	// other types).
	direct []directColumn
	dicts  []directDictColumn // the leaves read by directDictColumn (templates)
	pq     []int
	pool   bufPool // the worker's recycled buffers; kept across files
	// dictStates are directDictColumn's scratch and lookup tables, one per
	// dictionary column of a task; kept across files.
	dictStates []*dictState
	// chunks read the direct columns' chunks (a chunkReader and its
	// buffers per column, in the order of direct then dicts); kept across
	// files.
	chunks []*chunkReader
}

// chunkReader returns the worker's chunkReader for direct column i.
func (o *openReader) chunkReader(i int) *chunkReader {
	for len(o.chunks) <= i {
		o.chunks = append(o.chunks, &chunkReader{})
	}
	return o.chunks[i]
}

func (o *openReader) close() {
	if o.rdr != nil {
		o.rdr.Close()
	}
	o.file, o.rdr, o.src, o.fr, o.leaves, o.direct, o.dicts, o.pq = nil, nil, nil, nil, nil, nil, nil, nil
}

// ScanParallel is Scan on up to workers goroutines: the in-memory batches
// and runs of consecutive row groups of the files (those the time range
// does not rule out; about tasksPerWorker runs per worker) are tasks,
// numbered in Scan's order and dealt in that order to whichever worker is
// free. fn is called concurrently from different workers, never
// concurrently for one worker; worker is in [0, workers). The records of
// one task arrive in order, and one worker's tasks in increasing order, so
// a caller can break ties in Scan's order by (task, row). The first error
// stops every worker and is returned.
//
// Columns named in dict that are strings may arrive read from Parquet as
// Arrow dictionaries (int32 indices into a string dictionary, which may
// hold values no row uses) instead of plain strings: a caller that only
// compares or groups the values saves building every string. In-memory
// batches, and files lacking the column, give plain strings as Scan does.
//
// Fixed-width columns (timestamps, integers, floats) are read from Parquet
// by directColumn into buffers each worker recycles when a record is
// released (when fn returns, unless fn retains it), flat string columns in
// dict by directDictColumn, both decoding the pages of the usual encodings
// themselves (pages.go); other columns through pqarrow. Only the columns
// asked for are read: the time column too, unless asked for.
func (sn *Snapshot) ScanParallel(ctx context.Context, columns, dict []string, workers int, fn func(worker, task int, rec arrow.Record) error) error {
	out, err := sn.project(columns)
	if err != nil {
		return err
	}
	var asDict map[string]bool
	for _, c := range dict {
		if idx := out.FieldIndices(c); len(idx) > 0 && out.Field(idx[0]).Type.ID() == arrow.STRING {
			if asDict == nil {
				asDict = map[string]bool{}
			}
			asDict[c] = true
		}
	}
	tasks := make([]scanTask, 0, len(sn.recs)+len(sn.files))
	for _, r := range sn.recs {
		tasks = append(tasks, scanTask{rec: r})
	}
	type fileGroups struct {
		f      *dataFile
		md     *metadata.FileMetaData
		groups []int
	}
	var files []fileGroups
	total := 0
	for _, f := range sn.files {
		md, groups, err := sn.fileRowGroups(f)
		if err != nil {
			return err
		}
		files = append(files, fileGroups{f, md, groups})
		total += len(groups)
	}
	per := max(1, total/(max(1, workers)*tasksPerWorker))
	for _, fg := range files {
		for g := range slices.Chunk(fg.groups, per) {
			tasks = append(tasks, scanTask{file: fg.f, md: fg.md, groups: g})
		}
	}
	workers = max(1, min(workers, len(tasks)))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cur := openReader{pool: bufPool{mem: sn.mem}}
			defer cur.pool.close()
			defer cur.close()
			for {
				t := int(next.Add(1) - 1)
				if t >= len(tasks) {
					return
				}
				err := ctx.Err()
				if err == nil {
					emit := func(rec arrow.Record) error { return fn(w, t, rec) }
					if tk := tasks[t]; tk.rec != nil {
						err = sn.emit(tk.rec, out, emit)
					} else {
						err = sn.scanRowGroups(ctx, &cur, tk, out, asDict, emit)
					}
				}
				if err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// openFile opens a data file's Parquet reader (and gives the file it
// reads, which closing the reader closes); md, when not nil, is its
// footer, already read.
func (sn *Snapshot) openFile(f *dataFile, md *metadata.FileMetaData) (*file.Reader, *os.File, error) {
	osf, err := os.Open(f.path)
	if err != nil {
		return nil, nil, fmt.Errorf("scanning %q: opening %s: %w", sn.table, f.path, err)
	}
	opts := []file.ReadOption{file.WithReadProps(parquet.NewReaderProperties(sn.mem))}
	if md != nil {
		opts = append(opts, file.WithMetadata(md))
	}
	rdr, err := file.NewParquetReader(osf, opts...)
	if err != nil {
		osf.Close()
		return nil, nil, fmt.Errorf("scanning %q: reading %s: %w", sn.table, f.path, err)
	}
	return rdr, osf, nil
}

// fileRowGroups reads f's footer and lists the row groups the snapshot's
// time range does not rule out.
func (sn *Snapshot) fileRowGroups(f *dataFile) (*metadata.FileMetaData, []int, error) {
	rdr, _, err := sn.openFile(f, nil)
	if err != nil {
		return nil, nil, err
	}
	defer rdr.Close()
	return rdr.MetaData(), sn.rowGroups(rdr), nil
}

// scanRowGroups reads the task's row groups, as scanFile reads a whole file, through
// the worker's open reader cur (opening the task's file if cur holds
// another).
func (sn *Snapshot) scanRowGroups(ctx context.Context, cur *openReader, tk scanTask, out *arrow.Schema, asDict map[string]bool, fn func(arrow.Record) error) error {
	f := tk.file
	if cur.file != f {
		cur.close()
		rdr, src, err := sn.openFile(f, tk.md)
		if err != nil {
			return err
		}
		props := pqarrow.ArrowReadProperties{BatchSize: scanBatchRows}
		if len(asDict) > 0 {
			// The schema is flat: field i is leaf i.
			for i := range rdr.MetaData().Schema.NumColumns() {
				if asDict[rdr.MetaData().Schema.Column(i).Name()] {
					props.SetReadDict(i, true)
				}
			}
		}
		fr, err := pqarrow.NewFileReader(rdr, props, sn.mem)
		if err != nil {
			rdr.Close()
			return fmt.Errorf("scanning %q: reading %s: %w", sn.table, f.path, err)
		}
		fsc, err := fr.Schema()
		if err != nil {
			rdr.Close()
			return fmt.Errorf("scanning %q: schema of %s: %w", sn.table, f.path, err)
		}
		// Only the columns asked for: the row count of a batch comes from
		// the footer (direct columns) or pqarrow's records, so the time
		// column (one of the largest, nearly every value distinct) is not
		// read when the query does not use it. A file holding none of the
		// columns gives records of no columns, with the rows' count.
		var leaves []int
		for _, fld := range out.Fields() {
			if idx := fsc.FieldIndices(fld.Name); len(idx) > 0 && !slices.Contains(leaves, idx[0]) {
				leaves = append(leaves, idx[0])
			}
		}
		cur.file, cur.rdr, cur.src, cur.fr, cur.leaves = f, rdr, src, fr, leaves
		for _, leaf := range leaves {
			maxDef := rdr.MetaData().Schema.Column(leaf).MaxDefinitionLevel()
			if fld, width, ok := directField(rdr, fsc, leaf); ok && !asDict[fld.Name] {
				cur.direct = append(cur.direct, directColumn{scan: sn, leaf: leaf, field: fld, width: width, maxDef: maxDef})
			} else if fld, ok := dictField(rdr, fsc, leaf); ok && asDict[fld.Name] {
				cur.dicts = append(cur.dicts, directDictColumn{directColumn: directColumn{scan: sn, leaf: leaf, field: fld, maxDef: maxDef}})
			} else {
				cur.pq = append(cur.pq, leaf)
			}
		}
	}
	return sn.readGroups(ctx, cur, tk.groups, func(rec arrow.Record) error {
		if len(asDict) > 0 {
			return sn.emitDict(rec, out, asDict, fn)
		}
		return sn.emit(rec, out, fn)
	})
}

// readGroups reads the row groups through cur in records of up to
// scanBatchRows rows holding cur's leaves: the direct ones by directColumn
// and directDictColumn, the others through pqarrow, whose records then set
// the batches' sizes.
// An error from fn is returned as it is.
func (sn *Snapshot) readGroups(ctx context.Context, cur *openReader, groups []int, fn func(arrow.Record) error) error {
	readErr := func(err error) error {
		return fmt.Errorf("scanning %q: reading %s: %w", sn.table, cur.file.path, err)
	}
	cols := make([]*directColumn, len(cur.direct))
	for i, tmpl := range cur.direct {
		c := tmpl
		c.groups, c.src, c.own = groups, cur.src, cur.chunkReader(i)
		cols[i] = &c
	}
	dcols := make([]*directDictColumn, len(cur.dicts))
	for i, tmpl := range cur.dicts {
		if i == len(cur.dictStates) {
			cur.dictStates = append(cur.dictStates, &dictState{})
		}
		c := tmpl
		c.groups, c.st = groups, cur.dictStates[i]
		c.src, c.own = cur.src, cur.chunkReader(len(cols)+i)
		c.st.reset()
		defer c.st.reset() // drops the task's dictionary
		dcols[i] = &c
	}
	defer func() {
		// The page readers' last pages (a v2 page holds allocator memory).
		for _, c := range cols {
			c.pg.release()
		}
		for _, c := range dcols {
			c.pg.release()
		}
	}()
	batch := func(n int, pqRec arrow.Record) error {
		width := len(cols) + len(dcols) + len(cur.pq)
		fields := make([]arrow.Field, 0, width)
		arrs := make([]arrow.Array, 0, width)
		defer func() {
			for _, a := range arrs {
				a.Release()
			}
		}()
		for _, c := range cols {
			a, err := c.read(cur.rdr, n, &cur.pool)
			if err != nil {
				return readErr(err)
			}
			fields = append(fields, c.field)
			arrs = append(arrs, a)
		}
		for _, c := range dcols {
			a, err := c.read(cur.rdr, n, &cur.pool)
			if err != nil {
				return readErr(err)
			}
			fields = append(fields, c.field)
			arrs = append(arrs, a)
		}
		if pqRec != nil {
			for i, col := range pqRec.Columns() {
				col.Retain()
				fields = append(fields, pqRec.Schema().Field(i))
				arrs = append(arrs, col)
			}
		}
		rec := array.NewRecord(arrow.NewSchema(fields, nil), arrs, int64(n))
		defer rec.Release()
		if err := fn(rec); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("scanning %q: %w", sn.table, err)
		}
		return nil
	}
	if len(cur.pq) == 0 {
		var rows int64
		md := cur.rdr.MetaData()
		for _, g := range groups {
			rows += md.RowGroup(g).NumRows()
		}
		for rows > 0 {
			n := int(min(rows, scanBatchRows))
			if err := batch(n, nil); err != nil {
				return err
			}
			rows -= int64(n)
		}
		return nil
	}
	rr, err := cur.fr.GetRecordReader(ctx, cur.pq, groups)
	if err != nil {
		return readErr(err)
	}
	defer rr.Release()
	var batchErr error
	err = readAll(rr, cur.rdr.MetaData(), groups, func(rec arrow.Record) error {
		batchErr = batch(int(rec.NumRows()), rec)
		return batchErr
	})
	if err != nil && err != batchErr {
		return readErr(err)
	}
	return err
}

// emitDict is emit where the columns in asDict may be dictionaries of
// strings: the record passed to fn then has a dictionary field there.
func (sn *Snapshot) emitDict(rec arrow.Record, out *arrow.Schema, asDict map[string]bool, fn func(arrow.Record) error) error {
	fields := slices.Clone(out.Fields())
	cols := make([]arrow.Array, len(fields))
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	in := rec.Schema()
	for i, f := range fields {
		idx := in.FieldIndices(f.Name)
		if len(idx) == 0 {
			cols[i] = array.MakeArrayOfNull(sn.mem, f.Type, int(rec.NumRows()))
			continue
		}
		col := rec.Column(idx[0])
		dt, isDict := col.DataType().(*arrow.DictionaryType)
		switch {
		case isDict && asDict[f.Name] && dt.ValueType.ID() == arrow.STRING:
			fields[i].Type = dt
		case !arrow.TypeEqual(col.DataType(), f.Type):
			return fmt.Errorf("scanning %q: column %q is %s, table has %s", sn.table, f.Name, col.DataType(), f.Type)
		}
		col.Retain()
		cols[i] = col
	}
	res := array.NewRecord(arrow.NewSchema(fields, nil), cols, rec.NumRows())
	defer res.Release()
	return fn(res)
}

// directColumn reads one flat fixed-width column of a file (int32, int64,
// float32, float64, timestamp) straight into buffers from a worker's
// bufPool, decoding its pages itself (pages.go; parquet's column chunk
// readers for the chunks of other encodings), the same Arrow data pqarrow
// would give (which it hands over zero-copy too) without pqarrow
// allocating, zeroing and collecting fresh buffers for every batch.
type directColumn struct {
	scan   *Snapshot // the scan's snapshot (its fallback counter and test knob)
	leaf   int
	field  arrow.Field
	width  int   // bytes per value
	maxDef int16 // 0: required, no nulls
	groups []int // row groups still to read
	// cr is parquet's reader of the current chunk when its pages are not
	// decoded here (an encoding pages.go does not decode); pg the chunk
	// read page by page otherwise.
	cr   file.ColumnChunkReader
	pg   chunkPages
	defs []int16
	// src is the file; own the worker's chunkReader for this column,
	// which reads its chunks when ownPages allows.
	src io.ReaderAt
	own *chunkReader
}

// directField returns the Arrow field pqarrow gives for leaf and whether
// directColumn can read it: a flat column whose Arrow type is its physical
// type's, as pqarrow's zero-copy transfer takes it.
func directField(rdr *file.Reader, fsc *arrow.Schema, leaf int) (arrow.Field, int, bool) {
	descr := rdr.MetaData().Schema.Column(leaf)
	if descr.MaxRepetitionLevel() != 0 || descr.MaxDefinitionLevel() > 1 {
		return arrow.Field{}, 0, false
	}
	idx := fsc.FieldIndices(descr.Name())
	if len(idx) != 1 || idx[0] != leaf {
		return arrow.Field{}, 0, false
	}
	fld := fsc.Field(leaf)
	pt := descr.PhysicalType()
	switch dt := fld.Type.(type) {
	case *arrow.Int32Type:
		return fld, 4, pt == parquet.Types.Int32
	case *arrow.Float32Type:
		return fld, 4, pt == parquet.Types.Float
	case *arrow.Int64Type:
		return fld, 8, pt == parquet.Types.Int64
	case *arrow.Float64Type:
		return fld, 8, pt == parquet.Types.Double
	case *arrow.TimestampType:
		ok := pt == parquet.Types.Int64 && (dt.Unit == arrow.Millisecond || dt.Unit == arrow.Microsecond || dt.Unit == arrow.Nanosecond)
		return fld, 8, ok
	}
	return arrow.Field{}, 0, false
}

// read reads the next n rows of the column, moving on through its row
// groups, as an array whose buffers come from pool.
func (d *directColumn) read(rdr *file.Reader, n int, pool *bufPool) (arrow.Array, error) {
	if d.maxDef > 0 {
		if cap(d.defs) < n {
			d.defs = make([]int16, n)
		}
		d.defs = d.defs[:n]
	}
	vals := memory.NewResizableBuffer(pool)
	defer vals.Release()
	vals.Resize(n * d.width)
	var total int64
	nvals := 0
	valid := validity{pool: pool, n: n}
	defer valid.release()
	for total < int64(n) {
		if err := d.advance(rdr, int64(n)-total, false); err != nil {
			return nil, err
		}
		want := int64(n) - total
		b := vals.Bytes()
		if d.cr == nil {
			k, v, err := d.pageRun(&valid, total, n)
			if err != nil {
				return nil, err
			}
			if err := d.fixedValues(b[nvals*d.width : (nvals+v)*d.width]); err != nil {
				return nil, err
			}
			d.pg.left -= k
			d.pg.done += int64(k)
			total += int64(k)
			nvals += v
			continue
		}
		var defs []int16
		if d.maxDef > 0 {
			defs = d.defs[total:]
		}
		var (
			t   int64
			v   int
			err error
		)
		switch cr := d.cr.(type) {
		case *file.Int32ColumnChunkReader:
			t, v, err = cr.ReadBatch(want, arrow.Int32Traits.CastFromBytes(b)[nvals:], defs, nil)
		case *file.Int64ColumnChunkReader:
			t, v, err = cr.ReadBatch(want, arrow.Int64Traits.CastFromBytes(b)[nvals:], defs, nil)
		case *file.Float32ColumnChunkReader:
			t, v, err = cr.ReadBatch(want, arrow.Float32Traits.CastFromBytes(b)[nvals:], defs, nil)
		case *file.Float64ColumnChunkReader:
			t, v, err = cr.ReadBatch(want, arrow.Float64Traits.CastFromBytes(b)[nvals:], defs, nil)
		default:
			return nil, fmt.Errorf("column %q: unexpected reader %T", d.field.Name, d.cr)
		}
		if err != nil {
			return nil, err
		}
		if t == 0 && v == 0 {
			// A reader that has more but gives nothing would loop forever.
			return nil, fmt.Errorf("column %q: no progress reading", d.field.Name)
		}
		if d.maxDef > 0 {
			valid.defs(int(total), d.defs[total:total+t], d.maxDef)
		}
		total += t
		nvals += v
	}
	bufs := []*memory.Buffer{nil, vals}
	if nulls := n - nvals; nulls > 0 {
		if err := valid.ready(nvals); err != nil {
			return nil, fmt.Errorf("column %q: %w", d.field.Name, err)
		}
		if d.width == 8 {
			spreadBits(arrow.Int64Traits.CastFromBytes(vals.Bytes()), nvals, valid.bits, n)
		} else {
			spreadBits(arrow.Int32Traits.CastFromBytes(vals.Bytes()), nvals, valid.bits, n)
		}
		bufs[0] = valid.buf
	}
	data := array.NewData(d.field.Type, n, bufs, nil, n-nvals, 0)
	defer data.Release()
	return array.MakeFromData(data), nil
}

// bufPool is a memory.Allocator over mem that keeps freed buffers for
// reuse: the buffers of a scan worker's records come back when the records
// are released (after fn returns, unless fn retains them) and serve the
// next batches. Buffers are not zeroed: directColumn writes every byte it
// uses. close hands the kept buffers back to mem, as Free does afterwards.
type bufPool struct {
	mem    memory.Allocator
	mu     sync.Mutex
	free   [][]byte      // kept buffers, as mem allocated them
	sizes  map[*byte]int // length mem allocated, by first byte
	closed bool
}

// bufPoolMax bounds the buffers a pool keeps; more go back to mem.
const bufPoolMax = 32

func (p *bufPool) Allocate(size int) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	best := -1 // the smallest that fits
	for i, b := range p.free {
		if len(b) >= size && (best < 0 || len(b) < len(p.free[best])) {
			best = i
		}
	}
	if best >= 0 {
		b := p.free[best]
		p.free = slices.Delete(p.free, best, best+1)
		return b[:size]
	}
	b := p.mem.Allocate(size)
	if cap(b) > 0 && !p.closed {
		if p.sizes == nil {
			p.sizes = map[*byte]int{}
		}
		p.sizes[&b[:1][0]] = len(b)
	}
	return b
}

func (p *bufPool) Reallocate(size int, b []byte) []byte {
	if cap(b) >= size {
		return b[:size]
	}
	nb := p.Allocate(size)
	copy(nb, b)
	p.Free(b)
	return nb
}

func (p *bufPool) Free(b []byte) {
	if cap(b) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	key := &b[:1][0]
	n, ok := p.sizes[key]
	if !ok {
		p.mem.Free(b)
		return
	}
	b = b[:n]
	if p.closed || len(p.free) >= bufPoolMax {
		delete(p.sizes, key)
		p.mem.Free(b)
		return
	}
	p.free = append(p.free, b)
}

// close gives the kept buffers back to mem; buffers freed later go back
// there directly.
func (p *bufPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.free {
		delete(p.sizes, &b[:1][0])
		p.mem.Free(b)
	}
	p.free, p.closed = nil, true
}
