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
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	"github.com/eclipse/paho.golang/paho"

	"github.com/lakegate/lakegate/gateway"
)

// lockedBuffer is a log sink the gateway and the test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newGateway builds (without starting) a gateway on loopback ports with
// its data in dir, logging to log.
func newGateway(t *testing.T, dir, extraYAML string, log *slog.Logger) *gateway.Gateway {
	t.Helper()
	cfg, err := gateway.ParseConfig("test", fmt.Appendf(nil, `
listeners:
  mqtt: [{id: tcp, address: "127.0.0.1:0"}]
  http: {address: "127.0.0.1:0"}
storage:
  dir: %q
  flush: {max_age: 1h}
%s`, dir, extraYAML))
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(cfg, gateway.Options{Logger: log, CompilationCacheDir: wasmCache, Version: "v0.0.0-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Close() })
	return gw
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	status, body, _ := doHTTP(t, http.MethodGet, url, "", "")
	return status, string(body)
}

// TestReadyzAndStatus checks /readyz before and after Start and what
// /status reports after real publishes.
func TestReadyzAndStatus(t *testing.T) {
	dir := t.TempDir()
	gw := newGateway(t, dir, "", testLogger(t))

	// Before Start: the handler exists but the gateway is not ready.
	rec := httptest.NewRecorder()
	gw.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before Start: %d %q, want 503", rec.Code, rec.Body)
	}
	if err := gw.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	base := "http://" + gw.HTTPAddr()
	if code, body := httpGet(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz after Start: %d %q, want 200", code, body)
	}

	pub := connect(t, gw.MQTTAddrs()[0], "status-pub", nil)
	const n = 25
	for i := range n {
		p := &paho.Publish{Topic: "db/write/status_t", QoS: 1, Payload: fmt.Appendf(nil, `{"ts":%d,"seq":%d}`, 1764460800000+i, i)}
		if pr, err := pub.Publish(context.Background(), p); err != nil || pr.ReasonCode != 0 {
			t.Fatalf("publish %d: %v %v", i, err, pr)
		}
	}
	// Malformed: refused with reason 0x99 (paho reports it as an error) and dead-lettered.
	if _, err := pub.Publish(context.Background(), &paho.Publish{Topic: "db/write/status_t", QoS: 1, Payload: []byte("{not json")}); err == nil {
		t.Error("malformed payload accepted")
	}
	if err := gw.Store().Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	code, body := httpGet(t, base+"/status")
	if code != http.StatusOK {
		t.Fatalf("/status: %d %s", code, body)
	}
	var st gateway.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("decoding /status: %v\n%s", err, body)
	}
	if st.Version != "v0.0.0-test" || !st.Ready || st.UptimeSeconds <= 0 || st.Connections < 1 {
		t.Errorf("status header = %+v", st)
	}
	m := st.Messages
	if m.In < n+1 || m.Stored != n || m.DeadLettered != 1 || m.Failed != 1 {
		t.Errorf("messages = %+v, want in >= %d, stored %d, dead_lettered 1, failed 1", m, n+1, n)
	}
	tables := map[string]gateway.TableStatus{}
	for _, ts := range st.Tables {
		tables[ts.Name] = ts
	}
	// Disk use is checked against the files themselves.
	var onDisk int64
	files, _ := filepath.Glob(filepath.Join(dir, "status_t", "*", "*.parquet"))
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		onDisk += fi.Size()
	}
	if got := tables["status_t"]; got.Rows != n || got.DiskBytes != onDisk || onDisk == 0 || got.Error != "" {
		t.Errorf("table status_t = %+v, want %d rows and %d bytes on disk (%d files)", got, n, onDisk, len(files))
	}
	if got := tables["dead_letters"]; got.Rows != 1 {
		t.Errorf("table dead_letters = %+v, want 1 row", got)
	}
}

// rawConnect opens an MQTT 3.1.1 session by hand (keep-alive 0, so the
// broker sets no deadline on it), subscribes to filter at QoS 0 and then
// never reads again: a client that stalls with its socket full.
func rawConnect(t *testing.T, addr, clientID, filter string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.(*net.TCPConn).SetReadBuffer(4096)
	str := func(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }
	connect := append(append(str("MQTT"), 4, 0x02, 0, 0), str(clientID)...)
	sub := append(append([]byte{0, 1}, str(filter)...), 0)
	for _, pk := range [][]byte{append([]byte{0x10, byte(len(connect))}, connect...), append([]byte{0x82, byte(len(sub))}, sub...)} {
		if _, err := c.Write(pk); err != nil {
			t.Fatal(err)
		}
	}
	// CONNACK (4 bytes) and SUBACK (5 bytes).
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 9)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("reading CONNACK and SUBACK: %v", err)
	}
	if buf[0] != 0x20 || buf[3] != 0 || buf[4] != 0x90 || buf[8] != 0 {
		t.Fatalf("CONNACK/SUBACK = % x", buf)
	}
	return c
}

// TestCloseBoundedWithSlowClient shuts a gateway down while a subscriber
// has stopped reading (mochi's own Close would wait on it for ever): Close
// returns after shutdown_timeout, /readyz answers 503 meanwhile, and every
// acknowledged message is in the Parquet files afterwards.
func TestCloseBoundedWithSlowClient(t *testing.T) {
	dir := t.TempDir()
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	gw := newGateway(t, dir, "shutdown_timeout: 1s\n", log)
	if err := gw.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	addr, base := gw.MQTTAddrs()[0], "http://"+gw.HTTPAddr()

	pub := connect(t, addr, "acked-pub", nil)
	const n = 40
	for i := range n {
		p := &paho.Publish{Topic: "db/write/acked", QoS: 1, Payload: fmt.Appendf(nil, `{"ts":%d,"seq":%d}`, 1764460800000+i, i)}
		if pr, err := pub.Publish(context.Background(), p); err != nil || pr.ReasonCode != 0 {
			t.Fatalf("publish %d: %v %v", i, err, pr)
		}
	}

	rawConnect(t, addr, "stalled", "flood/#")
	flood := connect(t, addr, "flooder", nil)
	payload := bytes.Repeat([]byte("x"), 256<<10)
	for i := range 64 { // 16 MiB: far more than the stalled socket's buffers hold
		if _, err := flood.Publish(context.Background(), &paho.Publish{Topic: "flood/x", QoS: 0, Payload: payload}); err != nil {
			t.Fatalf("flood %d: %v", i, err)
		}
	}
	// The flood is through the broker once a QoS 1 publish after it is acked.
	if _, err := flood.Publish(context.Background(), &paho.Publish{Topic: "flood/end", QoS: 1, Payload: []byte("end")}); err != nil {
		t.Fatal(err)
	}

	closed := make(chan error, 1)
	start := time.Now()
	go func() { closed <- gw.Close() }()

	// While the broker waits on the stalled client, the gateway is alive
	// but not ready.
	checkFor(t, 30*time.Second, func() error {
		code, body := httpGet(t, base+"/readyz")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "shutting down") {
			return fmt.Errorf("/readyz while closing: %d %q, want 503 shutting down", code, body)
		}
		return nil
	})
	if code, _ := httpGet(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while closing: %d, want 200", code)
	}

	select {
	case err := <-closed:
		t.Logf("Close returned after %s: %v", time.Since(start), err)
	case <-time.After(30 * time.Second):
		t.Fatalf("Close still running 30s after it was called with shutdown_timeout 1s; log:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "cutting off MQTT clients") {
		t.Errorf("the broker did not wait on the stalled client, so the test proved nothing; log:\n%s", logs.String())
	}

	seqs := readParquetInts(t, filepath.Join(dir, "acked"), "seq")
	slices.Sort(seqs)
	want := make([]int64, n)
	for i := range want {
		want[i] = int64(i)
	}
	if !slices.Equal(seqs, want) {
		t.Errorf("seq in the Parquet files after Close = %v, want 0..%d", seqs, n-1)
	}
}

// readParquetInts reads column col of every Parquet file under dir with
// pqarrow (not through the store).
func readParquetInts(t *testing.T, dir, col string) []int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*", "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no Parquet file under %s", dir)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var out []int64
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tbl, err := pqarrow.ReadTable(context.Background(), bytes.NewReader(b), parquet.NewReaderProperties(mem), pqarrow.ArrowReadProperties{}, mem)
		if err != nil {
			t.Fatalf("reading %s: %v", f, err)
		}
		idx := tbl.Schema().FieldIndices(col)
		if len(idx) != 1 {
			tbl.Release()
			t.Fatalf("%s: no column %q in %s", f, col, tbl.Schema())
		}
		for _, chunk := range tbl.Column(idx[0]).Data().Chunks() {
			switch a := chunk.(type) {
			case *array.Int64:
				out = append(out, a.Int64Values()...)
			case *array.Float64:
				for _, v := range a.Float64Values() {
					out = append(out, int64(v))
				}
			default:
				t.Errorf("%s: column %s is %s", f, col, chunk.DataType())
			}
		}
		tbl.Release()
	}
	return out
}

// TestCloseKeepsAckedUnderLoad closes a gateway while publishers keep
// sending at QoS 1: every message that got its PUBACK is in the Parquet
// files afterwards (read with pqarrow), whatever was in flight.
func TestCloseKeepsAckedUnderLoad(t *testing.T) {
	dir := t.TempDir()
	gw := newGateway(t, dir, "shutdown_timeout: 5s\n", testLogger(t))
	if err := gw.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	addr := gw.MQTTAddrs()[0]
	const publishers = 6
	var (
		mu    sync.Mutex
		acked []int64
		wg    sync.WaitGroup
		total atomic.Int64
	)
	for p := range publishers {
		c := connect(t, addr, fmt.Sprintf("load-%d", p), nil)
		wg.Go(func() {
			for i := 0; ; i++ {
				seq := int64(p*1_000_000 + i)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				pr, err := c.Publish(ctx, &paho.Publish{Topic: "db/write/load", QoS: 1,
					Payload: fmt.Appendf(nil, `{"ts":%d,"seq":%d}`, 1764460800000+seq, seq)})
				cancel()
				if err != nil || pr.ReasonCode != 0 {
					return // the gateway is gone
				}
				mu.Lock()
				acked = append(acked, seq)
				mu.Unlock()
				total.Add(1)
			}
		})
	}
	checkFor(t, 30*time.Second, func() error {
		if n := total.Load(); n < 200 {
			return fmt.Errorf("%d acked so far", n)
		}
		return nil
	})
	closed := make(chan error, 1)
	go func() { closed <- gw.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Logf("Close: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close still running 30s after it was called with shutdown_timeout 5s")
	}
	wg.Wait()

	stored := map[int64]bool{}
	for _, s := range readParquetInts(t, filepath.Join(dir, "load"), "seq") {
		stored[s] = true
	}
	var missing []int64
	for _, s := range acked {
		if !stored[s] {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d acknowledged messages are not in the Parquet files: %v", len(missing), len(acked), missing)
	}
	t.Logf("%d acknowledged, %d rows stored", len(acked), len(stored))
}
