package arrowstore

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/lakegate/lakegate/arrowstore/rows"
)

// table is one table's schema, in-memory partitions and Parquet files.
// Guarded by Store.mu.
type table struct {
	name string
	tableSchema
	parts    map[int64]*partition // by UTC day number
	files    []*dataFile          // live Parquet files, in the order written (compacted files where their sources were)
	nextFile uint64               // number of the next part file
	written  uint64               // rows applied since Open, replayed ones included
	shape    rowShape             // columns of the last row fully checked
	log      *slog.Logger
}

func newTable(name, timeColumn string, log *slog.Logger) *table {
	return &table{
		name:        name,
		tableSchema: newTableSchema(timeColumn),
		parts:       make(map[int64]*partition),
		log:         log.With("table", name),
	}
}

// batch is an immutable record of buffered rows with the WAL sequence
// numbers it covers.
type batch struct {
	rec            arrow.Record
	minSeq, maxSeq uint64
	bytes          int64
}

// partition buffers the rows of one (table, UTC day) until they are
// flushed: sealed records, then an active builder with the table's latest
// schema. Rows arrive in WAL sequence order, so the seq ranges of batches
// ascend. Guarded by Store.mu.
type partition struct {
	day  int64
	date string // "YYYY-MM-DD"

	// batches are sealed records. A flush writes a prefix of them; they
	// stay here, visible to snapshots, until the renamed file replaces them
	// (only a flush removes batches, and flushes are serialized).
	batches []batch

	bld            *array.RecordBuilder
	bldRows        int
	bldMin, bldMax uint64
	bldBytes       int64

	rows    int
	bytes   int64
	firstAt time.Time // when the oldest buffered row arrived
}

func newPartition(day int64) *partition {
	return &partition{day: day, date: dateOf(day)}
}

// minSeq returns the lowest WAL seq of a buffered row.
func (p *partition) minSeq() (uint64, bool) {
	if len(p.batches) > 0 {
		return p.batches[0].minSeq, true
	}
	if p.bldRows > 0 {
		return p.bldMin, true
	}
	return 0, false
}

// seal turns the active builder's rows into an immutable record.
func (p *partition) seal() {
	if p.bld == nil || p.bldRows == 0 {
		return
	}
	rec := p.bld.NewRecord()
	p.batches = append(p.batches, batch{rec: rec, minSeq: p.bldMin, maxSeq: p.bldMax, bytes: p.bldBytes})
	p.bldRows, p.bldMin, p.bldMax, p.bldBytes = 0, 0, 0, 0
}

// builderFor returns a builder with the table's current schema, sealing and
// replacing the active one if the schema has grown since it was made.
func (p *partition) builderFor(mem memory.Allocator, sc *arrow.Schema) *array.RecordBuilder {
	if p.bld != nil && p.bld.Schema() == sc {
		return p.bld
	}
	if p.bld != nil {
		p.seal()
		p.bld.Release()
	}
	p.bld = array.NewRecordBuilder(mem, sc)
	return p.bld
}

// append adds one normalized row and returns its estimated size in bytes.
// fields are the schema fields of r's columns (-1: look it up by name).
// filled is scratch space of at least the schema's width, all false.
func (p *partition) append(mem memory.Allocator, ts *tableSchema, r *rows.Row, fields []int, ms int64, seq uint64, now time.Time, filled []bool) int64 {
	b := p.builderFor(mem, ts.schema)
	b.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(ms))
	nf := ts.schema.NumFields()
	size := int64(8 + nf/8 + 1)
	for j, c := range r.Columns {
		i := fields[j]
		if i < 0 {
			i = ts.index[c.Name]
		}
		size += appendValue(b.Field(i), c.Value)
		filled[i] = true
	}
	for i := 1; i < nf; i++ {
		if !filled[i] {
			b.Field(i).AppendNull()
		}
		filled[i] = false
	}
	if p.bldRows == 0 {
		p.bldMin = seq
	}
	if p.rows == 0 {
		p.firstAt = now
	}
	p.bldMax = seq
	p.bldRows++
	p.bldBytes += size
	p.rows++
	p.bytes += size
	return size
}

// appendValue appends v (already fitted to the column's kind) and returns
// its estimated size.
func appendValue(b array.Builder, v rows.Value) int64 {
	switch v.Kind {
	case rows.KindInt64:
		b.(*array.Int64Builder).Append(v.Int)
	case rows.KindFloat64:
		b.(*array.Float64Builder).Append(v.Float)
	case rows.KindBool:
		b.(*array.BooleanBuilder).Append(v.Int != 0)
		return 1
	case rows.KindString:
		b.(*array.StringBuilder).Append(v.Str)
		return int64(len(v.Str)) + 4
	case rows.KindBytes:
		b.(*array.BinaryBuilder).Append(v.Bytes)
		return int64(len(v.Bytes)) + 4
	case rows.KindTimestamp:
		b.(*array.TimestampBuilder).Append(arrow.Timestamp(nsToMs(v.Int)))
	default:
		panic(fmt.Sprintf("arrowstore: appending value of kind %s", v.Kind))
	}
	return 8
}

// dropFlushed releases the first n batches, which are now in a file, and
// returns the rows and bytes they held.
func (p *partition) dropFlushed(n int) (rowsOut int, bytesOut int64) {
	for _, b := range p.batches[:n] {
		rowsOut += int(b.rec.NumRows())
		bytesOut += b.bytes
		b.rec.Release()
	}
	rest := copy(p.batches, p.batches[n:])
	clear(p.batches[rest:])
	p.batches = p.batches[:rest]
	p.rows -= rowsOut
	p.bytes -= bytesOut
	return rowsOut, bytesOut
}

// release frees every buffer of the partition.
func (p *partition) release() {
	for _, b := range p.batches {
		b.rec.Release()
	}
	p.batches = nil
	if p.bld != nil {
		p.bld.Release()
		p.bld = nil
	}
	p.rows, p.bytes, p.bldRows = 0, 0, 0
}
