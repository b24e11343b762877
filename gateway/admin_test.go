package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// adminReply is the JSON answer of an admin endpoint.
type adminReply struct {
	Success bool   `json:"success"`
	Reason  string `json:"reason"`
}

// postAdmin POSTs to path on the gateway's HTTP listener, with basic auth
// when user is not empty, and returns the status and decoded answer.
func postAdmin(t *testing.T, httpAddr, path, user, password string) (int, adminReply, http.Header) {
	t.Helper()
	status, body, hdr := doHTTP(t, http.MethodPost, "http://"+httpAddr+path, user, password)
	var r adminReply
	_ = json.Unmarshal(body, &r) // a 404 or 405 has a text body
	return status, r, hdr
}

// TestAdminAuthLoopbackOnly: with no admin account, POST /admin/reload is
// served to loopback clients and refused to any other address.
func TestAdminAuthLoopbackOnly(t *testing.T) {
	gw := startGateway(t, t.TempDir(), "")
	if status, r, _ := postAdmin(t, gw.HTTPAddr(), "/admin/reload", "", ""); status != http.StatusOK || !r.Success {
		t.Fatalf("reload from loopback: %d %+v, want 200 and success", status, r)
	}
	// A request from another address, served in process: no traffic
	// leaves loopback.
	for _, remote := range []string{"192.0.2.10:40000", "[2001:db8::1]:40000", "10.0.0.1:1"} {
		req := httptest.NewRequest(http.MethodPost, "/admin/reload", nil)
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		gw.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden {
			t.Errorf("reload from %s: %d, want 403", remote, rec.Code)
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/admin/reload", nil)
	req.RemoteAddr = "[::1]:40000"
	rec := httptest.NewRecorder()
	gw.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("reload from [::1]: %d %s, want 200", rec.Code, rec.Body)
	}
}

// TestAdminAuthUsers: once an account has admin: true, admin endpoints
// need basic auth as an admin, from loopback too: 401 without or with bad
// credentials, 403 for an account that is not an admin, 200 for an admin.
// Other endpoints are not affected.
func TestAdminAuthUsers(t *testing.T) {
	gw := startGateway(t, t.TempDir(), fmt.Sprintf(`
auth:
  users:
    - {username: alice, password_hash: %q, admin: true}
    - {username: bob, password_hash: %q}
`, hash(t, "alice-pw"), hash(t, "bob-pw")))
	h := gw.HTTPAddr()
	for _, c := range []struct {
		name, path, user, password string
		want                       int
	}{
		{"no credentials", "/admin/reload", "", "", http.StatusUnauthorized},
		{"wrong password", "/admin/reload", "alice", "bob-pw", http.StatusUnauthorized},
		{"unknown user", "/admin/reload", "carol", "alice-pw", http.StatusUnauthorized},
		{"not an admin", "/admin/reload", "bob", "bob-pw", http.StatusForbidden},
		{"unknown admin path, no credentials", "/admin/other", "", "", http.StatusUnauthorized},
		{"admin", "/admin/reload", "alice", "alice-pw", http.StatusOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, r, hdr := postAdmin(t, h, c.path, c.user, c.password)
			if status != c.want {
				t.Fatalf("%d %+v, want %d", status, r, c.want)
			}
			switch status {
			case http.StatusOK:
				if !r.Success {
					t.Errorf("answer %+v, want success", r)
				}
			case http.StatusUnauthorized:
				if hdr.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				fallthrough
			default:
				if r.Success || r.Reason == "" {
					t.Errorf("answer %+v, want a reason", r)
				}
			}
		})
	}
	resp, err := http.Get("http://" + h + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz without credentials: %s", resp.Status)
	}
}
