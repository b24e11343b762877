// Package policy is the mochi hook that enforces lakegate's per-client
// publish rate and corrects what mochi writes on the wire: MQTT 5 PUBACKs
// carry reason 0x00 Success (mochi writes 0x01, a SUBACK code; mochi issue
// 474), a resent QoS 2 PUBLISH the session already holds is answered with
// PUBREC 0x00 (mochi writes 0x91), and MQTT 5 CONNACKs advertise the
// broker's maximum packet size.
package policy

import (
	"log/slog"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Options configure a Hook.
type Options struct {
	// PublishRate is the sustained PUBLISH packets per second one client
	// may send; 0 means unlimited. A client over its rate is not
	// disconnected: its connection is read more slowly (TCP back-pressure).
	PublishRate float64
	// PublishBurst is how many PUBLISH packets may arrive at once after a
	// quiet period; 0 means max(1, PublishRate).
	PublishBurst int
	// MaxPacketSize is advertised to MQTT 5 clients in the CONNACK; 0 means none.
	MaxPacketSize uint32
	Logger        *slog.Logger
}

// Hook is the mochi hook; build it with New.
type Hook struct {
	mqtt.HookBase
	opts    Options
	log     *slog.Logger
	mu      sync.Mutex
	buckets map[*mqtt.Client]*bucket
}

var _ mqtt.Hook = (*Hook)(nil)

// New returns the hook.
func New(opts Options) *Hook {
	if opts.PublishBurst <= 0 {
		opts.PublishBurst = max(1, int(opts.PublishRate))
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Hook{opts: opts, log: log, buckets: map[*mqtt.Client]*bucket{}}
}

// ID names the hook.
func (h *Hook) ID() string { return "lakegate-policy" }

// Provides says which mochi events the hook handles.
func (h *Hook) Provides(b byte) bool {
	switch b {
	case mqtt.OnPacketEncode:
		return true
	case mqtt.OnPacketRead, mqtt.OnDisconnect:
		return h.opts.PublishRate > 0
	}
	return false
}

// OnPacketEncode fixes the PUBACK reason code and adds the maximum packet
// size to a successful MQTT 5 CONNACK.
func (h *Hook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	switch pk.FixedHeader.Type {
	case packets.Puback:
		// 0x01 is "granted QoS 1", never a valid PUBACK reason; mochi
		// writes it for every accepted QoS 1 PUBLISH.
		if pk.ReasonCode == packets.CodeGrantedQos1.Code {
			pk.ReasonCode = packets.CodeSuccess.Code
		}
	case packets.Pubrec:
		// mochi answers 0x91 "packet identifier in use" only to a PUBLISH
		// whose id the session holds in the PUBREC state: a resend of a
		// message it already has. Until the PUBREL the receiver must answer
		// such a resend with a PUBREC and not pass it on twice
		// [MQTT-4.3.3-10]; mochi does not pass it on, and the PUBREC must
		// say success, or the client takes its message for refused.
		if pk.ReasonCode == packets.ErrPacketIdentifierInUse.Code {
			pk.ReasonCode = packets.CodeSuccess.Code
			pk.Properties.ReasonString = ""
		}
	case packets.Connack:
		if pk.ProtocolVersion == 5 && pk.ReasonCode == packets.CodeSuccess.Code && h.opts.MaxPacketSize > 0 {
			pk.Properties.MaximumPacketSize = h.opts.MaxPacketSize
		}
	}
	return pk
}

// OnPacketRead holds a client's PUBLISH until its bucket has a token.
func (h *Hook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type != packets.Publish || cl.Net.Inline {
		return pk, nil
	}
	h.mu.Lock()
	b := h.buckets[cl]
	if b == nil {
		b = &bucket{tokens: float64(h.opts.PublishBurst), last: time.Now()}
		h.buckets[cl] = b
	}
	wait := b.take(time.Now(), h.opts.PublishRate, float64(h.opts.PublishBurst))
	h.mu.Unlock()
	for wait > 0 && !cl.Closed() {
		step := min(wait, 100*time.Millisecond)
		time.Sleep(step)
		wait -= step
	}
	return pk, nil
}

// OnDisconnect forgets the client's bucket.
func (h *Hook) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	h.mu.Lock()
	delete(h.buckets, cl)
	h.mu.Unlock()
}

// bucket is a token bucket; tokens may go negative, which is the debt a
// client waits off.
type bucket struct {
	tokens float64
	last   time.Time
}

// take spends one token and returns how long to wait for it.
func (b *bucket) take(now time.Time, rate, burst float64) time.Duration {
	b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*rate)
	b.last = now
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / rate * float64(time.Second))
}
