package gateway

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// TestConfigCases loads every testdata/config/<case>/config.yaml and compares
// the outcome (the decoded config's key facts, or the error) with expected.txt.
func TestConfigCases(t *testing.T) {
	dirs, err := filepath.Glob("testdata/config/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no config cases")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			got := describeLoad(LoadConfig(filepath.Join(dir, "config.yaml")))
			golden := filepath.Join(dir, "expected.txt")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("reading golden file (run with -update to create it): %v", err)
			}
			if got != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func describeLoad(cfg *Config, err error) string {
	if err != nil {
		// Paths differ between machines; keep the file's base name.
		return "error:\n" + strings.ReplaceAll(err.Error(), "testdata/config/", "") + "\n"
	}
	var b strings.Builder
	for i, l := range cfg.Listeners.MQTT {
		fmt.Fprintf(&b, "listeners.mqtt[%d]: id=%s type=%q address=%s", i, l.ID, l.Type, l.Address)
		if l.TLS != nil {
			fmt.Fprintf(&b, " tls=%+v", *l.TLS)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "listeners.http: %q\n", cfg.Listeners.HTTP.Address)
	a := cfg.Auth
	fmt.Fprintf(&b, "auth: allow_anonymous=%s (anonymous allowed: %t) users=%d\n", a.AllowAnonymous, a.AnonymousAllowed(), len(a.Users))
	for i, r := range a.ACL {
		fmt.Fprintf(&b, "auth.acl[%d]: %+v\n", i, r)
	}
	fmt.Fprintf(&b, "broker: %+v\n", cfg.Broker)
	fmt.Fprintf(&b, "storage: dir=%s time_column=%s max_rows=%d max_bytes=%d max_age=%s sync=%s\n",
		cfg.Storage.Dir, cfg.Storage.TimeColumn, cfg.Storage.Flush.MaxRows, cfg.Storage.Flush.MaxBytes,
		cfg.Storage.Flush.MaxAge, cfg.Storage.SyncInterval)
	for i, r := range cfg.Routes {
		opts, _ := routeOptions(r)
		fmt.Fprintf(&b, "routes[%d]: topic=%s formatter=%s table=%q options=%v\n", i, r.Topic, r.Formatter, r.Table, opts)
	}
	return b.String()
}

func TestDefaultConfigIsValid(t *testing.T) {
	cfg, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Storage.Dir != "./data" || cfg.Storage.Flush.MaxAge != 10*time.Second || len(cfg.Routes) != 2 {
		t.Errorf("unexpected default config: %+v", cfg)
	}
	if cfg.Listeners.MQTT[0].Address != ":1883" {
		t.Errorf("default MQTT address = %q", cfg.Listeners.MQTT[0].Address)
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	t.Setenv("LAKEGATE_STORAGE_DIR", "/srv/lake")
	t.Setenv("LAKEGATE_STORAGE_FLUSH_MAX_AGE", "3s")
	cfg, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Storage.Dir != "/srv/lake" || cfg.Storage.Flush.MaxAge != 3*time.Second {
		t.Errorf("env overrides not applied: dir=%q max_age=%s", cfg.Storage.Dir, cfg.Storage.Flush.MaxAge)
	}
	t.Setenv("LAKEGATE_STORAGE_FLUSH_MAX_AGE", "whenever")
	if _, err := LoadConfig(""); err == nil || !strings.Contains(err.Error(), "storage.flush.max_age") {
		t.Errorf("bad env value: got %v, want an error naming storage.flush.max_age", err)
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"0": 0, "512": 512, "64KiB": 64 << 10, "32MiB": 32 << 20, "1GiB": 1 << 30, "10MB": 10_000_000, "7 B": 7} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5MiB", "lots", "MiB"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q) succeeded", in)
		}
	}
}
