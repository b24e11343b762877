package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jsonformat "github.com/lakegate/lakegate/formatters/json"
	"github.com/lakegate/lakegate/plugins/plugintest"
)

// runPlugin runs `lakegate plugin ARGS... --cache-dir <shared test cache>`
// with stdin.
func runPlugin(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCommand(&out, &errOut)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(append(append([]string{"plugin"}, args...), "--cache-dir", plugintest.CacheDir()))
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPluginTestCommand(t *testing.T) {
	wasm := writeFile(t, "mine.wasm", jsonformat.Module()) // a plugin file, not the built-in
	payload := writeFile(t, "p.json", []byte(`{"ts":1700000000000,"device":"d1","temp":21.5,"ok":true,"n":null}`))

	out, err := runPlugin(t, "", "test", wasm, "--topic", "sensors/d1", "--payload", payload, "--table", "sensors", "-o", "time_format=ms")
	if err != nil {
		t.Fatal(err)
	}
	want := `ROW  TABLE    TIME                  COLUMN  TYPE     VALUE
1    sensors  2023-11-14T22:13:20Z  device  string   "d1"
1    sensors  2023-11-14T22:13:20Z  temp    float64  21.5
1    sensors  2023-11-14T22:13:20Z  ok      bool     true
1    sensors  2023-11-14T22:13:20Z  n       null     NULL
1 row(s)
`
	if out != want {
		t.Errorf("table output:\n%s\nwant:\n%s", out, want)
	}

	out, err = runPlugin(t, `[{"ts":1700000000000,"v":1},{"ts":1700000001000,"v":2}]`, "test", "json", "--topic", "t", "--payload", "-", "--format", "jsonl")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("jsonl output %q", out)
	}
	var row struct {
		Table, Time string
		Columns     []struct {
			Name, Type string
			Value      any
		}
	}
	if err := json.Unmarshal([]byte(lines[1]), &row); err != nil {
		t.Fatal(err)
	}
	if row.Table != "data" || row.Time != "2023-11-14T22:13:21Z" || len(row.Columns) != 1 ||
		row.Columns[0].Name != "v" || row.Columns[0].Type != "float64" || row.Columns[0].Value != 2.0 {
		t.Errorf("second row %+v", row)
	}

	for _, c := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"{bad", []string{"json", "--topic", "t", "--payload", "-"}, `formatter json: malformed payload: line 1 col 2`},
		{"{}", []string{"json", "--topic", "t", "--payload", "-", "-o", "time_fromat=ms"}, `route options: formatter json failed (guest_error): unknown option "time_fromat"`},
		{"{}", []string{"json", "--topic", "t", "--payload", "-", "-o", "novalue"}, `--option "novalue": want KEY=VALUE`},
		{"{}", []string{"json", "--topic", "t", "--payload", "-", "--format", "xml"}, `--format "xml"`},
		{"{}", []string{"nope", "--topic", "t", "--payload", "-"}, `formatter "nope": unknown formatter`},
		{"{}", []string{"json", "--payload", "-"}, `required flag(s) "topic" not set`},
	} {
		_, err := runPlugin(t, c.stdin, append([]string{"test"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("plugin test %v: %v, want an error containing %q", c.args, err, c.want)
		}
	}
}

// noABIModule is (module (memory (export "memory") 1)): valid WebAssembly
// without the lakegate exports.
var noABIModule = []byte{0, 'a', 's', 'm', 1, 0, 0, 0,
	5, 3, 1, 0, 1,
	7, 10, 1, 6, 'm', 'e', 'm', 'o', 'r', 'y', 2, 0}

func TestPluginCheckCommand(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "acme.wasm"), jsonformat.Module(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"json"},
		{filepath.Join(dir, "acme.wasm"), "-o", "time_format=ms"},
		{"acme", "--dir", dir},
	} {
		out, err := runPlugin(t, "", append([]string{"check"}, args...)...)
		if err != nil || !strings.Contains(out, ": ok: lakegate ABI version 1, ") {
			t.Errorf("plugin check %v: %q, %v", args, out, err)
		}
	}
	for _, c := range []struct {
		module []byte
		want   string
	}{
		{noABIModule, "module does not export lakegate_abi_version"},
		{[]byte("not wasm"), "not a WebAssembly"},
	} {
		_, err := runPlugin(t, "", "check", writeFile(t, "bad.wasm", c.module))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("plugin check of a bad module: %v, want an error containing %q", err, c.want)
		}
	}
}
