package query

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"vitess.io/vitess/go/vt/sqlparser"
)

// aggFn is an aggregate function.
type aggFn uint8

const (
	aggNone      aggFn = iota // not an aggregate: a group key
	aggCountStar              // count(*)
	aggCount                  // count(col): non-null values
	aggSum
	aggMin
	aggMax
	aggAvg
	aggFirst // the value at the earliest time
	aggLast  // the value at the latest time
)

// valueExpr is a column, or a time bucket of a timestamp column.
type valueExpr struct {
	column string
	bucket int64 // bucket width in ns; 0 for the plain column
}

// aggItem is one SELECT expression of an aggregate query.
type aggItem struct {
	name string // output name: the alias, else the expression's text
	fn   aggFn
	arg  valueExpr // the column aggregated, or the group key
}

// aggSpec is the aggregate part of a plan.
type aggSpec struct {
	items  []aggItem
	groups []valueExpr
}

// isAggregate reports whether sel needs the aggregate path: GROUP BY, or
// an aggregate other than a lone count(*).
func isAggregate(sel *sqlparser.Select) bool {
	if sel.GroupBy != nil && len(sel.GroupBy.Exprs) > 0 {
		return true
	}
	if sel.SelectExprs == nil {
		return false
	}
	for _, e := range sel.SelectExprs.Exprs {
		ae, ok := e.(*sqlparser.AliasedExpr)
		if !ok {
			continue
		}
		switch x := ae.Expr.(type) {
		case *sqlparser.Count, *sqlparser.Sum, *sqlparser.Min, *sqlparser.Max, *sqlparser.Avg:
			return true
		case *sqlparser.FuncExpr:
			switch strings.ToLower(x.Name.String()) {
			case "first", "last", "time_bucket", "date_trunc":
				return true
			}
		}
	}
	return false
}

// planAggregate reads the SELECT list and GROUP BY of an aggregate query.
func (p *logicalPlan) planAggregate(sel *sqlparser.Select) error {
	spec := &aggSpec{}
	if sel.SelectExprs == nil || len(sel.SelectExprs.Exprs) == 0 {
		return unsupported("an empty SELECT list")
	}
	for _, e := range sel.SelectExprs.Exprs {
		ae, ok := e.(*sqlparser.AliasedExpr)
		if !ok {
			return unsupported("%s with GROUP BY or aggregates", sqlparser.String(e))
		}
		it, err := p.aggItem(ae.Expr)
		if err != nil {
			return err
		}
		it.name = ae.As.String()
		if it.name == "" {
			it.name = sqlparser.String(ae.Expr)
		}
		spec.items = append(spec.items, it)
	}
	if sel.GroupBy != nil {
		for _, g := range sel.GroupBy.Exprs {
			ve, err := p.groupExpr(g, spec)
			if err != nil {
				return err
			}
			spec.groups = append(spec.groups, ve)
		}
	}
	for _, it := range spec.items {
		if it.fn == aggNone && !slices.Contains(spec.groups, it.arg) {
			return unsupported("%s in SELECT is neither aggregated nor in GROUP BY", it.name)
		}
	}
	p.agg = spec
	return nil
}

// aggItem reads one SELECT expression of an aggregate query.
func (p *logicalPlan) aggItem(e sqlparser.Expr) (aggItem, error) {
	arg := func(a sqlparser.Expr, distinct bool) (valueExpr, error) {
		if distinct {
			return valueExpr{}, unsupported("DISTINCT in aggregates")
		}
		ref, ok := a.(*sqlparser.ColName)
		if !ok {
			return valueExpr{}, unsupported("aggregate of %s (only of a column)", sqlparser.String(a))
		}
		name, err := p.columnName(ref)
		return valueExpr{column: name}, err
	}
	var it aggItem
	var err error
	switch x := e.(type) {
	case *sqlparser.CountStar:
		return aggItem{fn: aggCountStar}, nil
	case *sqlparser.Count:
		if len(x.Args) != 1 {
			return it, unsupported("count of several expressions")
		}
		it.fn = aggCount
		it.arg, err = arg(x.Args[0], x.Distinct)
	case *sqlparser.Sum:
		it.fn = aggSum
		it.arg, err = arg(x.Arg, x.Distinct)
	case *sqlparser.Min:
		it.fn = aggMin
		it.arg, err = arg(x.Arg, x.Distinct)
	case *sqlparser.Max:
		it.fn = aggMax
		it.arg, err = arg(x.Arg, x.Distinct)
	case *sqlparser.Avg:
		it.fn = aggAvg
		it.arg, err = arg(x.Arg, x.Distinct)
	case *sqlparser.FuncExpr:
		switch strings.ToLower(x.Name.String()) {
		case "first", "last":
			if len(x.Exprs) != 1 {
				return it, unsupported("%s with %d arguments", x.Name.String(), len(x.Exprs))
			}
			it.fn = aggFirst
			if strings.EqualFold(x.Name.String(), "last") {
				it.fn = aggLast
			}
			it.arg, err = arg(x.Exprs[0], false)
		default:
			it.arg, err = p.valueExprOf(e)
		}
	default:
		it.arg, err = p.valueExprOf(e)
	}
	return it, err
}

// groupExpr reads one GROUP BY expression: a column, a bucket function, a
// SELECT alias or a 1-based SELECT position.
func (p *logicalPlan) groupExpr(e sqlparser.Expr, spec *aggSpec) (valueExpr, error) {
	if l, ok := e.(*sqlparser.Literal); ok && l.Type == sqlparser.IntVal {
		n, err := strconv.Atoi(l.Val)
		if err != nil || n < 1 || n > len(spec.items) || spec.items[n-1].fn != aggNone {
			return valueExpr{}, unsupported("GROUP BY %s (not the position of a non-aggregate SELECT expression)", l.Val)
		}
		return spec.items[n-1].arg, nil
	}
	if ref, ok := e.(*sqlparser.ColName); ok && ref.Qualifier.IsEmpty() {
		for _, it := range spec.items {
			if it.fn == aggNone && it.arg.bucket != 0 && strings.EqualFold(it.name, ref.Name.String()) {
				return it.arg, nil
			}
		}
	}
	return p.valueExprOf(e)
}

// bucketUnits are date_trunc's units.
var bucketUnits = map[string]time.Duration{
	"second": time.Second, "minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour,
}

// valueExprOf reads a column or time_bucket('1m', col) / date_trunc('minute', col).
func (p *logicalPlan) valueExprOf(e sqlparser.Expr) (valueExpr, error) {
	switch x := e.(type) {
	case *sqlparser.ColName:
		name, err := p.columnName(x)
		return valueExpr{column: name}, err
	case *sqlparser.FuncExpr:
		fn := strings.ToLower(x.Name.String())
		if (fn != "time_bucket" && fn != "date_trunc") || len(x.Exprs) != 2 {
			return valueExpr{}, unsupported("%s with GROUP BY or aggregates", exprName(e))
		}
		lit, ok := x.Exprs[0].(*sqlparser.Literal)
		ref, ok2 := x.Exprs[1].(*sqlparser.ColName)
		if !ok || lit.Type != sqlparser.StrVal || !ok2 {
			return valueExpr{}, unsupported("%s (want %s('1m', time_column))", sqlparser.String(e), fn)
		}
		var width time.Duration
		if fn == "date_trunc" {
			width = bucketUnits[strings.ToLower(lit.Val)]
			if width == 0 {
				return valueExpr{}, unsupported("date_trunc unit %q (second, minute, hour or day)", lit.Val)
			}
		} else {
			s := lit.Val
			days := strings.HasSuffix(s, "d")
			if days {
				s = strings.TrimSuffix(s, "d") + "h"
			}
			d, err := time.ParseDuration(s)
			if days {
				d *= 24
			}
			if err != nil || d <= 0 {
				return valueExpr{}, unsupported("time_bucket width %q (want e.g. 10s, 1m, 1h, 1d)", lit.Val)
			}
			width = d
		}
		name, err := p.columnName(ref)
		return valueExpr{column: name, bucket: int64(width)}, err
	}
	return valueExpr{}, unsupported("%s with GROUP BY or aggregates", exprName(e))
}

// boundAgg is an aggregate query bound to a schema.
type boundAgg struct {
	groups   []boundValue
	items    []boundAggItem
	orderOut int // output column to sort by; -1: by the group keys
}

type boundValue struct {
	pos    int // scanned column
	bucket int64
	mult   int64 // ns per unit of a timestamp column
	typ    string
}

type boundAggItem struct {
	fn    aggFn
	val   boundValue
	group int // aggNone: index in groups
}

// bindAgg resolves the aggregate spec and sets bp.out.
func bindAgg(lp *logicalPlan, schema *arrow.Schema, bp *boundPlan, scanCol func(int) (int, error)) error {
	ba := &boundAgg{orderOut: -1}
	bindValue := func(v valueExpr, fn aggFn) (boundValue, error) {
		i, err := lookup(schema, v.column)
		if err != nil {
			return boundValue{}, err
		}
		f := schema.Field(i)
		pos, err := scanCol(i)
		if err != nil {
			return boundValue{}, err
		}
		typ, _ := typeName(f.Type)
		bv := boundValue{pos: pos, bucket: v.bucket, typ: typ}
		if tt, ok := f.Type.(*arrow.TimestampType); ok {
			bv.mult = int64(tt.Unit.Multiplier())
		} else if v.bucket != 0 {
			return bv, unsupported("time bucket of %s column %s", f.Type, f.Name)
		}
		switch {
		case typ == TypeBytes && fn != aggCount:
			return bv, unsupported("aggregating or grouping bytes column %s", f.Name)
		case (fn == aggSum || fn == aggAvg) && typ != TypeInt64 && typ != TypeFloat64:
			return bv, unsupported("sum or avg of %s column %s", typ, f.Name)
		}
		return bv, nil
	}
	for _, g := range lp.agg.groups {
		bv, err := bindValue(g, aggNone)
		if err != nil {
			return err
		}
		ba.groups = append(ba.groups, bv)
	}
	for _, it := range lp.agg.items {
		bi := boundAggItem{fn: it.fn}
		typ := TypeInt64
		switch it.fn {
		case aggCountStar:
		case aggNone:
			bi.group = slices.Index(lp.agg.groups, it.arg)
			bi.val = ba.groups[bi.group]
			typ = bi.val.typ
		default:
			bv, err := bindValue(it.arg, it.fn)
			if err != nil {
				return err
			}
			bi.val = bv
			switch it.fn {
			case aggCount:
			case aggAvg:
				typ = TypeFloat64
			default:
				typ = bv.typ
			}
		}
		ba.items = append(ba.items, bi)
		bp.out = append(bp.out, outColumn{name: it.name, typ: typ, scan: -1})
	}
	if lp.orderBy != "" {
		for j, oc := range bp.out {
			if strings.EqualFold(oc.name, lp.orderBy) {
				ba.orderOut = j
				break
			}
		}
		if ba.orderOut < 0 {
			return unsupported("ORDER BY %s (name an output column of the aggregate query, by its alias)", lp.orderBy)
		}
	}
	bp.agg = ba
	return nil
}

// aggState accumulates one aggregate for one group.
type aggState struct {
	n    int64 // non-null values (rows for count(*))
	i    int64
	f    float64
	s    string
	b    bool
	t    int64 // first/last: the time of v
	v    any   // first/last: the value
	seen bool
}

// aggregator runs an aggregate query over scanned records.
type aggregator struct {
	bp     *boundPlan
	index  map[string]int
	keys   [][]any      // per group: the group key values
	states [][]aggState // per group, per item
	key    []byte
}

func newAggregator(bp *boundPlan) *aggregator {
	return &aggregator{bp: bp, index: map[string]int{}}
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

// add folds the matching rows of rec into the groups.
func (a *aggregator) add(rec arrow.Record) error {
	ts, ok := rec.Column(0).(*array.Timestamp)
	if !ok || int(rec.NumCols()) != len(a.bp.scan) {
		return fmt.Errorf("scan returned an unexpected record shape")
	}
	var pass []bool
	if a.bp.where != nil {
		pass = a.bp.where.pass(rec)
	}
	tvals := ts.TimestampValues()
	tmult := int64(ts.DataType().(*arrow.TimestampType).Unit.Multiplier())
	for i, tv := range tvals {
		if pass != nil && !pass[i] {
			continue
		}
		if a.bp.filter && (ts.IsNull(i) || int64(tv) < a.bp.lo || int64(tv) > a.bp.hi) {
			continue
		}
		g := a.group(rec, i)
		for j, it := range a.bp.agg.items {
			a.update(&a.states[g][j], it, rec, i, ts.IsValid(i), satMul(int64(tv), tmult))
		}
	}
	return nil
}

// group finds or makes the group of row i.
func (a *aggregator) group(rec arrow.Record, i int) int {
	k := a.key[:0]
	for _, g := range a.bp.agg.groups {
		arr := rec.Column(g.pos)
		if arr.IsNull(i) {
			k = append(k, 0)
			continue
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
		case *array.Timestamp:
			v := satMul(int64(x.Value(i)), g.mult)
			if g.bucket != 0 {
				v = bucketOf(int64(x.Value(i)), g)
			}
			k = binary.LittleEndian.AppendUint64(k, uint64(v))
		}
	}
	a.key = k
	if gi, ok := a.index[string(k)]; ok {
		return gi
	}
	gi := len(a.keys)
	a.index[string(k)] = gi
	vals := make([]any, len(a.bp.agg.groups))
	for j, g := range a.bp.agg.groups {
		arr := rec.Column(g.pos)
		if g.bucket != 0 && arr.IsValid(i) {
			vals[j] = time.Unix(0, bucketOf(int64(arr.(*array.Timestamp).Value(i)), g)).UTC()
		} else {
			vals[j] = value(arr, i)
		}
	}
	a.keys = append(a.keys, vals)
	a.states = append(a.states, make([]aggState, len(a.bp.agg.items)))
	return gi
}

// update folds row i into st.
func (a *aggregator) update(st *aggState, it boundAggItem, rec arrow.Record, i int, tValid bool, tns int64) {
	switch it.fn {
	case aggNone:
		return
	case aggCountStar:
		st.n++
		return
	}
	arr := rec.Column(it.val.pos)
	if arr.IsNull(i) {
		return
	}
	first := st.n == 0
	st.n++
	switch it.fn {
	case aggCount:
	case aggSum, aggAvg:
		switch x := arr.(type) {
		case *array.Int64:
			st.i += x.Value(i)
			st.f += float64(x.Value(i))
		case *array.Float64:
			st.f += x.Value(i)
		}
	case aggMin, aggMax:
		sign := 1
		if it.fn == aggMax {
			sign = -1
		}
		switch x := arr.(type) {
		case *array.Int64:
			if v := x.Value(i); first || sign*cmp.Compare(v, st.i) < 0 {
				st.i = v
			}
		case *array.Float64:
			if v := x.Value(i); first || sign*cmp.Compare(v, st.f) < 0 {
				st.f = v
			}
		case *array.Timestamp:
			if v := satMul(int64(x.Value(i)), it.val.mult); first || sign*cmp.Compare(v, st.i) < 0 {
				st.i = v
			}
		case *array.String:
			if v := x.Value(i); first || sign*strings.Compare(v, st.s) < 0 {
				st.s = strings.Clone(v)
			}
		case *array.Boolean:
			if v := x.Value(i); first || sign*cmp.Compare(b01(v), b01(st.b)) < 0 {
				st.b = v
			}
		}
	case aggFirst, aggLast:
		// Rows with a null time take no part; ties keep the first row seen.
		if !tValid {
			st.n--
			return
		}
		if !st.seen || (it.fn == aggFirst && tns < st.t) || (it.fn == aggLast && tns > st.t) {
			st.seen, st.t, st.v = true, tns, value(arr, i)
		}
	}
}

// result turns the groups into rows: sorted by the group keys (NULL
// first), or by the ORDER BY output column, then OFFSET and LIMIT applied.
func (a *aggregator) result(maxRows int) ([][]any, error) {
	ba := a.bp.agg
	if len(ba.groups) == 0 && len(a.keys) == 0 {
		// An aggregate without GROUP BY answers one row even over no rows.
		a.keys = append(a.keys, nil)
		a.states = append(a.states, make([]aggState, len(ba.items)))
	}
	if len(a.keys) > maxRows {
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
		row := make([]any, len(ba.items))
		for j, it := range ba.items {
			st := &a.states[g][j]
			switch it.fn {
			case aggNone:
				row[j] = a.keys[g][it.group]
			case aggCountStar, aggCount:
				row[j] = st.n
			case aggFirst, aggLast:
				row[j] = st.v
			default:
				row[j] = finish(st, it)
			}
		}
		rows = append(rows, row)
	}
	if j := ba.orderOut; j >= 0 {
		slices.SortStableFunc(rows, func(x, y []any) int {
			r := compareValues(x[j], y[j])
			if a.bp.desc {
				return -r
			}
			return r
		})
	} else if a.bp.desc {
		slices.Reverse(rows)
	}
	rows = rows[min(a.bp.offset, int64(len(rows))):]
	if a.bp.limit >= 0 && int64(len(rows)) > a.bp.limit {
		rows = rows[:a.bp.limit]
	}
	return rows, nil
}

// finish returns sum, avg, min or max of a group, or nil when it saw no value.
func finish(st *aggState, it boundAggItem) any {
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
	switch it.val.typ {
	case TypeInt64:
		return st.i
	case TypeFloat64:
		return st.f
	case TypeTimestamp:
		return time.Unix(0, st.i).UTC()
	case TypeString:
		return st.s
	case TypeBool:
		return st.b
	}
	return nil
}

// runAggregate scans snap into an aggregator.
func (e *Engine) runAggregate(ctx context.Context, snap Snapshot, bp *boundPlan) ([][]any, error) {
	a := newAggregator(bp)
	if !bp.empty {
		err := snap.Scan(ctx, bp.scan, func(rec arrow.Record) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return a.add(rec)
		})
		if err != nil {
			return nil, fmt.Errorf("scanning table %s: %w", bp.table, err)
		}
	}
	return a.result(e.opts.MaxRows)
}
