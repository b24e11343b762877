package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// ErrNotStarted is returned by Reload before Start (or after Close).
var ErrNotStarted = errors.New("gateway not started")

// Reload re-resolves and re-loads the formatters (a changed .wasm in
// plugins.dir or at a plugin: path takes effect) and, when Options.ConfigPath
// is set, the routes, plugins.dir, plugins.limits, plugins.overrides and
// dead_letter settings from that file; other changed settings need a
// restart and are left as they are.
// Connections stay up: the new routing table is swapped in atomically,
// messages already being formatted finish on the old formatters, which are
// closed once they are done. On error nothing changes.
func (g *Gateway) Reload(ctx context.Context) error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	if g.ingester == nil || g.ingester.table.Load() == nil || g.closing.Load() {
		return ErrNotStarted
	}
	cfg := &g.cfg
	if g.opts.ConfigPath != "" {
		c, err := LoadConfig(g.opts.ConfigPath)
		if err != nil {
			return fmt.Errorf("reloading: %w", err)
		}
		cfg = c
	}
	router, err := NewRouter(cfg.Routes)
	if err != nil {
		return fmt.Errorf("reloading: %w", err)
	}
	sources, err := resolveFormatters(cfg)
	if err != nil {
		return fmt.Errorf("reloading: %w", err)
	}
	next, err := g.loadRouting(ctx, router, sources, cfg)
	if err != nil {
		return fmt.Errorf("reloading: %w", err)
	}
	g.ingester.setDeadLetter(cfg.DeadLetter)
	old := g.ingester.swap(next)
	g.log.Info("formatters reloaded", "routes", len(cfg.Routes), "formatters", router.Formatters())
	if old != nil {
		if err := closeFormatters(old.formatters); err != nil {
			g.log.Warn("closing replaced formatters", "error", err)
		}
	}
	return nil
}

// serveReload is POST /admin/reload: Reload, answering
// {"success": true} or {"success": false, "reason": "..."}.
func (g *Gateway) serveReload(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	reply := struct {
		Success bool   `json:"success"`
		Reason  string `json:"reason,omitempty"`
	}{Success: true}
	if err := g.Reload(r.Context()); err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		reply = struct {
			Success bool   `json:"success"`
			Reason  string `json:"reason,omitempty"`
		}{Reason: err.Error()}
	}
	_ = json.NewEncoder(w).Encode(reply)
}

// adminHandler serves every path under /admin/, each behind the HTTP
// guard's admin policy (see httpauth.go). An endpoint added here is
// guarded like the others.
func (g *Gateway) adminHandler(guard *httpGuard) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /admin/reload", g.serveReload)
	return guard.admin(mux)
}
