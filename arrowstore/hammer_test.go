package arrowstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/lakegate/lakegate/arrowstore/rows"
)

// TestSnapshotSurvivesFlushDuringScan: a flush that completes while a
// snapshot is being scanned changes nothing the snapshot returns.
func TestSnapshotSurvivesFlushDuringScan(t *testing.T) {
	mem := newChecked(t)
	dir := t.TempDir()
	s := openTest(t, testOptions(t, dir, mem))
	defer s.Close()
	want := writeNumbered(t, s, "a", 0, 10)
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	want = append(want, writeNumbered(t, s, "a", 10, 10)...) // in memory
	snap, err := s.Snapshot("a", AllTime())
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	var got []string
	flushed := false
	err = snap.Scan(context.Background(), []string{"i"}, func(rec arrow.Record) error {
		if !flushed {
			flushed = true
			if err := s.Flush(context.Background()); err != nil {
				return err
			}
		}
		got = append(got, renderRecord(rec)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.Stats().RowsBuffered != 0 {
		t.Fatal("flush during scan did not happen")
	}
	equalStrings(t, "scan across a flush", sorted(got), sorted(want))
	// A snapshot taken before the flush scans again to the same rows, and a
	// new one sees the new files only.
	equalStrings(t, "rescan", scanSnapshot(t, snap, []string{"i"}), sorted(want))
	equalStrings(t, "new snapshot", numbered(t, s, "a"), sorted(want))
}

// TestHammer: writers (durable and not), snapshot readers and a flusher
// that also compacts, at once. Every snapshot holds every row acknowledged before it exactly once,
// and at the end every written row is in the files exactly once.
func TestHammer(t *testing.T) {
	const (
		writers = 8
		readers = 2
		tables  = 3
	)
	perWriter := 150
	if testing.Short() {
		perWriter = 50
	}
	mem := newChecked(t)
	dir := t.TempDir()
	opts := testOptions(t, dir, mem)
	opts.MaxRows = 97 // background flushes too
	opts.MaxAge = 50 * time.Millisecond
	opts.SyncInterval = 5 * time.Millisecond
	opts.CompactMinFiles = 2 // compactions replace files under the readers
	s := openTest(t, opts)

	tableOf := func(i int) string { return fmt.Sprintf("h%d", i%tables) }
	var acked [writers]atomic.Int64
	var done atomic.Bool
	errc := make(chan error, writers+readers+1)
	var wg sync.WaitGroup

	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				cols := []rows.Column{col("id", rows.String(fmt.Sprintf("w%d-%d", g, i))), col("g", rows.Int(int64(g)))}
				if i > perWriter/2 {
					cols = append(cols, col(fmt.Sprintf("late%d", g%2), rows.Float(float64(i))))
				}
				ts := at(time.Duration(i%2)*24*time.Hour + time.Duration(i)*time.Millisecond)
				res, err := s.Write(context.Background(), []rows.Row{{Table: tableOf(i), Time: ts, Columns: cols}}, i%2 == 0)
				if err != nil || res.Stored != 1 {
					errc <- fmt.Errorf("writer %d row %d: %v %+v", g, i, err, res)
					return
				}
				acked[g].Store(int64(i + 1))
			}
		}(g)
	}
	var bg sync.WaitGroup
	for r := 0; r < readers; r++ {
		bg.Add(1)
		go func(r int) {
			defer bg.Done()
			for n := 0; !done.Load(); n++ {
				table := tableOf(n + r)
				var before [writers]int64
				for g := range before {
					before[g] = acked[g].Load()
				}
				if err := checkSnapshot(s, table, before[:], tableOf); err != nil {
					errc <- fmt.Errorf("reader %d: %w", r, err)
					return
				}
			}
		}(r)
	}
	bg.Add(1)
	go func() {
		defer bg.Done()
		for n := 0; !done.Load(); n++ {
			if err := s.Flush(context.Background()); err != nil {
				errc <- err
				return
			}
			if n%2 == 1 {
				if err := s.Maintain(context.Background()); err != nil {
					errc <- err
					return
				}
			}
			time.Sleep(3 * time.Millisecond)
		}
	}()
	wg.Wait()
	done.Store(true)
	bg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	// One more pass, so the final checks and the reopen see compacted files.
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Maintain(context.Background()); err != nil {
		t.Fatal(err)
	}
	all := make([]int64, writers)
	for g := range all {
		all[g] = int64(perWriter)
	}
	for i := 0; i < tables; i++ {
		if err := checkSnapshot(s, tableOf(i), all, tableOf); err != nil {
			t.Fatal(err)
		}
	}
	st := s.Stats()
	t.Logf("stats: %+v", st)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, opts)
	defer s.Close()
	for i := 0; i < tables; i++ {
		if err := checkSnapshot(s, tableOf(i), all, tableOf); err != nil {
			t.Fatalf("after reopen: %v", err)
		}
	}
}

// checkSnapshot scans table and checks that no id appears twice and that
// writer g's first acked[g] rows (those of this table) are all present.
func checkSnapshot(s *Store, table string, acked []int64, tableOf func(int) string) error {
	snap, err := s.Snapshot(table, AllTime())
	if err != nil {
		if !errors.Is(err, ErrNoTable) {
			return err
		}
		for _, n := range acked {
			for i := 0; i < int(n); i++ {
				if tableOf(i) == table {
					return err // an acknowledged row's table must exist
				}
			}
		}
		return nil
	}
	defer snap.Release()
	seen := make(map[string]bool)
	err = snap.Scan(context.Background(), []string{"id"}, func(rec arrow.Record) error {
		ids := rec.Column(0).(*array.String)
		for i := 0; i < ids.Len(); i++ {
			id := ids.Value(i)
			if seen[id] {
				return fmt.Errorf("table %s: row %s seen twice", table, id)
			}
			seen[id] = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	for g, n := range acked {
		for i := 0; i < int(n); i++ {
			if tableOf(i) != table {
				continue
			}
			if id := fmt.Sprintf("w%d-%d", g, i); !seen[id] {
				return fmt.Errorf("table %s: acknowledged row %s missing", table, id)
			}
		}
	}
	return nil
}
