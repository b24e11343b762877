package latency

import (
	"sync"
	"testing"
	"time"
)

func TestHistogramBuckets(t *testing.T) {
	var h Histogram
	for _, d := range []time.Duration{0, 50 * time.Microsecond, 51 * time.Microsecond, 3 * time.Millisecond, time.Hour} {
		h.Observe(d)
	}
	s := h.Snapshot()
	if s.Count != 5 {
		t.Fatalf("count %d", s.Count)
	}
	if s.Cumulative[0] != 2 { // 0 and exactly 50 µs
		t.Fatalf("first bucket %d, want 2", s.Cumulative[0])
	}
	if s.Cumulative[1] != 3 { // + 51 µs
		t.Fatalf("second bucket %d, want 3", s.Cumulative[1])
	}
	// 3 ms is in the bucket bounded by 3.2 ms (50 µs * 2^6).
	if Bound(6) != 3200*time.Microsecond || s.Cumulative[5] != 3 || s.Cumulative[6] != 4 {
		t.Fatalf("cumulative %v", s.Cumulative)
	}
	if s.Cumulative[Buckets-1] != 4 { // an hour is above every bound
		t.Fatalf("last bucket %d, want 4", s.Cumulative[Buckets-1])
	}
	if want := 101*time.Microsecond + 3*time.Millisecond + time.Hour; s.Sum != want {
		t.Fatalf("sum %v, want %v", s.Sum, want)
	}
}

func TestHistogramConcurrent(t *testing.T) {
	var h Histogram
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				h.Observe(time.Duration(g*1000+i) * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	if s := h.Snapshot(); s.Count != 8000 || s.Cumulative[Buckets-1] > s.Count {
		t.Fatalf("snapshot %+v", s)
	}
}

func BenchmarkObserve(b *testing.B) {
	var h Histogram
	for i := 0; b.Loop(); i++ {
		h.Observe(time.Duration(i&0xffff) * time.Microsecond)
	}
}
