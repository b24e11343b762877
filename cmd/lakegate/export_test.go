package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/lakegate/lakegate/gateway"
)

// TestExportCommand exports from a running gateway (with --server, and
// through the config's HTTP address when the gateway holds the data
// directory), then from the data directory itself once it stopped, and reads
// each file back with pqarrow and DuckDB.
func TestExportCommand(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	writeConfig := func(name, httpAddr string) string {
		p := filepath.Join(dir, name)
		text := fmt.Sprintf("listeners:\n  mqtt: [{id: tcp, address: \"127.0.0.1:0\"}]\n  http: {address: %q}\nstorage: {dir: %q}\n", httpAddr, data)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfgPath := writeConfig("lakegate.yaml", "127.0.0.1:0")
	cfg, err := gateway.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	gw := startGateway(t, cfg, gateway.Options{})

	t0 := time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC)
	publishQoS1(t, gw.MQTTAddrs()[0],
		fmt.Sprintf(`{"ts":%d,"device":"d1","temp":1.5}`, t0.UnixMilli()),
		fmt.Sprintf(`{"ts":%d,"device":"d2","temp":2.5}`, t0.Add(time.Hour).UnixMilli()),
		fmt.Sprintf(`{"ts":%d,"device":"d3","temp":3.5}`, t0.Add(24*time.Hour).UnixMilli()),
	)

	out := filepath.Join(dir, "all.parquet")
	if _, err := run(t, "export", "--server", "http://"+gw.HTTPAddr(), "--table", "sensors", "-o", out); err != nil {
		t.Fatal(err)
	}
	if got := readDevices(t, out); !reflect.DeepEqual(got, []string{"d1", "d2", "d3"}) {
		t.Errorf("export --server: devices %v", got)
	}

	// Without --server, the running gateway's lock sends export to its HTTP API.
	live := writeConfig("live.yaml", gw.HTTPAddr())
	out = filepath.Join(dir, "from.parquet")
	if _, err := run(t, "--config", live, "export", "--table", "sensors", "--from", t0.Add(30*time.Minute).Format(time.RFC3339), "-o", out); err != nil {
		t.Fatal(err)
	}
	if got := readDevices(t, out); !reflect.DeepEqual(got, []string{"d2", "d3"}) {
		t.Errorf("export --from via the config's HTTP address: devices %v", got)
	}

	_, err = run(t, "export", "--server", gw.HTTPAddr(), "--table", "nope", "-o", filepath.Join(dir, "nope.parquet"))
	if err == nil || !strings.Contains(err.Error(), "no such table") {
		t.Errorf("unknown table: got %v", err)
	}
	if _, serr := os.Stat(filepath.Join(dir, "nope.parquet")); serr == nil {
		t.Error("a failed export left its output file")
	}
	if _, err := run(t, "export", "--server", gw.HTTPAddr(), "--table", "sensors", "--from", "yesterday", "-o", "-"); err == nil || !strings.Contains(err.Error(), "RFC 3339") {
		t.Errorf("bad --from: got %v", err)
	}

	// Stopped: export opens the data directory itself.
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
	out = filepath.Join(dir, "day.parquet")
	if _, err := run(t, "--config", cfgPath, "export", "--table", "sensors", "--to", t0.Add(24*time.Hour).Format(time.RFC3339), "-o", out); err != nil {
		t.Fatal(err)
	}
	if got := readDevices(t, out); !reflect.DeepEqual(got, []string{"d1", "d2"}) {
		t.Errorf("export --to from the data directory: devices %v", got)
	}
	checkExportWithDuckDB(t, out)
}

// publishQoS1 sends each payload to db/write/sensors and waits for its PUBACK.
func publishQoS1(t *testing.T, addr string, payloads ...string) {
	t.Helper()
	c, err := dialBench(addr, "export-test")
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	for i, p := range payloads {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "db/write/sensors", PacketID: uint16(i + 1), Payload: []byte(p)}
		var buf bytes.Buffer
		if err := pk.PublishEncode(&buf); err != nil {
			t.Fatal(err)
		}
		if _, err := c.conn.Write(buf.Bytes()); err != nil {
			t.Fatal(err)
		}
		ack := make([]byte, 4)
		_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c.r, ack); err != nil || ack[0] != 0x40 {
			t.Fatalf("PUBACK: % x %v", ack, err)
		}
	}
}

// readDevices reads an exported file with pqarrow, checks the time column
// is a UTC millisecond timestamp, and returns the device column sorted by ts.
func readDevices(t *testing.T, path string) []string {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tbl, err := pqarrow.ReadTable(context.Background(), f, parquet.NewReaderProperties(mem), pqarrow.ArrowReadProperties{}, mem)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	defer tbl.Release()
	if ft := tbl.Schema().Field(0).Type; !arrow.TypeEqual(ft, &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}) {
		t.Errorf("ts is %s", ft)
	}
	tr := array.NewTableReader(tbl, 0)
	defer tr.Release()
	type kv struct {
		ts  int64
		dev string
	}
	var rows []kv
	for tr.Next() {
		rec := tr.Record()
		ts := rec.Column(0).(*array.Timestamp)
		dev := rec.Column(int(rec.Schema().FieldIndices("device")[0])).(*array.String)
		for i := 0; i < int(rec.NumRows()); i++ {
			rows = append(rows, kv{int64(ts.Value(i)), dev.Value(i)})
		}
	}
	out := []string{}
	for len(rows) > 0 { // tiny: selection sort by ts
		m := 0
		for i := range rows {
			if rows[i].ts < rows[m].ts {
				m = i
			}
		}
		out = append(out, rows[m].dev)
		rows = append(rows[:m], rows[m+1:]...)
	}
	return out
}

// checkExportWithDuckDB reads the exported file with DuckDB, a reader that
// shares no code with arrow-go.
func checkExportWithDuckDB(t *testing.T, path string) {
	t.Helper()
	script, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "duckdb", "query.mjs"))
	node, err := exec.LookPath("node")
	modules := filepath.Join(filepath.Dir(script), "node_modules", "@duckdb", "node-api")
	if _, serr := os.Stat(modules); err != nil || serr != nil {
		msg := "DuckDB reader not installed: run `npm install --prefix testdata/duckdb` (needs node)"
		if os.Getenv("LAKEGATE_REQUIRE_TOOLCHAINS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	sql := fmt.Sprintf(`SELECT ts, device, temp FROM read_parquet('%s') ORDER BY ts`, path)
	raw, err := exec.Command(node, script, sql).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("duckdb: %v\n%s", err, stderr)
	}
	var got struct {
		Types []string `json:"types"`
		Rows  [][]any  `json:"rows"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("decoding duckdb output %s: %v", raw, err)
	}
	if want := []string{"TIMESTAMP WITH TIME ZONE", "VARCHAR", "DOUBLE"}; !reflect.DeepEqual(got.Types, want) {
		t.Errorf("duckdb types = %v, want %v", got.Types, want)
	}
	if want := "[[2024-03-10 12:00:00+00 d1 1.5] [2024-03-10 13:00:00+00 d2 2.5]]"; fmt.Sprint(got.Rows) != want {
		t.Errorf("duckdb rows = %v, want %s", got.Rows, want)
	}
}
