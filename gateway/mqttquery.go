package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/lakegate/lakegate/arrowstore/query"
	"github.com/lakegate/lakegate/gateway/auth"
)

// The MQTT query API, as Machbase Neo's: a client publishes
//
//	{"q":"SELECT ...","format":"json|csv|ndjson","reply":"topic","timeformat":"ms","tz":"Asia/Seoul"}
//
// to db/query and receives the answer on its reply topic: the MQTT 5 Response
// Topic property if set (its Correlation Data echoed), else the "reply"
// field, else db/reply. The answer is written to the asking session only,
// never routed to other subscribers of the reply topic, and only if that
// session is subscribed to the reply topic (at the QoS of its subscription,
// capped by the request's).
const (
	// QueryTopic is where clients publish queries (query.mqtt.topic's default).
	QueryTopic = "db/query"
	// DefaultReplyTopic is where answers go when the request names none
	// (query.mqtt.default_reply's default).
	DefaultReplyTopic = "db/reply"

	// mqttMaxReplyBytes caps an answer's payload (further capped by the
	// client's Maximum Packet Size): query.mqtt.max_reply_bytes's default.
	mqttMaxReplyBytes = 1 << 20
	// mqttQueryTimeout bounds one query's run: query.mqtt.timeout's default.
	mqttQueryTimeout = 30 * time.Second
	// mqttMaxPending bounds the queries one client may have waiting; past
	// it, reading that client's packets waits (the client is slowed, no
	// other client is): query.mqtt.max_pending's default.
	mqttMaxPending = 16
)

// QueryConfig limits SQL queries, whichever API they come through, and
// configures the MQTT query API (the query: section of the config).
type QueryConfig struct {
	// MaxRows caps a result's rows; a larger result is refused, never cut
	// (0: query.DefaultMaxRows).
	MaxRows int `mapstructure:"max_rows"`
	// Parallelism is how many goroutines scan and aggregate for one
	// aggregate query (0: GOMAXPROCS).
	Parallelism int             `mapstructure:"parallelism"`
	MQTT        MQTTQueryConfig `mapstructure:"mqtt"`
}

// MQTTQueryConfig configures the MQTT query API. Zero values take the
// defaults named in each field.
type MQTTQueryConfig struct {
	Topic         string        `mapstructure:"topic"`           // where queries are published (db/query)
	DefaultReply  string        `mapstructure:"default_reply"`   // answers' topic when a request names none (db/reply)
	MaxReplyBytes ByteSize      `mapstructure:"max_reply_bytes"` // largest answer payload (1MiB)
	Timeout       time.Duration `mapstructure:"timeout"`         // bound on one query's run (30s)
	Concurrency   int           `mapstructure:"concurrency"`     // queries running at once, all clients (max(2, GOMAXPROCS))
	MaxPending    int           `mapstructure:"max_pending"`     // queries one client may have waiting (16)
}

// withDefaults fills in the zero fields.
func (c MQTTQueryConfig) withDefaults() MQTTQueryConfig {
	if c.Topic == "" {
		c.Topic = QueryTopic
	}
	if c.DefaultReply == "" {
		c.DefaultReply = DefaultReplyTopic
	}
	if c.MaxReplyBytes == 0 {
		c.MaxReplyBytes = mqttMaxReplyBytes
	}
	if c.Timeout == 0 {
		c.Timeout = mqttQueryTimeout
	}
	if c.Concurrency == 0 {
		c.Concurrency = max(2, runtime.GOMAXPROCS(0))
	}
	if c.MaxPending == 0 {
		c.MaxPending = mqttMaxPending
	}
	return c
}

// validate reports the problems of the query section, each by its key.
func (c *QueryConfig) validate(bad func(key, format string, args ...any)) {
	if c.MaxRows < 0 {
		bad("query.max_rows", "must not be negative (0 means %d)", query.DefaultMaxRows)
	}
	if c.Parallelism < 0 {
		bad("query.parallelism", "must not be negative (0 means one per CPU)")
	}
	m := c.MQTT
	for _, t := range [...]struct{ key, topic string }{{"query.mqtt.topic", m.Topic}, {"query.mqtt.default_reply", m.DefaultReply}} {
		if t.topic != "" && (!mqtt.IsValidFilter(t.topic, true) || strings.HasPrefix(t.topic, "$")) {
			bad(t.key, "invalid topic %q: want a topic name without wildcards, not starting with $", t.topic)
		}
	}
	if m.Topic != "" && m.Topic == m.DefaultReply {
		bad("query.mqtt.default_reply", "must differ from query.mqtt.topic (%q)", m.Topic)
	}
	if m.MaxReplyBytes < 0 || m.MaxReplyBytes > 268435455 {
		bad("query.mqtt.max_reply_bytes", "must be between 0 (the default, 1MiB) and 256MiB, got %d", m.MaxReplyBytes)
	}
	if m.Timeout < 0 {
		bad("query.mqtt.timeout", "must not be negative (0 means 30s)")
	}
	if m.Concurrency < 0 {
		bad("query.mqtt.concurrency", "must not be negative (0 means max(2, CPUs))")
	}
	if m.MaxPending < 0 {
		bad("query.mqtt.max_pending", "must not be negative (0 means 16)")
	}
}

// ErrReplyTooLarge is the reason given when an answer would not fit in the
// reply limit.
var ErrReplyTooLarge = errors.New("result too large for an MQTT reply")

// mqttQueryRequest is the JSON published to db/query.
type mqttQueryRequest struct {
	Q          string `json:"q"`
	Format     string `json:"format"`
	Reply      string `json:"reply"`
	TimeFormat string `json:"timeformat"`
	TZ         string `json:"tz"`
}

// queryJob is one query waiting for its turn.
type queryJob struct {
	received time.Time
	sql      string
	format   string
	enc      query.Format
	reply    string
	corr     []byte
	qos      byte
	err      error // a request that could not be read: answered with this
}

// clientQueue runs one client's queries in the order they came.
type clientQueue struct {
	jobs    []queryJob
	running bool
	refs    int           // enqueuers holding this queue outside the lock
	slots   chan struct{} // one per pending job; bounds the queue
}

// mqttQueryHook answers SQL published to db/query. Queries run off the
// client's read goroutine, one at a time per client (answers come back in
// order) and at most `concurrency` at a time overall; the db/query message
// itself is acknowledged but neither stored nor forwarded.
type mqttQueryHook struct {
	mqtt.HookBase
	engine *query.Engine
	server *mqtt.Server
	// acl says whether the client may read the reply topic (nil: yes).
	acl func(cl *mqtt.Client, topic string, write bool) bool
	cfg MQTTQueryConfig // with defaults filled in
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	sem    chan struct{}
	wg     sync.WaitGroup

	mu     sync.Mutex
	queues map[*mqtt.Client]*clientQueue
}

var _ mqtt.Hook = (*mqttQueryHook)(nil)

// newMQTTQueryHook returns the hook; Stop (called by the broker's Close)
// cancels running queries and waits for them.
func newMQTTQueryHook(engine *query.Engine, server *mqtt.Server,
	acl func(*mqtt.Client, string, bool) bool, cfg MQTTQueryConfig, log *slog.Logger) *mqttQueryHook {
	ctx, cancel := context.WithCancel(context.Background())
	cfg = cfg.withDefaults()
	return &mqttQueryHook{
		engine: engine, server: server, acl: acl, cfg: cfg, log: log,
		ctx: ctx, cancel: cancel,
		sem:    make(chan struct{}, cfg.Concurrency),
		queues: map[*mqtt.Client]*clientQueue{},
	}
}

func (h *mqttQueryHook) ID() string { return "lakegate-mqtt-query" }

// Provides nothing: the hook is registered for its Stop, and the ingest
// hook hands it each PUBLISH first (take), by pointer. A hook of its own
// would cost every message a second pass of its 800-byte packet in and out
// of mochi's hook chain.
func (h *mqttQueryHook) Provides(byte) bool { return false }

// Stop cancels the queries still running and waits for every client's
// queue to finish, so none reads the store after it is closed.
func (h *mqttQueryHook) Stop() error {
	h.cancel()
	h.wg.Wait()
	return nil
}

// take runs a PUBLISH to the query topic (from a client, not the broker
// itself) and reports true; the message is then acknowledged as usual but
// neither stored, retained nor forwarded. Any other message it leaves.
func (h *mqttQueryHook) take(cl *mqtt.Client, pk *packets.Packet) bool {
	if cl.Net.Inline || pk.TopicName != h.cfg.Topic {
		return false
	}
	h.enqueue(cl, readQueryJob(cl, pk, h.cfg.DefaultReply))
	return true
}

// readQueryJob reads a db/query PUBLISH into a job answered on
// defaultReply unless it names a reply topic; a bad request becomes a job
// that answers with the reason.
func readQueryJob(cl *mqtt.Client, pk *packets.Packet, defaultReply string) queryJob {
	j := queryJob{received: time.Now(), reply: defaultReply, qos: pk.FixedHeader.Qos}
	if cl.Properties.ProtocolVersion == 5 {
		j.corr = bytes.Clone(pk.Properties.CorrelationData)
	}
	var req mqttQueryRequest
	err := json.Unmarshal(pk.Payload, &req)
	switch {
	case pk.Properties.ResponseTopic != "":
		j.reply = pk.Properties.ResponseTopic
	case err == nil && req.Reply != "":
		j.reply = req.Reply
	}
	if !mqtt.IsValidFilter(j.reply, true) || strings.HasPrefix(j.reply, "$") {
		j.err = fmt.Errorf("invalid reply topic %q: want a topic name without wildcards, not starting with $", j.reply)
		j.reply = defaultReply
		return j
	}
	if err != nil {
		j.err = errors.New(`payload: want a JSON object {"q": "SELECT ...", "format": "json|csv|ndjson", "reply": "topic"}`)
		return j
	}
	if strings.TrimSpace(req.Q) == "" {
		j.err = errors.New("missing q: the SQL to run")
		return j
	}
	switch req.Format {
	case "", "json", "csv", "ndjson":
		j.format = req.Format
	default:
		j.err = fmt.Errorf("unknown format %q (want json, csv or ndjson)", req.Format)
		return j
	}
	if j.enc.Time, err = query.ParseTimeFormat(req.TimeFormat); err != nil {
		j.err = err
		return j
	}
	if j.enc.Location, err = query.ParseLocation(req.TZ); err != nil {
		j.err = err
		return j
	}
	j.sql = req.Q
	return j
}

// enqueue adds j to the client's queue, starting its runner if idle. It
// waits while the client already has cfg.MaxPending queries pending.
func (h *mqttQueryHook) enqueue(cl *mqtt.Client, j queryJob) {
	h.mu.Lock()
	q := h.queues[cl]
	if q == nil {
		q = &clientQueue{slots: make(chan struct{}, h.cfg.MaxPending)}
		h.queues[cl] = q
	}
	q.refs++
	h.mu.Unlock()

	select {
	case q.slots <- struct{}{}:
	case <-h.ctx.Done():
		h.mu.Lock()
		q.refs--
		h.dropIfIdle(cl, q)
		h.mu.Unlock()
		return
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	q.refs--
	q.jobs = append(q.jobs, j)
	if !q.running {
		q.running = true
		h.wg.Add(1)
		go h.drain(cl, q)
	}
}

// dropIfIdle forgets q when nothing uses it; h.mu is held.
func (h *mqttQueryHook) dropIfIdle(cl *mqtt.Client, q *clientQueue) {
	if !q.running && q.refs == 0 && len(q.jobs) == 0 {
		delete(h.queues, cl)
	}
}

// drain runs the client's queued jobs in order, then exits.
func (h *mqttQueryHook) drain(cl *mqtt.Client, q *clientQueue) {
	defer h.wg.Done()
	for {
		h.mu.Lock()
		if len(q.jobs) == 0 {
			q.running = false
			h.dropIfIdle(cl, q)
			h.mu.Unlock()
			return
		}
		j := q.jobs[0]
		q.jobs[0] = queryJob{}
		q.jobs = q.jobs[1:]
		h.mu.Unlock()

		h.run(cl, j)
		<-q.slots
	}
}

// run answers one job.
func (h *mqttQueryHook) run(cl *mqtt.Client, j queryJob) {
	if cl.Closed() {
		return
	}
	limit := replyLimit(cl, j, int(h.cfg.MaxReplyBytes))
	var body []byte
	contentType := "application/json"
	err := j.err
	if err == nil {
		select {
		case h.sem <- struct{}{}:
		case <-h.ctx.Done():
			return
		}
		body, contentType, err = h.answer(j, limit)
		<-h.sem
	}
	if err != nil {
		var b bytes.Buffer
		_ = query.WriteJSONError(&b, err, time.Since(j.received))
		body, contentType = b.Bytes(), "application/json"
		h.log.Debug("mqtt query failed", "client", cl.ID, "reply", j.reply, "error", err)
	}
	h.deliver(cl, j, body, contentType)
}

// answer runs the query and encodes its result within limit bytes.
func (h *mqttQueryHook) answer(j queryJob, limit int) (body []byte, contentType string, err error) {
	ctx, cancel := context.WithTimeout(h.ctx, h.cfg.Timeout)
	defer cancel()
	res, err := h.engine.Query(ctx, j.sql)
	if err != nil {
		return nil, "", err
	}
	w := &cappedBuffer{limit: limit}
	switch j.format {
	case "", "json":
		contentType = "application/json"
		err = query.WriteJSON(w, res, time.Since(j.received), j.enc)
	case "csv":
		contentType = "text/csv"
		err = query.WriteCSV(w, res, j.enc)
	case "ndjson":
		contentType = "application/x-ndjson"
		err = query.WriteNDJSON(w, res, j.enc)
	}
	if w.over {
		return nil, "", fmt.Errorf("%w: %d rows exceed %d bytes; add a LIMIT, narrow the time range or use HTTP /db/query",
			ErrReplyTooLarge, len(res.Rows), limit)
	}
	if err != nil {
		return nil, "", err
	}
	return w.buf.Bytes(), contentType, nil
}

// replyLimit is the largest payload the client can take for this job's
// reply: maxBytes, or less to fit its Maximum Packet Size.
func replyLimit(cl *mqtt.Client, j queryJob, maxBytes int) int {
	limit := maxBytes
	if mps := int(cl.Properties.Props.MaximumPacketSize); mps > 0 {
		// Fixed header, topic, packet id, and properties (correlation
		// data, content type, subscription identifiers) with room to spare.
		overhead := 5 + 2 + len(j.reply) + 2 + 3 + len(j.corr) + 3 + 32 + 32
		limit = min(limit, mps-overhead)
	}
	return max(limit, 0)
}

// cappedBuffer collects up to limit bytes and fails past it, so a large
// result stops encoding early.
type cappedBuffer struct {
	buf   bytes.Buffer
	limit int
	over  bool
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if c.buf.Len()+len(p) > c.limit {
		c.over = true
		return 0, ErrReplyTooLarge
	}
	return c.buf.Write(p)
}

// deliver writes the answer to the client alone, if it is subscribed to
// the reply topic and may read it.
func (h *mqttQueryHook) deliver(cl *mqtt.Client, j queryJob, body []byte, contentType string) {
	log := h.log.With("client", cl.ID, "reply", j.reply)
	sub, ok := matchingSubscription(cl, j.reply)
	if !ok {
		log.Debug("mqtt query answer dropped: the client is not subscribed to the reply topic")
		return
	}
	if h.acl != nil && !h.acl(cl, j.reply, false) {
		log.Debug("mqtt query answer dropped: the ACL does not let the client read the reply topic")
		return
	}
	qos := min(j.qos, sub.Qos)
	if h.server != nil {
		qos = min(qos, h.server.Options.Capabilities.MaximumQos)
	}
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos},
		TopicName:   j.reply,
		Payload:     body,
		Created:     time.Now().Unix(),
	}
	pk.Properties.ContentType = contentType
	pk.Properties.CorrelationData = j.corr
	if len(sub.Identifiers) > 0 {
		for _, id := range sub.Identifiers {
			pk.Properties.SubscriptionIdentifier = append(pk.Properties.SubscriptionIdentifier, id)
		}
	}
	if qos > 0 {
		if h.server != nil && cl.State.Inflight.Len() >= int(h.server.Options.Capabilities.MaximumInflight) {
			log.Warn("mqtt query answer dropped: the client has too many messages in flight")
			return
		}
		id, err := cl.NextPacketID()
		if err != nil {
			log.Warn("mqtt query answer dropped: no packet id free", "error", err)
			return
		}
		pk.PacketID = uint16(id)
		if cl.State.Inflight.Set(pk) { // resent by the broker if unacknowledged
			if h.server != nil {
				atomic.AddInt64(&h.server.Info.Inflight, 1)
			}
			cl.State.Inflight.DecreaseSendQuota()
		}
	}
	if err := cl.WritePacket(pk); err != nil {
		log.Debug("writing mqtt query answer", "error", err)
		if errors.Is(err, packets.ErrPacketTooLarge) && qos > 0 && cl.State.Inflight.Delete(pk.PacketID) {
			cl.State.Inflight.IncreaseSendQuota()
			if h.server != nil {
				atomic.AddInt64(&h.server.Info.Inflight, -1)
			}
		}
	}
}

// matchingSubscription finds the client's subscription covering topic,
// the one with the highest QoS if several do.
func matchingSubscription(cl *mqtt.Client, topic string) (packets.Subscription, bool) {
	var best packets.Subscription
	found := false
	for _, s := range cl.State.Subscriptions.GetAll() {
		filter := s.Filter
		if rest, ok := strings.CutPrefix(filter, "$share/"); ok {
			_, filter, _ = strings.Cut(rest, "/")
		}
		if auth.Covers(filter, topic) && (!found || s.Qos > best.Qos) {
			best, found = s, true
		}
	}
	return best, found
}
