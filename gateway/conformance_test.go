package gateway_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// The query conformance set: ../testdata/queries/<case>/ holds query.sql,
// expected.csv (lakegate's CSV answer, header included) and, where DuckDB's
// dialect differs (time_bucket, first/last, SHOW TABLES, DESCRIBE),
// duckdb.sql: the same question in DuckDB's SQL.

// conformanceCase is one folder of testdata/queries.
type conformanceCase struct {
	name, dir string
	sql       string // for lakegate
	duckSQL   string // for DuckDB: duckdb.sql, else sql
	ordered   bool   // the query has an ORDER BY: row order is part of the answer
}

// updateGolden reports whether -update was given. The flag is defined by
// the package's own tests (config_test.go), which share this test binary.
func updateGolden() bool {
	f := flag.Lookup("update")
	if f == nil {
		return false
	}
	v, _ := strconv.ParseBool(f.Value.String())
	return v
}

func loadConformanceCases(t *testing.T) []conformanceCase {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "testdata", "queries", "*", "query.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 25 {
		t.Fatalf("found %d conformance cases in ../testdata/queries, want at least 25", len(paths))
	}
	var cases []conformanceCase
	for _, p := range paths {
		dir := filepath.Dir(p)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		c := conformanceCase{name: filepath.Base(dir), dir: dir, sql: strings.TrimSpace(string(b))}
		c.duckSQL = c.sql
		if b, err := os.ReadFile(filepath.Join(dir, "duckdb.sql")); err == nil {
			c.duckSQL = strings.TrimSpace(string(b))
		} else if !os.IsNotExist(err) {
			t.Fatal(err)
		}
		c.ordered = strings.Contains(strings.ToUpper(c.sql), "ORDER BY")
		cases = append(cases, c)
	}
	return cases
}

// conformanceRoutes declares the integer columns: JSON numbers are
// float64 unless a route says otherwise.
const conformanceRoutes = `
routes:
  - topic: db/write/{table}
    formatter: json
    table: "{table}"
    types:
      - {column: battery, type: int64}
      - {column: level, type: int64}
`

// conformanceStart is 2024-03-01T20:00:00Z: the data set spans two dates.
var conformanceStart = time.Date(2024, 3, 1, 20, 0, 0, 0, time.UTC)

// conformanceData is the fixed data set: five devices, 100 readings each
// every 17 minutes, with missing values, a boolean, an integer, a status
// string and a column (site) that only the last readings carry; and a
// small second table. Each entry is one JSON payload and its topic.
func conformanceData() (payloads []struct{ topic, body string }, rows int) {
	const devices, readings, batch = 5, 100, 20
	for b := 0; b < readings/batch; b++ {
		for k := 1; k <= devices; k++ {
			var objs []string
			for i := b * batch; i < (b+1)*batch; i++ {
				ts := conformanceStart.Add(time.Duration(i)*17*time.Minute + time.Duration(k)*7*time.Second).UnixMilli()
				fields := []string{
					fmt.Sprintf(`"ts":%d`, ts),
					fmt.Sprintf(`"device":"d%d"`, k),
					fmt.Sprintf(`"temp":%.2f`, 15+float64(k)+float64((i*7+k*3)%40)*0.5+0.25),
				}
				if (i+k)%9 != 0 {
					fields = append(fields, fmt.Sprintf(`"hum":%.1f`, 30.5+float64((i*3+k)%50)))
				}
				status := "ok"
				switch {
				case i%10 == 0:
					status = "error"
				case i%4 == 0:
					status = "warn"
				}
				fields = append(fields,
					fmt.Sprintf(`"status":%q`, status),
					fmt.Sprintf(`"battery":%d`, 100-i/2-k),
					fmt.Sprintf(`"door":%t`, (i+k)%5 == 0))
				if i >= 80 {
					fields = append(fields, fmt.Sprintf(`"site":%q`, []string{"south", "north"}[k%2]))
				}
				objs = append(objs, "{"+strings.Join(fields, ",")+"}")
				rows++
			}
			payloads = append(payloads, struct{ topic, body string }{"db/write/sensors", "[" + strings.Join(objs, ",") + "]"})
		}
	}
	events := `[{"ts":"2024-03-01T20:00:00Z","msg":"boot","level":1},{"ts":"2024-03-02T08:30:00Z","msg":"door open","level":2}]`
	payloads = append(payloads, struct{ topic, body string }{"db/write/events", events})
	return payloads, rows
}

// TestQueryConformance publishes the data set over MQTT (a real client on
// a loopback socket), answers every case of ../testdata/queries over HTTP
// twice, with the rows buffered in memory and, after a restart, from
// Parquet, and compares both with expected.csv (-update rewrites it).
// Then DuckDB answers every case from the same Parquet files and must give
// the same answer, up to number formatting (and row order for a case
// without ORDER BY).
func TestQueryConformance(t *testing.T) {
	cases := loadConformanceCases(t)
	dir := t.TempDir()
	gw := startGateway(t, dir, conformanceRoutes)

	pub := connect(t, gw.MQTTAddrs()[0], "conformance-publisher", nil)
	payloads, total := conformanceData()
	for i, p := range payloads {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		pr, err := pub.Publish(ctx, &paho.Publish{Topic: p.topic, QoS: 1, Payload: []byte(p.body)})
		cancel()
		if err != nil {
			t.Fatalf("publishing payload %d: %v", i, err)
		}
		if pr.ReasonCode != 0 {
			t.Fatalf("publishing payload %d: reason %#x", i, pr.ReasonCode)
		}
	}
	// PUBACK means logged; poll until every row is visible to queries.
	checkFor(t, 30*time.Second, func() error {
		got := query(t, gw.HTTPAddr(), "SELECT count(*) FROM sensors")
		if fmt.Sprint(got.Data.Rows) != fmt.Sprintf("[[%d]]", total) {
			return fmt.Errorf("count(*) = %v, want %d", got.Data.Rows, total)
		}
		return nil
	})

	update := updateGolden()
	runAll := func(phase, httpAddr string, write bool) {
		for _, c := range cases {
			t.Run(phase+"/"+c.name, func(t *testing.T) {
				got := queryCSV(t, httpAddr, c.sql)
				path := filepath.Join(c.dir, "expected.csv")
				if write {
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s\ngot:\n%s\nwant:\n%s", c.sql, got, want)
				}
			})
		}
	}
	runAll("buffered", gw.HTTPAddr(), update)

	// Closing flushes every row to Parquet; the restarted gateway reads
	// them from there.
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"date=2024-03-01", "date=2024-03-02"} {
		if m, _ := filepath.Glob(filepath.Join(dir, "sensors", d, "part-*.parquet")); len(m) == 0 {
			t.Fatalf("no Parquet file in %s", filepath.Join(dir, "sensors", d))
		}
	}
	gw2 := startGateway(t, dir, conformanceRoutes)
	runAll("parquet", gw2.HTTPAddr(), false)
	if err := gw2.Close(); err != nil {
		t.Fatal(err)
	}

	checkConformanceWithDuckDB(t, dir, cases)
}

// queryCSV answers sql over HTTP as CSV; a failed query fails the test.
func queryCSV(t *testing.T, httpAddr, sql string) []byte {
	t.Helper()
	status, body, _ := doHTTP(t, http.MethodGet, "http://"+httpAddr+"/db/query?format=csv&q="+url.QueryEscape(sql), "", "")
	if status != http.StatusOK {
		t.Fatalf("query %q: %d: %s", sql, status, body)
	}
	return body
}

// duckAnswer is one answer of testdata/duckdb/conformance.mjs.
type duckAnswer struct {
	Columns []string    `json:"columns"`
	Types   []string    `json:"types"`
	Rows    [][]*string `json:"rows"`
	Error   string      `json:"error"`
}

// checkConformanceWithDuckDB answers every case with DuckDB over the
// Parquet files in dir and compares with expected.csv.
func checkConformanceWithDuckDB(t *testing.T, dir string, cases []conformanceCase) {
	t.Helper()
	node, queryScript := duckDB(t)
	script := filepath.Join(filepath.Dir(queryScript), "conformance.mjs")
	req := struct {
		Dir     string   `json:"dir"`
		Queries []string `json:"queries"`
	}{Dir: dir}
	for _, c := range cases {
		req.Queries = append(req.Queries, c.duckSQL)
	}
	in, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("duckdb: %v\n%s", err, stderr.Bytes())
	}
	var answers []duckAnswer
	if err := json.Unmarshal(out, &answers); err != nil {
		t.Fatalf("decoding duckdb output: %v\n%s", err, out)
	}
	if len(answers) != len(cases) {
		t.Fatalf("duckdb gave %d answers for %d queries", len(answers), len(cases))
	}
	for i, c := range cases {
		t.Run("duckdb/"+c.name, func(t *testing.T) {
			a := answers[i]
			if a.Error != "" {
				t.Fatalf("duckdb failed on %s: %s", c.duckSQL, a.Error)
			}
			b, err := os.ReadFile(filepath.Join(c.dir, "expected.csv"))
			if err != nil {
				t.Fatal(err)
			}
			recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
			if err != nil || len(recs) == 0 {
				t.Fatalf("reading expected.csv: %v", err)
			}
			header, want := recs[0], recs[1:]
			if !slices.EqualFunc(header, a.Columns, strings.EqualFold) {
				t.Errorf("duckdb columns %q, expected.csv has %q", a.Columns, header)
			}
			got := make([][]string, len(a.Rows))
			for r, row := range a.Rows {
				got[r] = make([]string, len(row))
				for j, v := range row {
					if v != nil {
						got[r][j] = *v // CSV writes NULL as an empty field
					}
				}
			}
			if !c.ordered {
				sortRows(got)
				sortRows(want)
			}
			if diff := diffRows(got, want); diff != "" {
				t.Errorf("%s\nduckdb and expected.csv differ: %s", c.duckSQL, diff)
			}
		})
	}
}

// sortRows sorts rows by their cells, for answers whose order is not part
// of the question.
func sortRows(rows [][]string) {
	slices.SortFunc(rows, func(a, b []string) int { return slices.Compare(a, b) })
}

// diffRows describes the first difference between two answers, "" if they
// agree. Cells that both read as numbers agree when equal to 1 part in
// 10^9 (DuckDB may sum floats in another order and prints them its own
// way: 1e+21 and 1e21, 0.30000000000000004 and 0.3 are then both checked
// numerically); cells that both read as times agree when the instants do.
func diffRows(got, want [][]string) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d rows, want %d:\n got %q\nwant %q", len(got), len(want), got, want)
	}
	for i := range got {
		if len(got[i]) != len(want[i]) {
			return fmt.Sprintf("row %d has %d cells, want %d", i, len(got[i]), len(want[i]))
		}
		for j := range got[i] {
			if !cellsAgree(got[i][j], want[i][j]) {
				return fmt.Sprintf("row %d column %d: %q, want %q\n got row %q\nwant row %q", i, j, got[i][j], want[i][j], got[i], want[i])
			}
		}
	}
	return ""
}

func cellsAgree(a, b string) bool {
	if a == b {
		return true
	}
	fa, errA := strconv.ParseFloat(a, 64)
	fb, errB := strconv.ParseFloat(b, 64)
	if errA == nil && errB == nil {
		return math.Abs(fa-fb) <= 1e-9*math.Max(math.Abs(fa), math.Abs(fb))
	}
	ta, errA := time.Parse(time.RFC3339Nano, a)
	tb, errB := time.Parse(time.RFC3339Nano, b)
	return errA == nil && errB == nil && ta.Equal(tb)
}
