package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/eclipse/paho.golang/paho"

	"github.com/lakegate/lakegate/arrowstore"
	"github.com/lakegate/lakegate/gateway"
)

// Environment of the child gateway process TestCrashKill9 starts.
const (
	crashDirEnv   = "LAKEGATE_CRASH_DIR"   // data directory; set only in the child
	crashCacheEnv = "LAKEGATE_CRASH_CACHE" // shared WASM compilation cache
)

// crashAddrs is what the child writes to <dir>/_addrs.json once it listens.
type crashAddrs struct {
	MQTT string `json:"mqtt"`
	HTTP string `json:"http"`
}

// TestHelperGateway is not a test: it is the child process of
// TestCrashKill9 (the test binary re-executed with -test.run). It runs a
// gateway with tiny flush thresholds, so Parquet flushes happen all the
// time, writes its addresses, and serves until it is killed or its parent
// goes away (stdin closes).
func TestHelperGateway(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("child process of TestCrashKill9")
	}
	cfg, err := gateway.ParseConfig("crash", []byte(fmt.Sprintf(`
listeners:
  mqtt: [{id: tcp, address: "127.0.0.1:0"}]
  http: {address: "127.0.0.1:0"}
storage:
  dir: %q
  flush: {max_rows: 10, max_age: 20ms}
  sync_interval: 10ms
`, dir)))
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(cfg, gateway.Options{Logger: testLogger(t), CompilationCacheDir: os.Getenv(crashCacheEnv)})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(crashAddrs{MQTT: gw.MQTTAddrs()[0], HTTP: gw.HTTPAddr()})
	tmp := filepath.Join(dir, "_addrs.json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "_addrs.json")); err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, os.Stdin) // returns when the parent dies
	os.Exit(3)
}

// crashChild is one run of the child gateway.
type crashChild struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addrs crashAddrs
}

func startCrashChild(t *testing.T, dir, tmpDir string) *crashChild {
	t.Helper()
	addrFile := filepath.Join(dir, "_addrs.json")
	_ = os.Remove(addrFile)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperGateway$")
	// TMPDIR: the child's TestMain makes a temporary directory it never
	// removes when killed; keep those inside the test's own.
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashCacheEnv+"="+wasmCache, "TMPDIR="+tmpDir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if !testing.Verbose() {
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &crashChild{cmd: cmd, stdin: stdin}
	checkFor(t, 30*time.Second, func() error {
		b, err := os.ReadFile(addrFile)
		if err != nil {
			return fmt.Errorf("child gateway did not start: %w", err)
		}
		return json.Unmarshal(b, &c.addrs)
	})
	return c
}

// kill9 sends SIGKILL and reaps the child.
func (c *crashChild) kill9() {
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
	_ = c.stdin.Close()
}

// crashMsg identifies one published message: publisher and number.
type crashMsg struct {
	pub string
	n   int64
}

// TestCrashKill9 publishes QoS 1 messages to a gateway running in a child
// process, SIGKILLs it at random moments (flushes run every few
// milliseconds, so kills land during flushes too), restarts it on the same
// data directory, and after the last round checks that every PUBACKed
// message is stored exactly once, and that no message is stored twice.
func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills child processes")
	}
	dir := t.TempDir()
	tmpDir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	const rounds, publishers = 6, 4
	// Rows alternate around midnight, so every round writes to two partitions.
	base := time.Date(2026, 11, 29, 23, 59, 59, 0, time.UTC).UnixMilli()

	var mu sync.Mutex
	acked := map[crashMsg]bool{}
	next := make([]int64, publishers) // next message number per publisher, across rounds
	for round := 0; round < rounds; round++ {
		started := time.Now()
		child := startCrashChild(t, dir, tmpDir)
		t.Logf("round %d: child up in %s", round, time.Since(started).Round(time.Millisecond))
		var wg sync.WaitGroup
		stop := make(chan struct{})
		// Cancelled at the kill: paho does not always notice a dead
		// connection before a publish's own deadline.
		roundCtx, cancelRound := context.WithCancel(context.Background())
		for p := 0; p < publishers; p++ {
			conn, err := net.Dial("tcp", child.addrs.MQTT)
			if err != nil {
				child.kill9()
				t.Fatal(err)
			}
			id := fmt.Sprintf("p%d", p)
			c := paho.NewClient(paho.ClientConfig{ClientID: id, Conn: conn})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err = c.Connect(ctx, &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: true})
			cancel()
			if err != nil {
				child.kill9()
				t.Fatalf("round %d: connecting %s: %v", round, id, err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				for {
					select {
					case <-stop:
						return
					default:
					}
					n := next[p]
					next[p]++
					payload := fmt.Sprintf(`{"ts":%d,"pub":%q,"n":%d,"round":%d}`, base+(n%8)*300, id, n, round)
					ctx, cancel := context.WithTimeout(roundCtx, 5*time.Second)
					pr, err := c.Publish(ctx, &paho.Publish{Topic: "db/write/crash", QoS: 1, Payload: []byte(payload)})
					cancel()
					if err != nil || pr == nil || pr.ReasonCode != 0 {
						return // the gateway died under us; this message is not acknowledged
					}
					mu.Lock()
					acked[crashMsg{id, n}] = true
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Duration(150+rng.IntN(500)) * time.Millisecond)
		child.kill9()
		cancelRound()
		close(stop)
		wg.Wait()
	}
	if len(acked) < rounds*10 {
		t.Fatalf("only %d messages were acknowledged in %d rounds: the test did not test much", len(acked), rounds)
	}

	// Recover from the last kill the way a restarted gateway would.
	s, err := arrowstore.Open(context.Background(), arrowstore.Options{Dir: dir, MaxAge: time.Hour})
	if err != nil {
		t.Fatalf("reopening after kill -9: %v", err)
	}
	defer s.Close()
	seen := map[crashMsg]int{}
	snap, err := s.Snapshot("crash", arrowstore.AllTime())
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	err = snap.Scan(context.Background(), []string{"pub", "n"}, func(rec arrow.Record) error {
		// The JSON formatter stores numbers as float64.
		pubs, ns := rec.Column(0).(*array.String), rec.Column(1).(*array.Float64)
		for i := 0; i < int(rec.NumRows()); i++ {
			seen[crashMsg{pubs.Value(i), int64(ns.Value(i))}]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var missing, dup int
	for m := range acked {
		if seen[m] != 1 {
			missing++
			if missing <= 5 {
				t.Errorf("acknowledged message %v stored %d times", m, seen[m])
			}
		}
	}
	for m, k := range seen {
		if k > 1 {
			dup++
			if dup <= 5 {
				t.Errorf("message %v stored %d times", m, k)
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "crash", "date=*", "part-*.parquet"))
	t.Logf("%d rounds: %d acknowledged, %d stored (%d unacknowledged but logged), %d Parquet files; %d wrong, %d duplicated",
		rounds, len(acked), len(seen), len(seen)-len(acked), len(files), missing, dup)
	if len(files) < rounds {
		t.Errorf("only %d Parquet files: flushes were too rare for the kills to hit them", len(files))
	}
}
