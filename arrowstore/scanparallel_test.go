package arrowstore

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/lakegate/lakegate/arrowstore/rows"
)

// TestScanParallelMatchesScan checks that ScanParallel delivers exactly the
// rows Scan does, and that ordering each worker's rows by (task, row) gives
// Scan's order, over a file of several row groups (more than
// maxRowGroupRows rows), smaller files and buffered batches, with a time
// range that prunes row groups, on 1 to 5 workers; and that an error from
// fn stops the scan and is returned.
func TestScanParallelMatchesScan(t *testing.T) {
	mem := newChecked(t)
	s := openTest(t, testOptions(t, t.TempDir(), mem))
	t.Cleanup(func() { s.Close() })
	n := 2*maxRowGroupRows + 5000 // three row groups in the first file
	batch := make([]rows.Row, 0, 10_000)
	write := func(from, to int) {
		for i := from; i < to; i++ {
			batch = append(batch, row("p", at(time.Duration(i)*time.Millisecond), col("i", rows.Int(int64(i)))))
			if len(batch) == cap(batch) || i == to-1 {
				mustWrite(t, s, false, batch...)
				batch = batch[:0]
			}
		}
	}
	write(0, n)
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	write(n, n+3000)
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	write(n+3000, n+4000) // buffered

	for _, tr := range []TimeRange{AllTime(), {Min: at(140 * time.Second), Max: at(200 * time.Second)}} {
		snap, err := s.Snapshot("p", tr)
		if err != nil {
			t.Fatal(err)
		}
		var want []int64
		if err := snap.Scan(context.Background(), []string{"ts", "i"}, func(rec arrow.Record) error {
			want = append(want, rec.Column(1).(*array.Int64).Int64Values()...)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if tr == AllTime() && len(want) != n+4000 {
			t.Fatalf("Scan gave %d rows, want %d", len(want), n+4000)
		}
		if tr != AllTime() && len(want) != maxRowGroupRows+1000 {
			t.Fatalf("Scan of a range within the second row group gave %d rows, want that group and the buffered rows (%d)", len(want), maxRowGroupRows+1000)
		}
		for workers := 1; workers <= 5; workers++ {
			type seen struct {
				task, row int
				v         int64
			}
			var mu sync.Mutex
			var got []seen
			lastTask := make([]int, workers)
			err := snap.ScanParallel(context.Background(), []string{"ts", "i"}, nil, workers, func(w, task int, rec arrow.Record) error {
				if task < lastTask[w] {
					t.Errorf("worker %d got task %d after %d", w, task, lastTask[w])
				}
				lastTask[w] = task
				mu.Lock()
				defer mu.Unlock()
				base := 0
				for _, g := range got {
					if g.task == task {
						base++
					}
				}
				for r, v := range rec.Column(1).(*array.Int64).Int64Values() {
					got = append(got, seen{task, base + r, v})
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			slices.SortFunc(got, func(a, b seen) int { return cmp.Or(cmp.Compare(a.task, b.task), cmp.Compare(a.row, b.row)) })
			vals := make([]int64, len(got))
			for i, g := range got {
				vals[i] = g.v
			}
			if !slices.Equal(vals, want) {
				t.Fatalf("%d workers, range %v: %d rows not in Scan's order (Scan gave %d)", workers, tr, len(vals), len(want))
			}
		}
		boom := errors.New("boom")
		if err := snap.ScanParallel(context.Background(), nil, nil, 3, func(int, int, arrow.Record) error { return boom }); !errors.Is(err, boom) {
			t.Fatalf("ScanParallel with a failing fn = %v, want boom", err)
		}
		snap.Release()
	}
}

// TestScanParallelDictionary checks that a column asked for as a
// dictionary comes from Parquet as an Arrow dictionary of strings with the
// same values (NULLs included) as Scan gives, and from memory as strings.
func TestScanParallelDictionary(t *testing.T) {
	mem := newChecked(t)
	s := openTest(t, testOptions(t, t.TempDir(), mem))
	t.Cleanup(func() { s.Close() })
	var rs []rows.Row
	for i := range 3000 {
		var cols []rows.Column
		if i%7 != 0 {
			cols = append(cols, col("d", rows.String([]string{"north", "south", "east", "west", ""}[i%5])))
		}
		cols = append(cols, col("i", rows.Int(int64(i))))
		rs = append(rs, row("p", at(time.Duration(i)*time.Second), cols...))
	}
	mustWrite(t, s, false, rs[:2000]...)
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, s, false, rs[2000:]...)
	snap, err := s.Snapshot("p", AllTime())
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	render := func(a arrow.Array, i int) string {
		if a.IsNull(i) {
			return "NULL"
		}
		if d, ok := a.(*array.Dictionary); ok {
			return d.Dictionary().(*array.String).Value(d.GetValueIndex(i))
		}
		return a.(*array.String).Value(i)
	}
	want := map[int64]string{}
	if err := snap.Scan(context.Background(), []string{"ts", "d", "i"}, func(rec arrow.Record) error {
		for r, v := range rec.Column(2).(*array.Int64).Int64Values() {
			want[v] = render(rec.Column(1), r)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[int64]string{}
	dicts, plain := 0, 0
	err = snap.ScanParallel(context.Background(), []string{"ts", "d", "i"}, []string{"d"}, 2, func(_, _ int, rec arrow.Record) error {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := rec.Column(1).(*array.Dictionary); ok {
			dicts++
		} else {
			plain++
		}
		for r, v := range rec.Column(2).(*array.Int64).Int64Values() {
			got[v] = render(rec.Column(1), r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if dicts == 0 || plain == 0 {
		t.Fatalf("%d dictionary and %d plain records; want both (Parquet and memory)", dicts, plain)
	}
	if len(got) != 3000 || len(want) != 3000 {
		t.Fatalf("got %d rows, Scan %d, want 3000", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("row %d: %q, Scan gave %q", k, got[k], v)
		}
	}
}
