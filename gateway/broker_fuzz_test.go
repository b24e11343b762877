package gateway_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/lakegate/lakegate/gateway"
	"github.com/lakegate/lakegate/gateway/listen"
)

// Prefixes FuzzBrokerPacketPath may put before the fuzzed bytes, so that
// the fuzzer spends its time past the CONNECT as well as on it.
var (
	fuzzConnect4 = []byte{0x10, 0x10, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 30, 0, 4, 'f', 'u', 'z', 'z'}
	fuzzConnect5 = []byte{0x10, 0x11, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 30, 0, 0, 4, 'f', 'u', 'z', 'z'}
)

// FuzzBrokerPacketPath sends fuzzed bytes over a real loopback socket to
// the whole broker: the listener's guard, mochi's parser and every
// lakegate hook (auth and ACL with substitutions, limits, SQL over MQTT,
// ingest into the store). prefix 1 or 2 puts an MQTT 3.1.1 or 5.0 CONNECT
// first. The broker must not panic (a panic in a broker goroutine ends
// the test binary; one the listener recovers from is logged, and fails the
// input here), and after every input a good client must still connect,
// subscribe, publish and receive its own message.
// The seed corpus is testdata/fuzz/FuzzBrokerPacketPath.
func FuzzBrokerPacketPath(f *testing.F) {
	panics := &panicLog{}
	addr := startFuzzBroker(f, slog.New(panics))
	n := 0
	f.Fuzz(func(t *testing.T, data []byte, prefix byte) {
		var in []byte
		switch prefix % 3 {
		case 1:
			in = append(in, fuzzConnect4...)
		case 2:
			in = append(in, fuzzConnect5...)
		}
		in = append(in, data...)
		sendAndDrain(t, addr, in)
		if p := panics.take(); p != "" {
			t.Fatalf("the broker panicked on %x: %s", in, p)
		}
		n++
		if err := goodRoundTrip(addr, fmt.Sprintf("good-%d", n)); err != nil {
			t.Fatalf("broker no longer serves a good client after %x: %v", in, err)
		}
	})
}

// startFuzzBroker starts one gateway for the whole fuzz run.
func startFuzzBroker(f *testing.F, log *slog.Logger) string {
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		f.Fatal(err)
	}
	cfg, err := gateway.ParseConfig("fuzz", []byte(fmt.Sprintf(`
listeners:
  mqtt: [{id: tcp, address: "127.0.0.1:0"}]
  http: {address: ""}
storage:
  dir: %q
  flush: {max_age: 1h}
broker: {max_packet_size: 64KiB, connect_timeout: 2s, max_inflight: 64}
auth:
  allow_anonymous: "true"
  users: [{username: fuzzer, password_hash: %q}]
  acl:
    - {publish: ["fz/#", "db/write/%%c", "db/query"], subscribe: ["fz/#", "+/%%u/%%c/#", "$SYS/#"]}
    - {user: fuzzer, publish: ["#"], subscribe: ["#"]}
`, f.TempDir(), h)))
	if err != nil {
		f.Fatal(err)
	}
	return runGateway(f, cfg, gateway.Options{Logger: log, CompilationCacheDir: wasmCache}).MQTTAddrs()[0]
}

// panicLog is a slog handler that keeps the panics the listeners recover
// from (listen.PanicMessage) and drops everything else.
type panicLog struct {
	mu     sync.Mutex
	panics []string
}

func (h *panicLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (h *panicLog) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h *panicLog) WithGroup(string) slog.Handler                { return h }
func (h *panicLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != listen.PanicMessage {
		return nil
	}
	var b strings.Builder
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, "%s=%v\n", a.Key, a.Value); return true })
	h.mu.Lock()
	h.panics = append(h.panics, b.String())
	h.mu.Unlock()
	return nil
}

// take returns and forgets the panics logged so far.
func (h *panicLog) take() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := strings.Join(h.panics, "\n")
	h.panics = nil
	return s
}

// sendAndDrain writes b on a fresh connection and reads what the broker
// answers until it closes the connection or goes quiet, then hangs up.
func sendAndDrain(t *testing.T, addr string, b []byte) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(b); err != nil {
		return // the broker may hang up before reading it all
	}
	buf := make([]byte, 4096)
	for {
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

// goodRoundTrip is a well-behaved MQTT 5 client in raw bytes: CONNECT,
// SUBSCRIBE fz/<id>, PUBLISH QoS 1 to it; it wants CONNACK 0, SUBACK
// granting QoS 1, PUBACK 0x00 and its own message back.
func goodRoundTrip(addr, id string) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	topic := "fz/" + id
	connect := append([]byte{0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 30, 0}, mqttString(id)...)
	subscribe := append(append([]byte{0, 1, 0}, mqttString(topic)...), 1)
	publish := append(append(mqttString(topic), 0, 2, 0), "ok"...)
	if _, err := c.Write(slices.Concat(packet(0x10, connect), packet(0x82, subscribe), packet(0x32, publish))); err != nil {
		return err
	}
	want := map[byte]func([]byte) error{
		0x20: func(p []byte) error { return expect(len(p) >= 2 && p[1] == 0, "CONNACK %x", p) },
		0x90: func(p []byte) error { return expect(len(p) >= 4 && p[len(p)-1] == 1, "SUBACK %x", p) },
		0x40: func(p []byte) error { return expect(len(p) == 2 || p[2] == 0, "PUBACK %x", p) },
		0x30: func(p []byte) error { return expect(string(p[len(p)-2:]) == "ok", "PUBLISH %x", p) },
	}
	for len(want) > 0 {
		typ, body, err := readRaw(r)
		if err != nil {
			return fmt.Errorf("waiting for %d more packets: %w", len(want), err)
		}
		check, ok := want[typ&0xf0]
		if !ok {
			return fmt.Errorf("unexpected packet %#x %x", typ, body)
		}
		if err := check(body); err != nil {
			return err
		}
		delete(want, typ&0xf0)
	}
	return nil
}

func expect(ok bool, format string, args ...any) error {
	if ok {
		return nil
	}
	return fmt.Errorf("unexpected "+format, args...)
}

func mqttString(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }

// packet frames body with its fixed header (bodies here are short).
func packet(header byte, body []byte) []byte {
	return append([]byte{header, byte(len(body))}, body...)
}

// readRaw reads one packet: its first byte and its body.
func readRaw(r *bufio.Reader) (byte, []byte, error) {
	typ, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, shift := 0, 0
	for i := 0; ; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n |= int(b&0x7f) << shift
		shift += 7
		if b&0x80 == 0 {
			break
		}
		if i == 3 {
			return 0, nil, errors.New("malformed remaining length")
		}
	}
	body := make([]byte, n)
	_, err = io.ReadFull(r, body)
	return typ, body, err
}
