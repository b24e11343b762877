package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/lakegate/lakegate/gateway"
	"github.com/lakegate/lakegate/sdk-plugin/go/wasmbuild"
)

// hostilePlugin is testdata/plugins/hostile built once per test binary.
var hostilePlugin struct {
	once sync.Once
	path string
	err  error
}

func buildHostilePlugin(t *testing.T) string {
	t.Helper()
	buildTestPlugins(t) // skips (or fails under LAKEGATE_REQUIRE_TOOLCHAINS) without a Go toolchain
	hostilePlugin.once.Do(func() {
		hostilePlugin.path = filepath.Join(testPlugins.dir, "hostile.wasm")
		hostilePlugin.err = wasmbuild.Build(context.Background(), ".", "./testdata/plugins/hostile", hostilePlugin.path)
	})
	if hostilePlugin.err != nil {
		t.Fatalf("building testdata/plugins/hostile: %v", hostilePlugin.err)
	}
	return hostilePlugin.path
}

// startHostileGateway builds the hostile plugin and starts a gateway with
// the config cfg, in which $HOSTILE stands for the plugin's formatter id.
func startHostileGateway(t *testing.T, cfg string) *gateway.Gateway {
	t.Helper()
	id := strconv.Quote("plugin:" + buildHostilePlugin(t))
	return startGateway(t, t.TempDir(), strings.ReplaceAll(cfg, "$HOSTILE", id))
}

// hostileKinds are the payloads of testdata/plugins/hostile that make it
// misbehave, each with the failure reason it must give.
var hostileKinds = []struct{ payload, reason string }{
	{"loop", "timeout"},
	{"alloc", "oom"},
	{"trap", "trap"},
}

// TestHostilePluginBesideGoodRoute runs a gateway with a route to a plugin
// that loops forever, allocates 1 GiB or traps, and a route to the JSON
// formatter. Several MQTT 5 publishers publish to both at QoS 1 at the
// same time. Every good message is stored exactly once; every hostile one
// is refused with reason 0x83 and dead-lettered with its reason; the
// plugin's own limits (plugins.overrides) apply to it and not to the JSON
// route; the per-formatter counters moved; the gateway stays up.
func TestHostilePluginBesideGoodRoute(t *testing.T) {
	id := "plugin:" + buildHostilePlugin(t) // in the metrics' labels
	gw := startHostileGateway(t, `
dead_letter: {table: dead}
plugins:
  limits: {call_timeout: 20s}
  overrides:
    - {formatter: $HOSTILE, call_timeout: 300ms, memory_pages: 512, instances: 2}
routes:
  - {topic: "good/{table}", formatter: json, table: "{table}"}
  - {topic: "bad/{table}", formatter: $HOSTILE, table: "{table}"}
`)
	addr, h := gw.MQTTAddrs()[0], gw.HTTPAddr()

	const (
		goodPublishers = 4
		goodPerPub     = 40
		badPublishers  = 2
		badRounds      = 2
	)
	errs := make(chan error, goodPublishers+badPublishers)
	var wg sync.WaitGroup
	publish := func(c *paho.Client, topic, payload string) (byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		pr, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(payload)})
		if pr != nil {
			return pr.ReasonCode, nil // paho reports a negative PUBACK as an error too
		}
		return 0, fmt.Errorf("publishing %q to %s: %w", payload, topic, err)
	}
	for p := range goodPublishers {
		c := connect(t, addr, fmt.Sprintf("good%d", p), nil)
		wg.Go(func() {
			for i := range goodPerPub {
				payload := fmt.Sprintf(`{"ts":%d,"pub":%d,"seq":%d}`, 1700000000000+int64(p*goodPerPub+i), p, i)
				rc, err := publish(c, "good/readings", payload)
				if err == nil && rc != 0 {
					err = fmt.Errorf("good publisher %d message %d: PUBACK reason %#x, want 0", p, i, rc)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for p := range badPublishers {
		c := connect(t, addr, fmt.Sprintf("bad%d", p), nil)
		wg.Go(func() {
			for round := range badRounds {
				for _, k := range hostileKinds {
					rc, err := publish(c, "bad/"+k.payload, k.payload)
					if err == nil && rc != 0x83 {
						err = fmt.Errorf("hostile publisher %d, %s: PUBACK reason %#x, want 0x83", p, k.payload, rc)
					}
					if err != nil {
						errs <- err
						return
					}
				}
				// A well-behaved message right after: a fresh instance takes
				// it. And one to the JSON route from the same connection.
				rc, err := publish(c, "bad/fine", fmt.Sprintf("p%d-r%d", p, round))
				if err == nil && rc != 0 {
					err = fmt.Errorf("hostile publisher %d, a good message after the failures: PUBACK reason %#x, want 0", p, rc)
				}
				if err == nil {
					payload := fmt.Sprintf(`{"ts":%d,"pub":%d,"seq":%d}`, 1710000000000+int64(p*badRounds+round), 100+p, round)
					if rc, err = publish(c, "good/readings", payload); err == nil && rc != 0 {
						err = fmt.Errorf("hostile publisher %d, JSON route: PUBACK reason %#x, want 0", p, rc)
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}

	// Every good message exactly once. Rows are durable before the
	// PUBACK, so no polling is needed.
	r := query(t, h, "SELECT pub, seq FROM readings")
	seen := map[string]int{}
	for _, row := range r.Data.Rows {
		seen[fmt.Sprintf("%v/%v", row[0], row[1])]++
	}
	want := map[string]bool{}
	for p := range goodPublishers {
		for i := range goodPerPub {
			want[fmt.Sprintf("%d/%d", p, i)] = true
		}
	}
	for p := range badPublishers {
		for round := range badRounds {
			want[fmt.Sprintf("%d/%d", 100+p, round)] = true
		}
	}
	for k := range want {
		if n := seen[k]; n != 1 {
			t.Errorf("good message pub/seq=%s stored %d times, want once", k, n)
		}
	}
	if len(r.Data.Rows) != len(want) {
		t.Errorf("%d good rows, want %d", len(r.Data.Rows), len(want))
	}
	if got := len(query(t, h, "SELECT v FROM fine").Data.Rows); got != badPublishers*badRounds {
		t.Errorf("%d rows from the hostile plugin's good messages, want %d", got, badPublishers*badRounds)
	}

	// Every hostile message is a dead letter with its reason; nothing else is.
	r = query(t, h, "SELECT topic, client_id, reason_code, reason FROM dead")
	byKind := map[string]int{}
	for _, row := range r.Data.Rows {
		topic, client, code, reason := fmt.Sprint(row[0]), fmt.Sprint(row[1]), fmt.Sprint(row[2]), fmt.Sprint(row[3])
		kind := strings.TrimPrefix(topic, "bad/")
		want := ""
		for _, k := range hostileKinds {
			if k.payload == kind {
				want = k.reason
			}
		}
		if want == "" || !strings.HasPrefix(client, "bad") || code != "plugin_failed" {
			t.Errorf("unexpected dead letter topic=%s client=%s code=%s reason=%s", topic, client, code, reason)
			continue
		}
		if !strings.Contains(reason, "failed ("+want+")") {
			t.Errorf("dead letter of %s: reason %q does not give %q", kind, reason, want)
		}
		if kind == "loop" && !strings.Contains(reason, "deadline of 300ms") {
			t.Errorf("dead letter of loop: reason %q does not name the plugin's own 300ms deadline", reason)
		}
		byKind[kind]++
	}
	for _, k := range hostileKinds {
		if n := byKind[k.payload]; n != badPublishers*badRounds {
			t.Errorf("%d dead letters for %s, want %d", n, k.payload, badPublishers*badRounds)
		}
	}

	// The counters of each formatter moved, by reason; the JSON route has none.
	n := float64(badPublishers * badRounds)
	for sample, want := range map[string]float64{
		fmt.Sprintf(`lakegate_formatter_failures_total{formatter=%q,reason="timeout"}`, id):    n,
		fmt.Sprintf(`lakegate_formatter_failures_total{formatter=%q,reason="oom"}`, id):        n,
		fmt.Sprintf(`lakegate_formatter_failures_total{formatter=%q,reason="trap"}`, id):       n,
		fmt.Sprintf(`lakegate_formatter_instances_discarded_total{formatter=%q}`, id):          3 * n,
		fmt.Sprintf(`lakegate_formatter_calls_total{formatter=%q}`, id):                        4 * n,
		fmt.Sprintf(`lakegate_formatter_limit{formatter=%q,limit="call_timeout_seconds"}`, id): 0.3,
		fmt.Sprintf(`lakegate_formatter_limit{formatter=%q,limit="memory_bytes"}`, id):         512 * 65536,
		fmt.Sprintf(`lakegate_formatter_limit{formatter=%q,limit="instances"}`, id):            2,
		`lakegate_formatter_limit{formatter="json",limit="call_timeout_seconds"}`:              20,
		`lakegate_formatter_limit{formatter="json",limit="memory_bytes"}`:                      1024 * 65536,
		`lakegate_formatter_calls_total{formatter="json"}`:                                     float64(len(want)),
		`lakegate_formatter_instances_discarded_total{formatter="json"}`:                       0,
		`lakegate_ingest_messages_total{outcome="formatter_failed"}`:                           3 * n,
	} {
		if got := scrape(t, h, sample); got != want {
			t.Errorf("%s = %v, want %v", sample, got, want)
		}
	}
	if got := scrape(t, h, fmt.Sprintf(`lakegate_formatter_instances_started_total{formatter=%q}`, id)); got < 3*n {
		t.Errorf("hostile formatter started %v instances, want at least %v (one after each discard)", got, 3*n)
	}

	// Still up: a new client is served on both routes.
	resp, err := http.Get("http://" + h + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %s", resp.Status)
	}
	c := connect(t, addr, "after", nil)
	if rc := publishQoS1(t, c, "good/readings", `{"ts":1800000000000,"pub":99,"seq":0}`); rc != 0 {
		t.Fatalf("after the attack, good route: PUBACK reason %#x", rc)
	}
	if rc := publishQoS1(t, c, "bad/fine", "after"); rc != 0 {
		t.Fatalf("after the attack, plugin route: PUBACK reason %#x", rc)
	}
	waitRows(t, h, "SELECT seq FROM readings WHERE pub = 99", "[[0]]")
	waitRows(t, h, "SELECT v FROM fine WHERE v = 'after'", "[[after]]")
}

// TestLoopingPluginQoS0HoldsOnlyItsPublishers: QoS 0 messages to a user
// plugin that spends its whole deadline on each are formatted on their
// publishers' connections, not in the ingest queue (ingestqueue.go) that
// other clients' QoS 0 messages share, so those are stored at once.
func TestLoopingPluginQoS0HoldsOnlyItsPublishers(t *testing.T) {
	gw := startHostileGateway(t, `
plugins:
  overrides:
    - {formatter: $HOSTILE, call_timeout: 200ms, instances: 2}
routes:
  - {topic: "good/{table}", formatter: json, table: "{table}"}
  - {topic: "bad/{table}", formatter: $HOSTILE, table: "{table}"}
`)
	addr := gw.MQTTAddrs()[0]
	// Four looping publishers, 12 messages each: 9.6 s of deadlines, 4.8 s
	// on the plugin's two instances; a queue worker holding them would
	// stall its clients for seconds.
	for p := range 4 {
		c := dialRaw(t, addr, fmt.Sprintf("looper%d", p))
		loops := make([]rawMsg, 12)
		for i := range loops {
			loops[i] = rawMsg{topic: "bad/loop", payload: "loop"}
		}
		c.publishAll(loops)
	}
	time.Sleep(100 * time.Millisecond) // the loops are being formatted
	start := time.Now()
	for p := range 4 {
		c := dialRaw(t, addr, fmt.Sprintf("bystander%d", p))
		msgs := make([]rawMsg, 50)
		for i := range msgs {
			msgs[i] = rawMsg{topic: "good/bystanders", payload: fmt.Sprintf(`{"ts":%d,"pub":%d,"n":%d}`, 1700000000000+int64(p*100+i), p, i)}
		}
		msgs = append(msgs, rawMsg{topic: "good/fence", payload: `{"ts":1700000000000,"pub":1}`, qos: 1})
		c.publishAll(msgs)
		if _, code := c.nextAck(); code != 0 {
			t.Fatalf("bystander %d: PUBACK reason %#x", p, code)
		}
	}
	if waited := time.Since(start); waited > 1500*time.Millisecond {
		t.Fatalf("bystanders' messages took %v: the looping plugin held them up", waited)
	}
	if got := gw.Stats().RowsStored; got < 4*51 {
		t.Fatalf("%d rows stored, want at least %d", got, 4*51)
	}
}

// TestKeepAliveSpansSlowHandling: the keep-alive bounds the time a client
// is silent, not the time the broker takes over its message. A client
// with a 1 s keep-alive whose message a plugin formats for 2.5 s, on the
// connection's goroutine, is still served afterwards, though the guard's
// keep-alive watchdog fired meanwhile (listen/guard.go).
func TestKeepAliveSpansSlowHandling(t *testing.T) {
	gw := startHostileGateway(t, `
plugins:
  overrides:
    - {formatter: $HOSTILE, call_timeout: 2500ms}
routes:
  - {topic: "bad/{table}", formatter: $HOSTILE, table: "{table}"}
`)
	c := dialRawKeepAlive(t, gw.MQTTAddrs()[0], "slow", 1)
	start := time.Now()
	c.publishAll([]rawMsg{{topic: "bad/loop", payload: "loop"}})
	c.ping()
	if d := time.Since(start); d < 2*time.Second {
		t.Fatalf("PINGRESP after %s: the plugin did not hold the connection past its keep-alive", d)
	}
	c.ping() // and it goes on
}
