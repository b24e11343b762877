package gateway_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lakegate/lakegate/gateway"
)

// A route option its formatter does not know stops the start with the
// route's key and line, for a route's own formatter and for a
// per-message format's; the same file fixed starts.
func TestRouteOptionsCheckedAtStart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lakegate.yaml")
	bad := `listeners:
  mqtt: [{id: tcp, address: "127.0.0.1:0"}]
  http: {address: "127.0.0.1:0"}
storage: {dir: ` + filepath.Join(dir, "data") + `}
routes:
  - topic: a/{table}
    formatter: csv
    table: "{table}"
    options: {heder: false}
  - topic: db/write/{table}
    formatter: json
    table: "{table}"
    formats:
      - {name: csv, options: {colums: [name, time, value]}}
`
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := gateway.LoadConfig(path)
	if err != nil {
		t.Fatal(err) // the options are the formatter's business: loading is fine
	}
	gw, err := gateway.New(cfg, gateway.Options{Logger: testLogger(t), CompilationCacheDir: wasmCache})
	if err != nil {
		t.Fatal(err)
	}
	err = gw.Start(context.Background())
	if err == nil {
		gw.Close()
		t.Fatal("started with unknown route options")
	}
	gw.Close()
	for _, want := range []string{
		`config routes[0].options (` + path + ` line 9): formatter csv refuses the route`, `unknown option "heder"`,
		`config routes[1].formats (` + path + ` line 13): formatter csv refuses the route`, `unknown option "colums"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("start error %q\nlacks %q", err, want)
		}
	}

	fixed := strings.NewReplacer("heder: false", "header: true", "colums", "columns").Replace(bad)
	if err := os.WriteFile(path, []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err = gateway.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	gw, err = gateway.New(cfg, gateway.Options{Logger: testLogger(t), CompilationCacheDir: wasmCache, ConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Start(context.Background()); err != nil {
		t.Fatalf("fixed config: %v", err)
	}
	defer gw.Close()

	// A reload with a bad option is refused and changes nothing.
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := gw.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), `unknown option "heder"`) {
		t.Fatalf("reload with a bad option: %v", err)
	}
}
