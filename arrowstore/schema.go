package arrowstore

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/lakegate/lakegate/arrowstore/rows"
)

// timestampType is the Arrow type of the time column and of every
// timestamp column: milliseconds, UTC, which Spark, pandas and DuckDB all
// read as an instant.
var timestampType arrow.DataType = &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}

// arrowType maps a row value kind to its column type.
func arrowType(k rows.Kind) arrow.DataType {
	switch k {
	case rows.KindInt64:
		return arrow.PrimitiveTypes.Int64
	case rows.KindFloat64:
		return arrow.PrimitiveTypes.Float64
	case rows.KindBool:
		return arrow.FixedWidthTypes.Boolean
	case rows.KindString:
		return arrow.BinaryTypes.String
	case rows.KindBytes:
		return arrow.BinaryTypes.Binary
	case rows.KindTimestamp:
		return timestampType
	}
	panic(fmt.Sprintf("arrowstore: no column type for kind %s", k))
}

// kindOf maps a column type found in a Parquet file back to a kind.
func kindOf(dt arrow.DataType) (rows.Kind, bool) {
	switch dt.ID() {
	case arrow.INT64:
		return rows.KindInt64, true
	case arrow.FLOAT64:
		return rows.KindFloat64, true
	case arrow.BOOL:
		return rows.KindBool, true
	case arrow.STRING:
		return rows.KindString, true
	case arrow.BINARY:
		return rows.KindBytes, true
	case arrow.TIMESTAMP:
		if arrow.TypeEqual(dt, timestampType) {
			return rows.KindTimestamp, true
		}
	}
	return rows.KindNull, false
}

// nsToMs converts unix nanoseconds to unix milliseconds, rounding toward
// negative infinity so that times before 1970 land in the right day.
func nsToMs(ns int64) int64 {
	ms := ns / 1e6
	if ns%1e6 < 0 {
		ms--
	}
	return ms
}

const msPerDay = 24 * 60 * 60 * 1000

// dayOf returns the UTC day number (days since 1970-01-01) of a unix ms time.
func dayOf(ms int64) int64 {
	d := ms / msPerDay
	if ms%msPerDay < 0 {
		d--
	}
	return d
}

// dateOf formats a day number as the partition value YYYY-MM-DD.
func dateOf(day int64) string {
	return time.UnixMilli(day * msPerDay).UTC().Format("2006-01-02")
}

// tableSchema is the evolving schema of one table: field 0 is the time
// column, the others are nullable and in order of first appearance.
type tableSchema struct {
	schema *arrow.Schema
	kinds  []rows.Kind // per field; kinds[0] is KindTimestamp
	index  map[string]int
}

func newTableSchema(timeColumn string) tableSchema {
	return tableSchema{
		schema: arrow.NewSchema([]arrow.Field{{Name: timeColumn, Type: timestampType}}, nil),
		kinds:  []rows.Kind{rows.KindTimestamp},
		index:  map[string]int{timeColumn: 0},
	}
}

// add appends nullable columns; the schema object is replaced, never
// mutated, so records and snapshots holding the old one are unaffected.
func (ts *tableSchema) add(cols []pendingColumn) {
	if len(cols) == 0 {
		return
	}
	fields := append([]arrow.Field(nil), ts.schema.Fields()...)
	for _, c := range cols {
		ts.index[c.name] = len(fields)
		ts.kinds = append(ts.kinds, c.kind)
		fields = append(fields, arrow.Field{Name: c.name, Type: arrowType(c.kind), Nullable: true})
	}
	ts.schema = arrow.NewSchema(fields, nil)
}

// pendingColumn is a column a Write will add to a table if its WAL record
// is written.
type pendingColumn struct {
	name string
	kind rows.Kind
}

// checkTableName is rows.CheckTableName plus the store's own rule: names
// starting with '_' are reserved (the WAL lives in "_wal", and Spark and
// DuckDB skip directories starting with '_' or '.').
func checkTableName(name string) error {
	if err := rows.CheckTableName(name); err != nil {
		return err
	}
	if strings.HasPrefix(name, "_") {
		return fmt.Errorf("%w: table name %q may not start with '_' (reserved for the store)", rows.ErrInvalidName, name)
	}
	return nil
}

// checkColumn validates a column name against the table's reserved names.
func checkColumn(timeColumn, table, name string) error {
	if err := rows.CheckColumnName(name); err != nil {
		return fmt.Errorf("table %q: %w", table, err)
	}
	if name == timeColumn {
		return fmt.Errorf("%w: table %q: column %q is the time column", rows.ErrInvalidName, table, name)
	}
	if strings.EqualFold(name, PartitionColumn) {
		return fmt.Errorf("%w: table %q: column %q clashes with the partition column %q", rows.ErrInvalidName, table, name, PartitionColumn)
	}
	return nil
}

// fitValue checks v against a column of kind have (KindNull: the column does
// not exist yet) and returns the value as it will be stored.
func fitValue(table, column string, have rows.Kind, v rows.Value) (rows.Value, error) {
	if v.Kind > rows.KindTimestamp {
		return v, fmt.Errorf("%w: table %q column %q: unknown value kind %d", rows.ErrSchemaConflict, table, column, v.Kind)
	}
	if v.Kind == rows.KindString && !utf8.ValidString(v.Str) {
		return v, fmt.Errorf("%w: table %q column %q: string value is not valid UTF-8 (send it as bytes)", rows.ErrSchemaConflict, table, column)
	}
	switch {
	case have == rows.KindNull || have == v.Kind:
		return v, nil
	case have == rows.KindFloat64 && v.Kind == rows.KindInt64:
		return rows.Float(float64(v.Int)), nil
	}
	return v, fmt.Errorf("%w: table %q column %q is %s, value is %s", rows.ErrSchemaConflict, table, column, have, v.Kind)
}

// rowShape remembers the column names of a table's last row that went
// through every check (names valid and distinct, all in the schema) and
// their fields. Rows of one source nearly always have the same columns in
// the same order, and a row that matches needs only its values checked.
// Fields are never removed nor retyped, so a shape stays valid.
type rowShape struct {
	names  []string
	fields []int
}

// matches reports whether cols have exactly the shape's names, in order.
func (sh *rowShape) matches(cols []rows.Column) bool {
	if len(cols) != len(sh.names) || len(cols) == 0 {
		return false
	}
	for j := range cols {
		if cols[j].Name != sh.names[j] {
			return false
		}
	}
	return true
}

// remember sets the shape to cols, whose names are all in index.
func (sh *rowShape) remember(cols []rows.Column, index map[string]int) {
	sh.names, sh.fields = sh.names[:0], sh.fields[:0]
	for _, c := range cols {
		sh.names = append(sh.names, c.Name)
		sh.fields = append(sh.fields, index[c.Name])
	}
}
