package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lakegate/lakegate/arrowstore"
	"github.com/lakegate/lakegate/arrowstore/query"
	"github.com/lakegate/lakegate/arrowstore/rows"
	"github.com/lakegate/lakegate/gateway"
)

// benchQueryFlags configure one `lakegate bench-query` run.
type benchQueryFlags struct {
	rows       int
	devices    int
	dir        string
	runs       int
	duckdbDir  string
	cpuProfile string
}

func newBenchQueryCommand(g *globalFlags, stdout, stderr io.Writer) *cobra.Command {
	f := &benchQueryFlags{}
	cmd := &cobra.Command{
		Use:   "bench-query",
		Short: "Measure SQL query speed on a generated sensor table, beside DuckDB on the same Parquet files",
		Long: `bench-query writes a sensor table (ts, device, temp, hum, pressure, battery,
rssi, status: one reading per device every 10 s) through arrowstore into
Hive-partitioned Parquet, compacted as the gateway would, then answers three
queries with lakegate's engine and with DuckDB (node and
testdata/duckdb/bench.mjs) on the same files, in the same run:

  full-scan   an aggregate by device over the whole table
  range-1pct  an aggregate over a 1 % time range (row-group pruning)
  latest      the latest reading of every device

Each query runs --runs times per engine and the best time counts. It prints
the time and table rows per second for each, the ratio lakegate/DuckDB, and
checks that both engines give the same answer. With --dir the data is kept
there and reused by a later run with the same --rows and --devices.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			// The engine runs as in the gateway, under the config's GC settings.
			cfg, err := gateway.LoadConfig(g.configFile)
			if err != nil {
				return err
			}
			applyRuntime(cfg.Runtime, nil)
			return runBenchQuery(ctx, f, stdout, stderr)
		},
	}
	cmd.Flags().IntVar(&f.rows, "rows", 10_000_000, "rows in the generated table")
	cmd.Flags().IntVar(&f.devices, "devices", 1000, "devices in the generated table")
	cmd.Flags().StringVar(&f.dir, "dir", "", "data dir, kept and reused (default: a temporary dir, removed afterwards)")
	cmd.Flags().IntVar(&f.runs, "runs", 3, "runs of each query per engine; the best counts")
	cmd.Flags().StringVar(&f.duckdbDir, "duckdb", filepath.Join("testdata", "duckdb"), "folder of bench.mjs with @duckdb/node-api installed (npm install there); \"\" skips DuckDB")
	cmd.Flags().StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of lakegate's queries to this file")
	return cmd
}

// benchTable is the generated table's name.
const benchTable = "sensors"

// benchStart is the time of the first reading.
var benchStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// benchInterval is the period of each device's readings.
const benchInterval = 10 * time.Second

// benchQuery is one measured query, in both dialects.
type benchQuery struct {
	name, lakegate, duckdb string
}

// benchQueries returns the three queries for a table of n rows.
func benchQueries(n, devices int) []benchQuery {
	span := time.Duration(n/max(devices, 1)) * benchInterval
	from := benchStart.Add(span / 2)
	to := from.Add(span / 100)
	rng := fmt.Sprintf("ts >= '%s' AND ts < '%s'", from.Format(time.RFC3339), to.Format(time.RFC3339))
	full := "SELECT device, count(*) AS n, avg(temp) AS avg_temp, min(temp) AS min_temp, max(temp) AS max_temp, avg(hum) AS avg_hum FROM sensors GROUP BY device ORDER BY device"
	ranged := "SELECT count(*) AS n, avg(temp) AS avg_temp, max(hum) AS max_hum, min(pressure) AS min_pressure FROM sensors WHERE " + rng
	return []benchQuery{
		{"full-scan", full, full},
		{"range-1pct", ranged, ranged},
		{"latest",
			"SELECT device, last(ts) AS ts, last(temp) AS temp, last(hum) AS hum, last(status) AS status FROM sensors GROUP BY device ORDER BY device",
			"SELECT device, max(ts) AS ts, arg_max(temp, ts) AS temp, arg_max(hum, ts) AS hum, arg_max(status, ts) AS status FROM sensors GROUP BY device ORDER BY device"},
	}
}

func runBenchQuery(ctx context.Context, f *benchQueryFlags, stdout, stderr io.Writer) error {
	if f.rows < 1 || f.devices < 1 || f.runs < 1 {
		return errors.New("--rows, --devices and --runs must be positive")
	}
	dir := f.dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "lakegate-bench-query-")
		if err != nil {
			return fmt.Errorf("creating data dir: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	if err := benchGenerate(ctx, dir, f.rows, f.devices, stderr); err != nil {
		return err
	}
	queries := benchQueries(f.rows, f.devices)

	lg, err := benchLakegate(ctx, dir, queries, f.runs, f.cpuProfile)
	if err != nil {
		return err
	}
	var duck []benchAnswer
	duckNote := ""
	if f.duckdbDir == "" {
		duckNote = "DuckDB skipped (--duckdb \"\")"
	} else if duck, err = benchDuckDB(ctx, f.duckdbDir, dir, queries, f.runs); err != nil {
		duckNote = "DuckDB not run: " + err.Error()
		duck = nil
	}

	fmt.Fprintf(stdout, "%d rows, %d devices, %d runs each, best run counts (data in %s)\n", f.rows, f.devices, f.runs, dir)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "query\tresult rows\tlakegate\trows/s\tCPU\tDuckDB\trows/s\tCPU\tlakegate/DuckDB\tsame answer\t")
	ms := func(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }
	for i, q := range queries {
		l := lg[i]
		line := fmt.Sprintf("%s\t%d\t%s\t%s\t%s\t", q.name, len(l.rows), ms(l.best()), rate(f.rows, l.best()), ms(l.bestCPU()))
		if duck == nil {
			line += "-\t-\t-\t-\t-\t"
		} else {
			d := duck[i]
			same := "yes"
			if diff := benchDiff(l.rows, d.rows); diff != "" {
				same = "NO: " + diff
			}
			line += fmt.Sprintf("%s\t%s\t%s\t%.2fx\t%s\t", ms(d.best()), rate(f.rows, d.best()), ms(d.bestCPU()),
				l.best().Seconds()/d.best().Seconds(), same)
		}
		fmt.Fprintln(tw, line)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if duckNote != "" {
		fmt.Fprintln(stdout, duckNote)
	}
	for i, q := range queries {
		if duck != nil && benchDiff(lg[i].rows, duck[i].rows) != "" {
			return fmt.Errorf("query %s: lakegate and DuckDB answer differently", q.name)
		}
	}
	return nil
}

// rate formats rows per second.
func rate(n int, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fM", float64(n)/d.Seconds()/1e6)
}

// benchAnswer is one engine's timings and answer for one query.
type benchAnswer struct {
	times []time.Duration
	cpu   []time.Duration // CPU time of the process (all threads) per run
	rows  [][]string      // cells as CSV text; "" is NULL
}

func (a benchAnswer) best() time.Duration { return minDuration(a.times) }

// bestCPU is the least CPU time of a run.
func (a benchAnswer) bestCPU() time.Duration { return minDuration(a.cpu) }

func minDuration(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return slices.Min(ds)
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchMarker records what a data dir holds, so a later run can reuse it.
type benchMarker struct {
	Rows    int `json:"rows"`
	Devices int `json:"devices"`
}

const benchMarkerFile = "bench-query.json"

// benchGenerate writes the sensor table into dir through arrowstore (unless
// dir already holds it), flushes it to Parquet and compacts it.
func benchGenerate(ctx context.Context, dir string, n, devices int, stderr io.Writer) error {
	want := benchMarker{Rows: n, Devices: devices}
	if b, err := os.ReadFile(filepath.Join(dir, benchMarkerFile)); err == nil {
		var have benchMarker
		if json.Unmarshal(b, &have) == nil && have == want {
			fmt.Fprintf(stderr, "reusing the %d-row table in %s\n", n, dir)
			return nil
		}
		return fmt.Errorf("%s holds another bench table (%s); use an empty --dir", dir, b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		return fmt.Errorf("--dir %s is not empty and holds no bench table", dir)
	}
	store, err := arrowstore.Open(ctx, arrowstore.Options{Dir: dir, MaxAge: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("opening store: %w", err)
	}
	start := time.Now()
	fmt.Fprintf(stderr, "writing %d rows for %d devices to %s ...\n", n, devices, dir)
	names := make([]string, devices)
	for d := range names {
		names[d] = fmt.Sprintf("dev-%04d", d+1)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	const batch = 10_000
	buf := make([]rows.Row, 0, batch)
	cols := make([]rows.Column, 0, batch*7)
	flushBatch := func() error {
		for {
			_, err := store.Write(ctx, buf, false)
			if !errors.Is(err, arrowstore.ErrBackpressure) {
				if err != nil {
					return fmt.Errorf("writing rows: %w", err)
				}
				buf, cols = buf[:0], cols[:0]
				return nil
			}
			time.Sleep(10 * time.Millisecond) // let the flusher catch up
		}
	}
	for r := range n {
		reading, d := r/devices, r%devices
		ts := benchStart.Add(time.Duration(reading)*benchInterval + time.Duration(d)*benchInterval/time.Duration(devices))
		phase := float64(reading)/360 + float64(d)
		start := len(cols)
		cols = append(cols,
			rows.Column{Name: "device", Value: rows.String(names[d])},
			rows.Column{Name: "temp", Value: rows.Float(math.Round((20+5*math.Sin(phase)+rnd.NormFloat64()*0.3)*100) / 100)})
		if rnd.IntN(200) != 0 { // 0.5 % of readings miss the humidity
			cols = append(cols, rows.Column{Name: "hum", Value: rows.Float(math.Round((50+15*math.Cos(phase)+rnd.NormFloat64())*10) / 10)})
		}
		status := "ok"
		switch x := rnd.IntN(100); {
		case x == 0:
			status = "error"
		case x < 3:
			status = "warn"
		}
		cols = append(cols,
			rows.Column{Name: "pressure", Value: rows.Float(math.Round((1013+8*math.Sin(phase/7)+rnd.NormFloat64())*100) / 100)},
			rows.Column{Name: "battery", Value: rows.Float(math.Round((4.2-1.2*float64(reading)/float64(n/devices+1))*1000) / 1000)},
			rows.Column{Name: "rssi", Value: rows.Int(int64(-40 - rnd.IntN(50)))},
			rows.Column{Name: "status", Value: rows.String(status)})
		buf = append(buf, rows.Row{Table: benchTable, Time: ts.UnixNano(), Columns: cols[start:len(cols):len(cols)]})
		if len(buf) == batch {
			if err := flushBatch(); err != nil {
				store.Close()
				return err
			}
		}
		if (r+1)%(n/10+1) == 0 {
			fmt.Fprintf(stderr, "  %d rows\n", r+1)
		}
	}
	if len(buf) > 0 {
		if err := flushBatch(); err != nil {
			store.Close()
			return err
		}
	}
	if err := store.Flush(ctx); err != nil {
		store.Close()
		return fmt.Errorf("flushing: %w", err)
	}
	if err := store.Maintain(ctx); err != nil {
		store.Close()
		return fmt.Errorf("compacting: %w", err)
	}
	if err := store.Close(); err != nil {
		return fmt.Errorf("closing store: %w", err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, benchTable, "*", "*.parquet"))
	var size int64
	for _, p := range files {
		if st, err := os.Stat(p); err == nil {
			size += st.Size()
		}
	}
	fmt.Fprintf(stderr, "wrote %d rows in %s: %d Parquet files, %.1f MiB\n", n, time.Since(start).Round(time.Millisecond), len(files), float64(size)/(1<<20))
	b, _ := json.Marshal(want)
	return os.WriteFile(filepath.Join(dir, benchMarkerFile), b, 0o644)
}

// benchLakegate runs the queries with lakegate's engine over the store in dir.
func benchLakegate(ctx context.Context, dir string, queries []benchQuery, runs int, cpuProfile string) ([]benchAnswer, error) {
	store, err := arrowstore.Open(ctx, arrowstore.Options{Dir: dir, MaxAge: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	defer store.Close()
	eng := query.NewEngine(query.StoreSource(store), query.Options{})
	if cpuProfile != "" {
		pf, err := os.Create(cpuProfile)
		if err != nil {
			return nil, fmt.Errorf("creating profile: %w", err)
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return nil, fmt.Errorf("starting profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	out := make([]benchAnswer, len(queries))
	for i, q := range queries {
		for range runs {
			cpu0 := cpuTime()
			start := time.Now()
			res, err := eng.Query(ctx, q.lakegate)
			elapsed := time.Since(start)
			if err != nil {
				return nil, fmt.Errorf("query %s: %w", q.name, err)
			}
			out[i].times = append(out[i].times, elapsed)
			out[i].cpu = append(out[i].cpu, cpuTime()-cpu0)
			if out[i].rows == nil {
				var b bytes.Buffer
				if err := query.WriteCSV(&b, res, query.Format{}); err != nil {
					return nil, err
				}
				recs, err := csv.NewReader(&b).ReadAll()
				if err != nil {
					return nil, fmt.Errorf("reading back the CSV answer: %w", err)
				}
				out[i].rows = recs[1:]
			}
		}
	}
	return out, nil
}

// benchDuckDB runs the queries with DuckDB over the same Parquet files.
func benchDuckDB(ctx context.Context, duckdbDir, dir string, queries []benchQuery, runs int) ([]benchAnswer, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, errors.New("node not found")
	}
	script, err := filepath.Abs(filepath.Join(duckdbDir, "bench.mjs"))
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(duckdbDir, "node_modules", "@duckdb", "node-api")); err != nil {
		return nil, fmt.Errorf("@duckdb/node-api not installed in %s (npm install there)", duckdbDir)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	req := struct {
		Dir     string   `json:"dir"`
		Table   string   `json:"table"`
		Runs    int      `json:"runs"`
		Queries []string `json:"queries"`
	}{Dir: abs, Table: benchTable, Runs: runs}
	for _, q := range queries {
		req.Queries = append(req.Queries, q.duckdb)
	}
	in, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("running %s: %w: %s", script, err, bytes.TrimSpace(stderr.Bytes()))
	}
	var answers []struct {
		MS    []float64   `json:"ms"`
		CPUMS []float64   `json:"cpu_ms"`
		Rows  [][]*string `json:"rows"`
		Error string      `json:"error"`
	}
	if err := json.Unmarshal(outb, &answers); err != nil {
		return nil, fmt.Errorf("decoding DuckDB's answers: %w", err)
	}
	if len(answers) != len(queries) {
		return nil, fmt.Errorf("DuckDB gave %d answers to %d queries", len(answers), len(queries))
	}
	out := make([]benchAnswer, len(queries))
	for i, a := range answers {
		if a.Error != "" {
			return nil, fmt.Errorf("DuckDB on %s: %s", queries[i].name, a.Error)
		}
		for _, ms := range a.MS {
			out[i].times = append(out[i].times, time.Duration(ms*float64(time.Millisecond)))
		}
		for _, ms := range a.CPUMS {
			out[i].cpu = append(out[i].cpu, time.Duration(ms*float64(time.Millisecond)))
		}
		for _, r := range a.Rows {
			row := make([]string, len(r))
			for j, v := range r {
				if v != nil {
					row[j] = *v
				}
			}
			out[i].rows = append(out[i].rows, row)
		}
	}
	return out, nil
}

// benchDiff describes the first difference between two answers, "" when
// they agree: numbers to 1 part in 10^9, times as instants.
func benchDiff(a, b [][]string) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d rows vs %d", len(a), len(b))
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return fmt.Sprintf("row %d: %d vs %d columns", i, len(a[i]), len(b[i]))
		}
		for j := range a[i] {
			x, y := a[i][j], b[i][j]
			if x == y {
				continue
			}
			fx, e1 := strconv.ParseFloat(x, 64)
			fy, e2 := strconv.ParseFloat(y, 64)
			if e1 == nil && e2 == nil && math.Abs(fx-fy) <= 1e-9*math.Max(math.Abs(fx), math.Abs(fy)) {
				continue
			}
			tx, e1 := time.Parse(time.RFC3339Nano, x)
			ty, e2 := time.Parse(time.RFC3339Nano, y)
			if e1 == nil && e2 == nil && tx.Equal(ty) {
				continue
			}
			return fmt.Sprintf("row %d column %d: %q vs %q", i, j, x, y)
		}
	}
	return ""
}
