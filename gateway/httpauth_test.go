package gateway_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// getWithAuth GETs path, with basic auth when user is not empty.
func getWithAuth(t *testing.T, httpAddr, path, user, password string) (int, string, http.Header) {
	t.Helper()
	status, body, hdr := doHTTP(t, http.MethodGet, "http://"+httpAddr+path, user, password)
	return status, string(body), hdr
}

var showTables = "/db/query?q=" + url.QueryEscape("SHOW TABLES")

// TestHTTPDataOpenWithoutAccounts: with no auth.users (anonymous MQTT),
// queries, exports and /status need no credentials.
func TestHTTPDataOpenWithoutAccounts(t *testing.T) {
	gw := startGateway(t, t.TempDir(), "")
	for _, path := range []string{showTables, "/status"} {
		if status, body, _ := getWithAuth(t, gw.HTTPAddr(), path, "", ""); status != http.StatusOK {
			t.Errorf("%s: %d %s", path, status, body)
		}
	}
}

// TestHTTPDataNeedsAnAccountTheACLLets: with accounts and no anonymous
// access, /db/query, /db/export and /status need basic auth as an account
// the ACL lets publish to the query topic; /healthz, /readyz and /metrics
// stay open.
func TestHTTPDataNeedsAnAccountTheACLLets(t *testing.T) {
	gw := startGateway(t, t.TempDir(), fmt.Sprintf(`
auth:
  users:
    - {username: analyst, password_hash: %q}
    - {username: device, password_hash: %q}
  acl:
    - {user: analyst, publish: ["db/query"], subscribe: ["db/reply"]}
    - {user: device, publish: ["sensors/#"]}
`, hash(t, "analyst-pw"), hash(t, "device-pw")))
	h := gw.HTTPAddr()
	for _, path := range []string{showTables, "/db/export/nothing.parquet", "/status"} {
		for _, c := range []struct {
			name, user, password string
			want                 int
		}{
			{"no credentials", "", "", http.StatusUnauthorized},
			{"wrong password", "analyst", "device-pw", http.StatusUnauthorized},
			{"unknown user", "mallory", "x", http.StatusUnauthorized},
			{"the ACL does not let it query", "device", "device-pw", http.StatusForbidden},
			{"may query", "analyst", "analyst-pw", http.StatusOK},
		} {
			t.Run(strings.TrimPrefix(path, "/")[:6]+"/"+c.name, func(t *testing.T) {
				status, body, hdr := getWithAuth(t, h, path, c.user, c.password)
				want := c.want
				if want == http.StatusOK && strings.HasPrefix(path, "/db/export/") {
					want = http.StatusNotFound // let in: no such table
				}
				if status != want {
					t.Fatalf("%d %s, want %d", status, body, want)
				}
				if status == http.StatusUnauthorized && hdr.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				if status == http.StatusForbidden && !strings.Contains(body, "may not publish to db/query") {
					t.Errorf("403 body %s", body)
				}
			})
		}
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if status, body, _ := getWithAuth(t, h, path, "", ""); status != http.StatusOK {
			t.Errorf("%s without credentials: %d %s", path, status, body)
		}
	}
}

// TestHTTPDataAnonymousFollowsTheACL: anonymous MQTT allowed beside
// accounts. An anonymous HTTP query is served when the ACL lets anyone
// publish to the query topic, and asked for credentials when it gives the
// topic to an account only.
func TestHTTPDataAnonymousFollowsTheACL(t *testing.T) {
	for _, c := range []struct {
		name, anyoneMay string
		want            int
	}{
		{"anyone may query", `["sensors/#", "db/query"]`, http.StatusOK},
		{"accounts only", `["sensors/#"]`, http.StatusUnauthorized},
	} {
		t.Run(c.name, func(t *testing.T) {
			gw := startGateway(t, t.TempDir(), fmt.Sprintf(`
auth:
  allow_anonymous: "true"
  users:
    - {username: analyst, password_hash: %q}
  acl:
    - {user: analyst, publish: ["db/query"]}
    - {publish: %s}
`, hash(t, "analyst-pw"), c.anyoneMay))
			if status, body, _ := getWithAuth(t, gw.HTTPAddr(), showTables, "", ""); status != c.want {
				t.Errorf("anonymous query: %d %s, want %d", status, body, c.want)
			}
			if status, body, _ := getWithAuth(t, gw.HTTPAddr(), showTables, "analyst", "analyst-pw"); status != http.StatusOK {
				t.Errorf("analyst query: %d %s", status, body)
			}
		})
	}
}
