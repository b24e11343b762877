package listen

import (
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestOriginPolicy(t *testing.T) {
	for _, c := range []struct {
		name    string
		allowed []string
		host    string // the Host header: the address the page connects to
		origin  string // "" sends none
		want    bool
	}{
		{"no origin: not a browser", nil, "gw:8080", "", true},
		{"same host and port", nil, "gw:8080", "http://gw:8080", true},
		{"same host, case differs", nil, "GW:8080", "https://gw:8080", true},
		{"other port, default list", nil, "gw:8080", "http://gw:3000", false},
		{"other site, default list", nil, "gw:8080", "https://evil.example", false},
		{"null origin", nil, "gw:8080", "null", false},
		{"listed", []string{"https://dash.example"}, "gw:8080", "https://dash.example", true},
		{"listed, upper case in config", []string{"HTTPS://Dash.Example/"}, "gw:8080", "https://dash.example", true},
		{"listed scheme only", []string{"https://dash.example"}, "gw:8080", "http://dash.example", false},
		{"listed port only", []string{"https://dash.example:8443"}, "gw:8080", "https://dash.example", false},
		{"not listed", []string{"https://dash.example"}, "gw:8080", "https://evil.example", false},
		{"list keeps same host", []string{"https://dash.example"}, "gw:8080", "http://gw:8080", true},
		{"any", []string{AnyOrigin}, "gw:8080", "https://evil.example", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := newOriginPolicy(c.allowed)
			if err != nil {
				t.Fatal(err)
			}
			r := &http.Request{Host: c.host, Header: http.Header{}}
			if c.origin != "" {
				r.Header.Set("Origin", c.origin)
			}
			if got := p.allows(r); got != c.want {
				t.Errorf("allows = %t, want %t", got, c.want)
			}
		})
	}
}

func TestCheckOrigins(t *testing.T) {
	for _, o := range []string{"https://a.example", "http://10.0.0.5:8080", "https://a.example/", AnyOrigin} {
		if err := CheckOrigins([]string{o}); err != nil {
			t.Errorf("%q: %v", o, err)
		}
	}
	for _, o := range []string{"", "a.example", "https://a.example/path", "https://", "https://a.example?q=1", "*.example.com"} {
		if err := CheckOrigins([]string{o}); !errors.Is(err, ErrBadOrigin) {
			t.Errorf("%q: err %v, want ErrBadOrigin", o, err)
		}
	}
	if _, err := New(Spec{ID: "t", Type: TypeTCP, Address: "127.0.0.1:0", AllowedOrigins: []string{"https://a.example"}}, Guard{}); err == nil {
		t.Error("allowed_origins accepted on a tcp listener")
	}
}

// TestWebSocketOrigin: browser handshakes from origins that are not
// allowed get 403 over a real socket, allowed ones and clients without an
// Origin header get a connection that carries bytes.
func TestWebSocketOrigin(t *testing.T) {
	l, err := New(Spec{ID: "ws", Type: TypeWS, Address: "127.0.0.1:0", AllowedOrigins: []string{"https://dash.example"}}, Guard{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Init(nil); err != nil {
		t.Fatal(err)
	}
	// The "broker" echoes what the client sends first.
	go l.Serve(func(_ string, c net.Conn) error {
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		b := make([]byte, 2)
		if _, err := c.Read(b); err != nil {
			return err
		}
		_, err := c.Write(b)
		return err
	})
	t.Cleanup(func() { l.Close(func(string) {}) })
	addr := l.Address()

	for _, c := range []struct {
		origin string
		status int
	}{
		{"", http.StatusSwitchingProtocols},
		{"https://dash.example", http.StatusSwitchingProtocols},
		{"http://" + addr, http.StatusSwitchingProtocols},
		{"https://evil.example", http.StatusForbidden},
		{"http://localhost:1", http.StatusForbidden},
	} {
		t.Run("origin "+c.origin, func(t *testing.T) {
			h := http.Header{}
			if c.origin != "" {
				h.Set("Origin", c.origin)
			}
			d := websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: 30 * time.Second}
			ws, resp, err := d.Dial("ws://"+addr+"/mqtt", h)
			if resp == nil {
				t.Fatalf("no HTTP answer: %v", err)
			}
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d (err %v)", resp.StatusCode, c.status, err)
			}
			if ws == nil {
				return
			}
			defer ws.Close()
			if err := ws.WriteMessage(websocket.BinaryMessage, []byte{0xc0, 0x00}); err != nil {
				t.Fatal(err)
			}
			_ = ws.SetReadDeadline(time.Now().Add(30 * time.Second))
			if _, msg, err := ws.ReadMessage(); err != nil || string(msg) != "\xc0\x00" {
				t.Fatalf("echo %x, %v", msg, err)
			}
		})
	}
}
