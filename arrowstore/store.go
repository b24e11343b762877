// Package arrowstore stores the typed rows of lakegate as Parquet files that
// Spark, pandas and DuckDB read directly, and keeps the promise behind every
// PUBACK: a durable Write that returned is on disk, and survives a crash.
//
// Each Write is appended to a write-ahead log and to in-memory Arrow
// buffers, one per (table, UTC day); buffers are flushed to Hive-style
// Parquet partitions "<dir>/<table>/date=YYYY-MM-DD/part-<n>.parquet", and
// log segments are deleted once every row in them is in a file. Open
// replays the log. Snapshot gives a consistent view of the buffers and
// files of one table. See README.md for the layout and the reasons.
package arrowstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/lakegate/lakegate/arrowstore/internal/wal"
	"github.com/lakegate/lakegate/arrowstore/latency"
	"github.com/lakegate/lakegate/arrowstore/rows"
)

// ErrNoTable is returned by Snapshot for a table the store does not know.
var ErrNoTable = errors.New("no such table")

// ErrBackpressure is returned by Write, storing nothing, while the store
// holds more than Options.MaxBufferedBytes of rows not yet in Parquet, or
// while flushes keep failing. The caller should refuse the message (MQTT 5:
// reason 0x97 quota exceeded) so the client retries later; nothing already
// acknowledged is dropped.
var ErrBackpressure = errors.New("store overloaded: too many rows waiting for Parquet")

// flushFailuresForBackpressure is how many flushes in a row must fail
// before Write refuses rows.
const flushFailuresForBackpressure = 3

// walDirName is the log directory inside Options.Dir. Readers of the data
// directory skip it because it starts with '_'.
const walDirName = "_wal"

// WriteResult says what a Write did with its rows.
type WriteResult struct {
	Stored   int         // rows accepted (logged and buffered)
	Rejected []Rejection // rows that could not be stored, with the reason
	// LogSeq is the write-ahead log record holding the stored rows (0 when
	// none was stored); SyncTo(LogSeq) waits until they are on disk.
	LogSeq uint64
}

// Rejection is one row of a Write that was not stored.
type Rejection struct {
	Index int   // position of the row in the Write
	Err   error // wraps rows.ErrSchemaConflict or rows.ErrInvalidName
}

// Stats are counters for monitoring; counts are since Open.
type Stats struct {
	RowsWritten    uint64           // rows accepted by Write
	RowsRejected   uint64           // rows rejected by Write
	RowsReplayed   uint64           // rows recovered from the log at Open
	RowsFlushed    uint64           // rows written to Parquet files
	FilesWritten   uint64           // Parquet files written
	FlushErrors    uint64           // failed flushes (rows stay buffered and logged)
	WALSyncs       uint64           // fsyncs of log segments
	WALSyncLatency latency.Snapshot // how long the log's group-commit syncs took
	WALSegments    int              // log segment files on disk
	RowsBuffered   int64            // rows in memory, not yet in a file
	BytesBuffered  int64            // estimated size of the buffered rows
	Tables         int              // tables known

	DiskBytes      int64  // bytes of the tables' live Parquet files
	FilesRetired   uint64 // files deleted (or waiting for snapshots) by retention
	FilesCompacted uint64 // small files merged away by compaction
	Backpressured  uint64 // Writes refused with ErrBackpressure
}

// Store is the row store. Its methods are safe for concurrent use.
type Store struct {
	opts Options
	mem  memory.Allocator
	log  *slog.Logger
	wal  *wal.Log

	// maintainMu serializes maintenance (retention and compaction).
	// Lock order: maintainMu, flushMu, mu.
	maintainMu sync.Mutex
	// compacting, when set (by tests), is called as each merge starts.
	compacting func()
	// flushMu serializes flushes, so a partition never has two files in
	// flight: a later file renamed before an earlier one would make
	// recovery skip the earlier file's rows (see recover.go).
	flushMu sync.Mutex

	// mu guards everything below. WAL append and buffer append happen
	// together under it, so buffers receive rows in seq order.
	mu      sync.Mutex
	closed  bool
	tables  map[string]*table
	nextSeq uint64
	stats   Stats
	// holdWAL stops segment deletion after a file was renamed but its
	// directory could not be synced.
	holdWAL bool
	// flushFailures counts failed flushes since the last one that worked.
	flushFailures int
	// retired lists partitions deleted by retention (see files.go);
	// changed only under flushMu.
	retired []retiredPart
	// deadHeld counts retired files that snapshots still hold.
	deadHeld int

	// scratch, reused by Write under mu
	encBuf   []byte
	normRows []rows.Row
	normCols []rows.Column
	// normRows' columns are in normCols, or the caller's own when they
	// fit as they are (fittingAsIs). normFields holds, for each column of
	// normRows in order, its field in the table's schema, or -1 for a
	// column the Write adds.
	normFields []int
	normPend   []pendingColumn
	rowPend    []pendingColumn
	pendTab    []string
	filled     []bool

	kick      chan struct{} // wakes the flusher when a buffer is full
	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Open opens the store in opts.Dir, creating it if needed, and recovers:
// it deletes unfinished Parquet files, learns each table's schema from its
// files and replays the write-ahead log into the buffers.
func Open(ctx context.Context, opts Options) (*Store, error) {
	opts = opts.WithDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := ensureDir(opts.Dir); err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	s := &Store{
		opts:   opts,
		mem:    opts.Allocator,
		log:    opts.Logger,
		tables: make(map[string]*table),
		kick:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
	}
	if err := s.recover(ctx); err != nil {
		s.abandon()
		return nil, fmt.Errorf("opening store in %s: %w", opts.Dir, err)
	}
	s.wg.Add(3)
	go s.flusher()
	go s.syncer()
	go s.maintainer()
	return s, nil
}

// Write stores rows. Rows that cannot be stored are reported in
// WriteResult.Rejected; the others are logged and buffered, and are visible
// to Snapshot when Write returns. With durable set, Write returns nil only
// once the log record holding the rows is fsynced; otherwise the periodic
// sync (Options.SyncInterval) makes them durable a little later. An error
// means the rows may not be durable and must not be acknowledged.
func (s *Store) Write(ctx context.Context, rs []rows.Row, durable bool) (WriteResult, error) {
	if err := ctx.Err(); err != nil {
		return WriteResult{}, fmt.Errorf("writing rows: %w", err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return WriteResult{}, fmt.Errorf("writing rows: %w", rows.ErrStoreClosed)
	}
	if s.stats.BytesBuffered >= s.opts.MaxBufferedBytes || s.flushFailures >= flushFailuresForBackpressure {
		s.stats.Backpressured++
		buffered, failures := s.stats.BytesBuffered, s.flushFailures
		s.mu.Unlock()
		select { // let the flusher catch up
		case s.kick <- struct{}{}:
		default:
		}
		return WriteResult{}, fmt.Errorf("writing rows: %w (%d bytes buffered, %d failed flushes)", ErrBackpressure, buffered, failures)
	}
	res := s.normalizeLocked(rs)
	s.stats.RowsRejected += uint64(len(res.Rejected))
	if len(s.normRows) == 0 {
		s.mu.Unlock()
		return res, nil
	}
	seq := s.nextSeq
	buf, err := wal.AppendRecord(s.encBuf[:0], seq, s.normRows)
	if err == nil {
		err = s.wal.Append(seq, buf)
	}
	if cap(buf) <= 1<<20 {
		s.encBuf = buf
	}
	if err != nil {
		s.clearScratchLocked()
		s.mu.Unlock()
		return WriteResult{}, fmt.Errorf("logging rows: %w", err)
	}
	s.nextSeq++
	full := s.applyLocked(seq, time.Time{})
	res.Stored, res.LogSeq = len(s.normRows), seq
	s.stats.RowsWritten += uint64(res.Stored)
	s.clearScratchLocked()
	s.mu.Unlock()

	if full {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	if durable {
		if err := s.SyncTo(seq); err != nil {
			return res, err
		}
	}
	return res, nil
}

// SyncTo returns once the write-ahead log is on disk up to record seq (a
// WriteResult.LogSeq). It lets a caller write without waiting and wait
// later, off its hot path: concurrent callers share fsyncs (group commit),
// so many writers waiting at once cost about one fsync. Zero is always
// synced.
func (s *Store) SyncTo(seq uint64) error {
	if seq == 0 {
		return nil
	}
	if err := s.wal.SyncTo(seq); err != nil {
		return fmt.Errorf("syncing rows to disk: %w", err)
	}
	return nil
}

// DurableSeq returns the highest log record seq (WriteResult.LogSeq) known
// to be on disk: every record up to it is.
func (s *Store) DurableSeq() uint64 { return s.wal.Synced() }

// normalizeLocked checks rs against the tables' schemas and fills
// s.normRows with the accepted rows, values fitted to their columns (ints
// widened to float, nulls dropped), and s.normPend/s.pendTab with the
// columns they add, in order.
func (s *Store) normalizeLocked(rs []rows.Row) WriteResult {
	var res WriteResult
	s.normRows, s.normCols, s.normFields = s.normRows[:0], s.normCols[:0], s.normFields[:0]
	s.normPend, s.pendTab = s.normPend[:0], s.pendTab[:0]
	for i := range rs {
		r := &rs[i]
		if err := s.normalizeRowLocked(r); err != nil {
			res.Rejected = append(res.Rejected, Rejection{Index: i, Err: err})
		}
	}
	return res
}

func (s *Store) normalizeRowLocked(r *rows.Row) error {
	if err := checkTableName(r.Table); err != nil {
		return err
	}
	t := s.tables[r.Table]
	if t != nil && t.shape.matches(r.Columns) {
		return s.normalizeShapedLocked(t, r)
	}
	start := len(s.normCols)
	s.rowPend = s.rowPend[:0]
	known := t != nil // every column is in the table's schema
	for j := range r.Columns {
		c := &r.Columns[j]
		err := checkColumn(s.opts.TimeColumn, r.Table, c.Name)
		if err == nil && duplicateColumn(r.Columns, j) {
			err = fmt.Errorf("%w: table %q: column %q appears twice in one row", rows.ErrInvalidName, r.Table, c.Name)
		}
		if err != nil {
			s.truncateScratchLocked(start)
			return err
		}
		field := -1
		if t != nil {
			if i, ok := t.index[c.Name]; ok {
				field = i
			}
		}
		known = known && field >= 0
		if c.Value.Kind == rows.KindNull {
			continue // a missing value: stored as null, creates nothing
		}
		var have rows.Kind
		if field >= 0 {
			have = t.kinds[field]
		} else {
			have = s.pendingKindLocked(r.Table, c.Name)
		}
		v, err := fitValue(r.Table, c.Name, have, c.Value)
		if err != nil {
			s.truncateScratchLocked(start)
			return err
		}
		if have == rows.KindNull {
			s.rowPend = append(s.rowPend, pendingColumn{name: c.Name, kind: v.Kind})
		}
		s.normCols = append(s.normCols, rows.Column{Name: c.Name, Value: v})
		s.normFields = append(s.normFields, field)
	}
	for _, pc := range s.rowPend {
		s.normPend = append(s.normPend, pc)
		s.pendTab = append(s.pendTab, r.Table)
	}
	if known {
		// The names are valid and all in the schema: the next row with
		// the same names in the same order can skip these checks.
		t.shape.remember(r.Columns, t.index)
	}
	s.appendNormRowLocked(r, start)
	return nil
}

// normalizeShapedLocked is normalizeRowLocked for a row whose column names
// are those of t.shape: valid, distinct and all in the table's schema, so
// only the values are left to check. A row whose values all fit as they
// are (the common case: no nulls, no int widened to float) is taken as it
// is, its columns not copied.
func (s *Store) normalizeShapedLocked(t *table, r *rows.Row) error {
	asIs := fittingAsIs(t, r.Columns)
	if asIs == len(r.Columns) {
		s.normFields = append(s.normFields, t.shape.fields...)
		s.normRows = append(s.normRows, rows.Row{Table: r.Table, Time: r.Time, Columns: r.Columns})
		return nil
	}
	start := len(s.normCols)
	for j := range r.Columns {
		c := &r.Columns[j]
		if c.Value.Kind == rows.KindNull {
			continue
		}
		field := t.shape.fields[j]
		v := c.Value
		// The first asIs columns are checked already.
		if have := t.kinds[field]; j >= asIs && (have != v.Kind || v.Kind == rows.KindString) {
			var err error
			if v, err = fitValue(r.Table, c.Name, have, v); err != nil {
				s.truncateScratchLocked(start)
				return err
			}
		}
		s.normCols = append(s.normCols, rows.Column{Name: c.Name, Value: v})
		s.normFields = append(s.normFields, field)
	}
	s.appendNormRowLocked(r, start)
	return nil
}

// fittingAsIs returns how many values of cols, whose names are t.shape's,
// from the first, are stored as they are: not null, of their field's
// kind, and valid UTF-8 if strings. fitValue would return each unchanged.
func fittingAsIs(t *table, cols []rows.Column) int {
	for j := range cols {
		v := &cols[j].Value
		if v.Kind == rows.KindNull || t.kinds[t.shape.fields[j]] != v.Kind ||
			(v.Kind == rows.KindString && !utf8.ValidString(v.Str)) {
			return j
		}
	}
	return len(cols)
}

// appendNormRowLocked adds the normalized row of r whose columns start at
// s.normCols[start].
func (s *Store) appendNormRowLocked(r *rows.Row, start int) {
	// The sub-slice stays valid if normCols grows later: it keeps the old
	// backing array.
	end := len(s.normCols)
	s.normRows = append(s.normRows, rows.Row{Table: r.Table, Time: r.Time, Columns: s.normCols[start:end:end]})
}

// truncateScratchLocked drops the normalized columns from start on, those
// of a row being rejected.
func (s *Store) truncateScratchLocked(start int) {
	// The row's columns and fields were appended together, but normFields
	// also holds the fields of earlier rows taken as they are (fittingAsIs),
	// whose columns are not in normCols.
	n := len(s.normCols) - start
	clear(s.normCols[start:])
	s.normCols, s.normFields = s.normCols[:start], s.normFields[:len(s.normFields)-n]
}

// duplicateColumn reports whether cols[j]'s name appears before j.
func duplicateColumn(cols []rows.Column, j int) bool {
	for k := 0; k < j; k++ {
		if cols[k].Name == cols[j].Name {
			return true
		}
	}
	return false
}

// pendingKindLocked returns the kind of a column that is not in its
// table's schema but that earlier rows of the same Write (or earlier
// columns of this row) are adding; KindNull if none is.
func (s *Store) pendingKindLocked(tableName, col string) rows.Kind {
	for i, pc := range s.normPend {
		if pc.name == col && s.pendTab[i] == tableName {
			return pc.kind
		}
	}
	for _, pc := range s.rowPend {
		if pc.name == col {
			return pc.kind
		}
	}
	return rows.KindNull
}

// applyLocked adds the pending columns to their tables and appends
// s.normRows to the buffers with the given seq. now is when the rows
// arrived; if zero, the clock is read when an empty partition needs it. It
// reports whether a partition reached MaxRows or MaxBytes.
func (s *Store) applyLocked(seq uint64, now time.Time) bool {
	for i := 0; i < len(s.normPend); {
		t := s.tableLocked(s.pendTab[i])
		j := i
		for j < len(s.normPend) && s.pendTab[j] == s.pendTab[i] {
			j++
		}
		t.add(s.normPend[i:j])
		i = j
	}
	full := false
	var t *table
	fields := s.normFields
	for i := range s.normRows {
		r := &s.normRows[i]
		if t == nil || t.name != r.Table {
			t = s.tableLocked(r.Table)
		}
		ms := nsToMs(r.Time)
		day := dayOf(ms)
		p := t.parts[day]
		if p == nil {
			p = newPartition(day)
			t.parts[day] = p
		}
		if p.rows == 0 && now.IsZero() {
			now = time.Now()
		}
		if n := t.schema.NumFields(); len(s.filled) < n {
			s.filled = make([]bool, n*2)
		}
		s.stats.BytesBuffered += p.append(s.mem, &t.tableSchema, r, fields[:len(r.Columns)], ms, seq, now, s.filled)
		fields = fields[len(r.Columns):]
		s.stats.RowsBuffered++
		t.written++
		if p.rows >= s.opts.MaxRows || p.bytes >= s.opts.MaxBytes {
			full = true
		}
	}
	return full
}

// RowsWrittenByTable returns, per table, the rows written (or replayed
// from the log) since Open.
func (s *Store) RowsWrittenByTable() map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]uint64, len(s.tables))
	for name, t := range s.tables {
		out[name] = t.written
	}
	return out
}

// tableLocked returns the named table, creating it.
func (s *Store) tableLocked(name string) *table {
	t := s.tables[name]
	if t == nil {
		t = newTable(name, s.opts.TimeColumn, s.log)
		s.tables[name] = t
		s.stats.Tables = len(s.tables)
	}
	return t
}

// clearScratchLocked drops references to the caller's strings and bytes.
func (s *Store) clearScratchLocked() {
	clear(s.normCols)
	clear(s.normRows)
	s.normCols, s.normRows, s.normFields = s.normCols[:0], s.normRows[:0], s.normFields[:0]
}

// Tables returns the names of the known tables, sorted.
func (s *Store) Tables() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.tables))
	for n := range s.tables {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	st := s.stats
	s.mu.Unlock()
	ws := s.wal.Stats()
	st.WALSyncs, st.WALSegments, st.WALSyncLatency = ws.Syncs, ws.Segments, ws.SyncLatency
	return st
}

// lowWaterLocked is the lowest WAL seq of a row not yet in a renamed
// Parquet file: every log segment wholly below it can go.
func (s *Store) lowWaterLocked() uint64 {
	low := s.nextSeq
	for _, t := range s.tables {
		for _, p := range t.parts {
			if m, ok := p.minSeq(); ok && m < low {
				low = m
			}
		}
	}
	return low
}

// flusher flushes partitions that are full or old, woken by Write or by a
// ticker.
func (s *Store) flusher() {
	defer s.wg.Done()
	period := min(max(s.opts.MaxAge/4, 10*time.Millisecond), time.Second)
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-s.kick:
		case <-tick.C:
		}
		s.flushDue(time.Now())
	}
}

// syncer makes non-durable writes durable every SyncInterval.
func (s *Store) syncer() {
	defer s.wg.Done()
	tick := time.NewTicker(s.opts.SyncInterval)
	defer tick.Stop()
	failed := false
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		if err := s.wal.Sync(); err != nil {
			if !failed {
				s.log.Error("arrowstore: periodic wal sync failed", "err", err)
			}
			failed = true
		}
	}
}

// Flush writes every buffered row to Parquet now.
func (s *Store) Flush(ctx context.Context) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return fmt.Errorf("flushing: %w", rows.ErrStoreClosed)
	}
	return s.flushAllLocked(ctx)
}

// flushAllLocked flushes every partition with rows; flushMu is held.
func (s *Store) flushAllLocked(ctx context.Context) error {
	var errs []error
	for _, k := range s.partitionsWhere(func(*partition) bool { return true }) {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("flushing: %w", err)
		}
		if err := s.flushPartition(k); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// flushDue flushes the partitions that reached a limit.
func (s *Store) flushDue(now time.Time) {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.mu.Lock()
	over := s.stats.BytesBuffered >= s.opts.MaxBufferedBytes
	s.mu.Unlock()
	due := s.partitionsWhere(func(p *partition) bool {
		// Over the buffer cap, every partition goes, so Write can take rows again.
		return over || p.rows >= s.opts.MaxRows || p.bytes >= s.opts.MaxBytes || now.Sub(p.firstAt) >= s.opts.MaxAge
	})
	for _, k := range due {
		if err := s.flushPartition(k); err != nil {
			s.log.Error("arrowstore: flush failed; rows stay buffered and logged", "table", k.table, "err", err)
		}
	}
}

type partKey struct {
	table string
	day   int64
}

// partitionsWhere lists the partitions with rows that match, by table and day.
func (s *Store) partitionsWhere(match func(*partition) bool) []partKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []partKey
	for name, t := range s.tables {
		for day, p := range t.parts {
			if p.rows > 0 && match(p) {
				keys = append(keys, partKey{name, day})
			}
		}
	}
	slices.SortFunc(keys, func(a, b partKey) int {
		if a.table != b.table {
			if a.table < b.table {
				return -1
			}
			return 1
		}
		return int(a.day - b.day)
	})
	return keys
}

// Close flushes every buffered row, stops background work and closes the
// log. If a flush fails the rows are still in the log and come back at the
// next Open. Close is safe to call twice, and on a nil Store.
func (s *Store) Close() error {
	if s == nil {
		return nil
	}
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Store) close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()

	s.maintainMu.Lock() // a Maintain call still compacting ends first
	defer s.maintainMu.Unlock()
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	err := s.flushAllLocked(context.Background())
	s.mu.Lock()
	low, hold := s.lowWaterLocked(), s.holdWAL
	s.mu.Unlock()
	if err == nil && !hold {
		if rerr := s.wal.Release(low); rerr != nil {
			err = rerr
		}
	}
	if cerr := s.wal.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("closing wal: %w", cerr))
	}
	s.releaseBuffers()
	if err != nil {
		return fmt.Errorf("closing store: %w", err)
	}
	return nil
}

// releaseBuffers frees every in-memory buffer.
func (s *Store) releaseBuffers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tables {
		for _, p := range t.parts {
			p.release()
		}
		clear(t.parts)
	}
	s.stats.RowsBuffered, s.stats.BytesBuffered = 0, 0
}

// abandon releases what a failed Open made, without flushing.
func (s *Store) abandon() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if s.wal != nil {
		s.wal.Abandon()
	}
	s.releaseBuffers()
	s.closeOnce.Do(func() {})
}

func (s *Store) walDir() string { return filepath.Join(s.opts.Dir, walDirName) }
