package query

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"vitess.io/vitess/go/vt/sqlparser"
)

// itemKind says what one SELECT expression is.
type itemKind uint8

const (
	itemStar   itemKind = iota // * or t.*
	itemColumn                 // a column by name
	itemCount                  // count(*)
)

// selectItem is one expression of the SELECT list, not yet bound to a schema.
type selectItem struct {
	kind   itemKind
	column string // itemColumn: the name as written
	alias  string // AS name, if any
}

// timeBound is one WHERE condition on a column, as an inclusive range of unix
// nanoseconds. The column is checked to be the time column once the schema
// is known; only then is err, from reading the literal, reported, so that
// "device = 'a'" fails for its column rather than for 'a' not being a time.
type timeBound struct {
	column string
	lo, hi int64
	err    error
	expr   sqlparser.Expr // the condition, a filter if column is not the time column
}

// logicalPlan is what the query asks for, independent of any schema.
type logicalPlan struct {
	table      string
	tableAlias string
	items      []selectItem
	bounds     []timeBound
	filters    []sqlparser.Expr // other WHERE conjuncts, compiled at bind
	order      []orderKey       // ORDER BY keys, resolved at bind; nil when none
	having     sqlparser.Expr   // HAVING condition of an aggregate query; nil when none
	distinct   bool             // SELECT DISTINCT
	limit      int64            // -1 when there is no LIMIT
	offset     int64            // rows skipped before the LIMIT ones; 0 when none
	meta       metaKind         // SHOW TABLES or DESCRIBE instead of a SELECT
	agg        *aggSpec         // aggregates and GROUP BY; nil for a plain SELECT
}

// timeRange is the intersection of all WHERE bounds, in unix nanoseconds.
// ok is false when the intersection is empty.
func (p *logicalPlan) timeRange() (tr TimeRange, ok bool) {
	return p.timeRangeOn(func(string) bool { return true })
}

// timeRangeOn is timeRange over the bounds whose column isTime accepts.
func (p *logicalPlan) timeRangeOn(isTime func(column string) bool) (tr TimeRange, ok bool) {
	tr = AllTime()
	for _, b := range p.bounds {
		if b.err != nil || !isTime(b.column) {
			continue // the query fails at bind, or b is a filter
		}
		tr.Min = max(tr.Min, b.lo)
		tr.Max = min(tr.Max, b.hi)
	}
	return tr, tr.Min <= tr.Max
}

// isCount reports whether the query is an aggregate count.
func (p *logicalPlan) isCount() bool {
	return len(p.items) > 0 && p.items[0].kind == itemCount
}

// parse turns SQL text into a logical plan.
func parse(parser *sqlparser.Parser, sql string) (*logicalPlan, error) {
	stmt, err := safeParse(parser, sql)
	if err != nil {
		return nil, err
	}
	if lp, ok, err := planMeta(stmt); ok {
		return lp, err
	}
	sel, ok := stmt.(*sqlparser.Select)
	if !ok {
		return nil, unsupported("%s", statementName(stmt))
	}
	return planSelect(sel)
}

// safeParse parses sql, turning a parser error into a *SyntaxError. The
// parser is generated code that can panic on odd input (vitess v0.24.4 does
// on "SET ````", found by FuzzQuery); such a panic is a syntax error too, one
// the engine logs as a parser bug.
func safeParse(parser *sqlparser.Parser, sql string) (stmt sqlparser.Statement, err error) {
	defer func() {
		if r := recover(); r != nil {
			stmt, err = nil, &SyntaxError{Msg: "syntax error: the SQL parser failed on this query", panicked: r}
		}
	}()
	stmt, err = parser.Parse(sql)
	if err != nil {
		return nil, syntaxError(parser, sql, err)
	}
	return stmt, nil
}

// syntaxError turns a parser error into a *SyntaxError. vitess's Parse keeps
// only the text of the positioned error, so on this (cold) path the SQL is
// parsed once more with ParseMultiple, which returns the error itself.
func syntaxError(parser *sqlparser.Parser, sql string, err error) error {
	switch {
	case errors.Is(err, sqlparser.ErrEmpty):
		return &SyntaxError{Msg: "syntax error: the query is empty"}
	case errors.Is(err, sqlparser.ErrMultipleStatements):
		return unsupported("more than one statement")
	}
	var pe sqlparser.PositionedErr
	if _, err2 := parser.ParseMultiple(sql); errors.As(err2, &pe) {
		return &SyntaxError{Pos: pe.Pos, Near: pe.Near, Msg: pe.Err}
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "syntax error") {
		msg = "syntax error: " + msg
	}
	return &SyntaxError{Msg: msg}
}

// statementName names a statement kind for an "unsupported" error.
func statementName(stmt sqlparser.Statement) string {
	switch stmt.(type) {
	case *sqlparser.Union:
		return "UNION"
	case *sqlparser.Show:
		return "SHOW statements"
	case *sqlparser.ExplainStmt, *sqlparser.ExplainTab:
		return "EXPLAIN"
	}
	return sqlparser.ASTToStatementType(stmt).String() + " statements"
}

// planSelect checks a SELECT against today's grammar and extracts the plan.
func planSelect(sel *sqlparser.Select) (*logicalPlan, error) {
	switch {
	case sel.With != nil:
		return nil, unsupported("WITH (common table expressions)")
	case len(sel.Windows) > 0:
		return nil, unsupported("WINDOW")
	case sel.Into != nil:
		return nil, unsupported("SELECT ... INTO")
	case sel.Lock != sqlparser.NoLock:
		return nil, unsupported("locking reads (FOR UPDATE, LOCK IN SHARE MODE)")
	}
	p := &logicalPlan{limit: -1}
	if err := p.from(sel.From); err != nil {
		return nil, err
	}
	p.distinct = sel.Distinct
	switch {
	case isAggregate(sel):
		if err := p.planAggregate(sel); err != nil {
			return nil, err
		}
	case sel.Distinct:
		// SELECT DISTINCT cols is GROUP BY cols.
		if err := p.planDistinct(sel); err != nil {
			return nil, err
		}
	default:
		if err := p.selectList(sel.SelectExprs); err != nil {
			return nil, err
		}
	}
	if sel.Having != nil {
		if p.agg == nil {
			return nil, unsupported("HAVING without GROUP BY or aggregates (use WHERE)")
		}
		p.having = sel.Having.Expr
	}
	if sel.Where != nil {
		if err := p.where(sel.Where.Expr); err != nil {
			return nil, err
		}
	}
	if err := p.orderClause(sel.OrderBy); err != nil {
		return nil, err
	}
	if err := p.limitClause(sel.Limit); err != nil {
		return nil, err
	}
	return p, nil
}

// from accepts exactly one plain table, optionally aliased.
func (p *logicalPlan) from(from []sqlparser.TableExpr) error {
	if len(from) != 1 {
		return unsupported("joins (more than one table in FROM)")
	}
	switch t := from[0].(type) {
	case *sqlparser.AliasedTableExpr:
		name, ok := t.Expr.(sqlparser.TableName)
		if !ok {
			if _, sub := t.Expr.(*sqlparser.DerivedTable); sub {
				return unsupported("subqueries")
			}
			return unsupported("FROM %s", sqlparser.String(t.Expr))
		}
		switch {
		case len(t.Partitions) > 0:
			return unsupported("PARTITION")
		case len(t.Hints) > 0:
			return unsupported("index hints")
		case len(t.Columns) > 0:
			return unsupported("column aliases on a table")
		case !name.Qualifier.IsEmpty():
			return unsupported("database-qualified table names (%s)", sqlparser.String(name))
		case name.Name.String() == "dual":
			return unsupported("SELECT without FROM")
		}
		p.table = name.Name.String()
		p.tableAlias = t.As.String()
		return nil
	case *sqlparser.JoinTableExpr:
		return unsupported("JOIN")
	default:
		return unsupported("FROM %s", sqlparser.String(t))
	}
}

// qualifierOK reports whether a column qualifier names the query's table.
func (p *logicalPlan) qualifierOK(q sqlparser.TableName) bool {
	if q.IsEmpty() {
		return true
	}
	if !q.Qualifier.IsEmpty() {
		return false
	}
	n := q.Name.String()
	if p.tableAlias != "" {
		return n == p.tableAlias
	}
	return n == p.table
}

// columnName returns the name of a column reference, checking its qualifier.
func (p *logicalPlan) columnName(c *sqlparser.ColName) (string, error) {
	if !p.qualifierOK(c.Qualifier) {
		return "", noColumn(sqlparser.String(c))
	}
	return c.Name.String(), nil
}

// selectList reads the SELECT expressions: *, columns, or count(*) only.
func (p *logicalPlan) selectList(exprs *sqlparser.SelectExprs) error {
	if exprs == nil || len(exprs.Exprs) == 0 {
		return unsupported("an empty SELECT list")
	}
	counts := 0
	for _, e := range exprs.Exprs {
		switch x := e.(type) {
		case *sqlparser.StarExpr:
			if !p.qualifierOK(x.TableName) {
				return noColumn(sqlparser.String(x))
			}
			p.items = append(p.items, selectItem{kind: itemStar})
		case *sqlparser.AliasedExpr:
			item := selectItem{alias: x.As.String()}
			switch v := x.Expr.(type) {
			case *sqlparser.ColName:
				name, err := p.columnName(v)
				if err != nil {
					return err
				}
				item.kind, item.column = itemColumn, name
			case *sqlparser.CountStar:
				item.kind = itemCount
				counts++
			default:
				return unsupported("%s in SELECT (only columns, * and count(*))", exprName(x.Expr))
			}
			p.items = append(p.items, item)
		default:
			return unsupported("%s in SELECT", sqlparser.String(e))
		}
	}
	if counts > 0 && counts != len(p.items) {
		return unsupported("count(*) together with columns (that needs GROUP BY)")
	}
	return nil
}

// exprName describes an expression for an error message.
func exprName(e sqlparser.Expr) string {
	switch x := e.(type) {
	case *sqlparser.FuncExpr:
		return "function " + x.Name.String() + "()"
	case *sqlparser.Subquery:
		return "subqueries"
	case sqlparser.AggrFunc:
		return "aggregate " + sqlparser.String(x)
	}
	return "expression " + sqlparser.String(e)
}

// where reads the WHERE clause: comparisons of the time column with literals,
// joined by AND.
func (p *logicalPlan) where(e sqlparser.Expr) error {
	switch x := e.(type) {
	case *sqlparser.AndExpr:
		if err := p.where(x.Left); err != nil {
			return err
		}
		return p.where(x.Right)
	case *sqlparser.ComparisonExpr:
		return p.comparison(x)
	case *sqlparser.BetweenExpr:
		return p.between(x)
	default:
		p.filters = append(p.filters, e)
		return nil
	}
}

// comparison reads "col op literal" or "literal op col".
func (p *logicalPlan) comparison(c *sqlparser.ComparisonExpr) error {
	if c.Modifier != sqlparser.Missing {
		return unsupported("ANY/ALL in WHERE")
	}
	op := c.Operator
	switch op {
	case sqlparser.EqualOp, sqlparser.LessThanOp, sqlparser.GreaterThanOp, sqlparser.LessEqualOp, sqlparser.GreaterEqualOp:
	default:
		p.filters = append(p.filters, c)
		return nil
	}
	col, lit := c.Left, c.Right
	if _, ok := col.(*sqlparser.ColName); !ok {
		col, lit = lit, col
		op = flip(op)
	}
	ref, ok := col.(*sqlparser.ColName)
	if !ok {
		return unsupported("WHERE condition %s (compare a column with a literal)", sqlparser.String(c))
	}
	if _, ok := lit.(*sqlparser.ColName); ok {
		return unsupported("comparing two columns in WHERE")
	}
	name, err := p.columnName(ref)
	if err != nil {
		return err
	}
	v, err := timeLiteral(lit)
	b := timeBound{column: name, lo: math.MinInt64, hi: math.MaxInt64, err: err, expr: c}
	switch op {
	case sqlparser.EqualOp:
		b.lo, b.hi = v, v
	case sqlparser.GreaterEqualOp:
		b.lo = v
	case sqlparser.LessEqualOp:
		b.hi = v
	case sqlparser.GreaterThanOp:
		if v == math.MaxInt64 {
			b.lo, b.hi = math.MaxInt64, math.MinInt64 // empty
		} else {
			b.lo = v + 1
		}
	case sqlparser.LessThanOp:
		if v == math.MinInt64 {
			b.lo, b.hi = math.MaxInt64, math.MinInt64 // empty
		} else {
			b.hi = v - 1
		}
	}
	p.bounds = append(p.bounds, b)
	return nil
}

// flip mirrors a comparison so that "lit op col" reads as "col op' lit".
func flip(op sqlparser.ComparisonExprOperator) sqlparser.ComparisonExprOperator {
	switch op {
	case sqlparser.LessThanOp:
		return sqlparser.GreaterThanOp
	case sqlparser.GreaterThanOp:
		return sqlparser.LessThanOp
	case sqlparser.LessEqualOp:
		return sqlparser.GreaterEqualOp
	case sqlparser.GreaterEqualOp:
		return sqlparser.LessEqualOp
	}
	return op
}

// between reads "col BETWEEN a AND b".
func (p *logicalPlan) between(b *sqlparser.BetweenExpr) error {
	ref, ok := b.Left.(*sqlparser.ColName)
	if !b.IsBetween || !ok {
		p.filters = append(p.filters, b)
		return nil
	}
	name, err := p.columnName(ref)
	if err != nil {
		return err
	}
	lo, err := timeLiteral(b.From)
	hi, err2 := timeLiteral(b.To)
	p.bounds = append(p.bounds, timeBound{column: name, lo: lo, hi: hi, err: cmp.Or(err, err2), expr: b})
	return nil
}

// timeLayouts are the accepted forms of a quoted time; one without a zone is
// UTC. A fraction of a second is accepted after the seconds in each.
var timeLayouts = [...]string{
	time.RFC3339,
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02 15:04",
	"2006-01-02",
}

// minTime and maxTime bound the instants an int64 of nanoseconds can hold.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// timeLiteral evaluates a literal compared with the time column to unix
// nanoseconds: a quoted date or date-time, or an integer of epoch
// milliseconds.
func timeLiteral(e sqlparser.Expr) (int64, error) {
	neg := false
	if u, ok := e.(*sqlparser.UnaryExpr); ok && (u.Operator == sqlparser.UMinusOp || u.Operator == sqlparser.UPlusOp) {
		neg = u.Operator == sqlparser.UMinusOp
		e = u.Expr
		if l, ok := e.(*sqlparser.Literal); !ok || l.Type != sqlparser.IntVal {
			return 0, unsupported("time value %s", sqlparser.String(e))
		}
	}
	switch x := e.(type) {
	case *sqlparser.Literal:
		switch x.Type {
		case sqlparser.StrVal, sqlparser.DateVal, sqlparser.TimestampVal:
			return parseTime(x.Val)
		case sqlparser.IntVal:
			s := x.Val
			if neg {
				s = "-" + s
			}
			ms, err := strconv.ParseInt(s, 10, 64)
			if err != nil || ms < math.MinInt64/int64(time.Millisecond) || ms > math.MaxInt64/int64(time.Millisecond) {
				return 0, unsupported("time %s ms: outside the years 1678 to 2262", s)
			}
			return ms * int64(time.Millisecond), nil
		case sqlparser.FloatVal, sqlparser.DecimalVal:
			return 0, unsupported("fractional epoch time %s (use integer milliseconds or a quoted time)", x.Val)
		default:
			return 0, unsupported("time value %s", sqlparser.String(x))
		}
	case *sqlparser.NullVal:
		return 0, unsupported("comparison with NULL")
	case *sqlparser.Argument:
		return 0, unsupported("bind variables")
	default:
		return 0, unsupported("%s as a time value (use a quoted time or integer epoch milliseconds)", exprName(e))
	}
}

// parseTime parses a quoted time literal to unix nanoseconds.
func parseTime(s string) (int64, error) {
	for _, layout := range timeLayouts {
		t, err := time.Parse(layout, s)
		if err != nil {
			continue
		}
		if t.Before(minTime) || t.After(maxTime) {
			return 0, unsupported("time %q: outside the years 1678 to 2262", s)
		}
		return t.UnixNano(), nil
	}
	return 0, fmt.Errorf("%w: cannot read %q as a time (want RFC 3339 like 2023-11-14T22:13:20Z, 2023-11-14 22:13:20 or 2023-11-14)", ErrSyntax, s)
}

// orderKey is one ORDER BY key as written; bind resolves it against the
// output columns.
type orderKey struct {
	expr sqlparser.Expr
	desc bool
}

// orderClause reads ORDER BY: keys resolved at bind (columns, output aliases,
// 1-based positions, and in an aggregate query aggregates).
func (p *logicalPlan) orderClause(ob sqlparser.OrderBy) error {
	for _, o := range ob {
		if ref, ok := o.Expr.(*sqlparser.ColName); ok && !p.qualifierOK(ref.Qualifier) {
			return noColumn(sqlparser.String(ref))
		}
		p.order = append(p.order, orderKey{expr: o.Expr, desc: o.Direction == sqlparser.DescOrder})
	}
	return nil
}

// limitClause reads LIMIT n [OFFSET m] (or LIMIT m, n).
func (p *logicalPlan) limitClause(l *sqlparser.Limit) error {
	if l == nil {
		return nil
	}
	n, err := intLiteral("LIMIT", l.Rowcount)
	if err != nil {
		return err
	}
	p.limit = n
	if l.Offset != nil {
		if p.offset, err = intLiteral("OFFSET", l.Offset); err != nil {
			return err
		}
	}
	return nil
}

// intLiteral reads the non-negative integer of a LIMIT or OFFSET; one too
// large for int64 is larger than any result, so it reads as MaxInt64.
func intLiteral(clause string, e sqlparser.Expr) (int64, error) {
	lit, ok := e.(*sqlparser.Literal)
	if !ok || lit.Type != sqlparser.IntVal {
		return 0, unsupported("%s %s (only an integer)", clause, sqlparser.String(e))
	}
	n, err := strconv.ParseInt(lit.Val, 10, 64)
	if err != nil {
		n = math.MaxInt64
	}
	return n, nil
}
