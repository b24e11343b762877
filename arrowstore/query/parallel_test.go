package query

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/lakegate/lakegate/arrowstore/rows"
)

// TestParallelAggregateMatchesSequential runs aggregate queries over a
// store holding several Parquet files and buffered batches, once on one
// goroutine and once on four (the store's ScanParallel, one aggregator per
// worker, merged), and requires the same answers: groups merged, first and
// last ties (many rows share a time) broken in scan order as on one
// goroutine, count(DISTINCT) sets united. Values are multiples of 0.5, so
// float sums are exact in any order.
func TestParallelAggregateMatchesSequential(t *testing.T) {
	mem := newChecked(t)
	s := openStore(t, mem, t.TempDir())
	const n, devices = 24_000, 37
	var batch []rows.Row
	for i := range n {
		var cols []rows.Column
		if i%11 != 0 {
			cols = append(cols, col("device", rows.String(fmt.Sprintf("dev-%02d", i%devices))))
		}
		cols = append(cols, col("v", rows.Float(float64(i%97)*0.5)), col("k", rows.Int(int64(i%13))))
		if i%7 != 0 {
			cols = append(cols, col("s", rows.String(fmt.Sprintf("s%d", i%5))))
		}
		// Numbers with NULLs, x only from the third file on.
		if i >= 6000 && i%5 != 0 {
			cols = append(cols, col("x", rows.Float(float64(i%41)*0.25)))
		}
		if i%3 != 1 {
			cols = append(cols, col("j", rows.Int(int64(i%17-8))))
		}
		// Three rows share each millisecond: first/last have ties to break.
		batch = append(batch, rows.Row{Table: "m", Time: ms(t0 + int64(i/3)*10), Columns: cols})
		if len(batch) == 1000 {
			if _, err := s.Write(context.Background(), batch, false); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
			if i < n/2 && (i+1)%3000 == 0 {
				flush(t, s) // a file per 3000 rows for the first half
			}
		}
	}
	if _, err := s.Write(context.Background(), batch, false); err != nil {
		t.Fatal(err)
	}
	src := StoreSource(s)
	seq := NewEngine(src, Options{Allocator: mem, Parallelism: 1, Logger: testLogger(t)})
	par := NewEngine(src, Options{Allocator: mem, Parallelism: 4, Logger: testLogger(t)})
	queries := []string{
		"SELECT device, count(*), count(s), sum(v), sum(k), min(v), max(v), avg(k), min(s), max(s) FROM m GROUP BY device",
		"SELECT device, first(v), last(v), first(s), last(s), first(ts), last(ts), first(k), last(k) FROM m GROUP BY device",
		"SELECT time_bucket('1s', ts) AS b, count(*), last(device), count(DISTINCT device), count(DISTINCT s) FROM m GROUP BY b",
		"SELECT k, s, count(*) AS n FROM m WHERE v > 10 AND device IS NOT NULL GROUP BY k, s HAVING count(*) > 5 ORDER BY n DESC, k, s",
		"SELECT count(*), sum(v), first(device), last(device), count(DISTINCT k) FROM m",
		"SELECT DISTINCT s, k FROM m WHERE ts < '2023-11-14T22:13:40Z'",
		"SELECT device FROM m GROUP BY device ORDER BY max(v) DESC, device LIMIT 5",
		"SELECT device, count(x), sum(x), min(x), max(x), avg(j), min(j), max(j), first(x), last(j) FROM m GROUP BY device",
		"SELECT count(*), count(x), count(j), sum(j) FROM m WHERE x IS NULL OR j > 2",
		// The time column left unread (needsTime), or not: no column at
		// all; a time range.
		"SELECT count(*) FROM m",
		"SELECT k, count(*), sum(v) FROM m WHERE ts >= '2023-11-14T22:13:40Z' GROUP BY k",
	}
	for _, q := range queries {
		want, err := seq.Query(context.Background(), q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if len(want.Rows) == 0 {
			t.Fatalf("%s: no rows; the test data is wrong", q)
		}
		for range 3 { // the tasks go to other workers each time
			got, err := par.Query(context.Background(), q)
			if err != nil {
				t.Fatalf("%s in parallel: %v", q, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: in parallel\n%v\nwant\n%v", q, got.Rows, want.Rows)
			}
		}
	}
}

// TestParallelScanStopsOnError checks that a failing aggregate (too many
// groups) over a parallel scan fails cleanly and frees every record.
func TestParallelScanStopsOnError(t *testing.T) {
	mem := newChecked(t)
	s := openStore(t, mem, t.TempDir())
	var rs []rows.Row
	for i := range 5000 {
		rs = append(rs, rows.Row{Table: "m", Time: ms(t0 + int64(i)), Columns: []rows.Column{col("k", rows.Int(int64(i)))}})
	}
	if _, err := s.Write(context.Background(), rs[:2500], false); err != nil {
		t.Fatal(err)
	}
	flush(t, s)
	if _, err := s.Write(context.Background(), rs[2500:], false); err != nil {
		t.Fatal(err)
	}
	e := NewEngine(StoreSource(s), Options{Allocator: mem, Parallelism: 3, MaxRows: 100})
	if _, err := e.Query(context.Background(), "SELECT k, count(*) FROM m GROUP BY k"); err == nil {
		t.Fatal("5000 groups with MaxRows 100 succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Query(ctx, "SELECT k, count(*) FROM m GROUP BY k"); err == nil {
		t.Fatal("a canceled query succeeded")
	}
}

// TestDictColumns checks which GROUP BY column the parallel scan may read
// as a dictionary: a lone string key that no aggregate and no WHERE reads.
func TestDictColumns(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "ts", Type: arrowType(rows.KindTimestamp)},
		{Name: "device", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "v", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	}, nil)
	e := NewEngine(NewMemSource(), Options{})
	for sql, want := range map[string]string{
		"SELECT device, count(*), sum(v), last(v) FROM m GROUP BY device":             "device",
		"SELECT device FROM m GROUP BY device HAVING max(v) > 1 ORDER BY count(*)":    "device",
		"SELECT DISTINCT device FROM m":                                               "device",
		"SELECT device, count(device) FROM m GROUP BY device":                         "",
		"SELECT device, last(device) FROM m GROUP BY device":                          "",
		"SELECT device, count(*) FROM m WHERE device <> 'x' GROUP BY device":          "",
		"SELECT device, v, count(*) FROM m GROUP BY device, v":                        "",
		"SELECT time_bucket('1m', ts) AS b, count(*) FROM m GROUP BY b":               "",
		"SELECT device, count(*) FROM m WHERE v > 1 AND ts > '2024-01-01' GROUP BY 1": "device",
	} {
		lp, err := parse(e.parser, sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		bp, err := bind(lp, schema)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		if got := strings.Join(dictColumns(bp), ","); got != want {
			t.Errorf("%s: dictionary columns %q, want %q", sql, got, want)
		}
	}
}
