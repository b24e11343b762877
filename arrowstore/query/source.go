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
