package arrowstore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	"github.com/lakegate/lakegate/arrowstore/internal/wal"
	"github.com/lakegate/lakegate/arrowstore/rows"
)

// recover rebuilds the store's state from the data directory:
//
//  1. every ".part-*.parquet.tmp" (a flush a crash interrupted) is deleted;
//  2. each table's schema is the union of its files' schemas in file order,
//     and each partition's "covered" seq is the highest lakegate.wal_seq of
//     its files;
//  3. the log is replayed in seq order; a row whose partition is covered at
//     or above the record's seq is already in a file and is skipped, the
//     others go back into the buffers.
//
// Step 3 is exact because a partition's rows reach its buffer in seq order
// and flushes of a partition are serialized: a file with wal_seq M holds,
// together with the partition's earlier files, every row of the partition
// with seq <= M.
func (s *Store) recover(ctx context.Context) error {
	covered := make(map[partKey]uint64)
	var maxFileSeq uint64
	retired, err := readRetired(s.retiredPath())
	if err != nil {
		return err
	}
	s.retired = retired
	for _, rp := range retired {
		k := partKey{rp.Table, rp.Day}
		covered[k] = max(covered[k], rp.Seq)
		maxFileSeq = max(maxFileSeq, rp.Seq)
	}
	if err := s.loadTables(ctx, covered, &maxFileSeq); err != nil {
		return err
	}
	lg, err := wal.Open(wal.Options{Dir: s.walDir(), Logger: s.log})
	if err != nil {
		return fmt.Errorf("opening wal: %w", err)
	}
	s.wal = lg
	now := time.Now()
	keep := make([]rows.Row, 0, 16)
	last, err := lg.Replay(func(seq uint64, rs []rows.Row) error {
		keep = keep[:0]
		for _, r := range rs {
			if seq <= covered[partKey{r.Table, dayOf(nsToMs(r.Time))}] {
				continue
			}
			keep = append(keep, r)
		}
		if len(keep) == 0 {
			return nil
		}
		res := s.normalizeLocked(keep)
		for _, rj := range res.Rejected {
			// Cannot happen for records this store wrote; say so loudly.
			s.log.Error("arrowstore: dropping logged row that no longer fits", "seq", seq, "err", rj.Err)
		}
		s.applyLocked(seq, now)
		s.stats.RowsReplayed += uint64(len(s.normRows))
		s.clearScratchLocked()
		return nil
	})
	if err != nil {
		return fmt.Errorf("replaying wal: %w", err)
	}
	s.nextSeq = max(last, maxFileSeq) + 1
	if err := lg.Start(s.nextSeq); err != nil {
		return fmt.Errorf("starting wal: %w", err)
	}
	if err := lg.Release(s.lowWaterLocked()); err != nil {
		return fmt.Errorf("releasing wal segments: %w", err)
	}
	if err := s.pruneRetired(); err != nil {
		return err
	}
	if s.stats.RowsReplayed > 0 || last > 0 {
		s.log.Info("arrowstore: recovered", "rows_replayed", s.stats.RowsReplayed, "last_seq", last, "tables", len(s.tables))
	}
	return nil
}

// loadTables reads the footers of every table's Parquet files.
func (s *Store) loadTables(ctx context.Context, covered map[partKey]uint64, maxSeq *uint64) error {
	ents, err := os.ReadDir(s.opts.Dir)
	if err != nil {
		return fmt.Errorf("listing data directory: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if !e.IsDir() || strings.HasPrefix(name, "_") || strings.HasPrefix(name, ".") {
			continue
		}
		if err := checkTableName(name); err != nil {
			s.log.Warn("arrowstore: ignoring directory that is not a table", "dir", name, "err", err)
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.loadTable(name, covered, maxSeq); err != nil {
			return fmt.Errorf("loading table %q: %w", name, err)
		}
	}
	return nil
}

type partFile struct {
	n    uint64
	day  int64
	path string

	fields   []arrow.Field
	seq      uint64
	rows     int64
	replaces []uint64
}

func (s *Store) loadTable(name string, covered map[partKey]uint64, maxSeq *uint64) error {
	tdir := filepath.Join(s.opts.Dir, name)
	ents, err := os.ReadDir(tdir)
	if err != nil {
		return fmt.Errorf("listing table directory: %w", err)
	}
	var files []partFile
	for _, e := range ents {
		date, ok := strings.CutPrefix(e.Name(), "date=")
		if !e.IsDir() || !ok {
			continue
		}
		tm, err := time.Parse("2006-01-02", date)
		if err != nil {
			s.log.Warn("arrowstore: ignoring partition with a bad date", "table", name, "dir", e.Name())
			continue
		}
		day := dayOf(tm.UnixMilli())
		pdir := filepath.Join(tdir, e.Name())
		found, err := s.scanPartition(pdir, day)
		if err != nil {
			return err
		}
		files = append(files, found...)
	}
	if len(files) == 0 {
		return nil
	}
	sort.Slice(files, func(i, j int) bool { return files[i].n < files[j].n })
	replaced := map[uint64]bool{}
	for i := range files {
		pf := &files[i]
		var err error
		pf.fields, pf.seq, pf.rows, pf.replaces, err = readFooter(pf.path, s.mem)
		if err != nil {
			return err
		}
		for _, n := range pf.replaces {
			replaced[n] = true
		}
	}
	t := newTable(name, s.opts.TimeColumn, s.log)
	var gone []*dataFile
	for _, pf := range files {
		t.nextFile = max(t.nextFile, pf.n+1)
		df := &dataFile{path: pf.path, n: pf.n, day: pf.day, rows: pf.rows, size: fileSizeOf(pf.path), seq: pf.seq}
		// A crash after a compaction's rename or during retention leaves
		// files that are no longer the table's: their rows are in the
		// compacted file, or were meant to be deleted.
		if replaced[pf.n] || s.isRetired(name, pf.day, pf.seq) {
			s.log.Info("arrowstore: deleting file replaced by compaction or retired", "file", pf.path)
			gone = append(gone, df)
			continue
		}
		if err := t.merge(pf.path, s.opts.TimeColumn, pf.fields); err != nil {
			return err
		}
		k := partKey{name, pf.day}
		covered[k] = max(covered[k], pf.seq)
		*maxSeq = max(*maxSeq, pf.seq)
		t.files = append(t.files, df)
		s.stats.DiskBytes += df.size
	}
	s.removeFiles(gone)
	s.tables[name] = t
	s.stats.Tables = len(s.tables)
	return nil
}

// scanPartition deletes leftover temporary files and lists the part files.
func (s *Store) scanPartition(pdir string, day int64) ([]partFile, error) {
	ents, err := os.ReadDir(pdir)
	if err != nil {
		return nil, fmt.Errorf("listing partition: %w", err)
	}
	var files []partFile
	removed := false
	for _, e := range ents {
		fn := e.Name()
		if strings.HasPrefix(fn, ".part-") && strings.HasSuffix(fn, ".parquet.tmp") {
			s.log.Info("arrowstore: deleting unfinished parquet file", "file", filepath.Join(pdir, fn))
			if err := os.Remove(filepath.Join(pdir, fn)); err != nil {
				return nil, fmt.Errorf("deleting unfinished file: %w", err)
			}
			removed = true
			continue
		}
		num, ok := strings.CutPrefix(fn, "part-")
		if !ok {
			continue
		}
		num, ok = strings.CutSuffix(num, ".parquet")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		n, err := strconv.ParseUint(num, 10, 64)
		if err != nil {
			continue
		}
		files = append(files, partFile{n: n, day: day, path: filepath.Join(pdir, fn)})
	}
	if removed {
		if err := wal.SyncDir(pdir); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// merge adds the columns of a file's schema that the table lacks.
func (t *table) merge(path, timeColumn string, fields []arrow.Field) error {
	if len(fields) == 0 || fields[0].Name != timeColumn || !arrow.TypeEqual(fields[0].Type, timestampType) {
		return fmt.Errorf("file %s: first column must be %q %s (is the time_column option changed?)", path, timeColumn, timestampType)
	}
	var add []pendingColumn
	for _, f := range fields[1:] {
		k, ok := kindOf(f.Type)
		if !ok {
			return fmt.Errorf("file %s: column %q has unsupported type %s", path, f.Name, f.Type)
		}
		if i, ok := t.index[f.Name]; ok {
			if t.kinds[i] != k {
				return fmt.Errorf("%w: file %s: column %q is %s, earlier files have %s", rows.ErrSchemaConflict, path, f.Name, k, t.kinds[i])
			}
			continue
		}
		if slicesContainsName(add, f.Name) {
			return fmt.Errorf("file %s: column %q appears twice", path, f.Name)
		}
		add = append(add, pendingColumn{name: f.Name, kind: k})
	}
	t.add(add)
	return nil
}

func slicesContainsName(cols []pendingColumn, name string) bool {
	for _, c := range cols {
		if c.name == name {
			return true
		}
	}
	return false
}

// readFooter returns a Parquet file's Arrow fields, its lakegate.wal_seq,
// its row count and the part numbers it replaces, reading only the footer.
func readFooter(path string, mem memory.Allocator) ([]arrow.Field, uint64, int64, []uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, 0, nil, fmt.Errorf("opening parquet file: %w", err)
	}
	rdr, err := file.NewParquetReader(f, file.WithReadProps(parquet.NewReaderProperties(mem)))
	if err != nil {
		f.Close()
		return nil, 0, 0, nil, fmt.Errorf("reading parquet footer of %s: %w", path, err)
	}
	defer rdr.Close()
	md := rdr.MetaData()
	sc, err := pqarrow.FromParquet(md.Schema, nil, md.KeyValueMetadata())
	if err != nil {
		return nil, 0, 0, nil, fmt.Errorf("reading schema of %s: %w", path, err)
	}
	v := md.KeyValueMetadata().FindValue(walSeqKey)
	if v == nil {
		return nil, 0, 0, nil, fmt.Errorf("file %s has no %s metadata (not written by this store?)", path, walSeqKey)
	}
	seq, err := strconv.ParseUint(*v, 10, 64)
	if err != nil {
		return nil, 0, 0, nil, fmt.Errorf("file %s: bad %s %q", path, walSeqKey, *v)
	}
	var replaces []uint64
	if v := md.KeyValueMetadata().FindValue(replacesKey); v != nil {
		if replaces, err = parsePartNumbers(*v); err != nil {
			return nil, 0, 0, nil, fmt.Errorf("file %s: %s: %w", path, replacesKey, err)
		}
	}
	return sc.Fields(), seq, rdr.NumRows(), replaces, nil
}

// isRetired reports whether retention deleted the partition's files up to
// at least seq.
func (s *Store) isRetired(table string, day int64, seq uint64) bool {
	for _, rp := range s.retired {
		if rp.Table == table && rp.Day == day && seq <= rp.Seq {
			return true
		}
	}
	return false
}

// pruneRetired forgets retired partitions that no log segment can still
// hold rows of (every remaining record has a higher seq).
func (s *Store) pruneRetired() error {
	if len(s.retired) == 0 {
		return nil
	}
	oldest := s.wal.Stats().Oldest
	keep := slices.DeleteFunc(slices.Clone(s.retired), func(rp retiredPart) bool { return oldest == 0 || rp.Seq < oldest })
	if len(keep) == len(s.retired) {
		return nil
	}
	if err := writeRetired(s.walDir(), keep); err != nil {
		return err
	}
	s.retired = keep
	return nil
}
