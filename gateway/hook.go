package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/lakegate/lakegate/arrowstore"
	"github.com/lakegate/lakegate/arrowstore/rows"
)

// ingestHook takes every PUBLISH inside the broker and hands it to the
// Ingester (a QoS 1/2 one before it is acknowledged or delivered). Taking
// messages in a hook rather than as a subscriber means nothing is dropped
// when the store is slower than the publishers (mochi drops QoS 0 messages
// for a subscriber 8,192 messages behind).
//
// A QoS 1/2 message is acknowledged only once its rows are fsynced, but the
// connection does not wait for that: OnPublish hands the message to the
// ingest queue (ingestqueue.go), which formats and writes it with others
// in a batch (a route with a user plugin: OnPublish formats and writes it
// on the connection's goroutine), parks it in the connection's ack lane
// and tells mochi to drop it (ErrRejectPacket). The lane waits for the
// write and then for the fsync, which it shares with every other lane
// (group commit), and then hands the message back to mochi with
// InjectPacket, marked as already stored; mochi then acknowledges, retains
// and delivers it exactly as it would have. Meanwhile the connection reads
// and writes its next messages, so one publisher with many messages in
// flight is not held to one fsync per message. Acknowledgements keep their
// publish order because a lane is first in, first out, and a message that
// does not go through the lane (QoS 0, not routed) waits for the lane to
// empty first, so delivery order is kept too.
//
// A QoS 0 message has no acknowledgement to hold back: OnPublish queues it
// and lets mochi deliver it at once.
//
// A message that cannot be stored is in the dead-letter table (as durably
// as the message) before its negative acknowledgement goes out.
type ingestHook struct {
	mqtt.HookBase
	ctx    context.Context
	ingest *Ingester
	// queries takes the PUBLISHes to the query topic before anything else
	// sees them (nil: none are).
	queries *mqttQueryHook
	queue   *ingestQueue // nil: every message is stored on its connection's goroutine
	broker  *mqtt.Server
	log     *slog.Logger
	// audience tells whether a queued QoS 0 message has anyone to be
	// delivered to (audience.go).
	audience audience
	// maxPending bounds a connection's unacknowledged messages; past it the
	// connection waits (TCP backpressure). The broker's receive maximum.
	maxPending int

	lanes   sync.Map // *mqtt.Client -> *ackLane
	running sync.WaitGroup
}

var _ mqtt.Hook = (*ingestHook)(nil)

func (h *ingestHook) ID() string { return "lakegate-ingest" }

func (h *ingestHook) Provides(b byte) bool {
	switch b {
	case mqtt.OnPublish, mqtt.OnSessionEstablish, mqtt.OnSessionEstablished, mqtt.OnSubscribed, mqtt.OnDisconnect:
		return true
	}
	return false
}

// OnSubscribed and OnSessionEstablished count the moments subscriptions
// may have grown, for the audience memos (audience.go).
func (h *ingestHook) OnSubscribed(*mqtt.Client, packets.Packet, []byte) { h.audience.grew() }

func (h *ingestHook) OnSessionEstablished(*mqtt.Client, packets.Packet) { h.audience.grew() }

// maxReasonString bounds the reason text put in a PUBACK.
const maxReasonString = 256

// takeOverWait bounds how long a reconnecting client waits for its old
// connection's pending acknowledgements; see OnSessionEstablish.
const takeOverWait = 10 * time.Second

// pendingAck is a message written to the store and waiting, in its lane,
// to be acknowledged (or refused).
type pendingAck struct {
	pk   packets.Packet
	out  Outcome
	err  error         // why it could not be stored, or nil; once answered, the final outcome
	done chan struct{} // closed once answered
	// resendOf is the original of a QoS 2 resend that came while the
	// original was still pending; the resend is answered as it was.
	resendOf *pendingAck
	// formatted is the message's place in the ingest queue when the queue
	// formats and writes it: out and err are set once it is done.
	formatted ticket
}

// ackLane is one connection's messages that are written but not yet
// answered, oldest first. A goroutine runs while it is not empty.
type ackLane struct {
	cl    *mqtt.Client
	mu    sync.Mutex
	queue []*pendingAck
	gone  bool // the connection ended: forget the lane once it is empty
	// queued is the client's last message in the ingest queue; a message
	// of the client that does not go through the queue waits for it.
	// choice says whether the client's last topic may be queued. Only the
	// connection's goroutine uses them.
	queued   ticket
	shard    *queueShard // the client's shard, once it has queued
	choice   queueChoice
	audience audienceMemo
}

// resendOf returns the message pending in lane that pk is a QoS 2 resend
// of, or nil.
func resendOf(lane *ackLane, pk packets.Packet) *pendingAck {
	if lane == nil || pk.FixedHeader.Qos != 2 || !pk.FixedHeader.Dup {
		return nil
	}
	return lane.holding(pk.PacketID)
}

// holding returns the pending QoS 2 message with packet id pid, or nil.
func (l *ackLane) holding(pid uint16) *pendingAck {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.queue {
		if p.pk.PacketID == pid && p.pk.FixedHeader.Qos == 2 && p.resendOf == nil {
			return p
		}
	}
	return nil
}

// last returns the newest pending message, or nil.
func (l *ackLane) last() *pendingAck {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.queue) == 0 {
		return nil
	}
	return l.queue[len(l.queue)-1]
}

func (h *ingestHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	if h.queries != nil && h.queries.take(cl, &pk) {
		// Acknowledged as usual, but neither stored, retained nor
		// delivered: mochi skips all that for CodeSuccessIgnore.
		return pk, packets.CodeSuccessIgnore
	}
	if strings.HasPrefix(pk.TopicName, "$") {
		return pk, nil
	}
	if pk.Ignore {
		// Our own InjectPacket of a message whose rows are on disk: let
		// mochi acknowledge and deliver it. No client packet has Ignore set:
		// mochi sets it only after the hooks, when one returns
		// CodeSuccessIgnore, and this hook, the last, sets it only on what
		// it returns.
		pk.Ignore = false
		return pk, nil
	}
	msg := rows.Message{
		Topic:           pk.TopicName,
		Payload:         pk.Payload,
		ClientID:        cl.ID,
		Username:        string(cl.Properties.Username),
		QoS:             pk.FixedHeader.Qos,
		Retain:          pk.FixedHeader.Retain,
		ProtocolVersion: cl.Properties.ProtocolVersion,
		ContentType:     pk.Properties.ContentType,
		Received:        receivedAt(cl),
	}
	for _, p := range pk.Properties.User {
		msg.UserProperties = append(msg.UserProperties, rows.Property{Key: p.Key, Value: p.Val})
	}
	lane := h.laneOf(cl, pk.FixedHeader.Qos > 0 || h.queue != nil)
	if pk.FixedHeader.Qos > 0 {
		h.waitForRoom(lane)
	}
	orig := resendOf(lane, pk)
	if orig == nil && h.viaQueue(lane, &msg, pk) {
		if pk.FixedHeader.Qos == 0 {
			if !pk.FixedHeader.Retain && lane.audience.unheard(&h.audience, pk.TopicName) {
				// Nobody to deliver to: spare mochi its lookup. Setting
				// Ignore does what returning CodeSuccessIgnore does,
				// without mochi's errors.Is checks of that error, which
				// box a packets.Code four times a message (an allocation
				// each). (Ignore would also keep a retained message from
				// being retained.)
				pk.Ignore = true
				return pk, nil
			}
			return pk, nil
		}
		return pk, packets.ErrRejectPacket
	}
	if lane != nil {
		// Stored in the order sent: an acknowledgement says that what the
		// client sent before is stored too.
		lane.queued.wait(h.ctx)
		lane.queued = ticket{}
	}
	if orig != nil {
		// A resend of a message still waiting in the lane: answer it after
		// the original, through mochi, which then holds the id and answers
		// PUBREC without passing the message on; it is not stored again.
		h.enqueue(lane, &pendingAck{pk: parked(pk), resendOf: orig, done: make(chan struct{})})
		return pk, packets.ErrRejectPacket
	}
	unqueued := msg // only this path lets the message escape to the heap
	out, err := h.ingest.Submit(h.ctx, &unqueued)
	if pk.FixedHeader.Qos == 0 || !out.Routed {
		// Nothing to wait for: keep it behind what is already pending,
		// then let mochi deliver it (and acknowledge an unrouted QoS 1/2).
		h.waitDrained(lane)
		if err != nil && out.Routed {
			h.logRefused(cl, pk, err)
		}
		return pk, nil
	}
	h.enqueue(lane, &pendingAck{pk: parked(pk), out: out, err: err, done: make(chan struct{})})
	return pk, packets.ErrRejectPacket
}

// viaQueue hands msg to the ingest queue when its route lets it (only
// built-in formatters; an unrouted QoS 1/2 message is acknowledged by mochi
// at once instead) and reports whether it did. A QoS 0 message is then
// done with, behind what is pending in the lane; a QoS 1/2 one waits in
// the lane for the queue's write.
func (h *ingestHook) viaQueue(lane *ackLane, msg *rows.Message, pk packets.Packet) bool {
	if h.queue == nil {
		return false
	}
	if ok, routed := lane.choice.queueable(h.ingest, pk.TopicName); !ok || !routed && pk.FixedHeader.Qos > 0 {
		return false
	}
	// The same string for every message of the client's current topic,
	// not this packet's copy: the worker compares it with the batch's last
	// topic by pointer and reads bytes it has in its cache already.
	msg.Topic = lane.choice.topic
	var p *pendingAck
	if pk.FixedHeader.Qos > 0 {
		p = &pendingAck{pk: parked(pk), done: make(chan struct{})}
	}
	if lane.shard == nil {
		lane.shard = h.queue.shardOf(msg.ClientID)
	}
	t, ok := lane.shard.add(msg, p)
	if !ok {
		return false // closed: stored on this goroutine
	}
	lane.queued = t
	if p == nil {
		h.waitDrained(lane)
		return true
	}
	p.formatted = t
	h.enqueue(lane, p)
	return true
}

// readClock is a connection that knows when it last read bytes
// (listen.Guard's connections do). Only the connection's goroutine, the
// one mochi runs the hooks of its packets on, may ask.
type readClock interface{ ReadAt() time.Time }

// receivedAt returns when the gateway received cl's packet being handled:
// the time of the read that completed it, which the connection took once
// for all the packets of that read, or else now.
func receivedAt(cl *mqtt.Client) time.Time {
	if rc, ok := cl.Net.Conn.(readClock); ok {
		if t := rc.ReadAt(); !t.IsZero() {
			return t
		}
	}
	return time.Now()
}

// parked returns pk as it waits in a lane. Its topic is resolved: an
// alias set again later, from the lane, could undo a newer mapping the
// client made meanwhile.
func parked(pk packets.Packet) packets.Packet {
	pk.Properties.TopicAlias, pk.Properties.TopicAliasFlag = 0, false
	return pk
}

// laneOf returns cl's ack lane, creating it when create is set (else nil
// if it has none).
func (h *ingestHook) laneOf(cl *mqtt.Client, create bool) *ackLane {
	if l, ok := h.lanes.Load(cl); ok {
		return l.(*ackLane)
	}
	if !create {
		return nil
	}
	l, _ := h.lanes.LoadOrStore(cl, &ackLane{cl: cl})
	return l.(*ackLane)
}

// waitForRoom blocks while lane holds maxPending messages.
func (h *ingestHook) waitForRoom(lane *ackLane) {
	for {
		lane.mu.Lock()
		if len(lane.queue) < h.maxPending {
			lane.mu.Unlock()
			return
		}
		oldest := lane.queue[0]
		lane.mu.Unlock()
		<-oldest.done
	}
}

// waitDrained blocks until every message pending in lane is answered.
func (h *ingestHook) waitDrained(lane *ackLane) {
	if lane == nil {
		return
	}
	if p := lane.last(); p != nil {
		<-p.done
	}
}

// enqueue adds p to lane, starting the lane's goroutine if it was idle.
func (h *ingestHook) enqueue(lane *ackLane, p *pendingAck) {
	lane.mu.Lock()
	lane.queue = append(lane.queue, p)
	start := len(lane.queue) == 1
	if start {
		h.running.Add(1)
	}
	lane.mu.Unlock()
	if start {
		go h.drain(lane)
	}
}

// drain answers lane's messages in order until it is empty. Each round
// waits for the disk to cover the oldest pending message, then answers
// every message from the front that is on disk by then: one sync covers
// all that was logged when it began, so usually most of what is pending,
// while what came during it waits for the next round (rather than the
// whole lot waiting for one more sync). A round's acknowledgements leave
// in one write when the connection can be corked.
func (h *ingestHook) drain(lane *ackLane) {
	defer h.running.Done()
	conn := corkable(lane.cl.Net.Conn)
	for {
		lane.mu.Lock()
		batch := slices.Clone(lane.queue)
		lane.mu.Unlock()
		// A message the ingest queue takes is known only once the queue
		// has written it; a round starts with its oldest message written.
		if t := batch[0].formatted; t.shard != nil && !t.wait(h.ctx) {
			// Shutting down before the queue wrote it: drop the connection
			// without acknowledging, so the client sends it again.
			lane.cl.Stop(fmt.Errorf("storing: %w", h.ctx.Err()))
			h.abandon(lane)
			return
		}
		syncErr := h.ingest.WaitDurable(Outcome{LogSeq: batch[0].out.LogSeq})
		n, upTo := 1, h.ingest.DurableSeq()
		for n < len(batch) && batch[n].formatted.finished() && (syncErr != nil || batch[n].out.LogSeq <= upTo) {
			n++
		}
		batch = batch[:n]
		if conn != nil && len(batch) > 1 {
			conn.Cork()
		}
		for _, p := range batch {
			h.answer(lane.cl, p, syncErr)
		}
		if conn != nil && len(batch) > 1 {
			if err := conn.Uncork(); err != nil {
				h.log.Debug("writing acknowledgements", "client", lane.cl.ID, "error", err)
			}
		}

		if h.finish(lane, len(batch)) {
			return
		}
	}
}

// abandon forgets what lane holds without answering it (the connection
// is being dropped) and releases whoever waits for it.
func (h *ingestHook) abandon(lane *ackLane) { h.finish(lane, -1) }

// finish takes the n oldest messages off lane (every one if n < 0) and
// releases whoever waits for them. It reports whether the lane is empty
// now; an empty lane whose connection ended is forgotten.
func (h *ingestHook) finish(lane *ackLane, n int) (empty bool) {
	lane.mu.Lock()
	if n < 0 {
		n = len(lane.queue)
	}
	done := lane.queue[:n:n]
	lane.queue = lane.queue[n:]
	empty = len(lane.queue) == 0
	if empty {
		lane.queue = nil
		if lane.gone {
			h.lanes.Delete(lane.cl)
		}
	}
	lane.mu.Unlock()
	for _, p := range done {
		close(p.done)
	}
	clear(done)
	return empty
}

// corker is a connection that can hold back its writes and send them in
// one go (gateway/listen's connections can).
type corker interface {
	Cork()
	Uncork() error
}

// corkable returns c, or the connection under TLS, as a corker; nil if it
// is not one.
func corkable(c net.Conn) corker {
	if t, ok := c.(*tls.Conn); ok {
		c = t.NetConn()
	}
	k, _ := c.(corker)
	return k
}

// answer acknowledges p through mochi, or refuses it. syncErr is the
// outcome of waiting for p's rows (or dead letters) to be durable.
func (h *ingestHook) answer(cl *mqtt.Client, p *pendingAck, syncErr error) {
	if p.resendOf != nil {
		// Answered after its original, in the same batch or an earlier
		// one: mochi holds the id if the original was taken.
		if p.resendOf.err != nil {
			h.refuse(cl, p.pk, p.resendOf.err)
			return
		}
		syncErr = nil
	}
	err := p.err
	serr := syncErr
	if serr == nil {
		serr = p.out.waitForwarded()
	}
	if serr != nil {
		if err == nil {
			err = serr
		} else {
			h.log.Error("syncing dead letter", "topic", p.pk.TopicName, "client", cl.ID, "error", serr)
		}
	}
	p.err = err
	if err == nil {
		pk := p.pk
		pk.Ignore = true // marks it as stored for OnPublish
		if ierr := h.broker.InjectPacket(cl, pk); ierr != nil {
			h.log.Debug("acknowledging stored message", "client", cl.ID, "topic", pk.TopicName, "error", ierr)
		}
		// InjectPacket counts the message as received a second time.
		atomic.AddInt64(&h.broker.Info.PacketsReceived, -1)
		atomic.AddInt64(&h.broker.Info.MessagesReceived, -1)
		return
	}
	h.refuse(cl, p.pk, err)
}

// refuse answers a QoS 1/2 message that could not be stored.
func (h *ingestHook) refuse(cl *mqtt.Client, pk packets.Packet, err error) {
	code := h.logRefused(cl, pk, err)
	if cl.Properties.ProtocolVersion == 5 {
		// Answer with the reason ourselves: mochi's own error path sends a
		// PUBACK even for QoS 2, where the client expects a PUBREC.
		ack := packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Puback},
			PacketID:    pk.PacketID,
			ReasonCode:  code.Code,
		}
		if pk.FixedHeader.Qos == 2 {
			ack.FixedHeader.Type = packets.Pubrec
		}
		ack.Properties.ReasonString = truncate(code.Reason+": "+err.Error(), maxReasonString)
		if werr := cl.WritePacket(ack); werr != nil {
			h.log.Debug("writing negative ack", "client", cl.ID, "error", werr)
		}
		return
	}
	if isPermanent(err) {
		// MQTT 3 has no negative acknowledgement: acknowledge, so the client
		// does not resend a message that can never be stored; it is logged
		// and counted. It is delivered to subscribers as usual.
		pk.Ignore = true
		if ierr := h.broker.InjectPacket(cl, pk); ierr != nil {
			h.log.Debug("acknowledging refused message", "client", cl.ID, "error", ierr)
		}
		atomic.AddInt64(&h.broker.Info.PacketsReceived, -1)
		atomic.AddInt64(&h.broker.Info.MessagesReceived, -1)
		return
	}
	// A store failure: withhold the ack and drop the connection, so the
	// client resends the message once it reconnects.
	cl.Stop(err)
}

// logRefused logs a routed message that was not stored and returns its
// MQTT 5 reason.
func (h *ingestHook) logRefused(cl *mqtt.Client, pk packets.Packet, err error) packets.Code {
	code := reasonFor(err)
	h.log.Warn("message not stored", "topic", pk.TopicName, "client", cl.ID, "qos", pk.FixedHeader.Qos,
		"reason_code", code.Code, "reason", err)
	return code
}

// pending returns how many messages wait in ack lanes for the disk.
func (h *ingestHook) pending() int {
	n := 0
	h.lanes.Range(func(_, v any) bool {
		l := v.(*ackLane)
		l.mu.Lock()
		n += len(l.queue)
		l.mu.Unlock()
		return true
	})
	return n
}

// OnSessionEstablish runs before mochi hands an existing session to a
// reconnecting client: let the old connection's pending messages be
// answered first, so the session it inherits holds their in-flight state
// (a QoS 2 resend is then recognised and not stored twice).
func (h *ingestHook) OnSessionEstablish(cl *mqtt.Client, _ packets.Packet) {
	old, ok := h.broker.Clients.Get(cl.ID)
	if !ok || old == cl {
		return
	}
	lane := h.laneOf(old, false)
	if lane == nil {
		return
	}
	p := lane.last()
	if p == nil {
		return
	}
	select {
	case <-p.done:
	case <-time.After(takeOverWait):
		h.log.Warn("old connection's acknowledgements still pending at take-over", "client", cl.ID)
	}
}

// OnDisconnect forgets cl's lane, at once if it is empty, else once its
// messages are answered (the session keeps their in-flight state for a
// resumed session, and a take-over waits for them meanwhile).
func (h *ingestHook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	lane := h.laneOf(cl, false)
	if lane == nil {
		return
	}
	lane.mu.Lock()
	if len(lane.queue) == 0 {
		h.lanes.Delete(cl)
	} else {
		lane.gone = true
	}
	lane.mu.Unlock()
}

// Stop waits for the lanes to finish answering, so none writes to the
// store after it is closed. mochi calls it when the broker closes.
func (h *ingestHook) Stop() error {
	if h.queue != nil {
		h.queue.close()
	}
	h.running.Wait()
	return nil
}

// reasonFor maps an ingest error to its MQTT 5 reason code.
func reasonFor(err error) packets.Code {
	switch {
	case errors.Is(err, rows.ErrMalformedPayload), errors.Is(err, ErrAllRowsRejected):
		return packets.ErrPayloadFormatInvalid
	case errors.Is(err, rows.ErrInvalidName):
		return packets.ErrTopicNameInvalid
	case errors.Is(err, rows.ErrPluginFailed):
		return packets.ErrImplementationSpecificError
	case errors.Is(err, arrowstore.ErrBackpressure):
		return packets.ErrQuotaExceeded
	}
	return packets.ErrUnspecifiedError
}

// isPermanent reports whether sending the same message again would fail the same way.
func isPermanent(err error) bool {
	return errors.Is(err, rows.ErrMalformedPayload) || errors.Is(err, ErrAllRowsRejected) ||
		errors.Is(err, rows.ErrInvalidName) || errors.Is(err, rows.ErrPluginFailed)
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
