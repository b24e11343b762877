package query

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// MemSource is a Source over Arrow records held in memory: a second
// implementation beside the store, for tests (here and in callers) and for
// fixed data sets. It does not prune by time: every record is scanned and
// the engine filters. It is safe for concurrent use.
type MemSource struct {
	mu     sync.RWMutex
	tables map[string]*memTable
}

// memTable is one table of a MemSource.
type memTable struct {
	schema *arrow.Schema
	recs   []arrow.Record
}

// NewMemSource returns an empty MemSource. Release it when done.
func NewMemSource() *MemSource {
	return &MemSource{tables: make(map[string]*memTable)}
}

// Add appends rec to table, creating the table with rec's schema. Every
// record of a table has the same schema, whose field 0 is a timestamp. Add
// retains rec.
func (m *MemSource) Add(table string, rec arrow.Record) error {
	sc := rec.Schema()
	if sc.NumFields() == 0 || sc.Field(0).Type.ID() != arrow.TIMESTAMP {
		return fmt.Errorf("adding to table %s: field 0 must be a timestamp", table)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tables[table]
	if t == nil {
		t = &memTable{schema: sc}
		m.tables[table] = t
	} else if !t.schema.Equal(sc) {
		return fmt.Errorf("adding to table %s: schema %s differs from the table's %s", table, sc, t.schema)
	}
	rec.Retain()
	t.recs = append(t.recs, rec)
	return nil
}

// Tables returns the table names, sorted.
func (m *MemSource) Tables() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	names := make([]string, 0, len(m.tables))
	for n := range m.tables {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Snapshot implements Source. The range is ignored.
func (m *MemSource) Snapshot(table string, _ TimeRange) (Snapshot, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	t := m.tables[table]
	if t == nil {
		return nil, fmt.Errorf("taking snapshot: %w: %q", ErrNoTable, table)
	}
	recs := slices.Clone(t.recs)
	for _, r := range recs {
		r.Retain()
	}
	return &memSnapshot{table: table, schema: t.schema, recs: recs}, nil
}

// Release frees every record. The source must not be used afterwards;
// snapshots already taken stay valid until released.
func (m *MemSource) Release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.tables {
		for _, r := range t.recs {
			r.Release()
		}
	}
	m.tables = nil
}

// memSnapshot is a Snapshot of one MemSource table.
type memSnapshot struct {
	table  string
	schema *arrow.Schema
	recs   []arrow.Record
	once   sync.Once
}

// Schema implements Snapshot.
func (s *memSnapshot) Schema() *arrow.Schema { return s.schema }

// Scan implements Snapshot.
func (s *memSnapshot) Scan(ctx context.Context, columns []string, fn func(arrow.Record) error) error {
	idx := make([]int, 0, len(columns))
	fields := make([]arrow.Field, 0, len(columns))
	if columns == nil {
		for i, f := range s.schema.Fields() {
			idx, fields = append(idx, i), append(fields, f)
		}
	}
	for _, c := range columns {
		i := s.schema.FieldIndices(c)
		if len(i) == 0 {
			return fmt.Errorf("scanning %s: no column %q", s.table, c)
		}
		idx, fields = append(idx, i[0]), append(fields, s.schema.Field(i[0]))
	}
	out := arrow.NewSchema(fields, nil)
	cols := make([]arrow.Array, len(idx))
	for _, r := range s.recs {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("scanning %s: %w", s.table, err)
		}
		for j, i := range idx {
			cols[j] = r.Column(i)
		}
		rec := array.NewRecord(out, cols, r.NumRows())
		err := fn(rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// Release implements Snapshot.
func (s *memSnapshot) Release() {
	s.once.Do(func() {
		for _, r := range s.recs {
			r.Release()
		}
		s.recs = nil
	})
}

var (
	_ Source   = (*MemSource)(nil)
	_ Snapshot = (*memSnapshot)(nil)
)
