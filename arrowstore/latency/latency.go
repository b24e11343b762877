// Package latency records durations in a fixed set of exponential buckets
// with atomic counters: cheap enough for a hot path (one atomic add per
// bucket and sum), safe for concurrent use, and free of any metrics
// library. Exporters read a Snapshot and publish it in their own format
// (the gateway's /metrics turns it into a Prometheus histogram).
package latency

import (
	"sync/atomic"
	"time"
)

// Buckets is the number of bucket bounds: Bound(0) to Bound(Buckets-1).
const Buckets = 17

// Bound returns bucket i's upper bound: 50 µs doubling to about 3.3 s,
// which covers a WASM call (tens of µs) as well as an fsync on an SD card
// (tens of ms).
func Bound(i int) time.Duration { return 50 * time.Microsecond << i }

// Histogram counts durations by bucket. The zero value is ready to use.
type Histogram struct {
	counts [Buckets + 1]atomic.Uint64 // the last counts what is above every bound
	sum    atomic.Int64               // nanoseconds
}

// Observe records d.
func (h *Histogram) Observe(d time.Duration) { h.ObserveN(d, 1) }

// ObserveN records d n times.
func (h *Histogram) ObserveN(d time.Duration, n uint64) {
	i := 0
	for b := 50 * time.Microsecond; i < Buckets && d > b; b *= 2 {
		i++
	}
	h.counts[i].Add(n)
	h.sum.Add(int64(d) * int64(n))
}

// Since records the time elapsed since start.
func (h *Histogram) Since(start time.Time) { h.Observe(time.Since(start)) }

// Snapshot is a histogram's counts at one moment.
type Snapshot struct {
	// Cumulative[i] counts observations <= Bound(i).
	Cumulative [Buckets]uint64
	Count      uint64
	Sum        time.Duration
}

// Snapshot reads the counters. Observations made while it reads may be
// counted in Count and not in a bucket, never the other way round.
func (h *Histogram) Snapshot() Snapshot {
	var s Snapshot
	var run uint64
	for i := range Buckets {
		run += h.counts[i].Load()
		s.Cumulative[i] = run
	}
	s.Count = run + h.counts[Buckets].Load()
	s.Sum = time.Duration(h.sum.Load())
	return s
}
