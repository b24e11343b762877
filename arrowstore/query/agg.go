package query

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
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
	aggFirst         // the value at the earliest time
	aggLast          // the value at the latest time
	aggCountDistinct // count(DISTINCT col): distinct non-null values
)

// valueExpr is a column, or a time bucket of a timestamp column.
type valueExpr struct {
	column string
	bucket int64 // bucket width in ns; 0 for the plain column
}

// aggItem is one SELECT expression of an aggregate query.
type aggItem struct {
	name string // output name: the alias, else the expression's text
	text string // the expression's text, to match ORDER BY and HAVING expressions
	fn   aggFn
	arg  valueExpr // the column aggregated, or the group key
}

// aggSpec is the aggregate part of a plan.
type aggSpec struct {
	items  []aggItem
	groups []valueExpr
	dedupe bool // SELECT DISTINCT over aggregates: drop duplicate result rows
}

// isAggregate reports whether sel needs the aggregate path: GROUP BY,
// HAVING, or an aggregate other than a lone count(*).
func isAggregate(sel *sqlparser.Select) bool {
	if (sel.GroupBy != nil && len(sel.GroupBy.Exprs) > 0) || sel.Having != nil {
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
		it.text = sqlparser.String(ae.Expr)
		it.name = cmp.Or(ae.As.String(), outputName(ae.Expr, it.text))
		spec.items = append(spec.items, it)
	}
	spec.dedupe = sel.Distinct
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

// outputName names an unaliased output column: a column by its name, any
// other expression by its text without the backquotes the printer puts
// around keywords ("count(status)", not "count(`status`)").
func outputName(e sqlparser.Expr, text string) string {
	if ref, ok := e.(*sqlparser.ColName); ok {
		return ref.Name.String()
	}
	return strings.ReplaceAll(text, "`", "")
}

// planDistinct reads SELECT DISTINCT columns as GROUP BY those columns.
func (p *logicalPlan) planDistinct(sel *sqlparser.Select) error {
	spec := &aggSpec{}
	if sel.SelectExprs == nil || len(sel.SelectExprs.Exprs) == 0 {
		return unsupported("an empty SELECT list")
	}
	for _, e := range sel.SelectExprs.Exprs {
		ae, ok := e.(*sqlparser.AliasedExpr)
		if !ok {
			return unsupported("SELECT DISTINCT %s (name the columns)", sqlparser.String(e))
		}
		ref, ok := ae.Expr.(*sqlparser.ColName)
		if !ok {
			return unsupported("%s in SELECT DISTINCT (only columns)", exprName(ae.Expr))
		}
		name, err := p.columnName(ref)
		if err != nil {
			return err
		}
		it := aggItem{fn: aggNone, arg: valueExpr{column: name}, text: sqlparser.String(ref)}
		it.name = cmp.Or(ae.As.String(), name)
		spec.items = append(spec.items, it)
		if !slices.Contains(spec.groups, it.arg) {
			spec.groups = append(spec.groups, it.arg)
		}
	}
	p.agg = spec
	return nil
}

// aggItem reads one SELECT expression of an aggregate query.
func (p *logicalPlan) aggItem(e sqlparser.Expr) (aggItem, error) {
	arg := func(a sqlparser.Expr, distinct bool) (valueExpr, error) {
		if distinct {
			return valueExpr{}, unsupported("DISTINCT in aggregates other than count")
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
		if x.Distinct {
			it.fn = aggCountDistinct
		}
		it.arg, err = arg(x.Args[0], false)
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
	items    []boundAggItem // one per column of boundPlan.out: visible, then hidden
	sortKeys []sortKey      // ORDER BY; nil: by the group keys
	having   rowPredicate   // HAVING; nil when none
	dedupe   bool           // SELECT DISTINCT over aggregates
}

// boundValue is a scanned column, or a time bucket of one.
type boundValue struct {
	pos    int // scanned column
	bucket int64
	mult   int64 // ns per unit of a timestamp column
	typ    string
}

// boundAggItem is one output column of an aggregate query.
type boundAggItem struct {
	fn    aggFn
	val   boundValue
	group int // aggNone: index in groups
}

// bindAgg resolves the aggregate spec, its ORDER BY and HAVING, and sets
// bp.out and bp.visible. An ORDER BY or HAVING expression that is not an
// output column (an aggregate, or a GROUP BY key, not selected) becomes a
// hidden output column.
func bindAgg(lp *logicalPlan, schema *arrow.Schema, bp *boundPlan, scanCol func(int) (int, error)) error {
	ba := &boundAgg{dedupe: lp.agg.dedupe}
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
		case typ == TypeBytes && fn != aggCount && fn != aggCountDistinct:
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
	items := slices.Clone(lp.agg.items)
	addItem := func(it aggItem) error {
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
			case aggCount, aggCountDistinct:
			case aggAvg:
				typ = TypeFloat64
			default:
				typ = bv.typ
			}
		}
		ba.items = append(ba.items, bi)
		bp.out = append(bp.out, outColumn{name: it.name, typ: typ, scan: -1})
		return nil
	}
	for _, it := range items {
		if err := addItem(it); err != nil {
			return err
		}
	}
	bp.visible = len(items)

	// resolve finds the output column an ORDER BY or HAVING expression
	// means: a 1-based position, an output name, an expression of the
	// SELECT list, or else a new hidden aggregate or group key.
	resolve := func(e sqlparser.Expr, clause string) (int, error) {
		if l, ok := e.(*sqlparser.Literal); ok && l.Type == sqlparser.IntVal {
			n, err := strconv.Atoi(l.Val)
			if err != nil || n < 1 || n > bp.visible {
				return 0, unsupported("%s %s (not the position of a SELECT expression)", clause, l.Val)
			}
			return n - 1, nil
		}
		if ref, ok := e.(*sqlparser.ColName); ok && ref.Qualifier.IsEmpty() {
			for j, it := range items[:bp.visible] {
				if strings.EqualFold(it.name, ref.Name.String()) {
					return j, nil
				}
			}
		}
		text := sqlparser.String(e)
		for j, it := range items {
			if strings.EqualFold(it.text, text) {
				return j, nil
			}
		}
		it, err := lp.aggItem(e)
		if err != nil {
			return 0, err
		}
		if it.fn == aggNone && !slices.Contains(lp.agg.groups, it.arg) {
			return 0, unsupported("%s %s: neither an output column, an aggregate nor a GROUP BY key", clause, text)
		}
		it.name, it.text = text, text
		items = append(items, it)
		if err := addItem(it); err != nil {
			return 0, err
		}
		return len(items) - 1, nil
	}
	for _, o := range lp.order {
		j, err := resolve(o.expr, "ORDER BY")
		if err != nil {
			return err
		}
		ba.sortKeys = append(ba.sortKeys, sortKey{out: j, desc: o.desc})
	}
	if lp.having != nil {
		hc := havingCompiler{
			resolve: func(e sqlparser.Expr) (int, error) { return resolve(e, "HAVING") },
			typeOf:  func(j int) string { return bp.out[j].typ },
		}
		p, err := hc.compile(lp.having)
		if err != nil {
			return err
		}
		ba.having = p
	}
	bp.agg = ba
	return nil
}

// runAggregate scans snap into an aggregator. A ParallelScanner snapshot
// is scanned by Options.Parallelism workers, each decoding and aggregating
// its own records into its own aggregator, merged at the end. Otherwise the
// scan runs on its own goroutine and hands records to the aggregator
// through a short queue, so decoding and aggregating still overlap.
func (e *Engine) runAggregate(ctx context.Context, snap Snapshot, bp *boundPlan) ([][]any, error) {
	a := newAggregator(bp)
	ps, parallel := snap.(ParallelScanner)
	switch {
	case bp.empty:
	case parallel && e.opts.Parallelism > 1:
		aggs := make([]*aggregator, e.opts.Parallelism)
		aggs[0] = a
		for i := 1; i < len(aggs); i++ {
			aggs[i] = newAggregator(bp)
		}
		scan, fill := bp.scan, []*nullTime(nil)
		if !needsTime(bp) {
			// The time column (bp.scan[0]) is left unread, and each record
			// gets a null one in its place: every row passes.
			scan, fill = bp.scan[1:], make([]*nullTime, len(aggs))
			for i := range fill {
				fill[i] = &nullTime{typ: bp.scanTypes[0]}
			}
		}
		err := ps.ScanParallel(ctx, scan, dictColumns(bp), len(aggs), func(w, task int, rec arrow.Record) error {
			if fill != nil {
				rec = fill[w].prepend(rec)
				defer rec.Release()
			}
			return aggs[w].addTask(task, rec)
		})
		if err != nil {
			return nil, fmt.Errorf("scanning table %s: %w", bp.table, err)
		}
		for _, o := range aggs[1:] {
			a.merge(o)
		}
	default:
		if err := scanPipelined(ctx, snap, bp.scan, a.add); err != nil {
			return nil, fmt.Errorf("scanning table %s: %w", bp.table, err)
		}
	}
	return a.result(e.opts.MaxRows)
}

// needsTime reports whether an aggregate query reads the time column's
// values: a time range, a WHERE, GROUP BY or aggregate on it, or first()
// and last(), which order by it. A full-table aggregate of other columns
// does not, and its scan leaves the column (one of the largest to
// decompress, nearly every value distinct) unread.
func needsTime(bp *boundPlan) bool {
	if bp.filter || slices.Contains(bp.filterCols, 0) {
		return true
	}
	for _, g := range bp.agg.groups {
		if g.pos == 0 {
			return true
		}
	}
	for _, it := range bp.agg.items {
		switch {
		case it.fn == aggFirst || it.fn == aggLast:
			return true
		case it.fn != aggNone && it.fn != aggCountStar && it.val.pos == 0:
			return true
		}
	}
	return false
}

// nullTime puts a time column of nulls in front of the records of a scan
// that left it out (needsTime), so that they have the shape the
// aggregator expects; its buffers (zeros) are shared by the records of
// one worker.
type nullTime struct {
	typ   arrow.DataType
	zeros []byte
}

// prepend returns rec with a null time column in front (to be released).
func (nt *nullTime) prepend(rec arrow.Record) arrow.Record {
	n := int(rec.NumRows())
	if len(nt.zeros) < n*8 {
		nt.zeros = make([]byte, max(n*8, 64<<10*8))
	}
	bits := memory.NewBufferBytes(nt.zeros[:(n+7)/8])
	vals := memory.NewBufferBytes(nt.zeros[:n*8])
	data := array.NewData(nt.typ, n, []*memory.Buffer{bits, vals}, nil, n, 0)
	ts := array.MakeFromData(data)
	data.Release()
	defer ts.Release()
	fields := make([]arrow.Field, 0, rec.NumCols()+1)
	fields = append(fields, arrow.Field{Name: "time", Type: nt.typ, Nullable: true})
	fields = append(fields, rec.Schema().Fields()...)
	cols := make([]arrow.Array, 0, rec.NumCols()+1)
	cols = append(cols, ts)
	cols = append(cols, rec.Columns()...)
	return array.NewRecord(arrow.NewSchema(fields, nil), cols, int64(n))
}

// dictColumns names the column an aggregate query may read as an Arrow
// dictionary: a lone string GROUP BY column that nothing else reads (no
// aggregate, no WHERE), so the aggregator maps each dictionary value to its
// group once per record instead of every row's string (groupIDs).
func dictColumns(bp *boundPlan) []string {
	ba := bp.agg
	if len(ba.groups) != 1 || ba.groups[0].typ != TypeString {
		return nil
	}
	pos := ba.groups[0].pos
	if slices.Contains(bp.filterCols, pos) {
		return nil
	}
	for _, it := range ba.items {
		if it.fn != aggNone && it.fn != aggCountStar && it.val.pos == pos {
			return nil
		}
	}
	return []string{bp.scan[pos]}
}

// pipelineDepth is how many scanned records may wait for the consumer.
const pipelineDepth = 4

// scanPipelined scans snap on a new goroutine and calls fn with each record
// on the calling one. An error from either side stops both; fn's error
// wins, as it is the cause of the scan's cancellation.
func scanPipelined(ctx context.Context, snap Snapshot, columns []string, fn func(arrow.Record) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan arrow.Record, pipelineDepth)
	scanErr := make(chan error, 1)
	go func() {
		defer close(ch)
		scanErr <- snap.Scan(ctx, columns, func(rec arrow.Record) error {
			rec.Retain()
			select {
			case ch <- rec:
				return nil
			case <-ctx.Done():
				rec.Release()
				return ctx.Err()
			}
		})
	}()
	var fnErr error
	for rec := range ch {
		if fnErr == nil {
			if fnErr = ctx.Err(); fnErr == nil {
				fnErr = fn(rec)
			}
			if fnErr != nil {
				cancel() // stop the scan; drain what it already queued
			}
		}
		rec.Release()
	}
	if err := <-scanErr; fnErr == nil {
		return err
	}
	return fnErr
}
