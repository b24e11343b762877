package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/lakegate/lakegate/gateway"
	"github.com/lakegate/lakegate/plugins"
	"github.com/lakegate/lakegate/sdk-plugin/go/wasmbuild"
)

// testPlugins are the Go guests the gateway tests load from disk, built
// once per test binary: the SDK's kv example and testdata/plugins/trap.
var testPlugins struct {
	once     sync.Once
	dir      string
	skip     string
	err      error
	kv, trap string // paths of the built modules
}

func buildTestPlugins(t *testing.T) (kv, trap string) {
	t.Helper()
	testPlugins.once.Do(func() {
		if _, err := wasmbuild.GoTool(); err != nil {
			testPlugins.skip = fmt.Sprintf("cannot build the test plugins: %v", err)
			return
		}
		dir, err := os.MkdirTemp("", "lakegate-gw-plugins-")
		if err != nil {
			testPlugins.err = err
			return
		}
		testPlugins.dir = dir
		testPlugins.kv, testPlugins.trap = filepath.Join(dir, "kv.wasm"), filepath.Join(dir, "trap.wasm")
		ctx := context.Background()
		var wg sync.WaitGroup
		var kvErr, trapErr error
		wg.Go(func() { kvErr = wasmbuild.Build(ctx, "../sdk-plugin/go", "./examples/kv", testPlugins.kv) })
		wg.Go(func() { trapErr = wasmbuild.Build(ctx, ".", "./testdata/plugins/trap", testPlugins.trap) })
		wg.Wait()
		testPlugins.err = errorsJoin(kvErr, trapErr)
	})
	if testPlugins.skip != "" {
		if os.Getenv("LAKEGATE_REQUIRE_TOOLCHAINS") == "1" {
			t.Fatalf("LAKEGATE_REQUIRE_TOOLCHAINS=1 but %s", testPlugins.skip)
		}
		t.Skip(testPlugins.skip)
	}
	if testPlugins.err != nil {
		t.Fatal(testPlugins.err)
	}
	return testPlugins.kv, testPlugins.trap
}

func errorsJoin(errs ...error) error {
	var msgs []string
	for _, err := range errs {
		if err != nil {
			msgs = append(msgs, err.Error())
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return fmt.Errorf("building test plugins: %s", strings.Join(msgs, "; "))
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	// Write then rename, as an operator replacing a plugin should.
	if err := os.WriteFile(to+".tmp", b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(to+".tmp", to); err != nil {
		t.Fatal(err)
	}
}

func publishQoS1(t *testing.T, c *paho.Client, topic, payload string) byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pr, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(payload)})
	if pr != nil {
		return pr.ReasonCode // paho reports a negative PUBACK as an error too
	}
	if err != nil {
		t.Fatalf("publishing to %s: %v", topic, err)
	}
	return pr.ReasonCode
}

func waitRows(t *testing.T, httpAddr, sql, want string) {
	t.Helper()
	checkFor(t, 10*time.Second, func() error {
		got := fmt.Sprint(query(t, httpAddr, sql).Data.Rows)
		if got != want {
			return fmt.Errorf("%s: got %s, want %s", sql, got, want)
		}
		return nil
	})
}

// TestPluginFormatterFromDisk runs the SDK's kv example as a formatter over
// MQTT, once found by id in plugins.dir and once named by plugin:PATH.
func TestPluginFormatterFromDisk(t *testing.T) {
	kv, _ := buildTestPlugins(t)
	pdir := t.TempDir()
	copyFile(t, kv, filepath.Join(pdir, "kv.wasm"))
	gw := startGateway(t, t.TempDir(), fmt.Sprintf(`
plugins: {dir: %q}
routes:
  - {topic: "dev/+/kv", formatter: kv, table: kvdir}
  - {topic: "path/+/kv", formatter: "plugin:%s", table: kvpath}
`, pdir, kv))
	c := connect(t, gw.MQTTAddrs()[0], "kvpub", nil)
	if rc := publishQoS1(t, c, "dev/d1/kv", "temp=21.5 unit=C ts=1700000000000"); rc != 0 {
		t.Fatalf("PUBACK reason %#x", rc)
	}
	if rc := publishQoS1(t, c, "path/d2/kv", "temp=3 unit=F ts=1700000001000"); rc != 0 {
		t.Fatalf("PUBACK reason %#x", rc)
	}
	waitRows(t, gw.HTTPAddr(), "SELECT device, temp, unit FROM kvdir", "[[d1 21.5 C]]")
	waitRows(t, gw.HTTPAddr(), "SELECT device, temp, unit FROM kvpath", "[[d2 3 F]]")
}

// deadLetterDoc is the JSON document republished for a dead letter.
type deadLetterDoc struct {
	Topic, ClientID, Username, ReasonCode, Reason, Table string
	QoS                                                  int
	Payload                                              []byte
}

// TestDeadLetters sends a malformed payload and a payload that makes a
// plugin trap: each is refused, stored in the dead-letter table and
// republished on the dead-letter topic.
func TestDeadLetters(t *testing.T) {
	_, trap := buildTestPlugins(t)
	gw := startGateway(t, t.TempDir(), fmt.Sprintf(`
dead_letter: {table: dead, topic: lakegate/dead}
routes:
  - {topic: "db/write/{table}", formatter: json, table: "{table}"}
  - {topic: "trap/{table}", formatter: "plugin:%s", table: "{table}"}
`, trap))
	addr := gw.MQTTAddrs()[0]
	var mu sync.Mutex
	var docs []deadLetterDoc
	sub := connect(t, addr, "deadsub", func(p *paho.Publish) {
		var d struct {
			Topic      string `json:"topic"`
			ClientID   string `json:"client_id"`
			ReasonCode string `json:"reason_code"`
			Reason     string `json:"reason"`
			Table      string `json:"table"`
			QoS        int    `json:"qos"`
			Payload    []byte `json:"payload"`
		}
		if err := json.Unmarshal(p.Payload, &d); err != nil {
			t.Errorf("dead letter %q: %v", p.Payload, err)
			return
		}
		mu.Lock()
		docs = append(docs, deadLetterDoc{Topic: d.Topic, ClientID: d.ClientID, ReasonCode: d.ReasonCode,
			Reason: d.Reason, Table: d.Table, QoS: d.QoS, Payload: d.Payload})
		mu.Unlock()
	})
	if _, err := sub.Subscribe(context.Background(), &paho.Subscribe{
		Subscriptions: []paho.SubscribeOptions{{Topic: "lakegate/dead", QoS: 0}},
	}); err != nil {
		t.Fatal(err)
	}

	c := connect(t, addr, "badpub", nil)
	if rc := publishQoS1(t, c, "db/write/t", `{"ts":1700000000000,"temp":}`); rc != 0x99 {
		t.Fatalf("malformed: PUBACK reason %#x, want 0x99", rc)
	}
	if rc := publishQoS1(t, c, "trap/t2", "boom"); rc != 0x83 {
		t.Fatalf("trap: PUBACK reason %#x, want 0x83", rc)
	}
	if rc := publishQoS1(t, c, "trap/t2", "fine"); rc != 0 {
		t.Fatalf("after the trap: PUBACK reason %#x, want 0", rc)
	}

	// The rows are durable before the PUBACK: no polling needed.
	r := query(t, gw.HTTPAddr(), "SELECT topic, client_id, qos, route_table, reason_code FROM dead ORDER BY ts")
	if got, want := fmt.Sprint(r.Data.Rows), "[[db/write/t badpub 1 t malformed] [trap/t2 badpub 1 t2 plugin_failed]]"; got != want {
		t.Fatalf("dead letters: got %s, want %s", got, want)
	}
	r = query(t, gw.HTTPAddr(), "SELECT reason FROM dead ORDER BY ts")
	if reason := fmt.Sprint(r.Data.Rows[1]); !strings.Contains(reason, "t2") || len(reason) < 20 {
		t.Errorf("plugin failure reason %s does not say what failed", reason)
	}
	waitRows(t, gw.HTTPAddr(), "SELECT v FROM t2", "[[fine]]")

	checkFor(t, 10*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(docs) != 2 {
			return fmt.Errorf("%d dead letters republished, want 2", len(docs))
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	for _, d := range docs {
		switch d.ReasonCode {
		case "malformed":
			if d.Topic != "db/write/t" || d.ClientID != "badpub" || d.QoS != 1 || !bytes.Contains(d.Payload, []byte(`"temp":}`)) {
				t.Errorf("malformed dead letter %+v", d)
			}
		case "plugin_failed":
			if d.Topic != "trap/t2" || string(d.Payload) != "boom" || d.Reason == "" {
				t.Errorf("plugin dead letter %+v", d)
			}
		default:
			t.Errorf("unexpected dead letter %+v", d)
		}
	}
	if s := gw.Stats(); s.DeadLetters != 2 || s.Malformed != 1 || s.PluginFailed != 1 {
		t.Errorf("stats %+v", s)
	}
}

// TestReload replaces a plugin in plugins.dir and reloads while a client
// publishes: every PUBACKed row is stored, and messages after the reload
// use the new module.
func TestReload(t *testing.T) {
	kv, _ := buildTestPlugins(t)
	pdir := t.TempDir()
	plugin := filepath.Join(pdir, "p.wasm")
	copyFile(t, kv, plugin)
	gw := startGateway(t, t.TempDir(), fmt.Sprintf(`
plugins: {dir: %q}
routes:
  - {topic: "r/{table}", formatter: p, table: "{table}"}
`, pdir))
	// Three publishers, each with its own connection, publish QoS 1
	// messages without pause while the gateway reloads three times.
	const publishers = 3
	var acked atomic.Int64
	stop := make(chan struct{})
	done := make(chan error, publishers)
	for p := 0; p < publishers; p++ {
		pc := connect(t, gw.MQTTAddrs()[0], fmt.Sprintf("reloadpub%d", p), nil)
		go func() {
			ctx := context.Background()
			for i := 0; ; i++ {
				select {
				case <-stop:
					done <- nil
					return
				default:
				}
				pr, err := pc.Publish(ctx, &paho.Publish{Topic: "r/kvrows", QoS: 1,
					Payload: fmt.Appendf(nil, "pub=%d seq=%d ts=%d", p, i, 1700000000000+int64(i))})
				if err != nil {
					done <- err
					return
				}
				if pr.ReasonCode != 0 {
					done <- fmt.Errorf("publisher %d message %d: PUBACK reason %#x", p, i, pr.ReasonCode)
					return
				}
				acked.Add(1)
			}
		}()
	}
	for i := 0; i < 3; i++ {
		n := acked.Load()
		checkFor(t, 20*time.Second, func() error {
			if acked.Load() < n+20 {
				return fmt.Errorf("publishers stalled at %d acks", acked.Load())
			}
			return nil
		})
		if i == 1 {
			resp, err := http.Post("http://"+gw.HTTPAddr()+"/admin/reload", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("POST /admin/reload: %s", resp.Status)
			}
		} else if err := gw.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	for p := 0; p < publishers; p++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	waitRows(t, gw.HTTPAddr(), "SELECT count(*) FROM kvrows", fmt.Sprintf("[[%d]]", acked.Load()))

	// Replace the module: p now is the JSON formatter.
	copyFile(t, "../formatters/json/json.wasm", plugin)
	c := connect(t, gw.MQTTAddrs()[0], "reloadpub", nil)
	if err := gw.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rc := publishQoS1(t, c, "r/jsonrows", `{"ts":1700000000000,"x":7}`); rc != 0 {
		t.Fatalf("PUBACK reason %#x", rc)
	}
	waitRows(t, gw.HTTPAddr(), "SELECT x FROM jsonrows", "[[7]]")

	// A broken module fails the reload and keeps the running formatters.
	if err := os.WriteFile(plugin, []byte("not wasm"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := gw.Reload(context.Background()); err == nil {
		t.Fatal("reload of a broken module succeeded")
	}
	if rc := publishQoS1(t, c, "r/jsonrows", `{"ts":1700000001000,"x":8}`); rc != 0 {
		t.Fatalf("after a failed reload: PUBACK reason %#x", rc)
	}
}

// TestUnknownFormatter checks that New names the route whose formatter
// cannot be found, and where it looked.
func TestUnknownFormatter(t *testing.T) {
	pdir := t.TempDir()
	cfg, err := gateway.ParseConfig("test", []byte(fmt.Sprintf(`
plugins: {dir: %q}
routes:
  - {topic: "a/#", formatter: json, table: a}
  - {topic: "b/#", formatter: nope, table: b}
  - {topic: "c/#", formatter: "plugin:/nonexistent/x.wasm", table: c}
`, pdir)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = gateway.New(cfg, gateway.Options{})
	if err == nil {
		t.Fatal("New accepted unknown formatters")
	}
	for _, want := range []string{"routes[1].formatter", `"nope"`, pdir, "routes[2].formatter", "/nonexistent/x.wasm"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

// TestDeadLetterRejectedRow: a row the store refuses (its column changes
// type) is kept as a dead letter with the row as JSON.
func TestDeadLetterRejectedRow(t *testing.T) {
	gw := startGateway(t, t.TempDir(), "")
	c := connect(t, gw.MQTTAddrs()[0], "rowpub", nil)
	if rc := publishQoS1(t, c, "db/write/typed", `{"ts":1700000000000,"v":1}`); rc != 0 {
		t.Fatalf("PUBACK reason %#x", rc)
	}
	if rc := publishQoS1(t, c, "db/write/typed", `[{"ts":1700000001000,"v":2},{"ts":1700000002000,"v":"text"}]`); rc != 0 {
		t.Fatalf("partly stored: PUBACK reason %#x, want 0", rc)
	}
	r := query(t, gw.HTTPAddr(), "SELECT topic, route_table, reason_code, payload FROM dead_letters")
	if len(r.Data.Rows) != 1 {
		t.Fatalf("dead letters %v, want one", r.Data.Rows)
	}
	got := fmt.Sprint(r.Data.Rows[0])
	if !strings.HasPrefix(got, "[db/write/typed typed row_rejected ") {
		t.Errorf("dead letter %s", got)
	}
	waitRows(t, gw.HTTPAddr(), "SELECT count(*) FROM typed", "[[2]]")
}

// TestReloadRoutesFromFile: with Options.ConfigPath, Reload picks up
// changed routes from the file.
func TestReloadRoutesFromFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lakegate.yaml")
	write := func(prefix string) {
		if err := os.WriteFile(path, fmt.Appendf(nil, `
listeners:
  mqtt: [{id: tcp, address: "127.0.0.1:0"}]
  http: {address: "127.0.0.1:0"}
storage: {dir: %q, flush: {max_age: 1h}}
routes:
  - {topic: "%s/{table}", formatter: json, table: "{table}"}
`, filepath.Join(dir, "data"), prefix), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("old")
	gw := startGatewayFromFile(t, path)
	c := connect(t, gw.MQTTAddrs()[0], "routepub", nil)
	publishQoS1(t, c, "old/a", `{"ts":1700000000000,"v":1}`)
	write("new")
	if err := gw.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	publishQoS1(t, c, "old/b", `{"ts":1700000000000,"v":1}`) // no longer routed
	publishQoS1(t, c, "new/b", `{"ts":1700000000000,"v":2}`)
	waitRows(t, gw.HTTPAddr(), "SELECT v FROM b", "[[2]]")
	if s := gw.Stats(); s.Unrouted != 1 || s.Stored != 2 {
		t.Errorf("stats %+v", s)
	}
}

// TestFormatterLimits: plugins.overrides fields replace plugins.limits
// fields for their formatter only; zero fields inherit, and what neither
// sets takes the runtime's default.
func TestFormatterLimits(t *testing.T) {
	cfg, err := gateway.ParseConfig("test", []byte(`
plugins:
  limits: {call_timeout: 2s, max_rows: 500}
  overrides:
    - {formatter: acme, memory_pages: 256, call_timeout: 200ms}
    - {formatter: "plugin:/opt/big.wasm", max_output_bytes: 16MiB, instances: 1}
routes:
  - {topic: "a/#", formatter: json, table: a}
  - {topic: "b/#", formatter: acme, table: b}
  - {topic: "c/#", formatter: "plugin:/opt/big.wasm", table: c}
`))
	if err != nil {
		t.Fatal(err)
	}
	def := plugins.Limits{}.WithDefaults()
	for _, c := range []struct {
		id   string
		want plugins.Limits
	}{
		{"json", plugins.Limits{MemoryPages: def.MemoryPages, CallTimeout: 2 * time.Second, MaxOutputBytes: def.MaxOutputBytes, MaxRows: 500, Instances: def.Instances}},
		{"acme", plugins.Limits{MemoryPages: 256, CallTimeout: 200 * time.Millisecond, MaxOutputBytes: def.MaxOutputBytes, MaxRows: 500, Instances: def.Instances}},
		{"plugin:/opt/big.wasm", plugins.Limits{MemoryPages: def.MemoryPages, CallTimeout: 2 * time.Second, MaxOutputBytes: 16 << 20, MaxRows: 500, Instances: 1}},
		{"unnamed", plugins.Limits{MemoryPages: def.MemoryPages, CallTimeout: 2 * time.Second, MaxOutputBytes: def.MaxOutputBytes, MaxRows: 500, Instances: def.Instances}},
	} {
		if got := cfg.Plugins.FormatterLimits(c.id); got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.id, got, c.want)
		}
	}
	if def.CallTimeout == 2*time.Second || def.MaxRows == 500 {
		t.Fatal("test values must differ from the defaults")
	}
}

// TestReloadLimitsFromFile: a reload re-reads plugins.limits and
// plugins.overrides from the config file; the formatters run with the new
// limits afterwards (as /metrics reports them).
func TestReloadLimitsFromFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lakegate.yaml")
	write := func(jsonTimeout string) {
		if err := os.WriteFile(path, fmt.Appendf(nil, `
listeners:
  mqtt: [{id: tcp, address: "127.0.0.1:0"}]
  http: {address: "127.0.0.1:0"}
storage: {dir: %q, flush: {max_age: 1h}}
plugins:
  limits: {max_rows: 77}
  overrides:
    - {formatter: json, call_timeout: %s}
routes:
  - {topic: "db/write/{table}", formatter: json, table: "{table}"}
`, filepath.Join(dir, "data"), jsonTimeout), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("2s")
	gw := startGatewayFromFile(t, path)
	h := gw.HTTPAddr()
	timeout := `lakegate_formatter_limit{formatter="json",limit="call_timeout_seconds"}`
	rowsLimit := `lakegate_formatter_limit{formatter="json",limit="max_rows"}`
	if got := scrape(t, h, timeout); got != 2 {
		t.Fatalf("%s = %v before the reload, want 2", timeout, got)
	}
	if got := scrape(t, h, rowsLimit); got != 77 {
		t.Fatalf("%s = %v, want 77 from plugins.limits", rowsLimit, got)
	}
	write("3500ms")
	if err := gw.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := scrape(t, h, timeout); got != 3.5 {
		t.Fatalf("%s = %v after the reload, want 3.5", timeout, got)
	}
	// A reload with a bad override is refused and changes nothing.
	write("-1s")
	if err := gw.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "plugins.overrides[0].call_timeout") {
		t.Fatalf("reload with a negative call_timeout: %v, want an error naming the key", err)
	}
	if got := scrape(t, h, timeout); got != 3.5 {
		t.Fatalf("%s = %v after a failed reload, want 3.5", timeout, got)
	}
}

// A formatter's limits are its plugins.overrides entry over plugins.limits
// over the runtime's defaults.
func ExamplePluginsConfig_FormatterLimits() {
	cfg, err := gateway.ParseConfig("example", []byte(`
plugins:
  limits: {call_timeout: 2s}
  overrides:
    - {formatter: acme, memory_pages: 256, call_timeout: 200ms}
routes:
  - {topic: "acme/#", formatter: acme, table: acme}
  - {topic: "db/write/{table}", formatter: json, table: "{table}"}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, id := range []string{"acme", "json"} {
		l := cfg.Plugins.FormatterLimits(id)
		fmt.Printf("%s: %d pages, %v per call, %d rows\n", id, l.MemoryPages, l.CallTimeout, l.MaxRows)
	}
	// Output:
	// acme: 256 pages, 200ms per call, 10000 rows
	// json: 1024 pages, 2s per call, 10000 rows
}
