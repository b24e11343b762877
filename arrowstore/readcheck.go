package arrowstore

import (
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/parquet/metadata"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
)

// ErrDamagedFile reports a Parquet file that gave fewer rows than its
// footer promises: a page that cannot be read or decompressed.
var ErrDamagedFile = errors.New("damaged Parquet file")

// readAll passes every record of rr to fn and checks that they add up to
// the rows of the row groups read (groups; nil for all). arrow-go v17's
// record reader stops early with io.EOF, not an error, when a page cannot
// be read, so the count is what tells a damaged file from its end; without
// it a scan would miss rows silently and a compaction would drop them. An
// error from fn is returned as it is.
func readAll(rr pqarrow.RecordReader, md *metadata.FileMetaData, groups []int, fn func(arrow.Record) error) error {
	var got int64
	for rr.Next() {
		rec := rr.Record()
		got += rec.NumRows()
		if err := fn(rec); err != nil {
			return err
		}
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if want := groupRows(md, groups); got != want {
		return fmt.Errorf("%w: %d of its %d rows read", ErrDamagedFile, got, want)
	}
	return nil
}

// groupRows is the number of rows in the row groups (nil: all of them).
func groupRows(md *metadata.FileMetaData, groups []int) int64 {
	if groups == nil {
		return md.NumRows
	}
	var n int64
	for _, g := range groups {
		n += md.RowGroup(g).NumRows()
	}
	return n
}
