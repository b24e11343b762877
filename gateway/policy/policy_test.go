package policy_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"

	"github.com/lakegate/lakegate/gateway/listen"
	"github.com/lakegate/lakegate/gateway/policy"
)

// startBroker runs the real mochi broker with the policy hook on a
// loopback TCP listener and returns its address.
func startBroker(t *testing.T, opts policy.Options) string {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	opts.Logger = log
	srv := mqtt.New(&mqtt.Options{Logger: log})
	for _, h := range []mqtt.Hook{new(auth.AllowHook), policy.New(opts)} {
		if err := srv.AddHook(h, nil); err != nil {
			t.Fatal(err)
		}
	}
	l, err := listen.New(listen.Spec{ID: "tcp", Address: "127.0.0.1:0"}, listen.Guard{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.AddListener(l); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return l.Address()
}

// dial connects an MQTT 5 client (paho.golang) that hands what it receives
// to onMessage.
func dial(t *testing.T, addr, id string, onMessage func(*paho.Publish)) *paho.Client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := paho.ClientConfig{ClientID: id, Conn: packets.NewThreadSafeConn(conn), PacketTimeout: 30 * time.Second}
	if onMessage != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) { onMessage(pr.Packet); return true, nil },
		}
	}
	c := paho.NewClient(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: true}); err != nil {
		t.Fatalf("connecting %s: %v", id, err)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c
}

// arrivals records the payloads received per topic, in order.
type arrivals struct {
	mu  sync.Mutex
	got map[string][]string
}

func (a *arrivals) add(p *paho.Publish) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.got == nil {
		a.got = map[string][]string{}
	}
	a.got[p.Topic] = append(a.got[p.Topic], string(p.Payload))
}

func (a *arrivals) of(topic string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.got[topic]...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPublishRate: a client publishing faster than publish_rate gets the
// documented treatment over a real socket: nothing is refused or lost and
// it stays connected (every PUBACK is 0x00 Success, messages arrive in
// order), but its messages are let in no faster than the rate after the
// burst; meanwhile another client's messages go through without waiting
// behind its backlog.
func TestPublishRate(t *testing.T) {
	const rate, burst, sent = 4, 4, 200 // 200 at 4/s: a backlog of ~50 s
	addr := startBroker(t, policy.Options{PublishRate: rate, PublishBurst: burst})
	var in arrivals
	sub := dial(t, addr, "sub", in.add)
	if _, err := sub.Subscribe(context.Background(), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "rate/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}

	// The fast client: raw MQTT 5 on the socket, every PUBLISH at once.
	fast, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	r := bufio.NewReader(fast)
	write(t, fast, []byte{0x10, 0x0f, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 30, 0, 0, 2, 'f', 'f'})
	if pk := readPacket(t, fast, r); pk[0] != 0x20 || pk[3] != 0 {
		t.Fatalf("CONNACK %x", pk)
	}
	var burstBytes []byte
	for i := range sent {
		burstBytes = append(burstBytes, publishQoS1("rate/fast", uint16(i+1), strconv.Itoa(i))...)
	}
	start := time.Now()
	write(t, fast, burstBytes)

	// Another client publishes while the fast one is held back.
	other := dial(t, addr, "other", nil)
	for i := range 3 {
		pr, err := other.Publish(context.Background(), &paho.Publish{Topic: "rate/other", QoS: 1, Payload: []byte(strconv.Itoa(i))})
		if err != nil {
			t.Fatal(err)
		}
		if pr.ReasonCode != 0 {
			t.Errorf("other client PUBACK %#x", pr.ReasonCode)
		}
	}
	waitFor(t, "the other client's messages", func() bool { return len(in.of("rate/other")) == 3 })
	if n := len(in.of("rate/fast")); n >= sent {
		t.Fatalf("all %d throttled messages went through before the other client's", n)
	}

	// The fast client's messages trickle in at the rate: the k-th after
	// the burst cannot arrive before (k-burst)/rate seconds.
	const k = 3 * burst
	waitFor(t, fmt.Sprintf("%d throttled messages", k), func() bool { return len(in.of("rate/fast")) >= k })
	if min := time.Duration(float64(k-burst) / rate * float64(time.Second)); time.Since(start) < min {
		t.Errorf("%d messages in %s, faster than %d/s after a burst of %d allows (%s)", k, time.Since(start), rate, burst, min)
	}
	got := in.of("rate/fast")
	for i, p := range got {
		if p != strconv.Itoa(i) {
			t.Fatalf("throttled messages out of order or lost: %v", got)
		}
	}
	// Acknowledged one by one with Success, the connection kept open.
	for i := range k {
		ack := readPacket(t, fast, r)
		if ack[0] != 0x40 || int(ack[2])<<8|int(ack[3]) != i+1 || (len(ack) > 4 && ack[4] != 0) {
			t.Fatalf("PUBACK %d: %x, want 0x40 for id %d with reason 0x00", i, ack, i+1)
		}
	}
}

func publishQoS1(topic string, id uint16, payload string) []byte {
	body := []byte{byte(len(topic) >> 8), byte(len(topic))}
	body = append(body, topic...)
	body = append(body, byte(id>>8), byte(id), 0) // packet id, no properties
	body = append(body, payload...)
	return append([]byte{0x32, byte(len(body))}, body...)
}

func write(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// readPacket reads one MQTT packet (fixed header included).
func readPacket(t *testing.T, c net.Conn, r *bufio.Reader) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	h, err := r.ReadByte()
	if err != nil {
		t.Fatalf("reading packet: %v", err)
	}
	out := []byte{h}
	n, shift := 0, 0
	for {
		b, err := r.ReadByte()
		if err != nil {
			t.Fatalf("reading length: %v", err)
		}
		out = append(out, b)
		n |= int(b&0x7f) << shift
		shift += 7
		if b&0x80 == 0 {
			break
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return append(out, body...)
}
