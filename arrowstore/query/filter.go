package query

import (
	"cmp"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"vitess.io/vitess/go/vt/sqlparser"
)

// A predicate evaluates a WHERE condition over a whole record at once, in
// SQL's three-valued logic: row i is true when known[i] && val[i], false
// when known[i] && !val[i], unknown (NULL) otherwise. Only true rows pass.
// Leaves loop over the typed Arrow value slices; no Go value is made per
// row.
type predicate func(rec arrow.Record, val, known []bool)

// wherePlan is the compiled non-time part of a WHERE clause.
type wherePlan struct {
	preds []predicate // ANDed
}

// pass returns, for each row of rec, whether every predicate is true.
func (w *wherePlan) pass(rec arrow.Record) []bool {
	n := int(rec.NumRows())
	out := make([]bool, n)
	for i := range out {
		out[i] = true
	}
	val, known := make([]bool, n), make([]bool, n)
	for _, p := range w.preds {
		p(rec, val, known)
		for i := range out {
			out[i] = out[i] && val[i] && known[i]
		}
	}
	return out
}

// compiler turns WHERE expressions into predicates against a schema.
type compiler struct {
	lp      *logicalPlan
	schema  *arrow.Schema
	scanCol func(i int) (int, error) // schema index -> scanned column, adding it
}

func (c *compiler) compile(e sqlparser.Expr) (predicate, error) {
	switch x := e.(type) {
	case *sqlparser.AndExpr:
		return c.logical(x.Left, x.Right, true)
	case *sqlparser.OrExpr:
		return c.logical(x.Left, x.Right, false)
	case *sqlparser.NotExpr:
		p, err := c.compile(x.Expr)
		if err != nil {
			return nil, err
		}
		return func(rec arrow.Record, val, known []bool) {
			p(rec, val, known)
			for i := range val {
				val[i] = !val[i]
			}
		}, nil
	case *sqlparser.ComparisonExpr:
		return c.comparison(x)
	case *sqlparser.BetweenExpr:
		lo := &sqlparser.ComparisonExpr{Operator: sqlparser.GreaterEqualOp, Left: x.Left, Right: x.From}
		hi := &sqlparser.ComparisonExpr{Operator: sqlparser.LessEqualOp, Left: x.Left, Right: x.To}
		var both sqlparser.Expr = &sqlparser.AndExpr{Left: lo, Right: hi}
		if !x.IsBetween {
			both = &sqlparser.NotExpr{Expr: both}
		}
		return c.compile(both)
	case *sqlparser.IsExpr:
		ref, ok := x.Left.(*sqlparser.ColName)
		if !ok || (x.Right != sqlparser.IsNullOp && x.Right != sqlparser.IsNotNullOp) {
			return nil, unsupported("%s in WHERE", sqlparser.String(x))
		}
		pos, _, err := c.column(ref)
		if err != nil {
			return nil, err
		}
		wantNull := x.Right == sqlparser.IsNullOp
		return func(rec arrow.Record, val, known []bool) {
			arr := rec.Column(pos)
			for i := range val {
				val[i], known[i] = arr.IsNull(i) == wantNull, true
			}
		}, nil
	case *sqlparser.ColName: // a bool column on its own
		return c.comparison(&sqlparser.ComparisonExpr{Operator: sqlparser.EqualOp, Left: x, Right: sqlparser.BoolVal(true)})
	}
	return nil, unsupported("%s in WHERE", exprName(e))
}

// logical combines two conditions with AND or OR, in three-valued logic.
func (c *compiler) logical(l, r sqlparser.Expr, and bool) (predicate, error) {
	pl, err := c.compile(l)
	if err != nil {
		return nil, err
	}
	pr, err := c.compile(r)
	if err != nil {
		return nil, err
	}
	return func(rec arrow.Record, val, known []bool) {
		pl(rec, val, known)
		v2, k2 := make([]bool, len(val)), make([]bool, len(val))
		pr(rec, v2, k2)
		for i := range val {
			a, ak, b, bk := val[i], known[i], v2[i], k2[i]
			if and {
				// false wins over unknown
				known[i] = (ak && bk) || (ak && !a) || (bk && !b)
				val[i] = a && b && ak && bk
			} else {
				// true wins over unknown
				known[i] = (ak && bk) || (ak && a) || (bk && b)
				val[i] = (ak && a) || (bk && b)
			}
		}
	}, nil
}

// column resolves a column reference to its scanned position and field.
func (c *compiler) column(ref *sqlparser.ColName) (int, arrow.Field, error) {
	name, err := c.lp.columnName(ref)
	if err != nil {
		return 0, arrow.Field{}, err
	}
	i, err := lookup(c.schema, name)
	if err != nil {
		return 0, arrow.Field{}, err
	}
	pos, err := c.scanCol(i)
	return pos, c.schema.Field(i), err
}

// comparison compiles col op literal (either way round), col [NOT] IN
// (literals) and col [NOT] LIKE 'pattern'.
func (c *compiler) comparison(x *sqlparser.ComparisonExpr) (predicate, error) {
	if x.Modifier != sqlparser.Missing {
		return nil, unsupported("ANY/ALL in WHERE")
	}
	op, left, right := x.Operator, x.Left, x.Right
	if _, ok := left.(*sqlparser.ColName); !ok {
		switch op {
		case sqlparser.EqualOp, sqlparser.NotEqualOp, sqlparser.LessThanOp, sqlparser.GreaterThanOp,
			sqlparser.LessEqualOp, sqlparser.GreaterEqualOp:
			left, right, op = right, left, flip(op)
		}
	}
	ref, ok := left.(*sqlparser.ColName)
	if !ok {
		return nil, unsupported("WHERE condition %s (compare a column with a literal)", sqlparser.String(x))
	}
	if _, ok := right.(*sqlparser.ColName); ok {
		return nil, unsupported("comparing two columns in WHERE")
	}
	pos, f, err := c.column(ref)
	if err != nil {
		return nil, err
	}
	negate := false
	switch op {
	case sqlparser.NotInOp:
		op, negate = sqlparser.InOp, true
	case sqlparser.NotLikeOp:
		op, negate = sqlparser.LikeOp, true
	case sqlparser.NotEqualOp:
		op, negate = sqlparser.EqualOp, true
	case sqlparser.EqualOp, sqlparser.LessThanOp, sqlparser.GreaterThanOp, sqlparser.LessEqualOp,
		sqlparser.GreaterEqualOp, sqlparser.InOp, sqlparser.LikeOp:
	default:
		return nil, unsupported("operator %s in WHERE", strings.ToUpper(op.ToString()))
	}
	var p predicate
	switch op {
	case sqlparser.InOp:
		tuple, ok := right.(sqlparser.ValTuple)
		if !ok {
			return nil, unsupported("IN %s (only a list of literals)", sqlparser.String(right))
		}
		p, err = c.in(pos, f, tuple)
	case sqlparser.LikeOp:
		p, err = c.like(pos, f, right, x.Escape)
	default:
		p, err = c.compare(pos, f, op, right)
	}
	if err != nil || !negate {
		return p, err
	}
	return func(rec arrow.Record, val, known []bool) {
		p(rec, val, known)
		for i := range val {
			val[i] = !val[i]
		}
	}, nil
}

// lit is a literal read for a column's type.
type lit struct {
	null bool
	i    int64
	f    float64
	s    string
	b    bool
	isF  bool // a fractional number compared with an int64 column
}

// literal reads e as a value of field f's type.
func literal(f arrow.Field, e sqlparser.Expr) (lit, error) {
	if _, ok := e.(*sqlparser.NullVal); ok {
		return lit{null: true}, nil
	}
	bad := func() (lit, error) {
		return lit{}, unsupported("comparing %s column %s with %s", f.Type, f.Name, sqlparser.String(e))
	}
	switch f.Type.ID() {
	case arrow.TIMESTAMP:
		ns, err := timeLiteral(e)
		if err != nil {
			return lit{}, err
		}
		return lit{i: ns}, nil
	case arrow.BOOL:
		switch v := e.(type) {
		case sqlparser.BoolVal:
			return lit{b: bool(v)}, nil
		case *sqlparser.Literal:
			if v.Type == sqlparser.IntVal && (v.Val == "0" || v.Val == "1") {
				return lit{b: v.Val == "1"}, nil
			}
		}
		return bad()
	case arrow.STRING:
		if v, ok := e.(*sqlparser.Literal); ok && v.Type == sqlparser.StrVal {
			return lit{s: v.Val}, nil
		}
		return bad()
	case arrow.INT64, arrow.FLOAT64:
		neg := false
		if u, ok := e.(*sqlparser.UnaryExpr); ok && u.Operator == sqlparser.UMinusOp {
			neg, e = true, u.Expr
		}
		v, ok := e.(*sqlparser.Literal)
		if !ok {
			return bad()
		}
		s := v.Val
		if neg {
			s = "-" + s
		}
		switch v.Type {
		case sqlparser.IntVal:
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return lit{i: n, f: float64(n)}, nil
			}
			fl, _ := strconv.ParseFloat(s, 64)
			return lit{f: fl, isF: true}, nil
		case sqlparser.FloatVal, sqlparser.DecimalVal:
			fl, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return bad()
			}
			return lit{f: fl, isF: true}, nil
		}
		return bad()
	}
	return lit{}, unsupported("WHERE on %s column %s", f.Type, f.Name)
}

// compare compiles col op literal for =, <, <=, >, >=.
func (c *compiler) compare(pos int, f arrow.Field, op sqlparser.ComparisonExprOperator, e sqlparser.Expr) (predicate, error) {
	l, err := literal(f, e)
	if err != nil {
		return nil, err
	}
	if l.null {
		return func(_ arrow.Record, val, known []bool) { clear(val); clear(known) }, nil
	}
	return func(rec arrow.Record, val, known []bool) {
		arr := rec.Column(pos)
		setKnown(arr, known)
		switch a := arr.(type) {
		case *array.Int64:
			if l.isF {
				cmpEach(len(val), func(i int) float64 { return float64(a.Value(i)) }, l.f, op, val)
			} else {
				cmpSlice(a.Int64Values(), l.i, op, val)
			}
		case *array.Float64:
			cmpSlice(a.Float64Values(), l.f, op, val)
		case *array.Timestamp:
			m := int64(a.DataType().(*arrow.TimestampType).Unit.Multiplier())
			vals := a.TimestampValues()
			cmpEach(len(val), func(i int) int64 { return satMul(int64(vals[i]), m) }, l.i, op, val)
		case *array.String:
			cmpEach(len(val), a.Value, l.s, op, val)
		case *array.Boolean:
			b2i := func(b bool) int {
				if b {
					return 1
				}
				return 0
			}
			cmpEach(len(val), func(i int) int { return b2i(a.Value(i)) }, b2i(l.b), op, val)
		}
	}, nil
}

// satMul multiplies a time value by its unit's nanoseconds, saturating.
func satMul(v, m int64) int64 {
	switch {
	case m == 1:
		return v
	case v > math.MaxInt64/m:
		return math.MaxInt64
	case v < math.MinInt64/m:
		return math.MinInt64
	}
	return v * m
}

// setKnown marks the valid rows of arr.
func setKnown(arr arrow.Array, known []bool) {
	if arr.NullN() == 0 {
		for i := range known {
			known[i] = true
		}
		return
	}
	for i := range known {
		known[i] = arr.IsValid(i)
	}
}

// cmpSlice compares each value with l; the operator is chosen once.
func cmpSlice[T cmp.Ordered](vals []T, l T, op sqlparser.ComparisonExprOperator, out []bool) {
	switch op {
	case sqlparser.EqualOp:
		for i, v := range vals {
			out[i] = v == l
		}
	case sqlparser.LessThanOp:
		for i, v := range vals {
			out[i] = v < l
		}
	case sqlparser.LessEqualOp:
		for i, v := range vals {
			out[i] = v <= l
		}
	case sqlparser.GreaterThanOp:
		for i, v := range vals {
			out[i] = v > l
		}
	case sqlparser.GreaterEqualOp:
		for i, v := range vals {
			out[i] = v >= l
		}
	}
}

// cmpEach is cmpSlice over values read by get.
func cmpEach[T cmp.Ordered](n int, get func(int) T, l T, op sqlparser.ComparisonExprOperator, out []bool) {
	for i := range n {
		c := cmp.Compare(get(i), l)
		switch op {
		case sqlparser.EqualOp:
			out[i] = c == 0
		case sqlparser.LessThanOp:
			out[i] = c < 0
		case sqlparser.LessEqualOp:
			out[i] = c <= 0
		case sqlparser.GreaterThanOp:
			out[i] = c > 0
		case sqlparser.GreaterEqualOp:
			out[i] = c >= 0
		}
	}
}

// in compiles col IN (literals). A NULL in the list makes a non-matching
// row unknown, as in SQL.
func (c *compiler) in(pos int, f arrow.Field, tuple sqlparser.ValTuple) (predicate, error) {
	ints, floats, strs := map[int64]bool{}, map[float64]bool{}, map[string]bool{}
	bools := [2]bool{}
	hasNull := false
	for _, e := range tuple {
		l, err := literal(f, e)
		if err != nil {
			return nil, err
		}
		switch {
		case l.null:
			hasNull = true
		case l.isF:
			floats[l.f] = true
		default:
			ints[l.i], floats[l.f], strs[l.s] = true, true, true
			if l.b {
				bools[1] = true
			} else {
				bools[0] = true
			}
		}
	}
	return func(rec arrow.Record, val, known []bool) {
		arr := rec.Column(pos)
		setKnown(arr, known)
		switch a := arr.(type) {
		case *array.Int64:
			for i, v := range a.Int64Values() {
				val[i] = ints[v] || floats[float64(v)]
			}
		case *array.Float64:
			for i, v := range a.Float64Values() {
				val[i] = floats[v]
			}
		case *array.Timestamp:
			m := int64(a.DataType().(*arrow.TimestampType).Unit.Multiplier())
			for i, v := range a.TimestampValues() {
				val[i] = ints[satMul(int64(v), m)]
			}
		case *array.String:
			for i := range val {
				val[i] = strs[a.Value(i)]
			}
		case *array.Boolean:
			for i := range val {
				val[i] = bools[b01(a.Value(i))]
			}
		}
		if hasNull {
			for i := range val {
				known[i] = known[i] && val[i]
			}
		}
	}, nil
}

func b01(b bool) int {
	if b {
		return 1
	}
	return 0
}

// like compiles col LIKE 'pattern': % is any run, _ any one character,
// backslash (or the ESCAPE character) escapes; case-sensitive.
func (c *compiler) like(pos int, f arrow.Field, e sqlparser.Expr, escape sqlparser.Expr) (predicate, error) {
	if f.Type.ID() != arrow.STRING {
		return nil, unsupported("LIKE on %s column %s", f.Type, f.Name)
	}
	pl, ok := e.(*sqlparser.Literal)
	if !ok || pl.Type != sqlparser.StrVal {
		return nil, unsupported("LIKE %s (only a quoted pattern)", sqlparser.String(e))
	}
	esc := '\\'
	if escape != nil {
		el, ok := escape.(*sqlparser.Literal)
		if !ok || el.Type != sqlparser.StrVal || len([]rune(el.Val)) != 1 {
			return nil, unsupported("ESCAPE %s (only one quoted character)", sqlparser.String(escape))
		}
		esc = []rune(el.Val)[0]
	}
	re, err := likeRegexp(pl.Val, esc)
	if err != nil {
		return nil, fmt.Errorf("%w: LIKE pattern %q: %v", ErrUnsupported, pl.Val, err)
	}
	return func(rec arrow.Record, val, known []bool) {
		a := rec.Column(pos).(*array.String)
		setKnown(a, known)
		for i := range val {
			val[i] = known[i] && re.MatchString(a.Value(i))
		}
	}, nil
}

// likeRegexp translates a LIKE pattern to an anchored regular expression.
func likeRegexp(pattern string, esc rune) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString(`^(?s:`)
	escaped := false
	for _, r := range pattern {
		switch {
		case escaped:
			b.WriteString(regexp.QuoteMeta(string(r)))
			escaped = false
		case r == esc:
			escaped = true
		case r == '%':
			b.WriteString(`.*`)
		case r == '_':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	if escaped {
		b.WriteString(regexp.QuoteMeta(string(esc)))
	}
	b.WriteString(`)$`)
	return regexp.Compile(b.String())
}
