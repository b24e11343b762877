package formatters_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lakegate/lakegate/formatters"
	jsonformat "github.com/lakegate/lakegate/formatters/json"
)

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	acme := write("acme-th20.wasm", []byte("acme module"))
	write("json.wasm", []byte("not the built-in"))
	write(".hidden.wasm", []byte("x"))
	write("notes.txt", []byte("x"))
	if err := os.Mkdir(filepath.Join(dir, "sub.wasm"), 0o755); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		id, dir  string
		path     string // "" for the built-in
		module   []byte
		errMatch string
	}{
		{id: "json", dir: dir, module: jsonformat.Module()}, // built-ins win over the directory
		{id: "json", module: jsonformat.Module()},
		{id: "acme-th20", dir: dir, path: acme, module: []byte("acme module")},
		{id: "plugin:" + acme, path: acme, module: []byte("acme module")},
		{id: "plugin:" + acme, dir: dir, path: acme, module: []byte("acme module")},
		{id: "acme-th20", errMatch: `formatter "acme-th20": unknown formatter (built-in: binary, csv, iotdb, json, line; or plugin:PATH.wasm)`},
		{id: "nope", dir: dir, errMatch: `unknown formatter (built-in: binary, csv, iotdb, json, line; in ` + dir + `: acme-th20, json; or plugin:PATH.wasm)`},
		{id: "../" + filepath.Base(dir) + "/acme-th20", dir: dir, errMatch: "unknown formatter"}, // no paths through the directory
		{id: ".hidden", dir: dir, errMatch: "unknown formatter"},
		{id: "sub", dir: dir, errMatch: "is not a regular file"},
		{id: "plugin:" + filepath.Join(dir, "missing.wasm"), errMatch: "no such file"},
		{id: "plugin:", errMatch: "no path after plugin:"},
	}
	for _, c := range cases {
		src, err := formatters.Resolve(c.id, c.dir)
		if c.errMatch != "" {
			if err == nil || !strings.Contains(err.Error(), c.errMatch) {
				t.Errorf("Resolve(%q, %q) = %v, %v; want error containing %q", c.id, c.dir, src, err, c.errMatch)
			}
			continue
		}
		if err != nil {
			t.Errorf("Resolve(%q, %q): %v", c.id, c.dir, err)
			continue
		}
		if src.Path != c.path || src.Builtin() != (c.path == "") || src.ID != c.id {
			t.Errorf("Resolve(%q, %q) = %+v, want path %q", c.id, c.dir, src, c.path)
		}
		b, err := src.Module()
		if err != nil || !bytes.Equal(b, c.module) {
			t.Errorf("Resolve(%q, %q).Module() = %d bytes, %v", c.id, c.dir, len(b), err)
		}
	}
	_, err := formatters.Resolve("nope", "")
	if !errors.Is(err, formatters.ErrUnknown) {
		t.Errorf("unknown id: %v does not wrap ErrUnknown", err)
	}

	ids, err := formatters.PluginIDs(dir)
	if err != nil || !slices.Equal(ids, []string{"acme-th20", "json"}) {
		t.Errorf("PluginIDs = %v, %v", ids, err)
	}

	// A file removed between Resolve and Module: the error names it.
	src, err := formatters.Resolve("acme-th20", dir)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(acme)
	if _, err := src.Module(); err == nil || !strings.Contains(err.Error(), acme) {
		t.Errorf("Module after removal: %v", err)
	}
}
