package gateway

import (
	"net/http"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lakegate/lakegate/arrowstore/latency"
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
	descStarted         = desc("formatter_instances_started_total", "WASM instances started (at load, and to replace discarded ones).", "formatter")
	descLimit           = desc("formatter_limit", "The limits a formatter runs with (plugins.limits and its plugins.overrides entry).", "formatter", "limit")
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
	descFormatterTime   = desc("formatter_call_seconds", "How long Format calls into a formatter's WASM sandbox took.", "formatter")
	descWALSyncTime     = desc("store_wal_sync_seconds", "How long the write-ahead log's group-commit syncs (fdatasync) took.")
	descFwdItems        = desc("forward_items_total", "Items (rows or payloads) in an uplink's outbox by what became of them.", "uplink", "outcome")
	descFwdQueued       = desc("forward_queued_items", "Items waiting in an uplink's outbox.", "uplink")
	descFwdBytes        = desc("forward_outbox_bytes", "Size of an uplink's outbox on disk.", "uplink")
	descFwdConnected    = desc("forward_uplink_connected", "1 while the uplink is connected.", "uplink")
	descFwdConnects     = desc("forward_uplink_connects_total", "Uplink connection attempts by result.", "uplink", "result")
	descFwdPubErrors    = desc("forward_publish_errors_total", "Sends to the upstream broker that failed and were retried.", "uplink")
	descSrcMessages     = desc("source_messages_total", "Messages from an upstream broker in source mode, by stage.", "source", "stage")
	descSrcConnected    = desc("source_connected", "1 while the source is connected to its upstream broker.", "source")
	descSrcConnects     = desc("source_connects_total", "Connections a source made to its upstream broker.", "source")
	descRouteMessages   = desc("route_messages_total", "Messages each route took (since the last reload).", "route")
	descTableRows       = desc("table_rows_written_total", "Rows written to each table (replayed from the log at start included).", "table")
	descAcksPending     = desc("ingest_acks_pending", "QoS 1/2 messages written and waiting for the disk before their acknowledgement.")
	descQueued          = desc("ingest_queued", "QoS 0 messages taken by the broker and not yet stored.")
)

// histogram sends s as a Prometheus histogram.
func histogram(ch chan<- prometheus.Metric, d *prometheus.Desc, s latency.Snapshot, labels ...string) {
	buckets := make(map[float64]uint64, latency.Buckets)
	for i, n := range s.Cumulative {
		buckets[latency.Bound(i).Seconds()] = n
	}
	ch <- prometheus.MustNewConstHistogram(d, s.Count, s.Sum.Seconds(), buckets, labels...)
}

func (c *gatewayCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMessages, descRowsStored, descRowsRejected, descFormatterCalls,
		descFormatterRows, descFormatterFailed, descInstances, descStarted, descLimit, descStoreRows, descStoreBytes, descStoreDisk,
		descStoreFiles, descStoreFlushErr, descWALSyncs, descWALSegments, descTables, descBackpressure,
		descClients, descBrokerIn, descBrokerOut, descBrokerDropped, descRetained, descInflight, descSubscriptions,
		descFormatterTime, descWALSyncTime, descFwdItems, descFwdQueued, descFwdBytes, descFwdConnected,
		descFwdConnects, descFwdPubErrors, descSrcMessages, descSrcConnected, descSrcConnects,
		descRouteMessages, descTableRows, descAcksPending, descQueued} {
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
	if rt := g.routingNow(); rt != nil {
		for _, r := range rt.router.Messages() {
			counter(descRouteMessages, float64(r.Messages), r.Topic)
		}
	}
	if g.queue != nil {
		gauge(descQueued, float64(g.queue.pending()))
	}
	if g.acks != nil {
		gauge(descAcksPending, float64(g.acks.pending()))
	}
	counter(descRowsRejected, float64(st.RowsRejected))

	for name, f := range g.activeFormatters() {
		fs := f.Stats()
		counter(descFormatterCalls, float64(fs.Calls), name)
		counter(descFormatterRows, float64(fs.Rows), name)
		counter(descInstances, float64(fs.InstancesDiscarded), name)
		counter(descStarted, float64(fs.InstancesStarted), name)
		histogram(ch, descFormatterTime, fs.CallLatency, name)
		lim := f.Limits()
		gauge(descLimit, float64(lim.MemoryPages)*65536, name, "memory_bytes")
		gauge(descLimit, lim.CallTimeout.Seconds(), name, "call_timeout_seconds")
		gauge(descLimit, float64(lim.MaxOutputBytes), name, "max_output_bytes")
		gauge(descLimit, float64(lim.MaxRows), name, "max_rows")
		gauge(descLimit, float64(lim.Instances), name, "instances")
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
		histogram(ch, descWALSyncTime, ss.WALSyncLatency)
		gauge(descWALSegments, float64(ss.WALSegments))
		gauge(descTables, float64(ss.Tables))
		counter(descBackpressure, float64(ss.Backpressured))
		for table, n := range g.store.RowsWrittenByTable() {
			counter(descTableRows, float64(n), table)
		}
	}

	for _, fs := range g.ForwardStats() {
		counter(descFwdItems, float64(fs.Outbox.Appended), fs.Uplink, "queued")
		counter(descFwdItems, float64(fs.Outbox.Forwarded), fs.Uplink, "forwarded")
		counter(descFwdItems, float64(fs.Outbox.Refused), fs.Uplink, "refused_full")
		counter(descFwdItems, float64(fs.Link.Rejected), fs.Uplink, "rejected_upstream")
		gauge(descFwdQueued, float64(fs.Outbox.Queued), fs.Uplink)
		gauge(descFwdBytes, float64(fs.Outbox.Bytes), fs.Uplink)
		connected := 0.0
		if fs.Link.Connected {
			connected = 1
		}
		gauge(descFwdConnected, connected, fs.Uplink)
		counter(descFwdConnects, float64(fs.Link.Connects), fs.Uplink, "ok")
		counter(descFwdConnects, float64(fs.Link.ConnectErrors), fs.Uplink, "error")
		counter(descFwdPubErrors, float64(fs.Link.PublishErrors), fs.Uplink)
	}

	for _, ss := range g.SourceStats() {
		for _, st := range []struct {
			stage string
			n     int64
		}{{"received", ss.Received}, {"ingested", ss.Ingested}, {"acked", ss.Acked}, {"retried", ss.Retries}, {"stale", ss.Stale}} {
			counter(descSrcMessages, float64(st.n), ss.Name, st.stage)
		}
		connected := 0.0
		if ss.Connected {
			connected = 1
		}
		gauge(descSrcConnected, connected, ss.Name)
		counter(descSrcConnects, float64(ss.Connects), ss.Name)
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

// activeFormatters returns the formatters now in use, by id. After a
// reload the new formatters count from zero; Prometheus treats that as a
// counter reset.
func (g *Gateway) activeFormatters() map[string]*plugins.Formatter {
	out := map[string]*plugins.Formatter{}
	if g.ingester == nil {
		return out
	}
	if rt := g.ingester.table.Load(); rt != nil {
		for id, f := range rt.formatters {
			out[id] = f
		}
	}
	return out
}

// routingNow returns the routing generation in use, or nil before Start.
func (g *Gateway) routingNow() *routing {
	if g.ingester == nil {
		return nil
	}
	return g.ingester.table.Load()
}
