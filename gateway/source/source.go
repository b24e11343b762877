// Package source takes messages from an existing MQTT 5 broker or cluster
// (Mosquitto, EMQX, HiveMQ, another lakegate) instead of, or besides,
// lakegate's own listeners. With a share group each filter is subscribed as
// $share/<group>/<filter>, so several lakegate instances split one cluster's
// traffic between them.
//
// A Source keeps one persistent session (clean start off, a session expiry)
// through a maintained client (paho.golang autopaho) that reconnects with
// backoff, and acknowledges a QoS 1/2 message upstream only once its
// Handler returned: the rows are durable by then, so a message is never
// lost across a crash, a reconnect or a restart (at QoS 1 it may be
// ingested twice if the acknowledgement itself is lost). It knows nothing
// of routes or the store: the gateway gives it a Handler.
package source

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/eclipse/paho.golang/paho/session"
	"github.com/eclipse/paho.golang/paho/session/state"

	"github.com/lakegate/lakegate/arrowstore/rows"
)

// Handler ingests one message. It returns nil once the message's rows are
// durable, or the message was deliberately set aside (a dead letter): the
// message is then acknowledged upstream. An error means "try again": the
// message is retried with backoff until it succeeds or the source closes,
// and stays unacknowledged (the broker sends it again) meanwhile.
type Handler func(ctx context.Context, msg *rows.Message) error

// Options are what the embedding program injects.
type Options struct {
	Handler Handler
	Logger  *slog.Logger
}

// Stats counts what a source did.
type Stats struct {
	Name      string `json:"name"`
	Connected bool   `json:"connected"`
	Connects  int64  `json:"connects"` // successful connections, reconnects included
	Received  int64  `json:"received"` // messages received from upstream
	Ingested  int64  `json:"ingested"` // messages the handler took
	Acked     int64  `json:"acked"`    // QoS 1/2 acknowledgements sent upstream
	Retries   int64  `json:"retries"`  // handler failures retried
	Stale     int64  `json:"stale"`    // skipped: their connection dropped before they were ingested (sent again)
}

const (
	// ackWait bounds how long Close waits for acknowledgements to be written.
	ackWait = 2 * time.Second
	// ackInterval is how often paho writes the acknowledgements that are
	// due (in order). A broker with a small in-flight limit per client
	// (Mosquitto: 20) sends no more than that many messages per interval.
	ackInterval = 10 * time.Millisecond
	// workerQueue is how many received messages wait for each worker; when
	// full, reading from the broker pauses (TCP flow control).
	workerQueue = 64
)

// Source is one upstream subscription. Create it with New, then Start and Close.
type Source struct {
	cfg Config
	h   Handler
	log *slog.Logger

	cm       *autopaho.ConnectionManager
	session  *countingSession // kept across connections: the broker's session is too
	work     []chan job
	seed     maphash.Seed
	workCtx  context.Context // handlers' context; cancelled when Close gives up draining
	stopWork context.CancelFunc
	quit     chan struct{} // closed by Close: workers return
	workers  sync.WaitGroup

	mu       sync.Mutex
	started  bool
	closing  bool
	inflight sync.WaitGroup // messages handed to a worker and not yet done

	connected                                       atomic.Bool
	connects, received, ingested, retries, acksMark atomic.Int64
	acksSent, stale                                 atomic.Int64
	closeOnce                                       sync.Once
	closeErr                                        error
}

// job is one received message on its way to a worker.
type job struct {
	client *paho.Client // the connection it came on: the ack goes back on it
	pub    *paho.Publish
	msg    rows.Message
}

// New checks cfg (defaults filled in) and returns a source that is not
// started: nothing is read or dialled until Start.
func New(cfg Config, opts Options) (*Source, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("source %s: %w", cfg.Name, err)
	}
	if opts.Handler == nil {
		return nil, errors.New("source: no handler")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Source{cfg: cfg, h: opts.Handler, log: log.With("source", cfg.Name), seed: maphash.MakeSeed()}, nil
}

// Name is the source's configured name.
func (s *Source) Name() string { return s.cfg.Name }

// Start starts the workers and the connection manager, which connects (and
// later reconnects) in the background; Start does not wait for the broker.
func (s *Source) Start(ctx context.Context) error {
	var urls []*url.URL
	tlsCfg, err := s.cfg.TLS.tlsConfig()
	if err != nil {
		return fmt.Errorf("source %s: %w", s.cfg.Name, err)
	}
	for _, b := range s.cfg.Brokers {
		u, err := brokerURL(b)
		if err != nil {
			return fmt.Errorf("source %s: %w", s.cfg.Name, err)
		}
		urls = append(urls, u)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return fmt.Errorf("source %s: closed", s.cfg.Name)
	}
	s.session = &countingSession{SessionManager: state.NewInMemory(), sent: &s.acksSent}
	s.workCtx, s.stopWork = context.WithCancel(context.Background())
	s.quit = make(chan struct{})
	s.work = make([]chan job, s.cfg.Workers)
	for i := range s.work {
		s.work[i] = make(chan job, workerQueue)
		s.workers.Add(1)
		go s.worker(s.work[i])
	}

	expiry := uint32(s.cfg.SessionExpiry / time.Second)
	recvMax := uint16(s.cfg.ReceiveMaximum)
	minDelay, maxDelay := s.cfg.ReconnectMin, s.cfg.ReconnectMax
	cc := autopaho.ClientConfig{
		ServerUrls:                    urls,
		TlsCfg:                        tlsCfg,
		KeepAlive:                     uint16(s.cfg.KeepAlive / time.Second),
		CleanStartOnInitialConnection: false,
		SessionExpiryInterval:         expiry,
		ReconnectBackoff:              autopaho.NewExponentialBackoff(minDelay, maxDelay, minDelay, 2),
		ConnectTimeout:                30 * time.Second,
		ConnectUsername:               s.cfg.Username,
		ConnectPassword:               []byte(s.cfg.Password),
		ConnectPacketBuilder: func(cp *paho.Connect, _ *url.URL) (*paho.Connect, error) {
			if recvMax == 0 {
				return cp, nil
			}
			if cp.Properties == nil {
				cp.Properties = &paho.ConnectProperties{}
			}
			cp.Properties.ReceiveMaximum = &recvMax
			return cp, nil
		},
		OnConnectionUp: func(cm *autopaho.ConnectionManager, ca *paho.Connack) {
			s.connected.Store(true)
			s.connects.Add(1)
			s.log.Info("connected upstream", "session_present", ca.SessionPresent)
			go s.subscribe(cm)
		},
		OnConnectionDown: func() bool {
			s.connected.Store(false)
			return true
		},
		OnConnectError: func(err error) { s.log.Warn("connecting upstream", "error", err) },
		Errors:         pahoLogger{s.log, slog.LevelDebug},
		PahoErrors:     pahoLogger{s.log, slog.LevelDebug},
		ClientConfig: paho.ClientConfig{
			ClientID:                   s.cfg.ClientID,
			Session:                    s.session,
			EnableManualAcknowledgment: true,
			SendAcksInterval:           ackInterval,
			OnPublishReceived:          []func(paho.PublishReceived) (bool, error){s.onPublish},
			OnClientError:              func(err error) { s.log.Warn("upstream connection lost", "error", err) },
			OnServerDisconnect: func(d *paho.Disconnect) {
				s.log.Warn("upstream broker disconnected us", "reason_code", d.ReasonCode)
			},
		},
	}
	// The manager outlives Start's ctx: Close ends it.
	s.cm, err = autopaho.NewConnection(context.WithoutCancel(ctx), cc)
	if err != nil {
		s.stopWork()
		close(s.quit)
		return fmt.Errorf("source %s: starting client: %w", s.cfg.Name, err)
	}
	s.started = true
	return nil
}

// subscribe (re)subscribes every filter; a session kept by the broker
// already has them, and subscribing again is harmless.
func (s *Source) subscribe(cm *autopaho.ConnectionManager) {
	sub := &paho.Subscribe{}
	for _, f := range s.cfg.Filters {
		sub.Subscriptions = append(sub.Subscriptions, paho.SubscribeOptions{Topic: s.cfg.subscribeTopic(f.Topic), QoS: f.QoS})
	}
	ctx, cancel := context.WithTimeout(s.workCtx, 30*time.Second)
	defer cancel()
	sa, err := cm.Subscribe(ctx, sub)
	if err != nil {
		s.log.Error("subscribing upstream", "error", err)
		return
	}
	for i, code := range sa.Reasons {
		if code >= 0x80 && i < len(sub.Subscriptions) {
			s.log.Error("upstream refused subscription", "filter", sub.Subscriptions[i].Topic, "reason_code", code)
		}
	}
}

// onPublish runs on the client's receiving goroutine: it hands the message
// to the worker of its topic, so one topic's messages stay in order.
func (s *Source) onPublish(pr paho.PublishReceived) (bool, error) {
	p := pr.Packet
	s.received.Add(1)
	s.mu.Lock()
	if s.closing {
		// Not acknowledged: the broker keeps it in the session.
		s.mu.Unlock()
		return true, nil
	}
	s.inflight.Add(1)
	s.mu.Unlock()
	msg := rows.Message{
		Topic:           p.Topic,
		Payload:         p.Payload,
		QoS:             p.QoS,
		Retain:          p.Retain,
		ProtocolVersion: 5,
		Received:        time.Now(),
	}
	if pp := p.Properties; pp != nil {
		msg.ContentType = pp.ContentType
		for _, u := range pp.User {
			msg.UserProperties = append(msg.UserProperties, rows.Property{Key: u.Key, Value: u.Value})
		}
	}
	w := s.work[maphash.String(s.seed, p.Topic)%uint64(len(s.work))]
	select {
	case w <- job{client: pr.Client, pub: p, msg: msg}:
	case <-s.quit: // Close gave up draining: left unacknowledged
		s.inflight.Done()
	}
	return true, nil
}

func (s *Source) worker(ch <-chan job) {
	defer s.workers.Done()
	for {
		select {
		case <-s.quit:
			for { // what is left stays unacknowledged
				select {
				case <-ch:
					s.inflight.Done()
				default:
					return
				}
			}
		case j := <-ch:
			s.process(j)
			s.inflight.Done()
		}
	}
}

// process hands j to the handler until it succeeds, then acknowledges it.
func (s *Source) process(j job) {
	delay := 100 * time.Millisecond
	for {
		if j.pub.QoS > 0 && isDone(j.client) {
			// The connection it came on is gone, and its ack with it: the
			// broker sends it again on the next one. Storing it now would
			// store it twice.
			s.stale.Add(1)
			return
		}
		err := s.h(s.workCtx, &j.msg)
		if err == nil {
			break
		}
		if s.workCtx.Err() != nil {
			return // closing: left unacknowledged, sent again later
		}
		s.retries.Add(1)
		s.log.Warn("ingesting upstream message failed; retrying", "topic", j.msg.Topic, "in", delay, "error", err)
		select {
		case <-time.After(delay):
		case <-s.workCtx.Done():
			return
		}
		delay = min(2*delay, 5*time.Second)
	}
	s.ingested.Add(1)
	if j.pub.QoS == 0 {
		return
	}
	err := j.client.Ack(j.pub)
	if errors.Is(err, paho.ErrPacketNotFound) && !isDone(j.client) {
		// paho resets its list of acks to send just after a connection
		// starts, so a message the broker resent at once can be missing
		// from it. Such a message came first on its connection: writing
		// its ack directly keeps the order MQTT asks for.
		err = s.session.Ack(j.pub.Packet())
	}
	if err != nil {
		// The connection it came on is gone: the broker sends it again.
		s.log.Debug("acknowledging upstream message", "topic", j.msg.Topic, "error", err)
		return
	}
	s.acksMark.Add(1)
}

// Stats returns the source's counters.
func (s *Source) Stats() Stats {
	return Stats{
		Name: s.cfg.Name, Connected: s.connected.Load(), Connects: s.connects.Load(),
		Received: s.received.Load(), Ingested: s.ingested.Load(), Acked: s.acksSent.Load(), Retries: s.retries.Load(), Stale: s.stale.Load(),
	}
}

// Close stops taking messages, lets the ones being ingested finish and
// their acknowledgements go out, then disconnects (the session stays at
// the broker). When ctx ends first, the handlers' context is cancelled and
// what was not acknowledged is sent again by the broker later. It is safe
// before Start and twice.
func (s *Source) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closing = true
		started := s.started
		s.mu.Unlock()
		if !started {
			return
		}
		if !waitDone(ctx, s.inflight.Wait) {
			s.log.Warn("shutdown deadline: messages left unacknowledged, the broker will send them again")
		}
		s.stopWork()
		// Acknowledgements go out in order every ackInterval: wait for ours.
		deadline := time.Now().Add(ackWait)
		for s.acksSent.Load() < s.acksMark.Load() && s.connected.Load() && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		close(s.quit)
		if err := s.cm.Disconnect(ctx); err != nil {
			s.closeErr = fmt.Errorf("source %s: disconnecting: %w", s.cfg.Name, err)
		}
		waitDone(ctx, s.workers.Wait)
		s.connected.Store(false)
	})
	return s.closeErr
}

// isDone reports whether c's connection has ended.
func isDone(c *paho.Client) bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

// waitDone runs wait and reports whether it returned before ctx ended.
func waitDone(ctx context.Context, wait func()) bool {
	done := make(chan struct{})
	go func() { wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// countingSession counts the acknowledgements paho writes, so Close can
// wait for them before disconnecting.
type countingSession struct {
	session.SessionManager
	sent *atomic.Int64
}

func (c *countingSession) Ack(pb *packets.Publish) error {
	err := c.SessionManager.Ack(pb)
	if err == nil && pb.QoS > 0 {
		c.sent.Add(1)
	}
	return err
}

// pahoLogger writes paho's log lines to slog.
type pahoLogger struct {
	l     *slog.Logger
	level slog.Level
}

func (p pahoLogger) Println(v ...any) {
	p.l.Log(context.Background(), p.level, strings.TrimSpace(fmt.Sprintln(v...)), "component", "paho")
}

func (p pahoLogger) Printf(format string, v ...any) {
	p.l.Log(context.Background(), p.level, strings.TrimSpace(fmt.Sprintf(format, v...)), "component", "paho")
}
