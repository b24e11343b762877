package gateway_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	"github.com/eclipse/paho.golang/paho"

	"github.com/lakegate/lakegate/gateway"
)

func TestParseExportRange(t *testing.T) {
	tr, err := gateway.ParseExportRange("2024-03-10T00:00:00Z", "2024-03-11T00:00:00+00:00")
	if err != nil {
		t.Fatal(err)
	}
	from, to := time.Date(2024, 3, 10, 0, 0, 0, 0, time.UTC), time.Date(2024, 3, 11, 0, 0, 0, 0, time.UTC)
	if tr.Min != from.UnixNano() || tr.Max != to.UnixNano()-1 {
		t.Errorf("range = %+v, want [from, to)", tr)
	}
	for _, bad := range [][2]string{{"yesterday", ""}, {"", "1700000000"}, {"2024-03-11T00:00:00Z", "2024-03-10T00:00:00Z"}} {
		if _, err := gateway.ParseExportRange(bad[0], bad[1]); err == nil {
			t.Errorf("ParseExportRange(%q, %q) accepted", bad[0], bad[1])
		}
	}
}

// TestHTTPExport reads /db/export back with pqarrow, including rows still
// buffered, and checks the status of bad requests.
func TestHTTPExport(t *testing.T) {
	gw := startGateway(t, t.TempDir(), "")
	c := connect(t, gw.MQTTAddrs()[0], "exporter", nil)
	base := time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC).UnixMilli()
	for i := 0; i < 4; i++ {
		r := reading{ts: base + int64(i)*3600_000, device: "d", temp: float64(i)}
		if _, err := c.Publish(context.Background(), &paho.Publish{Topic: "db/write/sensors", QoS: 1, Payload: r.payload()}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(path string) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Get("http://" + gw.HTTPAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	resp, body := get("/db/export/sensors.parquet?from=2024-03-10T13:00:00Z&to=2024-03-10T15:00:00Z")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != gateway.ParquetContentType {
		t.Fatalf("export: %s %q: %s", resp.Status, resp.Header.Get("Content-Type"), body)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	tbl, err := pqarrow.ReadTable(context.Background(), bytes.NewReader(body), parquet.NewReaderProperties(mem), pqarrow.ArrowReadProperties{}, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	if tbl.NumRows() != 2 || tbl.Schema().Field(0).Type.String() != "timestamp[ms, tz=UTC]" {
		t.Errorf("exported %d rows, schema %s; want the 2 rows of [13:00, 15:00)", tbl.NumRows(), tbl.Schema())
	}
	for path, want := range map[string]int{
		"/db/export/nope.parquet":               http.StatusNotFound,
		"/db/export/sensors":                    http.StatusNotFound,
		"/db/export/sensors.parquet?from=today": http.StatusBadRequest,
	} {
		if resp, body := get(path); resp.StatusCode != want || !strings.Contains(string(body), `"success":false`) {
			t.Errorf("GET %s: %s %s, want %d", path, resp.Status, body, want)
		}
	}
}
