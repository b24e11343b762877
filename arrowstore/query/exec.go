package query

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/compute"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// compactSlack is how many dead rows a top-n collector tolerates beyond its
// n live ones before it copies the live rows into one fresh chunk.
const compactSlack = 4096

// trimSlack is how many rows beyond 2n a top-n collector buffers before it
// trims back to n, so that a small LIMIT does not trim every few rows.
const trimSlack = 1024

// candidate is one row that may be in the result: its sort key and where its
// values are kept.
type candidate struct {
	t     int64 // time, in the time column's unit
	seq   int64 // position in scan order, for a stable order among equal times
	chunk int32 // index into collector.chunks
	row   int32 // row within that chunk
	null  bool  // the time is null
}

// collector keeps the rows of a result while a snapshot is scanned.
//
// Without a LIMIT it keeps every matching row, and fails as soon as there
// are more than MaxRows. With LIMIT n it keeps the best n (in result order)
// by buffering: a row that does not sort before the current threshold is
// dropped at once; the others are appended, and when 2n+trimSlack have
// piled up a quickselect keeps the best n and the last of them becomes the
// threshold. That is O(1) amortized per row even for the worst case of a
// top-n scan, "ORDER BY ts DESC LIMIT n" over rows arriving in time order,
// where every row beats the threshold.
//
// When a record is done, the rows of it still kept are copied into a chunk
// with Arrow's take kernel (the record itself is kept when every row of it
// is); rows trimmed later stay in their chunk as dead weight until compact
// copies the live ones into a single chunk.
type collector struct {
	ctx     context.Context // carries the allocator for compute kernels
	mem     memory.Allocator
	plan    *boundPlan
	keep    int  // rows to keep
	strict  bool // more than keep matching rows is ErrTooManyRows
	maxRows int
	trimAt  int  // trim when this many rows are buffered
	bounded bool // threshold is set: only rows before it can be kept

	threshold candidate // the last kept row after the latest trim
	cands     []candidate
	chunks    []arrow.Record
	chunkRows int
	seq       int64
	matched   int64   // rows that passed the filter
	trims     int     // times trim ran
	compacted int     // times compact ran
	picked    []int64 // scratch: rows of the current record to copy out
}

// newCollector prepares a collector for plan, honouring maxRows.
func newCollector(ctx context.Context, mem memory.Allocator, plan *boundPlan, maxRows int) *collector {
	c := &collector{
		ctx:     compute.WithAllocator(ctx, mem),
		mem:     mem,
		plan:    plan,
		keep:    maxRows,
		strict:  true,
		maxRows: maxRows,
	}
	// With OFFSET m the best limit+m rows are kept and the first m skipped.
	// ORDER BY another column needs every matching row before it can sort.
	if total := satAdd(plan.limit, plan.offset); plan.limit >= 0 && total <= int64(maxRows) && plan.sortKeys == nil {
		c.keep, c.strict = int(total), false
		c.trimAt = 2*c.keep + trimSlack
	}
	return c
}

// release frees every chunk the collector holds.
func (c *collector) release() {
	for _, r := range c.chunks {
		r.Release()
	}
	c.chunks = nil
}

// before reports whether a sorts before b in the result: by time (nulls
// first ascending, last descending, as in MySQL), then by scan order.
func (c *collector) before(a, b *candidate) bool {
	if a.null != b.null {
		return a.null != c.plan.desc
	}
	if !a.null && a.t != b.t {
		return (a.t < b.t) != c.plan.desc
	}
	return a.seq < b.seq
}

// timeColumn checks a scanned record's shape and returns its time column.
func (c *collector) timeColumn(rec arrow.Record) (*array.Timestamp, error) {
	if int(rec.NumCols()) != len(c.plan.scan) {
		return nil, fmt.Errorf("source returned %d columns, want %d", rec.NumCols(), len(c.plan.scan))
	}
	for i, col := range rec.Columns() {
		if !arrow.TypeEqual(col.DataType(), c.plan.scanTypes[i]) {
			return nil, fmt.Errorf("source returned column %s as %s, want %s",
				c.plan.scan[i], col.DataType(), c.plan.scanTypes[i])
		}
	}
	return rec.Column(0).(*array.Timestamp), nil
}

// count counts the rows of rec that pass the filter.
func (c *collector) count(rec arrow.Record) error {
	ts, err := c.timeColumn(rec)
	if err != nil {
		return err
	}
	if c.plan.where != nil {
		pass := c.plan.where.pass(rec)
		lo, hi, filter := arrow.Timestamp(c.plan.lo), arrow.Timestamp(c.plan.hi), c.plan.filter
		for i, v := range ts.TimestampValues() {
			if pass[i] && (!filter || (v >= lo && v <= hi && ts.IsValid(i))) {
				c.matched++
			}
		}
		return nil
	}
	if !c.plan.filter {
		c.matched += rec.NumRows()
		return nil
	}
	lo, hi := arrow.Timestamp(c.plan.lo), arrow.Timestamp(c.plan.hi)
	vals := ts.TimestampValues()
	var n int64
	if ts.NullN() == 0 {
		for _, v := range vals {
			if v >= lo && v <= hi {
				n++
			}
		}
	} else {
		for i, v := range vals {
			if v >= lo && v <= hi && ts.IsValid(i) {
				n++
			}
		}
	}
	c.matched += n
	return nil
}

// add offers the rows of rec that pass the filter.
func (c *collector) add(rec arrow.Record) error {
	ts, err := c.timeColumn(rec)
	if err != nil {
		return err
	}
	vals := ts.TimestampValues()
	nulls := ts.NullN() > 0
	lo, hi, filter := c.plan.lo, c.plan.hi, c.plan.filter
	var pass []bool
	if c.plan.where != nil {
		pass = c.plan.where.pass(rec)
	}
	chunk := int32(len(c.chunks))
	start, trims := len(c.cands), c.trims
	for i, v := range vals {
		if pass != nil && !pass[i] {
			continue
		}
		t := int64(v)
		null := nulls && ts.IsNull(i)
		if filter && (null || t < lo || t > hi) {
			continue
		}
		c.matched++
		// row is the row of rec until the record is done.
		cand := candidate{t: t, seq: c.seq, chunk: chunk, row: int32(i), null: null}
		c.seq++
		if c.bounded && !c.before(&cand, &c.threshold) {
			continue
		}
		if c.strict && len(c.cands) == c.keep {
			if c.plan.sortKeys != nil {
				return fmt.Errorf("%w: ORDER BY %s sorts every matching row and there are more than %d; narrow the time range or the WHERE",
					ErrTooManyRows, c.plan.out[c.plan.sortKeys[0].out].name, c.maxRows)
			}
			if c.plan.offset > 0 {
				return fmt.Errorf("%w: LIMIT plus OFFSET needs more than %d rows; narrow the time range", ErrTooManyRows, c.maxRows)
			}
			return fmt.Errorf("%w: more than %d rows; add a LIMIT or narrow the time range", ErrTooManyRows, c.maxRows)
		}
		c.cands = append(c.cands, cand)
		if !c.strict && len(c.cands) >= c.trimAt {
			c.trim()
		}
	}

	// Keep the rows of rec still wanted now that it is done, renumbered as
	// rows of the chunk that will hold them. Untrimmed, they are the tail of
	// cands in row order; a trim may have moved them anywhere.
	from := start
	if c.trims != trims {
		from = 0
	}
	rows := c.picked[:0]
	for k := from; k < len(c.cands); k++ {
		if cd := &c.cands[k]; cd.chunk == chunk {
			rows = append(rows, int64(cd.row))
			cd.row = int32(len(rows) - 1)
		}
	}
	c.picked = rows
	switch {
	case len(rows) == 0:
		return nil
	case len(rows) == len(vals) && c.trims == trims: // every row, in order
		rec.Retain()
		c.chunks = append(c.chunks, rec)
	default:
		taken, err := c.take(rec, rows)
		if err != nil {
			return err
		}
		c.chunks = append(c.chunks, taken)
	}
	c.chunkRows += len(rows)
	if !c.strict && c.chunkRows > 2*c.keep+compactSlack {
		c.trim()
		return c.compact()
	}
	return nil
}

// trim keeps the best keep rows and makes the last of them the threshold.
func (c *collector) trim() {
	if len(c.cands) <= c.keep {
		return
	}
	if c.keep == 0 {
		c.trims++
		c.cands = c.cands[:0]
		c.threshold, c.bounded = candidate{}, true
		return
	}
	c.trims++
	c.selectBest(c.cands, c.keep)
	c.cands = c.cands[:c.keep]
	c.threshold, c.bounded = c.cands[c.keep-1], true
}

// selectBest reorders cs so that cs[:k] are the k rows that sort first, with
// the last of them at cs[k-1] (quickselect, median-of-three pivots; after
// too many rounds it sorts what is left, so it never goes quadratic).
func (c *collector) selectBest(cs []candidate, k int) {
	lo, hi, n := 0, len(cs)-1, k-1
	for round := 0; lo < hi; round++ {
		if round > 64 {
			slices.SortFunc(cs[lo:hi+1], c.compare)
			return
		}
		mid := lo + (hi-lo)/2
		if c.before(&cs[mid], &cs[lo]) {
			cs[mid], cs[lo] = cs[lo], cs[mid]
		}
		if c.before(&cs[hi], &cs[lo]) {
			cs[hi], cs[lo] = cs[lo], cs[hi]
		}
		if c.before(&cs[hi], &cs[mid]) {
			cs[hi], cs[mid] = cs[mid], cs[hi]
		}
		pivot := cs[mid]
		i, j := lo, hi
		for i <= j {
			for c.before(&cs[i], &pivot) {
				i++
			}
			for c.before(&pivot, &cs[j]) {
				j--
			}
			if i <= j {
				cs[i], cs[j] = cs[j], cs[i]
				i++
				j--
			}
		}
		switch {
		case n <= j:
			hi = j
		case n >= i:
			lo = i
		default:
			return
		}
	}
}

// compare orders two rows as the result does.
func (c *collector) compare(a, b candidate) int {
	switch {
	case a.seq == b.seq: // seq is unique: the same row
		return 0
	case c.before(&a, &b):
		return -1
	}
	return 1
}

// take copies the given rows of rec into a new record.
func (c *collector) take(rec arrow.Record, rows []int64) (arrow.Record, error) {
	idx := array.NewInt64Data(array.NewData(arrow.PrimitiveTypes.Int64, len(rows),
		[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int64Traits.CastToBytes(rows))}, nil, 0, 0))
	defer idx.Release()
	cols := make([]arrow.Array, rec.NumCols())
	defer func() {
		for _, a := range cols {
			if a != nil {
				a.Release()
			}
		}
	}()
	for i, col := range rec.Columns() {
		a, err := compute.TakeArrayOpts(c.ctx, col, idx, compute.TakeOptions{BoundsCheck: false})
		if err != nil {
			return nil, fmt.Errorf("copying rows: %w", err)
		}
		cols[i] = a
	}
	return array.NewRecord(rec.Schema(), cols, int64(len(rows))), nil
}

// compact copies the live rows into one chunk and frees the old chunks.
func (c *collector) compact() error {
	slices.SortFunc(c.cands, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(a.chunk, b.chunk), cmp.Compare(a.row, b.row))
	})
	var pieces []arrow.Record
	defer func() {
		for _, p := range pieces {
			p.Release()
		}
	}()
	rows := c.picked[:0]
	for start := 0; start < len(c.cands); {
		ch := c.cands[start].chunk
		rows = rows[:0]
		end := start
		for ; end < len(c.cands) && c.cands[end].chunk == ch; end++ {
			rows = append(rows, int64(c.cands[end].row))
		}
		p, err := c.take(c.chunks[ch], rows)
		if err != nil {
			return err
		}
		pieces = append(pieces, p)
		start = end
	}
	merged, err := c.concat(pieces)
	if err != nil {
		return err
	}
	c.release()
	c.chunks = append(c.chunks, merged)
	c.chunkRows = len(c.cands)
	for i := range c.cands {
		c.cands[i].chunk, c.cands[i].row = 0, int32(i)
	}
	c.compacted++
	return nil
}

// concat joins records of one schema into one.
func (c *collector) concat(recs []arrow.Record) (arrow.Record, error) {
	schema := recs[0].Schema()
	cols := make([]arrow.Array, schema.NumFields())
	defer func() {
		for _, a := range cols {
			if a != nil {
				a.Release()
			}
		}
	}()
	var n int64
	for _, r := range recs {
		n += r.NumRows()
	}
	parts := make([]arrow.Array, len(recs))
	for i := range cols {
		for j, r := range recs {
			parts[j] = r.Column(i)
		}
		a, err := array.Concatenate(parts, c.mem)
		if err != nil {
			return nil, fmt.Errorf("merging rows: %w", err)
		}
		cols[i] = a
	}
	return array.NewRecord(schema, cols, n), nil
}

// rows sorts the kept rows and turns them into Go values.
func (c *collector) rows() [][]any {
	slices.SortFunc(c.cands, c.compare)
	if !c.strict && len(c.cands) > c.keep {
		c.cands = c.cands[:c.keep]
	}
	if c.plan.sortKeys == nil {
		c.cands = c.cands[min(c.plan.offset, int64(len(c.cands))):]
		if c.plan.limit >= 0 && int64(len(c.cands)) > c.plan.limit {
			c.cands = c.cands[:c.plan.limit]
		}
	}
	out := make([][]any, len(c.cands))
	cells := make([]any, len(c.cands)*len(c.plan.out))
	for i, cand := range c.cands {
		row := cells[:len(c.plan.out):len(c.plan.out)]
		cells = cells[len(c.plan.out):]
		rec := c.chunks[cand.chunk]
		for j, oc := range c.plan.out {
			row[j] = value(rec.Column(oc.scan), int(cand.row))
		}
		out[i] = row
	}
	if c.plan.sortKeys != nil {
		// Stable: equal keys keep time order (descending when the first key
		// is). NULL first ascending, last descending, as for the time column.
		slices.SortStableFunc(out, func(a, b []any) int { return compareRows(a, b, c.plan.sortKeys) })
		out = out[min(c.plan.offset, int64(len(out))):]
		if c.plan.limit >= 0 && int64(len(out)) > c.plan.limit {
			out = out[:c.plan.limit]
		}
	}
	return trimHidden(out, c.plan.visible)
}

// compareRows orders two result rows by the sort keys.
func compareRows(a, b []any, keys []sortKey) int {
	for _, k := range keys {
		r := compareValues(a[k.out], b[k.out])
		if k.desc {
			r = -r
		}
		if r != 0 {
			return r
		}
	}
	return 0
}

// trimHidden cuts the hidden sort and filter columns off every row.
func trimHidden(rows [][]any, visible int) [][]any {
	for i, r := range rows {
		if len(r) > visible {
			rows[i] = r[:visible:visible]
		}
	}
	return rows
}

// compareValues orders two cells of one column: NULL first, then by value
// (NaN before every number, false before true, bytes and strings bytewise).
func compareValues(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	switch x := a.(type) {
	case int64:
		return cmp.Compare(x, b.(int64))
	case float64:
		return cmp.Compare(x, b.(float64))
	case string:
		return strings.Compare(x, b.(string))
	case []byte:
		return bytes.Compare(x, b.([]byte))
	case bool:
		y := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case time.Time:
		return x.Compare(b.(time.Time))
	}
	return 0
}

// satAdd adds two non-negative counts, saturating at MaxInt64.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// value returns cell i of arr as a Go value: int64, float64, bool, string,
// []byte, time.Time (UTC) or nil for null. Strings and bytes are copied: the
// array's memory is freed after the query.
func value(arr arrow.Array, i int) any {
	if arr.IsNull(i) {
		return nil
	}
	switch a := arr.(type) {
	case *array.Int64:
		return a.Value(i)
	case *array.Float64:
		return a.Value(i)
	case *array.Boolean:
		return a.Value(i)
	case *array.String:
		return strings.Clone(a.Value(i))
	case *array.Binary:
		return bytes.Clone(a.Value(i))
	case *array.Timestamp:
		return a.Value(i).ToTime(a.DataType().(*arrow.TimestampType).Unit)
	}
	return nil // bind admits no other type
}
