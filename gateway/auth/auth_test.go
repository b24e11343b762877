package auth

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func mustHash(t testing.TB, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestCovers(t *testing.T) {
	for _, c := range []struct {
		r, f string
		want bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/+", "a/+", true},
		{"a/+", "a/#", false},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"a/#", "a/+/c", true},
		{"a/#", "a/#", true},
		{"a/b", "a/+", false},
		{"a/b/c", "a/b", false},
		{"#", "db/write/x", true},
		{"#", "$SYS/broker/uptime", false},
		{"+/broker/uptime", "$SYS/broker/uptime", false},
		{"$SYS/#", "$SYS/broker/uptime", true},
		{"db/write/#", "db/query", false},
		{"db/query", "db/query", true},
		{"", "a", false},
		{"a", "", false},
		{"+", "", false},
		{"a//b", "a//b", true},
		{"a/+/b", "a//b", true},
	} {
		if got := Covers(c.r, c.f); got != c.want {
			t.Errorf("Covers(%q, %q) = %t, want %t", c.r, c.f, got, c.want)
		}
	}
}

func TestCheckFilter(t *testing.T) {
	for f, ok := range map[string]bool{
		"a/b": true, "#": true, "+/x/#": true, "a/#/b": false, "a#": false, "a+": false, "": false, "a\x00": false, "\xff": false,
	} {
		if err := CheckFilter(f); (err == nil) != ok {
			t.Errorf("CheckFilter(%q) = %v, want ok=%t", f, err, ok)
		}
	}
}

// TestMatrix is the ACL matrix: who may publish and subscribe to what.
func TestMatrix(t *testing.T) {
	h, err := New(Options{
		Users: []User{{"sensor1", mustHash(t, "pw1")}, {"dashboard", mustHash(t, "pw2")}, {"admin", mustHash(t, "pw3")}},
		Rules: []Rule{
			{User: "sensor1", Publish: []string{"db/write/%u", "devices/%c/status"}},
			{User: "dashboard", Subscribe: []string{"db/write/#", "$SYS/#"}, Publish: []string{"db/query"}},
			{User: "admin", Publish: []string{"#"}, Subscribe: []string{"#"}},
			{ClientID: "lamp-7", Subscribe: []string{"devices/%c/cmd"}},
			{Subscribe: []string{"public/#"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		user, client, topic string
		write, want         bool
	}{
		{"sensor1", "s-1", "db/write/sensor1", true, true},
		{"sensor1", "s-1", "db/write/other", true, false},
		{"sensor1", "s-1", "db/write/#", false, false},
		{"sensor1", "s-1", "devices/s-1/status", true, true},
		{"sensor1", "s-2", "devices/s-1/status", true, false},
		{"sensor1", "s-1", "db/query", true, false},
		{"sensor1", "s-1", "public/news", false, true},
		{"dashboard", "d", "db/write/#", false, true},
		{"dashboard", "d", "db/write/sensors", false, true},
		{"dashboard", "d", "$share/g/db/write/sensors", false, true},
		{"dashboard", "d", "#", false, false},
		{"dashboard", "d", "$SYS/broker/uptime", false, true},
		{"dashboard", "d", "db/query", true, true},
		{"dashboard", "d", "db/write/sensors", true, false},
		{"admin", "a", "anything/at/all", true, true},
		{"admin", "a", "#", false, true},
		{"admin", "a", "$SYS/#", false, false}, // '#' never reaches $-topics
		{"", "lamp-7", "devices/lamp-7/cmd", false, true},
		{"", "lamp-8", "devices/lamp-8/cmd", false, false},
		{"", "anon", "public/news", false, true},
		{"", "anon", "db/write/x", true, false},
		// %u / %c never widen a filter.
		{"sensor1", "+", "devices/+/status", true, false},
		{"sensor1", "a/b", "devices/a/b/status", true, false},
	} {
		if got := h.Allowed(c.user, c.client, c.topic, c.write); got != c.want {
			t.Errorf("Allowed(user=%q client=%q topic=%q write=%t) = %t, want %t", c.user, c.client, c.topic, c.write, got, c.want)
		}
	}
}

func TestNoRulesAllowsAllButDollarTopics(t *testing.T) {
	h, err := New(Options{AllowAnonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		topic     string
		write, ok bool
	}{{"db/write/x", true, true}, {"#", false, true}, {"$SYS/#", false, true}, {"$SYS/x", true, false}, {"$other/x", false, false}} {
		if got := h.Allowed("", "c", c.topic, c.write); got != c.ok {
			t.Errorf("Allowed(%q, write=%t) = %t, want %t", c.topic, c.write, got, c.ok)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	users := []User{{"u1", mustHash(t, "right")}}
	for _, c := range []struct {
		name      string
		anonymous bool
		user, pw  string
		want      error
	}{
		{"good password", false, "u1", "right", nil},
		{"wrong password", false, "u1", "wrong", ErrBadCredentials},
		{"unknown user", false, "nobody", "right", ErrBadCredentials},
		{"unknown user, anonymous on", true, "nobody", "", ErrBadCredentials},
		{"anonymous off", false, "", "", ErrNotAuthorized},
		{"anonymous on", true, "", "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, err := New(Options{AllowAnonymous: c.anonymous, Users: users})
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Authenticate(c.user, []byte(c.pw)); !errors.Is(err, c.want) {
				t.Errorf("Authenticate(%q, %q) = %v, want %v", c.user, c.pw, err, c.want)
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	_, err := New(Options{Users: []User{{"u", "plaintext"}}, Rules: []Rule{{Publish: []string{"a/#/b"}}}})
	if err == nil || !strings.Contains(err.Error(), "bcrypt") || !strings.Contains(err.Error(), "'#' must be the last level") {
		t.Fatalf("err = %v", err)
	}
}

func TestHashPassword(t *testing.T) {
	h, err := HashPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if bcrypt.CompareHashAndPassword([]byte(h), []byte("s3cret")) != nil {
		t.Fatal("hash does not verify")
	}
	if _, err := HashPassword([]byte("  "), bcrypt.MinCost); err == nil {
		t.Fatal("empty password hashed")
	}
}

// matches is the reference: does topic name t match filter f (no wildcards in t)?
func splitMatch(f, t string) bool {
	if strings.HasPrefix(t, "$") && (strings.HasPrefix(f, "+") || strings.HasPrefix(f, "#")) {
		return false
	}
	fl, tl := strings.Split(f, "/"), strings.Split(t, "/")
	for i, x := range fl {
		if x == "#" {
			return true
		}
		if i >= len(tl) || (x != "+" && x != tl[i]) {
			return false
		}
	}
	return len(fl) == len(tl)
}

// FuzzCovers checks Covers against a reference matcher for topic names and
// for transitivity with filters: r covers f and f matches t implies r matches t.
func FuzzCovers(f *testing.F) {
	for _, s := range [][3]string{
		{"a/#", "a/+", "a/b"}, {"#", "$SYS/#", "$SYS/x"}, {"+/+", "a/+", "a/b"}, {"a/+/c", "a/b/c", "a/b/c"}, {"a/#", "a", "a"}, {"/", "/", "/"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, r, flt, topic string) {
		if CheckFilter(r) != nil || CheckFilter(flt) != nil || CheckFilter(topic) != nil || strings.ContainsAny(topic, "+#") {
			_ = Covers(r, flt) // must not panic on anything
			return
		}
		if got, want := Covers(r, topic), splitMatch(r, topic); got != want {
			t.Fatalf("Covers(%q, topic %q) = %t, reference %t", r, topic, got, want)
		}
		if Covers(r, flt) && splitMatch(flt, topic) && !splitMatch(r, topic) {
			t.Fatalf("%q covers %q, which matches %q, but %q does not", r, flt, topic, r)
		}
		if !Covers(flt, flt) {
			t.Fatalf("%q does not cover itself", flt)
		}
	})
}

// FuzzAllowed runs the ACL with arbitrary user names, client ids and topics.
func FuzzAllowed(f *testing.F) {
	h, err := New(Options{Rules: []Rule{
		{User: "u", Publish: []string{"db/write/%u", "x/%c/#"}, Subscribe: []string{"+/%u/+"}},
		{Subscribe: []string{"public/#"}},
	}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("u", "c", "db/write/u", true)
	f.Add("u", "+", "x/+/y", true)
	f.Add("", "#", "$share/g/public/a", false)
	f.Fuzz(func(t *testing.T, user, client, topic string, write bool) {
		ok := h.Allowed(user, client, topic, write)
		if ok && write && strings.ContainsAny(client, "/+#") && strings.HasPrefix(topic, "x/") && user == "u" && !strings.HasPrefix(topic, "x/"+client+"/") && topic != "db/write/u" {
			// Allowed through x/%c/# only if substitution was safe.
			t.Fatalf("client %q allowed to publish %q", client, topic)
		}
	})
}
