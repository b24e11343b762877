package gateway

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/lakegate/lakegate/arrowstore/query"
)

// maxQueryBody bounds a POSTed query.
const maxQueryBody = 1 << 20

// Handler serves the HTTP API:
//
//	GET|POST /db/query?q=SQL[&format=json|csv|ndjson][&timeformat=rfc3339|s|ms|us|ns]
//	GET      /db/export/{table}.parquet[?from=RFC3339][&to=RFC3339]
//	GET      /healthz (liveness), /readyz (readiness: 503 while starting or shutting down)
//	GET      /status (JSON summary for `lakegate status`, see status.go)
//	POST     /admin/reload (Reload: formatters, routes; admins only)
//	GET      /metrics (Prometheus)
//
// /db/..., /status and /admin/... are behind httpGuard (httpauth.go): the
// broker's accounts and ACL decide who may use them. A POST may carry the
// parameters as a form or as a JSON object {"q": "...", "format": "...",
// "timeformat": "..."}, as Machbase Neo's does.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	guard, err := newHTTPGuard(g.cfg.Auth, g.cfg.Query.MQTT.Topic, g.log.With("component", "http-auth"))
	if err != nil { // Validate checked the hashes: not expected
		g.log.Error("HTTP data and admin endpoints disabled", "error", err)
		off := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeGuardError(w, http.StatusServiceUnavailable, "endpoint disabled: "+err.Error())
		})
		mux.Handle("/db/", off)
		mux.Handle("/admin/", off)
		mux.Handle("GET /status", off)
	} else {
		mux.Handle("/db/query", guard.data(http.HandlerFunc(g.serveQuery)))
		mux.Handle("GET /db/export/{file}", guard.data(http.HandlerFunc(g.serveExport))) // {table}.parquet?from=&to=, see export.go
		mux.Handle("/admin/", g.adminHandler(guard))                                     // POST /admin/reload: see admin.go
		mux.Handle("GET /status", guard.data(http.HandlerFunc(g.serveStatus)))           // see status.go
	}
	mux.Handle("GET /metrics", g.metricsHandler()) // see metrics.go
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", g.serveReady) // see status.go
	return mux
}

type queryRequest struct {
	Q          string `json:"q"`
	Format     string `json:"format"`
	TimeFormat string `json:"timeformat"`
}

func (g *Gateway) serveQuery(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	req, err := readQueryRequest(r)
	if err != nil {
		writeQueryError(w, http.StatusBadRequest, err, start)
		return
	}
	tf, err := query.ParseTimeFormat(req.TimeFormat)
	if err != nil {
		writeQueryError(w, http.StatusBadRequest, err, start)
		return
	}
	res, err := g.engine.Query(r.Context(), req.Q)
	if err != nil {
		status := http.StatusBadRequest
		if !isClientQueryError(err) {
			status = http.StatusInternalServerError
		}
		writeQueryError(w, status, err, start)
		return
	}
	switch req.Format {
	case "", "json":
		w.Header().Set("Content-Type", "application/json")
		err = query.WriteJSON(w, res, time.Since(start), query.Format{Time: tf})
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		err = query.WriteCSV(w, res, query.Format{Time: tf})
	case "ndjson":
		w.Header().Set("Content-Type", "application/x-ndjson")
		err = query.WriteNDJSON(w, res, query.Format{Time: tf})
	default:
		writeQueryError(w, http.StatusBadRequest, errors.New("format must be json, csv or ndjson"), start)
		return
	}
	if err != nil {
		g.log.Debug("writing query answer", "error", err)
	}
}

func readQueryRequest(r *http.Request) (queryRequest, error) {
	var req queryRequest
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		r.Body = http.MaxBytesReader(nil, r.Body, maxQueryBody)
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
				return req, errors.New("body: want a JSON object {\"q\": \"SELECT ...\"}")
			}
		} else if err := r.ParseForm(); err != nil {
			return req, errors.New("body: want a form with q=SELECT...")
		}
	default:
		return req, errors.New("use GET or POST")
	}
	q := r.URL.Query()
	pick := func(dst *string, key string) {
		if *dst == "" {
			*dst = r.FormValue(key)
		}
		if *dst == "" {
			*dst = q.Get(key)
		}
	}
	pick(&req.Q, "q")
	pick(&req.Format, "format")
	pick(&req.TimeFormat, "timeformat")
	if strings.TrimSpace(req.Q) == "" {
		return req, errors.New("missing q: the SQL to run")
	}
	return req, nil
}

func isClientQueryError(err error) bool {
	return errors.Is(err, query.ErrSyntax) || errors.Is(err, query.ErrUnsupported) ||
		errors.Is(err, query.ErrNoTable) || errors.Is(err, query.ErrNoColumn) || errors.Is(err, query.ErrTooManyRows)
}

func writeQueryError(w http.ResponseWriter, status int, err error, start time.Time) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = query.WriteJSONError(w, err, time.Since(start))
}
