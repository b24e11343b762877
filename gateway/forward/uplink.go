package forward

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
)

// UplinkOptions configure the connection to one upstream MQTT 5 broker.
type UplinkOptions struct {
	Name string // names the uplink in logs
	// URL is the broker: mqtt:// (or tcp://), mqtts:// (or tls://, ssl://),
	// ws:// or wss://, with host and port.
	URL      *url.URL
	TLS      *tls.Config // for mqtts and wss; nil uses the system roots
	ClientID string
	Username string
	Password string
	// KeepAlive is the MQTT keep-alive; 30 s if 0.
	KeepAlive time.Duration
	// ConnectTimeout bounds one connection attempt; 10 s if 0.
	ConnectTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the wait between attempts, which
	// doubles from the one to the other; 500 ms and 30 s if 0.
	ReconnectMin, ReconnectMax time.Duration
	// PublishTimeout is how long a PUBACK may take before the message is
	// sent again on a new connection; 30 s if 0.
	PublishTimeout time.Duration
	Logger         *slog.Logger // nil discards
}

func (o *UplinkOptions) withDefaults() {
	if o.KeepAlive <= 0 {
		o.KeepAlive = 30 * time.Second
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.ReconnectMin <= 0 {
		o.ReconnectMin = 500 * time.Millisecond
	}
	if o.ReconnectMax <= 0 {
		o.ReconnectMax = 30 * time.Second
	}
	o.ReconnectMax = max(o.ReconnectMax, o.ReconnectMin)
	if o.PublishTimeout <= 0 {
		o.PublishTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Uplink sends the items of one Outbox to an upstream broker, one at a
// time in outbox order, and acknowledges each in the outbox once the
// broker has it: PUBACK for QoS 1, written to the connection for QoS 0.
// While the broker is unreachable it reconnects with backoff and the
// outbox keeps what arrives meanwhile.
type Uplink struct {
	opts UplinkOptions
	log  *slog.Logger
	box  *Outbox
	cm   *autopaho.ConnectionManager

	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	liveCtx  context.Context // the current connection's; nil while down
	liveStop context.CancelFunc

	connected                    atomic.Bool
	sent, rejected, connects     atomic.Uint64
	connectErrors, publishErrors atomic.Uint64
}

// UplinkStats are an uplink's counters.
type UplinkStats struct {
	Connected     bool
	Sent          uint64 // items the upstream broker took
	Rejected      uint64 // items it refused for good (negative PUBACK), skipped
	Connects      uint64 // connections made
	ConnectErrors uint64 // failed connection attempts
	PublishErrors uint64 // sends that failed and were retried
}

// StartUplink connects to the upstream broker in the background and starts
// sending box's items. Close stops it; the caller closes box afterwards.
func StartUplink(box *Outbox, opts UplinkOptions) (*Uplink, error) {
	opts.withDefaults()
	if opts.URL == nil {
		return nil, errors.New("starting uplink: no broker URL")
	}
	u := &Uplink{opts: opts, log: opts.Logger, box: box, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	u.cancel = cancel
	cfg := autopaho.ClientConfig{
		ServerUrls:     []*url.URL{opts.URL},
		TlsCfg:         opts.TLS,
		KeepAlive:      uint16(min(opts.KeepAlive/time.Second, 65535)),
		ConnectTimeout: opts.ConnectTimeout,
		// The outbox is the session: every connection starts clean and
		// ends its session with it, and what was in flight is sent again
		// from the outbox (at-least-once).
		CleanStartOnInitialConnection: true,
		SessionExpiryInterval:         0,
		ReconnectBackoff:              backoff(opts.ReconnectMin, opts.ReconnectMax),
		ConnectUsername:               opts.Username,
		OnConnectionUp:                u.up,
		OnConnectionDown:              u.down,
		OnConnectError: func(err error) {
			u.connectErrors.Add(1)
			u.log.Warn("uplink: connecting", "uplink", opts.Name, "url", opts.URL.Redacted(), "error", err)
		},
		ClientConfig: paho.ClientConfig{
			ClientID:      opts.ClientID,
			PacketTimeout: opts.PublishTimeout,
		},
	}
	if opts.Password != "" {
		cfg.ConnectPassword = []byte(opts.Password)
	}
	cm, err := autopaho.NewConnection(ctx, cfg)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("starting uplink %s to %s: %w", opts.Name, opts.URL.Redacted(), err)
	}
	u.cm = cm
	go u.run(ctx)
	return u, nil
}

// backoff doubles the wait from lo after each failed attempt, up to hi.
func backoff(lo, hi time.Duration) autopaho.Backoff {
	return func(attempt int) time.Duration {
		if attempt <= 0 {
			return 0
		}
		d := lo
		for i := 1; i < attempt && d < hi; i++ {
			d *= 2
		}
		return min(d, hi)
	}
}

func (u *Uplink) up(_ *autopaho.ConnectionManager, _ *paho.Connack) {
	u.mu.Lock()
	u.liveCtx, u.liveStop = context.WithCancel(context.Background())
	u.mu.Unlock()
	u.connected.Store(true)
	u.connects.Add(1)
	u.log.Info("uplink connected", "uplink", u.opts.Name, "url", u.opts.URL.Redacted())
}

func (u *Uplink) down() bool {
	u.mu.Lock()
	if u.liveStop != nil {
		u.liveStop() // ends a Publish waiting for its PUBACK on this connection
	}
	u.liveCtx, u.liveStop = nil, nil
	u.mu.Unlock()
	u.connected.Store(false)
	u.log.Warn("uplink disconnected", "uplink", u.opts.Name, "url", u.opts.URL.Redacted())
	return true // keep reconnecting
}

func (u *Uplink) live() context.Context {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.liveCtx
}

func (u *Uplink) run(ctx context.Context) {
	defer close(u.done)
	for {
		e, err := u.box.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, ErrClosed) {
				return
			}
			u.log.Error("uplink: reading outbox", "uplink", u.opts.Name, "error", err)
			if !sleep(ctx, time.Second) {
				return
			}
			continue
		}
		if !u.deliver(ctx, e) {
			return
		}
		u.box.Ack(e.Seq)
	}
}

// deliver sends e until the broker has it or refuses it for good; false
// when ctx ended first.
func (u *Uplink) deliver(ctx context.Context, e Entry) bool {
	retry := 100 * time.Millisecond
	wait := func() bool {
		ok := sleep(ctx, retry)
		retry = min(2*retry, 5*time.Second)
		return ok
	}
	for {
		if err := u.cm.AwaitConnection(ctx); err != nil {
			return false
		}
		live := u.live()
		if live == nil { // between connection and OnConnectionUp, or just lost
			if !sleep(ctx, 20*time.Millisecond) {
				return false
			}
			continue
		}
		pctx, cancel := context.WithTimeout(live, u.opts.PublishTimeout)
		stop := context.AfterFunc(ctx, cancel)
		resp, err := u.cm.Publish(pctx, &paho.Publish{Topic: e.Topic, Payload: e.Payload, QoS: e.QoS})
		stop()
		cancel()
		if err == nil {
			u.sent.Add(1)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		switch {
		case resp != nil && resp.ReasonCode >= 0x80 && !retryable(resp.ReasonCode):
			u.rejected.Add(1)
			u.log.Warn("uplink: upstream broker refused a message, skipping it", "uplink", u.opts.Name,
				"topic", e.Topic, "seq", e.Seq, "reason_code", resp.ReasonCode, "error", err)
			return true
		case errors.Is(err, paho.ErrInvalidArguments):
			u.rejected.Add(1)
			u.log.Warn("uplink: message cannot be sent to this broker, skipping it", "uplink", u.opts.Name,
				"topic", e.Topic, "seq", e.Seq, "error", err)
			return true
		}
		u.publishErrors.Add(1)
		u.log.Debug("uplink: sending, will retry", "uplink", u.opts.Name, "seq", e.Seq, "error", err)
		if !wait() {
			return false
		}
	}
}

// retryable reports whether a negative PUBACK may succeed later: the
// broker is short of resources (0x97 quota exceeded, as lakegate answers
// when its store is full), an unspecified error (lakegate's store
// failure), or a packet id clash.
func retryable(code byte) bool {
	return code == 0x80 || code == 0x91 || code == 0x97
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Stats returns the uplink's counters.
func (u *Uplink) Stats() UplinkStats {
	return UplinkStats{
		Connected: u.connected.Load(), Sent: u.sent.Load(), Rejected: u.rejected.Load(),
		Connects: u.connects.Load(), ConnectErrors: u.connectErrors.Load(), PublishErrors: u.publishErrors.Load(),
	}
}

// Close stops sending (a message waiting for its PUBACK is sent again
// after a restart) and disconnects, waiting for that at most until ctx
// ends.
func (u *Uplink) Close(ctx context.Context) error {
	u.cancel()
	<-u.done // prompt: cancelling ends a Publish in flight too
	if err := u.cm.Disconnect(ctx); err != nil {
		return fmt.Errorf("disconnecting uplink %s: %w", u.opts.Name, err)
	}
	return nil
}
