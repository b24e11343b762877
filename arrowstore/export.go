package arrowstore

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	"github.com/lakegate/lakegate/arrowstore/internal/wal"
)

// ErrLocked is returned by Open when another store, in this process or
// another, has the directory open (a running gateway holds it).
var ErrLocked = wal.ErrLocked

// ExportKey is the Parquet key-value metadata entry naming the table an
// exported file came from.
const ExportKey = "lakegate.table"

// WriteParquet writes the snapshot's rows whose time is within its range
// (exactly: unlike Scan, rows outside it are left out) to w as one Parquet
// file with the store's settings: zstd, statistics, the table schema at
// the snapshot, time columns as TIMESTAMP(MILLIS, UTC). Rows are in
// storage order, not sorted by time. It returns the number of rows
// written. On error w holds a partial file without a footer, which every
// reader rejects.
func (sn *Snapshot) WriteParquet(ctx context.Context, w io.Writer) (int64, error) {
	sink := &errWriter{w: bufio.NewWriterSize(w, 256<<10)}
	props, aprops := parquetProps(sn.Schema.Field(0).Name, sn.mem)
	fw, err := pqarrow.NewFileWriter(sn.Schema, sink, props, aprops)
	if err != nil {
		return 0, fmt.Errorf("exporting %q: starting parquet writer: %w", sn.table, err)
	}
	if err := fw.AppendKeyValueMetadata(ExportKey, sn.table); err != nil {
		fw.Close()
		return 0, fmt.Errorf("exporting %q: %w", sn.table, err)
	}
	lo, hi := sn.tr.exactMs()
	var n int64
	err = sn.Scan(ctx, nil, func(rec arrow.Record) error {
		ts := rec.Column(0).(*array.Timestamp)
		// Write each run of rows inside the range as a slice: rows of one
		// batch are mostly in time order, so runs are long.
		for i, rows := 0, int(rec.NumRows()); i < rows; {
			for i < rows && !inMs(ts, i, lo, hi) {
				i++
			}
			j := i
			for j < rows && inMs(ts, j, lo, hi) {
				j++
			}
			if j > i {
				part := rec.NewSlice(int64(i), int64(j))
				err := fw.WriteBuffered(part)
				part.Release()
				if err != nil {
					return fmt.Errorf("writing parquet rows: %w", err)
				}
				n += int64(j - i)
			}
			i = j
		}
		return sink.err
	})
	if err != nil {
		fw.Close()
		return 0, fmt.Errorf("exporting %q: %w", sn.table, err)
	}
	if err := fw.Close(); err != nil {
		return 0, fmt.Errorf("exporting %q: closing parquet writer: %w", sn.table, err)
	}
	if sink.err != nil {
		return 0, fmt.Errorf("exporting %q: writing: %w", sn.table, sink.err)
	}
	if err := sink.w.Flush(); err != nil {
		return 0, fmt.Errorf("exporting %q: writing: %w", sn.table, err)
	}
	return n, nil
}

func inMs(ts *array.Timestamp, i int, lo, hi int64) bool {
	v := int64(ts.Value(i))
	return lo <= v && v <= hi
}

// exactMs returns the range in unix milliseconds of the stored (truncated
// to ms) times whose instant lies within tr: [ceil(Min), floor(Max)].
func (tr TimeRange) exactMs() (int64, int64) {
	lo := nsToMs(tr.Min)
	if tr.Min != math.MinInt64 && lo*1e6 < tr.Min {
		lo++
	}
	return lo, nsToMs(tr.Max)
}
