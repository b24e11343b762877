package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/lakegate/lakegate/gateway/auth"
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

// adminHandler serves every path under /admin/, each behind adminGuard.
// An endpoint added here is guarded like the others.
func (g *Gateway) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /admin/reload", g.serveReload)
	guard, err := newAdminGuard(g.cfg.Auth, g.log.With("component", "admin"))
	if err != nil { // Validate checked the hashes: not expected
		g.log.Error("admin endpoints disabled", "error", err)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeAdminError(w, http.StatusServiceUnavailable, "admin endpoints disabled: "+err.Error())
		})
	}
	return guard.wrap(mux)
}

// adminGuard decides who may use the HTTP admin endpoints (every path
// under /admin/):
//
//   - while no auth.users entry has admin: true, clients on a loopback
//     address, without credentials; anyone else gets 403. Behind a reverse
//     proxy on the same host every request looks local: configure an admin
//     account there.
//   - once one has, only HTTP basic auth as such an account: no or wrong
//     credentials get 401 (with WWW-Authenticate), a valid account that is
//     not an admin gets 403. Loopback clients are not exempt.
//
// Passwords are checked with bcrypt through the MQTT auth hook, one check
// at a time so that a flood of guesses costs one core at most.
type adminGuard struct {
	users  *auth.Hook // every account, so that 401 and 403 can be told apart
	admins map[string]bool
	check  chan struct{} // one bcrypt comparison at a time
	log    *slog.Logger
}

// newAdminGuard builds the guard from the auth section (already validated).
func newAdminGuard(ac AuthConfig, log *slog.Logger) (*adminGuard, error) {
	opts := auth.Options{}
	ag := &adminGuard{admins: map[string]bool{}, check: make(chan struct{}, 1), log: log}
	for _, u := range ac.Users {
		opts.Users = append(opts.Users, auth.User{Username: u.Username, PasswordHash: u.PasswordHash})
		if u.Admin {
			ag.admins[u.Username] = true
		}
	}
	h, err := auth.New(opts)
	if err != nil {
		return nil, fmt.Errorf("building admin authentication: %w", err)
	}
	ag.users = h
	return ag, nil
}

// wrap serves next to the clients the guard lets in.
func (ag *adminGuard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(ag.admins) == 0 {
			if !isLoopback(r.RemoteAddr) {
				ag.log.Warn("admin request refused: not from loopback and no admin account configured", "remote", r.RemoteAddr, "path", r.URL.Path)
				writeAdminError(w, http.StatusForbidden, "admin endpoints answer loopback clients only while no auth.users entry has admin: true")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		user, password, ok := r.BasicAuth()
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="lakegate admin", charset="UTF-8"`)
			writeAdminError(w, http.StatusUnauthorized, "admin endpoints need HTTP basic auth as a user with admin: true")
			return
		}
		select {
		case ag.check <- struct{}{}:
		case <-r.Context().Done():
			return
		}
		err := ag.users.Authenticate(user, []byte(password))
		<-ag.check
		if user == "" || err != nil {
			ag.log.Warn("admin request refused: bad credentials", "remote", r.RemoteAddr, "user", user, "path", r.URL.Path)
			w.Header().Set("WWW-Authenticate", `Basic realm="lakegate admin", charset="UTF-8"`)
			writeAdminError(w, http.StatusUnauthorized, "bad user name or password")
			return
		}
		if !ag.admins[user] {
			ag.log.Warn("admin request refused: not an admin", "remote", r.RemoteAddr, "user", user, "path", r.URL.Path)
			writeAdminError(w, http.StatusForbidden, "user "+user+" is not an admin")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isLoopback reports whether a request's RemoteAddr is a loopback address.
func isLoopback(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// writeAdminError answers {"success": false, "reason": ...} with status.
func writeAdminError(w http.ResponseWriter, status int, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Success bool   `json:"success"`
		Reason  string `json:"reason"`
	}{Reason: reason})
}
