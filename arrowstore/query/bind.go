package query

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"vitess.io/vitess/go/vt/sqlparser"
)

// Column type names used in Result.Types. They are the same names as the
// value kinds of package rows.
const (
	TypeTimestamp = "timestamp"
	TypeInt64     = "int64"
	TypeFloat64   = "float64"
	TypeBool      = "bool"
	TypeString    = "string"
	TypeBytes     = "bytes"
)

// outColumn is one column of the result.
type outColumn struct {
	name string
	typ  string
	scan int // index into boundPlan.scan
}

// boundPlan is a logical plan resolved against a table's schema: what to
// scan, how to filter, what to keep and what to return.
type boundPlan struct {
	table      string
	scan       []string         // columns to scan; scan[0] is the time column
	scanTypes  []arrow.DataType // their types, as the schema has them
	out        []outColumn      // the result's columns, then hidden ones kept only to sort or filter by
	visible    int              // how many of out are the result's columns
	count      bool
	filter     bool  // whether lo and hi apply
	lo, hi     int64 // inclusive bounds in the time column's unit
	empty      bool  // the WHERE bounds exclude every row
	desc       bool
	limit      int64      // -1: none
	offset     int64      // rows skipped before the limit
	where      *wherePlan // conditions on other columns; nil when none
	filterCols []int      // scanned columns the WHERE filter reads
	agg        *boundAgg  // an aggregate query; nil for a plain SELECT
	sortKeys   []sortKey  // ORDER BY other than the time column alone; nil: time order
	// widen: a condition on another column was taken for a time bound
	// before the schema was known, so the snapshot's range is too narrow.
	widen bool
}

// bind resolves lp against schema.
func bind(lp *logicalPlan, schema *arrow.Schema) (*boundPlan, error) {
	if schema == nil || schema.NumFields() == 0 {
		return nil, fmt.Errorf("table %s has no columns", lp.table)
	}
	tf := schema.Field(0)
	tt, ok := tf.Type.(*arrow.TimestampType)
	if !ok {
		return nil, fmt.Errorf("table %s: first column %s is %s, not a timestamp", lp.table, tf.Name, tf.Type)
	}
	bp := &boundPlan{
		table:     lp.table,
		scan:      []string{tf.Name},
		scanTypes: []arrow.DataType{tf.Type},
		count:     lp.isCount(),
		limit:     lp.limit,
		offset:    lp.offset,
	}

	filters := lp.filters
	timeBounds := 0
	for _, b := range lp.bounds {
		i, err := lookup(schema, b.column)
		if err != nil {
			return nil, err
		}
		if i != 0 {
			filters = append(filters, b.expr)
			bp.widen = bp.widen || b.err == nil
			continue
		}
		if b.err != nil {
			return nil, b.err
		}
		timeBounds++
	}
	scanPos := map[int]int{0: 0} // schema index -> index in bp.scan
	scanCol := func(i int) (int, error) {
		f := schema.Field(i)
		if _, err := typeName(f.Type); err != nil {
			return 0, fmt.Errorf("%w: column %s of type %s", ErrUnsupported, f.Name, f.Type)
		}
		pos, ok := scanPos[i]
		if !ok {
			pos = len(bp.scan)
			scanPos[i] = pos
			bp.scan = append(bp.scan, f.Name)
			bp.scanTypes = append(bp.scanTypes, f.Type)
		}
		return pos, nil
	}
	if bp.count {
		for _, it := range lp.items {
			name := it.alias
			if name == "" {
				name = "count(*)"
			}
			bp.out = append(bp.out, outColumn{name: name, typ: TypeInt64, scan: -1})
		}
	} else {
		add := func(i int, name string) error {
			f := schema.Field(i)
			pos, err := scanCol(i)
			if err != nil {
				return err
			}
			typ, _ := typeName(f.Type)
			if name == "" {
				name = f.Name
			}
			bp.out = append(bp.out, outColumn{name: name, typ: typ, scan: pos})
			return nil
		}
		for _, it := range lp.items {
			if it.kind == itemStar {
				for i := range schema.NumFields() {
					if err := add(i, ""); err != nil {
						return nil, err
					}
				}
				continue
			}
			i, err := lookup(schema, it.column)
			if err != nil {
				return nil, err
			}
			if err := add(i, it.alias); err != nil {
				return nil, err
			}
		}
	}

	if lp.agg != nil {
		if err := bindAgg(lp, schema, bp, scanCol); err != nil {
			return nil, err
		}
	} else {
		bp.visible = len(bp.out)
		if err := bindOrder(lp, schema, bp, scanCol); err != nil {
			return nil, err
		}
	}
	if len(filters) > 0 {
		c := compiler{lp: lp, schema: schema, scanCol: func(i int) (int, error) {
			pos, err := scanCol(i)
			bp.filterCols = append(bp.filterCols, pos)
			return pos, err
		}}
		bp.where = &wherePlan{}
		for _, e := range filters {
			p, err := c.compile(e)
			if err != nil {
				return nil, err
			}
			bp.where.preds = append(bp.where.preds, p)
		}
	}

	tr, ok := lp.timeRangeOn(func(col string) bool { i, err := lookup(schema, col); return err == nil && i == 0 })
	bp.filter = timeBounds > 0
	bp.lo, bp.hi = toUnit(tr, tt.Unit)
	bp.empty = !ok || bp.lo > bp.hi
	return bp, nil
}

// sortKey is one ORDER BY key bound to a column of boundPlan.out.
type sortKey struct {
	out  int
	desc bool
}

// bindOrder resolves the ORDER BY of a plain SELECT. No key, or the time
// column alone, is the scan's own time order (bp.desc); anything else
// becomes sort keys over output columns, a column not selected being added
// as a hidden one.
func bindOrder(lp *logicalPlan, schema *arrow.Schema, bp *boundPlan, scanCol func(int) (int, error)) error {
	if len(lp.order) == 0 {
		return nil
	}
	keys := make([]sortKey, 0, len(lp.order))
	timeOnly := len(lp.order) == 1
	for _, o := range lp.order {
		j, field, err := plainOrderColumn(lp, schema, bp, o.expr, scanCol)
		if err != nil {
			return err
		}
		if field != 0 {
			timeOnly = false
		}
		if bp.count && field != 0 {
			return unsupported("ORDER BY column %s with count(*)", schema.Field(field).Name)
		}
		keys = append(keys, sortKey{out: j, desc: o.desc})
	}
	bp.desc = lp.order[0].desc
	if !timeOnly && !bp.count {
		bp.sortKeys = keys
	}
	return nil
}

// plainOrderColumn resolves one ORDER BY key of a plain SELECT to an output
// column (adding a hidden one for a column not selected) and its schema
// field: a 1-based position, a SELECT alias, or a column.
func plainOrderColumn(lp *logicalPlan, schema *arrow.Schema, bp *boundPlan, e sqlparser.Expr, scanCol func(int) (int, error)) (out, field int, err error) {
	switch x := e.(type) {
	case *sqlparser.Literal:
		n, err := strconv.Atoi(x.Val)
		if x.Type != sqlparser.IntVal || err != nil || n < 1 || n > bp.visible || bp.count {
			return 0, 0, unsupported("ORDER BY %s (not the position of a SELECT column)", x.Val)
		}
		i, err := lookup(schema, bp.scan[bp.out[n-1].scan])
		return n - 1, i, err
	case *sqlparser.ColName:
		name := x.Name.String()
		if x.Qualifier.IsEmpty() {
			for _, it := range lp.items {
				if it.kind == itemColumn && it.alias != "" && strings.EqualFold(it.alias, name) {
					name = it.column
					break
				}
			}
		}
		i, err := lookup(schema, name)
		if err != nil {
			return 0, 0, err
		}
		if bp.count {
			return -1, i, nil
		}
		pos, err := scanCol(i)
		if err != nil {
			return 0, 0, err
		}
		for j, oc := range bp.out {
			if oc.scan == pos {
				return j, i, nil
			}
		}
		typ, _ := typeName(schema.Field(i).Type)
		bp.out = append(bp.out, outColumn{name: schema.Field(i).Name, typ: typ, scan: pos})
		return len(bp.out) - 1, i, nil
	}
	return 0, 0, unsupported("ORDER BY %s", exprName(e))
}

// lookup finds a column by name: the exact name first, else the one name
// that matches ignoring case, as MySQL column names do.
func lookup(schema *arrow.Schema, name string) (int, error) {
	if idx := schema.FieldIndices(name); len(idx) > 0 {
		return idx[0], nil
	}
	found := -1
	for i, f := range schema.Fields() {
		if strings.EqualFold(f.Name, name) {
			if found >= 0 {
				return 0, fmt.Errorf("%w: %s (ambiguous: %s and %s differ only in case)", ErrNoColumn, name, schema.Field(found).Name, f.Name)
			}
			found = i
		}
	}
	if found < 0 {
		return 0, noColumn(name)
	}
	return found, nil
}

// typeName maps an Arrow type to its Result.Types name.
func typeName(t arrow.DataType) (string, error) {
	switch t.ID() {
	case arrow.TIMESTAMP:
		return TypeTimestamp, nil
	case arrow.INT64:
		return TypeInt64, nil
	case arrow.FLOAT64:
		return TypeFloat64, nil
	case arrow.BOOL:
		return TypeBool, nil
	case arrow.STRING:
		return TypeString, nil
	case arrow.BINARY:
		return TypeBytes, nil
	}
	return "", fmt.Errorf("unsupported column type %s", t)
}

// toUnit converts an inclusive range of nanoseconds to the inclusive range of
// values in unit that fall within it. The open ends stay open.
func toUnit(tr TimeRange, unit arrow.TimeUnit) (lo, hi int64) {
	f := int64(unit.Multiplier())
	lo, hi = math.MinInt64, math.MaxInt64
	if tr.Min != math.MinInt64 {
		lo = tr.Min / f
		if tr.Min%f != 0 && tr.Min > 0 {
			lo++ // ceiling
		}
	}
	if tr.Max != math.MaxInt64 {
		hi = tr.Max / f
		if tr.Max%f != 0 && tr.Max < 0 {
			hi-- // floor
		}
	}
	return lo, hi
}
