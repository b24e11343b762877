// Package formattertest holds the checks every built-in formatter folder
// runs: its golden cases through the real runtime, its sample
// configuration against its README and the gateway's option flattening,
// and its committed .wasm against a fresh build. One copy keeps the
// folders alike (the JSON formatter predates it and keeps its own).
package formattertest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/lakegate/lakegate/plugins"
	"github.com/lakegate/lakegate/plugins/plugintest"
	"github.com/lakegate/lakegate/sdk-plugin/go/wasmbuild"
)

// Main loads module once for the test binary (compiled once, cached on
// disk for later runs), stores it in *f, runs the tests and exits.
func Main(m *testing.M, id string, module []byte, f **plugins.Formatter) {
	ctx := context.Background()
	r, err := plugins.NewRuntime(ctx, plugins.RuntimeOptions{CacheDir: plugintest.CacheDir()})
	if err == nil {
		*f, err = r.Load(ctx, id, module, plugins.Limits{Instances: 2, MaxRows: 1000})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := r.Close(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

// EmbeddedWasmIsCurrent rebuilds ./guest of the current directory into
// name and fails if module (the committed file) differs.
func EmbeddedWasmIsCurrent(t *testing.T, name string, module []byte) {
	t.Helper()
	if _, err := wasmbuild.GoTool(); err != nil {
		if os.Getenv("LAKEGATE_REQUIRE_TOOLCHAINS") == "1" {
			t.Fatalf("LAKEGATE_REQUIRE_TOOLCHAINS=1 but %v", err)
		}
		t.Skipf("cannot check %s against its source: %v", name, err)
	}
	out := filepath.Join(t.TempDir(), name)
	if err := wasmbuild.Build(context.Background(), ".", "./guest", out); err != nil {
		t.Fatal(err)
	}
	fresh, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, module) {
		t.Fatalf("%s (%d bytes) differs from a fresh build (%d bytes) of ./guest: run go generate in its folder",
			name, len(module), len(fresh))
	}
}

// SampleConfig checks that README.md shows sample verbatim in a ```yaml
// block and that f accepts each of its routes as the gateway would pass
// them (options sorted by key, lists comma-joined, types as type.<column>).
func SampleConfig(t *testing.T, f *plugins.Formatter, id, sample string) {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```yaml\n"+sample+"```\n") {
		t.Fatal("README.md does not show sample.yaml verbatim in a ```yaml block")
	}
	var cfg struct {
		Routes []struct {
			Formatter string         `yaml:"formatter"`
			Table     string         `yaml:"table"`
			Options   map[string]any `yaml:"options"`
			Types     []struct {
				Column string `yaml:"column"`
				Type   string `yaml:"type"`
			} `yaml:"types"`
		} `yaml:"routes"`
	}
	if err := yaml.Unmarshal([]byte(sample), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Routes) == 0 {
		t.Fatal("sample has no routes")
	}
	for i, r := range cfg.Routes {
		if r.Formatter != id {
			t.Errorf("route %d: formatter %q", i, r.Formatter)
		}
		keys := make([]string, 0, len(r.Options))
		for k := range r.Options {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var opts []plugins.Option
		for _, k := range keys {
			opts = append(opts, plugins.Option{Key: k, Value: optionString(r.Options[k])})
		}
		for _, ty := range r.Types {
			opts = append(opts, plugins.Option{Key: "type." + ty.Column, Value: ty.Type})
		}
		if err := f.CheckRoute(context.Background(), &plugins.Route{Table: r.Table, Options: opts}); err != nil {
			t.Errorf("route %d: %v", i, err)
		}
	}
}

// optionString flattens a YAML option value as the gateway does: scalars
// as text, lists comma-joined.
func optionString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []any:
		s := make([]string, len(x))
		for i, e := range x {
			s[i] = optionString(e)
		}
		return strings.Join(s, ",")
	}
	return fmt.Sprint(v)
}
