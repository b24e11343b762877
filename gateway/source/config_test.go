package source

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func validConfig() Config {
	return Config{
		Name:     "plant",
		Brokers:  []string{"mqtt://127.0.0.1:1883"},
		ClientID: "lakegate-a",
		Filters:  []FilterConfig{{Topic: "plant/+/telemetry", QoS: 1}},
	}.WithDefaults()
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		keys   []string // keys with a problem; none means valid
	}{
		{"valid", func(*Config) {}, nil},
		{"bare host:port and cluster", func(c *Config) { c.Brokers = []string{"127.0.0.1:1883", "tls://10.0.0.6:8883", "wss://b.example/mqtt"} }, nil},
		{"shared", func(c *Config) { c.ShareGroup = "lakegate" }, nil},
		{"nothing", func(c *Config) { *c = Config{}.WithDefaults() }, []string{"name", "brokers", "client_id", "filters"}},
		{"bad scheme", func(c *Config) { c.Brokers = []string{"http://h:80"} }, []string{"brokers[0]"}},
		{"no port", func(c *Config) { c.Brokers = []string{"mqtt://h"} }, []string{"brokers[0]"}},
		{"group with slash", func(c *Config) { c.ShareGroup = "a/b" }, []string{"share_group"}},
		{"filter", func(c *Config) {
			c.Filters = []FilterConfig{{Topic: "a/#/b"}, {Topic: "a+/b"}, {Topic: "$share/g/a"}, {Topic: ""}, {Topic: "ok/#", QoS: 3}}
		}, []string{"filters[0].topic", "filters[1].topic", "filters[2].topic", "filters[3].topic", "filters[4].qos"}},
		{"limits", func(c *Config) {
			c.SessionExpiry, c.KeepAlive, c.ReceiveMaximum, c.Workers = time.Millisecond, 70000*time.Second, -1, -1
		}, []string{"session_expiry", "keep_alive", "receive_maximum", "workers"}},
		{"backoff", func(c *Config) { c.ReconnectMax = c.ReconnectMin }, []string{"reconnect_max"}},
		{"tls pair", func(c *Config) { c.TLS = &TLSConfig{CertFile: "c.pem"} }, []string{"tls"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.change(&c)
			var got []string
			if err := c.Validate(); err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					var ke *KeyError
					if !errors.As(e, &ke) {
						t.Fatalf("%v is not a *KeyError", e)
					}
					got = append(got, ke.Key)
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.keys, " ") {
				t.Errorf("problems at %v, want %v (%v)", got, tc.keys, c.Validate())
			}
		})
	}
}

func TestWithDefaultsKeepsSetValues(t *testing.T) {
	c := Config{Workers: 9, SessionExpiry: time.Minute}.WithDefaults()
	if c.Workers != 9 || c.SessionExpiry != time.Minute || c.KeepAlive != DefaultKeepAlive || c.ReceiveMaximum != 0 {
		t.Errorf("WithDefaults = %+v", c)
	}
}

func TestSubscribeTopic(t *testing.T) {
	c := validConfig()
	if got := c.subscribeTopic("a/+"); got != "a/+" {
		t.Errorf("unshared = %q", got)
	}
	c.ShareGroup = "lg"
	if got := c.subscribeTopic("a/+"); got != "$share/lg/a/+" {
		t.Errorf("shared = %q", got)
	}
}

// FuzzCheckFilter: an accepted filter has wildcards only as whole levels,
// '#' only last, and no $share/ prefix of its own.
func FuzzCheckFilter(f *testing.F) {
	for _, s := range []string{"a/+/b", "#", "a/#", "a/#/b", "+", "a+", "$share/g/x", "", "/", "$SYS/#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if checkFilter(s) != nil {
			return
		}
		if s == "" || strings.HasPrefix(s, "$share/") {
			t.Fatalf("accepted %q", s)
		}
		levels := strings.Split(s, "/")
		for i, l := range levels {
			if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
				t.Fatalf("accepted %q: '#' at level %d", s, i)
			}
			if strings.Contains(l, "+") && l != "+" {
				t.Fatalf("accepted %q: '+' inside level %d", s, i)
			}
		}
	})
}

// FuzzBrokerURL: an accepted address has a known scheme and, unless it is
// a WebSocket URL, a port.
func FuzzBrokerURL(f *testing.F) {
	for _, s := range []string{"127.0.0.1:1883", "mqtt://h:1883", "tls://h:8883", "wss://h/mqtt", "http://h:80", "h", "mqtt://[::1]:1883", "::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := brokerURL(s)
		if err != nil {
			return
		}
		switch strings.ToLower(u.Scheme) {
		case "mqtt", "tcp", "tls", "ssl", "mqtts":
			if u.Port() == "" {
				t.Fatalf("accepted %q without a port", s)
			}
		case "ws", "wss":
		default:
			t.Fatalf("accepted %q with scheme %q", s, u.Scheme)
		}
	})
}
