package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/crypto/bcrypt"

	"github.com/lakegate/lakegate/gateway"
	"github.com/lakegate/lakegate/gateway/auth"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCommand(&out, &errOut)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// startGateway starts a gateway from cfg for the test and closes it at the end.
func startGateway(t *testing.T, cfg *gateway.Config, opts gateway.Options) *gateway.Gateway {
	t.Helper()
	gw, err := gateway.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	return gw
}

func TestVersionAndDefaultConfig(t *testing.T) {
	out, err := run(t, "version")
	if err != nil || !strings.HasPrefix(out, "lakegate ") {
		t.Errorf("version: %q, %v", out, err)
	}
	out, err = run(t, "default-config")
	if err != nil || !strings.Contains(out, "db/write/{table}") {
		t.Errorf("default-config: %q, %v", out, err)
	}
}

func TestServeRefusesBadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("storage:\n  flush:\n    max_age: soon\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := run(t, "--config", path, "serve")
	if err == nil || !strings.Contains(err.Error(), "storage.flush.max_age") || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("got %v, want an error naming storage.flush.max_age at line 3", err)
	}
}

// TestQueryCommand publishes with the bench's raw MQTT client and reads the
// rows back with `lakegate query` in each output format.
func TestQueryCommand(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "lakegate.yaml")
	cfgText := fmt.Sprintf("listeners:\n  mqtt: [{id: tcp, address: \"127.0.0.1:0\"}]\n  http: {address: \"127.0.0.1:0\"}\nstorage: {dir: %q}\n", filepath.Join(dir, "data"))
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := gateway.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	gw := startGateway(t, cfg, gateway.Options{})

	c, err := dialBench(gw.MQTTAddrs()[0], "cli-test")
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	for i, p := range []string{
		`{"ts":1700000000000,"device":"d1","temp":21.5}`,
		`{"ts":1700000001000,"device":"d2","temp":22.5}`,
	} {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "db/write/sensors", PacketID: uint16(i + 1), Payload: []byte(p)}
		var buf bytes.Buffer
		if err := pk.PublishEncode(&buf); err != nil {
			t.Fatal(err)
		}
		if _, err := c.conn.Write(buf.Bytes()); err != nil {
			t.Fatal(err)
		}
		ack := make([]byte, 4)
		_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c.r, ack); err != nil || ack[0] != 0x40 {
			t.Fatalf("PUBACK: % x %v", ack, err)
		}
	}

	server := "http://" + gw.HTTPAddr()
	for _, tc := range []struct{ format, want string }{
		{"table", "ts                        device  temp\n2023-11-14T22:13:21.000Z  d2      22.5\n2023-11-14T22:13:20.000Z  d1      21.5\n(2 rows"},
		{"csv", "ts,device,temp\n2023-11-14T22:13:21.000Z,d2,22.5\n2023-11-14T22:13:20.000Z,d1,21.5\n"},
		{"json", `"rows":[["2023-11-14T22:13:21.000Z","d2",22.5],["2023-11-14T22:13:20.000Z","d1",21.5]]`},
	} {
		out, err := run(t, "query", "--server", server, "--format", tc.format, "SELECT * FROM sensors ORDER BY ts DESC")
		if err != nil || !strings.Contains(out, tc.want) {
			t.Errorf("query --format %s:\n%s\nerr %v\nwant it to contain:\n%s", tc.format, out, err, tc.want)
		}
	}
	if _, err := run(t, "query", "--server", server, "SELECT nope FROM sensors"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("bad column: got %v, want an error naming the column", err)
	}
}

func TestServerURL(t *testing.T) {
	for in, want := range map[string]string{":5654": "http://127.0.0.1:5654", "0.0.0.0:80": "http://127.0.0.1:80", "[::1]:9": "http://[::1]:9", "gw.local:5654": "http://gw.local:5654"} {
		if got, err := serverURL(in); err != nil || got != want {
			t.Errorf("serverURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := serverURL(""); err == nil {
		t.Error("empty address accepted")
	}
}

// TestBenchRuns drives a very short bench to check the command works end to
// end; it asserts nothing about speed.
func TestBenchRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	out, err := run(t, "bench", "--duration", "200ms", "--warmup", "100ms", "--rounds", "2", "--publishers", "2", "--window", "4")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"after 100ms of warm-up, 2 rounds", "bare msg/s", "gateway/bare", "ratio range", "gateway stored"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "gateway stored 0 rows") {
		t.Errorf("bench stored nothing:\n%s", out)
	}
}

// TestCLICallsWithAccount: against a gateway with accounts, query, status
// and export with --server authenticate as --user with LAKEGATE_PASSWORD,
// and say why when they cannot.
func TestCLICallsWithAccount(t *testing.T) {
	dir := t.TempDir()
	hash, err := auth.HashPassword([]byte("analyst-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := gateway.ParseConfig("cli-auth", []byte(fmt.Sprintf(`
listeners:
  mqtt: [{id: tcp, address: "127.0.0.1:0"}]
  http: {address: "127.0.0.1:0"}
storage: {dir: %q}
auth:
  users: [{username: analyst, password_hash: %q}]
`, filepath.Join(dir, "data"), hash)))
	if err != nil {
		t.Fatal(err)
	}
	gw := startGateway(t, cfg, gateway.Options{})
	server := "http://" + gw.HTTPAddr()
	out := filepath.Join(dir, "out.parquet")

	t.Setenv("LAKEGATE_PASSWORD", "")
	if _, err := run(t, "query", "--server", server, "SHOW TABLES"); err == nil || !strings.Contains(err.Error(), "needs HTTP basic auth") || !strings.Contains(err.Error(), "LAKEGATE_PASSWORD") {
		t.Errorf("query without an account: %v, want the need for an account and how to give one", err)
	}
	t.Setenv("LAKEGATE_PASSWORD", "wrong")
	if _, err := run(t, "status", "--server", server, "--user", "analyst"); err == nil || !strings.Contains(err.Error(), "bad user name or password") {
		t.Errorf("status with a wrong password: %v", err)
	}
	t.Setenv("LAKEGATE_PASSWORD", "analyst-pw")
	if o, err := run(t, "query", "--server", server, "--user", "analyst", "SHOW TABLES"); err != nil {
		t.Errorf("query as analyst: %v (%s)", err, o)
	}
	if o, err := run(t, "status", "--server", server, "--user", "analyst"); err != nil || !strings.Contains(o, "ready") {
		t.Errorf("status as analyst: %v (%s)", err, o)
	}
	// No table yet: the export is let in and refused for that reason.
	if _, err := run(t, "export", "--server", server, "--user", "analyst", "--table", "none", "-o", out); err == nil || strings.Contains(err.Error(), "LAKEGATE_PASSWORD") || !strings.Contains(err.Error(), "none") {
		t.Errorf("export as analyst: %v, want a no-such-table error", err)
	}
}
