package plugins

import (
	"sync/atomic"

	"github.com/lakegate/lakegate/arrowstore/latency"
)

// Stats are a formatter's counters since Load.
type Stats struct {
	Calls              uint64            // Format calls that reached an instance
	Rows               uint64            // rows returned
	Failures           map[Reason]uint64 // failed calls by reason (malformed included)
	InstancesStarted   uint64
	InstancesDiscarded uint64
	LogsDropped        uint64 // guest log lines over the rate limit
	// CallLatency is how long Format calls took, failed ones included,
	// from taking an instance to returning it (time spent waiting for a
	// free instance too).
	CallLatency latency.Snapshot
}

// Malformed returns the count of malformed payloads.
func (s Stats) Malformed() uint64 { return s.Failures[ReasonMalformed] }

// Failed returns the count of failed calls other than malformed payloads.
func (s Stats) Failed() uint64 {
	var n uint64
	for r, c := range s.Failures {
		if r != ReasonMalformed {
			n += c
		}
	}
	return n
}

// counters are updated with atomics on the hot path; no locks.
type counters struct {
	calls, rows        atomic.Uint64
	failures           [numReasons]atomic.Uint64
	started, discarded atomic.Uint64
	logsDropped        atomic.Uint64
	logWindow          atomic.Int64 // unix second of the current log window
	logsInWindow       atomic.Int64
	callLatency        latency.Histogram
}

func (c *counters) snapshot() Stats {
	s := Stats{
		Calls:              c.calls.Load(),
		Rows:               c.rows.Load(),
		Failures:           make(map[Reason]uint64),
		InstancesStarted:   c.started.Load(),
		InstancesDiscarded: c.discarded.Load(),
		LogsDropped:        c.logsDropped.Load(),
		CallLatency:        c.callLatency.Snapshot(),
	}
	for r := Reason(1); r < numReasons; r++ {
		if n := c.failures[r].Load(); n != 0 {
			s.Failures[r] = n
		}
	}
	return s
}
