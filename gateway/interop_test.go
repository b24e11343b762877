package gateway_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	pmqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/gorilla/websocket"
)

// inbox collects messages as "topic=payload".
type inbox struct {
	mu  sync.Mutex
	got []string
}

func (b *inbox) add(topic string, payload []byte) {
	b.mu.Lock()
	b.got = append(b.got, topic+"="+string(payload))
	b.mu.Unlock()
}

func (b *inbox) v5(p *paho.Publish)                 { b.add(p.Topic, p.Payload) }
func (b *inbox) v3(_ pmqtt.Client, m pmqtt.Message) { b.add(m.Topic(), m.Payload()) }
func (b *inbox) list() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.got...)
}
func (b *inbox) wait(t *testing.T, want ...string) {
	t.Helper()
	checkFor(t, 10*time.Second, func() error {
		if got := b.list(); strings.Join(got, "|") != strings.Join(want, "|") {
			return fmt.Errorf("got %q, want %q", got, want)
		}
		return nil
	})
}

// waitDistinct is wait with repeats of a message collapsed: at QoS 1 a
// broker may deliver a message more than once.
func (b *inbox) waitDistinct(t *testing.T, want ...string) {
	t.Helper()
	checkFor(t, 10*time.Second, func() error {
		got := slices.Compact(b.list())
		if strings.Join(got, "|") != strings.Join(want, "|") {
			return fmt.Errorf("got %q, want %q (repeats collapsed)", got, want)
		}
		return nil
	})
}

// waitContains waits until every one of want has arrived, whatever else did.
func (b *inbox) waitContains(t *testing.T, want ...string) {
	t.Helper()
	checkFor(t, 10*time.Second, func() error {
		got := b.list()
		for _, w := range want {
			if !slices.Contains(got, w) {
				return fmt.Errorf("got %q, want it to contain %q", got, w)
			}
		}
		return nil
	})
}

// waitSet is wait ignoring the order: mochi resends a session's queued
// messages in no particular order on reconnect.
func (b *inbox) waitSet(t *testing.T, want ...string) {
	t.Helper()
	checkFor(t, 10*time.Second, func() error {
		got := b.list()
		slices.Sort(got)
		if strings.Join(got, "|") != strings.Join(want, "|") {
			return fmt.Errorf("got %q, want %q in any order", got, want)
		}
		return nil
	})
}

func sub5(t *testing.T, c *paho.Client, filter string, qos byte) {
	t.Helper()
	if _, err := c.Subscribe(context.Background(), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}}); err != nil {
		t.Fatal(err)
	}
}

func pub5(t *testing.T, c *paho.Client, p *paho.Publish) {
	t.Helper()
	if _, err := c.Publish(context.Background(), p); err != nil {
		t.Fatalf("publish %s: %v", p.Topic, err)
	}
}

// TestRetained: set, replace and clear (empty payload), across the two
// libraries and protocol versions, at QoS 0, 1 and 2.
func TestRetained(t *testing.T) {
	gw := startBroker(t, tcpListener)
	addr := gw.MQTTAddrs()[0]
	p, _, err := dialV5(t, addr, "ret-pub", v5opts{clean: true})
	if err != nil {
		t.Fatal(err)
	}
	pub5(t, p, &paho.Publish{Topic: "ret/a", QoS: 2, Retain: true, Payload: []byte("r1")})
	pub5(t, p, &paho.Publish{Topic: "ret/a", QoS: 1, Retain: true, Payload: []byte("r2")}) // replace
	pub5(t, p, &paho.Publish{Topic: "ret/b", QoS: 0, Retain: true, Payload: []byte("b1")})

	var in3 inbox
	c3, _, err := dialV3(t, "tcp://"+addr, "ret-v3", "", "", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	wait(t, c3.Subscribe("ret/a", 2, in3.v3))
	in3.waitDistinct(t, "ret/a=r2") // r2 was published at QoS 1

	// Clear ret/a with an empty retained message (from the v3 client).
	wait(t, c3.Publish("ret/a", 1, true, []byte{}))
	// Live delivery of the clearing message. r2 went out at QoS 1, which
	// allows a repeat; under load one was seen to arrive after the clear,
	// so only its presence and the clear's arrival are asserted here; that
	// the retained message is gone is checked by a new subscriber below.
	in3.waitContains(t, "ret/a=")
	var in5 inbox
	s, _, err := dialV5(t, addr, "ret-v5", v5opts{clean: true, onMessage: in5.v5})
	if err != nil {
		t.Fatal(err)
	}
	sub5(t, s, "ret/#", 2)
	in5.wait(t, "ret/b=b1")
}

// TestSysNotMatchedByHash: '#' does not match $SYS topics; $SYS/# does.
func TestSysNotMatchedByHash(t *testing.T) {
	gw := startBroker(t, tcpListener)
	addr := gw.MQTTAddrs()[0]
	var all, sys inbox
	a, _, err := dialV5(t, addr, "hash", v5opts{clean: true, onMessage: all.v5})
	if err != nil {
		t.Fatal(err)
	}
	sub5(t, a, "#", 0)
	c3, _, err := dialV3(t, "tcp://"+addr, "sys", "", "", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	wait(t, c3.Subscribe("$SYS/broker/uptime", 0, sys.v3))
	checkFor(t, 10*time.Second, func() error {
		if len(sys.list()) < 2 { // the first is retained; the second is a live update
			return fmt.Errorf("no $SYS updates yet")
		}
		return nil
	})
	pub5(t, a, &paho.Publish{Topic: "marker", QoS: 1, Payload: []byte("m")})
	all.wait(t, "marker=m")
}

// TestWillWithDelay: an MQTT 5 will with a delay is sent after the delay
// when the connection drops; a normal DISCONNECT sends no will (checked by
// the order of arrivals).
func TestWillWithDelay(t *testing.T) {
	gw := startBroker(t, tcpListener)
	addr := gw.MQTTAddrs()[0]
	var in inbox
	s, _, err := dialV5(t, addr, "will-sub", v5opts{clean: true, onMessage: in.v5})
	if err != nil {
		t.Fatal(err)
	}
	sub5(t, s, "will/#", 1)

	polite, _, err := dialV5(t, addr, "polite", v5opts{clean: true, will: &paho.WillMessage{Topic: "will/polite", QoS: 1, Payload: []byte("bye")}})
	if err != nil {
		t.Fatal(err)
	}
	_ = polite.Disconnect(&paho.Disconnect{})

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := dialV5(t, addr, "crash", v5opts{clean: true, conn: conn, expiry: 30, willDelay: 1,
		will: &paho.WillMessage{Topic: "will/crash", QoS: 1, Payload: []byte("gone")}}); err != nil {
		t.Fatal(err)
	}
	dropped := time.Now()
	conn.Close()
	in.wait(t, "will/crash=gone")
	if d := time.Since(dropped); d < 900*time.Millisecond {
		t.Errorf("will sent %s after the drop, before its 1 s delay", d)
	}
}

// TestPersistentSessions: a subscriber with a persistent session misses
// nothing published while it is offline, for 3.1.1 (paho.mqtt.golang,
// clean session false) and 5.0 (paho.golang, session expiry).
func TestPersistentSessions(t *testing.T) {
	gw := startBroker(t, tcpListener)
	addr := gw.MQTTAddrs()[0]
	p, _, err := dialV5(t, addr, "ps-pub", v5opts{clean: true})
	if err != nil {
		t.Fatal(err)
	}

	// 3.1.1
	c3, _, err := dialV3(t, "tcp://"+addr, "ps-v3", "", "", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	wait(t, c3.Subscribe("q/v3", 1, nil))
	c3.Disconnect(50)
	// 5.0
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c5, _, err := dialV5(t, addr, "ps-v5", v5opts{conn: conn, clean: true, expiry: 60})
	if err != nil {
		t.Fatal(err)
	}
	sub5(t, c5, "q/v5", 1)
	_ = c5.Disconnect(&paho.Disconnect{})

	for i := range 3 {
		pub5(t, p, &paho.Publish{Topic: "q/v3", QoS: 1, Payload: []byte(fmt.Sprint(i))})
		pub5(t, p, &paho.Publish{Topic: "q/v5", QoS: 1, Payload: []byte(fmt.Sprint(i))})
	}

	var in3, in5 inbox
	if _, _, err := dialV3(t, "tcp://"+addr, "ps-v3", "", "", false, func(o *pmqtt.ClientOptions) {
		o.SetDefaultPublishHandler(in3.v3)
	}); err != nil {
		t.Fatal(err)
	}
	in3.waitSet(t, "q/v3=0", "q/v3=1", "q/v3=2")
	_, ca, err := dialV5(t, addr, "ps-v5", v5opts{clean: false, expiry: 60, onMessage: in5.v5})
	if err != nil {
		t.Fatal(err)
	}
	if !ca.SessionPresent {
		t.Error("v5 session not present on reconnect")
	}
	in5.waitSet(t, "q/v5=0", "q/v5=1", "q/v5=2")
}

// TestTakeOverSharedAndAlias: client take-over (DISCONNECT 0x8E to the old
// connection), shared subscriptions (each message to one member) and
// topic aliases.
func TestTakeOverSharedAndAlias(t *testing.T) {
	gw := startBroker(t, tcpListener)
	addr := gw.MQTTAddrs()[0]

	taken := make(chan byte, 1)
	if _, _, err := dialV5(t, addr, "same", v5opts{clean: true, onDisconnect: func(d *paho.Disconnect) { taken <- d.ReasonCode }}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := dialV5(t, addr, "same", v5opts{clean: true}); err != nil {
		t.Fatal(err)
	}
	select {
	case rc := <-taken:
		if rc != 0x8E {
			t.Errorf("take-over DISCONNECT %#x, want 0x8E", rc)
		}
	case <-time.After(10 * time.Second):
		t.Error("old connection not told of the take-over")
	}

	var a, b inbox
	sa, _, _ := dialV5(t, addr, "share-a", v5opts{clean: true, onMessage: a.v5})
	sb, _, _ := dialV5(t, addr, "share-b", v5opts{clean: true, onMessage: b.v5})
	sub5(t, sa, "$share/g/sh/t", 1)
	sub5(t, sb, "$share/g/sh/t", 1)
	p, _, err := dialV5(t, addr, "share-pub", v5opts{clean: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		pub5(t, p, &paho.Publish{Topic: "sh/t", QoS: 1, Payload: []byte(fmt.Sprint(i))})
	}
	checkFor(t, 10*time.Second, func() error {
		if n := len(a.list()) + len(b.list()); n != 10 {
			return fmt.Errorf("shared subscribers got %d messages, want 10 in all", n)
		}
		return nil
	})

	var al inbox
	s, _, _ := dialV5(t, addr, "alias-sub", v5opts{clean: true, onMessage: al.v5})
	sub5(t, s, "alias/t", 1)
	alias := uint16(1)
	pub5(t, p, &paho.Publish{Topic: "alias/t", QoS: 1, Payload: []byte("1"), Properties: &paho.PublishProperties{TopicAlias: &alias}})
	pub5(t, p, &paho.Publish{Topic: "", QoS: 1, Payload: []byte("2"), Properties: &paho.PublishProperties{TopicAlias: &alias}})
	al.wait(t, "alias/t=1", "alias/t=2")
}

// TestKeepAlive: on every kind of listener, a client with a 1 s
// keep-alive that sends a packet every 400 ms stays connected for several
// keep-alive periods, and once silent is disconnected about 1.5 s after its
// last packet (the guard's watchdog, listen/guard.go), at MQTT 3.1.1 and 5.
func TestKeepAlive(t *testing.T) {
	certs := makeCerts(t)
	gw := startBroker(t, listenersConfig(certs, "tcp", "tls", "ws"))
	addrs := gw.MQTTAddrs()
	dials := map[string]func() (io.ReadWriteCloser, error){
		"tcp": func() (io.ReadWriteCloser, error) { return net.Dial("tcp", addrs[0]) },
		"tls": func() (io.ReadWriteCloser, error) {
			return tls.Dial("tcp", addrs[1], &tls.Config{RootCAs: certs.pool})
		},
		"ws": func() (io.ReadWriteCloser, error) {
			d := websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: 10 * time.Second}
			c, _, err := d.Dial("ws://"+addrs[2], nil)
			if err != nil {
				return nil, err
			}
			return &wsStream{c: c}, nil
		},
	}
	for _, kind := range []string{"tcp", "tls", "ws"} {
		for _, v := range []byte{4, 5} {
			t.Run(fmt.Sprintf("%s/v%d", kind, v), func(t *testing.T) {
				t.Parallel()
				conn, err := dials[kind]()
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				id := map[string]byte{"tcp": 't', "tls": 'l', "ws": 'w'}[kind] // a client id of its own: no take-over
				if v == 5 {
					mustWriteTo(t, conn, []byte{0x10, 0x0f, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 1, 0, 0, 2, id, '5'})
				} else {
					mustWriteTo(t, conn, []byte{0x10, 0x0e, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 1, 0, 2, id, '4'})
				}
				r := bufio.NewReader(conn)
				if p := readPacket(t, r); p[0] != 0x20 {
					t.Fatalf("want CONNACK, got % x", p)
				}
				for i := range 8 { // 3.2 s, more than two keep-alive deadlines
					time.Sleep(400 * time.Millisecond)
					mustWriteTo(t, conn, []byte{0xC0, 0}) // PINGREQ
					if p := readPacket(t, r); p[0] != 0xD0 {
						t.Fatalf("ping %d: want PINGRESP, got % x", i, p)
					}
				}
				start := time.Now()
				_, err = r.ReadByte()
				d := time.Since(start)
				if err == nil || d < 1400*time.Millisecond || d > 3*time.Second {
					t.Errorf("keep-alive 1 s: closed %s after the last packet (err %v), want about 1.5 s", d, err)
				}
			})
		}
	}
}

// wsStream is an MQTT byte stream over WebSocket binary messages.
type wsStream struct {
	c *websocket.Conn
	r io.Reader
}

func (s *wsStream) Read(p []byte) (int, error) {
	for {
		if s.r == nil {
			_, r, err := s.c.NextReader()
			if err != nil {
				return 0, err
			}
			s.r = r
		}
		n, err := s.r.Read(p)
		if err == io.EOF {
			s.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (s *wsStream) Write(p []byte) (int, error) {
	return len(p), s.c.WriteMessage(websocket.BinaryMessage, p)
}

func (s *wsStream) Close() error { return s.c.Close() }

func mustWriteTo(t *testing.T, w io.Writer, b []byte) {
	t.Helper()
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
}

// TestMosquittoClients drives the broker with Debian's mosquitto_pub and
// mosquitto_sub, MQTT 3.1.1 and 5.0: QoS 0/1/2, retained messages, and the
// stored rows.
func TestMosquittoClients(t *testing.T) {
	pubBin, err1 := exec.LookPath("mosquitto_pub")
	subBin, err2 := exec.LookPath("mosquitto_sub")
	if err1 != nil || err2 != nil {
		msg := "mosquitto_pub/mosquitto_sub not installed (apt-get install mosquitto-clients)"
		if os.Getenv("LAKEGATE_REQUIRE_TOOLCHAINS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	gw := startBroker(t, tcpListener)
	host, port, _ := net.SplitHostPort(gw.MQTTAddrs()[0])
	run := func(bin string, args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append([]string{"-h", host, "-p", port}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", bin, args, err, out)
		}
		return string(out)
	}
	n := 0
	for _, v := range []string{"mqttv311", "mqttv5"} {
		for _, q := range []string{"0", "1", "2"} {
			n++
			run(pubBin, "-V", v, "-q", q, "-t", "db/write/mosq", "-m", fmt.Sprintf(`{"ts":%d,"v":"%s"}`, 1700000000000+n, v))
		}
		run(pubBin, "-V", v, "-q", "1", "-r", "-t", "mosq/ret", "-m", "kept-"+v)
		if got := run(subBin, "-V", v, "-q", "2", "-C", "1", "-W", "5", "-t", "mosq/ret"); strings.TrimSpace(got) != "kept-"+v {
			t.Errorf("%s retained: got %q", v, got)
		}
	}
	checkFor(t, 10*time.Second, func() error {
		r := query(t, gw.HTTPAddr(), "SELECT count(*) FROM mosq")
		if fmt.Sprint(r.Data.Rows) != "[[6]]" {
			return fmt.Errorf("rows %v", r.Data.Rows)
		}
		return nil
	})
}
