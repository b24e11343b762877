package arrowstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/lakegate/lakegate/arrowstore/internal/wal"
)

// replacesKey is the Parquet key-value metadata entry of a compacted file
// listing the part numbers of the files it replaces ("3,5,8"). Open deletes
// those files if a crash left them beside it.
const replacesKey = "lakegate.replaces"

// retiredFileName is the list of partitions deleted by retention, in the
// log directory (see retiredPart).
const retiredFileName = "retired.json"

// dataFile is a renamed, synced Parquet file of a table. refs and dead are
// guarded by Store.mu.
type dataFile struct {
	path string
	n    uint64 // part number
	day  int64
	rows int64
	size int64  // bytes on disk
	seq  uint64 // its lakegate.wal_seq

	refs int  // snapshots holding it
	dead bool // no longer in its table's list: deleted when refs reaches 0
}

func fileSizeOf(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// retireLocked takes files out of t's list; those no snapshot holds are
// returned for deletion (outside the lock, by removeFiles), the others are
// deleted by the last Snapshot.Release.
func (s *Store) retireLocked(t *table, files []*dataFile) []*dataFile {
	var free []*dataFile
	t.files = slices.DeleteFunc(t.files, func(f *dataFile) bool { return slices.Contains(files, f) })
	for _, f := range files {
		f.dead = true
		s.stats.DiskBytes -= f.size
		if f.refs == 0 {
			free = append(free, f)
		} else {
			s.deadHeld++
		}
	}
	return free
}

// unref drops a snapshot's hold on its files and deletes the retired files
// no snapshot holds any more. After Close nothing is deleted: the next Open
// finishes the job (see recover.go).
func (s *Store) unref(files []*dataFile) {
	if len(files) == 0 {
		return
	}
	var free []*dataFile
	s.mu.Lock()
	for _, f := range files {
		f.refs--
		if f.dead && f.refs == 0 {
			free = append(free, f)
			s.deadHeld--
		}
	}
	closed := s.closed
	s.mu.Unlock()
	if !closed {
		s.removeFiles(free)
	}
}

// removeFiles deletes retired files, then their partition directories if
// empty. Errors are logged: a file left behind is deleted again by the
// next Open (it is replaced or retired there too).
func (s *Store) removeFiles(files []*dataFile) {
	dirs := map[string]bool{}
	for _, f := range files {
		if err := os.Remove(f.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("arrowstore: deleting retired file", "file", f.path, "err", err)
			continue
		}
		s.log.Debug("arrowstore: deleted file", "file", f.path)
		dirs[filepath.Dir(f.path)] = true
	}
	for d := range dirs {
		_ = os.Remove(d) // fails while the directory has files: fine
		_ = wal.SyncDir(filepath.Dir(d))
	}
}

func formatPartNumbers(ns []uint64) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = strconv.FormatUint(n, 10)
	}
	return strings.Join(parts, ",")
}

func parsePartNumbers(v string) ([]uint64, error) {
	var ns []uint64
	for _, p := range strings.Split(v, ",") {
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad part number %q", p)
		}
		ns = append(ns, n)
	}
	return ns, nil
}

// retiredPart records a partition deleted by retention: rows of it in the
// log with seq <= Seq were in its files and must not come back at replay.
// An entry is dropped once no log segment can hold such a record.
type retiredPart struct {
	Table string `json:"table"`
	Day   int64  `json:"day"` // days since 1970-01-01 UTC
	Seq   uint64 `json:"seq"`
}

func (s *Store) retiredPath() string { return filepath.Join(s.walDir(), retiredFileName) }

// readRetired loads the retired partitions; a missing file is none.
func readRetired(path string) ([]retiredPart, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading retired partitions: %w", err)
	}
	var rp []retiredPart
	if err := json.Unmarshal(b, &rp); err != nil {
		return nil, fmt.Errorf("reading retired partitions from %s: %w", path, err)
	}
	return rp, nil
}

// writeRetired replaces the list atomically and durably: it must be on
// disk before the files it covers are deleted.
func writeRetired(dir string, rp []retiredPart) error {
	path := filepath.Join(dir, retiredFileName)
	if len(rp) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing retired partitions: %w", err)
		}
		return wal.SyncDir(dir)
	}
	b, err := json.Marshal(rp)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("writing retired partitions: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing retired partitions: %w", err)
	}
	return wal.SyncDir(dir)
}
