package query

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"vitess.io/vitess/go/vt/sqlparser"
)

// DefaultMaxRows is the default for Options.MaxRows.
const DefaultMaxRows = 100_000

// Options configure an Engine. The zero value is usable.
type Options struct {
	// Allocator allocates the Arrow memory the engine needs while it runs a
	// query; nil means memory.DefaultAllocator. Every byte is freed before
	// Query returns.
	Allocator memory.Allocator `mapstructure:"-"`
	// Logger receives a debug line per query; nil discards.
	Logger *slog.Logger `mapstructure:"-"`
	// MaxRows caps the rows of a result; 0 means DefaultMaxRows. A query
	// whose result would be larger fails with ErrTooManyRows instead of
	// returning a silently cut result: a LIMIT of at most MaxRows never
	// fails, and an aggregate (count(*)) is one row whatever it counts.
	MaxRows int `mapstructure:"max_rows"`
	// Parallelism is how many goroutines scan and aggregate at once for an
	// aggregate query over a Source whose snapshots are ParallelScanners;
	// 0 means GOMAXPROCS, 1 scans on one goroutine.
	Parallelism int `mapstructure:"parallelism"`
}

// withDefaults fills in the zero fields.
func (o Options) withDefaults() Options {
	if o.Allocator == nil {
		o.Allocator = memory.DefaultAllocator
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxRows <= 0 {
		o.MaxRows = DefaultMaxRows
	}
	if o.Parallelism <= 0 {
		o.Parallelism = runtime.GOMAXPROCS(0)
	}
	return o
}

// Result is the answer to a query, row by row, ready to encode.
//
// Rows[i][j] is the value of column j in row i: int64, float64, bool,
// string, []byte, time.Time (UTC) for a timestamp, or nil for null, as
// Types[j] says ("int64", "float64", "bool", "string", "bytes",
// "timestamp"). The result owns its values: nothing refers to Arrow memory.
type Result struct {
	Columns []string
	Types   []string
	Rows    [][]any
}

// Engine runs SQL queries over a Source. It is safe for concurrent use.
type Engine struct {
	src     Source
	parser  *sqlparser.Parser
	initErr error
	opts    Options
}

// NewEngine returns an engine reading from src.
func NewEngine(src Source, opts Options) *Engine {
	e := &Engine{src: src, opts: opts.withDefaults()}
	// New fails only on a malformed MySQL version, and none is given; keep
	// the error for Query rather than panic.
	e.parser, e.initErr = sqlparser.New(sqlparser.Options{})
	if e.initErr != nil {
		e.initErr = fmt.Errorf("creating sql parser: %w", e.initErr)
	}
	return e
}

// sourceErr wraps an error from Source.Snapshot.
func sourceErr(table string, err error) error {
	if errors.Is(err, ErrNoTable) {
		return noTable(table)
	}
	return fmt.Errorf("opening table %s: %w", table, err)
}

// Query runs one SQL statement. Errors from the query itself wrap ErrSyntax,
// ErrUnsupported, ErrNoTable, ErrNoColumn or ErrTooManyRows; any other error
// comes from the source.
func (e *Engine) Query(ctx context.Context, sql string) (*Result, error) {
	if e.initErr != nil {
		return nil, e.initErr
	}
	start := time.Now()
	lp, err := parse(e.parser, sql)
	if err != nil {
		if se := (*SyntaxError)(nil); errors.As(err, &se) && se.panicked != nil {
			e.opts.Logger.Warn("sql parser panicked", "query", sql, "panic", se.panicked)
		}
		return nil, err
	}
	if lp.meta != metaNone {
		return e.runMeta(lp)
	}
	log := e.opts.Logger.With("table", lp.table)

	tr, ok := lp.timeRange()
	if !ok {
		// No row can match; the snapshot only supplies the schema.
		tr.Max = tr.Min
	}
	snap, err := e.src.Snapshot(lp.table, tr)
	if err != nil {
		return nil, sourceErr(lp.table, err)
	}
	defer snap.Release()

	bp, err := bind(lp, snap.Schema())
	if err != nil {
		return nil, err
	}
	if bp.widen {
		// A condition on another column narrowed the range read: read the
		// range of the time column's conditions alone.
		schema := snap.Schema()
		tr, ok = lp.timeRangeOn(func(col string) bool { i, err := lookup(schema, col); return err == nil && i == 0 })
		if !ok {
			tr.Max = tr.Min
		}
		snap2, err := e.src.Snapshot(lp.table, tr)
		if err != nil {
			return nil, sourceErr(lp.table, err)
		}
		defer snap2.Release()
		snap = snap2
		if bp, err = bind(lp, snap.Schema()); err != nil {
			return nil, err
		}
	}
	res := &Result{
		Columns: make([]string, bp.visible),
		Types:   make([]string, bp.visible),
	}
	for i, oc := range bp.out[:bp.visible] {
		res.Columns[i], res.Types[i] = oc.name, oc.typ
	}

	if bp.agg != nil {
		if res.Rows, err = e.runAggregate(ctx, snap, bp); err != nil {
			return nil, err
		}
		log.Debug("aggregate query done", "rows", len(res.Rows), "elapsed", time.Since(start))
		return res, nil
	}

	c := newCollector(ctx, e.opts.Allocator, bp, e.opts.MaxRows)
	defer c.release()
	if !bp.empty && (bp.count || bp.limit != 0) {
		fn := c.add
		if bp.count {
			fn = c.count
		}
		err := snap.Scan(ctx, bp.scan, func(rec arrow.Record) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return fn(rec)
		})
		if err != nil {
			if errors.Is(err, ErrTooManyRows) {
				return nil, err
			}
			return nil, fmt.Errorf("scanning table %s: %w", lp.table, err)
		}
	}

	switch {
	case bp.count && bp.limit != 0 && bp.offset == 0:
		row := make([]any, len(bp.out))
		for i := range row {
			row[i] = c.matched
		}
		res.Rows = [][]any{row}
	case bp.count:
		res.Rows = [][]any{}
	default:
		res.Rows = c.rows()
	}
	log.Debug("query done", "rows", len(res.Rows), "matched", c.matched, "compactions", c.compacted, "elapsed", time.Since(start))
	return res, nil
}
