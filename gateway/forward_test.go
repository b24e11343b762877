package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"

	"github.com/lakegate/lakegate/gateway"
)

// Forwarding tests (issue #8): an edge gateway forwards the rows of a
// route to a real upstream broker in another server -- a second lakegate
// gateway, and Debian's mosquitto in its own process -- while the upstream
// is stopped and restarted mid-stream and the edge gateway restarted once.
// Every row must arrive, in order per topic. Forwarding is at-least-once
// (QoS 1, the cursor moves on PUBACK), so a row may arrive twice; the
// checks accept a repeat of a row already seen, never a gap or a row
// ahead of its turn.

const (
	fwdDevices = 2  // topics dev/d0, dev/d1: order is checked per topic
	fwdPhase   = 40 // messages per device and phase
)

// freeLoopbackPort finds a port the upstream can be restarted on.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startGatewayYAML starts a gateway from a whole configuration.
func startGatewayYAML(t *testing.T, yaml string) *gateway.Gateway {
	t.Helper()
	cfg, err := gateway.ParseConfig("test", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return runGateway(t, cfg, gateway.Options{Logger: testLogger(t), CompilationCacheDir: wasmCache})
}

// startEdge runs the edge gateway: its route dev/{table} stores rows and
// forwards each as JSON to cloud/{table} on the upstream at upPort.
func startEdge(t *testing.T, dir string, upPort int) *gateway.Gateway {
	return startGatewayYAML(t, fmt.Sprintf(`
listeners:
  mqtt: [{id: tcp, address: "127.0.0.1:0"}]
  http: {address: "127.0.0.1:0"}
storage:
  dir: %q
  flush: {max_age: 1h}
uplinks:
  - name: up
    url: mqtt://127.0.0.1:%d
    client_id: edge-under-test
    reconnect_min: 100ms
    reconnect_max: 1s
routes:
  - topic: dev/{table}
    formatter: json
    table: "{table}"
    forward:
      - {uplink: up, topic: "cloud/{table}", qos: 1}
`, dir, upPort))
}

// publishPhase publishes {"n": from..to-1} at QoS 1 to every device topic,
// interleaved, through a fresh client; every PUBACK must be a success.
func publishPhase(t *testing.T, edge *gateway.Gateway, from, to int) {
	t.Helper()
	c := connect(t, edge.MQTTAddrs()[0], fmt.Sprintf("pub-%d", from), nil)
	for n := from; n < to; n++ {
		for d := range fwdDevices {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			pr, err := c.Publish(ctx, &paho.Publish{Topic: fmt.Sprintf("dev/d%d", d), QoS: 1, Payload: []byte(fmt.Sprintf(`{"n":%d}`, n))})
			cancel()
			if err != nil || pr.ReasonCode >= 0x80 {
				t.Fatalf("publishing n=%d to the edge: %v %+v", n, err, pr)
			}
		}
	}
	_ = c.Disconnect(&paho.Disconnect{})
}

// upstream is a broker the edge forwards to, which can be stopped and
// started again on the same port.
type upstream interface {
	start(t *testing.T)
	stop(t *testing.T)
	// received returns, per topic, the n of every row the upstream got,
	// in the order it got them; it is called once the upstream is back
	// for good.
	received(t *testing.T) map[string][]int
}

// runForwarding is the scenario both upstreams go through.
func runForwarding(t *testing.T, up upstream, upPort int) {
	edgeDir := t.TempDir()
	up.start(t)
	edge := startEdge(t, edgeDir, upPort)

	// Stop the upstream mid-stream: once the upstream acknowledged some
	// rows of phase 1, while the rest are still being published and
	// forwarded.
	published := make(chan struct{})
	go func() {
		defer close(published)
		publishPhase(t, edge, 1, 1+fwdPhase)
	}()
	checkFor(t, 30*time.Second, func() error {
		if n := edge.ForwardStats()[0].Link.Sent; n < fwdPhase/2 {
			return fmt.Errorf("%d rows forwarded before the stop, waiting for %d", n, fwdPhase/2)
		}
		return nil
	})
	up.stop(t)
	<-published
	if t.Failed() {
		t.FailNow()
	}
	publishPhase(t, edge, 1+fwdPhase, 1+2*fwdPhase)

	// Nothing of phase 2 can have left: it waits in the outbox.
	checkFor(t, 30*time.Second, func() error {
		st := edge.ForwardStats()
		if len(st) != 1 || st[0].Outbox.Queued < fwdDevices*fwdPhase || st[0].Link.Connected {
			return fmt.Errorf("with the upstream down: forward stats %+v, want at least %d queued and not connected", st, fwdDevices*fwdPhase)
		}
		return nil
	})
	if err := edge.Close(); err != nil {
		t.Fatal(err)
	}
	edge = startEdge(t, edgeDir, upPort) // resumes from its outbox and cursor
	if st := edge.ForwardStats(); st[0].Outbox.Queued < fwdDevices*fwdPhase {
		t.Fatalf("after the edge restart: %d queued, want at least %d", st[0].Outbox.Queued, fwdDevices*fwdPhase)
	}
	publishPhase(t, edge, 1+2*fwdPhase, 1+3*fwdPhase)
	up.start(t)

	const total = 3 * fwdPhase
	var got map[string][]int
	checkFor(t, 60*time.Second, func() error {
		got = up.received(t)
		for d := range fwdDevices {
			topic := fmt.Sprintf("d%d", d)
			if err := inOrderNoGap(got[topic], total); err != nil {
				return fmt.Errorf("topic %s: %w", topic, err)
			}
		}
		return nil
	})
	for topic, ns := range got {
		if len(ns) > total {
			t.Logf("topic %s: %d rows for %d sent (at-least-once repeats after the restarts)", topic, len(ns), total)
		}
	}
	checkFor(t, 30*time.Second, func() error {
		if st := edge.ForwardStats()[0]; st.Outbox.Queued != 0 || !st.Link.Connected {
			return fmt.Errorf("edge still has %d queued (connected %v)", st.Outbox.Queued, st.Link.Connected)
		}
		return nil
	})
	// /metrics tells the same: connected, nothing queued, the phase sent
	// since the restart forwarded.
	uplink := edge.ForwardStats()[0].Uplink
	for sample, want := range map[string]float64{
		`lakegate_forward_uplink_connected{uplink="` + uplink + `"}`: 1,
		`lakegate_forward_queued_items{uplink="` + uplink + `"}`:     0,
	} {
		if got := scrape(t, edge.HTTPAddr(), sample); got != want {
			t.Errorf("%s = %v, want %v", sample, got, want)
		}
	}
	if got := scrape(t, edge.HTTPAddr(), `lakegate_forward_items_total{outcome="forwarded",uplink="`+uplink+`"}`); got < fwdDevices*fwdPhase {
		t.Errorf("forwarded items = %v, want at least %d", got, fwdDevices*fwdPhase)
	}
}

// inOrderNoGap checks that ns, read without the repeats of a value
// already seen, is exactly 1, 2, ..., total.
func inOrderNoGap(ns []int, total int) error {
	seen := map[int]bool{}
	want := 1
	for i, n := range ns {
		if seen[n] {
			continue // at-least-once repeat
		}
		if n != want {
			return fmt.Errorf("row %d is n=%d, want n=%d next (got %v)", i, n, want, ns)
		}
		seen[n] = true
		want++
	}
	if want != total+1 {
		return fmt.Errorf("%d of %d rows arrived", want-1, total)
	}
	return nil
}

// lakegateUpstream is a second gateway: it stores what the edge forwards
// on cloud/{table}, with the time it received each row as its time column
// (the forwarded "ts" is an ordinary column), so ordering by that column
// gives the arrival order.
type lakegateUpstream struct {
	dir  string
	port int
	gw   *gateway.Gateway
}

func (u *lakegateUpstream) start(t *testing.T) {
	u.gw = startGatewayYAML(t, fmt.Sprintf(`
listeners:
  mqtt: [{id: tcp, address: "127.0.0.1:%d"}]
  http: {address: "127.0.0.1:0"}
storage:
  dir: %q
  time_column: arrived
  flush: {max_age: 1h}
routes:
  - topic: cloud/{table}
    formatter: json
    table: "{table}"
    options: {time_field: "-"}
`, u.port, u.dir))
}

func (u *lakegateUpstream) stop(t *testing.T) {
	if err := u.gw.Close(); err != nil {
		t.Fatal(err)
	}
}

func (u *lakegateUpstream) received(t *testing.T) map[string][]int {
	got := map[string][]int{}
	for d := range fwdDevices {
		table := fmt.Sprintf("d%d", d)
		r := queryMaybe(u.gw.HTTPAddr(), "SELECT arrived, n FROM "+table+" ORDER BY arrived")
		if r == nil {
			continue // no such table yet
		}
		for _, row := range r.Data.Rows {
			n, err := strconv.Atoi(fmt.Sprint(row[1]))
			if err != nil {
				t.Fatalf("table %s: n = %v", table, row[1])
			}
			got[table] = append(got[table], n)
		}
	}
	return got
}

// queryMaybe runs sql on the HTTP API; nil when it fails (a table that
// does not exist yet).
func queryMaybe(httpAddr, sql string) *queryReply {
	resp, err := http.Get("http://" + httpAddr + "/db/query?q=" + url.QueryEscape(sql))
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var r queryReply
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil || !r.Success {
		return nil
	}
	return &r
}

func TestForwardToLakegate(t *testing.T) {
	port := freeLoopbackPort(t)
	runForwarding(t, &lakegateUpstream{dir: t.TempDir(), port: port}, port)
}

// mosquittoUpstream runs /usr/sbin/mosquitto with persistence, and an
// observer with a persistent session that collects what arrived.
type mosquittoUpstream struct {
	bin, dir   string
	port       int
	cmd        *exec.Cmd
	exited     chan struct{}
	sub        *autopaho.ConnectionManager
	registered bool

	mu  sync.Mutex
	got map[string][]int
}

func (m *mosquittoUpstream) start(t *testing.T) {
	t.Helper()
	conf := filepath.Join(m.dir, "mosquitto.conf")
	body := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\nmax_queued_messages 0\nlog_dest stderr\nlog_type error\n", m.port, m.dir)
	if os.Geteuid() == 0 {
		body += "user root\n" // keep the rights on the persistence directory
	}
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	m.cmd = exec.Command(m.bin, "-c", conf)
	m.cmd.Stderr = os.Stderr
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m.exited = make(chan struct{})
	cmd, exited := m.cmd, m.exited
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { m.kill() })
	checkFor(t, 30*time.Second, func() error {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", m.port))
		if err != nil {
			return fmt.Errorf("mosquitto not listening: %w", err)
		}
		return c.Close()
	})
	if !m.registered {
		m.register(t)
	}
}

func (m *mosquittoUpstream) kill() {
	if m.cmd != nil && m.cmd.Process != nil {
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
}

// stop ends mosquitto with SIGTERM, which saves its persistence file.
func (m *mosquittoUpstream) stop(t *testing.T) {
	t.Helper()
	if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("mosquitto did not stop on SIGTERM")
	}
	m.cmd = nil
}

// register creates the observer's session at mosquitto (subscribed to
// cloud/#, kept for an hour) and leaves, so that mosquitto queues every
// forwarded row for it, and keeps the queue across its restart (SIGTERM
// saves it). The observer comes back at the end to collect the rows in
// the order mosquitto queued them. (Staying connected would test
// mosquitto instead: 2.0.11 may not resend a message that was in flight
// to a subscriber when it was stopped.)
func (m *mosquittoUpstream) register(t *testing.T) {
	t.Helper()
	cm := m.connectObserver(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sa, err := cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "cloud/#", QoS: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(sa.Reasons) != 1 || sa.Reasons[0] >= 0x80 {
		t.Fatalf("SUBACK %v", sa.Reasons)
	}
	if err := cm.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	m.registered = true
}

// connectObserver connects the observer's session, recording every row
// it gets. Clean start is off even the first time (the directory is new):
// mosquitto 2.0.11 does not save the session of a client that connected
// with clean start, whatever its session expiry.
func (m *mosquittoUpstream) connectObserver(t *testing.T) *autopaho.ConnectionManager {
	t.Helper()
	u, _ := url.Parse(fmt.Sprintf("mqtt://127.0.0.1:%d", m.port))
	m.mu.Lock()
	if m.got == nil {
		m.got = map[string][]int{}
	}
	m.mu.Unlock()
	cfg := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{u},
		KeepAlive:                     30,
		CleanStartOnInitialConnection: false,
		SessionExpiryInterval:         3600,
		ReconnectBackoff:              func(int) time.Duration { return 100 * time.Millisecond },
		ClientConfig: paho.ClientConfig{
			ClientID: "observer",
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
				var v struct {
					N float64 `json:"n"` // the edge's json formatter stores numbers as float64
				}
				if err := json.Unmarshal(pr.Packet.Payload, &v); err != nil {
					return true, nil // the check reports the gap
				}
				m.mu.Lock()
				table := strings.TrimPrefix(pr.Packet.Topic, "cloud/")
				m.got[table] = append(m.got[table], int(v.N))
				m.mu.Unlock()
				return true, nil
			}},
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cm, err := autopaho.NewConnection(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := cm.AwaitConnection(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = cm.Disconnect(ctx)
	})
	return cm
}

// received collects: the first call resumes the observer's session.
func (m *mosquittoUpstream) received(t *testing.T) map[string][]int {
	if m.sub == nil {
		m.sub = m.connectObserver(t)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string][]int{}
	for k, v := range m.got {
		out[k] = append([]int(nil), v...)
	}
	return out
}

func TestForwardToMosquitto(t *testing.T) {
	const bin = "/usr/sbin/mosquitto"
	if _, err := os.Stat(bin); err != nil {
		msg := "mosquitto broker not installed (apt-get install mosquitto)"
		if os.Getenv("LAKEGATE_REQUIRE_TOOLCHAINS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	port := freeLoopbackPort(t)
	runForwarding(t, &mosquittoUpstream{bin: bin, dir: t.TempDir(), port: port}, port)
}

// TestForwardConfigErrors: every forwarding mistake is reported at its key.
func TestForwardConfigErrors(t *testing.T) {
	const up = `uplinks: [{name: cloud, url: "mqtt://127.0.0.1:1883", client_id: edge}]` + "\n"
	cases := []struct{ name, yaml, key, reason string }{
		{"unknown uplink", up + `routes: [{topic: "a/{table}", formatter: json, forward: [{uplink: clod, topic: "x/{table}"}]}]`,
			`routes[0].forward[0].uplink`, `no uplink is named "clod"`},
		{"bad placeholder", up + `routes: [{topic: "a/{table}", formatter: json, forward: [{uplink: cloud, topic: "x/{site}"}]}]`,
			`routes[0].forward[0].topic`, `"x/{site}": unknown placeholder {site}`},
		{"wildcard topic", up + `routes: [{topic: "a/{table}", formatter: json, forward: [{uplink: cloud, topic: "x/#"}]}]`,
			`routes[0].forward[0].topic`, `"x/#": a topic to publish on has no wildcards`},
		{"no topic", up + `routes: [{topic: "a/{table}", formatter: json, forward: [{uplink: cloud}]}]`,
			`routes[0].forward[0].topic`, `must not be empty`},
		{"qos 2", up + `routes: [{topic: "a/{table}", formatter: json, forward: [{uplink: cloud, topic: t, qos: 2}]}]`,
			`routes[0].forward[0].qos`, `2: want 0 or 1`},
		{"send", up + `routes: [{topic: "a/{table}", formatter: json, forward: [{uplink: cloud, topic: t, send: all}]}]`,
			`routes[0].forward[0].send`, `"all": want rows or payload`},
		{"url scheme", `uplinks: [{name: cloud, url: "http://h:1", client_id: e}]`, `uplinks[0].url`, `"http://h:1": scheme must be mqtt`},
		{"url port", `uplinks: [{name: cloud, url: "mqtt://h", client_id: e}]`, `uplinks[0].url`, `"mqtt://h": needs a host and a port`},
		{"client id", `uplinks: [{name: cloud, url: "mqtt://h:1"}]`, `uplinks[0].client_id`, `must be set`},
		{"name", `uplinks: [{name: "a/b", url: "mqtt://h:1", client_id: e}]`, `uplinks[0].name`, `"a/b": use letters`},
		{"duplicate", `uplinks: [{name: a, url: "mqtt://h:1", client_id: e}, {name: a, url: "mqtt://h:1", client_id: f}]`, `uplinks[1].name`, `duplicate uplink "a"`},
		{"negative", `uplinks: [{name: a, url: "mqtt://h:1", client_id: e, reconnect_max: -1s, outbox: {max_bytes: -1}}]`, `uplinks[0].reconnect_max`, `must not be negative`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := gateway.ParseConfig("test", []byte(tc.yaml))
			// "config KEY (test line N): REASON"
			if err == nil || !strings.Contains(err.Error(), "config "+tc.key+" (") || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("error %v\nwant one at key %s saying %q", err, tc.key, tc.reason)
			}
		})
	}
}

// TestForwardREADMEConfig: the configuration example in
// gateway/forward/README.md is valid as it stands.
func TestForwardREADMEConfig(t *testing.T) {
	b, err := os.ReadFile("forward/README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```yaml\n")
	sample, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no yaml block in forward/README.md")
	}
	cfg, err := gateway.ParseConfig("forward/README.md", []byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Uplinks) != 1 || len(cfg.Routes) != 1 || len(cfg.Routes[0].Forward) != 1 {
		t.Fatalf("sample decoded to %d uplinks, %d routes", len(cfg.Uplinks), len(cfg.Routes))
	}
}

// TestForwardOutboxFull: with the uplink down and the outbox at
// outbox.max_bytes, a QoS 1 publish of a forwarding route is refused with
// 0x97 quota exceeded and not stored either (the publisher sends it again
// later); a QoS 0 one is stored but not forwarded.
func TestForwardOutboxFull(t *testing.T) {
	deadPort := freeLoopbackPort(t) // nothing listens there
	edge := startGatewayYAML(t, fmt.Sprintf(`
listeners:
  mqtt: [{id: tcp, address: "127.0.0.1:0"}]
  http: {address: "127.0.0.1:0"}
storage:
  dir: %q
  flush: {max_age: 1h}
uplinks:
  - {name: up, url: "mqtt://127.0.0.1:%d", client_id: edge-full, outbox: {max_bytes: 2KiB}}
routes:
  - topic: dev/{table}
    formatter: json
    forward: [{uplink: up, topic: "cloud/{table}"}]
`, t.TempDir(), deadPort))
	c := connect(t, edge.MQTTAddrs()[0], "pub-full", nil)
	accepted, refused := 0, false
	for n := 1; n <= 500 && !refused; n++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		pr, err := c.Publish(ctx, &paho.Publish{Topic: "dev/d0", QoS: 1, Payload: []byte(fmt.Sprintf(`{"n":%d}`, n))})
		cancel()
		switch {
		case pr != nil && pr.ReasonCode == 0x97:
			refused = true
		case err != nil || pr == nil || pr.ReasonCode >= 0x80:
			t.Fatalf("publish n=%d: %v %+v", n, err, pr)
		default:
			accepted++
		}
	}
	if !refused || accepted == 0 {
		t.Fatalf("accepted %d, refused %v: want some accepted, then 0x97", accepted, refused)
	}
	st := edge.ForwardStats()[0]
	if st.Outbox.Refused == 0 || st.Outbox.Queued != uint64(accepted) || st.Outbox.Bytes > 2048 {
		t.Fatalf("outbox stats %+v: want refusals, %d queued, at most 2048 bytes", st.Outbox, accepted)
	}
	want := fmt.Sprintf("[[%d]]", accepted)
	if r := query(t, edge.HTTPAddr(), "SELECT count(*) FROM d0"); fmt.Sprint(r.Data.Rows) != want {
		t.Fatalf("stored %v, want %s: the refused message is not stored", r.Data.Rows, want)
	}
	pub5(t, c, &paho.Publish{Topic: "dev/d0", QoS: 0, Payload: []byte(`{"n":0}`)})
	want = fmt.Sprintf("[[%d]]", accepted+1)
	checkFor(t, 30*time.Second, func() error {
		if r := query(t, edge.HTTPAddr(), "SELECT count(*) FROM d0"); fmt.Sprint(r.Data.Rows) != want {
			return fmt.Errorf("stored %v, want %s: a QoS 0 message is stored even when it cannot be forwarded", r.Data.Rows, want)
		}
		return nil
	})
}

// TestForwardOverTLS: an uplink to an mqtts:// upstream (a second lakegate
// with a TLS listener) trusting a private CA by tls.ca_file.
func TestForwardOverTLS(t *testing.T) {
	certs := makeCerts(t)
	up := startGatewayYAML(t, fmt.Sprintf(`
listeners:
  mqtt: [{id: tls, type: tls, address: "127.0.0.1:0", tls: {cert_file: %q, key_file: %q}}]
  http: {address: "127.0.0.1:0"}
storage:
  dir: %q
  flush: {max_age: 1h}
routes:
  - {topic: "cloud/{table}", formatter: json}
`, certs.serverCert, certs.serverKey, t.TempDir()))
	edge := startGatewayYAML(t, fmt.Sprintf(`
listeners:
  mqtt: [{id: tcp, address: "127.0.0.1:0"}]
  http: {address: "127.0.0.1:0"}
storage:
  dir: %q
  flush: {max_age: 1h}
uplinks:
  - {name: up, url: "mqtts://%s", client_id: edge-tls, tls: {ca_file: %q}}
routes:
  - topic: dev/{table}
    formatter: json
    forward: [{uplink: up, topic: "cloud/{table}", qos: 1}]
`, t.TempDir(), up.MQTTAddrs()[0], certs.ca))
	publishPhase(t, edge, 1, 6)
	checkFor(t, 30*time.Second, func() error {
		r := queryMaybe(up.HTTPAddr(), "SELECT count(*) FROM d0")
		if r == nil || fmt.Sprint(r.Data.Rows) != "[[5]]" {
			return fmt.Errorf("upstream over TLS has %v rows of d0, want 5", r)
		}
		return nil
	})
}
