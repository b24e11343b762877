package query

import (
	"context"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/lakegate/lakegate/arrowstore"
)

// TimeRange is an inclusive range of instants in unix nanoseconds, UTC: the
// store's own type, so the store satisfies Source with a thin adapter.
type TimeRange = arrowstore.TimeRange

// AllTime returns the range that holds every instant.
func AllTime() TimeRange { return arrowstore.AllTime() }

// Source gives the engine read access to tables. The arrowstore adapter and
// MemSource implement it.
type Source interface {
	// Snapshot opens a consistent view of table that holds at least every row
	// whose time lies in tr. It returns an error wrapping ErrNoTable when the
	// table does not exist. The caller releases the snapshot.
	Snapshot(table string, tr TimeRange) (Snapshot, error)
}

// Snapshot is a consistent, read-only view of one table.
type Snapshot interface {
	// Schema describes the table. Field 0 is the time column, an Arrow
	// timestamp.
	Schema() *arrow.Schema
	// Scan calls fn with records holding exactly columns (nil means every
	// field of Schema), in that order and typed as in Schema. Records may hold
	// rows outside the snapshot's time range; the engine filters them. A
	// record is released after fn returns: fn retains what it keeps. Scan
	// stops with fn's error, or ctx's.
	Scan(ctx context.Context, columns []string, fn func(arrow.Record) error) error
	// Release frees the snapshot. It is called exactly once.
	Release()
}

// ParallelScanner is implemented by a Snapshot that can scan on several
// goroutines (the store's does, over in-memory batches and Parquet row
// groups). The engine uses it for aggregate queries, with one aggregator
// per worker merged at the end.
type ParallelScanner interface {
	// ScanParallel is Scan with fn called from up to workers goroutines at
	// once (never concurrently for one worker, worker in [0, workers)).
	// Records come in units of work numbered in Scan's order (task); one
	// worker's tasks come in increasing order, so (task, row) is Scan's
	// order. String columns named in dict may arrive as Arrow dictionaries
	// (int32 indices into a string dictionary that may hold unused values)
	// instead of plain strings.
	ScanParallel(ctx context.Context, columns, dict []string, workers int, fn func(worker, task int, rec arrow.Record) error) error
}
