package gateway

import (
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/lakegate/lakegate/arrowstore/rows"
	"github.com/lakegate/lakegate/gateway/auth"
	"github.com/lakegate/lakegate/gateway/listen"
	"github.com/lakegate/lakegate/gateway/source"
	"github.com/lakegate/lakegate/plugins"
)

//go:embed default.yaml
var defaultConfigYAML []byte

// DefaultConfigYAML returns the embedded default configuration, the one the
// gateway runs with when no file is given.
func DefaultConfigYAML() []byte { return append([]byte(nil), defaultConfigYAML...) }

// Config is the whole gateway configuration as decoded from YAML.
type Config struct {
	source configSource // set by LoadConfig and ParseConfig

	Listeners  ListenersConfig  `mapstructure:"listeners"`
	Auth       AuthConfig       `mapstructure:"auth"`
	Broker     BrokerConfig     `mapstructure:"broker"`
	Storage    StorageConfig    `mapstructure:"storage"`
	Plugins    PluginsConfig    `mapstructure:"plugins"`
	Routes     []RouteConfig    `mapstructure:"routes"`
	DeadLetter DeadLetterConfig `mapstructure:"dead_letter"`
	// Query limits SQL queries and configures the MQTT query API (mqttquery.go).
	Query QueryConfig `mapstructure:"query"`
	// Sources are upstream brokers lakegate subscribes to besides its own
	// listeners (see gateway/source).
	Sources []source.Config `mapstructure:"sources"`
	// Uplinks are upstream brokers routes may forward to (forwarding.go,
	// gateway/forward).
	Uplinks []UplinkConfig `mapstructure:"uplinks"`
	// ShutdownTimeout bounds a graceful shutdown: stop accepting, drain
	// in-flight messages, flush and close.
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
	// Runtime tunes the Go runtime of the process (cmd/lakegate applies it).
	Runtime RuntimeConfig `mapstructure:"runtime"`
}

// RuntimeConfig tunes the Go runtime's garbage collector for the whole
// process. The GOGC and GOMEMLIMIT environment variables, when set, win.
type RuntimeConfig struct {
	// GCPercent is GOGC: how far the heap grows past what is live before
	// the next collection. Scans and ingest allocate short-lived Arrow
	// buffers by the megabyte; at Go's default of 100 the collector takes
	// a fifth of a full scan's CPU. -1 turns the collector off until
	// MemoryLimit is reached.
	GCPercent int `mapstructure:"gc_percent"`
	// MemoryLimit is GOMEMLIMIT, the heap size past which the collector
	// runs harder whatever GCPercent says, so that a high GCPercent cannot
	// take the machine's memory. 0: half of the memory of the machine (or
	// of the cgroup the process runs in, if less).
	MemoryLimit ByteSize `mapstructure:"memory_limit"`
}

// DeadLetterConfig says where messages (and rows) that could not be stored
// are kept: a table queried like any other, and optionally an MQTT topic
// each is republished on as a JSON document.
type DeadLetterConfig struct {
	Table string `mapstructure:"table"` // "" keeps no dead-letter table
	Topic string `mapstructure:"topic"` // "" does not republish
}

// ListenersConfig lists the network endpoints.
type ListenersConfig struct {
	MQTT []MQTTListenerConfig `mapstructure:"mqtt"`
	HTTP HTTPListenerConfig   `mapstructure:"http"`
}

// MQTTListenerConfig is one MQTT listener.
type MQTTListenerConfig struct {
	ID string `mapstructure:"id"`
	// Type is tcp (the default when empty), tls or ws; ws with TLS set is wss.
	Type    string     `mapstructure:"type"`
	Address string     `mapstructure:"address"`
	TLS     *TLSConfig `mapstructure:"tls"`
	// AllowedOrigins (ws only) lists the origins (scheme://host[:port], or
	// "*" for any) of web pages allowed to connect besides pages served
	// from the listener's own host and port; browsers from other origins
	// get 403. Clients that send no Origin header (not browsers) are
	// always let through to MQTT auth.
	AllowedOrigins []string `mapstructure:"allowed_origins"`
}

// TLSConfig names a TLS listener's PEM files.
type TLSConfig struct {
	CertFile string `mapstructure:"cert_file"`
	KeyFile  string `mapstructure:"key_file"`
	// ClientCAFile, when set, requires clients to present a certificate
	// signed by one of these CAs.
	ClientCAFile string `mapstructure:"client_ca_file"`
}

// AnonymousMode says whether clients may connect without a user name:
// "auto" (only while no users are configured), "true" or "false".
type AnonymousMode string

// The values of AnonymousMode.
const (
	AnonymousAuto  AnonymousMode = "auto"
	AnonymousAllow AnonymousMode = "true"
	AnonymousDeny  AnonymousMode = "false"
)

// AuthConfig is who may connect and what they may publish and subscribe to.
type AuthConfig struct {
	AllowAnonymous AnonymousMode   `mapstructure:"allow_anonymous"`
	Users          []UserConfig    `mapstructure:"users"`
	ACL            []ACLRuleConfig `mapstructure:"acl"`
}

// AnonymousAllowed resolves AllowAnonymous.
func (a *AuthConfig) AnonymousAllowed() bool {
	switch a.AllowAnonymous {
	case AnonymousAllow:
		return true
	case AnonymousDeny:
		return false
	}
	return len(a.Users) == 0
}

// UserConfig is one account; PasswordHash is a bcrypt hash (`lakegate passwd`).
// Admin lets the account use the HTTP admin endpoints (/admin/...) with
// HTTP basic auth; while no account is an admin, those answer loopback
// clients only.
type UserConfig struct {
	Username     string `mapstructure:"username"`
	PasswordHash string `mapstructure:"password_hash"`
	Admin        bool   `mapstructure:"admin"`
}

// ACLRuleConfig allows the clients it applies to (by user name and client
// id; empty means any) to publish and subscribe to topics its filters
// cover. %u and %c in a filter stand for the user name and the client id.
type ACLRuleConfig struct {
	User      string   `mapstructure:"user"`
	ClientID  string   `mapstructure:"client_id"`
	Publish   []string `mapstructure:"publish"`
	Subscribe []string `mapstructure:"subscribe"`
}

// BrokerConfig bounds what clients may do to the broker.
type BrokerConfig struct {
	// Persistence keeps sessions, subscriptions, retained messages and
	// in-flight QoS 1/2 messages in <storage.dir>/_broker/state.db, so they
	// survive a restart.
	Persistence bool `mapstructure:"persistence"`
	// MaxPacketSize is the largest MQTT packet accepted; a larger one ends
	// the connection (MQTT 5: DISCONNECT 0x95).
	MaxPacketSize ByteSize `mapstructure:"max_packet_size"`
	// MaxConnections is how many clients may be connected at once; 0 means no limit.
	MaxConnections int `mapstructure:"max_connections"`
	// ConnectTimeout is how long a new connection has to send its CONNECT.
	ConnectTimeout time.Duration `mapstructure:"connect_timeout"`
	// ReceiveMaximum is how many QoS 1/2 messages a client may have in
	// flight towards the broker.
	ReceiveMaximum int `mapstructure:"receive_maximum"`
	// MaxInflight is how many QoS 1/2 messages the broker holds for one
	// client (in flight or queued while it is offline).
	MaxInflight int `mapstructure:"max_inflight"`
	// PublishRate is PUBLISH packets per second per client; 0 = unlimited.
	PublishRate float64 `mapstructure:"publish_rate"`
	// PublishBurst is how many PUBLISH packets may arrive at once; 0 = the rate.
	PublishBurst int `mapstructure:"publish_burst"`
	// ReadBufferSize is each connection's read buffer: what one read from
	// the socket can take at once.
	ReadBufferSize ByteSize `mapstructure:"read_buffer_size"`
}

// HTTPListenerConfig is the query API endpoint; an empty address disables it.
type HTTPListenerConfig struct {
	Address string `mapstructure:"address"`
}

// StorageConfig places and paces the Parquet store.
type StorageConfig struct {
	Dir                 string           `mapstructure:"dir"`
	TimeColumn          string           `mapstructure:"time_column"`
	Flush               FlushConfig      `mapstructure:"flush"`
	SyncInterval        time.Duration    `mapstructure:"sync_interval"`
	MaxBufferedBytes    ByteSize         `mapstructure:"max_buffered_bytes"`
	Retention           RetentionConfig  `mapstructure:"retention"`
	Compaction          CompactionConfig `mapstructure:"compaction"`
	MaintenanceInterval time.Duration    `mapstructure:"maintenance_interval"`
}

// RetentionConfig says how long rows are kept and how much disk they may use.
type RetentionConfig struct {
	MaxAge       time.Duration          `mapstructure:"max_age"`        // 0 keeps rows forever
	MaxDiskBytes ByteSize               `mapstructure:"max_disk_bytes"` // 0 sets no budget
	Tables       []TableRetentionConfig `mapstructure:"tables"`
}

// TableRetentionConfig overrides the retention age of one table.
type TableRetentionConfig struct {
	Table  string        `mapstructure:"table"`
	MaxAge time.Duration `mapstructure:"max_age"`
}

// CompactionConfig says when small Parquet files of a partition are merged.
type CompactionConfig struct {
	MinFiles int      `mapstructure:"min_files"` // merge when a partition has this many files of about one size; negative turns compaction off
	MaxBytes ByteSize `mapstructure:"max_bytes"` // largest merged file
}

// FlushConfig says when a buffered partition becomes a Parquet file.
type FlushConfig struct {
	MaxRows  int           `mapstructure:"max_rows"`
	MaxBytes ByteSize      `mapstructure:"max_bytes"`
	MaxAge   time.Duration `mapstructure:"max_age"`
}

// PluginsConfig configures the WASM formatter runtime.
type PluginsConfig struct {
	// Dir holds plugin modules: a route's formatter "acme" is Dir/acme.wasm
	// (when no built-in has that id). "" for none.
	Dir      string       `mapstructure:"dir"`
	CacheDir string       `mapstructure:"cache_dir"`
	Limits   LimitsConfig `mapstructure:"limits"`
	// Overrides give single formatters other limits than Limits. A list,
	// not a map by formatter id, because viper lowercases map keys.
	Overrides []FormatterLimitsConfig `mapstructure:"overrides"`
}

// LimitsConfig bounds what one formatter instance may use; zero means the
// runtime's default.
type LimitsConfig struct {
	MemoryPages    uint32        `mapstructure:"memory_pages"`
	CallTimeout    time.Duration `mapstructure:"call_timeout"`
	MaxOutputBytes ByteSize      `mapstructure:"max_output_bytes"`
	MaxRows        int           `mapstructure:"max_rows"`
	Instances      int           `mapstructure:"instances"`
}

// FormatterLimitsConfig overrides plugins.limits for the formatter whose id
// (as routes name it: "json", "acme", "plugin:/path/x.wasm") is Formatter.
// A zero field keeps the plugins.limits value. The limits belong to the
// formatter, not to a route: every route naming it shares its one instance
// pool and these limits.
type FormatterLimitsConfig struct {
	Formatter    string `mapstructure:"formatter"`
	LimitsConfig `mapstructure:",squash"`
}

// FormatterLimits returns the limits the formatter with this id runs
// with: its override's non-zero fields over plugins.limits, over the
// runtime's defaults.
func (p *PluginsConfig) FormatterLimits(id string) plugins.Limits {
	l := p.Limits
	for _, o := range p.Overrides {
		if o.Formatter != id {
			continue
		}
		if o.MemoryPages != 0 {
			l.MemoryPages = o.MemoryPages
		}
		if o.CallTimeout != 0 {
			l.CallTimeout = o.CallTimeout
		}
		if o.MaxOutputBytes != 0 {
			l.MaxOutputBytes = o.MaxOutputBytes
		}
		if o.MaxRows != 0 {
			l.MaxRows = o.MaxRows
		}
		if o.Instances != 0 {
			l.Instances = o.Instances
		}
	}
	return plugins.Limits{
		MemoryPages:    l.MemoryPages,
		CallTimeout:    l.CallTimeout,
		MaxOutputBytes: int(l.MaxOutputBytes),
		MaxRows:        l.MaxRows,
		Instances:      l.Instances,
	}.WithDefaults()
}

// validate reports limits that cannot work, each at its key under prefix
// (e.g. "plugins.limits"). Zero fields are valid: they take the default.
func (l LimitsConfig) validate(prefix string, bad func(key, format string, args ...any)) {
	if l.MemoryPages > plugins.MaxMemoryPages {
		bad(prefix+".memory_pages", "%d is more than the wasm32 maximum of %d (4 GiB)", l.MemoryPages, plugins.MaxMemoryPages)
	}
	if l.CallTimeout < 0 {
		bad(prefix+".call_timeout", "must not be negative")
	}
	if l.MaxOutputBytes < 0 {
		bad(prefix+".max_output_bytes", "must not be negative")
	} else if l.MaxOutputBytes != 0 && (l.MaxOutputBytes < plugins.OutputBytesFloor || l.MaxOutputBytes > plugins.OutputBytesCeiling) {
		bad(prefix+".max_output_bytes", "%d out of range %d..%d (1GiB)", l.MaxOutputBytes, plugins.OutputBytesFloor, plugins.OutputBytesCeiling)
	}
	if l.MaxRows < 0 {
		bad(prefix+".max_rows", "must not be negative")
	}
	if l.Instances < 0 {
		bad(prefix+".instances", "must not be negative")
	}
}

// validatePlugins checks plugins.limits and plugins.overrides.
func (c *Config) validatePlugins(bad func(key, format string, args ...any)) {
	c.Plugins.Limits.validate("plugins.limits", bad)
	used := map[string]bool{}
	for i, r := range c.Routes {
		ids, _ := routeFormatterIDs(i, r) // with the formatters its formats choose
		for _, id := range ids {
			used[id] = true
		}
	}
	seen := map[string]bool{}
	for i, o := range c.Plugins.Overrides {
		key := fmt.Sprintf("plugins.overrides[%d]", i)
		switch {
		case o.Formatter == "":
			bad(key+".formatter", "must not be empty: give the formatter id a route uses")
		case seen[o.Formatter]:
			bad(key+".formatter", "duplicate override for formatter %q", o.Formatter)
		case !used[o.Formatter]:
			bad(key+".formatter", "no route uses formatter %q", o.Formatter)
		}
		seen[o.Formatter] = true
		o.LimitsConfig.validate(key, bad)
	}
}

// RouteConfig sends the messages of matching topics to a formatter and a table.
type RouteConfig struct {
	Topic     string         `mapstructure:"topic"`
	Formatter string         `mapstructure:"formatter"`
	Table     string         `mapstructure:"table"`
	Options   map[string]any `mapstructure:"options"`
	Types     []ColumnType   `mapstructure:"types"`
	// Forward sends the route's rows or payloads on to uplinks too.
	Forward []ForwardConfig `mapstructure:"forward"`

	// TopicColumns lists the topic placeholders stored as string columns
	// on every row of the route, and under which names. Empty: every
	// placeholder the table template does not use, under its own name.
	TopicColumns []TopicColumn `mapstructure:"topic_columns"`
	// NoTopicColumns stores no topic level as a column.
	NoTopicColumns bool `mapstructure:"no_topic_columns"`
	// Formats lets each message choose its payload format and compression,
	// as Machbase Neo does: a topic suffix (db/write/t:csv:gzip) or the
	// MQTT 5 user properties format and compress. Empty: topics and user
	// properties are taken as they are. See README.md, "Topic levels and
	// per-message formats".
	Formats []FormatConfig `mapstructure:"formats"`
	// MaxDecompressedSize caps a gzip payload once decompressed, on a
	// route with Formats; 0 means DefaultMaxDecompressedSize.
	MaxDecompressedSize ByteSize `mapstructure:"max_decompressed_size"`
}

// TopicColumn stores the topic level of one placeholder as a column.
type TopicColumn struct {
	Placeholder string `mapstructure:"placeholder"` // name in the topic pattern, without braces
	Column      string `mapstructure:"column"`      // "" = the placeholder's name
}

// FormatConfig is one payload format a message may choose on a route with
// formats: the name a topic suffix or the format property gives, and the
// formatter (with its own options) that reads that format.
type FormatConfig struct {
	Name string `mapstructure:"name"`
	// Formatter defaults to Name (json for ndjson).
	Formatter string `mapstructure:"formatter"`
	// Options are Formatter's options; the route's options are not used,
	// its types are.
	Options map[string]any `mapstructure:"options"`
}

// ColumnType declares the stored type of one column of a route's rows.
type ColumnType struct {
	Column string `mapstructure:"column"`
	Type   string `mapstructure:"type"`
}

// ByteSize is a size in bytes that config may write as 1048576, "1MiB" or "64KB".
type ByteSize int64

// ParseByteSize reads "123", "64KiB", "32MiB", "1GiB", "10MB" (decimal units are powers of 1000).
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q: want a number of bytes, optionally with KiB, MiB, GiB, KB, MB or GB", s)
	}
	return ByteSize(n * mult), nil
}

// FieldError is a configuration problem at one key.
type FieldError struct {
	Key    string // dotted path, e.g. "routes[1].topic"
	Line   int    // line in the config file, when known
	File   string // config file, when the key came from one
	Reason string
}

func (e *FieldError) Error() string {
	where := e.Key
	if e.Line > 0 {
		where = fmt.Sprintf("%s (%s line %d)", e.Key, e.File, e.Line)
	}
	return fmt.Sprintf("config %s: %s", where, e.Reason)
}

// Validate checks the configuration and reports every problem, each naming its key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &FieldError{Key: key, Reason: fmt.Sprintf(format, args...)})
	}
	if p := c.Runtime.GCPercent; p != -1 && p < 10 {
		bad("runtime.gc_percent", "%d: want 10 or more, or -1 (collect only at runtime.memory_limit)", p)
	}
	if c.Runtime.MemoryLimit < 0 {
		bad("runtime.memory_limit", "must not be negative")
	}
	ids := map[string]bool{}
	for i, l := range c.Listeners.MQTT {
		key := fmt.Sprintf("listeners.mqtt[%d]", i)
		if l.ID == "" {
			bad(key+".id", "must not be empty")
		} else if ids[l.ID] {
			bad(key+".id", "duplicate listener id %q", l.ID)
		}
		ids[l.ID] = true
		if err := checkHostPort(l.Address); err != nil {
			bad(key+".address", "%v", err)
		}
		switch l.Type {
		case "", listen.TypeTCP:
			if l.TLS != nil {
				bad(key+".tls", "tls settings need type tls or ws")
			}
		case listen.TypeTLS, listen.TypeWS:
			if l.TLS == nil && l.Type == listen.TypeTLS {
				bad(key+".tls", "type tls needs tls.cert_file and tls.key_file")
			}
			if l.TLS != nil && (l.TLS.CertFile == "" || l.TLS.KeyFile == "") {
				bad(key+".tls", "needs cert_file and key_file")
			}
		default:
			bad(key+".type", "unknown listener type %q: want one of %v", l.Type, listen.Types)
		}
		if len(l.AllowedOrigins) > 0 && l.Type != listen.TypeWS {
			bad(key+".allowed_origins", "applies to type ws only")
		} else if err := listen.CheckOrigins(l.AllowedOrigins); err != nil {
			bad(key+".allowed_origins", "%v", err)
		}
	}
	c.validateAuth(bad)
	c.Query.validate(bad)
	c.validateLifecycle(bad)
	c.validateForwarding(bad)
	b := c.Broker
	if b.MaxPacketSize < 0 || b.MaxPacketSize > 268435455+5 {
		bad("broker.max_packet_size", "must be between 0 (no limit) and 256MiB, got %d", b.MaxPacketSize)
	}
	if b.MaxConnections < 0 {
		bad("broker.max_connections", "must not be negative")
	}
	if b.ConnectTimeout < 0 {
		bad("broker.connect_timeout", "must not be negative")
	}
	if b.ReceiveMaximum < 1 || b.ReceiveMaximum > 65535 {
		bad("broker.receive_maximum", "must be between 1 and 65535, got %d", b.ReceiveMaximum)
	}
	if b.MaxInflight < 1 || b.MaxInflight > 65535 {
		bad("broker.max_inflight", "must be between 1 and 65535, got %d", b.MaxInflight)
	}
	if b.PublishRate < 0 {
		bad("broker.publish_rate", "must not be negative")
	}
	if b.PublishBurst < 0 {
		bad("broker.publish_burst", "must not be negative")
	}
	if b.ReadBufferSize < 512 || b.ReadBufferSize > 1<<20 {
		bad("broker.read_buffer_size", "must be between 512B and 1MiB, got %d", b.ReadBufferSize)
	}
	if len(c.Listeners.MQTT) == 0 {
		bad("listeners.mqtt", "at least one MQTT listener is needed")
	}
	if a := c.Listeners.HTTP.Address; a != "" {
		if err := checkHostPort(a); err != nil {
			bad("listeners.http.address", "%v", err)
		}
	}
	if c.Storage.Dir == "" {
		bad("storage.dir", "must not be empty")
	}
	if err := rows.CheckColumnName(c.Storage.TimeColumn); err != nil {
		bad("storage.time_column", "%v", err)
	}
	if c.Storage.Flush.MaxRows <= 0 {
		bad("storage.flush.max_rows", "must be positive, got %d", c.Storage.Flush.MaxRows)
	}
	if c.Storage.Flush.MaxBytes <= 0 {
		bad("storage.flush.max_bytes", "must be positive, got %d", c.Storage.Flush.MaxBytes)
	}
	if c.Storage.Flush.MaxAge <= 0 {
		bad("storage.flush.max_age", "must be positive, got %s", c.Storage.Flush.MaxAge)
	}
	if c.Storage.SyncInterval <= 0 {
		bad("storage.sync_interval", "must be positive, got %s", c.Storage.SyncInterval)
	}
	if c.Storage.MaxBufferedBytes <= 0 {
		bad("storage.max_buffered_bytes", "must be positive, got %d", c.Storage.MaxBufferedBytes)
	}
	if c.Storage.MaintenanceInterval <= 0 {
		bad("storage.maintenance_interval", "must be positive, got %s", c.Storage.MaintenanceInterval)
	}
	ret := c.Storage.Retention
	if ret.MaxAge < 0 {
		bad("storage.retention.max_age", "must not be negative")
	}
	if ret.MaxDiskBytes < 0 {
		bad("storage.retention.max_disk_bytes", "must not be negative")
	}
	for i, tr := range ret.Tables {
		key := fmt.Sprintf("storage.retention.tables[%d]", i)
		if err := rows.CheckTableName(tr.Table); err != nil {
			bad(key+".table", "%v", err)
		}
		if tr.MaxAge < 0 {
			bad(key+".max_age", "must not be negative")
		}
	}
	if c.Storage.Compaction.MaxBytes <= 0 {
		bad("storage.compaction.max_bytes", "must be positive, got %d", c.Storage.Compaction.MaxBytes)
	}
	c.validatePlugins(bad)
	if t := c.DeadLetter.Table; t != "" {
		if err := rows.CheckTableName(t); err != nil {
			bad("dead_letter.table", "%v", err)
		} else if strings.HasPrefix(t, "_") {
			bad("dead_letter.table", "%q: table names starting with '_' are reserved", t)
		}
	}
	if t := c.DeadLetter.Topic; t != "" {
		if strings.ContainsAny(t, "+#") || strings.HasPrefix(t, "$") {
			bad("dead_letter.topic", "%q: want a topic name without wildcards, not starting with '$'", t)
		}
	}
	for i, r := range c.Routes {
		key := fmt.Sprintf("routes[%d]", i)
		rt, err := compileRoute(r)
		if err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				fe.Key = key + "." + fe.Key
				errs = append(errs, fe)
			} else {
				bad(key, "%v", err)
			}
			continue
		}
		if col, ok := rt.topicColumn(c.Storage.TimeColumn); ok {
			bad(key+".topic_columns", "placeholder {%s} would be stored as column %q, the time column (storage.time_column): rename it with topic_columns or set no_topic_columns", col.placeholder, col.name)
		}
	}
	return errors.Join(errs...)
}

// validateAuth checks the auth section.
func (c *Config) validateAuth(bad func(key, format string, args ...any)) {
	a := c.Auth
	switch a.AllowAnonymous {
	case AnonymousAuto, AnonymousAllow:
	case AnonymousDeny:
		if len(a.Users) == 0 {
			bad("auth.allow_anonymous", "false with no users: no client could connect")
		}
	default:
		bad("auth.allow_anonymous", "%q: want auto, true or false", a.AllowAnonymous)
	}
	seen := map[string]bool{}
	for i, u := range a.Users {
		key := fmt.Sprintf("auth.users[%d]", i)
		if u.Username == "" {
			bad(key+".username", "must not be empty")
		} else if seen[u.Username] {
			bad(key+".username", "duplicate user %q", u.Username)
		}
		seen[u.Username] = true
		if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			bad(key+".password_hash", "not a bcrypt hash (make one with `lakegate passwd`)")
		}
	}
	for i, r := range a.ACL {
		key := fmt.Sprintf("auth.acl[%d]", i)
		if len(r.Publish) == 0 && len(r.Subscribe) == 0 {
			bad(key, "allows nothing: give publish or subscribe filters")
		}
		for j, f := range r.Publish {
			if err := auth.CheckFilter(f); err != nil {
				bad(fmt.Sprintf("%s.publish[%d]", key, j), "%v", err)
			}
		}
		for j, f := range r.Subscribe {
			if err := auth.CheckFilter(f); err != nil {
				bad(fmt.Sprintf("%s.subscribe[%d]", key, j), "%v", err)
			}
		}
	}
}

func checkHostPort(addr string) error {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return fmt.Errorf("address %q needs a port, e.g. \":1883\"", addr)
	}
	port, err := strconv.Atoi(addr[i+1:])
	if err != nil || port < 0 || port > 65535 {
		return fmt.Errorf("address %q has an invalid port", addr)
	}
	return nil
}
