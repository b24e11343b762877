package query

import (
	"cmp"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"vitess.io/vitess/go/vt/sqlparser"
)

// TestFoldMinMaxFloatOrder checks foldMinMax's float64 loops (and
// foldMinMaxHot's, over compact copies of the states), written
// without cmp.Compare, against cmp.Compare's order (NaN before every
// number, -0 equal to +0, the first of equal values kept) over random
// groups of values drawn from NaNs, infinities, zeros of both signs and
// nulls.
func TestFoldMinMaxFloatOrder(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	pool := []float64{math.NaN(), math.Inf(-1), math.Inf(1), 0, math.Copysign(0, -1), -1.5, 2.25, 1e300, -1e-300}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		const n, groups = 300, 7
		b := array.NewFloat64Builder(mem)
		withNulls := round%2 == 0
		for range n {
			if withNulls && rng.IntN(5) == 0 {
				b.AppendNull()
			} else {
				b.Append(pool[rng.IntN(len(pool))])
			}
		}
		arr := b.NewFloat64Array()
		b.Release()
		sel := make([]int32, 0, n)
		gids := make([]int32, 0, n)
		for i := range n {
			if rng.IntN(4) != 0 {
				sel = append(sel, int32(i))
				gids = append(gids, int32(rng.IntN(groups)))
			}
		}
		for _, fn := range []aggFn{aggMin, aggMax} {
			st := make([]aggState, groups*2)
			foldMinMax(st, 2, 1, boundAggItem{fn: fn}, arr, arr.NullN() > 0, sel, gids)
			want := make([]aggState, groups)
			for k, i := range sel {
				if arr.IsNull(int(i)) {
					continue
				}
				s := &want[gids[k]]
				v := arr.Value(int(i))
				c := cmp.Compare(v, s.f)
				if s.n == 0 || fn == aggMin && c < 0 || fn == aggMax && c > 0 {
					s.f = v
				}
				s.n++
			}
			hot := make([]hotFloat, groups)
			foldMinMaxHot(hot, fn == aggMin, arr, arr.NullN() > 0, sel, gids)
			for g := range groups {
				if h, s := hot[g], st[g*2+1]; h.n != s.n || math.Float64bits(h.f) != math.Float64bits(s.f) {
					t.Fatalf("round %d, fn %v, group %d: foldMinMaxHot gave n=%d %v, foldMinMax n=%d %v", round, fn, g, h.n, h.f, s.n, s.f)
				}
			}
			for g := range groups {
				got := st[g*2+1]
				if got.n != want[g].n || math.Float64bits(got.f) != math.Float64bits(want[g].f) && !(math.IsNaN(got.f) && math.IsNaN(want[g].f)) {
					t.Fatalf("round %d, fn %v, group %d: got n=%d %v, want n=%d %v", round, fn, g, got.n, got.f, want[g].n, want[g].f)
				}
			}
		}
		arr.Release()
	}
}

// TestNeedsTime checks which aggregate queries read the time column: those
// that filter, group or aggregate on it, or use first() or last().
func TestNeedsTime(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
		{Name: "device", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "v", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	}, nil)
	parser, err := sqlparser.New(sqlparser.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]bool{
		"SELECT device, count(*), avg(v), min(v), max(v) FROM t GROUP BY device": false,
		"SELECT device, count(*) FROM t WHERE v > 1 GROUP BY device":             false,
		"SELECT device, count(*) FROM t WHERE ts > '2024-01-01' GROUP BY device": true,
		"SELECT device, max(ts) FROM t GROUP BY device":                          true,
		"SELECT device, count(ts) FROM t GROUP BY device":                        true,
		"SELECT device, last(v) FROM t GROUP BY device":                          true,
		"SELECT time_bucket('1h', ts) AS b, count(*) FROM t GROUP BY b":          true,
		"SELECT device, count(*) FROM t WHERE ts IS NOT NULL GROUP BY device":    true,
	} {
		lp, err := parse(parser, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		bp, err := bind(lp, schema)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if bp.agg == nil {
			t.Fatalf("%s: not an aggregate", q)
		}
		if got := needsTime(bp); got != want {
			t.Errorf("%s: needsTime %v, want %v", q, got, want)
		}
	}
}
