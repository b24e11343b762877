package query

import (
	"context"
	"io"
	"log/slog"
	"math"
	"os"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/lakegate/lakegate/arrowstore"
	"github.com/lakegate/lakegate/arrowstore/rows"
)

// t0 is 2023-11-14T22:13:20Z in unix milliseconds.
const t0 = int64(1_700_000_000_000)

// ms returns unix nanoseconds for unix milliseconds.
func ms(v int64) int64 { return v * int64(time.Millisecond) }

// col builds one named value.
func col(name string, v rows.Value) rows.Column { return rows.Column{Name: name, Value: v} }

// testRows is the fixed data set every golden case runs over, in write
// order (deliberately not time order). It spans four UTC days (one before
// 1970), has nulls, NaN, infinities, -0, a subnormal, a 2^53+1 integer,
// strings that need quoting and escaping, empty bytes, and a column that
// first appears in a late row. Times are distinct, so that every Source
// gives the same order whatever its scan order.
func testRows() []rows.Row {
	const day = int64(24 * 3600 * 1000)
	nov15 := int64(1_700_006_400_000) // 2023-11-15T00:00:00Z
	s := func(t int64, cols ...rows.Column) rows.Row {
		return rows.Row{Table: "sensors", Time: ms(t), Columns: cols}
	}
	return []rows.Row{
		s(t0, col("device", rows.String("a")), col("temp", rows.Float(21.5)), col("count", rows.Int(1)),
			col("ok", rows.Bool(true)), col("raw", rows.Bytes([]byte{0, 1, 0xff})), col("seen", rows.Timestamp(ms(t0-5000)))),
		s(t0+60_000, col("device", rows.String("b")), col("temp", rows.Float(0.1)), col("count", rows.Int(-7)),
			col("ok", rows.Bool(false)), col("raw", rows.Bytes([]byte("hello")))),
		s(t0-3_600_000, col("device", rows.String("a")), col("temp", rows.Float(math.NaN())), col("count", rows.Int(1<<53+1)),
			col("ok", rows.Bool(true))),
		s(nov15, col("device", rows.String(`c "quoted", comma`)), col("temp", rows.Float(math.Inf(1))), col("count", rows.Int(0))),
		s(t0-1, col("device", rows.String("b")), col("temp", rows.Float(math.Copysign(0, -1)))),
		s(t0+1, col("device", rows.String("a")), col("temp", rows.Float(1e21)), col("seen", rows.Timestamp(ms(-1)))),
		s(nov15+500, col("device", rows.String("d")), col("temp", rows.Float(math.Inf(-1)))),
		s(-1500, col("device", rows.String("old")), col("temp", rows.Float(3.14159)), col("count", rows.Int(42))),
		s(t0+500, col("device", rows.String("a")), col("raw", rows.Bytes([]byte{}))),
		s(nov15+3_600_000, col("device", rows.String("e\u2028x<>&\tü")), col("temp", rows.Float(123456.789))),
		s(nov15+day, col("device", rows.String("f")), col("temp", rows.Float(5e-324))),
		s(t0+2, col("temp", rows.Float(2.5)), col("note", rows.String("late column"))),
		{Table: "events", Time: ms(t0 + 10), Columns: []rows.Column{col("msg", rows.String("boot")), col("level", rows.Int(1))}},
		{Table: "events", Time: ms(t0 + 5), Columns: []rows.Column{col("msg", rows.String("hello")), col("level", rows.Int(2))}},
		{Table: "events", Time: ms(t0 + 20), Columns: []rows.Column{col("msg", rows.String("bye"))}},
	}
}

// arrowType is the column type the store gives a value kind.
func arrowType(k rows.Kind) arrow.DataType {
	switch k {
	case rows.KindInt64:
		return arrow.PrimitiveTypes.Int64
	case rows.KindFloat64:
		return arrow.PrimitiveTypes.Float64
	case rows.KindBool:
		return arrow.FixedWidthTypes.Boolean
	case rows.KindString:
		return arrow.BinaryTypes.String
	case rows.KindBytes:
		return arrow.BinaryTypes.Binary
	}
	return &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}
}

// rowsToRecords turns rows into records of at most per rows for each table,
// with the schema the store would build: the time column "ts" first, then
// columns in order of first appearance.
func rowsToRecords(t testing.TB, mem memory.Allocator, rs []rows.Row, per int) map[string][]arrow.Record {
	t.Helper()
	type tableRows struct {
		fields []arrow.Field
		index  map[string]int
		rows   []rows.Row
	}
	tables := map[string]*tableRows{}
	var order []string
	for _, r := range rs {
		tr := tables[r.Table]
		if tr == nil {
			tr = &tableRows{
				fields: []arrow.Field{{Name: "ts", Type: arrowType(rows.KindTimestamp)}},
				index:  map[string]int{"ts": 0},
			}
			tables[r.Table] = tr
			order = append(order, r.Table)
		}
		for _, c := range r.Columns {
			if _, ok := tr.index[c.Name]; !ok && c.Value.Kind != rows.KindNull {
				tr.index[c.Name] = len(tr.fields)
				tr.fields = append(tr.fields, arrow.Field{Name: c.Name, Type: arrowType(c.Value.Kind), Nullable: true})
			}
		}
		tr.rows = append(tr.rows, r)
	}
	out := map[string][]arrow.Record{}
	for _, name := range order {
		tr := tables[name]
		schema := arrow.NewSchema(tr.fields, nil)
		for start := 0; start < len(tr.rows); start += per {
			b := array.NewRecordBuilder(mem, schema)
			for _, r := range tr.rows[start:min(start+per, len(tr.rows))] {
				b.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(r.Time / int64(time.Millisecond)))
				filled := make([]bool, len(tr.fields))
				filled[0] = true
				for _, c := range r.Columns {
					i := tr.index[c.Name]
					filled[i] = true
					appendValue(b.Field(i), c.Value)
				}
				for i, f := range filled {
					if !f {
						b.Field(i).AppendNull()
					}
				}
			}
			out[name] = append(out[name], b.NewRecord())
			b.Release()
		}
	}
	return out
}

// appendValue appends one value to a builder of its kind.
func appendValue(b array.Builder, v rows.Value) {
	switch v.Kind {
	case rows.KindInt64:
		b.(*array.Int64Builder).Append(v.Int)
	case rows.KindFloat64:
		b.(*array.Float64Builder).Append(v.Float)
	case rows.KindBool:
		b.(*array.BooleanBuilder).Append(v.AsBool())
	case rows.KindString:
		b.(*array.StringBuilder).Append(v.Str)
	case rows.KindBytes:
		b.(*array.BinaryBuilder).Append(v.Bytes)
	case rows.KindTimestamp:
		b.(*array.TimestampBuilder).Append(arrow.Timestamp(v.Int / int64(time.Millisecond)))
	default:
		b.AppendNull()
	}
}

// newChecked returns a checked allocator that must be back at zero when the
// test ends. Register it before anything whose cleanup releases memory.
func newChecked(t testing.TB) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

// testLogger logs to stderr in verbose runs.
func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newMemSource returns a MemSource holding rs in records of three rows, so
// that every query crosses record boundaries.
func newMemSource(t testing.TB, mem memory.Allocator, rs []rows.Row) *MemSource {
	t.Helper()
	src := NewMemSource()
	t.Cleanup(src.Release)
	for table, recs := range rowsToRecords(t, mem, rs, 3) {
		for _, r := range recs {
			if err := src.Add(table, r); err != nil {
				t.Fatal(err)
			}
			r.Release()
		}
	}
	return src
}

// sourceKind names one way of holding the data set.
type sourceKind struct {
	name string
	open func(t testing.TB, mem memory.Allocator, rs []rows.Row) Source
}

// allSources are every Source implementation and store state the golden
// cases run against: the in-memory source, and a real store with the rows
// buffered, flushed to Parquet, half and half, and recovered from Parquet
// after a restart. All must give the same answers.
var allSources = []sourceKind{
	{"mem", func(t testing.TB, mem memory.Allocator, rs []rows.Row) Source { return newMemSource(t, mem, rs) }},
	{"store_buffered", func(t testing.TB, mem memory.Allocator, rs []rows.Row) Source {
		s := openStore(t, mem, t.TempDir())
		writeRows(t, s, rs)
		return StoreSource(s)
	}},
	{"store_flushed", func(t testing.TB, mem memory.Allocator, rs []rows.Row) Source {
		s := openStore(t, mem, t.TempDir())
		writeRows(t, s, rs)
		flush(t, s)
		return StoreSource(s)
	}},
	{"store_mixed", func(t testing.TB, mem memory.Allocator, rs []rows.Row) Source {
		s := openStore(t, mem, t.TempDir())
		writeRows(t, s, rs[:len(rs)/2])
		flush(t, s)
		writeRows(t, s, rs[len(rs)/2:])
		return StoreSource(s)
	}},
	{"store_reopened", func(t testing.TB, mem memory.Allocator, rs []rows.Row) Source {
		dir := t.TempDir()
		s := openStore(t, mem, dir)
		writeRows(t, s, rs)
		if err := s.Close(); err != nil {
			t.Fatalf("closing store: %v", err)
		}
		return StoreSource(openStore(t, mem, dir))
	}},
}

// openStore opens a store in dir whose background flushes do not fire
// during a test; it is closed when the test ends.
func openStore(t testing.TB, mem memory.Allocator, dir string) *arrowstore.Store {
	t.Helper()
	s, err := arrowstore.Open(context.Background(), arrowstore.Options{
		Dir:       dir,
		MaxAge:    time.Hour,
		Allocator: mem,
		Logger:    testLogger(t),
	})
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing store: %v", err)
		}
	})
	return s
}

// writeRows writes rs durably, three rows per call; every row must be stored.
func writeRows(t testing.TB, s *arrowstore.Store, rs []rows.Row) {
	t.Helper()
	for start := 0; start < len(rs); start += 3 {
		res, err := s.Write(context.Background(), rs[start:min(start+3, len(rs))], true)
		if err != nil {
			t.Fatalf("writing rows: %v", err)
		}
		if len(res.Rejected) > 0 {
			t.Fatalf("rows rejected: %+v", res.Rejected)
		}
	}
}

// flush writes every buffered row of s to Parquet.
func flush(t testing.TB, s *arrowstore.Store) {
	t.Helper()
	if err := s.Flush(context.Background()); err != nil {
		t.Fatalf("flushing store: %v", err)
	}
}
