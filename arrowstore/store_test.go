package arrowstore

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	"github.com/apache/arrow/go/v17/parquet/schema"
	"github.com/lakegate/lakegate/arrowstore/rows"
)

func TestOptions(t *testing.T) {
	d := Options{Dir: "x"}.WithDefaults()
	if d.TimeColumn != "ts" || d.MaxRows != 100_000 || d.MaxBytes != 32<<20 || d.MaxAge != 10*time.Second ||
		d.SyncInterval != 200*time.Millisecond || d.Allocator == nil || d.Logger == nil ||
		d.MaxBufferedBytes != 256<<20 || d.CompactMinFiles != 8 || d.CompactMaxBytes != 64<<20 || d.MaintenanceInterval != time.Minute {
		t.Fatalf("defaults: %+v", d)
	}
	if err := d.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	tests := []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"no dir", func(o *Options) { o.Dir = "" }, "dir is required"},
		{"bad time column", func(o *Options) { o.TimeColumn = "a\x01" }, "time_column"},
		{"time column is partition key", func(o *Options) { o.TimeColumn = "Date" }, "partition column"},
		{"negative rows", func(o *Options) { o.MaxRows = -1 }, "max_rows"},
		{"negative bytes", func(o *Options) { o.MaxBytes = -1 }, "max_bytes"},
		{"negative age", func(o *Options) { o.MaxAge = -time.Second }, "max_age"},
		{"negative sync", func(o *Options) { o.SyncInterval = -time.Second }, "sync_interval"},
		{"negative buffer cap", func(o *Options) { o.MaxBufferedBytes = -1 }, "max_buffered_bytes"},
		{"negative retention", func(o *Options) { o.Retention = -time.Hour }, "retention"},
		{"bad retention table", func(o *Options) { o.RetentionByTable = []TableRetention{{Table: "a/b", MaxAge: time.Hour}} }, "retention_by_table[0].table"},
		{"negative table retention", func(o *Options) { o.RetentionByTable = []TableRetention{{Table: "a", MaxAge: -1}} }, "retention_by_table[0].max_age"},
		{"negative disk budget", func(o *Options) { o.MaxDiskBytes = -1 }, "max_disk_bytes"},
		{"negative compact size", func(o *Options) { o.CompactMaxBytes = -1 }, "compact_max_bytes"},
		{"negative maintenance", func(o *Options) { o.MaintenanceInterval = -time.Second }, "maintenance_interval"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Dir: "x"}.WithDefaults()
			tc.mod(&o)
			err := o.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tc.want)
			}
		})
	}
}

// allTypesRows writes a table of every value kind and a second table.
func allTypesRows() []rows.Row {
	return []rows.Row{
		row("sensors", at(0), col("i", rows.Int(1)), col("f", rows.Float(1.5)), col("b", rows.Bool(true)),
			col("s", rows.String("héllo")), col("y", rows.Bytes([]byte{0, 1, 2})), col("t", rows.Timestamp(at(time.Hour)))),
		row("sensors", at(time.Second+999_999), col("i", rows.Int(-2)), col("f", rows.Float(math.Inf(-1))), col("b", rows.Bool(false)),
			col("s", rows.String("")), col("y", rows.Bytes(nil)), col("t", rows.Timestamp(-1))),
		row("sensors", at(24*time.Hour), col("i", rows.Null()), col("s", rows.String("next day"))),
		row("events", at(2*time.Millisecond), col("kind", rows.String("boot"))),
	}
}

var allTypesWant = map[string][]string{
	"sensors": {
		`ts=2024-03-10T12:00:00.000|i=1|f=1.5|b=true|s="héllo"|y=0x000102|t=2024-03-10T13:00:00.000`,
		`ts=2024-03-10T12:00:01.000|i=-2|f=-Inf|b=false|s=""|y=0x|t=1969-12-31T23:59:59.999`,
		`ts=2024-03-11T12:00:00.000|i=null|f=null|b=null|s="next day"|y=null|t=null`,
	},
	"events": {`ts=2024-03-10T12:00:00.002|kind="boot"`},
}

func TestWriteFlushReadBack(t *testing.T) {
	mem := newChecked(t)
	dir := t.TempDir()
	s := openTest(t, testOptions(t, dir, mem))
	defer s.Close()
	mustWrite(t, s, true, allTypesRows()...)

	if got := s.Tables(); strings.Join(got, ",") != "events,sensors" {
		t.Fatalf("Tables() = %v", got)
	}
	for table, want := range allTypesWant {
		equalStrings(t, table+" before flush", scanRows(t, s, table, AllTime(), nil), want)
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	for table, want := range allTypesWant {
		equalStrings(t, table+" after flush", scanRows(t, s, table, AllTime(), nil), want)
	}
	files := parquetFiles(t, dir, "sensors")
	wantFiles := []string{"sensors/date=2024-03-10/part-00000000.parquet", "sensors/date=2024-03-11/part-00000001.parquet"}
	equalStrings(t, "sensors files", files, wantFiles)
	st := s.Stats()
	if st.FilesWritten != 3 || st.RowsFlushed != 4 || st.RowsBuffered != 0 || st.BytesBuffered != 0 || st.RowsWritten != 4 {
		t.Fatalf("Stats after flush: %+v", st)
	}
	if segs := walSegments(t, dir); len(segs) != 1 {
		t.Fatalf("after flush, want only the fresh active wal segment, got %v", segs)
	}

	// The files on their own, through pqarrow: the same rows.
	var fromFiles []string
	for _, f := range files {
		fromFiles = append(fromFiles, readParquetFile(t, filepath.Join(dir, f), mem)...)
	}
	equalStrings(t, "pqarrow read", sortedCopy(fromFiles), allTypesWant["sensors"])

	// What Spark, pandas and DuckDB see: TIMESTAMP(MILLIS, UTC), zstd,
	// statistics, the wal seq.
	rdr, err := file.OpenParquetFile(filepath.Join(dir, files[0]), false)
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Close()
	md := rdr.MetaData()
	for i, name := range []string{"ts", "t"} {
		idx := md.Schema.ColumnIndexByName(name)
		c := md.Schema.Column(idx)
		lt, ok := c.LogicalType().(interface {
			IsAdjustedToUTC() bool
			TimeUnit() schema.TimeUnitType
		})
		if !ok || !lt.IsAdjustedToUTC() || lt.TimeUnit() != schema.TimeUnitMillis || c.PhysicalType() != parquet.Types.Int64 {
			t.Errorf("column %d %q: logical type %s physical %s, want TIMESTAMP(MILLIS, isAdjustedToUTC=true) int64", i, name, c.LogicalType(), c.PhysicalType())
		}
	}
	if rep := md.Schema.Column(0).SchemaNode().RepetitionType(); rep != parquet.Repetitions.Required {
		t.Errorf("time column repetition %s, want required", rep)
	}
	if rep := md.Schema.Root().RepetitionType(); rep == parquet.Repetitions.Repeated {
		t.Errorf("root repetition %s: readers may take it for a list", rep)
	}
	for rg := 0; rg < rdr.NumRowGroups(); rg++ {
		for c := 0; c < md.Schema.NumColumns(); c++ {
			cc, err := md.RowGroup(rg).ColumnChunk(c)
			if err != nil {
				t.Fatal(err)
			}
			if cc.Compression() != compress.Codecs.Zstd {
				t.Errorf("column %d compression %s, want zstd", c, cc.Compression())
			}
			if ok, _ := cc.StatsSet(); !ok {
				t.Errorf("column %d has no statistics", c)
			}
		}
	}
	if v := md.KeyValueMetadata().FindValue(walSeqKey); v == nil || *v != "1" {
		t.Errorf("%s = %v, want 1", walSeqKey, v)
	}
	if v := md.KeyValueMetadata().FindValue("ARROW:schema"); v == nil {
		t.Errorf("no stored Arrow schema")
	}
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

// readParquetFile reads a whole file with pqarrow.ReadTable.
func readParquetFile(t *testing.T, path string, mem memory.Allocator) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tbl, err := pqarrow.ReadTable(context.Background(), f, parquet.NewReaderProperties(mem), pqarrow.ArrowReadProperties{BatchSize: 1024}, mem)
	if err != nil {
		t.Fatalf("ReadTable %s: %v", path, err)
	}
	defer tbl.Release()
	if !arrow.TypeEqual(tbl.Schema().Field(0).Type, timestampType) {
		t.Fatalf("ts read back as %s", tbl.Schema().Field(0).Type)
	}
	tr := array.NewTableReader(tbl, 0)
	defer tr.Release()
	var out []string
	for tr.Next() {
		out = append(out, renderRecord(tr.Record())...)
	}
	return out
}

func TestSchemaEvolution(t *testing.T) {
	mem := newChecked(t)
	dir := t.TempDir()
	s := openTest(t, testOptions(t, dir, mem))
	defer s.Close()
	ctx := context.Background()

	mustWrite(t, s, false, row("m", at(0), col("temp", rows.Float(20.5)), col("unit", rows.String("C"))))
	res, err := s.Write(ctx, []rows.Row{
		row("m", at(time.Second), col("temp", rows.Int(21))),                                     // int into float: widened
		row("m", at(2*time.Second), col("temp", rows.String("hot"))),                             // conflict
		row("m", at(3*time.Second), col("hum", rows.Int(40)), col("unit", rows.Null())),          // new column
		row("m", at(4*time.Second), col("hum", rows.Float(1))),                                   // float into int: conflict
		row("m", at(5*time.Second), col("ghost", rows.Null())),                                   // creates nothing
		row("m", at(6*time.Second), col("later", rows.Bool(true)), col("temp", rows.Bool(true))), // conflict; "later" not added
	}, true)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	if res.Stored != 3 || len(res.Rejected) != 3 {
		t.Fatalf("stored %d, rejected %v", res.Stored, res.Rejected)
	}
	wantRej := []struct {
		index int
		parts []string
	}{
		{1, []string{`table "m"`, `column "temp"`, "float64", "string"}},
		{3, []string{`column "hum"`, "int64", "float64"}},
		{5, []string{`column "temp"`, "float64", "bool"}},
	}
	for i, w := range wantRej {
		r := res.Rejected[i]
		if r.Index != w.index || !errors.Is(r.Err, rows.ErrSchemaConflict) {
			t.Errorf("rejection %d: index %d err %v, want index %d wrapping ErrSchemaConflict", i, r.Index, r.Err, w.index)
		}
		for _, p := range w.parts {
			if !strings.Contains(r.Err.Error(), p) {
				t.Errorf("rejection %d: %q does not name %s", i, r.Err, p)
			}
		}
	}
	want := []string{
		`ts=2024-03-10T12:00:00.000|temp=20.5|unit="C"|hum=null`,
		`ts=2024-03-10T12:00:01.000|temp=21|unit=null|hum=null`,
		`ts=2024-03-10T12:00:03.000|temp=null|unit=null|hum=40`,
		`ts=2024-03-10T12:00:05.000|temp=null|unit=null|hum=null`,
	}
	equalStrings(t, "before flush", scanRows(t, s, "m", AllTime(), nil), want)
	snap, err := s.Snapshot("m", AllTime())
	if err != nil {
		t.Fatal(err)
	}
	if got := snap.Schema.String(); !strings.Contains(got, "hum: type=int64, nullable") || strings.Contains(got, "ghost") || strings.Contains(got, "later") {
		t.Errorf("schema: %s", got)
	}
	snap.Release()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// The file holds the first (narrow) and later (wide) batches widened.
	equalStrings(t, "after flush", scanRows(t, s, "m", AllTime(), nil), want)
	if st := s.Stats(); st.RowsRejected != 3 || st.RowsWritten != 4 {
		t.Errorf("stats %+v", st)
	}
}

// TestRowsOfOneShape writes rows with the same column names in the same
// order, as one device sends them: after the first rows the store checks
// only their values, and takes rows whose values fit as they are without
// copying them. Rows that need a value changed (an int widened, a null) or
// that are refused sit between such rows in one Write; each row must get
// its own values and fields.
func TestRowsOfOneShape(t *testing.T) {
	mem := newChecked(t)
	s := openTest(t, testOptions(t, t.TempDir(), mem))
	defer s.Close()
	reading := func(sec int, device, temp, n rows.Value) rows.Row {
		return row("m", at(time.Duration(sec)*time.Second), col("device", device), col("temp", temp), col("n", n))
	}
	// The first row adds the columns; the second, all known, sets the shape.
	mustWrite(t, s, false, reading(0, rows.String("a"), rows.Float(20.5), rows.Int(1)))
	mustWrite(t, s, false, reading(1, rows.String("b"), rows.Float(21), rows.Int(2)))
	res, err := s.Write(context.Background(), []rows.Row{
		reading(2, rows.String("c"), rows.Float(22.5), rows.Int(3)),       // as it is
		reading(3, rows.String("\xff"), rows.Float(0), rows.Int(0)),       // refused: not UTF-8
		reading(4, rows.String("d"), rows.Int(23), rows.Int(4)),           // int widened to float
		reading(5, rows.String("e"), rows.Float(0), rows.Float(1.5)),      // refused: float into int
		reading(6, rows.Null(), rows.Float(24.5), rows.Int(6)),            // a null
		reading(7, rows.String("f"), rows.Bool(true), rows.Int(0)),        // refused: bool into float
		reading(8, rows.String("g"), rows.Float(25.5), rows.Int(8)),       // as it is
		reading(9, rows.String("h"), rows.Float(26.5), rows.Int(9)),       // as it is
		reading(10, rows.String("i"), rows.Float(27.5), rows.String("x")), // refused after as-is rows
		reading(11, rows.String("j"), rows.Float(28.5), rows.Int(11)),     // as it is
	}, false)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	var refused []int
	for _, r := range res.Rejected {
		if !errors.Is(r.Err, rows.ErrSchemaConflict) {
			t.Errorf("row %d refused with %v, want ErrSchemaConflict", r.Index, r.Err)
		}
		refused = append(refused, r.Index)
	}
	if res.Stored != 6 || !slices.Equal(refused, []int{1, 3, 5, 8}) {
		t.Fatalf("stored %d, refused rows %v; want 6 stored, rows [1 3 5 8] refused", res.Stored, refused)
	}
	want := []string{
		`ts=2024-03-10T12:00:00.000|device="a"|temp=20.5|n=1`,
		`ts=2024-03-10T12:00:01.000|device="b"|temp=21|n=2`,
		`ts=2024-03-10T12:00:02.000|device="c"|temp=22.5|n=3`,
		`ts=2024-03-10T12:00:04.000|device="d"|temp=23|n=4`,
		`ts=2024-03-10T12:00:06.000|device=null|temp=24.5|n=6`,
		`ts=2024-03-10T12:00:08.000|device="g"|temp=25.5|n=8`,
		`ts=2024-03-10T12:00:09.000|device="h"|temp=26.5|n=9`,
		`ts=2024-03-10T12:00:11.000|device="j"|temp=28.5|n=11`,
	}
	equalStrings(t, "buffered", scanRows(t, s, "m", AllTime(), nil), want)
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	equalStrings(t, "in Parquet", scanRows(t, s, "m", AllTime(), nil), want)
}

func TestRejectedNames(t *testing.T) {
	mem := newChecked(t)
	s := openTest(t, testOptions(t, t.TempDir(), mem))
	defer s.Close()
	tests := []struct {
		name string
		row  rows.Row
		want error
	}{
		{"empty table", row("", at(0), col("a", rows.Int(1))), rows.ErrInvalidName},
		{"wal table", row("_wal", at(0), col("a", rows.Int(1))), rows.ErrInvalidName},
		{"underscore table", row("_x", at(0)), rows.ErrInvalidName},
		{"path table", row("../x", at(0)), rows.ErrInvalidName},
		{"time column", row("t", at(0), col("ts", rows.Int(1))), rows.ErrInvalidName},
		{"partition column", row("t", at(0), col("DATE", rows.String("x"))), rows.ErrInvalidName},
		{"control char", row("t", at(0), col("a\nb", rows.Int(1))), rows.ErrInvalidName},
		{"duplicate column", row("t", at(0), col("a", rows.Int(1)), col("a", rows.Int(2))), rows.ErrInvalidName},
		{"bad utf8", row("t", at(0), col("a", rows.String("\xff"))), rows.ErrSchemaConflict},
		{"bad kind", row("t", at(0), col("a", rows.Value{Kind: 42})), rows.ErrSchemaConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.Write(context.Background(), []rows.Row{tc.row, row("ok", at(0))}, false)
			if err != nil {
				t.Fatal(err)
			}
			if res.Stored != 1 || len(res.Rejected) != 1 || res.Rejected[0].Index != 0 || !errors.Is(res.Rejected[0].Err, tc.want) {
				t.Fatalf("result %+v, want row 0 rejected with %v", res, tc.want)
			}
		})
	}
	if got := s.Tables(); len(got) != 1 || got[0] != "ok" {
		t.Fatalf("Tables() = %v, want only ok", got)
	}
}

func TestScanColumnsAndTimeRange(t *testing.T) {
	mem := newChecked(t)
	dir := t.TempDir()
	s := openTest(t, testOptions(t, dir, mem))
	defer s.Close()
	for d := 0; d < 5; d++ {
		mustWrite(t, s, false, row("r", at(time.Duration(d)*24*time.Hour), col("d", rows.Int(int64(d)))))
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, s, false, row("r", at(48*time.Hour+time.Minute), col("d", rows.Int(20)), col("x", rows.String("mem"))))

	// Days 2 and 3 only: other partitions are skipped, one in-memory row and
	// two files remain.
	tr := TimeRange{Min: at(48 * time.Hour), Max: at(72 * time.Hour)}
	got := scanRows(t, s, "r", tr, []string{"x", "d"})
	equalStrings(t, "range scan", got, []string{`x="mem"|d=20`, `x=null|d=2`, `x=null|d=3`})

	snap, err := s.Snapshot("r", AllTime())
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	if err := snap.Scan(context.Background(), []string{"nope"}, func(arrow.Record) error { return nil }); err == nil {
		t.Fatal("scan of an unknown column: want error")
	}
	stop := errors.New("stop")
	if err := snap.Scan(context.Background(), nil, func(arrow.Record) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("fn error: got %v", err)
	}
	if _, err := s.Snapshot("nope", AllTime()); !errors.Is(err, ErrNoTable) {
		t.Fatalf("unknown table: %v", err)
	}
}

func TestRowGroupSkipping(t *testing.T) {
	for _, tc := range []struct {
		name   string
		lo, hi int64
		want   bool
	}{
		{"inside", 10, 20, false},
		{"before", 0, 4, true},
		{"after", 31, 40, true},
		{"touch low", 0, 5, false},
		{"touch high", 30, 40, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := newChecked(t)
			dir := t.TempDir()
			s := openTest(t, testOptions(t, dir, mem))
			defer s.Close()
			mustWrite(t, s, false, row("g", time.UnixMilli(5).UnixNano()), row("g", time.UnixMilli(30).UnixNano()))
			if err := s.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			rdr, err := file.OpenParquetFile(filepath.Join(dir, parquetFiles(t, dir, "g")[0]), false)
			if err != nil {
				t.Fatal(err)
			}
			defer rdr.Close()
			if got := rgOutside(rdr.MetaData().RowGroup(0), tc.lo, tc.hi); got != tc.want {
				t.Fatalf("rgOutside(%d, %d) = %v", tc.lo, tc.hi, got)
			}
		})
	}
}

func TestFlushTriggers(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Options)
		rows int
	}{
		{"max rows", func(o *Options) { o.MaxRows = 10 }, 25},
		{"max bytes", func(o *Options) { o.MaxBytes = 200 }, 25},
		{"max age", func(o *Options) { o.MaxAge = 30 * time.Millisecond }, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := newChecked(t)
			dir := t.TempDir()
			opts := testOptions(t, dir, mem)
			tc.mod(&opts)
			s := openTest(t, opts)
			defer s.Close()
			for i := 0; i < tc.rows; i++ {
				mustWrite(t, s, false, row("f", at(time.Duration(i)*time.Millisecond), col("i", rows.Int(int64(i)))))
			}
			eventually(t, 10*time.Second, "a background flush", func() bool { return s.Stats().FilesWritten > 0 })
			if got := scanRows(t, s, "f", AllTime(), []string{"i"}); len(got) != tc.rows {
				t.Fatalf("got %d rows, want %d", len(got), tc.rows)
			}
		})
	}
}

func TestNonDurableWritesAreSyncedByTicker(t *testing.T) {
	mem := newChecked(t)
	s := openTest(t, testOptions(t, t.TempDir(), mem))
	defer s.Close()
	mustWrite(t, s, false, row("q", at(0)))
	eventually(t, 5*time.Second, "the periodic sync", func() bool {
		ws := s.wal.Stats()
		return ws.Synced >= ws.Appended && ws.Appended > 0
	})
}

func TestCloseSemantics(t *testing.T) {
	mem := newChecked(t)
	dir := t.TempDir()
	var nilStore *Store
	if err := nilStore.Close(); err != nil {
		t.Fatalf("nil Close: %v", err)
	}
	s := openTest(t, testOptions(t, dir, mem))
	// A second store on the same directory is refused while the first is open.
	if s2, err := Open(context.Background(), testOptions(t, dir, mem)); err == nil {
		s2.Close()
		t.Fatal("second Open on a locked directory succeeded")
	}
	mustWrite(t, s, true, row("c", at(0), col("v", rows.Int(1))))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Write(context.Background(), []rows.Row{row("c", at(0))}, true); !errors.Is(err, rows.ErrStoreClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
	if _, err := s.Snapshot("c", AllTime()); !errors.Is(err, rows.ErrStoreClosed) {
		t.Fatalf("Snapshot after Close: %v", err)
	}
	if err := s.Flush(context.Background()); !errors.Is(err, rows.ErrStoreClosed) {
		t.Fatalf("Flush after Close: %v", err)
	}
	// Close flushed everything and left no log behind.
	if files := parquetFiles(t, dir, "c"); len(files) != 1 {
		t.Fatalf("files after Close: %v", files)
	}
	if segs := walSegments(t, dir); len(segs) != 0 {
		t.Fatalf("wal segments after Close: %v", segs)
	}
	// A failed Open (bad options) returns a nil store that closes cleanly.
	bad, err := Open(context.Background(), Options{})
	if err == nil {
		t.Fatal("Open with no dir succeeded")
	}
	if err := bad.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCanceledContext(t *testing.T) {
	mem := newChecked(t)
	s := openTest(t, testOptions(t, t.TempDir(), mem))
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Write(ctx, []rows.Row{row("c", at(0))}, true); !errors.Is(err, context.Canceled) {
		t.Fatalf("Write: %v", err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush with nothing to do: %v", err)
	}
}

func TestFileNumbersContinueAcrossRestarts(t *testing.T) {
	mem := newChecked(t)
	dir := t.TempDir()
	for i := 0; i < 3; i++ {
		s := openTest(t, testOptions(t, dir, mem))
		mustWrite(t, s, true, row("n", at(0), col("run", rows.Int(int64(i)))))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{}
	for i := 0; i < 3; i++ {
		want = append(want, "n/date=2024-03-10/part-"+leftPad(i)+".parquet")
	}
	equalStrings(t, "files", parquetFiles(t, dir, "n"), want)
	s := openTest(t, testOptions(t, dir, mem))
	defer s.Close()
	equalStrings(t, "rows", scanRows(t, s, "n", AllTime(), []string{"run"}), []string{"run=0", "run=1", "run=2"})
}

func leftPad(i int) string {
	s := strconv.Itoa(i)
	return strings.Repeat("0", 8-len(s)) + s
}
