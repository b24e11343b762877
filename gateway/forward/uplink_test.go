package forward

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// denyHook lets everyone in and refuses publishing to deny/... (a
// negative PUBACK, 0x87 not authorized, for MQTT 5 QoS 1).
type denyHook struct{ mqtt.HookBase }

func (h *denyHook) ID() string { return "deny" }
func (h *denyHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnectAuthenticate, mqtt.OnACLCheck}, []byte{b})
}
func (h *denyHook) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }
func (h *denyHook) OnACLCheck(_ *mqtt.Client, topic string, write bool) bool {
	return !write || !strings.HasPrefix(topic, "deny/")
}

// broker is a real MQTT broker on a loopback port that records, in
// order, what is published to it.
type broker struct {
	srv  *mqtt.Server
	addr string
	mu   sync.Mutex
	got  []string // topic + " " + payload
}

func startBroker(tb testing.TB) *broker {
	tb.Helper()
	b := &broker{srv: mqtt.New(&mqtt.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})}
	if err := b.srv.AddHook(new(denyHook), nil); err != nil {
		tb.Fatal(err)
	}
	ln := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	if err := b.srv.AddListener(ln); err != nil {
		tb.Fatal(err)
	}
	if err := b.srv.Subscribe("#", 1, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		if strings.HasPrefix(pk.TopicName, "$") {
			return // the broker's own $SYS topics
		}
		b.mu.Lock()
		b.got = append(b.got, pk.TopicName+" "+string(pk.Payload))
		b.mu.Unlock()
	}); err != nil {
		tb.Fatal(err)
	}
	if err := b.srv.Serve(); err != nil {
		tb.Fatal(err)
	}
	b.addr = ln.Address()
	tb.Cleanup(func() { b.srv.Close() })
	return b
}

func (b *broker) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.got)
}

func startTestUplink(tb testing.TB, box *Outbox, addr string) *Uplink {
	tb.Helper()
	u, err := StartUplink(box, UplinkOptions{Name: "test", URL: &url.URL{Scheme: "mqtt", Host: addr}, ClientID: "edge",
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { u.Close(context.Background()) })
	return u
}

// TestUplinkOrderAndRefusal sends through a real broker: everything
// arrives in outbox order, and an item the broker refuses for good is
// counted and skipped instead of blocking the ones after it.
func TestUplinkOrderAndRefusal(t *testing.T) {
	b := startBroker(t)
	box := openTest(t, t.TempDir(), func(o *Options) { o.SyncInterval = 10 * time.Millisecond })
	var items []Item
	var want []string
	for i := range 50 {
		topic := fmt.Sprintf("a/%d", i%3)
		if i == 20 {
			topic = "deny/x"
		}
		items = append(items, Item{Topic: topic, Payload: []byte(fmt.Sprint(i)), QoS: byte(1 - i%5/4)}) // some QoS 0
		if topic != "deny/x" {
			want = append(want, fmt.Sprintf("%s %d", topic, i))
		}
	}
	wait, err := box.Append(context.Background(), items)
	if err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	u := startTestUplink(t, box, b.addr)
	deadline := time.Now().Add(30 * time.Second)
	for box.Stats().Queued != 0 || b.count() < len(want) {
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s: outbox %+v, uplink %+v, broker got %d of %d", box.Stats(), u.Stats(), b.count(), len(want))
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.mu.Lock()
	got := strings.Join(b.got, "\n")
	b.mu.Unlock()
	if got != strings.Join(want, "\n") {
		t.Fatalf("broker got:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	if st := u.Stats(); st.Rejected != 1 || st.Sent != uint64(len(want)) || !st.Connected {
		t.Fatalf("uplink stats %+v: want 1 rejected, %d sent, connected", st, len(want))
	}
	if st := box.Stats(); st.Forwarded != uint64(len(items)) {
		t.Fatalf("outbox stats %+v: want all %d forwarded", st, len(items))
	}
}

// BenchmarkUplinkQoS1 is the forwarding rate over loopback to an
// in-process broker: one QoS 1 message in flight at a time.
//
//	go test -run x -bench UplinkQoS1 -benchtime 2000x ./gateway/forward/
func BenchmarkUplinkQoS1(b *testing.B) {
	br := startBroker(b)
	box, err := Open(Options{Dir: b.TempDir(), SyncInterval: 10 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer box.Close()
	payload := bytes.Repeat([]byte("x"), 100)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	u := startTestUplink(b, box, br.addr)
	defer u.Close(context.Background())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := box.Append(context.Background(), []Item{{Topic: "bench", Payload: payload, QoS: 1}}); err != nil {
			b.Fatal(err)
		}
	}
	for box.Stats().Forwarded < uint64(b.N) {
		time.Sleep(time.Millisecond)
	}
}
