package query

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"
)

// TestAggregateAgainstReference checks time buckets, count/sum/min/max,
// first/last (earliest/latest time, ties to the first row scanned, null
// times left out), a WHERE filter and OFFSET/LIMIT against a plain loop over
// 30 000 random rows with null times.
func TestAggregateAgainstReference(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	src, ref := genTable(t, mem, 30_000, 1_000, randomTimes(7, 20_000, true))
	defer src.Release()
	e := NewEngine(src, Options{Allocator: mem})

	type agg struct {
		n, sum, lo, hi, first, last int64
		ft, lt                      int64
	}
	want := map[int64]*agg{} // bucket start in ms -> aggregate
	var nullBucket *agg
	for _, r := range ref {
		if r.id%3 == 0 {
			continue // the query leaves out multiples of 3 with NOT IN
		}
		var a *agg
		if r.null {
			if nullBucket == nil {
				nullBucket = &agg{lo: r.id, hi: r.id}
			}
			a = nullBucket
		} else {
			b := r.t / 1000 * 1000
			if want[b] == nil {
				want[b] = &agg{lo: r.id, hi: r.id, first: -1, last: -1}
			}
			a = want[b]
			if a.first < 0 || r.t < a.ft {
				a.first, a.ft = r.id, r.t
			}
			if a.last < 0 || r.t > a.lt {
				a.last, a.lt = r.id, r.t
			}
		}
		a.n++
		a.sum += r.id
		a.lo, a.hi = min(a.lo, r.id), max(a.hi, r.id)
	}
	// There is no arithmetic in WHERE, so the multiples of 3 are listed.
	var in []byte
	for i := 0; i < 30_000; i += 3 {
		if i > 0 {
			in = append(in, ',')
		}
		in = fmt.Append(in, i)
	}
	sql := fmt.Sprintf("SELECT time_bucket('1s', ts) AS b, count(*) AS n, sum(id), min(id), max(id), first(id), last(id) "+
		"FROM t WHERE id NOT IN (%s) GROUP BY b", in)
	res, err := e.Query(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != len(want)+1 {
		t.Fatalf("%d groups, want %d", len(res.Rows), len(want)+1)
	}
	// The null bucket sorts first; first/last of it are null (no time).
	if r := res.Rows[0]; r[0] != nil || r[1] != nullBucket.n || r[2] != nullBucket.sum || r[5] != nil || r[6] != nil {
		t.Fatalf("null bucket: %v, want n=%d sum=%d", r, nullBucket.n, nullBucket.sum)
	}
	prev := int64(-1)
	for _, r := range res.Rows[1:] {
		b := r[0].(time.Time).UnixMilli()
		if b <= prev {
			t.Fatalf("buckets out of order: %d after %d", b, prev)
		}
		prev = b
		a := want[b]
		if a == nil {
			t.Fatalf("unexpected bucket %d", b)
		}
		got := fmt.Sprint(r[1:])
		if w := fmt.Sprint([]any{a.n, a.sum, a.lo, a.hi, a.first, a.last}); got != w {
			t.Fatalf("bucket %d: got %s, want %s", b, got, w)
		}
	}

	// ORDER BY an aggregate, OFFSET and LIMIT on groups.
	res2, err := e.Query(context.Background(), sql+" ORDER BY n DESC LIMIT 3 OFFSET 2")
	if err != nil {
		t.Fatal(err)
	}
	if len(res2.Rows) != 3 {
		t.Fatalf("%d rows, want 3", len(res2.Rows))
	}
	for i := 1; i < len(res2.Rows); i++ {
		if res2.Rows[i][1].(int64) > res2.Rows[i-1][1].(int64) {
			t.Fatalf("not sorted by n DESC: %v", res2.Rows)
		}
	}
}
