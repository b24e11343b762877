package arrowstore

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/lakegate/lakegate/arrowstore/internal/wal"
)

// walSeqKey is the Parquet key-value metadata entry holding the highest WAL
// sequence number of the rows in the file. Recovery skips logged rows of
// the partition at or below it.
const walSeqKey = "lakegate.wal_seq"

// maxRowGroupRows caps a Parquet row group, so time statistics stay useful
// for skipping in large files.
const maxRowGroupRows = 128 * 1024

func partitionDir(dir, table, date string) string {
	return filepath.Join(dir, table, "date="+date)
}

func partFileName(n uint64) string { return fmt.Sprintf("part-%08d.parquet", n) }

func tmpFileName(n uint64) string { return fmt.Sprintf(".part-%08d.parquet.tmp", n) }

// flushPartition writes the sealed rows of one partition to a new Parquet
// file and, once the file is renamed and synced, replaces the in-memory
// batches by it under the store lock and deletes log segments no longer
// needed. flushMu is held.
func (s *Store) flushPartition(k partKey) error {
	s.mu.Lock()
	t := s.tables[k.table]
	var p *partition
	if t != nil {
		p = t.parts[k.day]
	}
	if p == nil {
		s.mu.Unlock()
		return nil
	}
	p.seal()
	n := len(p.batches)
	if n == 0 {
		s.mu.Unlock()
		return nil
	}
	recs := make([]arrow.Record, n)
	for i, b := range p.batches {
		b.rec.Retain()
		recs[i] = b.rec
	}
	maxSeq := p.batches[n-1].maxSeq
	sc := t.schema
	fileNo := t.nextFile
	t.nextFile++
	dir := partitionDir(s.opts.Dir, t.name, p.date)
	log := t.log
	cut := time.Now()
	s.mu.Unlock()

	path, nrows, renamed, err := writeParquet(dir, fileNo, sc, recs, maxSeq, nil, s.opts.TimeColumn, s.mem)
	for _, r := range recs {
		r.Release()
	}

	s.mu.Lock()
	if err != nil {
		s.stats.FlushErrors++
		s.flushFailures++
	} else {
		s.flushFailures = 0
	}
	if !renamed {
		s.mu.Unlock()
		return fmt.Errorf("flushing table %q partition %s: %w", k.table, p.date, err)
	}
	if err != nil {
		// The file is visible but its name may not be durable. Keep it
		// (writing the rows again would duplicate them for readers) and
		// keep every log segment from now on: if the name is lost in a
		// power cut, the next Open replays the rows from the log.
		s.holdWAL = true
		err = fmt.Errorf("flushing table %q partition %s: %w", k.table, p.date, err)
	}
	droppedRows, droppedBytes := p.dropFlushed(n)
	df := &dataFile{path: path, n: fileNo, day: p.day, rows: nrows, size: fileSizeOf(path), seq: maxSeq}
	t.files = append(t.files, df)
	s.stats.DiskBytes += df.size
	s.stats.FilesWritten++
	s.stats.RowsFlushed += uint64(droppedRows)
	s.stats.RowsBuffered -= int64(droppedRows)
	s.stats.BytesBuffered -= droppedBytes
	if p.rows == 0 {
		p.release()
		delete(t.parts, p.day)
	} else {
		p.firstAt = cut // the rest arrived after the cut
	}
	low, hold := s.lowWaterLocked(), s.holdWAL
	s.mu.Unlock()

	log.Debug("arrowstore: flushed partition", "file", path, "rows", nrows, "wal_seq", maxSeq)
	if err != nil || hold {
		return err
	}
	if err := s.wal.Release(low); err != nil {
		return fmt.Errorf("releasing wal segments: %w", err)
	}
	return nil
}

// writeParquet writes recs (whose schemas are prefixes of sc) as one
// Parquet file part-<n>.parquet in dir: written to a temporary name,
// fsynced, renamed, and the directory fsynced, so the file is either
// complete or absent after a crash. It returns the path and row count, and
// whether the file was renamed into place (it may be, with an error, when
// the directory sync fails).
func writeParquet(dir string, n uint64, sc *arrow.Schema, recs []arrow.Record, maxSeq uint64, replaces []uint64, timeColumn string, mem memory.Allocator) (string, int64, bool, error) {
	return writeParquetWith(dir, n, func(f *os.File) (int64, error) {
		return encodeParquet(f, sc, recs, maxSeq, replaces, timeColumn, mem)
	})
}

// writeParquetWith is writeParquet with the encoding step given: encode
// writes the whole file to f and returns its row count.
func writeParquetWith(dir string, n uint64, encode func(*os.File) (int64, error)) (string, int64, bool, error) {
	if err := ensureDir(dir); err != nil {
		return "", 0, false, err
	}
	tmp := filepath.Join(dir, tmpFileName(n))
	final := filepath.Join(dir, partFileName(n))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return "", 0, false, fmt.Errorf("creating parquet file: %w", err)
	}
	nrows, err := encode(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		os.Remove(tmp)
		return "", 0, false, fmt.Errorf("writing parquet file %s: %w", final, err)
	}
	if err := wal.SyncDir(dir); err != nil {
		return final, nrows, true, err
	}
	return final, nrows, true, nil
}

// parquetProps are the writer settings: zstd, dictionaries (except for the
// time column, where nearly every value is distinct), statistics, a
// REQUIRED root, and
// timestamps as TIMESTAMP(MILLIS, isAdjustedToUTC=true) with the Arrow
// schema stored so Arrow readers get the exact types back.
func parquetProps(timeColumn string, mem memory.Allocator) (*parquet.WriterProperties, pqarrow.ArrowWriterProperties) {
	props := parquet.NewWriterProperties(
		parquet.WithAllocator(mem),
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithDictionaryDefault(true),
		parquet.WithDictionaryFor(timeColumn, false),
		parquet.WithStats(true),
		parquet.WithMaxRowGroupLength(maxRowGroupRows),
		// arrow-go v17 marks the root REPEATED by default, which some
		// readers (Impala, Snowflake) take for a one-level list; the
		// spec's writers use REQUIRED (apache/arrow-go#722).
		parquet.WithRootRepetition(parquet.Repetitions.Required),
	)
	aprops := pqarrow.NewArrowWriterProperties(
		pqarrow.WithAllocator(mem),
		pqarrow.WithStoreSchema(),
		pqarrow.WithCoerceTimestamps(arrow.Millisecond),
	)
	return props, aprops
}

func encodeParquet(f *os.File, sc *arrow.Schema, recs []arrow.Record, maxSeq uint64, replaces []uint64, timeColumn string, mem memory.Allocator) (int64, error) {
	return encodeParquetFrom(f, sc, maxSeq, replaces, timeColumn, mem, func(put func(arrow.Record) error) error {
		for _, rec := range recs {
			if err := put(rec); err != nil {
				return err
			}
		}
		return nil
	})
}

// encodeParquetFrom writes a store file to f: the records produce passes to
// put (any prefix of sc's schema; widened to sc), and the key-value
// metadata wal_seq = maxSeq and, for a compacted file, the part numbers it
// replaces.
func encodeParquetFrom(f *os.File, sc *arrow.Schema, maxSeq uint64, replaces []uint64, timeColumn string, mem memory.Allocator, produce func(put func(arrow.Record) error) error) (int64, error) {
	// The Parquet writer closes its sink and, in this version, drops the
	// error of writing the footer; hide Close and keep the first error.
	sink := &errWriter{w: bufio.NewWriterSize(f, 1<<20)}
	props, aprops := parquetProps(timeColumn, mem)
	fw, err := pqarrow.NewFileWriter(sc, sink, props, aprops)
	if err != nil {
		return 0, fmt.Errorf("starting parquet writer: %w", err)
	}
	err = fw.AppendKeyValueMetadata(walSeqKey, strconv.FormatUint(maxSeq, 10))
	if err == nil && len(replaces) > 0 {
		err = fw.AppendKeyValueMetadata(replacesKey, formatPartNumbers(replaces))
	}
	if err != nil {
		fw.Close()
		return 0, fmt.Errorf("adding parquet metadata: %w", err)
	}
	var nrows int64
	err = produce(func(rec arrow.Record) error {
		wide, err := widen(rec, sc, mem)
		if err != nil {
			return err
		}
		err = fw.WriteBuffered(wide)
		nrows += wide.NumRows()
		wide.Release()
		if err != nil {
			return fmt.Errorf("writing parquet rows: %w", err)
		}
		return sink.err
	})
	if err != nil {
		fw.Close()
		return 0, err
	}
	if err := fw.Close(); err != nil {
		return 0, fmt.Errorf("closing parquet writer: %w", err)
	}
	if sink.err != nil {
		return 0, fmt.Errorf("writing parquet data: %w", sink.err)
	}
	if err := sink.w.Flush(); err != nil {
		return 0, fmt.Errorf("writing parquet data: %w", err)
	}
	return nrows, nil
}

// errWriter remembers the first write error and has no Close.
type errWriter struct {
	w   *bufio.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

var _ io.Writer = (*errWriter)(nil)

// widen returns rec with sc's schema: rec's columns, then null columns for
// the fields added to the table after rec was built. The caller releases
// the result.
func widen(rec arrow.Record, sc *arrow.Schema, mem memory.Allocator) (arrow.Record, error) {
	have := rec.Schema()
	if have.NumFields() > sc.NumFields() {
		return nil, fmt.Errorf("widening record: %d columns, schema has %d", have.NumFields(), sc.NumFields())
	}
	cols := make([]arrow.Array, sc.NumFields())
	for i := range cols {
		if i < have.NumFields() {
			if have.Field(i).Name != sc.Field(i).Name || !arrow.TypeEqual(have.Field(i).Type, sc.Field(i).Type) {
				return nil, fmt.Errorf("widening record: column %d is %s, schema has %s", i, have.Field(i), sc.Field(i))
			}
			cols[i] = rec.Column(i)
			cols[i].Retain()
			continue
		}
		cols[i] = array.MakeArrayOfNull(mem, sc.Field(i).Type, int(rec.NumRows()))
	}
	out := array.NewRecord(sc, cols, rec.NumRows())
	for _, c := range cols {
		c.Release()
	}
	return out, nil
}

// ensureDir creates dir and any missing parents, fsyncing each parent that
// gained an entry so the new directories survive a crash.
func ensureDir(dir string) error {
	if st, err := os.Stat(dir); err == nil {
		if !st.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("checking directory: %w", err)
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := ensureDir(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("creating directory: %w", err)
	}
	return wal.SyncDir(parent)
}
