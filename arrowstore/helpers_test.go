package arrowstore

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/lakegate/lakegate/arrowstore/rows"
)

// crash abandons the store the way kill -9 would: background work stops,
// files are closed without a flush or a final sync, memory is released so
// the checked allocator balances. Nothing on disk is cleaned up.
func (s *Store) crash() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.stop)
		s.wg.Wait()
		s.flushMu.Lock()
		defer s.flushMu.Unlock()
		s.wal.Abandon()
		s.releaseBuffers()
	})
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testOptions are options for a store in dir whose background flushes do
// not fire during a test unless it asks for them.
func testOptions(t testing.TB, dir string, mem memory.Allocator) Options {
	return Options{
		Dir:          dir,
		MaxAge:       time.Hour,
		SyncInterval: 20 * time.Millisecond,
		Allocator:    mem,
		Logger:       testLogger(t),
	}
}

// openTest opens a store; the test fails if it cannot. It does not close it.
func openTest(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// newChecked returns a checked allocator that must be back at zero when
// the test ends (register it before anything that releases memory in
// Cleanup, since cleanups run last-in first-out).
func newChecked(t testing.TB) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

// day0 is a fixed UTC instant tests build times from.
var day0 = time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) int64 { return day0.Add(d).UnixNano() }

func row(table string, ts int64, cols ...rows.Column) rows.Row {
	return rows.Row{Table: table, Time: ts, Columns: cols}
}

func col(name string, v rows.Value) rows.Column { return rows.Column{Name: name, Value: v} }

func mustWrite(t testing.TB, s *Store, durable bool, rs ...rows.Row) {
	t.Helper()
	res, err := s.Write(context.Background(), rs, durable)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	if len(res.Rejected) > 0 || res.Stored != len(rs) {
		t.Fatalf("Write: stored %d of %d, rejected %v", res.Stored, len(rs), res.Rejected)
	}
}

// scanRows reads every row of table through a snapshot and renders each as
// "col=value|col=value", columns in schema order, sorted.
func scanRows(t testing.TB, s *Store, table string, tr TimeRange, columns []string) []string {
	t.Helper()
	snap, err := s.Snapshot(table, tr)
	if err != nil {
		t.Fatalf("Snapshot(%q): %v", table, err)
	}
	defer snap.Release()
	return scanSnapshot(t, snap, columns)
}

func scanSnapshot(t testing.TB, snap *Snapshot, columns []string) []string {
	t.Helper()
	var out []string
	err := snap.Scan(context.Background(), columns, func(rec arrow.Record) error {
		out = append(out, renderRecord(rec)...)
		return nil
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	sort.Strings(out)
	return out
}

// renderRecord renders each row of rec as "name=value|..." in column order.
func renderRecord(rec arrow.Record) []string {
	out := make([]string, rec.NumRows())
	var b strings.Builder
	for r := 0; r < int(rec.NumRows()); r++ {
		b.Reset()
		for c := 0; c < int(rec.NumCols()); c++ {
			if c > 0 {
				b.WriteByte('|')
			}
			b.WriteString(rec.ColumnName(c))
			b.WriteByte('=')
			b.WriteString(renderValue(rec.Column(c), r))
		}
		out[r] = b.String()
	}
	return out
}

func renderValue(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return "null"
	}
	switch a := a.(type) {
	case *array.Timestamp:
		return time.UnixMilli(int64(a.Value(i))).UTC().Format("2006-01-02T15:04:05.000")
	case *array.Int64:
		return fmt.Sprint(a.Value(i))
	case *array.Float64:
		return fmt.Sprint(a.Value(i))
	case *array.Boolean:
		return fmt.Sprint(a.Value(i))
	case *array.String:
		return fmt.Sprintf("%q", a.Value(i))
	case *array.Binary:
		return fmt.Sprintf("0x%x", a.Value(i))
	}
	return "?" + a.DataType().String()
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// parquetFiles lists the part files of a table, relative to dir.
func parquetFiles(t testing.TB, dir, table string) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, table, "date=*", "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range matches {
		matches[i], _ = filepath.Rel(dir, m)
	}
	sort.Strings(matches)
	return matches
}

func walSegments(t testing.TB, dir string) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, walDirName, "wal-*.log"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(matches)
	return matches
}

func equalStrings(t testing.TB, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d rows, want %d\ngot:  %s\nwant: %s", what, len(got), len(want), strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: row %d\ngot:  %s\nwant: %s", what, i, got[i], want[i])
		}
	}
}
