package query

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/lakegate/lakegate/arrowstore"
)

// StoreSource returns a Source reading the tables of an arrowstore: the
// rows still buffered in memory and those already flushed to Parquet.
func StoreSource(s *arrowstore.Store) Source { return storeSource{s: s} }

// storeSource adapts *arrowstore.Store to Source.
type storeSource struct{ s *arrowstore.Store }

// Snapshot implements Source.
func (ss storeSource) Snapshot(table string, tr TimeRange) (Snapshot, error) {
	snap, err := ss.s.Snapshot(table, tr)
	if err != nil {
		if errors.Is(err, arrowstore.ErrNoTable) {
			return nil, fmt.Errorf("%w: %w", ErrNoTable, err)
		}
		return nil, err
	}
	return storeSnapshot{snap: snap}, nil
}

// Tables implements TableLister.
func (ss storeSource) Tables() []string { return ss.s.Tables() }

// storeSnapshot adapts *arrowstore.Snapshot to Snapshot.
type storeSnapshot struct{ snap *arrowstore.Snapshot }

// Schema implements Snapshot.
func (s storeSnapshot) Schema() *arrow.Schema { return s.snap.Schema }

// Scan implements Snapshot.
func (s storeSnapshot) Scan(ctx context.Context, columns []string, fn func(arrow.Record) error) error {
	return s.snap.Scan(ctx, columns, fn)
}

// ScanParallel implements ParallelScanner.
func (s storeSnapshot) ScanParallel(ctx context.Context, columns, dict []string, workers int, fn func(worker, task int, rec arrow.Record) error) error {
	return s.snap.ScanParallel(ctx, columns, dict, workers, fn)
}

// Release implements Snapshot.
func (s storeSnapshot) Release() { s.snap.Release() }

var (
	_ Source          = storeSource{}
	_ TableLister     = storeSource{}
	_ Snapshot        = storeSnapshot{}
	_ ParallelScanner = storeSnapshot{}
)
