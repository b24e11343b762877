package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/spf13/cobra"

	"github.com/lakegate/lakegate/gateway"
)

// benchFlags configure one `lakegate bench` run.
type benchFlags struct {
	publishers []int
	qos        []int
	window     int
	duration   time.Duration
	warmup     time.Duration
	rounds     int
	keepData   string
	cpuProfile string
	memProfile string
}

func newBenchCommand(g *globalFlags, stdout, stderr io.Writer) *cobra.Command {
	f := &benchFlags{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure publish throughput of the full gateway beside a bare mochi broker, on loopback",
		Long: `bench starts, in this process, a bare mochi-mqtt broker (no hooks) and a full
lakegate gateway (routing, WASM JSON formatter, store with fsync), each on a
loopback port, and drives both with the same load: N publisher connections
sending a ~120-byte sensor JSON to db/write/bench, at QoS 0 and at QoS 1 with
a window of in-flight messages per connection. It prints messages per second
for each and the ratio gateway/bare.

Each measurement alternates the two brokers --rounds times (bare, gateway,
bare, gateway, ...), so that a machine whose speed drifts (a shared VM) moves
both alike; it prints the median rate of each and the median and range of
the ratios of the rounds, each gateway run against the bare run just before.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBench(cmd.Context(), f, stdout, stderr)
		},
	}
	cmd.Flags().IntSliceVar(&f.publishers, "publishers", []int{8}, "publisher connections (a list runs each)")
	cmd.Flags().IntSliceVar(&f.qos, "qos", []int{0, 1}, "QoS levels to run (0, 1)")
	cmd.Flags().IntVar(&f.window, "window", 32, "QoS 1 messages in flight per connection")
	cmd.Flags().DurationVar(&f.duration, "duration", 5*time.Second, "how long each measurement publishes")
	cmd.Flags().DurationVar(&f.warmup, "warmup", time.Second, "how long the same load runs, not counted, before each measurement")
	cmd.Flags().IntVar(&f.rounds, "rounds", 3, "how many times each measurement alternates the bare broker and the gateway")
	cmd.Flags().StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	cmd.Flags().StringVar(&f.memProfile, "memprofile", "", "write an allocation profile of the whole run to this file")
	cmd.Flags().StringVar(&f.keepData, "data", "", "gateway data dir (default: a temporary dir, removed afterwards)")
	return cmd
}

// benchPayload is a ~120-byte reading of the kind devices send; %d is the time.
const benchPayload = `{"ts":%d,"device":"dev-%04d","temp":21.53,"hum":40.2,"pressure":1013.25,"battery":3.71,"status":"ok"}`

type benchResult struct {
	target     string
	qos        int
	publishers int
	msgs       int64
	elapsed    time.Duration
}

func (r benchResult) rate() float64 { return float64(r.msgs) / r.elapsed.Seconds() }

func runBench(ctx context.Context, f *benchFlags, stdout, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	for _, q := range f.qos {
		if q != 0 && q != 1 {
			return fmt.Errorf("--qos %d: bench drives QoS 0 and 1", q)
		}
	}
	if f.rounds < 1 {
		return fmt.Errorf("--rounds %d: want at least 1", f.rounds)
	}
	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if f.memProfile != "" {
		defer func() {
			if pf, err := os.Create(f.memProfile); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(pf, 0)
				_ = pf.Close()
			}
		}()
	}
	// Errors only: the load generator's connections come and go by the thousand.
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))

	bare := mqtt.New(&mqtt.Options{Logger: log})
	if err := bare.AddHook(new(auth.AllowHook), nil); err != nil {
		return err
	}
	bareLn := listeners.NewTCP(listeners.Config{ID: "bare", Address: "127.0.0.1:0"})
	if err := bare.AddListener(bareLn); err != nil {
		return fmt.Errorf("starting bare broker: %w", err)
	}
	// Goroutines inherit profiler labels: each broker's connections carry
	// its name, so `go tool pprof -tagfocus target=gateway` shows one alone.
	var serveErr error
	pprof.Do(ctx, pprof.Labels("target", "bare"), func(context.Context) { serveErr = bare.Serve() })
	if serveErr != nil {
		return fmt.Errorf("starting bare broker: %w", serveErr)
	}
	defer bare.Close()

	dir := f.keepData
	if dir == "" {
		tmp, err := os.MkdirTemp("", "lakegate-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	cfg, err := gateway.ParseConfig("bench", []byte(fmt.Sprintf(`
listeners:
  mqtt: [{id: tcp, address: "127.0.0.1:0"}]
  http: {address: ""}
storage: {dir: %q}
`, dir)))
	if err != nil {
		return err
	}
	applyRuntime(cfg.Runtime, nil) // for both brokers: the measurements come after
	gw, err := gateway.New(cfg, gateway.Options{Logger: log})
	if err != nil {
		return err
	}
	pprof.Do(ctx, pprof.Labels("target", "gateway"), func(ctx context.Context) { serveErr = gw.Start(ctx) })
	if serveErr != nil {
		return serveErr
	}
	defer gw.Close()

	fmt.Fprintf(stdout, "lakegate bench: %s per run after %s of warm-up, %d rounds, payload %d bytes, QoS 1 window %d\n",
		f.duration, f.warmup, f.rounds, len(fmt.Sprintf(benchPayload, time.Now().UnixMilli(), 1)), f.window)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "qos\tpublishers\tbare msg/s\tgateway msg/s\tgateway/bare\tratio range\t")
	var seq atomic.Int64
	seq.Store(time.Now().UnixMilli())
	for _, q := range f.qos {
		for _, n := range f.publishers {
			var bare, gateway, ratios []float64
			for range f.rounds {
				rb, err := measure(ctx, f, bareLn.Address(), "bare", q, n, &seq)
				if err != nil {
					return fmt.Errorf("bare broker, qos %d: %w", q, err)
				}
				rg, err := measure(ctx, f, gw.MQTTAddrs()[0], "gateway", q, n, &seq)
				if err != nil {
					return fmt.Errorf("gateway, qos %d: %w", q, err)
				}
				// Untimed: what is still buffered goes to Parquet, and the
				// small files are compacted, now, so that the next
				// measurement does not pay for this one's rows (compaction
				// of the rows of the QoS 0 runs otherwise lands in the QoS 1
				// ones).
				if err := gw.Store().Flush(ctx); err != nil {
					return fmt.Errorf("flushing the gateway's store between measurements: %w", err)
				}
				if err := gw.Store().Maintain(ctx); err != nil {
					return fmt.Errorf("compacting the gateway's store between measurements: %w", err)
				}
				bare, gateway = append(bare, rb.rate()), append(gateway, rg.rate())
				ratios = append(ratios, rg.rate()/rb.rate())
			}
			fmt.Fprintf(tw, "%d\t%d\t%.0f\t%.0f\t%.2f\t%.2f-%.2f\t\n", q, n, median(bare), median(gateway),
				median(ratios), slices.Min(ratios), slices.Max(ratios))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	st := gw.Stats()
	fmt.Fprintf(stdout, "gateway stored %d rows (%d malformed, %d failed)\n", st.RowsStored, st.Malformed, st.PluginFailed+st.StoreFailed)
	if ss := gw.Store().Stats(); ss.WALSyncLatency.Count > 0 {
		sl := ss.WALSyncLatency
		fmt.Fprintf(stdout, "write-ahead log: %d syncs, %.2f ms each on average\n", sl.Count, sl.Sum.Seconds()*1000/float64(sl.Count))
	}
	return nil
}

// median returns the median of xs (the mean of the middle two for an even
// count).
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// measure runs the load of one measurement against target after the
// same load for the warm-up time, uncounted: a fresh process first pays
// for memory it has not touched yet (page faults by the hundred thousand
// as the heap grows to its goal), for starting formatter instances and
// for buffers that grow to their working size, none of which a broker
// that has been running pays again.
func measure(ctx context.Context, f *benchFlags, addr, target string, qos, n int, seq *atomic.Int64) (benchResult, error) {
	if f.warmup > 0 {
		if _, err := drive(ctx, addr, target, qos, n, f.window, f.warmup, seq); err != nil {
			return benchResult{}, fmt.Errorf("warming up: %w", err)
		}
	}
	return drive(ctx, addr, target, qos, n, f.window, f.duration, seq)
}

// drive runs n publishers against addr for d and returns how many messages
// the broker took. At QoS 0 each publisher ends with a QoS 1 fence message and
// waits for its PUBACK, so the time counts until the broker has processed
// everything it was sent, not just until the socket buffers took it.
func drive(ctx context.Context, addr, target string, qos, n, window int, d time.Duration, seq *atomic.Int64) (benchResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conns := make([]*benchConn, n)
	for i := range conns {
		c, err := dialBench(addr, fmt.Sprintf("bench-%s-%d-%d", target, qos, i))
		if err != nil {
			return benchResult{}, err
		}
		defer c.close()
		conns[i] = c
	}
	var total atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := time.Now()
	deadline := start.Add(d)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var sent int64
			var err error
			pprof.Do(ctx, pprof.Labels("target", target+"-load"), func(ctx context.Context) {
				sent, err = c.run(ctx, i, qos, window, deadline, seq)
			})
			total.Add(sent)
			if err != nil {
				errs <- err
				cancel()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return benchResult{}, err
	}
	return benchResult{target: target, qos: qos, publishers: n, msgs: total.Load(), elapsed: elapsed}, nil
}

// benchConn is a minimal MQTT 3.1.1 publisher: just enough protocol to load a
// broker without a client library's own overhead dominating the figures.
type benchConn struct {
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
}

func dialBench(addr, clientID string) (*benchConn, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("dialing %s: %w", addr, err)
	}
	c := &benchConn{conn: conn, r: bufio.NewReaderSize(conn, 64<<10), w: bufio.NewWriterSize(conn, 64<<10)}
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: 4,
		Connect: packets.ConnectParams{
			ProtocolName:     []byte("MQTT"),
			Clean:            true,
			Keepalive:        60,
			ClientIdentifier: clientID,
		},
	}
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := conn.Write(buf.Bytes()); err != nil {
		conn.Close()
		return nil, fmt.Errorf("sending CONNECT: %w", err)
	}
	var ack [4]byte
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c.r, ack[:]); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		conn.Close()
		return nil, fmt.Errorf("CONNACK from %s: % x %v", addr, ack, err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	return c, nil
}

// close sends DISCONNECT and closes the connection.
func (c *benchConn) close() {
	_, _ = c.conn.Write([]byte{packets.Disconnect << 4, 0})
	_ = c.conn.Close()
}

// fenceID is the packet id of the last message of a run; regular ids cycle
// below it. The PUBACK reader stops at its acknowledgement.
const fenceID = 0xFFFF

// run publishes until deadline and returns the messages sent. Every run ends
// with a QoS 1 fence message whose PUBACK it waits for: the broker handles a
// connection's packets in order, so by then it has processed all of them.
func (c *benchConn) run(ctx context.Context, device, qos, window int, deadline time.Time, seq *atomic.Int64) (int64, error) {
	done := make(chan error, 1)
	credits := make(chan struct{}, window)
	go func() { // PUBACK reader
		var b [4]byte
		for {
			if _, err := io.ReadFull(c.r, b[:]); err != nil {
				done <- fmt.Errorf("reading PUBACK: %w", err)
				return
			}
			if b[0] != 0x40 || b[1] != 2 {
				done <- fmt.Errorf("unexpected packet % x (want PUBACK)", b)
				return
			}
			if uint16(b[2])<<8|uint16(b[3]) == fenceID {
				done <- nil
				return
			}
			<-credits
		}
	}()
	var buf bytes.Buffer
	publish := func(q byte, pid uint16) error {
		pk := packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: q},
			TopicName:   "db/write/bench",
			PacketID:    pid,
			Payload:     []byte(fmt.Sprintf(benchPayload, seq.Add(1), device)),
		}
		buf.Reset()
		if err := pk.PublishEncode(&buf); err != nil {
			return err
		}
		_, err := c.w.Write(buf.Bytes())
		return err
	}
	var sent int64
	var id uint16
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if qos == 1 {
			select {
			case credits <- struct{}{}:
			default: // window full: push what is buffered, then wait for an ack
				if err := c.w.Flush(); err != nil {
					return sent, err
				}
				select {
				case credits <- struct{}{}:
				case err := <-done:
					return sent, err
				}
			}
			if id++; id == fenceID {
				id = 1
			}
			if err := publish(1, id); err != nil {
				return sent, err
			}
		} else if err := publish(0, 0); err != nil {
			return sent, err
		}
		sent++
	}
	if err := publish(1, fenceID); err != nil {
		return sent, err
	}
	if err := c.w.Flush(); err != nil {
		return sent, err
	}
	select {
	case err := <-done:
		return sent, err
	case <-time.After(2 * time.Minute):
		return sent, errors.New("no PUBACK for the final message within 2 minutes")
	}
}
