package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// scrape fetches /metrics and returns the value of one sample line, e.g.
// `lakegate_ingest_messages_total{outcome="stored"}`, or -1 if absent.
func scrape(t *testing.T, httpAddr, sample string) float64 {
	t.Helper()
	_, body, _ := doHTTP(t, http.MethodGet, "http://"+httpAddr+"/metrics", "", "")
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatalf("%s: %v", sample, err)
	}
	return v
}

// TestMetricsMove scrapes /metrics before and after traffic and checks that
// the counters of each part moved.
func TestMetricsMove(t *testing.T) {
	gw := startGateway(t, t.TempDir(), "")
	h := gw.HTTPAddr()
	if v := scrape(t, h, `lakegate_ingest_messages_total{outcome="stored"}`); v != 0 {
		t.Fatalf("stored before traffic = %v, want 0", v)
	}
	c := connect(t, gw.MQTTAddrs()[0], "metrics-dev", nil)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if _, err := c.Publish(ctx, &paho.Publish{Topic: "db/write/m", QoS: 1,
			Payload: []byte(fmt.Sprintf(`{"ts":%d,"v":%d}`, 1700000000000+i, i))}); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = c.Publish(ctx, &paho.Publish{Topic: "db/write/m", QoS: 1, Payload: []byte(`{oops`)})

	checkFor(t, 5*time.Second, func() error {
		for sample, want := range map[string]float64{
			`lakegate_ingest_messages_total{outcome="stored"}`:                       5,
			`lakegate_ingest_messages_total{outcome="malformed"}`:                    1,
			`lakegate_rows_stored_total`:                                             5,
			`lakegate_formatter_calls_total{formatter="json"}`:                       6,
			`lakegate_formatter_failures_total{formatter="json",reason="malformed"}`: 1,
			`lakegate_broker_clients_connected`:                                      1,
			`lakegate_store_rows_buffered`:                                           6, // five rows and the malformed message's dead letter
			`lakegate_formatter_call_seconds_count{formatter="json"}`:                6,
			`lakegate_route_messages_total{route="db/write/{table}"}`:                6,
			`lakegate_table_rows_written_total{table="m"}`:                           5,
			`lakegate_table_rows_written_total{table="dead_letters"}`:                1,
			`lakegate_ingest_acks_pending`:                                           0,
			`lakegate_ingest_queued`:                                                 0,
		} {
			if got := scrape(t, h, sample); got != want {
				return fmt.Errorf("%s = %v, want %v", sample, got, want)
			}
		}
		if got := scrape(t, h, `lakegate_store_wal_syncs_total`); got < 1 {
			return fmt.Errorf("wal syncs = %v, want at least 1", got)
		}
		if got := scrape(t, h, `lakegate_store_wal_sync_seconds_count`); got < 1 {
			return fmt.Errorf("wal sync latency count = %v, want at least 1", got)
		}
		if got := scrape(t, h, `lakegate_formatter_call_seconds_bucket{formatter="json",le="+Inf"}`); got != 6 {
			return fmt.Errorf("formatter call latency +Inf bucket = %v, want 6", got)
		}
		return nil
	})
}
