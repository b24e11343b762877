package gateway

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/lakegate/lakegate/gateway/auth"
)

// httpGuard decides who may use the HTTP API, with the broker's accounts
// and ACL (auth.*). Two policies:
//
// Admin endpoints (every path under /admin/):
//   - while no auth.users entry has admin: true, clients on a loopback
//     address, without credentials; anyone else gets 403. Behind a reverse
//     proxy on the same host every request looks local: configure an admin
//     account there.
//   - once one has, only HTTP basic auth as such an account: no or wrong
//     credentials get 401 (with WWW-Authenticate), a valid account that is
//     not an admin gets 403. Loopback clients are not exempt.
//
// Data endpoints (/db/query, /db/export/..., /status): whoever could send
// a query over MQTT, that is, publish to query.mqtt.topic (db/query when
// MQTT queries are off). An anonymous client may if the broker lets
// anonymous clients in and the ACL lets them publish there (the default
// with no auth.users: open); otherwise the request needs HTTP basic auth
// as an account the ACL lets publish there: 401 without or with wrong
// credentials, 403 for an account the ACL does not let.
//
// /healthz, /readyz and /metrics stay open, for probes and scrapers.
//
// Passwords are checked with bcrypt through the MQTT auth hook, one check
// at a time so that a flood of guesses costs one core at most.
type httpGuard struct {
	users      *auth.Hook // the broker's accounts, anonymous setting and ACL
	anonymous  bool
	admins     map[string]bool
	queryTopic string
	check      chan struct{} // one bcrypt comparison at a time
	log        *slog.Logger
}

// newHTTPGuard builds the guard from the auth section (already validated)
// and the topic whose publishers may query.
func newHTTPGuard(ac AuthConfig, queryTopic string, log *slog.Logger) (*httpGuard, error) {
	opts := auth.Options{AllowAnonymous: ac.AnonymousAllowed()}
	hg := &httpGuard{anonymous: opts.AllowAnonymous, admins: map[string]bool{}, queryTopic: queryTopic,
		check: make(chan struct{}, 1), log: log}
	if hg.queryTopic == "" {
		hg.queryTopic = QueryTopic
	}
	for _, u := range ac.Users {
		opts.Users = append(opts.Users, auth.User{Username: u.Username, PasswordHash: u.PasswordHash})
		if u.Admin {
			hg.admins[u.Username] = true
		}
	}
	for _, r := range ac.ACL {
		opts.Rules = append(opts.Rules, auth.Rule{User: r.User, ClientID: r.ClientID, Publish: r.Publish, Subscribe: r.Subscribe})
	}
	h, err := auth.New(opts)
	if err != nil {
		return nil, fmt.Errorf("building HTTP authentication: %w", err)
	}
	hg.users = h
	return hg, nil
}

// admin serves next to the clients the admin policy lets in.
func (hg *httpGuard) admin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(hg.admins) == 0 {
			if !isLoopback(r.RemoteAddr) {
				hg.log.Warn("admin request refused: not from loopback and no admin account configured", "remote", r.RemoteAddr, "path", r.URL.Path)
				writeGuardError(w, http.StatusForbidden, "admin endpoints answer loopback clients only while no auth.users entry has admin: true")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		user, ok := hg.authenticate(w, r, "admin endpoints need HTTP basic auth as a user with admin: true")
		if !ok {
			return
		}
		if !hg.admins[user] {
			hg.log.Warn("admin request refused: not an admin", "remote", r.RemoteAddr, "user", user, "path", r.URL.Path)
			writeGuardError(w, http.StatusForbidden, "user "+user+" is not an admin")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// data serves next to the clients the data policy lets in.
func (hg *httpGuard) data(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, sent := r.BasicAuth(); !sent && hg.anonymous && hg.users.Allowed("", "", hg.queryTopic, true) {
			next.ServeHTTP(w, r)
			return
		}
		user, ok := hg.authenticate(w, r, "this gateway needs HTTP basic auth (auth.users) for queries and exports")
		if !ok {
			return
		}
		if !hg.users.Allowed(user, "", hg.queryTopic, true) {
			hg.log.Warn("HTTP request refused: the ACL does not let the user query", "remote", r.RemoteAddr, "user", user, "path", r.URL.Path)
			writeGuardError(w, http.StatusForbidden, "user "+user+" may not publish to "+hg.queryTopic+", so may not query")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authenticate checks the request's basic auth credentials. On failure
// it answers 401 (need is the reason given when none were sent) and
// returns false.
func (hg *httpGuard) authenticate(w http.ResponseWriter, r *http.Request, need string) (string, bool) {
	user, password, sent := r.BasicAuth()
	if !sent {
		w.Header().Set("WWW-Authenticate", `Basic realm="lakegate", charset="UTF-8"`)
		writeGuardError(w, http.StatusUnauthorized, need)
		return "", false
	}
	select {
	case hg.check <- struct{}{}:
	case <-r.Context().Done():
		return "", false
	}
	err := hg.users.Authenticate(user, []byte(password))
	<-hg.check
	if user == "" || err != nil {
		hg.log.Warn("HTTP request refused: bad credentials", "remote", r.RemoteAddr, "user", user, "path", r.URL.Path)
		w.Header().Set("WWW-Authenticate", `Basic realm="lakegate", charset="UTF-8"`)
		writeGuardError(w, http.StatusUnauthorized, "bad user name or password")
		return "", false
	}
	return user, true
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

// writeGuardError answers {"success": false, "reason": ...} with status.
func writeGuardError(w http.ResponseWriter, status int, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Success bool   `json:"success"`
		Reason  string `json:"reason"`
	}{Reason: reason})
}
