package arrowstore

import (
	"context"
	"fmt"
	"math"
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
	"github.com/lakegate/lakegate/arrowstore/rows"
)

// TimeRange is an inclusive range of unix nanoseconds (UTC).
type TimeRange struct {
	Min, Max int64
}

// AllTime returns the range that holds every time.
func AllTime() TimeRange { return TimeRange{Min: math.MinInt64, Max: math.MaxInt64} }

// msRange returns the range in unix milliseconds that holds every stored
// (truncated) time of the range.
func (tr TimeRange) msRange() (int64, int64) { return nsToMs(tr.Min), nsToMs(tr.Max) }

// overlapsDay reports whether the UTC day may hold rows of the range.
func (tr TimeRange) overlapsDay(day int64) bool {
	lo, hi := tr.msRange()
	return dayOf(lo) <= day && day <= dayOf(hi)
}

// scanBatchRows is the number of rows per record read from a file.
const scanBatchRows = 64 * 1024

// Snapshot is a consistent view of one table: the rows acknowledged before
// it was taken, each exactly once, whether they are still in memory or
// already in Parquet files. Release it when done.
type Snapshot struct {
	// Schema is the table's schema when the snapshot was taken; field 0 is
	// the time column.
	Schema *arrow.Schema

	table   string
	tr      TimeRange
	mem     memory.Allocator
	store   *Store
	recs    []arrow.Record // retained in-memory batches
	files   []*dataFile    // referenced: not deleted before Release
	release sync.Once

	// pageFallbacks counts the column chunks ScanParallel's own page
	// decoding handed to parquet's reader (an encoding it does not decode).
	pageFallbacks atomic.Int64
	// plainFallback, set by tests, hands PLAIN data pages to parquet's
	// reader too: the chunks of a dictionary that overflowed then move to
	// it in their middle.
	plainFallback bool
}

// Snapshot returns a view of table holding at least the rows within tr
// (partitions wholly outside it may be left out). It returns an error
// wrapping ErrNoTable for an unknown table.
func (s *Store) Snapshot(table string, tr TimeRange) (*Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("taking snapshot: %w", rows.ErrStoreClosed)
	}
	t := s.tables[table]
	if t == nil {
		return nil, fmt.Errorf("taking snapshot: %w: %q", ErrNoTable, table)
	}
	snap := &Snapshot{Schema: t.schema, table: table, tr: tr, mem: s.mem, store: s}
	days := make([]int64, 0, len(t.parts))
	for day := range t.parts {
		if tr.overlapsDay(day) {
			days = append(days, day)
		}
	}
	slices.Sort(days)
	for _, day := range days {
		p := t.parts[day]
		p.seal()
		for _, b := range p.batches {
			b.rec.Retain()
			snap.recs = append(snap.recs, b.rec)
		}
	}
	for _, f := range t.files {
		if tr.overlapsDay(f.day) {
			f.refs++
			snap.files = append(snap.files, f)
		}
	}
	return snap, nil
}

// Release frees the snapshot's in-memory batches and lets retention and
// compaction delete the files it held. It is safe to call twice.
func (sn *Snapshot) Release() {
	sn.release.Do(func() {
		for _, r := range sn.recs {
			r.Release()
		}
		sn.recs = nil
		sn.store.unref(sn.files)
		sn.files = nil
	})
}

// Scan calls fn with records holding exactly columns (nil: every field of
// Schema), in that order, typed as in Schema; a column a batch or file lacks
// is all nulls. Rows outside the snapshot's time range may be passed: the
// caller filters. Each record is released when fn returns; fn retains it to
// keep it. An error from fn stops the scan and is returned.
func (sn *Snapshot) Scan(ctx context.Context, columns []string, fn func(arrow.Record) error) error {
	out, err := sn.project(columns)
	if err != nil {
		return err
	}
	for _, rec := range sn.recs {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("scanning %q: %w", sn.table, err)
		}
		if err := sn.emit(rec, out, fn); err != nil {
			return err
		}
	}
	for _, f := range sn.files {
		if err := sn.scanFile(ctx, f, out, fn); err != nil {
			return err
		}
	}
	return nil
}

// project returns the output schema for the requested columns.
func (sn *Snapshot) project(columns []string) (*arrow.Schema, error) {
	if columns == nil {
		return sn.Schema, nil
	}
	fields := make([]arrow.Field, len(columns))
	for i, c := range columns {
		idx := sn.Schema.FieldIndices(c)
		if len(idx) == 0 {
			return nil, fmt.Errorf("scanning %q: no column %q", sn.table, c)
		}
		fields[i] = sn.Schema.Field(idx[0])
	}
	return arrow.NewSchema(fields, nil), nil
}

// emit builds the output record from rec's columns by name and calls fn.
func (sn *Snapshot) emit(rec arrow.Record, out *arrow.Schema, fn func(arrow.Record) error) error {
	cols := make([]arrow.Array, out.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	in := rec.Schema()
	for i, f := range out.Fields() {
		if idx := in.FieldIndices(f.Name); len(idx) > 0 {
			col := rec.Column(idx[0])
			if !arrow.TypeEqual(col.DataType(), f.Type) {
				return fmt.Errorf("scanning %q: column %q is %s, table has %s", sn.table, f.Name, col.DataType(), f.Type)
			}
			col.Retain()
			cols[i] = col
			continue
		}
		cols[i] = array.MakeArrayOfNull(sn.mem, f.Type, int(rec.NumRows()))
	}
	res := array.NewRecord(out, cols, rec.NumRows())
	defer res.Release()
	return fn(res)
}

// scanFile reads the row groups of one file that may hold rows in range.
func (sn *Snapshot) scanFile(ctx context.Context, f *dataFile, out *arrow.Schema, fn func(arrow.Record) error) error {
	osf, err := os.Open(f.path)
	if err != nil {
		return fmt.Errorf("scanning %q: opening %s: %w", sn.table, f.path, err)
	}
	rdr, err := file.NewParquetReader(osf, file.WithReadProps(parquet.NewReaderProperties(sn.mem)))
	if err != nil {
		osf.Close()
		return fmt.Errorf("scanning %q: reading %s: %w", sn.table, f.path, err)
	}
	defer rdr.Close()
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: scanBatchRows}, sn.mem)
	if err != nil {
		return fmt.Errorf("scanning %q: reading %s: %w", sn.table, f.path, err)
	}
	fsc, err := fr.Schema()
	if err != nil {
		return fmt.Errorf("scanning %q: schema of %s: %w", sn.table, f.path, err)
	}
	// Always read the time column (leaf 0) so records have a row count
	// even when none of the requested columns is in the file; the schema
	// is flat, so field i is leaf i.
	leaves := []int{0}
	for _, fld := range out.Fields() {
		if idx := fsc.FieldIndices(fld.Name); len(idx) > 0 && !slices.Contains(leaves, idx[0]) {
			leaves = append(leaves, idx[0])
		}
	}
	groups := sn.rowGroups(rdr)
	if len(groups) == 0 {
		return nil
	}
	rr, err := fr.GetRecordReader(ctx, leaves, groups)
	if err != nil {
		return fmt.Errorf("scanning %q: reading %s: %w", sn.table, f.path, err)
	}
	defer rr.Release()
	var fnErr error
	err = readAll(rr, rdr.MetaData(), groups, func(rec arrow.Record) error {
		if fnErr = sn.emit(rec, out, fn); fnErr != nil {
			return fnErr
		}
		if err := ctx.Err(); err != nil {
			fnErr = fmt.Errorf("scanning %q: %w", sn.table, err)
			return fnErr
		}
		return nil
	})
	if err != nil && err != fnErr {
		return fmt.Errorf("scanning %q: reading %s: %w", sn.table, f.path, err)
	}
	return err
}

// rowGroups lists the row groups whose time statistics overlap the range.
func (sn *Snapshot) rowGroups(rdr *file.Reader) []int {
	lo, hi := sn.tr.msRange()
	md := rdr.MetaData()
	groups := make([]int, 0, rdr.NumRowGroups())
	for i := 0; i < rdr.NumRowGroups(); i++ {
		if rgOutside(md.RowGroup(i), lo, hi) {
			continue
		}
		groups = append(groups, i)
	}
	return groups
}

// rgOutside reports whether the row group's time column (column 0) has
// statistics that put it wholly outside [lo, hi] (unix ms).
func rgOutside(rg *metadata.RowGroupMetaData, lo, hi int64) bool {
	cc, err := rg.ColumnChunk(0)
	if err != nil {
		return false
	}
	if ok, err := cc.StatsSet(); err != nil || !ok {
		return false
	}
	st, err := cc.Statistics()
	if err != nil {
		return false
	}
	i64, ok := st.(*metadata.Int64Statistics)
	if !ok || !i64.HasMinMax() {
		return false
	}
	return i64.Max() < lo || i64.Min() > hi
}
