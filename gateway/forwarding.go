package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lakegate/lakegate/arrowstore"
	"github.com/lakegate/lakegate/arrowstore/rows"
	"github.com/lakegate/lakegate/gateway/forward"
)

// This file wires gateway/forward into the gateway: the uplinks section
// and the routes' forward blocks of the configuration, one outbox and
// uplink per configured upstream broker, and the call the Ingester makes
// for every formatted message.

// UplinkConfig is one upstream MQTT 5 broker that routes may forward to.
type UplinkConfig struct {
	Name string `mapstructure:"name"` // routes refer to it by this; also names its outbox directory
	// URL of the broker: mqtt://host:1883, mqtts://host:8883, ws://, wss://.
	URL      string `mapstructure:"url"`
	ClientID string `mapstructure:"client_id"`
	Username string `mapstructure:"username"`
	Password string `mapstructure:"password"`
	// KeepAlive, ConnectTimeout, ReconnectMin/Max and PublishTimeout: 0
	// takes the default (30s, 10s, 500ms/30s, 30s).
	KeepAlive      time.Duration `mapstructure:"keep_alive"`
	ConnectTimeout time.Duration `mapstructure:"connect_timeout"`
	ReconnectMin   time.Duration `mapstructure:"reconnect_min"`
	ReconnectMax   time.Duration `mapstructure:"reconnect_max"`
	PublishTimeout time.Duration `mapstructure:"publish_timeout"`
	Outbox         OutboxConfig  `mapstructure:"outbox"`
	// TLS, for mqtts and wss URLs, when the system CAs are not the ones:
	// the same keys as a source's tls block.
	TLS *UplinkTLSConfig `mapstructure:"tls"`
}

// UplinkTLSConfig names the PEM files of a TLS uplink; all are optional.
type UplinkTLSConfig struct {
	CAFile     string `mapstructure:"ca_file"`   // CAs to trust instead of the system's
	CertFile   string `mapstructure:"cert_file"` // client certificate, with KeyFile
	KeyFile    string `mapstructure:"key_file"`
	ServerName string `mapstructure:"server_name"` // "" = the URL's host
}

// tlsConfig reads the PEM files; nil when t is nil.
func (t *UplinkTLSConfig) tlsConfig() (*tls.Config, error) {
	if t == nil {
		return nil, nil
	}
	cfg := &tls.Config{ServerName: t.ServerName, MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading tls.ca_file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file %s: no PEM certificate in it", t.CAFile)
		}
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

// OutboxConfig bounds an uplink's outbox, <storage.dir>/_forward/<name>.
type OutboxConfig struct {
	// MaxBytes caps the outbox on disk; when full, QoS 1/2 publishers of
	// forwarded routes are refused (MQTT 5: 0x97 quota exceeded) until the
	// uplink has caught up. 0 means 1GiB.
	MaxBytes ByteSize `mapstructure:"max_bytes"`
}

// ForwardConfig sends a route's messages on to an uplink too.
type ForwardConfig struct {
	Uplink string `mapstructure:"uplink"`
	// Send is rows (the default: one JSON object per formatted row) or
	// payload (the message as published).
	Send string `mapstructure:"send"`
	// Topic is the upstream topic template: {table}, {topic}, {client},
	// {1}, {2}, ... (levels of the published topic) and the route's
	// named placeholders.
	Topic string `mapstructure:"topic"`
	QoS   *int   `mapstructure:"qos"` // 0 or 1; 1 when not given
}

// The values of ForwardConfig.Send.
const (
	ForwardRows    = "rows"
	ForwardPayload = "payload"
)

var uplinkSchemes = map[string]bool{"mqtt": true, "tcp": true, "mqtts": true, "tls": true, "ssl": true, "ws": true, "wss": true}

// validateForwarding checks the uplinks and every route's forward blocks.
func (c *Config) validateForwarding(bad func(key, format string, args ...any)) {
	names := map[string]bool{}
	for i, u := range c.Uplinks {
		key := fmt.Sprintf("uplinks[%d]", i)
		switch {
		case u.Name == "":
			bad(key+".name", "must not be empty")
		case !isUplinkName(u.Name):
			bad(key+".name", "%q: use letters, digits, '_' and '-' (it names a directory)", u.Name)
		case names[u.Name]:
			bad(key+".name", "duplicate uplink %q", u.Name)
		}
		names[u.Name] = true
		if _, err := parseUplinkURL(u.URL); err != nil {
			bad(key+".url", "%v", err)
		}
		if u.ClientID == "" {
			bad(key+".client_id", "must be set, and unique among the upstream broker's clients")
		}
		for _, d := range []struct {
			k string
			v time.Duration
		}{{"keep_alive", u.KeepAlive}, {"connect_timeout", u.ConnectTimeout}, {"reconnect_min", u.ReconnectMin},
			{"reconnect_max", u.ReconnectMax}, {"publish_timeout", u.PublishTimeout}} {
			if d.v < 0 {
				bad(key+"."+d.k, "must not be negative")
			}
		}
		if u.KeepAlive > 65535*time.Second {
			bad(key+".keep_alive", "at most 65535s")
		}
		if u.Outbox.MaxBytes < 0 {
			bad(key+".outbox.max_bytes", "must not be negative")
		}
		if t := u.TLS; t != nil && (t.CertFile == "") != (t.KeyFile == "") {
			bad(key+".tls", "cert_file and key_file go together")
		}
	}
	for i, r := range c.Routes {
		levels := topicPlaceholders(r.Topic)
		for j, f := range r.Forward {
			key := fmt.Sprintf("routes[%d].forward[%d]", i, j)
			if f.Uplink == "" {
				bad(key+".uplink", "must name one of the uplinks")
			} else if !names[f.Uplink] {
				bad(key+".uplink", "no uplink is named %q", f.Uplink)
			}
			switch f.Send {
			case "", ForwardRows, ForwardPayload:
			default:
				bad(key+".send", "%q: want rows or payload", f.Send)
			}
			if _, err := forward.ParseTemplate(f.Topic, levels); err != nil {
				bad(key+".topic", "%v", err)
			}
			if f.QoS != nil && (*f.QoS < 0 || *f.QoS > 1) {
				bad(key+".qos", "%d: want 0 or 1 (QoS 1 is at-least-once; QoS 2 is not offered)", *f.QoS)
			}
		}
	}
}

func isUplinkName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == '-' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
			return false
		}
	}
	return s != ""
}

func parseUplinkURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("must not be empty: e.g. mqtt://cloud.example:1883")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("not a URL: %v", err)
	}
	if !uplinkSchemes[u.Scheme] {
		return nil, fmt.Errorf("%q: scheme must be mqtt, mqtts, ws or wss", u.Redacted())
	}
	if u.Hostname() == "" || u.Port() == "" {
		return nil, fmt.Errorf("%q: needs a host and a port", u.Redacted())
	}
	return u, nil
}

// topicPlaceholders maps the named placeholders of a route topic pattern
// ("sites/{site}/{table}") to their 0-based level.
func topicPlaceholders(pattern string) map[string]int {
	names := map[string]int{}
	for i, p := range strings.Split(pattern, "/") {
		if len(p) > 2 && p[0] == '{' && p[len(p)-1] == '}' {
			names[p[1:len(p)-1]] = i
		}
	}
	return names
}

// forwarder holds the uplinks and, per route, what to forward where. It
// matches topics with its own Router built from the routes it started
// with, so its rules never disagree with the route they belong to; a
// Reload does not change forwarding.
type forwarder struct {
	log     *slog.Logger
	router  *Router
	rules   [][]forwardRule // by route index
	uplinks []*uplinkRun
	timeKey string
}

type uplinkRun struct {
	name string
	box  *forward.Outbox
	link *forward.Uplink
}

type forwardRule struct {
	up   *uplinkRun
	rows bool
	tmpl *forward.Template
	qos  byte
}

// startForwarding opens an outbox and starts an uplink per configured
// uplink; nil when there is none. On error nothing stays open.
func startForwarding(cfg *Config, log *slog.Logger) (_ *forwarder, err error) {
	if len(cfg.Uplinks) == 0 {
		return nil, nil
	}
	router, err := NewRouter(cfg.Routes)
	if err != nil {
		return nil, err
	}
	f := &forwarder{log: log, router: router, rules: make([][]forwardRule, len(cfg.Routes)), timeKey: cfg.Storage.TimeColumn}
	defer func() {
		if err != nil {
			_ = f.close(context.Background())
		}
	}()
	byName := map[string]*uplinkRun{}
	for _, uc := range cfg.Uplinks {
		u, err := parseUplinkURL(uc.URL)
		if err != nil {
			return nil, fmt.Errorf("uplink %s: %w", uc.Name, err)
		}
		tlsCfg, err := uc.TLS.tlsConfig()
		if err != nil {
			return nil, fmt.Errorf("uplink %s: %w", uc.Name, err)
		}
		dir := filepath.Join(cfg.Storage.Dir, "_forward", uc.Name)
		box, err := forward.Open(forward.Options{
			Dir:          dir,
			MaxBytes:     int64(uc.Outbox.MaxBytes),
			SyncInterval: cfg.Storage.SyncInterval,
			Logger:       log.With("uplink", uc.Name),
		})
		if err != nil {
			return nil, fmt.Errorf("opening outbox of uplink %s in %s: %w", uc.Name, dir, err)
		}
		run := &uplinkRun{name: uc.Name, box: box}
		f.uplinks = append(f.uplinks, run)
		byName[uc.Name] = run
		run.link, err = forward.StartUplink(box, forward.UplinkOptions{
			Name: uc.Name, URL: u, TLS: tlsCfg, ClientID: uc.ClientID, Username: uc.Username, Password: uc.Password,
			KeepAlive: uc.KeepAlive, ConnectTimeout: uc.ConnectTimeout,
			ReconnectMin: uc.ReconnectMin, ReconnectMax: uc.ReconnectMax, PublishTimeout: uc.PublishTimeout,
			Logger: log,
		})
		if err != nil {
			return nil, err
		}
	}
	for i, r := range cfg.Routes {
		for j, fc := range r.Forward {
			tmpl, err := forward.ParseTemplate(fc.Topic, topicPlaceholders(r.Topic))
			if err != nil {
				return nil, &FieldError{Key: fmt.Sprintf("routes[%d].forward[%d].topic", i, j), Reason: err.Error()}
			}
			qos := byte(1)
			if fc.QoS != nil {
				qos = byte(*fc.QoS)
			}
			f.rules[i] = append(f.rules[i], forwardRule{up: byName[fc.Uplink], rows: fc.Send != ForwardPayload, tmpl: tmpl, qos: qos})
		}
	}
	return f, nil
}

// forward appends what msg's route forwards to the outboxes and returns
// a wait that returns once that is on disk (nil when nothing was
// appended); the Ingester waits for it with the rows, before the message
// is acknowledged. A full outbox refuses a QoS 1/2 message with an error
// wrapping arrowstore.ErrBackpressure (MQTT 5: 0x97); a QoS 0 message is
// then stored but not forwarded. Nil-safe.
func (f *forwarder) forward(ctx context.Context, msg *rows.Message, rs []rows.Row) (wait func() error, err error) {
	wait, err = f.enqueue(ctx, msg, rs)
	if err != nil && msg.QoS == 0 && errors.Is(err, arrowstore.ErrBackpressure) {
		// Nobody waits for a QoS 0 message: store it, just do not forward
		// it (counted as Refused in the outbox's stats).
		f.log.Warn("forward outbox full, QoS 0 message not forwarded", "topic", msg.Topic, "client", msg.ClientID, "error", err)
		return nil, nil
	}
	return wait, err
}

// enqueue appends what msg's route forwards to the outboxes and returns a
// wait that returns once it is durable. Nil-safe.
func (f *forwarder) enqueue(ctx context.Context, msg *rows.Message, rs []rows.Row) (wait func() error, err error) {
	none := func() error { return nil }
	if f == nil {
		return none, nil
	}
	m, ok, err := f.router.Match(msg.Topic)
	if !ok || err != nil || m.Index >= len(f.rules) || len(f.rules[m.Index]) == 0 {
		return none, nil // the Ingester deals with unrouted and bad topics
	}
	vars := forward.Vars{Table: m.Table, Topic: msg.Topic, Client: msg.ClientID, Levels: strings.Split(msg.Topic, "/")}
	var (
		order []*uplinkRun
		items = map[*uplinkRun][]forward.Item{}
	)
	add := func(up *uplinkRun, it forward.Item) {
		if it.Topic == "" {
			f.log.Debug("forward: topic template gave an empty topic, not forwarded", "uplink", up.name, "topic", msg.Topic)
			return
		}
		if _, ok := items[up]; !ok {
			order = append(order, up)
		}
		items[up] = append(items[up], it)
	}
	for _, r := range f.rules[m.Index] {
		if !r.rows {
			add(r.up, forward.Item{Topic: r.tmpl.Expand(vars), Payload: msg.Payload, QoS: r.qos})
			continue
		}
		for _, row := range rs {
			v := vars
			if row.Table != "" {
				v.Table = row.Table
			}
			add(r.up, forward.Item{Topic: r.tmpl.Expand(v), Payload: forward.RowJSON(nil, row, f.timeKey), QoS: r.qos})
		}
	}
	var waits []func() error
	for _, up := range order {
		w, err := up.box.Append(ctx, items[up])
		if errors.Is(err, forward.ErrFull) {
			return nil, fmt.Errorf("forwarding to uplink %s: %w: %w", up.name, arrowstore.ErrBackpressure, err)
		}
		if err != nil {
			return nil, fmt.Errorf("forwarding to uplink %s: %w", up.name, err)
		}
		waits = append(waits, w)
	}
	return func() error {
		var errs []error
		for _, w := range waits {
			errs = append(errs, w())
		}
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("syncing forward outbox: %w", err)
		}
		return nil
	}, nil
}

// close stops the uplinks (bounded by ctx) and closes the outboxes.
// Nil-safe; safe after a failed start.
func (f *forwarder) close(ctx context.Context) error {
	if f == nil {
		return nil
	}
	var errs []error
	for _, u := range f.uplinks {
		if u.link != nil {
			errs = append(errs, u.link.Close(ctx))
		}
	}
	for _, u := range f.uplinks {
		errs = append(errs, u.box.Close())
	}
	return errors.Join(errs...)
}

// ForwardStats are one uplink's forwarding counters (for /metrics).
type ForwardStats struct {
	Uplink string
	Outbox forward.Stats       // appended, forwarded, queued, bytes on disk, refused
	Link   forward.UplinkStats // connected, sent, rejected, connects, errors
}

// ForwardStats returns the counters of every uplink, in config order.
func (g *Gateway) ForwardStats() []ForwardStats {
	if g.forwarding == nil {
		return nil
	}
	var out []ForwardStats
	for _, u := range g.forwarding.uplinks {
		s := ForwardStats{Uplink: u.name, Outbox: u.box.Stats()}
		if u.link != nil {
			s.Link = u.link.Stats()
		}
		out = append(out, s)
	}
	return out
}
