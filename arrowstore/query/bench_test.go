package query

import (
	"context"
	"io"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"
)

// BenchmarkQuery measures the engine over one million rows in records of
// 64Ki rows (the store's Parquet batch size), times rising with jitter as
// devices send them. Bytes are those of the scanned time column.
//
//	go test -run XXX -bench Query -benchmem ./arrowstore/query/
func BenchmarkQuery(b *testing.B) {
	const n = 1 << 20
	mem := memory.NewGoAllocator()
	jitter := randomTimes(9, 2_000, false)
	src, _ := genTable(b, mem, n, 64<<10, func(i int) (int64, bool) {
		d, _ := jitter(i)
		return int64(i)*10 + d, false
	})
	e := NewEngine(src, Options{Allocator: mem})
	for _, bc := range []struct{ name, sql string }{
		{"count_all", "SELECT count(*) FROM t"},
		{"count_range", "SELECT count(*) FROM t WHERE ts BETWEEN 1000000 AND 5000000"},
		{"range_10k_rows", "SELECT ts, id FROM t WHERE ts >= 2000000 AND ts < 2100000"},
		{"top10_desc", "SELECT * FROM t ORDER BY ts DESC LIMIT 10"},
		{"top10k_desc", "SELECT * FROM t ORDER BY ts DESC LIMIT 10000"},
		{"first100_asc", "SELECT * FROM t LIMIT 100"},
		{"where_id_count", "SELECT count(*) FROM t WHERE id >= 1000 AND id < 900000 OR id = 5"},
		{"where_in_top10", "SELECT * FROM t WHERE id IN (5, 500, 50000, 500000) OR NOT id > 10 ORDER BY ts DESC LIMIT 10"},
		{"group_bucket_1s", "SELECT time_bucket('1s', ts) AS s, count(*), min(id), max(id), last(id) FROM t GROUP BY s"},
		{"agg_all", "SELECT count(*), sum(id), avg(id), first(id) FROM t"},
		{"order_by_id_limit", "SELECT ts, id FROM t WHERE id < 50000 ORDER BY id DESC LIMIT 10"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(n * 8)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Query(context.Background(), bc.sql); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWriteJSON measures encoding a 10k-row result.
func BenchmarkWriteJSON(b *testing.B) {
	mem := memory.NewGoAllocator()
	src, _ := genTable(b, mem, 10_000, 1_000, randomTimes(2, 1<<40, false))
	res, err := NewEngine(src, Options{Allocator: mem}).Query(context.Background(), "SELECT ts, id FROM t")
	if err != nil {
		b.Fatal(err)
	}
	cw := &countWriter{}
	if err := WriteJSON(cw, res, 0, Format{}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(cw.n)
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteJSON(io.Discard, res, 0, Format{}); err != nil {
			b.Fatal(err)
		}
	}
}

// countWriter counts the bytes written to it.
type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
