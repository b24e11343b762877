package query

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// aggState accumulates one aggregate for one group.
type aggState struct {
	n    int64   // non-null values (rows for count(*))
	i    int64   // int64 sum, min, max, first, last; timestamps in ns
	f    float64 // float64 sum (also of int64s, for avg), min, max, first, last
	t    int64   // first/last: the time of the value, in the time column's unit
	at   int64   // first/last: the scan task the value came from, to break ties in scan order
	buf  []byte  // string min, max, first, last (reused, so no allocation per change)
	b    bool
	seen bool                // first/last: a value was taken
	set  map[string]struct{} // count(DISTINCT): the values seen, as keys
}

// aggregator runs an aggregate query over scanned records, column by
// column: per record it selects the matching rows, maps each to its group
// id, then folds each aggregate over the typed value slice of its column in
// one loop. No Go value is made per row.
type aggregator struct {
	bp     *boundPlan
	ba     *boundAgg
	width  int        // items per group in states
	states []aggState // group g, item j at g*width+j
	keys   [][]any    // per group: the group key values

	// Group lookup: one of these, by the shape of GROUP BY.
	strIndex  map[string]int32 // one string column
	intIndex  map[int64]int32  // one int64 or timestamp column, or one bucket
	byteIndex map[string]int32 // anything else: an encoded key
	nullGroup int32            // the group of NULL for a one-column GROUP BY; -1 before it exists
	strKeys   []string         // one string column: each group's key ("" for NULL)
	next      []int32          // one string column: per group, the group of the row that last followed one of it (-1: none)
	prevGroup int32            // one string column: the group of the last row seen (-1: none or NULL)

	firstLast bool // some item is first() or last(), folded by foldFirstLast
	task      int  // the scan task of the record being folded

	sel      []int32 // scratch: rows of the current record that match
	gids     []int32 // scratch: group of each selected row
	key      []byte  // scratch: an encoded key
	dictIDs  []int32 // scratch: group of each dictionary value of the record (-1: not seen yet)
	best     []int32 // scratch: per group, the winning row for first/last (-1: none)
	best2    []int32 // scratch: the same, for a column with nulls
	touched  []int32 // scratch: the groups with an entry in best
	touched2 []int32 // scratch: the groups with an entry in best2
	hot      []hotFloat
}

// hotFloat is a compact copy of a float64 aggregate's state (count and
// value) for one group: fold works on these while it folds a record of
// many more rows than there are groups, so that the states the rows hit at
// random fit in the nearest cache (16 bytes a group, where the states
// spread 80 bytes times the items per group), and writes them back after:
// the same operations in the same order, so the same results.
type hotFloat struct {
	n int64
	f float64
}

// hotFloats copies aggregate j's counts and float values into the scratch,
// or returns nil if the record's rows (rows) are too few for it to pay.
func (a *aggregator) hotFloats(j, rows int) []hotFloat {
	w := a.width
	groups := len(a.states) / w
	if groups == 0 || groups*8 > rows {
		return nil
	}
	if cap(a.hot) < groups {
		a.hot = make([]hotFloat, groups)
	}
	h := a.hot[:groups]
	for g := range h {
		s := &a.states[g*w+j]
		h[g] = hotFloat{s.n, s.f}
	}
	return h
}

// coolFloats writes hotFloats' copies back.
func (a *aggregator) coolFloats(j int, h []hotFloat) {
	w := a.width
	for g, x := range h {
		s := &a.states[g*w+j]
		s.n, s.f = x.n, x.f
	}
}

func newAggregator(bp *boundPlan) *aggregator {
	fl := false
	for _, it := range bp.agg.items {
		fl = fl || it.fn == aggFirst || it.fn == aggLast
	}
	return &aggregator{
		firstLast: fl,
		bp:        bp,
		ba:        bp.agg,
		width:     len(bp.agg.items),
		strIndex:  map[string]int32{},
		intIndex:  map[int64]int32{},
		byteIndex: map[string]int32{},
		nullGroup: -1,
		prevGroup: -1,
	}
}

// bucketOf returns the bucket start, in ns, of timestamp value v.
func bucketOf(v int64, bv boundValue) int64 {
	ns := satMul(v, bv.mult)
	b := ns / bv.bucket
	if ns%bv.bucket != 0 && ns < 0 {
		b--
	}
	return b * bv.bucket
}

// newGroup adds a group with the given key values and returns its id.
func (a *aggregator) newGroup(vals []any) int32 {
	g := int32(len(a.keys))
	a.keys = append(a.keys, vals)
	a.states = append(a.states, make([]aggState, a.width)...)
	a.strKeys = append(a.strKeys, "")
	a.next = append(a.next, -1)
	return g
}

// add folds the matching rows of rec, the next record in scan order, into
// the groups.
func (a *aggregator) add(rec arrow.Record) error {
	return a.addTask(a.task+1, rec)
}

// addTask folds the matching rows of rec, a record of scan task task, into
// the groups. Tasks come in increasing order.
func (a *aggregator) addTask(task int, rec arrow.Record) error {
	a.task = task
	ts, ok := rec.Column(0).(*array.Timestamp)
	if !ok || int(rec.NumCols()) != len(a.bp.scan) {
		return fmt.Errorf("scan returned an unexpected record shape")
	}
	sel := a.selectRows(rec, ts)
	if len(sel) == 0 {
		return nil
	}
	gids := a.groupIDs(rec, sel)
	for j, it := range a.ba.items {
		a.fold(j, it, rec, sel, gids)
	}
	if a.firstLast {
		a.foldFirstLast(rec, ts, sel, gids)
	}
	return nil
}

// selectRows lists the rows of rec that pass the time range and the WHERE.
func (a *aggregator) selectRows(rec arrow.Record, ts *array.Timestamp) []int32 {
	var pass []bool
	if a.bp.where != nil {
		pass = a.bp.where.pass(rec)
	}
	vals := ts.TimestampValues()
	sel := a.sel[:0]
	lo, hi := arrow.Timestamp(a.bp.lo), arrow.Timestamp(a.bp.hi)
	switch {
	case pass == nil && !a.bp.filter:
		for i := range vals {
			sel = append(sel, int32(i))
		}
	case pass == nil && ts.NullN() == 0:
		for i, v := range vals {
			if v >= lo && v <= hi {
				sel = append(sel, int32(i))
			}
		}
	default:
		for i, v := range vals {
			if pass != nil && !pass[i] {
				continue
			}
			if a.bp.filter && (v < lo || v > hi || ts.IsNull(i)) {
				continue
			}
			sel = append(sel, int32(i))
		}
	}
	a.sel = sel
	return sel
}

// groupIDs returns the group of each selected row, making new groups.
func (a *aggregator) groupIDs(rec arrow.Record, sel []int32) []int32 {
	gids := slices.Grow(a.gids[:0], len(sel))[:len(sel)]
	a.gids = gids
	groups := a.ba.groups
	switch {
	case len(groups) == 0:
		if len(a.keys) == 0 {
			a.newGroup(nil)
		}
		clear(gids)
		return gids
	case len(groups) == 1:
		g := groups[0]
		arr := rec.Column(g.pos)
		nulls := arr.NullN() > 0
		nullGroup := func() int32 {
			if a.nullGroup < 0 {
				a.nullGroup = a.newGroup([]any{nil})
			}
			return a.nullGroup
		}
		switch x := arr.(type) {
		case *array.String:
			// Readings arrive round-robin over the devices far more often
			// than not, so the group that followed this row's predecessor's
			// group last time is tried (one string compare) before the map.
			prev := a.prevGroup
			for k, i := range sel {
				if nulls && x.IsNull(int(i)) {
					gids[k], prev = nullGroup(), -1
					continue
				}
				s := x.Value(int(i))
				if prev >= 0 {
					if guess := a.next[prev]; guess >= 0 && a.strKeys[guess] == s {
						gids[k], prev = guess, guess
						continue
					}
				}
				id, ok := a.strIndex[s]
				if !ok {
					s = strings.Clone(s)
					id = a.newGroup([]any{s})
					a.strIndex[s] = id
					a.strKeys[id] = s
				}
				if prev >= 0 {
					a.next[prev] = id
				}
				gids[k], prev = id, id
			}
			a.prevGroup = prev
			return gids
		case *array.Dictionary:
			// A string column read as a dictionary (dictColumns): each
			// dictionary value used is looked up once per record.
			dict, ok := x.Dictionary().(*array.String)
			if !ok {
				break
			}
			ids := a.dictIDs[:0]
			for range dict.Len() {
				ids = append(ids, -1)
			}
			a.dictIDs = ids
			idx32, _ := x.Indices().(*array.Int32)
			var raw []int32
			if idx32 != nil {
				raw = idx32.Int32Values()
			}
			for k, i := range sel {
				if nulls && x.IsNull(int(i)) {
					gids[k] = nullGroup()
					continue
				}
				var di int
				if raw != nil {
					di = int(raw[i])
				} else {
					di = x.GetValueIndex(int(i))
				}
				id := ids[di]
				if id < 0 {
					s := dict.Value(di)
					var found bool
					if id, found = a.strIndex[s]; !found {
						s = strings.Clone(s)
						id = a.newGroup([]any{s})
						a.strIndex[s] = id
						a.strKeys[id] = s
					}
					ids[di] = id
				}
				gids[k] = id
			}
			return gids
		case *array.Int64:
			vals := x.Int64Values()
			for k, i := range sel {
				if nulls && x.IsNull(int(i)) {
					gids[k] = nullGroup()
					continue
				}
				v := vals[i]
				id, ok := a.intIndex[v]
				if !ok {
					id = a.newGroup([]any{v})
					a.intIndex[v] = id
				}
				gids[k] = id
			}
			return gids
		case *array.Timestamp:
			vals := x.TimestampValues()
			for k, i := range sel {
				if nulls && x.IsNull(int(i)) {
					gids[k] = nullGroup()
					continue
				}
				var ns int64
				if g.bucket != 0 {
					ns = bucketOf(int64(vals[i]), g)
				} else {
					ns = satMul(int64(vals[i]), g.mult)
				}
				id, ok := a.intIndex[ns]
				if !ok {
					id = a.newGroup([]any{time.Unix(0, ns).UTC()})
					a.intIndex[ns] = id
				}
				gids[k] = id
			}
			return gids
		}
	}
	// Several columns, or a float or bool one: an encoded key per row.
	cols := make([]arrow.Array, len(groups))
	for j, g := range groups {
		cols[j] = rec.Column(g.pos)
	}
	for k, i := range sel {
		key := a.key[:0]
		for j, g := range groups {
			key = appendKey(key, cols[j], int(i), g)
		}
		a.key = key
		id, ok := a.byteIndex[string(key)]
		if !ok {
			vals := make([]any, len(groups))
			for j, g := range groups {
				if g.bucket != 0 && cols[j].IsValid(int(i)) {
					vals[j] = time.Unix(0, bucketOf(int64(cols[j].(*array.Timestamp).Value(int(i))), g)).UTC()
				} else {
					vals[j] = value(cols[j], int(i))
				}
			}
			id = a.newGroup(vals)
			a.byteIndex[string(key)] = id
		}
		gids[k] = id
	}
	return gids
}

// appendKey appends an unambiguous encoding of cell i of arr to k: a null
// marker, then the value (a bucket start for a bucketed timestamp).
func appendKey(k []byte, arr arrow.Array, i int, g boundValue) []byte {
	if arr.IsNull(i) {
		return append(k, 0)
	}
	k = append(k, 1)
	switch x := arr.(type) {
	case *array.Int64:
		k = binary.LittleEndian.AppendUint64(k, uint64(x.Value(i)))
	case *array.Float64:
		k = binary.LittleEndian.AppendUint64(k, math.Float64bits(x.Value(i)))
	case *array.Boolean:
		k = append(k, byte(b01(x.Value(i))))
	case *array.String:
		s := x.Value(i)
		k = binary.AppendUvarint(k, uint64(len(s)))
		k = append(k, s...)
	case *array.Binary:
		s := x.Value(i)
		k = binary.AppendUvarint(k, uint64(len(s)))
		k = append(k, s...)
	case *array.Timestamp:
		v := satMul(int64(x.Value(i)), g.mult)
		if g.bucket != 0 {
			v = bucketOf(int64(x.Value(i)), g)
		}
		k = binary.LittleEndian.AppendUint64(k, uint64(v))
	}
	return k
}

// fold folds the selected rows of rec into aggregate j of their groups.
func (a *aggregator) fold(j int, it boundAggItem, rec arrow.Record, sel, gids []int32) {
	w, st := a.width, a.states
	switch it.fn {
	case aggNone:
		return
	case aggCountStar:
		for _, g := range gids {
			st[int(g)*w+j].n++
		}
		return
	}
	arr := rec.Column(it.val.pos)
	nulls := arr.NullN() > 0
	switch it.fn {
	case aggCount:
		for k, i := range sel {
			if !nulls || arr.IsValid(int(i)) {
				st[int(gids[k])*w+j].n++
			}
		}
	case aggCountDistinct:
		for k, i := range sel {
			if nulls && arr.IsNull(int(i)) {
				continue
			}
			s := &st[int(gids[k])*w+j]
			if s.set == nil {
				s.set = map[string]struct{}{}
			}
			a.key = appendKey(a.key[:0], arr, int(i), it.val)
			if _, ok := s.set[string(a.key)]; !ok {
				s.set[string(a.key)] = struct{}{}
			}
		}
	case aggSum, aggAvg:
		switch x := arr.(type) {
		case *array.Int64:
			vals := x.Int64Values()
			for k, i := range sel {
				if nulls && x.IsNull(int(i)) {
					continue
				}
				s := &st[int(gids[k])*w+j]
				s.n++
				s.i += vals[i]
				s.f += float64(vals[i])
			}
		case *array.Float64:
			vals := x.Float64Values()
			if h := a.hotFloats(j, len(sel)); h != nil {
				gids := gids[:len(sel)]
				for k, i := range sel {
					if nulls && x.IsNull(int(i)) {
						continue
					}
					s := &h[gids[k]]
					s.n++
					s.f += vals[i]
				}
				a.coolFloats(j, h)
				return
			}
			for k, i := range sel {
				if nulls && x.IsNull(int(i)) {
					continue
				}
				s := &st[int(gids[k])*w+j]
				s.n++
				s.f += vals[i]
			}
		}
	case aggMin, aggMax:
		if x, ok := arr.(*array.Float64); ok {
			if h := a.hotFloats(j, len(sel)); h != nil {
				foldMinMaxHot(h, it.fn == aggMin, x, nulls, sel, gids)
				a.coolFloats(j, h)
				return
			}
		}
		foldMinMax(st, w, j, it, arr, nulls, sel, gids)
	}
}

// minTakes reports whether min replaces cur with v, in cmp.Compare's
// order (NaN first) without its branches: v < cur, or v is NaN and cur is
// not. maxTakes is its mirror: v > cur, or cur is NaN and v is not.
func minTakes(v, cur float64) bool { return v < cur || v != v && cur == cur }

func maxTakes(v, cur float64) bool { return v > cur || cur != cur && v == v }

// foldMinMaxHot is foldMinMax's float64 case over hotFloats' copies.
func foldMinMaxHot(h []hotFloat, isMin bool, x *array.Float64, nulls bool, sel, gids []int32) {
	vals := x.Float64Values()
	gids = gids[:len(sel)]
	if isMin {
		for k, i := range sel {
			if nulls && x.IsNull(int(i)) {
				continue
			}
			s := &h[gids[k]]
			if v := vals[i]; s.n == 0 || minTakes(v, s.f) {
				s.f = v
			}
			s.n++
		}
		return
	}
	for k, i := range sel {
		if nulls && x.IsNull(int(i)) {
			continue
		}
		s := &h[gids[k]]
		if v := vals[i]; s.n == 0 || maxTakes(v, s.f) {
			s.f = v
		}
		s.n++
	}
}

// foldMinMax folds min or max over a typed column.
func foldMinMax(st []aggState, w, j int, it boundAggItem, arr arrow.Array, nulls bool, sel, gids []int32) {
	sign := 1 // min: replace when v sorts before the current value
	if it.fn == aggMax {
		sign = -1
	}
	switch x := arr.(type) {
	case *array.Int64:
		vals := x.Int64Values()
		for k, i := range sel {
			if nulls && x.IsNull(int(i)) {
				continue
			}
			s := &st[int(gids[k])*w+j]
			if v := vals[i]; s.n == 0 || sign*cmp.Compare(v, s.i) < 0 {
				s.i = v
			}
			s.n++
		}
	case *array.Float64:
		vals := x.Float64Values()
		if sign > 0 {
			for k, i := range sel {
				if nulls && x.IsNull(int(i)) {
					continue
				}
				s := &st[int(gids[k])*w+j]
				if v := vals[i]; s.n == 0 || minTakes(v, s.f) {
					s.f = v
				}
				s.n++
			}
			return
		}
		for k, i := range sel {
			if nulls && x.IsNull(int(i)) {
				continue
			}
			s := &st[int(gids[k])*w+j]
			if v := vals[i]; s.n == 0 || maxTakes(v, s.f) {
				s.f = v
			}
			s.n++
		}
	case *array.Timestamp:
		vals := x.TimestampValues()
		for k, i := range sel {
			if nulls && x.IsNull(int(i)) {
				continue
			}
			s := &st[int(gids[k])*w+j]
			if v := satMul(int64(vals[i]), it.val.mult); s.n == 0 || sign*cmp.Compare(v, s.i) < 0 {
				s.i = v
			}
			s.n++
		}
	case *array.String:
		for k, i := range sel {
			if nulls && x.IsNull(int(i)) {
				continue
			}
			s := &st[int(gids[k])*w+j]
			if v := x.Value(int(i)); s.n == 0 || sign*strings.Compare(v, string(s.buf)) < 0 {
				s.buf = append(s.buf[:0], v...)
			}
			s.n++
		}
	case *array.Boolean:
		for k, i := range sel {
			if nulls && x.IsNull(int(i)) {
				continue
			}
			s := &st[int(gids[k])*w+j]
			if v := x.Value(int(i)); s.n == 0 || sign*cmp.Compare(b01(v), b01(s.b)) < 0 {
				s.b = v
			}
			s.n++
		}
	}
}

// winners finds, for each group of the selected rows, the row of rec with
// the earliest (first) or latest (last) time, among rows with a valid time
// and, when arr is not nil, a valid value of arr. On equal times the row
// scanned first wins. It returns the winning row per group id (-1: none)
// and the groups that have one; best is scratch of at least one entry per
// group, all -1, and is left for the caller to reset.
func winners(best []int32, touched []int32, tvals []arrow.Timestamp, ts *array.Timestamp, arr arrow.Array, last bool, sel, gids []int32) []int32 {
	tnull := ts.NullN() > 0
	vnull := arr != nil && arr.NullN() > 0
	for k, i := range sel {
		if (tnull && ts.IsNull(int(i))) || (vnull && arr.IsNull(int(i))) {
			continue
		}
		g := gids[k]
		b := best[g]
		switch {
		case b < 0:
			touched = append(touched, g)
		case last && tvals[i] <= tvals[b], !last && tvals[i] >= tvals[b]:
			continue
		}
		best[g] = i
	}
	return touched
}

// foldFirstLast folds every first and last aggregate: the value at the
// earliest or latest time. Rows with a null time or value take no part; on
// equal times the row scanned first wins. Per record, the winning row of
// each group is found first (once for all columns without nulls), so the
// states are touched once per group and record, not once per row.
func (a *aggregator) foldFirstLast(rec arrow.Record, ts *array.Timestamp, sel, gids []int32) {
	tvals := ts.TimestampValues()
	for len(a.best) < len(a.keys) {
		a.best = append(a.best, -1)
		a.best2 = append(a.best2, -1)
	}
	for _, last := range [2]bool{false, true} {
		fn := aggFirst
		if last {
			fn = aggLast
		}
		shared := false
		var sharedTouched []int32
		for j, it := range a.ba.items {
			if it.fn != fn {
				continue
			}
			arr := rec.Column(it.val.pos)
			best, touched := a.best, sharedTouched
			if arr.NullN() > 0 {
				best = a.best2
				touched = winners(best, a.touched2[:0], tvals, ts, arr, last, sel, gids)
				a.touched2 = touched
			} else if !shared {
				touched = winners(best, a.touched[:0], tvals, ts, nil, last, sel, gids)
				a.touched, sharedTouched, shared = touched, touched, true
			}
			a.takeWinners(j, it, arr, tvals, best, touched, last)
			if arr.NullN() > 0 {
				for _, g := range touched {
					best[g] = -1
				}
			}
		}
		for _, g := range sharedTouched {
			a.best[g] = -1
		}
	}
}

// takeWinners folds each group's winning row into first/last aggregate j.
func (a *aggregator) takeWinners(j int, it boundAggItem, arr arrow.Array, tvals []arrow.Timestamp, best, touched []int32, last bool) {
	w := a.width
	for _, g := range touched {
		i := int(best[g])
		s := &a.states[int(g)*w+j]
		t := int64(tvals[i])
		if s.seen && (last && t <= s.t || !last && t >= s.t) {
			continue
		}
		s.seen, s.t, s.at = true, t, int64(a.task)
		switch x := arr.(type) {
		case *array.Int64:
			s.i = x.Value(i)
		case *array.Float64:
			s.f = x.Value(i)
		case *array.Timestamp:
			s.i = satMul(int64(x.Value(i)), it.val.mult)
		case *array.String:
			s.buf = append(s.buf[:0], x.Value(i)...)
		case *array.Boolean:
			s.b = x.Value(i)
		}
	}
}

// merge folds the groups of o, an aggregator of the same query that saw
// other records, into a. o is not used afterwards.
func (a *aggregator) merge(o *aggregator) {
	index := make(map[string]int32, len(a.keys))
	var key []byte
	for g, vals := range a.keys {
		key = appendValuesKey(key[:0], vals)
		index[string(key)] = int32(g)
	}
	w := a.width
	for og, vals := range o.keys {
		key = appendValuesKey(key[:0], vals)
		g, ok := index[string(key)]
		if !ok {
			g = a.newGroup(vals)
			index[string(key)] = g
		}
		for j, it := range a.ba.items {
			mergeState(&a.states[int(g)*w+j], &o.states[og*w+j], it)
		}
	}
}

// appendValuesKey appends an unambiguous encoding of group key values.
func appendValuesKey(k []byte, vals []any) []byte {
	for _, v := range vals {
		switch x := v.(type) {
		case nil:
			k = append(k, 0)
		case int64:
			k = binary.LittleEndian.AppendUint64(append(k, 1), uint64(x))
		case float64:
			k = binary.LittleEndian.AppendUint64(append(k, 2), math.Float64bits(x))
		case bool:
			k = append(k, 3, byte(b01(x)))
		case time.Time:
			k = binary.LittleEndian.AppendUint64(append(k, 4), uint64(x.UnixNano()))
		case string:
			k = append(binary.AppendUvarint(append(k, 5), uint64(len(x))), x...)
		case []byte:
			k = append(binary.AppendUvarint(append(k, 6), uint64(len(x))), x...)
		}
	}
	return k
}

// mergeState folds o into s: two partial states of one aggregate and group.
func mergeState(s, o *aggState, it boundAggItem) {
	switch it.fn {
	case aggNone:
	case aggCountStar, aggCount:
		s.n += o.n
	case aggCountDistinct:
		if s.set == nil {
			s.set = o.set
			return
		}
		for k := range o.set {
			s.set[k] = struct{}{}
		}
	case aggSum, aggAvg:
		s.n += o.n
		s.i += o.i
		s.f += o.f
	case aggMin, aggMax:
		if o.n == 0 {
			return
		}
		sign := 1
		if it.fn == aggMax {
			sign = -1
		}
		var c int
		switch it.val.typ {
		case TypeInt64, TypeTimestamp:
			c = cmp.Compare(o.i, s.i)
		case TypeFloat64:
			c = cmp.Compare(o.f, s.f)
		case TypeString:
			c = bytes.Compare(o.buf, s.buf)
		case TypeBool:
			c = cmp.Compare(b01(o.b), b01(s.b))
		}
		if s.n == 0 || sign*c < 0 {
			copyValue(s, o)
		}
		s.n += o.n
	case aggFirst, aggLast:
		if !o.seen {
			return
		}
		earlier := o.t < s.t || (o.t == s.t && o.at < s.at)
		later := o.t > s.t || (o.t == s.t && o.at < s.at)
		if !s.seen || (it.fn == aggFirst && earlier) || (it.fn == aggLast && later) {
			copyValue(s, o)
			s.seen, s.t, s.at = true, o.t, o.at
		}
	}
}

// copyValue copies the value of a min, max, first or last state.
func copyValue(s, o *aggState) {
	s.i, s.f, s.b = o.i, o.f, o.b
	s.buf = append(s.buf[:0], o.buf...)
}

// result turns the groups into rows: HAVING applied, duplicates dropped
// for SELECT DISTINCT, sorted by the group keys (NULL first) and then by
// the ORDER BY keys, OFFSET and LIMIT applied, hidden columns cut.
func (a *aggregator) result(maxRows int) ([][]any, error) {
	ba := a.ba
	if len(ba.groups) == 0 && len(a.keys) == 0 {
		// An aggregate without GROUP BY answers one row even over no rows.
		a.newGroup(nil)
	}
	if ba.having == nil && len(a.keys) > maxRows {
		return nil, fmt.Errorf("%w: more than %d groups; narrow the time range or use wider buckets", ErrTooManyRows, maxRows)
	}
	order := make([]int, len(a.keys))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(x, y int) int {
		for j := range ba.groups {
			if c := compareValues(a.keys[x][j], a.keys[y][j]); c != 0 {
				return c
			}
		}
		return 0
	})
	rows := make([][]any, 0, len(order))
	for _, g := range order {
		row := make([]any, a.width)
		for j, it := range ba.items {
			row[j] = a.finish(&a.states[g*a.width+j], it, g)
		}
		if ba.having != nil {
			if v, known := ba.having(row); !v || !known {
				continue
			}
		}
		rows = append(rows, row)
	}
	if len(rows) > maxRows {
		return nil, fmt.Errorf("%w: more than %d groups; narrow the time range or use wider buckets", ErrTooManyRows, maxRows)
	}
	if ba.dedupe {
		rows = dedupe(rows, a.bp.visible)
	}
	if ba.sortKeys != nil {
		slices.SortStableFunc(rows, func(x, y []any) int { return compareRows(x, y, ba.sortKeys) })
	}
	rows = rows[min(a.bp.offset, int64(len(rows))):]
	if a.bp.limit >= 0 && int64(len(rows)) > a.bp.limit {
		rows = rows[:a.bp.limit]
	}
	return trimHidden(rows, a.bp.visible), nil
}

// dedupe drops the rows whose first visible columns equal an earlier row's.
func dedupe(rows [][]any, visible int) [][]any {
	seen := map[string]bool{}
	out := rows[:0]
	var key []byte
	for _, r := range rows {
		key = key[:0]
		for _, v := range r[:visible] {
			key = fmt.Appendf(key, "%T:%#v\x00", v, v)
		}
		if !seen[string(key)] {
			seen[string(key)] = true
			out = append(out, r)
		}
	}
	return out
}

// finish returns the value of one aggregate of group g.
func (a *aggregator) finish(st *aggState, it boundAggItem, g int) any {
	switch it.fn {
	case aggNone:
		return a.keys[g][it.group]
	case aggCountStar, aggCount:
		return st.n
	case aggCountDistinct:
		return int64(len(st.set))
	case aggFirst, aggLast:
		if !st.seen {
			return nil
		}
		return typedValue(st, it.val.typ)
	}
	if st.n == 0 {
		return nil
	}
	switch it.fn {
	case aggAvg:
		return st.f / float64(st.n)
	case aggSum:
		if it.val.typ == TypeInt64 {
			return st.i
		}
		return st.f
	}
	return typedValue(st, it.val.typ)
}

// typedValue is the Go value a min, max, first or last state holds.
func typedValue(st *aggState, typ string) any {
	switch typ {
	case TypeInt64:
		return st.i
	case TypeFloat64:
		return st.f
	case TypeTimestamp:
		return time.Unix(0, st.i).UTC()
	case TypeString:
		return string(st.buf)
	case TypeBool:
		return st.b
	}
	return nil
}
