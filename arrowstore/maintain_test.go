package arrowstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lakegate/lakegate/arrowstore/rows"
)

// writeFlushed writes one durable row per value of is at times, then
// flushes, so each call makes one file per partition touched.
func writeFlushed(t *testing.T, s *Store, table string, ts func(i int) int64, is ...int) []string {
	t.Helper()
	var want []string
	for _, i := range is {
		cols := []rows.Column{col("i", rows.Int(int64(i)))}
		if i >= 6 {
			cols = append(cols, col("late", rows.String(fmt.Sprint("l", i)))) // added after the first files
		}
		mustWrite(t, s, true, rows.Row{Table: table, Time: ts(i), Columns: cols})
		want = append(want, fmt.Sprintf("i=%d", i))
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	return want
}

// openCompacting opens a store in a fresh directory that merges a
// partition's files once it has three, and only when Maintain asks.
func openCompacting(t *testing.T) (*Store, string, Options) {
	t.Helper()
	dir := t.TempDir()
	opts := testOptions(t, dir, newChecked(t))
	opts.CompactMinFiles = 3
	opts.MaintenanceInterval = time.Hour
	return openTest(t, opts), dir, opts
}

func sameDay(i int) int64 { return at(time.Duration(i) * time.Second) }

// TestCompaction merges five small files of a partition into one while a
// snapshot holds the old ones, then checks the old files outlive the
// snapshot only, that the rows and the later column survive, and that a
// crash leaving both the merged file and the small ones is resolved at
// Open without duplicates.
func TestCompaction(t *testing.T) {
	s, dir, opts := openCompacting(t)
	mem := opts.Allocator
	var want []string
	for k := 0; k < 5; k++ {
		want = append(want, writeFlushed(t, s, "c", sameDay, 2*k, 2*k+1)...)
	}
	before := parquetFiles(t, dir, "c")
	if len(before) != 5 {
		t.Fatalf("files before compaction: %v", before)
	}
	saved := t.TempDir()
	copyDir(t, filepath.Join(dir, "c", "date=2024-03-10"), saved)
	mustWrite(t, s, true, row("c", sameDay(100), col("i", rows.Int(100)))) // buffered, untouched
	want = append(want, "i=100")

	held, err := s.Snapshot("c", AllTime())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Maintain(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := parquetFiles(t, dir, "c")
	equalStrings(t, "live rows after compaction", numbered(t, s, "c"), sorted(want))
	if st := s.Stats(); st.FilesCompacted != 5 {
		t.Fatalf("FilesCompacted = %d", st.FilesCompacted)
	}
	// The snapshot still reads the small files: they are deleted only when it is released.
	if len(after) != 6 {
		t.Fatalf("files while a snapshot holds the old ones: %v", after)
	}
	equalStrings(t, "held snapshot", scanSnapshot(t, held, []string{"i"}), sorted(want))
	held.Release()
	merged := parquetFiles(t, dir, "c")
	equalStrings(t, "files after release", merged, []string{"c/date=2024-03-10/part-00000005.parquet"})
	got := sortedCopy(readParquetFile(t, filepath.Join(dir, merged[0]), mem))
	if len(got) != 10 || !strings.HasSuffix(got[0], "|i=0|late=null") || !strings.HasSuffix(got[9], `|i=9|late="l9"`) {
		t.Fatalf("merged file rows:\n%s", strings.Join(got, "\n"))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A crash after the rename but before the small files were deleted.
	copyDir(t, saved, filepath.Join(dir, "c", "date=2024-03-10"))
	if n := len(parquetFiles(t, dir, "c")); n != 7 {
		t.Fatalf("setup: %d files", n)
	}
	s = openTest(t, opts)
	defer s.Close()
	equalStrings(t, "after crash with merged and small files", numbered(t, s, "c"), sorted(want))
	equalStrings(t, "replaced files deleted at Open", parquetFiles(t, dir, "c"), []string{
		"c/date=2024-03-10/part-00000005.parquet", "c/date=2024-03-10/part-00000006.parquet"})
	// A second pass has nothing to merge (two files < CompactMinFiles).
	if err := s.Maintain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(parquetFiles(t, dir, "c")); n != 2 {
		t.Fatalf("%d files after a pass with nothing to do", n)
	}
}

// TestCompactionSizeLimit leaves alone files at or above CompactMaxBytes.
// TestFlushDuringCompaction holds a merge half way and flushes meanwhile:
// the flush must not wait for the merge (merging large files takes seconds,
// during which the buffers would fill up), and after both, and after a
// restart, every row is there once.
func TestFlushDuringCompaction(t *testing.T) {
	s, dir, opts := openCompacting(t)
	var want []string
	for k := 0; k < 3; k++ {
		want = append(want, writeFlushed(t, s, "c", sameDay, k)...)
	}
	started, release := make(chan struct{}), make(chan struct{})
	s.compacting = func() {
		close(started)
		<-release
	}
	maintained := make(chan error, 1)
	go func() { maintained <- s.Maintain(context.Background()) }()
	<-started
	mustWrite(t, s, true, row("c", sameDay(10), col("i", rows.Int(10))))
	want = append(want, "i=10")
	flushed := make(chan error, 1)
	go func() { flushed <- s.Flush(context.Background()) }()
	select {
	case err := <-flushed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a flush waited for compaction")
	}
	close(release)
	if err := <-maintained; err != nil {
		t.Fatal(err)
	}
	s.compacting = nil
	equalStrings(t, "rows after compaction beside a flush", numbered(t, s, "c"), sorted(want))
	equalStrings(t, "files", parquetFiles(t, dir, "c"), []string{
		"c/date=2024-03-10/part-00000003.parquet", "c/date=2024-03-10/part-00000004.parquet"})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, opts)
	defer s.Close()
	equalStrings(t, "rows after a restart", numbered(t, s, "c"), sorted(want))
}

func TestCompactionSizeLimit(t *testing.T) {
	mem := newChecked(t)
	dir := t.TempDir()
	opts := testOptions(t, dir, mem)
	opts.CompactMinFiles = 2
	opts.CompactMaxBytes = 10 // every file is bigger
	s := openTest(t, opts)
	defer s.Close()
	writeFlushed(t, s, "c", sameDay, 0)
	writeFlushed(t, s, "c", sameDay, 1)
	if err := s.Maintain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.FilesCompacted != 0 || len(parquetFiles(t, dir, "c")) != 2 {
		t.Fatalf("compacted files over the size limit: %+v", st)
	}
}

// TestRetention deletes partitions by age (with a per-table override) while
// a snapshot holds them, then by disk budget, and checks that a crash
// leaving log records of retired partitions does not bring them back.
func TestRetention(t *testing.T) {
	mem := newChecked(t)
	dir := t.TempDir()
	now := time.Now().UTC()
	daysAgo := func(d int) func(int) int64 {
		return func(i int) int64 {
			return now.Add(-time.Duration(d)*24*time.Hour + time.Duration(i)*time.Millisecond).UnixNano()
		}
	}
	opts := testOptions(t, dir, mem)
	opts.Retention = 48 * time.Hour
	opts.RetentionByTable = []TableRetention{{Table: "keep", MaxAge: 0}}
	opts.CompactMinFiles = -1
	s := openTest(t, opts)

	savedWAL := t.TempDir()
	mustWrite(t, s, true, row("a", daysAgo(5)(0), col("i", rows.Int(0))))
	copyDir(t, filepath.Join(dir, walDirName), savedWAL) // a log record of a partition about to be retired
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	writeFlushed(t, s, "a", daysAgo(3), 1)
	wantA := writeFlushed(t, s, "a", daysAgo(0), 2)
	wantKeep := writeFlushed(t, s, "keep", daysAgo(9), 10)
	wantKeep = append(wantKeep, writeFlushed(t, s, "keep", daysAgo(0), 11)...)

	held, err := s.Snapshot("a", AllTime())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Maintain(context.Background()); err != nil {
		t.Fatal(err)
	}
	equalStrings(t, "a after retention", numbered(t, s, "a"), wantA)
	equalStrings(t, "keep (per-table override) after retention", numbered(t, s, "keep"), sorted(wantKeep))
	if st := s.Stats(); st.FilesRetired != 2 {
		t.Fatalf("FilesRetired = %d", st.FilesRetired)
	}
	if n := len(parquetFiles(t, dir, "a")); n != 3 {
		t.Fatalf("%d files of a while a snapshot holds the retired ones", n)
	}
	equalStrings(t, "held snapshot", scanSnapshot(t, held, []string{"i"}), []string{"i=0", "i=1", "i=2"})
	held.Release()
	if files := parquetFiles(t, dir, "a"); len(files) != 1 {
		t.Fatalf("files of a after release: %v", files)
	}
	old := filepath.Join(dir, "a", "date="+dateOf(dayOf(daysAgo(5)(0)/1e6)))
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("retired partition directory left: %v", err)
	}

	// kill -9 with the old log segment back: the retired rows stay gone.
	s.crash()
	copyDir(t, savedWAL, filepath.Join(dir, walDirName))
	s = openTest(t, opts)
	equalStrings(t, "a after crash with the old log", numbered(t, s, "a"), wantA)

	// Disk budget: only the newest partition of all tables fits.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	opts.RetentionByTable = nil
	opts.Retention = 0
	st := s.Stats()
	opts.MaxDiskBytes = st.DiskBytes - 1
	s = openTest(t, opts)
	defer s.Close()
	if err := s.Maintain(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The oldest partition (keep, 9 days ago) goes first.
	equalStrings(t, "keep after disk budget", numbered(t, s, "keep"), []string{"i=11"})
	equalStrings(t, "a after disk budget", numbered(t, s, "a"), wantA)
	if st := s.Stats(); st.DiskBytes > opts.MaxDiskBytes {
		t.Fatalf("DiskBytes %d over budget %d", st.DiskBytes, opts.MaxDiskBytes)
	}
}

// TestBackpressure fills the buffer cap and checks Write refuses rows with
// ErrBackpressure, stores nothing of them, and takes rows again once a
// flush has emptied the buffers.
func TestBackpressure(t *testing.T) {
	mem := newChecked(t)
	dir := t.TempDir()
	opts := testOptions(t, dir, mem)
	opts.MaxBufferedBytes = 200
	s := openTest(t, opts)
	defer s.Close()
	var want []string
	var refused bool
	for i := 0; i < 100 && !refused; i++ {
		_, err := s.Write(context.Background(), []rows.Row{row("b", sameDay(i), col("i", rows.Int(int64(i))))}, true)
		switch {
		case err == nil:
			want = append(want, fmt.Sprintf("i=%d", i))
		case errors.Is(err, ErrBackpressure):
			refused = true
		default:
			t.Fatal(err)
		}
	}
	if !refused {
		t.Fatal("Write never refused rows over MaxBufferedBytes")
	}
	if st := s.Stats(); st.Backpressured == 0 {
		t.Fatalf("stats: %+v", st)
	}
	// The flusher is woken and writes everything buffered; Writes go through again.
	eventually(t, 10*time.Second, "the flusher to drain the buffers", func() bool {
		_, err := s.Write(context.Background(), []rows.Row{row("b", sameDay(500), col("i", rows.Int(500)))}, true)
		return err == nil
	})
	want = append(want, "i=500")
	equalStrings(t, "nothing acknowledged is lost", numbered(t, s, "b"), sorted(want))
}

// TestBackpressureOnFailingFlushes makes flushes fail (the partition
// directory is a file) and checks Write refuses rows after a few failures,
// then recovers when flushes work again.
func TestBackpressureOnFailingFlushes(t *testing.T) {
	mem := newChecked(t)
	dir := t.TempDir()
	s := openTest(t, testOptions(t, dir, mem))
	defer s.Close()
	blocker := filepath.Join(dir, "f")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, s, true, row("f", sameDay(0), col("i", rows.Int(0))))
	for k := 0; k < flushFailuresForBackpressure; k++ {
		if err := s.Flush(context.Background()); err == nil {
			t.Fatal("flush into a file worked")
		}
	}
	if _, err := s.Write(context.Background(), []rows.Row{row("f", sameDay(1), col("i", rows.Int(1)))}, true); !errors.Is(err, ErrBackpressure) {
		t.Fatalf("Write after %d failed flushes: %v, want ErrBackpressure", flushFailuresForBackpressure, err)
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, s, true, row("f", sameDay(2), col("i", rows.Int(2))))
	equalStrings(t, "rows", numbered(t, s, "f"), []string{"i=0", "i=2"})
}
