package gateway

import (
	"context"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lakegate/lakegate/arrowstore/query"
	"github.com/lakegate/lakegate/arrowstore/rows"
)

// ingestQueue takes messages off the connections' goroutines and stores
// them in batches: a connection goes on reading while a worker formats
// what it queued, and a worker writes the rows of a whole batch to the
// store at once (one lock, one log record) with a formatter instance that
// stays warm in the cache. A QoS 0 message is done with once queued; a
// QoS 1/2 message waits in its connection's ack lane until the worker has
// written it, then for the disk (hook.go).
//
// Only messages whose route uses built-in formatters (or none) are queued
// (queueable): their time per message is bounded by the message's size. A
// user plugin's messages are formatted on their connection's goroutine, so
// a plugin that spends its whole deadline on every message holds up its
// own publishers, not a queue others share.
//
// Each client's messages go to one shard (a queue and its worker), so they
// are stored in the order they came. Every queued message gets a ticket in
// its shard; a shard's done count says how many it has finished, in
// ticket order. A client's message that does not go through the queue
// waits for the client's last ticket first, so an acknowledgement still
// means that everything the client sent before is stored; a query waits
// for every ticket handed out before it began (settle), so it sees every
// message the gateway received before it.
type ingestQueue struct {
	ingest *Ingester
	log    *slog.Logger
	ctx    context.Context
	seed   maphash.Seed
	shards []*queueShard
	wg     sync.WaitGroup
}

// queueShard is one queue and the state of its worker.
type queueShard struct {
	mu     sync.Mutex // hands out tickets in the order messages enter ch
	ch     chan queued
	closed bool
	queued atomic.Uint64 // tickets handed out (written under mu)

	doneMu   sync.Mutex
	done     uint64        // messages finished, in ticket order
	bytes    int           // size of the messages queued and not finished
	progress chan struct{} // closed (and replaced) whenever done grows
}

// Queue sizes. A batch is what a worker takes at once; a shard holds at
// most queueDepth messages and queueBytes of them (one larger message
// alone), after which connections wait (TCP backpressure, as for a slow
// store).
const (
	maxBatch   = 128
	queueDepth = 8192
	queueBytes = 32 << 20
	// settleWait bounds how long a query waits for the messages queued
	// before it; past it the query runs on what is stored.
	settleWait = 5 * time.Second
)

// newIngestQueue starts workers shards, each with its own worker.
func newIngestQueue(ctx context.Context, in *Ingester, log *slog.Logger, workers int) *ingestQueue {
	q := &ingestQueue{ingest: in, log: log, ctx: ctx, seed: maphash.MakeSeed()}
	for range max(workers, 1) {
		s := &queueShard{ch: make(chan queued, queueDepth), progress: make(chan struct{})}
		q.shards = append(q.shards, s)
		q.wg.Add(1)
		go q.work(s)
	}
	return q
}

// queueable reports whether a QoS 0 message to topic may go through the
// queue, for the routing generation gen: when it is routed only to built-in
// formatters (or not routed at all), whose time per message is bounded by
// its size. A user plugin's messages are formatted on the connection's
// goroutine, as QoS 1/2 messages are, so a plugin that spends its whole
// deadline on every message holds back its own publishers, not a queue
// that others share.
func (in *Ingester) queueable(topic string) (gen *routing, ok, routed bool) {
	rt := in.acquire()
	defer rt.mu.RUnlock()
	m, routed, _ := rt.router.Match(topic)
	return rt, !routed || m.route == nil || m.route.builtin, routed
}

// queueChoice remembers queueable's answer for a client's last topic.
type queueChoice struct {
	topic      string
	gen        *routing
	ok, routed bool
}

// queueable is Ingester.queueable, answered from c while the topic and
// the routing generation are the same.
func (c *queueChoice) queueable(in *Ingester, topic string) (ok, routed bool) {
	if c.gen == nil || c.topic != topic || in.table.Load() != c.gen {
		c.gen, c.ok, c.routed = in.queueable(topic)
		c.topic = topic
	}
	return c.ok, c.routed
}

// queued is a message in a shard; ack is set for a QoS 1/2 message, whose
// outcome the worker puts there for the message's ack lane. The message
// travels by value: the channel's buffer holds it, so that queueing a
// message allocates nothing.
type queued struct {
	msg rows.Message
	ack *pendingAck
}

// ticket is a place in a shard's order; the zero ticket is already done.
type ticket struct {
	shard *queueShard
	n     uint64
}

// shardOf returns the shard that takes the messages of clientID.
func (q *ingestQueue) shardOf(clientID string) *queueShard {
	return q.shards[maphash.String(q.seed, clientID)%uint64(len(q.shards))]
}

// add queues msg in s, its client's shard (shardOf), behind the client's
// earlier messages and returns its ticket. ok is false once the queue is
// closed: the caller stores the message itself.
func (s *queueShard) add(msg *rows.Message, ack *pendingAck) (t ticket, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ticket{}, false
	}
	s.reserve(messageSize(msg))
	s.ch <- queued{*msg, ack} // may wait for room: backpressure on the connection
	return ticket{shard: s, n: s.queued.Add(1)}, true
}

// wait returns once t's message is finished, or ctx ends.
func (t ticket) wait(ctx context.Context) bool {
	if t.shard == nil {
		return true
	}
	return t.shard.waitDone(ctx, t.n)
}

// finished reports whether t's message is finished (the zero ticket is).
func (t ticket) finished() bool {
	if t.shard == nil {
		return true
	}
	t.shard.doneMu.Lock()
	defer t.shard.doneMu.Unlock()
	return t.shard.done >= t.n
}

// waitDone returns once n messages are finished, or ctx ends.
func (s *queueShard) waitDone(ctx context.Context, n uint64) bool {
	for {
		s.doneMu.Lock()
		done, progress := s.done, s.progress
		s.doneMu.Unlock()
		if done >= n {
			return true
		}
		select {
		case <-progress:
		case <-ctx.Done():
			return false
		}
	}
}

// messageSize is what a queued message holds in memory, roughly.
func messageSize(m *rows.Message) int {
	n := len(m.Payload) + len(m.Topic) + len(m.ClientID) + 256
	for _, p := range m.UserProperties {
		n += len(p.Key) + len(p.Value)
	}
	return n
}

// reserve waits until size more bytes fit the shard (or it is empty) and
// counts them. The worker never waits for a producer, so this ends.
func (s *queueShard) reserve(size int) {
	for {
		s.doneMu.Lock()
		if s.bytes == 0 || s.bytes+size <= queueBytes {
			s.bytes += size
			s.doneMu.Unlock()
			return
		}
		progress := s.progress
		s.doneMu.Unlock()
		<-progress
	}
}

// finished records that n more messages, of size bytes, are finished.
func (s *queueShard) finished(n, size int) {
	s.doneMu.Lock()
	s.done += uint64(n)
	s.bytes -= size
	close(s.progress)
	s.progress = make(chan struct{})
	s.doneMu.Unlock()
}

// settle waits until every message queued before the call is finished (or
// settleWait passes): what a query must see.
func (q *ingestQueue) settle(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, settleWait)
	defer cancel()
	for _, s := range q.shards {
		if !s.waitDone(ctx, s.queued.Load()) {
			q.log.Warn("query runs before the messages queued ahead of it are stored", "waited", settleWait)
			return
		}
	}
}

// work stores a shard's messages, a batch at a time, until it is closed
// and empty.
func (q *ingestQueue) work(s *queueShard) {
	defer q.wg.Done()
	batch := make([]queued, 0, maxBatch)
	msgs := make([]*rows.Message, 0, maxBatch)
	var scratch BatchScratch
	for first := range s.ch {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxBatch {
			select {
			case m, ok := <-s.ch:
				if !ok {
					break fill
				}
				batch = append(batch, m)
			default:
				break fill
			}
		}
		msgs, size := msgs[:0], 0
		for i := range batch {
			msgs = append(msgs, &batch[i].msg)
			size += messageSize(&batch[i].msg)
		}
		q.ingest.SubmitBatch(q.ctx, msgs, &scratch, func(i int, out Outcome, err error) {
			if ack := batch[i].ack; ack != nil {
				ack.out, ack.err = out, err // its lane answers, once finished says so
				return
			}
			if err != nil && out.Routed {
				m := msgs[i]
				code := reasonFor(err)
				q.log.Warn("message not stored", "topic", m.Topic, "client", m.ClientID, "qos", m.QoS,
					"reason_code", code.Code, "reason", err)
			}
		})
		clear(batch) // the payloads can go
		clear(msgs)
		s.finished(len(batch), size)
	}
}

// close stops taking messages and returns once every queued one is stored.
func (q *ingestQueue) close() {
	for _, s := range q.shards {
		s.mu.Lock()
		if !s.closed {
			s.closed = true
			close(s.ch)
		}
		s.mu.Unlock()
	}
	q.wg.Wait()
}

// pending returns how many queued messages are not finished yet.
func (q *ingestQueue) pending() int {
	n := 0
	for _, s := range q.shards {
		s.doneMu.Lock()
		done := s.done
		s.doneMu.Unlock()
		n += int(s.queued.Load() - done) // read after done: never below it
	}
	return n
}

// settledSource is the store as a query source, which first lets the
// ingest queue store what was received before the query.
type settledSource struct {
	store listingSource
	queue *ingestQueue
}

// listingSource is what query.StoreSource returns.
type listingSource interface {
	query.Source
	query.TableLister
}

var _ query.TableLister = settledSource{}

// Tables implements query.TableLister.
func (s settledSource) Tables() []string {
	s.queue.settle(context.Background())
	return s.store.Tables()
}

// Snapshot implements query.Source.
func (s settledSource) Snapshot(table string, tr query.TimeRange) (query.Snapshot, error) {
	s.queue.settle(context.Background())
	return s.store.Snapshot(table, tr)
}
