package source

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// Config is one upstream broker (or cluster) to take messages from.
type Config struct {
	// Name identifies the source in logs and /status; unique per gateway.
	Name string `mapstructure:"name"`
	// Brokers are the URLs of the broker, or of several nodes of one
	// cluster, tried in turn: mqtt://host:1883, tls://host:8883,
	// ws://host/mqtt or wss://host/mqtt. A bare host:port means mqtt://.
	Brokers []string `mapstructure:"brokers"`
	// ClientID is the session's client id at the upstream broker. It must
	// be stable across restarts (the session, and the messages it holds,
	// belong to it) and unique per lakegate instance.
	ClientID string     `mapstructure:"client_id"`
	Username string     `mapstructure:"username"`
	Password string     `mapstructure:"password"`
	TLS      *TLSConfig `mapstructure:"tls"`
	// ShareGroup, when set, subscribes every filter as $share/<group>/<filter>,
	// so instances using the same group split the messages between them.
	ShareGroup string         `mapstructure:"share_group"`
	Filters    []FilterConfig `mapstructure:"filters"`
	// SessionExpiry is how long the upstream broker keeps the session (its
	// subscriptions and the messages queued for it) while disconnected.
	SessionExpiry time.Duration `mapstructure:"session_expiry"`
	KeepAlive     time.Duration `mapstructure:"keep_alive"`
	// ReceiveMaximum, when set, is how many QoS 1/2 messages the upstream
	// broker may have unacknowledged towards this instance; 0 sends none
	// (the broker's own in-flight limit applies). See README: mochi, and
	// so a lakegate upstream, stalls a client that reaches it.
	ReceiveMaximum int `mapstructure:"receive_maximum"`
	// Workers is how many messages are ingested at once; messages of one
	// topic are always ingested one after the other, in order.
	Workers int `mapstructure:"workers"`
	// ReconnectMin and ReconnectMax bound the backoff between connection attempts.
	ReconnectMin time.Duration `mapstructure:"reconnect_min"`
	ReconnectMax time.Duration `mapstructure:"reconnect_max"`
}

// FilterConfig is one topic filter subscribed to, with its maximum QoS.
type FilterConfig struct {
	Topic string `mapstructure:"topic"`
	QoS   byte   `mapstructure:"qos"`
}

// TLSConfig names the PEM files for a TLS connection upstream; all are optional.
type TLSConfig struct {
	CAFile     string `mapstructure:"ca_file"`   // CAs to trust instead of the system's
	CertFile   string `mapstructure:"cert_file"` // client certificate, with KeyFile
	KeyFile    string `mapstructure:"key_file"`
	ServerName string `mapstructure:"server_name"` // overrides the host name checked
}

// The defaults WithDefaults fills in.
const (
	DefaultSessionExpiry = time.Hour
	DefaultKeepAlive     = 30 * time.Second
	DefaultWorkers       = 4
	DefaultReconnectMin  = 250 * time.Millisecond
	DefaultReconnectMax  = 30 * time.Second
)

// WithDefaults returns c with every unset optional key at its default.
func (c Config) WithDefaults() Config {
	set := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	set(&c.SessionExpiry, DefaultSessionExpiry)
	set(&c.KeepAlive, DefaultKeepAlive)
	set(&c.ReconnectMin, DefaultReconnectMin)
	set(&c.ReconnectMax, DefaultReconnectMax)
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	return c
}

// KeyError is a problem with one key of a source's configuration; Key is
// relative to the source ("filters[0].qos").
type KeyError struct {
	Key    string
	Reason string
}

func (e *KeyError) Error() string { return e.Key + ": " + e.Reason }

// Validate checks c (after WithDefaults) and reports every problem as a
// *KeyError, joined.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &KeyError{Key: key, Reason: fmt.Sprintf(format, args...)})
	}
	if c.Name == "" {
		bad("name", "must not be empty")
	}
	if len(c.Brokers) == 0 {
		bad("brokers", "at least one broker URL is needed, e.g. mqtt://10.0.0.5:1883")
	}
	for i, b := range c.Brokers {
		if _, err := brokerURL(b); err != nil {
			bad(fmt.Sprintf("brokers[%d]", i), "%v", err)
		}
	}
	if c.ClientID == "" {
		bad("client_id", "must not be empty: the upstream session belongs to it")
	} else if len(c.ClientID) > 65535 {
		bad("client_id", "too long")
	}
	if g := c.ShareGroup; g != "" && strings.ContainsAny(g, "/+#") {
		bad("share_group", "%q: must not contain '/', '+' or '#'", g)
	}
	if len(c.Filters) == 0 {
		bad("filters", "at least one topic filter is needed")
	}
	for i, f := range c.Filters {
		key := fmt.Sprintf("filters[%d]", i)
		if err := checkFilter(f.Topic); err != nil {
			bad(key+".topic", "%v", err)
		}
		if f.QoS > 2 {
			bad(key+".qos", "must be 0, 1 or 2, got %d", f.QoS)
		}
	}
	if c.SessionExpiry < time.Second || c.SessionExpiry > time.Duration(^uint32(0))*time.Second {
		bad("session_expiry", "must be between 1s and 136y, got %s", c.SessionExpiry)
	}
	if c.KeepAlive < time.Second || c.KeepAlive > 65535*time.Second {
		bad("keep_alive", "must be between 1s and 65535s, got %s", c.KeepAlive)
	}
	if c.ReceiveMaximum < 0 || c.ReceiveMaximum > 65535 {
		bad("receive_maximum", "must be between 0 (not sent) and 65535, got %d", c.ReceiveMaximum)
	}
	if c.Workers < 1 {
		bad("workers", "must be positive, got %d", c.Workers)
	}
	if c.ReconnectMin < time.Millisecond {
		bad("reconnect_min", "must be at least 1ms, got %s", c.ReconnectMin)
	}
	if c.ReconnectMax <= c.ReconnectMin {
		bad("reconnect_max", "must be greater than reconnect_min (%s), got %s", c.ReconnectMin, c.ReconnectMax)
	}
	if t := c.TLS; t != nil && (t.CertFile == "") != (t.KeyFile == "") {
		bad("tls", "cert_file and key_file go together")
	}
	return errors.Join(errs...)
}

// subscribeTopic is the filter as subscribed: with $share/<group>/ when shared.
func (c *Config) subscribeTopic(filter string) string {
	if c.ShareGroup == "" {
		return filter
	}
	return "$share/" + c.ShareGroup + "/" + filter
}

// checkFilter checks an MQTT topic filter: '+' alone in a level, '#' alone
// in the last level, no '$share/' of its own (ShareGroup does that).
func checkFilter(f string) error {
	if f == "" {
		return errors.New("must not be empty")
	}
	if strings.HasPrefix(f, "$share/") {
		return fmt.Errorf("%q: give the group as share_group, not in the filter", f)
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return fmt.Errorf("%q: '#' must be the last level", f)
		case l != "#" && l != "+" && strings.ContainsAny(l, "+#"):
			return fmt.Errorf("%q: a wildcard must be a whole level", f)
		}
	}
	return nil
}

// brokerURL parses a broker address; a bare host:port is mqtt://host:port.
func brokerURL(s string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		s = "mqtt://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("invalid broker URL: %w", err)
	}
	switch strings.ToLower(u.Scheme) {
	case "mqtt", "tcp", "tls", "ssl", "mqtts", "ws", "wss":
	default:
		return nil, fmt.Errorf("%q: scheme must be mqtt, tls, ws or wss", s)
	}
	if u.Port() == "" && !strings.HasPrefix(u.Scheme, "ws") {
		return nil, fmt.Errorf("%q needs a port, e.g. mqtt://host:1883", s)
	}
	return u, nil
}

// tlsConfig reads the PEM files; nil when no TLS settings are given (a
// tls:// or wss:// broker then uses the system's CAs).
func (t *TLSConfig) tlsConfig() (*tls.Config, error) {
	if t == nil {
		return nil, nil
	}
	cfg := &tls.Config{ServerName: t.ServerName, MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file %s: no PEM certificate in it", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("loading tls.cert_file and tls.key_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
