package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/lakegate/lakegate/gateway"
	"github.com/lakegate/lakegate/plugins/plugintest"
)

// wasmCache is the on-disk compilation cache every gateway the tests start
// shares with the other packages' tests (plugintest.CacheDir), so the JSON
// formatter and the test plugins are compiled once per machine, not once
// per test binary.
var wasmCache = plugintest.CacheDir()

func TestMain(m *testing.M) {
	code := m.Run()
	if testPlugins.dir != "" {
		os.RemoveAll(testPlugins.dir)
	}
	os.Exit(code)
}

// startGateway runs a gateway on loopback ports with its data in dir.
func startGateway(t *testing.T, dir string, extraYAML string) *gateway.Gateway {
	t.Helper()
	cfg, err := gateway.ParseConfig("test", []byte(fmt.Sprintf(`
listeners:
  mqtt: [{id: tcp, address: "127.0.0.1:0"}]
  http: {address: "127.0.0.1:0"}
storage:
  dir: %q
  flush: {max_age: 1h}
%s`, dir, extraYAML)))
	if err != nil {
		t.Fatal(err)
	}
	return runGateway(t, cfg, gateway.Options{Logger: testLogger(t), CompilationCacheDir: wasmCache})
}

// startGatewayFromFile runs a gateway with the config file at path, which
// Reload then re-reads.
func startGatewayFromFile(t *testing.T, path string) *gateway.Gateway {
	t.Helper()
	cfg, err := gateway.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return runGateway(t, cfg, gateway.Options{Logger: testLogger(t), CompilationCacheDir: wasmCache, ConfigPath: path})
}

// runGateway creates and starts a gateway with cfg and opts, closed when
// the test ends.
func runGateway(tb testing.TB, cfg *gateway.Config, opts gateway.Options) *gateway.Gateway {
	tb.Helper()
	gw, err := gateway.New(cfg, opts)
	if err != nil {
		tb.Fatal(err)
	}
	if err := gw.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = gw.Close() })
	return gw
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// connect opens an MQTT 5 session to the gateway with a real client library.
func connect(t *testing.T, addr, clientID string, onMessage func(*paho.Publish)) *paho.Client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := paho.ClientConfig{ClientID: clientID, Conn: conn}
	if onMessage != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) { onMessage(pr.Packet); return true, nil },
		}
	}
	c := paho.NewClient(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ca, err := c.Connect(ctx, &paho.Connect{ClientID: clientID, KeepAlive: 30, CleanStart: true})
	if err != nil {
		t.Fatalf("connecting %s: %v", clientID, err)
	}
	if ca.ReasonCode != 0 {
		t.Fatalf("CONNACK reason %#x", ca.ReasonCode)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c
}

// queryReply is the JSON answer of /db/query.
type queryReply struct {
	Success bool   `json:"success"`
	Reason  string `json:"reason"`
	Data    struct {
		Columns []string `json:"columns"`
		Types   []string `json:"types"`
		Rows    [][]any  `json:"rows"`
	} `json:"data"`
}

func query(t *testing.T, httpAddr, sql string) queryReply {
	t.Helper()
	return queryAs(t, httpAddr, "", "", sql)
}

// queryAs is query with HTTP basic auth as user (none when empty).
func queryAs(t *testing.T, httpAddr, user, password, sql string) queryReply {
	t.Helper()
	status, body, _ := doHTTP(t, http.MethodGet, "http://"+httpAddr+"/db/query?q="+url.QueryEscape(sql), user, password)
	var r queryReply
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("decoding answer to %q: %v", sql, err)
	}
	if !r.Success {
		t.Fatalf("query %q failed (%d): %s", sql, status, r.Reason)
	}
	return r
}

// doHTTP sends a request without a body to u, with basic auth when user
// is not empty, and returns the status, body and headers of the answer.
func doHTTP(t *testing.T, method, u, user, password string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body, resp.Header
}

// checkFor polls cond until it returns nil or the timeout passes.
func checkFor(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// reading is one message the test publishes and expects back as a row.
type reading struct {
	ts     int64 // epoch ms
	device string
	temp   float64
	qos    byte
}

func (r reading) payload() []byte {
	return []byte(fmt.Sprintf(`{"ts":%d,"device":%q,"temp":%g}`, r.ts, r.device, r.temp))
}

func (r reading) row() []any {
	return []any{time.UnixMilli(r.ts).UTC().Format("2006-01-02T15:04:05.000Z"), r.device, json.Number(fmt.Sprint(r.temp))}
}

// TestEndToEnd publishes at QoS 0, 1 and 2 with a real MQTT client, queries
// the rows back over HTTP, restarts the gateway on the same data directory and
// queries again, then reads the Parquet files with DuckDB.
func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	gw := startGateway(t, dir, "")
	addr := gw.MQTTAddrs()[0]

	var delivered atomic.Int64
	sub := connect(t, addr, "subscriber", func(*paho.Publish) { delivered.Add(1) })
	if _, err := sub.Subscribe(context.Background(), &paho.Subscribe{
		Subscriptions: []paho.SubscribeOptions{{Topic: "db/write/#", QoS: 1}},
	}); err != nil {
		t.Fatal(err)
	}

	pub := connect(t, addr, "publisher", nil)
	base := time.Date(2026, 11, 29, 23, 59, 50, 0, time.UTC).UnixMilli() // rows span two dates
	var sent []reading
	for i := 0; i < 30; i++ {
		r := reading{ts: base + int64(i)*1000, device: fmt.Sprintf("d%d", i%3), temp: 20 + float64(i)/4, qos: byte(i % 3)}
		sent = append(sent, r)
		pr, err := pub.Publish(context.Background(), &paho.Publish{Topic: "db/write/sensors", QoS: r.qos, Payload: r.payload()})
		if err != nil {
			t.Fatalf("publish %d at QoS %d: %v", i, r.qos, err)
		}
		if r.qos > 0 && pr.ReasonCode != 0 {
			t.Fatalf("publish %d at QoS %d: reason %#x", i, r.qos, pr.ReasonCode)
		}
	}
	want := make([][]any, len(sent))
	for i, r := range sent {
		want[i] = r.row()
	}

	checkFor(t, 10*time.Second, func() error {
		got := query(t, gw.HTTPAddr(), "SELECT count(*) FROM sensors")
		if fmt.Sprint(got.Data.Rows) != "[[30]]" {
			return fmt.Errorf("count(*) = %v, want 30", got.Data.Rows)
		}
		return nil
	})
	checkRows(t, gw.HTTPAddr(), want)
	checkFor(t, 10*time.Second, func() error {
		if n := delivered.Load(); n != 30 {
			return fmt.Errorf("subscriber got %d of 30 messages", n)
		}
		return nil
	})
	desc := query(t, gw.HTTPAddr(), "SELECT device, temp FROM sensors ORDER BY ts DESC LIMIT 2")
	if fmt.Sprint(desc.Data.Rows) != fmt.Sprint([][]any{{"d2", json.Number("27.25")}, {"d1", json.Number("27")}}) {
		t.Errorf("ORDER BY ts DESC LIMIT 2 = %v", desc.Data.Rows)
	}

	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
	gw2 := startGateway(t, dir, "")
	checkRows(t, gw2.HTTPAddr(), want)
	if err := gw2.Close(); err != nil {
		t.Fatal(err)
	}

	for _, d := range []string{"date=2026-11-29", "date=2026-11-30"} {
		if m, _ := filepath.Glob(filepath.Join(dir, "sensors", d, "part-*.parquet")); len(m) == 0 {
			t.Errorf("no Parquet file in %s", filepath.Join(dir, "sensors", d))
		}
	}
	checkWithDuckDB(t, dir, sent)
}

func checkRows(t *testing.T, httpAddr string, want [][]any) {
	t.Helper()
	got := query(t, httpAddr, "SELECT * FROM sensors ORDER BY ts")
	if !reflect.DeepEqual(got.Data.Columns, []string{"ts", "device", "temp"}) {
		t.Fatalf("columns = %v", got.Data.Columns)
	}
	if !reflect.DeepEqual(got.Data.Types, []string{"timestamp", "string", "float64"}) {
		t.Errorf("types = %v", got.Data.Types)
	}
	if !reflect.DeepEqual(got.Data.Rows, want) {
		t.Errorf("rows differ:\n got %v\nwant %v", got.Data.Rows, want)
	}
}

// checkWithDuckDB reads the table's Parquet files with DuckDB, a reader that
// shares no code with arrow-go, and compares rows and types.
func checkWithDuckDB(t *testing.T, dir string, sent []reading) {
	t.Helper()
	node, script := duckDB(t)
	glob := filepath.Join(dir, "sensors", "*", "*.parquet")
	sql := fmt.Sprintf(`SELECT ts, device, temp, date FROM read_parquet('%s', hive_partitioning=true) ORDER BY ts`, glob)
	out, err := exec.Command(node, script, sql).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("duckdb: %v\n%s", err, stderr)
	}
	var got queryReply
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(&got.Data); err != nil {
		t.Fatalf("decoding duckdb output %s: %v", out, err)
	}
	wantTypes := []string{"TIMESTAMP WITH TIME ZONE", "VARCHAR", "DOUBLE", "DATE"}
	if !reflect.DeepEqual(got.Data.Types, wantTypes) {
		t.Errorf("duckdb types = %v, want %v", got.Data.Types, wantTypes)
	}
	if len(got.Data.Rows) != len(sent) {
		t.Fatalf("duckdb read %d rows, want %d", len(got.Data.Rows), len(sent))
	}
	for i, r := range sent {
		tm := time.UnixMilli(r.ts).UTC()
		want := []any{tm.Format("2006-01-02 15:04:05+00"), r.device, json.Number(fmt.Sprint(r.temp)), tm.Format("2006-01-02")}
		if fmt.Sprint(got.Data.Rows[i]) != fmt.Sprint(want) {
			t.Errorf("duckdb row %d = %v, want %v", i, got.Data.Rows[i], want)
		}
	}
}

// duckDB finds node and the DuckDB reader script that .ci/run installs.
func duckDB(t *testing.T) (node, script string) {
	t.Helper()
	script, _ = filepath.Abs(filepath.Join("..", "testdata", "duckdb", "query.mjs"))
	node, err := exec.LookPath("node")
	modules := filepath.Join(filepath.Dir(script), "node_modules", "@duckdb", "node-api")
	if _, serr := os.Stat(modules); err != nil || serr != nil {
		msg := "DuckDB reader not installed: run `npm install --prefix testdata/duckdb` (needs node)"
		if os.Getenv("LAKEGATE_REQUIRE_TOOLCHAINS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return node, script
}

// TestMalformedPayload checks that a payload the formatter cannot parse gets
// MQTT 5 reason 0x99 at QoS 1 and 2, is counted, and disturbs nothing else.
func TestMalformedPayload(t *testing.T) {
	gw := startGateway(t, t.TempDir(), "")
	c := connect(t, gw.MQTTAddrs()[0], "bad-device", nil)
	ctx := context.Background()

	pr, err := c.Publish(ctx, &paho.Publish{Topic: "db/write/t", QoS: 1, Payload: []byte(`{"ts":1700000000000,"temp":}`)})
	if err == nil || pr == nil || pr.ReasonCode != 0x99 {
		t.Fatalf("QoS 1 malformed: got response %+v, err %v; want PUBACK reason 0x99", pr, err)
	}
	if pr.Properties == nil || !strings.Contains(pr.Properties.ReasonString, "payload format invalid") {
		t.Errorf("PUBACK reason string = %+v, want it to explain", pr.Properties)
	}
	pr, err = c.Publish(ctx, &paho.Publish{Topic: "db/write/t", QoS: 2, Payload: []byte(`not json`)})
	if err != nil || pr == nil || pr.ReasonCode != 0x99 {
		t.Fatalf("QoS 2 malformed: got response %+v, err %v; want PUBREC reason 0x99", pr, err)
	}
	if _, err := c.Publish(ctx, &paho.Publish{Topic: "db/write/t", QoS: 0, Payload: []byte(`[1,`)}); err != nil {
		t.Fatal(err)
	}

	// The same session, and another, still store good rows.
	other := connect(t, gw.MQTTAddrs()[0], "good-device", nil)
	for i, cl := range []*paho.Client{c, other} {
		pr, err := cl.Publish(ctx, &paho.Publish{Topic: "db/write/t", QoS: 1,
			Payload: []byte(fmt.Sprintf(`{"ts":%d,"temp":1.5}`, 1700000000000+i))})
		if err != nil || pr.ReasonCode != 0 {
			t.Fatalf("good publish after malformed: %+v %v", pr, err)
		}
	}
	checkFor(t, 5*time.Second, func() error {
		if st := gw.Stats(); st.Malformed != 3 || st.RowsStored != 2 {
			return fmt.Errorf("stats = %+v, want 3 malformed and 2 rows stored", st)
		}
		return nil
	})
	if got := query(t, gw.HTTPAddr(), "SELECT count(*) FROM t"); fmt.Sprint(got.Data.Rows) != "[[2]]" {
		t.Errorf("count = %v, want 2", got.Data.Rows)
	}
}
