package arrowstore

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/schema"
	"github.com/lakegate/lakegate/arrowstore/rows"
)

// TestExportParquet exports a time window of a table whose rows are partly
// in files and partly buffered, with a column added after the first file,
// and reads the file back with pqarrow and the low-level Parquet reader.
func TestExportParquet(t *testing.T) {
	mem := newChecked(t)
	dir := t.TempDir()
	s := openTest(t, testOptions(t, dir, mem))
	defer s.Close()

	// Day 0: 10:00..10:04 in a file; day 0 10:05 and day 1 buffered with a new column.
	for i := 0; i < 5; i++ {
		mustWrite(t, s, true, row("m", at(time.Duration(i)*time.Minute-2*time.Hour), col("v", rows.Int(int64(i)))))
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, s, true,
		row("m", at(5*time.Minute-2*time.Hour), col("v", rows.Int(5)), col("s", rows.String("x"))),
		row("m", at(24*time.Hour), col("v", rows.Int(6))),
	)

	export := func(tr TimeRange) (string, int64) {
		t.Helper()
		snap, err := s.Snapshot("m", tr)
		if err != nil {
			t.Fatal(err)
		}
		defer snap.Release()
		var buf bytes.Buffer
		n, err := snap.WriteParquet(context.Background(), &buf)
		if err != nil {
			t.Fatalf("WriteParquet: %v", err)
		}
		p := filepath.Join(t.TempDir(), "out.parquet")
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p, n
	}

	p, n := export(AllTime())
	if n != 7 {
		t.Fatalf("exported %d rows, want 7", n)
	}
	equalStrings(t, "all rows", sortedCopy(readParquetFile(t, p, mem)), []string{
		`ts=2024-03-10T10:00:00.000|v=0|s=null`,
		`ts=2024-03-10T10:01:00.000|v=1|s=null`,
		`ts=2024-03-10T10:02:00.000|v=2|s=null`,
		`ts=2024-03-10T10:03:00.000|v=3|s=null`,
		`ts=2024-03-10T10:04:00.000|v=4|s=null`,
		`ts=2024-03-10T10:05:00.000|v=5|s="x"`,
		`ts=2024-03-11T12:00:00.000|v=6|s=null`,
	})
	checkExportedFile(t, p, mem)

	// [10:01, 10:04) as from inclusive, to exclusive (Max = to - 1ns).
	from, to := day0.Add(-2*time.Hour+time.Minute), day0.Add(-2*time.Hour+4*time.Minute)
	p, n = export(TimeRange{Min: from.UnixNano(), Max: to.UnixNano() - 1})
	if n != 3 {
		t.Fatalf("exported %d rows, want 3", n)
	}
	equalStrings(t, "window", sortedCopy(readParquetFile(t, p, mem)), []string{
		`ts=2024-03-10T10:01:00.000|v=1|s=null`,
		`ts=2024-03-10T10:02:00.000|v=2|s=null`,
		`ts=2024-03-10T10:03:00.000|v=3|s=null`,
	})

	// An empty window is still a valid file with the schema.
	p, n = export(TimeRange{Min: at(-48 * time.Hour), Max: at(-47 * time.Hour)})
	if n != 0 || len(readParquetFile(t, p, mem)) != 0 {
		t.Fatalf("empty window: %d rows", n)
	}
}

// checkExportedFile checks the Parquet-level promises: zstd, statistics,
// TIMESTAMP(MILLIS, UTC) time column, the table name in the metadata.
func checkExportedFile(t *testing.T, p string, mem memory.Allocator) {
	t.Helper()
	rdr, err := file.OpenParquetFile(p, false, file.WithReadProps(parquet.NewReaderProperties(mem)))
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Close()
	md := rdr.MetaData()
	if v := md.KeyValueMetadata().FindValue(ExportKey); v == nil || *v != "m" {
		t.Errorf("%s = %v, want m", ExportKey, v)
	}
	if md.KeyValueMetadata().FindValue(walSeqKey) != nil {
		t.Errorf("an exported file must not carry %s: it is not a store file", walSeqKey)
	}
	ts := md.Schema.Column(0)
	lt, ok := ts.LogicalType().(*schema.TimestampLogicalType)
	if !ok || lt.TimeUnit() != schema.TimeUnitMillis || !lt.IsAdjustedToUTC() {
		t.Errorf("ts logical type = %s", ts.LogicalType())
	}
	cc, err := md.RowGroup(0).ColumnChunk(0)
	if err != nil {
		t.Fatal(err)
	}
	if cc.Compression() != compress.Codecs.Zstd {
		t.Errorf("compression = %s, want zstd", cc.Compression())
	}
	if ok, _ := cc.StatsSet(); !ok {
		t.Error("no statistics on ts")
	}
}
