package arrowstore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lakegate/lakegate/arrowstore/internal/wal"
	"github.com/lakegate/lakegate/arrowstore/rows"
)

// writeNumbered writes n durable rows i = from..from+n-1 to table, one Write
// each, spread over two days, adding a column halfway.
func writeNumbered(t *testing.T, s *Store, table string, from, n int) []string {
	t.Helper()
	var want []string
	for i := from; i < from+n; i++ {
		ts := at(time.Duration(i%2)*24*time.Hour + time.Duration(i)*time.Millisecond)
		cols := []rows.Column{col("i", rows.Int(int64(i)))}
		if i%3 == 0 {
			cols = append(cols, col("tag", rows.String(fmt.Sprintf("t%d", i))))
		}
		mustWrite(t, s, true, rows.Row{Table: table, Time: ts, Columns: cols})
		want = append(want, fmt.Sprintf("i=%d", i))
	}
	return want
}

func numbered(t *testing.T, s *Store, table string) []string {
	t.Helper()
	return scanRows(t, s, table, AllTime(), []string{"i"})
}

func sorted(s []string) []string { return sortedCopy(s) }

func TestRecoverAfterCrash(t *testing.T) {
	mem := newChecked(t)
	dir := t.TempDir()
	s := openTest(t, testOptions(t, dir, mem))
	want := writeNumbered(t, s, "a", 0, 30)
	wantB := writeNumbered(t, s, "b", 100, 5)
	s.crash()
	if files := parquetFiles(t, dir, "a"); len(files) != 0 {
		t.Fatalf("crash wrote files: %v", files)
	}

	s = openTest(t, testOptions(t, dir, mem))
	equalStrings(t, "table a after crash", numbered(t, s, "a"), sorted(want))
	equalStrings(t, "table b after crash", numbered(t, s, "b"), sorted(wantB))
	if st := s.Stats(); st.RowsReplayed != 35 || st.RowsBuffered != 35 {
		t.Fatalf("stats after replay: %+v", st)
	}
	// The tag column came back with its rows.
	got := scanRows(t, s, "a", AllTime(), []string{"i", "tag"})
	if !contains(got, `i=3|tag="t3"`) || !contains(got, `i=4|tag=null`) {
		t.Fatalf("tag column lost: %v", got)
	}
	// New writes after recovery, crash again: still everything once.
	want = append(want, writeNumbered(t, s, "a", 30, 5)...)
	s.crash()
	s = openTest(t, testOptions(t, dir, mem))
	equalStrings(t, "after second crash", numbered(t, s, "a"), sorted(want))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, testOptions(t, dir, mem))
	defer s.Close()
	equalStrings(t, "after close and reopen", numbered(t, s, "a"), sorted(want))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// copyDir copies the regular files of src into dst (created).
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRecoverFlushedButLogKept simulates a crash after a flush renamed its
// file but before the log segments were deleted: the logged rows are
// already in Parquet and must not come back twice.
func TestRecoverFlushedButLogKept(t *testing.T) {
	mem := newChecked(t)
	dir := t.TempDir()
	s := openTest(t, testOptions(t, dir, mem))
	want := writeNumbered(t, s, "a", 0, 20)
	saved := filepath.Join(t.TempDir(), "wal")
	copyDir(t, filepath.Join(dir, walDirName), saved)
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	want = append(want, writeNumbered(t, s, "a", 20, 4)...) // in the log only
	s.crash()
	copyDir(t, saved, filepath.Join(dir, walDirName)) // the deleted segment is back

	s = openTest(t, testOptions(t, dir, mem))
	equalStrings(t, "no duplicates", numbered(t, s, "a"), sorted(want))
	if st := s.Stats(); st.RowsReplayed != 4 {
		t.Fatalf("replayed %d rows, want the 4 unflushed ones", st.RowsReplayed)
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	equalStrings(t, "after flush", numbered(t, s, "a"), sorted(want))
	// The old segment is covered by files and has been released.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if segs := walSegments(t, dir); len(segs) != 0 {
		t.Fatalf("segments left: %v", segs)
	}
}

// TestRecoverPartialFlush: one segment holds rows of two partitions, only
// one of which reached a file before the crash.
func TestRecoverPartialFlush(t *testing.T) {
	mem := newChecked(t)
	dir := t.TempDir()
	s := openTest(t, testOptions(t, dir, mem))
	want := writeNumbered(t, s, "a", 0, 10) // two days
	s.flushMu.Lock()
	err := s.flushPartition(partKey{"a", dayOf(nsToMs(at(0)))})
	s.flushMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if files := parquetFiles(t, dir, "a"); len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	if segs := walSegments(t, dir); len(segs) != 1 {
		t.Fatalf("segment must stay while a partition is unflushed: %v", segs)
	}
	s.crash()

	s = openTest(t, testOptions(t, dir, mem))
	equalStrings(t, "exactly once", numbered(t, s, "a"), sorted(want))
	if st := s.Stats(); st.RowsReplayed != 5 {
		t.Fatalf("replayed %d, want 5", st.RowsReplayed)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	equalStrings(t, "files", parquetFiles(t, dir, "a"), []string{
		"a/date=2024-03-10/part-00000000.parquet",
		"a/date=2024-03-11/part-00000001.parquet",
	})
}

// TestRecoverAfterLogDeleted: when every row is in Parquet the log is gone;
// new sequence numbers must continue above the files' wal_seq, or a later
// replay would take new rows for flushed ones.
func TestRecoverAfterLogDeleted(t *testing.T) {
	mem := newChecked(t)
	dir := t.TempDir()
	s := openTest(t, testOptions(t, dir, mem))
	want := writeNumbered(t, s, "a", 0, 5)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, testOptions(t, dir, mem))
	want = append(want, writeNumbered(t, s, "a", 5, 5)...)
	s.crash()
	s = openTest(t, testOptions(t, dir, mem))
	defer s.Close()
	equalStrings(t, "rows", numbered(t, s, "a"), sorted(want))
}

func TestRecoverTornTail(t *testing.T) {
	tests := []struct {
		name string
		// damage changes the last segment, whose last record starts at off.
		damage func(t *testing.T, path string, off, size int64)
		lost   int // rows lost (the last Write's)
	}{
		{"truncated mid record", func(t *testing.T, p string, off, size int64) { truncate(t, p, off+(size-off)/2) }, 1},
		{"truncated mid header", func(t *testing.T, p string, off, size int64) { truncate(t, p, off+3) }, 1},
		{"garbage appended", func(t *testing.T, p string, off, size int64) { appendBytes(t, p, []byte("\x13\x00\x00\x00garbage!")) }, 0},
		{"zeros appended", func(t *testing.T, p string, off, size int64) { appendBytes(t, p, make([]byte, 64)) }, 0},
		{"torn and garbage", func(t *testing.T, p string, off, size int64) {
			truncate(t, p, size-2)
			appendBytes(t, p, []byte{0xde, 0xad, 0xbe, 0xef})
		}, 1},
		{"flipped bit", func(t *testing.T, p string, off, size int64) { flip(t, p, size-1) }, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := newChecked(t)
			dir := t.TempDir()
			s := openTest(t, testOptions(t, dir, mem))
			want := writeNumbered(t, s, "a", 0, 9)
			segs := walSegments(t, dir)
			before := recordsEnd(t, segs[len(segs)-1])
			want = append(want, writeNumbered(t, s, "a", 9, 1)...)
			s.crash()
			seg := walSegments(t, dir)[len(segs)-1]
			// Damage the records, not the segment's preallocated zeros.
			end := recordsEnd(t, seg)
			truncate(t, seg, end)
			tc.damage(t, seg, before, end)

			s = openTest(t, testOptions(t, dir, mem))
			equalStrings(t, "kept", numbered(t, s, "a"), sorted(want[:len(want)-tc.lost]))
			// The store goes on: new rows, crash, all there.
			more := writeNumbered(t, s, "a", 50, 2)
			s.crash()
			s = openTest(t, testOptions(t, dir, mem))
			defer s.Close()
			equalStrings(t, "after more", numbered(t, s, "a"), sorted(append(want[:len(want)-tc.lost:len(want)-tc.lost], more...)))
		})
	}
}

// TestCorruptionOutsideTailRefusesOpen: damage in a segment that is not the
// last is not a torn write; Open reports it instead of dropping rows.
func TestCorruptionOutsideTailRefusesOpen(t *testing.T) {
	mem := newChecked(t)
	dir := t.TempDir()
	s := openTest(t, testOptions(t, dir, mem))
	writeNumbered(t, s, "a", 0, 3)
	s.crash()
	s = openTest(t, testOptions(t, dir, mem)) // replays, starts a second segment
	writeNumbered(t, s, "a", 3, 3)
	s.crash()
	segs := walSegments(t, dir)
	if len(segs) != 2 {
		t.Fatalf("segments %v", segs)
	}
	flip(t, segs[0], fileSize(t, segs[0])-1)
	if s, err := Open(context.Background(), testOptions(t, dir, mem)); err == nil || !strings.Contains(err.Error(), "corrupt") {
		s.Close()
		t.Fatalf("Open over a corrupt middle segment: %v", err)
	}
}

func TestRecoverDeletesTmpFiles(t *testing.T) {
	mem := newChecked(t)
	dir := t.TempDir()
	s := openTest(t, testOptions(t, dir, mem))
	want := writeNumbered(t, s, "a", 0, 4)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "a", "date=2024-03-10", tmpFileName(7))
	if err := os.WriteFile(tmp, []byte("PAR1 half a file"), 0o644); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, testOptions(t, dir, mem))
	defer s.Close()
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("tmp file still there: %v", err)
	}
	equalStrings(t, "rows", numbered(t, s, "a"), sorted(want))
}

// recordsEnd returns the offset where the log records in segment p end:
// after a crash the rest of the file is preallocated zeros.
func recordsEnd(t *testing.T, p string) int64 {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	off := len("LGWAL01\n")
	for off < len(b) {
		_, _, n, err := wal.DecodeRecord(b[off:])
		if err != nil {
			break
		}
		off += n
	}
	return int64(off)
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func truncate(t *testing.T, p string, size int64) {
	t.Helper()
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
}

func appendBytes(t *testing.T, p string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func flip(t *testing.T, p string, off int64) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x10
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
