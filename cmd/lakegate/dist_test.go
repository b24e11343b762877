package main

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/lakegate/lakegate/gateway"
)

// The sample production config is valid as shipped and locked down: no
// anonymous clients, ACLs, persistent broker state, a disk budget.
func TestProductionConfigIsValid(t *testing.T) {
	cfg, err := gateway.LoadConfig("dist/production.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gateway.New(cfg, gateway.Options{}); err != nil {
		t.Fatalf("production.yaml: %v", err)
	}
	if cfg.Auth.AnonymousAllowed() {
		t.Error("production.yaml allows anonymous clients")
	}
	if len(cfg.Auth.ACL) == 0 || !cfg.Broker.Persistence || cfg.Storage.Retention.MaxDiskBytes == 0 {
		t.Errorf("production.yaml: acl %d rules, persistence %v, disk budget %d", len(cfg.Auth.ACL), cfg.Broker.Persistence, cfg.Storage.Retention.MaxDiskBytes)
	}
	// The placeholder hashes are what the comment says they are.
	for _, u := range cfg.Auth.Users {
		if err := bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte("change-me")); err != nil {
			t.Errorf("user %s: the hash is not of the documented placeholder: %v", u.Username, err)
		}
	}
	if !strings.HasPrefix(cfg.Listeners.HTTP.Address, "127.0.0.1:") {
		t.Errorf("HTTP API on %q, want loopback", cfg.Listeners.HTTP.Address)
	}
}

// The systemd unit runs the binary the way the README says, with the
// hardening options, and gives a graceful shutdown the time the sample
// config allows it.
func TestSystemdUnit(t *testing.T) {
	f, err := os.Open("dist/lakegate.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	unit := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("unit line %q: not key=value", line)
		}
		unit[k] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"ExecStart":               "/usr/local/bin/lakegate serve --config /etc/lakegate/lakegate.yaml",
		"ExecReload":              "/bin/kill -HUP $MAINPID",
		"User":                    "lakegate",
		"StateDirectory":          "lakegate",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"CapabilityBoundingSet":   "",
	}
	for k, v := range want {
		if got, ok := unit[k]; !ok || got != v {
			t.Errorf("%s=%q, want %q", k, got, v)
		}
	}
	if _, ok := unit["MemoryDenyWriteExecute"]; ok {
		t.Error("MemoryDenyWriteExecute would stop wazero compiling plugins")
	}
	// The serve command and flag the unit uses exist.
	if _, _, err := newRootCommand(nil, nil).Find([]string{"serve", "--config", "x"}); err != nil {
		t.Errorf("ExecStart's command: %v", err)
	}
	stop, err := time.ParseDuration(unit["TimeoutStopSec"])
	if err != nil {
		t.Fatalf("TimeoutStopSec: %v", err)
	}
	cfg, err := gateway.LoadConfig("dist/production.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if stop <= cfg.ShutdownTimeout {
		t.Errorf("TimeoutStopSec %v does not leave room for shutdown_timeout %v", stop, cfg.ShutdownTimeout)
	}
}
