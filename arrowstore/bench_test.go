package arrowstore

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/lakegate/lakegate/arrowstore/internal/wal"
	"github.com/lakegate/lakegate/arrowstore/rows"
)

// benchRow is a typical sensor reading: five columns.
func benchRow(i int) rows.Row {
	return rows.Row{Table: "bench", Time: at(time.Duration(i) * time.Millisecond), Columns: []rows.Column{
		{Name: "device", Value: rows.String(fmt.Sprintf("dev-%03d", i%100))},
		{Name: "temp", Value: rows.Float(20 + float64(i%100)/10)},
		{Name: "hum", Value: rows.Int(int64(40 + i%20))},
		{Name: "ok", Value: rows.Bool(i%7 != 0)},
		{Name: "fw", Value: rows.String("1.4.2")},
	}}
}

// benchRowBytes is the logged size of one benchRow, used for SetBytes.
func benchRowBytes(b *testing.B) int64 {
	rec, err := wal.AppendRecord(nil, 1, []rows.Row{benchRow(1)})
	if err != nil {
		b.Fatal(err)
	}
	return int64(len(rec))
}

func benchStore(b *testing.B) *Store {
	b.Helper()
	opts := testOptions(b, b.TempDir(), memory.DefaultAllocator)
	opts.MaxAge = 10 * time.Second
	opts.SyncInterval = 200 * time.Millisecond
	return openTest(b, opts)
}

// BenchmarkWriteNonDurable: one row per Write (one MQTT QoS 0 message),
// background flushes included.
func BenchmarkWriteNonDurable(b *testing.B) {
	s := benchStore(b)
	defer s.Close()
	rs := make([][]rows.Row, 1024)
	for i := range rs {
		rs[i] = []rows.Row{benchRow(i)}
	}
	ctx := context.Background()
	b.SetBytes(benchRowBytes(b))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Write(ctx, rs[i%len(rs)], false); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkWriteDurable: one row per Write, each waiting for its fsync;
// with more goroutines, group commit shares fsyncs between them.
func BenchmarkWriteDurable(b *testing.B) {
	for _, writers := range []int{1, 8} {
		b.Run(fmt.Sprintf("goroutines=%d", writers), func(b *testing.B) {
			s := benchStore(b)
			defer s.Close()
			ctx := context.Background()
			var n atomic.Int64
			b.SetBytes(benchRowBytes(b))
			b.ReportAllocs()
			syncs := s.Stats().WALSyncs
			b.ResetTimer()
			if writers == 1 {
				for i := 0; i < b.N; i++ {
					if _, err := s.Write(ctx, []rows.Row{benchRow(i)}, true); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				p := runtime.GOMAXPROCS(0)
				b.SetParallelism((writers + p - 1) / p) // RunParallel starts parallelism*GOMAXPROCS goroutines
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := int(n.Add(1))
						if _, err := s.Write(ctx, []rows.Row{benchRow(i)}, true); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(s.Stats().WALSyncs-syncs)/float64(b.N), "fsyncs/op")
		})
	}
}

// BenchmarkFlush100k: writing 100,000 buffered rows to one Parquet file.
func BenchmarkFlush100k(b *testing.B) {
	const n = 100_000
	opts := testOptions(b, b.TempDir(), memory.DefaultAllocator)
	opts.MaxRows = 2 * n
	opts.MaxBytes = 1 << 30
	s := openTest(b, opts)
	defer s.Close()
	ctx := context.Background()
	batch := make([]rows.Row, 1000)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for j := 0; j < n; j += len(batch) {
			for k := range batch {
				batch[k] = benchRow(j + k)
			}
			if _, err := s.Write(ctx, batch, false); err != nil {
				b.Fatal(err)
			}
		}
		bytes := s.Stats().BytesBuffered
		b.SetBytes(bytes)
		b.StartTimer()
		if err := s.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
}
