package query

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// refRow is one row of a generated table, for a reference answer.
type refRow struct {
	id   int64 // scan order
	t    int64 // unix ms
	null bool  // the time is null
}

// randomTimes returns a generator of times drawn from [0, span) ms, one in
// twenty null when nulls is set.
func randomTimes(seed uint64, span int64, nulls bool) func(int) (int64, bool) {
	r := rand.New(rand.NewPCG(seed, 1))
	return func(int) (int64, bool) { return r.Int64N(span), nulls && r.IntN(20) == 0 }
}

// genTable builds table "t" (ts, id) in a MemSource: n rows in records of
// per rows, with times from gen (which also says whether a time is null).
func genTable(t testing.TB, mem memory.Allocator, n, per int, gen func(i int) (int64, bool)) (*MemSource, []refRow) {
	t.Helper()
	nulls := true
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, Nullable: nulls},
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	src := NewMemSource()
	t.Cleanup(src.Release)
	var ref []refRow
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for start := 0; start < n; start += per {
		for i := start; i < min(start+per, n); i++ {
			row := refRow{id: int64(i)}
			row.t, row.null = gen(i)
			if row.null {
				b.Field(0).AppendNull()
			} else {
				b.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(row.t))
			}
			b.Field(1).(*array.Int64Builder).Append(row.id)
			ref = append(ref, row)
		}
		rec := b.NewRecord()
		if err := src.Add("t", rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	return src, ref
}

// refAnswer is what "SELECT id FROM t [WHERE ts BETWEEN lo AND hi] ORDER BY
// ts [DESC] [LIMIT limit]" must return: a stable sort over scan order, nulls
// first ascending and last descending.
func refAnswer(ref []refRow, filter bool, lo, hi int64, desc bool, limit int) []int64 {
	var rs []refRow
	for _, r := range ref {
		if filter && (r.null || r.t < lo || r.t > hi) {
			continue
		}
		rs = append(rs, r)
	}
	slices.SortStableFunc(rs, func(a, b refRow) int {
		if a.null || b.null {
			switch {
			case a.null == b.null:
				return 0
			case a.null != desc: // null sorts first ascending, last descending
				return -1
			}
			return 1
		}
		switch {
		case desc:
			return -cmpInt(a.t, b.t)
		}
		return cmpInt(a.t, b.t)
	})
	if limit >= 0 && len(rs) > limit {
		rs = rs[:limit]
	}
	ids := make([]int64, len(rs))
	for i, r := range rs {
		ids[i] = r.id
	}
	return ids
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ids returns the int64 first column of a result.
func ids(t testing.TB, res *Result) []int64 {
	t.Helper()
	out := make([]int64, len(res.Rows))
	for i, row := range res.Rows {
		out[i] = row[0].(int64)
	}
	return out
}

// TestOrderAgainstReference checks ordering, stability among equal times,
// nulls, filtering and the top-n path (including its compaction) against a
// plain stable sort.
func TestOrderAgainstReference(t *testing.T) {
	mem := newChecked(t)
	// 60k rows over 500 distinct times: many ties across records.
	src, ref := genTable(t, mem, 60_000, 1_000, randomTimes(7, 500, true))
	e := NewEngine(src, Options{Allocator: mem, Logger: testLogger(t)})
	// Rising times, three per millisecond: with DESC and a LIMIT every row
	// enters the top n, so the collector compacts over and over.
	rising, rref := genTable(t, mem, 60_000, 1_000, func(i int) (int64, bool) { return int64(i / 3), false })
	tests := []struct {
		name   string
		where  string
		filter bool
		lo, hi int64
		desc   bool
		limit  int
		rising bool
	}{
		{name: "asc_all", limit: -1},
		{name: "desc_all", desc: true, limit: -1},
		{name: "asc_limit_1", limit: 1},
		{name: "desc_limit_10", desc: true, limit: 10},
		{name: "asc_limit_compacts", limit: 3_000},
		{name: "desc_limit_compacts", desc: true, limit: 3_000},
		{name: "desc_limit_where", where: "WHERE ts BETWEEN 100 AND 199", filter: true, lo: 100, hi: 199, desc: true, limit: 2_500},
		{name: "asc_where", where: "WHERE ts >= 490", filter: true, lo: 490, hi: math.MaxInt64, limit: -1},
		{name: "rising_desc_limit", desc: true, limit: 1_000, rising: true},
		{name: "rising_desc_limit_where", where: "WHERE ts < 15000", filter: true, lo: math.MinInt64, hi: 14_999, desc: true, limit: 2_000, rising: true},
		{name: "rising_asc_limit", limit: 1_000, rising: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sql := "SELECT id FROM t " + tt.where + " ORDER BY ts"
			if tt.desc {
				sql += " DESC"
			}
			if tt.limit >= 0 {
				sql += fmt.Sprintf(" LIMIT %d", tt.limit)
			}
			e, ref := e, ref
			var log bytes.Buffer
			if tt.rising {
				logger := slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
				e, ref = NewEngine(rising, Options{Allocator: mem, Logger: logger}), rref
			}
			res, err := e.Query(context.Background(), sql)
			if err != nil {
				t.Fatal(err)
			}
			got, want := ids(t, res), refAnswer(ref, tt.filter, tt.lo, tt.hi, tt.desc, tt.limit)
			if !slices.Equal(got, want) {
				t.Fatalf("%s: got %d rows, want %d; first difference at %d", sql, len(got), len(want), firstDiff(got, want))
			}
			if tt.rising && tt.desc && (!strings.Contains(log.String(), "compactions=") || strings.Contains(log.String(), "compactions=0 ")) {
				t.Errorf("the top-n collector never compacted: %s", log.String())
			}
			cres, err := e.Query(context.Background(), "SELECT count(*) FROM t "+tt.where)
			if err != nil {
				t.Fatal(err)
			}
			if n := cres.Rows[0][0].(int64); n != int64(len(refAnswer(ref, tt.filter, tt.lo, tt.hi, false, -1))) {
				t.Errorf("count(*) %s = %d", tt.where, n)
			}
		})
	}
}

func firstDiff(a, b []int64) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestConcurrentQueries hammers one engine from several goroutines over a
// store and the in-memory source; run it with -race.
func TestConcurrentQueries(t *testing.T) {
	queries := []string{
		"SELECT * FROM sensors",
		"SELECT ts, temp FROM sensors ORDER BY ts DESC LIMIT 3",
		"SELECT count(*) FROM sensors WHERE ts >= '2023-11-15'",
		"SELECT * FROM events WHERE ts BETWEEN 1700000000000 AND 1700000000010",
		"SELECT nope FROM sensors",
	}
	for _, sk := range []sourceKind{allSources[0], allSources[3]} {
		t.Run(sk.name, func(t *testing.T) {
			mem := newChecked(t)
			e := NewEngine(sk.open(t, mem, testRows()), Options{Allocator: mem})
			want := make([]string, len(queries))
			for i, q := range queries {
				want[i] = answer(e, q)
			}
			var wg sync.WaitGroup
			errs := make(chan string, 8)
			for g := range 8 {
				wg.Go(func() {
					for i := range 25 {
						q := (g + i) % len(queries)
						if got := answer(e, queries[q]); got != want[q] {
							errs <- fmt.Sprintf("%s: got %s, want %s", queries[q], got, want[q])
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

// answer returns a query's result or error as text.
func answer(e *Engine, sql string) string {
	res, err := e.Query(context.Background(), sql)
	if err != nil {
		return "error: " + err.Error()
	}
	var b strings.Builder
	if err := WriteJSON(&b, res, 0, Format{}); err != nil {
		return "encode error: " + err.Error()
	}
	return b.String()
}

func TestQueryCanceled(t *testing.T) {
	mem := newChecked(t)
	src, _ := genTable(t, mem, 5_000, 100, randomTimes(1, 1_000, false))
	e := NewEngine(src, Options{Allocator: mem})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.Query(ctx, "SELECT * FROM t LIMIT 10")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

// brokenSource returns records that break the Snapshot contract.
type brokenSource struct{ rec arrow.Record }

func (b brokenSource) Snapshot(string, TimeRange) (Snapshot, error) { return brokenSnap(b), nil }

type brokenSnap struct{ rec arrow.Record }

func (b brokenSnap) Schema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{{Name: "ts", Type: arrow.FixedWidthTypes.Timestamp_ms}, {Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)
}
func (b brokenSnap) Scan(_ context.Context, _ []string, fn func(arrow.Record) error) error {
	return fn(b.rec)
}
func (b brokenSnap) Release() {}

// TestSourceBreaksContract: a source that hands back the wrong columns gets
// an error, not a panic.
func TestSourceBreaksContract(t *testing.T) {
	mem := newChecked(t)
	bld := array.NewRecordBuilder(mem, arrow.NewSchema([]arrow.Field{{Name: "ts", Type: arrow.PrimitiveTypes.Int64}}, nil))
	defer bld.Release()
	bld.Field(0).(*array.Int64Builder).Append(1)
	rec := bld.NewRecord()
	defer rec.Release()
	e := NewEngine(brokenSource{rec: rec}, Options{Allocator: mem})
	for _, q := range []string{"SELECT * FROM x", "SELECT ts FROM x", "SELECT count(*) FROM x"} {
		if _, err := e.Query(context.Background(), q); err == nil || !strings.Contains(err.Error(), "source returned") {
			t.Errorf("%s: got %v, want a source error", q, err)
		}
	}
}

func TestSyntaxErrorPosition(t *testing.T) {
	e := NewEngine(NewMemSource(), Options{})
	_, err := e.Query(context.Background(), "SELECT * FRM sensors")
	var se *SyntaxError
	if !errors.As(err, &se) || !errors.Is(err, ErrSyntax) {
		t.Fatalf("got %T %v, want *SyntaxError", err, err)
	}
	if se.Pos != 13 || se.Near != "FRM" {
		t.Errorf("got position %d near %q, want 13 near \"FRM\"", se.Pos, se.Near)
	}
}

func TestToUnit(t *testing.T) {
	const maxI, minI = math.MaxInt64, math.MinInt64
	tests := []struct {
		name   string
		tr     TimeRange
		unit   arrow.TimeUnit
		lo, hi int64
	}{
		{"all", AllTime(), arrow.Millisecond, minI, maxI},
		{"exact", TimeRange{Min: 2_000_000, Max: 5_000_000}, arrow.Millisecond, 2, 5},
		{"inner", TimeRange{Min: 1_000_001, Max: 5_999_999}, arrow.Millisecond, 2, 5},
		{"negative", TimeRange{Min: -1_999_999, Max: -1_000_001}, arrow.Millisecond, -1, -2},
		{"negative exact", TimeRange{Min: -2_000_000, Max: -1_000_000}, arrow.Millisecond, -2, -1},
		{"seconds", TimeRange{Min: 1, Max: 2_500_000_000}, arrow.Second, 1, 2},
		{"nanoseconds", TimeRange{Min: -5, Max: 7}, arrow.Nanosecond, -5, 7},
		{"open low", TimeRange{Min: minI, Max: 1_500_000}, arrow.Millisecond, minI, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lo, hi := toUnit(tt.tr, tt.unit)
			if lo != tt.lo || hi != tt.hi {
				t.Errorf("toUnit(%+v, %s) = %d, %d; want %d, %d", tt.tr, tt.unit, lo, hi, tt.lo, tt.hi)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	at := func(s string) int64 {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v.UnixNano()
	}
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"2023-11-14T22:13:20Z", at("2023-11-14T22:13:20Z"), true},
		{"2023-11-14T22:13:20.123456789Z", at("2023-11-14T22:13:20.123456789Z"), true},
		{"2023-11-14T23:13:20+01:00", at("2023-11-14T22:13:20Z"), true},
		{"2023-11-14 22:13:20", at("2023-11-14T22:13:20Z"), true},
		{"2023-11-14 22:13:20.5", at("2023-11-14T22:13:20.5Z"), true},
		{"2023-11-14T22:13", at("2023-11-14T22:13:00Z"), true},
		{"2023-11-14", at("2023-11-14T00:00:00Z"), true},
		{"1970-01-01", 0, true},
		{"2023-13-01", 0, false},
		{"9999-01-01", 0, false},
		{"today", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, err := parseTime(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("parseTime(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestSelectBest checks the quickselect against a sort, with many ties in
// time, both directions, and inputs sorted, reversed and random.
func TestSelectBest(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, desc := range []bool{false, true} {
		c := &collector{plan: &boundPlan{desc: desc}}
		for iter := range 300 {
			n := 1 + r.IntN(300)
			cs := make([]candidate, n)
			for i := range cs {
				switch iter % 3 {
				case 0:
					cs[i].t = r.Int64N(20)
				case 1:
					cs[i].t = int64(i / 4)
				default:
					cs[i].t = int64(n - i/4)
				}
				cs[i].seq, cs[i].null = int64(i), r.IntN(30) == 0
			}
			k := 1 + r.IntN(n)
			want := slices.Clone(cs)
			slices.SortFunc(want, c.compare)
			c.selectBest(cs, k)
			got := slices.Clone(cs[:k])
			if cs[k-1] != want[k-1] {
				t.Fatalf("desc=%v n=%d k=%d: cs[k-1] = %+v, want %+v", desc, n, k, cs[k-1], want[k-1])
			}
			slices.SortFunc(got, c.compare)
			if !slices.Equal(got, want[:k]) {
				t.Fatalf("desc=%v n=%d k=%d: kept the wrong rows", desc, n, k)
			}
		}
	}
}
