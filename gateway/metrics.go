package gateway

import (
	"net/http"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lakegate/lakegate/plugins"
)

// metricsHandler serves Prometheus metrics for this gateway. The values are
// read from the counters each part already keeps (ingest, formatters,
// store, broker) when a scrape comes in, so the message path pays nothing
// for them. The registry is the gateway's own, not Prometheus' global one.
func (g *Gateway) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&gatewayCollector{g: g},
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// gatewayCollector turns the gateway's counters into metrics at scrape time.
type gatewayCollector struct{ g *Gateway }

var _ prometheus.Collector = (*gatewayCollector)(nil)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("lakegate_"+name, help, labels, nil)
}

var (
	descMessages        = desc("ingest_messages_total", "Published messages by what became of them.", "outcome")
	descRowsStored      = desc("rows_stored_total", "Rows stored by the ingest path.")
	descRowsRejected    = desc("rows_rejected_total", "Rows the store refused (schema conflict, bad name).")
	descFormatterCalls  = desc("formatter_calls_total", "Calls into a formatter.", "formatter")
	descFormatterRows   = desc("formatter_rows_total", "Rows a formatter returned.", "formatter")
	descFormatterFailed = desc("formatter_failures_total", "Failed formatter calls by reason.", "formatter", "reason")
	descInstances       = desc("formatter_instances_discarded_total", "WASM instances discarded after a trap, timeout or limit.", "formatter")
	descStoreRows       = desc("store_rows_buffered", "Rows in memory, not yet in a Parquet file.")
	descStoreBytes      = desc("store_bytes_buffered", "Estimated bytes of the buffered rows.")
	descStoreDisk       = desc("store_disk_bytes", "Bytes of the tables' live Parquet files.")
	descStoreFiles      = desc("store_files_written_total", "Parquet files written.")
	descStoreFlushErr   = desc("store_flush_errors_total", "Failed flushes.")
	descWALSyncs        = desc("store_wal_syncs_total", "fsyncs of the write-ahead log.")
	descWALSegments     = desc("store_wal_segments", "Write-ahead log segments on disk.")
	descTables          = desc("store_tables", "Tables known to the store.")
	descBackpressure    = desc("store_backpressured_total", "Writes refused because the store was over its buffer cap.")
	descClients         = desc("broker_clients_connected", "Connected MQTT clients.")
	descBrokerIn        = desc("broker_messages_received_total", "PUBLISH packets received by the broker.")
	descBrokerOut       = desc("broker_messages_sent_total", "PUBLISH packets sent by the broker.")
	descBrokerDropped   = desc("broker_messages_dropped_total", "Messages the broker dropped for slow subscribers.")
	descRetained        = desc("broker_retained_messages", "Retained messages held.")
	descInflight        = desc("broker_inflight_messages", "QoS 1/2 messages in flight.")
	descSubscriptions   = desc("broker_subscriptions", "Active subscriptions.")
)

func (c *gatewayCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMessages, descRowsStored, descRowsRejected, descFormatterCalls,
		descFormatterRows, descFormatterFailed, descInstances, descStoreRows, descStoreBytes, descStoreDisk,
		descStoreFiles, descStoreFlushErr, descWALSyncs, descWALSegments, descTables, descBackpressure,
		descClients, descBrokerIn, descBrokerOut, descBrokerDropped, descRetained, descInflight, descSubscriptions} {
		ch <- d
	}
}

func (c *gatewayCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	g := c.g

	st := g.Stats()
	for _, o := range []struct {
		outcome string
		n       int64
	}{
		{"stored", st.Stored}, {"unrouted", st.Unrouted}, {"malformed", st.Malformed}, {"bad_topic", st.BadTopic},
		{"formatter_failed", st.PluginFailed}, {"store_failed", st.StoreFailed},
	} {
		counter(descMessages, float64(o.n), o.outcome)
	}
	counter(descRowsStored, float64(st.RowsStored))
	counter(descRowsRejected, float64(st.RowsRejected))

	for name, fs := range g.formatterStats() {
		counter(descFormatterCalls, float64(fs.Calls), name)
		counter(descFormatterRows, float64(fs.Rows), name)
		counter(descInstances, float64(fs.InstancesDiscarded), name)
		reasons := make([]plugins.Reason, 0, len(fs.Failures))
		for r := range fs.Failures {
			reasons = append(reasons, r)
		}
		sort.Slice(reasons, func(i, j int) bool { return reasons[i] < reasons[j] })
		for _, r := range reasons {
			counter(descFormatterFailed, float64(fs.Failures[r]), name, r.String())
		}
	}

	if g.store != nil {
		ss := g.store.Stats()
		gauge(descStoreRows, float64(ss.RowsBuffered))
		gauge(descStoreBytes, float64(ss.BytesBuffered))
		gauge(descStoreDisk, float64(ss.DiskBytes))
		counter(descStoreFiles, float64(ss.FilesWritten))
		counter(descStoreFlushErr, float64(ss.FlushErrors))
		counter(descWALSyncs, float64(ss.WALSyncs))
		gauge(descWALSegments, float64(ss.WALSegments))
		gauge(descTables, float64(ss.Tables))
		counter(descBackpressure, float64(ss.Backpressured))
	}

	if g.broker != nil {
		info := g.broker.Info.Clone()
		gauge(descClients, float64(info.ClientsConnected))
		counter(descBrokerIn, float64(info.MessagesReceived))
		counter(descBrokerOut, float64(info.MessagesSent))
		counter(descBrokerDropped, float64(info.MessagesDropped))
		gauge(descRetained, float64(info.Retained))
		gauge(descInflight, float64(info.Inflight))
		gauge(descSubscriptions, float64(info.Subscriptions))
	}
}

// formatterStats reads the counters of the formatters now in use. After a
// reload the new formatters count from zero; Prometheus treats that as a
// counter reset.
func (g *Gateway) formatterStats() map[string]plugins.Stats {
	out := map[string]plugins.Stats{}
	if g.ingester == nil {
		return out
	}
	if rt := g.ingester.table.Load(); rt != nil {
		for id, f := range rt.formatters {
			out[id] = f.Stats()
		}
	}
	return out
}
