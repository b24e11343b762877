package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/lakegate/lakegate/gateway"
)

// sourceYAML is the configuration of a lakegate taking plant/# from the
// upstream broker at upstream through the shared subscription group "lg";
// extra are more keys of the source.
func sourceYAML(upstream, clientID string, extra ...string) string {
	return fmt.Sprintf(`
sources:
  - name: plant
    brokers: ["mqtt://%s"]
    client_id: %s
    share_group: lg
    filters: [{topic: "plant/#", qos: 1}]
    reconnect_min: 50ms
    reconnect_max: 1s
    %s
routes:
  - {topic: "plant/{line}/reading", formatter: json, table: readings}
`, upstream, clientID, strings.Join(extra, "\n    "))
}

// seqs returns the seq column of table readings in gw, over HTTP.
func seqs(t *testing.T, gw *gateway.Gateway) []int64 {
	t.Helper()
	r := query(t, gw.HTTPAddr(), "SELECT seq FROM readings")
	out := make([]int64, 0, len(r.Data.Rows))
	for _, row := range r.Data.Rows {
		n, err := row[0].(json.Number).Int64()
		if err != nil {
			t.Fatalf("seq %v: %v", row[0], err)
		}
		out = append(out, n)
	}
	return out
}

// tableRows counts the rows of readings in gw (0 before the table exists).
func tableRows(gw *gateway.Gateway) int64 {
	for _, ts := range gw.Status(context.Background()).Tables {
		if ts.Name == "readings" {
			return ts.Rows
		}
	}
	return 0
}

// waitSubscribed waits until the upstream broker holds want subscriptions.
func waitSubscribed(t *testing.T, upstream *gateway.Gateway, want float64) {
	t.Helper()
	checkFor(t, 30*time.Second, func() error {
		if got := scrape(t, upstream.HTTPAddr(), "lakegate_broker_subscriptions"); got < want {
			return fmt.Errorf("upstream has %v subscriptions, want %v", got, want)
		}
		return nil
	})
}

// checkUnion waits until the two gateways together hold n rows, then
// checks they hold seq 0..n-1 exactly once each and that both got a share.
func checkUnion(t *testing.T, a, b *gateway.Gateway, n int) {
	t.Helper()
	checkFor(t, 30*time.Second, func() error {
		if got := tableRows(a) + tableRows(b); got < int64(n) {
			return fmt.Errorf("the gateways hold %d rows, want %d", got, n)
		}
		return nil
	})
	sa, sb := seqs(t, a), seqs(t, b)
	if len(sa) == 0 || len(sb) == 0 {
		t.Errorf("one gateway got nothing: %d and %d rows", len(sa), len(sb))
	}
	all := slices.Concat(sa, sb)
	slices.Sort(all)
	for i, s := range all {
		if s != int64(i) {
			t.Fatalf("union of the rows (%d + %d) is not seq 0..%d exactly once: at %d found %d (%v)", len(sa), len(sb), n-1, i, s, all)
		}
	}
	if len(all) != n {
		t.Fatalf("union has %d rows, want %d", len(all), n)
	}
	t.Logf("split: %d + %d", len(sa), len(sb))
}

func publishReadings(t *testing.T, pub *paho.Client, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		p := &paho.Publish{Topic: fmt.Sprintf("plant/line%d/reading", i%3), QoS: 1,
			Payload: fmt.Appendf(nil, `{"ts":%d,"seq":%d}`, 1764460800000+i, i)}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		pr, err := pub.Publish(ctx, p)
		cancel()
		if err != nil || pr.ReasonCode != 0 {
			t.Fatalf("publish %d upstream: %v %v", i, err, pr)
		}
	}
}

// TestSourceSharedSubscription runs two gateways sharing one subscription
// on a third (the upstream broker): the publisher's N QoS 1 messages end
// up as exactly N rows between them, each gateway with a share.
func TestSourceSharedSubscription(t *testing.T) {
	upstream := startGateway(t, t.TempDir(), "")
	up := upstream.MQTTAddrs()[0]
	a := startGateway(t, t.TempDir(), sourceYAML(up, "lg-a"))
	b := startGateway(t, t.TempDir(), sourceYAML(up, "lg-b"))
	waitSubscribed(t, upstream, 2)

	const n = 300
	publishReadings(t, connect(t, up, "plant-publisher", nil), 0, n)
	checkUnion(t, a, b, n)

	var acked int64
	for _, gw := range []*gateway.Gateway{a, b} {
		for _, s := range gw.SourceStats() {
			if !s.Connected || s.Retries != 0 {
				t.Errorf("source stats %+v", s)
			}
			acked += s.Ingested
		}
	}
	if acked != n {
		t.Errorf("sources ingested %d messages, want %d", acked, n)
	}
	// /metrics agrees with the stats.
	var scraped float64
	for _, gw := range []*gateway.Gateway{a, b} {
		name := gw.SourceStats()[0].Name
		if v := scrape(t, gw.HTTPAddr(), `lakegate_source_connected{source="`+name+`"}`); v != 1 {
			t.Errorf("lakegate_source_connected = %v, want 1", v)
		}
		scraped += scrape(t, gw.HTTPAddr(), `lakegate_source_messages_total{source="`+name+`",stage="ingested"}`)
	}
	if scraped != n {
		t.Errorf("lakegate_source_messages_total{stage=ingested} adds up to %v, want %d", scraped, n)
	}
}

// TestSourceRestartMidStream closes one of the two gateways between
// publishes, publishes more while it is down (its share waits in its
// session upstream), and starts it again on the same data directory and
// client id: nothing is lost or doubled, as a graceful shutdown sends the
// acknowledgements of what it stored before disconnecting. (Nothing is
// published during the session takeover itself: see TestSourceReconnects.)
func TestSourceRestartMidStream(t *testing.T) {
	upstream := startGateway(t, t.TempDir(), "")
	up := upstream.MQTTAddrs()[0]
	a := startGateway(t, t.TempDir(), sourceYAML(up, "lg-a"))
	dirB := t.TempDir()
	b := startGateway(t, dirB, sourceYAML(up, "lg-b"))
	waitSubscribed(t, upstream, 2)

	const n = 400
	pub := connect(t, up, "plant-publisher", nil)
	publishReadings(t, pub, 0, 150)
	checkFor(t, 30*time.Second, func() error {
		if got := tableRows(b); got == 0 {
			return fmt.Errorf("gateway b has no row yet")
		}
		return nil
	})
	if err := b.Close(); err != nil {
		t.Fatalf("closing gateway b: %v", err)
	}
	publishReadings(t, pub, 150, 250)
	b2 := startGateway(t, dirB, sourceYAML(up, "lg-b"))
	waitConnects(t, b2, 1)
	publishReadings(t, pub, 250, n)
	checkUnion(t, a, b2, n)
	if st := b2.SourceStats()[0]; st.Received == 0 {
		t.Errorf("the restarted gateway received nothing: %+v", st)
	}
}

// TestSourceREADMEExample loads the configuration example of
// gateway/source/README.md, so the README cannot drift from the code.
func TestSourceREADMEExample(t *testing.T) {
	readme, err := os.ReadFile("source/README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```yaml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no yaml example in source/README.md")
	}
	cfg, err := gateway.ParseConfig("source/README.md", []byte(example))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Sources) != 1 {
		t.Fatalf("sources = %+v", cfg.Sources)
	}
	s := cfg.Sources[0]
	if s.Name != "plant" || len(s.Brokers) != 2 || s.ClientID != "lakegate-a" || s.ShareGroup != "lakegate" ||
		s.TLS == nil || s.TLS.CAFile != "/etc/lakegate/ca.pem" || s.SessionExpiry != time.Hour ||
		len(s.Filters) != 1 || s.Filters[0].QoS != 1 {
		t.Errorf("README example decoded as %+v", s)
	}
	if cfg.ShutdownTimeout != 10*time.Second {
		t.Errorf("default shutdown_timeout = %s, want 10s", cfg.ShutdownTimeout)
	}
}

// TestSourceConfigErrors: a source's problems name their key and line.
func TestSourceConfigErrors(t *testing.T) {
	_, err := gateway.ParseConfig("lakegate.yaml", []byte(`shutdown_timeout: 0s
sources:
  - name: plant
    brokers: ["http://10.0.0.5"]
    client_id: a
    filters: [{topic: "a/#/b", qos: 1}]
  - name: plant
    brokers: ["10.0.0.5:1883"]
    client_id: b
    filters: [{topic: "x", qos: 5}]
    colour: blue
`))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"config sources[1].colour (lakegate.yaml line 11): unknown key",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q:\n%v", want, err)
		}
	}
	_, err = gateway.ParseConfig("lakegate.yaml", []byte(`shutdown_timeout: 0s
sources:
  - name: plant
    brokers: ["http://10.0.0.5"]
    client_id: a
    filters: [{topic: "a/#/b", qos: 1}]
  - name: plant
    brokers: ["10.0.0.5:1883"]
    client_id: b
    filters: [{topic: "x", qos: 2}, {topic: "y", qos: 3}]
`))
	for _, want := range []string{
		"config shutdown_timeout (lakegate.yaml line 1): must be positive",
		"config sources[0].brokers[0] (lakegate.yaml line 4):",
		"config sources[0].filters[0].topic (lakegate.yaml line 6):",
		`config sources[1].name (lakegate.yaml line 7): duplicate source name "plant"`,
		"config sources[1].filters[1].qos (lakegate.yaml line 10): must be 0, 1 or 2, got 3",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q:\n%v", want, err)
		}
	}
}

// cutProxy forwards loopback TCP connections to target. cut drops every
// open connection and refuses new ones until restore: a network failure
// between a source and its upstream broker.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			down := p.down
			p.mu.Unlock()
			if down {
				c.Close()
				continue
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); u.Close() }()
			go func() { _, _ = io.Copy(c, u); c.Close() }()
		}
	}()
	return p
}

// cut closes the open connections, returning how many, and refuses new
// ones until restore.
func (p *cutProxy) cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	n := len(p.conns) / 2
	p.conns = nil
	return n
}

func (p *cutProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// waitConnects waits until gw's source has connected want times.
func waitConnects(t *testing.T, gw *gateway.Gateway, want int64) {
	t.Helper()
	checkFor(t, 30*time.Second, func() error {
		if st := gw.SourceStats()[0]; st.Connects < want || !st.Connected {
			return fmt.Errorf("source %+v, want %d connections and connected", st, want)
		}
		return nil
	})
}

// TestSourceReconnects cuts the connection between a source and its
// upstream broker twice while messages flow, and publishes more while it
// is down: the source reconnects with backoff, resumes its session (which
// kept what was published meanwhile, and what was not acknowledged), and
// every message is stored. At QoS 1 a message stored before a cut whose
// PUBACK was lost with the connection is sent again and stored twice:
// allowed, and logged.
//
// Nothing is published while the source takes its session over: mochi
// (the upstream broker here) loses messages published in that instant,
// between copying the old connection's in-flight messages and
// registering the new one (server.go inheritClientSession).
func TestSourceReconnects(t *testing.T) {
	upstream := startGateway(t, t.TempDir(), "")
	proxy := newCutProxy(t, upstream.MQTTAddrs()[0])
	gw := startGateway(t, t.TempDir(), sourceYAML(proxy.ln.Addr().String(), "lg-solo"))
	waitSubscribed(t, upstream, 1)

	const n = 300
	pub := connect(t, upstream.MQTTAddrs()[0], "plant-publisher", nil)
	connects := int64(1)
	for _, part := range [][3]int{{0, 100, 150}, {150, 250, n}} {
		live, down, end := part[0], part[1], part[2]
		publishReadings(t, pub, live, down)
		checkFor(t, 30*time.Second, func() error {
			if got := tableRows(gw); got < int64(live+down)/2 {
				return fmt.Errorf("%d rows before the cut", got)
			}
			return nil
		})
		if cut := proxy.cut(); cut != 1 {
			t.Fatalf("cut %d connections, want 1", cut)
		}
		publishReadings(t, pub, down, end) // kept in the session meanwhile
		proxy.restore()
		connects++
		waitConnects(t, gw, connects)
	}
	seen := map[int64]int{}
	checkFor(t, 30*time.Second, func() error {
		clear(seen)
		for _, s := range seqs(t, gw) {
			seen[s]++
		}
		if len(seen) < n {
			return fmt.Errorf("%d distinct seq stored, want %d; source %+v", len(seen), n, gw.SourceStats()[0])
		}
		return nil
	})
	dups := 0
	for i := range int64(n) {
		switch seen[i] {
		case 0:
			t.Errorf("seq %d lost", i)
		case 1:
		default:
			dups += seen[i] - 1
		}
	}
	t.Logf("%d messages, %d stored twice (QoS 1 redelivery after a cut), stats %+v", n, dups, gw.SourceStats()[0])
}

// BenchmarkSourceQoS1 measures messages per second through a source: 8
// publishers at QoS 1 on an upstream lakegate, one gateway taking them
// through its source, each stored durably before its PUBACK goes upstream.
//
//	go test -run XXX -bench SourceQoS1 -benchtime 3000x ./gateway/
func BenchmarkSourceQoS1(b *testing.B) {
	start := func(yaml string) *gateway.Gateway {
		cfg, err := gateway.ParseConfig("bench", fmt.Appendf(nil, `
listeners:
  mqtt: [{id: tcp, address: "127.0.0.1:0"}]
  http: {address: "127.0.0.1:0"}
storage: {dir: %q}
%s`, b.TempDir(), yaml))
		if err != nil {
			b.Fatal(err)
		}
		return runGateway(b, cfg, gateway.Options{CompilationCacheDir: wasmCache})
	}
	upstream := start("")
	up := upstream.MQTTAddrs()[0]
	gw := start(sourceYAML(up, "lg-bench"))
	for deadline := time.Now().Add(30 * time.Second); !gw.SourceStats()[0].Connected; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("source not connected")
		}
	}

	const publishers = 8
	var clients []*paho.Client
	for p := range publishers {
		conn, err := net.Dial("tcp", up)
		if err != nil {
			b.Fatal(err)
		}
		c := paho.NewClient(paho.ClientConfig{ClientID: fmt.Sprintf("bench-%d", p), Conn: conn})
		if _, err := c.Connect(context.Background(), &paho.Connect{ClientID: fmt.Sprintf("bench-%d", p), KeepAlive: 30, CleanStart: true}); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
		clients = append(clients, c)
	}
	payload := []byte(`{"ts":1764460800000,"seq":1,"device":"boiler-7","temp":61.25}`)
	// The SUBSCRIBE follows the CONNACK: probe until a message gets through.
	for deadline := time.Now().Add(30 * time.Second); gw.Stats().Stored == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("no message through the source")
		}
		if _, err := clients[0].Publish(context.Background(), &paho.Publish{Topic: "plant/probe/reading", QoS: 1, Payload: payload}); err != nil {
			b.Fatal(err)
		}
	}
	for prev := int64(-1); prev != gw.Stats().Stored; time.Sleep(200 * time.Millisecond) {
		prev = gw.Stats().Stored // let the probes drain
	}
	base := gw.Stats().Stored
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for p, c := range clients {
		wg.Go(func() {
			for i := p; i < b.N; i += publishers {
				if _, err := c.Publish(context.Background(), &paho.Publish{Topic: fmt.Sprintf("plant/line%d/reading", i%3), QoS: 1, Payload: payload}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for deadline := time.Now().Add(time.Minute); gw.Stats().Stored < base+int64(b.N); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d messages stored after a minute; source %+v", gw.Stats().Stored-base, b.N, gw.SourceStats()[0])
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}
