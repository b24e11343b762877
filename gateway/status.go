package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/lakegate/lakegate/gateway/source"
)

// Status is what GET /status answers and `lakegate status` prints: a
// one-look summary for an operator, not a metrics feed (see /metrics).
type Status struct {
	Version       string         `json:"version"`
	StartedAt     time.Time      `json:"started_at"`
	UptimeSeconds float64        `json:"uptime_seconds"`
	Ready         bool           `json:"ready"`
	Connections   int64          `json:"connections"` // MQTT clients connected to this gateway
	Messages      MessageCounts  `json:"messages"`
	Tables        []TableStatus  `json:"tables"`
	Sources       []source.Stats `json:"sources"`
}

// MessageCounts counts messages since the start.
type MessageCounts struct {
	In           int64 `json:"in"`            // PUBLISH packets received by the broker plus messages from sources
	Stored       int64 `json:"stored"`        // messages whose rows were all stored
	DeadLettered int64 `json:"dead_lettered"` // dead-letter rows stored
	Failed       int64 `json:"failed"`        // malformed, bad topic, formatter or store failure
	Unrouted     int64 `json:"unrouted"`      // no route took them
}

// TableStatus is one table's size.
type TableStatus struct {
	Name      string `json:"name"`
	Rows      int64  `json:"rows"`       // rows a query sees: in files and buffered
	DiskBytes int64  `json:"disk_bytes"` // its Parquet files
	Error     string `json:"error,omitempty"`
}

// Status gathers the gateway's status; counting rows queries every table.
func (g *Gateway) Status(ctx context.Context) Status {
	st := Status{Version: g.opts.Version, StartedAt: g.startedAt, Ready: g.ready.Load(), Sources: g.SourceStats()}
	if st.Version == "" {
		st.Version = "dev"
	}
	if !g.startedAt.IsZero() {
		st.UptimeSeconds = time.Since(g.startedAt).Seconds()
	}
	if g.broker != nil {
		info := g.broker.Info.Clone()
		st.Connections = info.ClientsConnected
		st.Messages.In = info.MessagesReceived
	}
	for _, s := range st.Sources {
		st.Messages.In += s.Received
	}
	is := g.Stats()
	st.Messages.Stored, st.Messages.DeadLettered, st.Messages.Unrouted = is.Stored, is.DeadLetters, is.Unrouted
	st.Messages.Failed = is.Malformed + is.BadTopic + is.PluginFailed + is.StoreFailed
	if g.store == nil || g.engine == nil {
		return st
	}
	for _, name := range g.store.Tables() {
		ts := TableStatus{Name: name, DiskBytes: parquetBytes(filepath.Join(g.cfg.Storage.Dir, name))}
		res, err := g.engine.Query(ctx, "SELECT count(*) FROM `"+name+"`")
		switch {
		case err != nil:
			ts.Error = err.Error()
		case len(res.Rows) == 1 && len(res.Rows[0]) == 1:
			if n, ok := res.Rows[0][0].(int64); ok {
				ts.Rows = n
			}
		}
		st.Tables = append(st.Tables, ts)
	}
	return st
}

// parquetBytes sums the sizes of the Parquet files under dir.
func parquetBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(d.Name(), ".parquet") {
			return nil
		}
		if info, err := d.Info(); err == nil {
			n += info.Size()
		}
		return nil
	})
	return n
}

// serveStatus is GET /status: Status as JSON.
func (g *Gateway) serveStatus(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(g.Status(ctx)); err != nil {
		g.log.Debug("writing status", "error", err)
	}
}

// serveReady is GET /readyz: 200 once the store has recovered, the
// formatters are loaded and the listeners are bound; 503 before that and
// from the moment shutdown begins. /healthz (liveness) stays 200 meanwhile.
func (g *Gateway) serveReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	switch {
	case g.ready.Load():
		_, _ = io.WriteString(w, "ready\n")
	case g.closing.Load():
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "shutting down\n")
	default:
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprintln(w, "starting")
	}
}
