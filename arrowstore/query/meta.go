package query

import (
	"slices"

	"vitess.io/vitess/go/vt/sqlparser"
)

// metaKind marks a statement about the catalog rather than a SELECT.
type metaKind uint8

const (
	metaNone       metaKind = iota
	metaShowTables          // SHOW TABLES
	metaDescribe            // DESCRIBE t, DESC t, SHOW COLUMNS FROM t
)

// TableLister is implemented by a Source that can list its tables; SHOW
// TABLES needs it. StoreSource and MemSource do.
type TableLister interface {
	// Tables returns the table names, sorted.
	Tables() []string
}

// planMeta recognises SHOW TABLES and DESCRIBE; ok is false for other
// statements.
func planMeta(stmt sqlparser.Statement) (lp *logicalPlan, ok bool, err error) {
	switch s := stmt.(type) {
	case *sqlparser.Show:
		b, isBasic := s.Internal.(*sqlparser.ShowBasic)
		if !isBasic {
			return nil, false, nil
		}
		switch {
		case b.Command != sqlparser.Table && b.Command != sqlparser.Column:
			return nil, false, nil
		case b.Full:
			return nil, true, unsupported("SHOW FULL")
		case b.Filter != nil:
			return nil, true, unsupported("LIKE or WHERE in SHOW")
		case !b.DbName.IsEmpty() || !b.Tbl.Qualifier.IsEmpty():
			return nil, true, unsupported("database names")
		case b.Command == sqlparser.Table:
			return &logicalPlan{meta: metaShowTables}, true, nil
		}
		return &logicalPlan{meta: metaDescribe, table: b.Tbl.Name.String()}, true, nil
	case *sqlparser.ExplainTab:
		switch {
		case s.Wild != "":
			return nil, true, unsupported("DESCRIBE of one column")
		case !s.Table.Qualifier.IsEmpty():
			return nil, true, unsupported("database names")
		}
		return &logicalPlan{meta: metaDescribe, table: s.Table.Name.String()}, true, nil
	}
	return nil, false, nil
}

// runMeta answers SHOW TABLES and DESCRIBE.
//
// SHOW TABLES gives one column, "table". DESCRIBE gives one row per column
// of the table in schema order: "column", "type" (as in Result.Types) and
// "time" (true for the time column, field 0).
func (e *Engine) runMeta(lp *logicalPlan) (*Result, error) {
	if lp.meta == metaShowTables {
		tl, ok := e.src.(TableLister)
		if !ok {
			return nil, unsupported("SHOW TABLES on this source")
		}
		names := slices.Clone(tl.Tables())
		slices.Sort(names)
		res := &Result{Columns: []string{"table"}, Types: []string{TypeString}, Rows: make([][]any, 0, len(names))}
		for _, n := range names {
			res.Rows = append(res.Rows, []any{n})
		}
		return res, nil
	}
	tr := AllTime()
	tr.Max = tr.Min // the schema only
	snap, err := e.src.Snapshot(lp.table, tr)
	if err != nil {
		return nil, sourceErr(lp.table, err)
	}
	defer snap.Release()
	schema := snap.Schema()
	res := &Result{Columns: []string{"column", "type", "time"}, Types: []string{TypeString, TypeString, TypeBool},
		Rows: make([][]any, 0, schema.NumFields())}
	for i, f := range schema.Fields() {
		typ, err := typeName(f.Type)
		if err != nil {
			typ = f.Type.String()
		}
		res.Rows = append(res.Rows, []any{f.Name, typ, i == 0})
	}
	return res, nil
}
