package query

import (
	"cmp"
	"math"
	"strconv"
	"time"

	"vitess.io/vitess/go/vt/sqlparser"
)

// rowPredicate evaluates a HAVING condition over one output row of an
// aggregate query, in SQL's three-valued logic: known is false when the
// answer is unknown (NULL). Only rows with val && known are kept. It runs
// once per group, not per scanned row, so it works on Go values.
type rowPredicate func(row []any) (val, known bool)

// havingCompiler compiles a HAVING condition against the output columns of
// an aggregate query.
type havingCompiler struct {
	// resolve finds the output column an expression means, adding a hidden
	// one for an aggregate not in the SELECT list.
	resolve func(e sqlparser.Expr) (int, error)
	// typeOf gives an output column's Result.Types name.
	typeOf func(j int) string
}

// operand is one side of a HAVING comparison: an output column, or a
// constant read for the type of the column on the other side.
type operand struct {
	col   int // -1 for a constant
	value any
}

func (o operand) of(row []any) any {
	if o.col < 0 {
		return o.value
	}
	return row[o.col]
}

// compile turns e into a rowPredicate.
func (h *havingCompiler) compile(e sqlparser.Expr) (rowPredicate, error) {
	switch x := e.(type) {
	case *sqlparser.AndExpr, *sqlparser.OrExpr:
		var l, r sqlparser.Expr
		and := false
		if a, ok := x.(*sqlparser.AndExpr); ok {
			l, r, and = a.Left, a.Right, true
		} else {
			o := x.(*sqlparser.OrExpr)
			l, r = o.Left, o.Right
		}
		pl, err := h.compile(l)
		if err != nil {
			return nil, err
		}
		pr, err := h.compile(r)
		if err != nil {
			return nil, err
		}
		return func(row []any) (bool, bool) {
			a, ak := pl(row)
			b, bk := pr(row)
			if and {
				return a && b && ak && bk, (ak && bk) || (ak && !a) || (bk && !b)
			}
			return (ak && a) || (bk && b), (ak && bk) || (ak && a) || (bk && b)
		}, nil
	case *sqlparser.NotExpr:
		p, err := h.compile(x.Expr)
		if err != nil {
			return nil, err
		}
		return func(row []any) (bool, bool) { v, k := p(row); return !v, k }, nil
	case *sqlparser.BetweenExpr:
		lo := &sqlparser.ComparisonExpr{Operator: sqlparser.GreaterEqualOp, Left: x.Left, Right: x.From}
		hi := &sqlparser.ComparisonExpr{Operator: sqlparser.LessEqualOp, Left: x.Left, Right: x.To}
		var both sqlparser.Expr = &sqlparser.AndExpr{Left: lo, Right: hi}
		if !x.IsBetween {
			both = &sqlparser.NotExpr{Expr: both}
		}
		return h.compile(both)
	case *sqlparser.IsExpr:
		if x.Right != sqlparser.IsNullOp && x.Right != sqlparser.IsNotNullOp {
			return nil, unsupported("%s in HAVING", sqlparser.String(x))
		}
		j, err := h.resolve(x.Left)
		if err != nil {
			return nil, err
		}
		wantNull := x.Right == sqlparser.IsNullOp
		return func(row []any) (bool, bool) { return (row[j] == nil) == wantNull, true }, nil
	case *sqlparser.ComparisonExpr:
		return h.comparison(x)
	}
	return nil, unsupported("%s in HAVING", exprName(e))
}

// isConstant reports whether e is a literal (possibly negated) or NULL.
func isConstant(e sqlparser.Expr) bool {
	switch x := e.(type) {
	case *sqlparser.Literal, *sqlparser.NullVal, sqlparser.BoolVal:
		return true
	case *sqlparser.UnaryExpr:
		_, ok := x.Expr.(*sqlparser.Literal)
		return ok && (x.Operator == sqlparser.UMinusOp || x.Operator == sqlparser.UPlusOp)
	}
	return false
}

// comparison compiles a op b, where each side is an output expression or a
// constant, and a [NOT] IN (constants).
func (h *havingCompiler) comparison(x *sqlparser.ComparisonExpr) (rowPredicate, error) {
	if x.Modifier != sqlparser.Missing {
		return nil, unsupported("ANY/ALL in HAVING")
	}
	op, left, right := x.Operator, x.Left, x.Right
	switch op {
	case sqlparser.InOp, sqlparser.NotInOp:
		j, err := h.resolve(left)
		if err != nil {
			return nil, err
		}
		tuple, ok := right.(sqlparser.ValTuple)
		if !ok {
			return nil, unsupported("IN %s in HAVING (only a list of literals)", sqlparser.String(right))
		}
		vals := make([]any, len(tuple))
		for i, e := range tuple {
			if vals[i], err = constant(h.typeOf(j), e); err != nil {
				return nil, err
			}
		}
		negate := op == sqlparser.NotInOp
		return func(row []any) (bool, bool) {
			v := row[j]
			if v == nil {
				return false, false
			}
			sawNull := false
			for _, c := range vals {
				if c == nil {
					sawNull = true
				} else if compareAny(v, c) == 0 {
					return !negate, true
				}
			}
			return negate, !sawNull
		}, nil
	case sqlparser.EqualOp, sqlparser.NotEqualOp, sqlparser.LessThanOp, sqlparser.LessEqualOp,
		sqlparser.GreaterThanOp, sqlparser.GreaterEqualOp:
	default:
		return nil, unsupported("operator %s in HAVING", op.ToString())
	}
	if isConstant(left) && !isConstant(right) {
		left, right, op = right, left, flip(op)
	}
	if isConstant(left) {
		return nil, unsupported("HAVING %s (compare an aggregate or group key)", sqlparser.String(x))
	}
	j, err := h.resolve(left)
	if err != nil {
		return nil, err
	}
	a, b := operand{col: j}, operand{col: -1}
	if isConstant(right) {
		if b.value, err = constant(h.typeOf(j), right); err != nil {
			return nil, err
		}
	} else if b.col, err = h.resolve(right); err != nil {
		return nil, err
	}
	return func(row []any) (bool, bool) {
		va, vb := a.of(row), b.of(row)
		if va == nil || vb == nil {
			return false, false
		}
		c := compareAny(va, vb)
		switch op {
		case sqlparser.EqualOp:
			return c == 0, true
		case sqlparser.NotEqualOp:
			return c != 0, true
		case sqlparser.LessThanOp:
			return c < 0, true
		case sqlparser.LessEqualOp:
			return c <= 0, true
		case sqlparser.GreaterThanOp:
			return c > 0, true
		}
		return c >= 0, true
	}, nil
}

// constant reads a literal compared in HAVING with an output column of type
// typ, as the Go value that column holds (nil for NULL).
func constant(typ string, e sqlparser.Expr) (any, error) {
	if _, ok := e.(*sqlparser.NullVal); ok {
		return nil, nil
	}
	bad := func() (any, error) {
		return nil, unsupported("comparing %s output with %s in HAVING", typ, sqlparser.String(e))
	}
	switch typ {
	case TypeTimestamp:
		ns, err := timeLiteral(e)
		if err != nil {
			return nil, err
		}
		return time.Unix(0, ns).UTC(), nil
	case TypeBool:
		switch v := e.(type) {
		case sqlparser.BoolVal:
			return bool(v), nil
		case *sqlparser.Literal:
			if v.Type == sqlparser.IntVal && (v.Val == "0" || v.Val == "1") {
				return v.Val == "1", nil
			}
		}
		return bad()
	case TypeString:
		if v, ok := e.(*sqlparser.Literal); ok && v.Type == sqlparser.StrVal {
			return v.Val, nil
		}
		return bad()
	case TypeInt64, TypeFloat64:
		neg := false
		if u, ok := e.(*sqlparser.UnaryExpr); ok {
			neg, e = u.Operator == sqlparser.UMinusOp, u.Expr
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
				return n, nil
			}
			f, _ := strconv.ParseFloat(s, 64)
			return f, nil
		case sqlparser.FloatVal, sqlparser.DecimalVal:
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return bad()
			}
			return f, nil
		}
	}
	return bad()
}

// compareAny is compareValues that also compares an int64 with a float64
// (exactly where the float is integral and in range, else as floats).
func compareAny(a, b any) int {
	switch x := a.(type) {
	case int64:
		if y, ok := b.(float64); ok {
			return -compareFloatInt(y, x)
		}
	case float64:
		if y, ok := b.(int64); ok {
			return compareFloatInt(x, y)
		}
	}
	return compareValues(a, b)
}

// compareFloatInt compares a float64 with an int64 without losing the
// int64's precision where the float is an integer in int64's range.
func compareFloatInt(f float64, i int64) int {
	if f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 {
		return cmp.Compare(int64(f), i)
	}
	return cmp.Compare(f, float64(i))
}
