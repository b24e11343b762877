package gateway

import (
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lakegate/lakegate/arrowstore/rows"
)

//go:embed default.yaml
var defaultConfigYAML []byte

// DefaultConfigYAML returns the embedded default configuration, the one the
// gateway runs with when no file is given.
func DefaultConfigYAML() []byte { return append([]byte(nil), defaultConfigYAML...) }

// Config is the whole gateway configuration as decoded from YAML.
type Config struct {
	Listeners ListenersConfig `mapstructure:"listeners"`
	Storage   StorageConfig   `mapstructure:"storage"`
	Plugins   PluginsConfig   `mapstructure:"plugins"`
	Routes    []RouteConfig   `mapstructure:"routes"`
}

// ListenersConfig lists the network endpoints.
type ListenersConfig struct {
	MQTT []MQTTListenerConfig `mapstructure:"mqtt"`
	HTTP HTTPListenerConfig   `mapstructure:"http"`
}

// MQTTListenerConfig is one MQTT listener.
type MQTTListenerConfig struct {
	ID      string `mapstructure:"id"`
	Address string `mapstructure:"address"`
}

// HTTPListenerConfig is the query API endpoint; an empty address disables it.
type HTTPListenerConfig struct {
	Address string `mapstructure:"address"`
}

// StorageConfig places and paces the Parquet store.
type StorageConfig struct {
	Dir          string        `mapstructure:"dir"`
	TimeColumn   string        `mapstructure:"time_column"`
	Flush        FlushConfig   `mapstructure:"flush"`
	SyncInterval time.Duration `mapstructure:"sync_interval"`
}

// FlushConfig says when a buffered partition becomes a Parquet file.
type FlushConfig struct {
	MaxRows  int           `mapstructure:"max_rows"`
	MaxBytes ByteSize      `mapstructure:"max_bytes"`
	MaxAge   time.Duration `mapstructure:"max_age"`
}

// PluginsConfig configures the WASM formatter runtime.
type PluginsConfig struct {
	CacheDir string       `mapstructure:"cache_dir"`
	Limits   LimitsConfig `mapstructure:"limits"`
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

// RouteConfig sends the messages of matching topics to a formatter and a table.
type RouteConfig struct {
	Topic     string         `mapstructure:"topic"`
	Formatter string         `mapstructure:"formatter"`
	Table     string         `mapstructure:"table"`
	Options   map[string]any `mapstructure:"options"`
	Types     []ColumnType   `mapstructure:"types"`
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
	lim := c.Plugins.Limits
	if lim.CallTimeout < 0 {
		bad("plugins.limits.call_timeout", "must not be negative")
	}
	if lim.MaxOutputBytes < 0 {
		bad("plugins.limits.max_output_bytes", "must not be negative")
	}
	if lim.MaxRows < 0 {
		bad("plugins.limits.max_rows", "must not be negative")
	}
	if lim.Instances < 0 {
		bad("plugins.limits.instances", "must not be negative")
	}
	for i, r := range c.Routes {
		key := fmt.Sprintf("routes[%d]", i)
		if _, err := compileRoute(r); err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				fe.Key = key + "." + fe.Key
				errs = append(errs, fe)
			} else {
				bad(key, "%v", err)
			}
		}
	}
	return errors.Join(errs...)
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
