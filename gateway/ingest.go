package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lakegate/lakegate/arrowstore"
	"github.com/lakegate/lakegate/arrowstore/rows"
	"github.com/lakegate/lakegate/plugins"
)

// Ingester is the gateway's data path for one published message: route it,
// format it in the WASM sandbox, store its rows, and keep what could not be
// stored as a dead letter. It knows nothing of MQTT packets; the broker hook
// adapts it.
type Ingester struct {
	table atomic.Pointer[routing]
	store *arrowstore.Store
	log   *slog.Logger
	stats IngestStats

	// deadTable is the dead-letter table ("" keeps no dead letters);
	// deadTopic, when set, is where each dead letter is republished with
	// publish.
	dead    atomic.Pointer[DeadLetterConfig]
	publish func(topic string, payload []byte, retain bool, qos byte) error
	fwd     *forwarder // forwarding (issue #8, forwarding.go); nil without uplinks
}

// setDeadLetter sets where dead letters go.
func (in *Ingester) setDeadLetter(c DeadLetterConfig) { in.dead.Store(&c) }

// routing is one immutable generation of routes and the formatters they
// use. Reload builds a new one and swaps it in; a message holds its
// generation (mu read-locked) from match to stored rows, so the old
// formatters are closed only once every message that started on them is done.
type routing struct {
	router     *Router
	formatters map[string]*plugins.Formatter

	mu      sync.RWMutex
	retired bool // set under mu (write) once no message may start on it
}

// acquire returns the current routing generation, read-locked; release it
// with rt.mu.RUnlock.
func (in *Ingester) acquire() *routing {
	for {
		rt := in.table.Load()
		rt.mu.RLock()
		if !rt.retired {
			return rt
		}
		rt.mu.RUnlock() // swapped out meanwhile: take the new one
	}
}

// swap installs next and returns the previous generation once no message
// is using it any more; the caller closes its formatters.
func (in *Ingester) swap(next *routing) *routing {
	old := in.table.Swap(next)
	if old == nil {
		return nil
	}
	old.mu.Lock()
	old.retired = true
	old.mu.Unlock()
	return old
}

// IngestStats counts what happened to published messages, by outcome.
type IngestStats struct {
	Unrouted     atomic.Int64 // no route matched; the broker delivered it as usual
	Stored       atomic.Int64 // messages whose rows were all stored
	RowsStored   atomic.Int64
	RowsRejected atomic.Int64 // rows the store refused (schema conflict, bad name)
	Malformed    atomic.Int64 // the formatter could not parse the payload
	BadTopic     atomic.Int64 // the topic gave an invalid table name
	PluginFailed atomic.Int64 // trap, timeout, memory, output limits
	StoreFailed  atomic.Int64 // the store could not take the rows
	DeadLetters  atomic.Int64 // dead-letter rows stored
}

// IngestStatsSnapshot is a plain copy of IngestStats.
type IngestStatsSnapshot struct {
	Unrouted, Stored, RowsStored, RowsRejected, Malformed, BadTopic, PluginFailed, StoreFailed, DeadLetters int64
}

// Snapshot copies the counters.
func (s *IngestStats) Snapshot() IngestStatsSnapshot {
	return IngestStatsSnapshot{
		Unrouted: s.Unrouted.Load(), Stored: s.Stored.Load(), RowsStored: s.RowsStored.Load(),
		RowsRejected: s.RowsRejected.Load(), Malformed: s.Malformed.Load(), BadTopic: s.BadTopic.Load(),
		PluginFailed: s.PluginFailed.Load(), StoreFailed: s.StoreFailed.Load(), DeadLetters: s.DeadLetters.Load(),
	}
}

// Outcome says what became of one message.
type Outcome struct {
	Routed   bool
	Table    string
	Stored   int // rows stored
	Rejected int // rows refused by the store
	// LogSeq is the last store log record written for the message (its
	// rows and dead letters); WaitDurable waits for it. 0: nothing written.
	LogSeq uint64
	// forwarded waits until what the message's route forwards upstream is
	// in the forwarding outbox on disk; nil if nothing is forwarded.
	forwarded func() error
}

// wrote notes that log record seq holds part of the message.
func (o *Outcome) wrote(seq uint64) { o.LogSeq = max(o.LogSeq, seq) }

// ErrAllRowsRejected: the store refused every row the formatter produced.
var ErrAllRowsRejected = errors.New("no row could be stored")

// Ingest routes, formats and stores msg. durable asks for the rows (and
// any dead letter) to be fsynced before returning (QoS 1 and 2): it is
// Submit followed by WaitDurable. A message no route matches is not an
// error: Outcome.Routed is false. Errors wrap the rows sentinels
// (ErrMalformedPayload, ErrInvalidName, ErrPluginFailed, ...) or
// ErrAllRowsRejected.
func (in *Ingester) Ingest(ctx context.Context, msg *rows.Message, durable bool) (Outcome, error) {
	out, err := in.Submit(ctx, msg)
	if durable {
		if serr := in.WaitDurable(out); serr != nil {
			if err == nil {
				return out, fmt.Errorf("storing rows of table %s: %w", out.Table, serr)
			}
			in.log.Error("syncing dead letter", "topic", msg.Topic, "client", msg.ClientID, "error", serr)
		}
	}
	return out, err
}

// WaitDurable returns once everything Submit wrote for out is on disk.
// Many goroutines waiting at once share one fsync (group commit), which is
// why the broker hook submits on the connection's goroutine and waits on
// another: a publisher's next messages are formatted and written while
// the previous ones are being synced.
func (in *Ingester) WaitDurable(out Outcome) error {
	if err := in.store.SyncTo(out.LogSeq); err != nil {
		in.stats.StoreFailed.Add(1)
		return err
	}
	return out.waitForwarded()
}

// DurableSeq returns how far the store's log is on disk: the rows (and
// dead letters) Submit wrote for an Outcome with LogSeq <= it are durable
// (forwarding aside).
func (in *Ingester) DurableSeq() uint64 { return in.store.DurableSeq() }

// waitForwarded waits for the message's forwarding outbox entries.
func (o Outcome) waitForwarded() error {
	if o.forwarded == nil {
		return nil
	}
	if err := o.forwarded(); err != nil {
		return fmt.Errorf("forwarding: %w", err)
	}
	return nil
}

// Submit routes, formats and writes msg, without waiting for the disk: the
// rows are visible to queries when it returns; WaitDurable(out) makes them
// durable. A message that fails for a reason other than the store (and
// each rejected row) is written as a dead letter, covered by the same
// WaitDurable.
func (in *Ingester) Submit(ctx context.Context, msg *rows.Message) (Outcome, error) {
	rt := in.acquire()
	defer rt.mu.RUnlock()

	out, rs, err := in.prepare(ctx, rt, msg)
	if err != nil || len(rs) == 0 {
		return out, err
	}
	res, err := in.store.Write(ctx, rs, false)
	return in.settle(ctx, msg, out, rs, res, err)
}

// SubmitBatch is Submit for several messages: each is routed and formatted
// as Submit does, and the rows of all go to the store in one write (one
// log record), and each formatter gets its messages in one FormatAll
// (batch calls, for a guest that takes them), which is what makes it
// cheaper per message. report is called once for every message with what
// Submit would have returned for it: first for those that end before the
// store (those that end at routing first), then for those whose rows were
// written (in order). sc is the caller's scratch space, reused from batch
// to batch (nil: a fresh one).
func (in *Ingester) SubmitBatch(ctx context.Context, msgs []*rows.Message, sc *BatchScratch, report func(i int, out Outcome, err error)) {
	if sc == nil {
		sc = new(BatchScratch)
	}
	defer sc.reset()
	rt := in.acquire()
	defer rt.mu.RUnlock()

	for i, msg := range msgs {
		job, done, err := in.route(ctx, rt, msg, sc)
		if done {
			report(i, job.out, err)
			continue
		}
		job.msg = i
		sc.jobs = append(sc.jobs, job)
		sc.items = append(sc.items, plugins.Item{Msg: job.input, Route: job.m.Route})
	}
	sc.formatJobs(ctx)
	for k := range sc.jobs {
		job := &sc.jobs[k]
		out, rs, err := in.afterFormat(ctx, msgs[job.msg], job, sc.items[k].Rows, sc.items[k].Err)
		if err != nil || len(rs) == 0 {
			report(job.msg, out, err)
			continue
		}
		sc.waiting = append(sc.waiting, batchEntry{msg: job.msg, out: out, lo: len(sc.rows), hi: len(sc.rows) + len(rs)})
		sc.rows = append(sc.rows, rs...)
	}
	sc.batches.close() // the instances go back before the store write
	if len(sc.waiting) == 0 {
		return
	}
	all := sc.rows
	res, werr := in.store.Write(ctx, all, false)
	rej := res.Rejected // in row order
	for _, p := range sc.waiting {
		one := arrowstore.WriteResult{LogSeq: res.LogSeq}
		for len(rej) > 0 && rej[0].Index < p.hi {
			one.Rejected = append(one.Rejected, arrowstore.Rejection{Index: rej[0].Index - p.lo, Err: rej[0].Err})
			rej = rej[1:]
		}
		if werr == nil {
			one.Stored = p.hi - p.lo - len(one.Rejected)
		}
		if one.Stored == 0 && len(one.Rejected) == 0 {
			one.LogSeq = 0
		}
		out, err := in.settle(ctx, msgs[p.msg], p.out, all[p.lo:p.hi], one, werr)
		report(p.msg, out, err)
	}
}

// BatchScratch is SubmitBatch's working memory, kept by a caller that
// submits batch after batch.
type BatchScratch struct {
	rows    []rows.Row   // the rows of the whole batch
	waiting []batchEntry // messages whose rows are in rows
	batches formatBatches
	// jobs are the routed messages; items[k] is jobs[k] for its
	// formatter, and then what that gave. formatters are the jobs'
	// formatters; group holds one formatter's items when there are more.
	jobs       []formatJob
	items      []plugins.Item
	formatters []*plugins.Formatter
	group      []plugins.Item
	// last is the previous message's topic and route: messages in a
	// batch often share a topic.
	lastTopic string
	last      Match
	lastOK    bool
	lastErr   error
}

// batchEntry is a message of a batch with rows to store.
type batchEntry struct {
	msg    int // index in the batch
	out    Outcome
	lo, hi int // its rows in BatchScratch.rows
}

// reset drops what the batch referred to, keeping the memory.
func (sc *BatchScratch) reset() {
	clear(sc.rows) // rows and payloads can go
	clear(sc.jobs)
	clear(sc.items)
	sc.rows, sc.waiting, sc.jobs, sc.items = sc.rows[:0], sc.waiting[:0], sc.jobs[:0], sc.items[:0]
	sc.lastTopic, sc.last, sc.lastOK, sc.lastErr = "", Match{}, false, nil
	if cap(sc.rows) > maxScratchRows {
		sc.rows = nil
	}
}

// formatJobs formats sc.items, each formatter's in one FormatAll (in the
// order of their first message), and leaves the outcomes in sc.items.
func (sc *BatchScratch) formatJobs(ctx context.Context) {
	sc.formatters = sc.formatters[:0]
	for _, j := range sc.jobs {
		if !slices.Contains(sc.formatters, j.f) {
			sc.formatters = append(sc.formatters, j.f)
		}
	}
	if len(sc.formatters) == 1 { // nearly always
		sc.batches.of(ctx, sc.formatters[0]).FormatAll(sc.items)
		return
	}
	for _, f := range sc.formatters {
		sc.group = sc.group[:0]
		for k, j := range sc.jobs {
			if j.f == f {
				sc.group = append(sc.group, sc.items[k])
			}
		}
		sc.batches.of(ctx, f).FormatAll(sc.group)
		g := sc.group
		for k, j := range sc.jobs {
			if j.f == f {
				sc.items[k], g = g[0], g[1:]
			}
		}
	}
	clear(sc.group)
	clear(sc.formatters)
}

// maxScratchRows bounds the row headers a BatchScratch keeps between batches.
const maxScratchRows = 1 << 14

// formatBatches holds a plugins.Batch per formatter a batch of messages
// uses (nearly always one).
type formatBatches struct {
	formatters []*plugins.Formatter
	batches    []*plugins.Batch
}

// of returns f's batch, starting it on first use.
func (fb *formatBatches) of(ctx context.Context, f *plugins.Formatter) *plugins.Batch {
	for i, g := range fb.formatters {
		if g == f {
			return fb.batches[i]
		}
	}
	b := f.NewBatch(ctx)
	fb.formatters, fb.batches = append(fb.formatters, f), append(fb.batches, b)
	return b
}

// close ends every batch, returning their instances.
func (fb *formatBatches) close() {
	for _, b := range fb.batches {
		b.Close()
	}
	clear(fb.formatters)
	clear(fb.batches)
	fb.formatters, fb.batches = fb.formatters[:0], fb.batches[:0]
}

// match is rt.router.Match, remembering the previous topic's result in
// sc (when not nil).
func (sc *BatchScratch) match(rt *routing, topic string) (Match, bool, error) {
	if sc == nil {
		return rt.router.Match(topic)
	}
	if sc.lastTopic != topic || topic == "" {
		sc.last, sc.lastOK, sc.lastErr = rt.router.Match(topic)
		sc.lastTopic = topic
	}
	return sc.last, sc.lastOK, sc.lastErr
}

// prepare routes and formats msg and hands what it forwards upstream to
// the forwarder. It returns rows only when they are to be stored; every
// other outcome (not routed, no rows, a dead letter) is final and counted.
func (in *Ingester) prepare(ctx context.Context, rt *routing, msg *rows.Message) (Outcome, []rows.Row, error) {
	job, done, err := in.route(ctx, rt, msg, nil)
	if done {
		return job.out, nil, err
	}
	rs, err := job.f.Format(ctx, job.input, job.m.Route)
	return in.afterFormat(ctx, msg, &job, rs, err)
}

// formatJob is a routed message on its way to its formatter.
type formatJob struct {
	msg   int // its index in SubmitBatch's batch
	out   Outcome
	m     Match
	f     *plugins.Formatter
	input *rows.Message // what f gets: the message, or a decompressed copy
}

// route matches msg and settles its format choice (topicformat.go). It
// reports done, with the outcome and error in job.out and err, when the
// message ends here: it is not routed, or its topic or format choice is
// bad (a dead letter).
func (in *Ingester) route(ctx context.Context, rt *routing, msg *rows.Message, sc *BatchScratch) (job formatJob, done bool, err error) {
	m, ok, err := sc.match(rt, msg.Topic)
	if !ok {
		in.stats.Unrouted.Add(1)
		return job, true, nil
	}
	rt.router.countMatch(m.Index)
	job.out = Outcome{Routed: true, Table: m.Table}
	if err != nil {
		in.stats.BadTopic.Add(1)
		in.deadLetter(ctx, msg, &job.out, m.Table, "bad_topic", err.Error(), msg.Payload)
		return job, true, err
	}
	job.m = m
	if job.f, job.input, err = rt.formatInput(msg, &job.m); err != nil {
		return job, true, in.formatFailed(ctx, msg, &job, err)
	}
	return job, false, nil
}

// afterFormat takes what job's formatter gave (rs or err): it adds the
// topic columns, dead-letters a failure and hands the rows to the
// forwarder. It returns rows only when they are to be stored.
func (in *Ingester) afterFormat(ctx context.Context, msg *rows.Message, job *formatJob, rs []rows.Row, err error) (Outcome, []rows.Row, error) {
	if rs, err = formatted(rs, err, &job.m); err != nil {
		err = in.formatFailed(ctx, msg, job, err)
		return job.out, nil, err
	}
	if job.out.forwarded, err = in.fwd.forward(ctx, msg, rs); err != nil {
		return job.out, nil, err
	}
	if len(rs) == 0 {
		in.stats.Stored.Add(1)
	}
	return job.out, rs, nil
}

// formatFailed counts and dead-letters a message its format choice or its
// formatter failed, and returns the error to report for it.
func (in *Ingester) formatFailed(ctx context.Context, msg *rows.Message, job *formatJob, err error) error {
	code := "plugin_failed"
	switch {
	case errors.Is(err, rows.ErrMalformedPayload):
		in.stats.Malformed.Add(1)
		code = "malformed"
	default:
		in.stats.PluginFailed.Add(1)
	}
	err = fmt.Errorf("formatting for table %s with %s: %w", job.m.Table, job.m.Formatter, err)
	in.deadLetter(ctx, msg, &job.out, job.m.Table, code, err.Error(), msg.Payload)
	return err
}

// settle records what the store did with msg's rows rs (the result res,
// or the error err of the write that took them): counters, a dead letter
// per rejected row, and the message's outcome.
func (in *Ingester) settle(ctx context.Context, msg *rows.Message, out Outcome, rs []rows.Row, res arrowstore.WriteResult, err error) (Outcome, error) {
	if err != nil {
		// Not a dead letter: the message is refused (or its client
		// disconnected) so that it is sent again once the store recovers.
		in.stats.StoreFailed.Add(1)
		return out, fmt.Errorf("storing rows of table %s: %w", out.Table, err)
	}
	out.Stored, out.Rejected = res.Stored, len(res.Rejected)
	out.wrote(res.LogSeq)
	in.stats.RowsStored.Add(int64(res.Stored))
	if len(res.Rejected) > 0 {
		in.stats.RowsRejected.Add(int64(len(res.Rejected)))
		for _, r := range res.Rejected {
			in.log.Warn("row rejected", "topic", msg.Topic, "client", msg.ClientID, "row", r.Index, "reason", r.Err)
			in.deadLetter(ctx, msg, &out, out.Table, "row_rejected", fmt.Sprintf("row %d: %v", r.Index, r.Err), rowJSON(rs[r.Index]))
		}
		if res.Stored == 0 {
			return out, fmt.Errorf("%w: %w", ErrAllRowsRejected, res.Rejected[0].Err)
		}
	}
	in.stats.Stored.Add(1)
	return out, nil
}

// DeadLetter is one message, or one row of a message, that could not be
// stored: the row of the dead-letter table and the JSON document
// republished on dead_letter.topic.
type DeadLetter struct {
	Topic      string    `json:"topic"`
	ClientID   string    `json:"client_id"`
	Username   string    `json:"username"`
	QoS        byte      `json:"qos"`
	Table      string    `json:"table"`       // the table the route named
	ReasonCode string    `json:"reason_code"` // malformed, plugin_failed, bad_topic, row_rejected
	Reason     string    `json:"reason"`
	Payload    []byte    `json:"payload"` // the message, or the rejected row as JSON
	Time       time.Time `json:"time"`    // when the message was received
}

// row renders d for the dead-letter table.
func (d *DeadLetter) row(table string) rows.Row {
	return rows.Row{Table: table, Time: d.Time.UnixNano(), Columns: []rows.Column{
		{Name: "topic", Value: rows.String(d.Topic)},
		{Name: "client_id", Value: rows.String(d.ClientID)},
		{Name: "username", Value: rows.String(d.Username)},
		{Name: "qos", Value: rows.Int(int64(d.QoS))},
		{Name: "route_table", Value: rows.String(d.Table)},
		{Name: "reason_code", Value: rows.String(d.ReasonCode)},
		{Name: "reason", Value: rows.String(d.Reason)},
		{Name: "payload", Value: rows.Bytes(d.Payload)},
	}}
}

// deadLetter stores (and republishes) one dead letter. Its own failure is
// logged, not returned: the message's error is what the publisher hears.
func (in *Ingester) deadLetter(ctx context.Context, msg *rows.Message, out *Outcome, table, code, reason string, payload []byte) {
	dc := in.dead.Load()
	if dc == nil || dc.Table == "" && dc.Topic == "" {
		return
	}
	d := DeadLetter{Topic: msg.Topic, ClientID: msg.ClientID, Username: msg.Username, QoS: msg.QoS,
		Table: table, ReasonCode: code, Reason: reason, Payload: payload, Time: msg.Received}
	if d.Time.IsZero() {
		d.Time = time.Now()
	}
	if dc.Table != "" {
		res, err := in.store.Write(ctx, []rows.Row{d.row(dc.Table)}, false)
		out.wrote(res.LogSeq)
		switch {
		case err != nil:
			in.log.Error("storing dead letter", "topic", msg.Topic, "client", msg.ClientID, "error", err)
		case len(res.Rejected) > 0:
			in.log.Error("storing dead letter", "topic", msg.Topic, "client", msg.ClientID, "error", res.Rejected[0].Err)
		default:
			in.stats.DeadLetters.Add(1)
		}
	}
	if dc.Topic != "" && in.publish != nil {
		doc, err := json.Marshal(&d)
		if err == nil {
			err = in.publish(dc.Topic, doc, false, 0)
		}
		if err != nil {
			in.log.Warn("republishing dead letter", "topic", dc.Topic, "error", err)
		}
	}
}

// rowJSON renders a row as a JSON object (column name to value, the time
// as "time" in unix nanoseconds) for a dead letter.
func rowJSON(r rows.Row) []byte {
	obj := make(map[string]any, len(r.Columns)+2)
	obj["time"] = r.Time
	if r.Table != "" {
		obj["table"] = r.Table
	}
	for _, c := range r.Columns {
		v := c.Value
		switch v.Kind {
		case rows.KindNull:
			obj[c.Name] = nil
		case rows.KindInt64, rows.KindTimestamp:
			obj[c.Name] = v.Int
		case rows.KindFloat64:
			if math.IsNaN(v.Float) || math.IsInf(v.Float, 0) {
				obj[c.Name] = strconv.FormatFloat(v.Float, 'g', -1, 64) // JSON has no NaN
			} else {
				obj[c.Name] = v.Float
			}
		case rows.KindBool:
			obj[c.Name] = v.AsBool()
		case rows.KindString:
			obj[c.Name] = v.Str
		case rows.KindBytes:
			obj[c.Name] = v.Bytes
		}
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return []byte(fmt.Sprintf("%q", err.Error()))
	}
	return b
}
