package arrowstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	"github.com/lakegate/lakegate/arrowstore/rows"
)

// maintainer applies retention and compaction every MaintenanceInterval.
func (s *Store) maintainer() {
	defer s.wg.Done()
	tick := time.NewTicker(s.opts.MaintenanceInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		if err := s.maintain(context.Background(), time.Now()); err != nil && !errors.Is(err, rows.ErrStoreClosed) {
			s.log.Error("arrowstore: maintenance failed", "err", err)
		}
	}
}

// Maintain applies retention (Options.Retention, RetentionByTable,
// MaxDiskBytes) and compacts small files now, as the background ticker
// does every MaintenanceInterval. Files that snapshots hold are deleted
// when the last of them is released.
func (s *Store) Maintain(ctx context.Context) error {
	return s.maintain(ctx, time.Now())
}

func (s *Store) maintain(ctx context.Context, now time.Time) error {
	// Maintenance runs one at a time. Retention runs under the flush lock
	// as well: a flush never writes into a partition directory that
	// retention is removing. Compaction runs beside flushes (see compact),
	// so that merging large files, seconds of work, does not hold back
	// the flushes that keep the buffers from filling up.
	s.maintainMu.Lock()
	defer s.maintainMu.Unlock()
	s.flushMu.Lock()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		s.flushMu.Unlock()
		return fmt.Errorf("maintaining: %w", rows.ErrStoreClosed)
	}
	err := s.applyRetention(now)
	s.flushMu.Unlock()
	if cerr := s.compact(ctx); cerr != nil {
		err = errors.Join(err, cerr)
	}
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.mu.Lock()
	pending := s.deadHeld > 0
	s.mu.Unlock()
	if !pending {
		// Entries go only when no file they cover is left on disk.
		if perr := s.pruneRetired(); perr != nil {
			err = errors.Join(err, perr)
		}
	}
	return err
}

// partFiles are the live files of one (table, day).
type partFiles struct {
	table string
	day   int64
	files []*dataFile
	size  int64
	seq   uint64
}

// livePartitionsLocked groups the live files by (table, day), oldest day
// first, then by table name.
func (s *Store) livePartitionsLocked() []*partFiles {
	byKey := map[partKey]*partFiles{}
	var out []*partFiles
	for name, t := range s.tables {
		for _, f := range t.files {
			k := partKey{name, f.day}
			pf := byKey[k]
			if pf == nil {
				pf = &partFiles{table: name, day: f.day}
				byKey[k] = pf
				out = append(out, pf)
			}
			pf.files = append(pf.files, f)
			pf.size += f.size
			pf.seq = max(pf.seq, f.seq)
		}
	}
	slices.SortFunc(out, func(a, b *partFiles) int {
		if a.day != b.day {
			return int(a.day - b.day)
		}
		if a.table < b.table {
			return -1
		}
		if a.table > b.table {
			return 1
		}
		return 0
	})
	return out
}

// applyRetention deletes the date partitions past their table's age and,
// while the Parquet files of all tables exceed MaxDiskBytes, the oldest
// partitions. The retired list is made durable first, so a crash in the
// middle neither resurrects deleted rows from the log nor leaves files
// that recovery would keep. flushMu is held.
func (s *Store) applyRetention(now time.Time) error {
	s.mu.Lock()
	parts := s.livePartitionsLocked()
	total := s.stats.DiskBytes
	var drop []*partFiles
	for _, pf := range parts {
		age := s.opts.retentionFor(pf.table)
		// The whole day is older than age: its end is before now - age.
		if age > 0 && (pf.day+1)*msPerDay <= now.Add(-age).UnixMilli() {
			drop = append(drop, pf)
			total -= pf.size
		}
	}
	if s.opts.MaxDiskBytes > 0 {
		for _, pf := range parts {
			if total <= s.opts.MaxDiskBytes {
				break
			}
			if !slices.Contains(drop, pf) {
				drop = append(drop, pf)
				total -= pf.size
			}
		}
	}
	s.mu.Unlock()
	if len(drop) == 0 {
		return nil
	}

	retired := slices.Clone(s.retired)
	for _, pf := range drop {
		i := slices.IndexFunc(retired, func(rp retiredPart) bool { return rp.Table == pf.table && rp.Day == pf.day })
		if i >= 0 {
			retired[i].Seq = max(retired[i].Seq, pf.seq)
		} else {
			retired = append(retired, retiredPart{Table: pf.table, Day: pf.day, Seq: pf.seq})
		}
	}
	if err := writeRetired(s.walDir(), retired); err != nil {
		return fmt.Errorf("applying retention: %w", err)
	}
	s.retired = retired

	var free []*dataFile
	s.mu.Lock()
	for _, pf := range drop {
		t := s.tables[pf.table]
		free = append(free, s.retireLocked(t, pf.files)...)
		s.stats.FilesRetired += uint64(len(pf.files))
		s.log.Info("arrowstore: retention deletes partition", "table", pf.table, "date", dateOf(pf.day), "files", len(pf.files), "bytes", pf.size)
	}
	s.mu.Unlock()
	s.removeFiles(free)
	return nil
}

// compactJob is one merge: files of one partition into part-<n>.
type compactJob struct {
	t     *table
	day   int64
	files []*dataFile
	sc    *arrow.Schema
	n     uint64
	seq   uint64
	dir   string
}

// compact merges, in every partition, the files compactionPick chooses
// into one file. maintainMu is held, not flushMu: flushes go on
// meanwhile, which recovery allows because a merged file holds only rows of
// files already written, so its lakegate.wal_seq is at or below what the
// partition's files covered before; whichever of a merged file and a
// flush's file reaches the disk first, recovery skips no row it lacks (see
// recover.go). Retention, which removes files and directories, is kept out
// by maintainMu.
func (s *Store) compact(ctx context.Context) error {
	if s.opts.CompactMinFiles < 0 {
		return nil
	}
	minFiles := max(s.opts.CompactMinFiles, 2)
	var jobs []compactJob
	s.mu.Lock()
	for _, pf := range s.livePartitionsLocked() {
		pick := compactionPick(pf.files, s.opts.CompactMaxBytes, minFiles)
		if pick == nil {
			continue
		}
		t := s.tables[pf.table]
		j := compactJob{t: t, day: pf.day, files: pick, sc: t.schema, n: t.nextFile, dir: partitionDir(s.opts.Dir, t.name, dateOf(pf.day))}
		t.nextFile++
		for _, f := range pick {
			j.seq = max(j.seq, f.seq)
		}
		jobs = append(jobs, j)
	}
	s.mu.Unlock()

	var errs []error
	for _, j := range jobs {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		if err := s.compactOne(ctx, j); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// compactionPick chooses which of a partition's files to merge, and
// returns them in the order they have in files, or nil: the smallest
// files below maxBytes, as many as fit in maxBytes together, if they are at
// least minFiles and the largest of them is at most twice the others'
// average. The last rule is what keeps a merged file from being merged
// again each time a few small files have come: it waits until enough files
// of about its own size have. Every merge then multiplies the size of the
// file a row is in by about (minFiles+1)/2 or more, so a row is rewritten
// a few times (log of maxBytes over a flushed file's size, in that base)
// rather than once per maintenance run until its file reaches maxBytes,
// which on an SD card is wear as well as time.
func compactionPick(files []*dataFile, maxBytes int64, minFiles int) []*dataFile {
	var small []*dataFile
	for _, f := range files {
		if f.size < maxBytes {
			small = append(small, f)
		}
	}
	if len(small) < minFiles {
		return nil
	}
	// Indices into small, smallest file first.
	bySize := make([]int, len(small))
	for i := range bySize {
		bySize[i] = i
	}
	slices.SortStableFunc(bySize, func(a, b int) int { return cmp.Compare(small[a].size, small[b].size) })
	n := 0 // files of the longest prefix of bySize that may merge
	var sum int64
	for i, k := range bySize {
		size := small[k].size
		if sum+size > maxBytes {
			break
		}
		sum += size
		// small[k] is the largest of the prefix; the others sum to sum-size.
		if i+1 >= minFiles && size*int64(minFiles-1) <= 2*(sum-size) {
			n = i + 1
		}
	}
	if n == 0 {
		return nil
	}
	chosen := bySize[:n]
	slices.Sort(chosen) // back in the order of files
	pick := make([]*dataFile, n)
	for j, k := range chosen {
		pick[j] = small[k]
	}
	return pick
}

// compactOne writes the merged file (tmp, fsync, rename, dir fsync), with
// the part numbers it replaces in its metadata, then swaps it for the
// small files under the store lock.
func (s *Store) compactOne(ctx context.Context, j compactJob) error {
	if s.compacting != nil {
		s.compacting()
	}
	replaces := make([]uint64, len(j.files))
	for i, f := range j.files {
		replaces[i] = f.n
	}
	path, nrows, renamed, err := writeParquetWith(j.dir, j.n, func(out *os.File) (int64, error) {
		return encodeParquetFrom(out, j.sc, j.seq, replaces, s.opts.TimeColumn, s.mem, func(put func(arrow.Record) error) error {
			for _, f := range j.files {
				if err := readFileRecords(ctx, f.path, s.mem, put); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if !renamed {
		return fmt.Errorf("compacting table %q partition %s: %w", j.t.name, dateOf(j.day), err)
	}
	// Renamed: the file is what the next Open would see, so it is the
	// table's now even if the directory sync failed.
	merged := &dataFile{path: path, n: j.n, day: j.day, rows: nrows, size: fileSizeOf(path), seq: j.seq}
	s.mu.Lock()
	// Where its sources were: files a flush added meanwhile hold newer rows.
	at := slices.Index(j.t.files, j.files[0])
	free := s.retireLocked(j.t, j.files)
	if at < 0 { // cannot happen: only maintenance, one at a time, retires files
		at = len(j.t.files)
	}
	j.t.files = slices.Insert(j.t.files, at, merged)
	s.stats.DiskBytes += merged.size
	s.stats.FilesCompacted += uint64(len(j.files))
	s.mu.Unlock()
	s.removeFiles(free)
	j.t.log.Debug("arrowstore: compacted files", "file", path, "replaces", replaces, "rows", nrows)
	if err != nil {
		return fmt.Errorf("compacting table %q partition %s: %w", j.t.name, dateOf(j.day), err)
	}
	return nil
}

// readFileRecords passes every record of a Parquet file to put.
func readFileRecords(ctx context.Context, path string, mem memory.Allocator, put func(arrow.Record) error) error {
	osf, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	rdr, err := file.NewParquetReader(osf, file.WithReadProps(parquet.NewReaderProperties(mem)))
	if err != nil {
		osf.Close()
		return fmt.Errorf("reading %s: %w", path, err)
	}
	defer rdr.Close()
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: scanBatchRows}, mem)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	defer rr.Release()
	var putErr error
	err = readAll(rr, rdr.MetaData(), nil, func(rec arrow.Record) error {
		putErr = put(rec)
		return putErr
	})
	if err != nil && err != putErr {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return err
}
