package arrowstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
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
	fr     *pqarrow.FileReader
	leaves []int
}

func (o *openReader) close() {
	if o.rdr != nil {
		o.rdr.Close()
	}
	*o = openReader{}
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
			var cur openReader
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

// openFile opens a data file's Parquet reader; md, when not nil, is its
// footer, already read.
func (sn *Snapshot) openFile(f *dataFile, md *metadata.FileMetaData) (*file.Reader, error) {
	osf, err := os.Open(f.path)
	if err != nil {
		return nil, fmt.Errorf("scanning %q: opening %s: %w", sn.table, f.path, err)
	}
	opts := []file.ReadOption{file.WithReadProps(parquet.NewReaderProperties(sn.mem))}
	if md != nil {
		opts = append(opts, file.WithMetadata(md))
	}
	rdr, err := file.NewParquetReader(osf, opts...)
	if err != nil {
		osf.Close()
		return nil, fmt.Errorf("scanning %q: reading %s: %w", sn.table, f.path, err)
	}
	return rdr, nil
}

// fileRowGroups reads f's footer and lists the row groups the snapshot's
// time range does not rule out.
func (sn *Snapshot) fileRowGroups(f *dataFile) (*metadata.FileMetaData, []int, error) {
	rdr, err := sn.openFile(f, nil)
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
		rdr, err := sn.openFile(f, tk.md)
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
		leaves := []int{0} // the time column, so records have a row count
		for _, fld := range out.Fields() {
			if idx := fsc.FieldIndices(fld.Name); len(idx) > 0 && !slices.Contains(leaves, idx[0]) {
				leaves = append(leaves, idx[0])
			}
		}
		*cur = openReader{file: f, rdr: rdr, fr: fr, leaves: leaves}
	}
	rr, err := cur.fr.GetRecordReader(ctx, cur.leaves, tk.groups)
	if err != nil {
		return fmt.Errorf("scanning %q: reading %s: %w", sn.table, f.path, err)
	}
	defer rr.Release()
	for rr.Next() {
		var err error
		if len(asDict) > 0 {
			err = sn.emitDict(rr.Record(), out, asDict, fn)
		} else {
			err = sn.emit(rr.Record(), out, fn)
		}
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("scanning %q: %w", sn.table, err)
		}
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("scanning %q: reading %s: %w", sn.table, f.path, err)
	}
	return nil
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
