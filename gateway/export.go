package gateway

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/lakegate/lakegate/arrowstore"
	"github.com/lakegate/lakegate/arrowstore/rows"
)

// ParquetContentType is the media type of an exported table.
const ParquetContentType = "application/vnd.apache.parquet"

// serveExport answers GET /db/export/{table}.parquet[?from=RFC3339][&to=RFC3339]
// with one Parquet file holding the table's rows with from <= ts < to
// (either bound may be left out), buffered and stored alike, streamed as
// it is written. An error after the first bytes aborts the connection, so
// the client gets a file without a footer, which no reader accepts, rather
// than a short file that looks whole.
func (g *Gateway) serveExport(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	table, ok := strings.CutSuffix(r.PathValue("file"), ".parquet")
	if !ok || table == "" {
		writeQueryError(w, http.StatusNotFound, errors.New("want /db/export/{table}.parquet"), start)
		return
	}
	tr, err := ParseExportRange(r.URL.Query().Get("from"), r.URL.Query().Get("to"))
	if err != nil {
		writeQueryError(w, http.StatusBadRequest, err, start)
		return
	}
	g.queue.settle(r.Context())
	snap, err := g.store.Snapshot(table, tr)
	if err != nil {
		status := http.StatusInternalServerError
		switch {
		case errors.Is(err, arrowstore.ErrNoTable):
			status = http.StatusNotFound
		case errors.Is(err, rows.ErrStoreClosed):
			status = http.StatusServiceUnavailable
		}
		writeQueryError(w, status, err, start)
		return
	}
	defer snap.Release()
	w.Header().Set("Content-Type", ParquetContentType)
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", table+".parquet"))
	n, err := snap.WriteParquet(r.Context(), w)
	if err != nil {
		g.log.Warn("export failed", "table", table, "error", err)
		panic(http.ErrAbortHandler)
	}
	g.log.Debug("exported table", "table", table, "rows", n, "elapsed", time.Since(start))
}

// ParseExportRange turns the from and to parameters of an export (RFC 3339,
// either may be empty) into the store's inclusive range: from <= t < to.
func ParseExportRange(from, to string) (arrowstore.TimeRange, error) {
	tr := arrowstore.AllTime()
	if from != "" {
		t, err := time.Parse(time.RFC3339Nano, from)
		if err != nil {
			return tr, fmt.Errorf("from: want RFC 3339 such as 2024-03-10T00:00:00Z, got %q", from)
		}
		tr.Min = t.UnixNano()
	}
	if to != "" {
		t, err := time.Parse(time.RFC3339Nano, to)
		if err != nil {
			return tr, fmt.Errorf("to: want RFC 3339 such as 2024-03-11T00:00:00Z, got %q", to)
		}
		if ns := t.UnixNano(); ns > math.MinInt64 {
			tr.Max = ns - 1
		}
	}
	if tr.Min > tr.Max {
		return tr, fmt.Errorf("from %s is not before to %s", from, to)
	}
	return tr, nil
}
