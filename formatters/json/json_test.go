package jsonformat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	jsonformat "github.com/lakegate/lakegate/formatters/json"
	"github.com/lakegate/lakegate/plugins"
	"github.com/lakegate/lakegate/plugins/plugintest"
	"github.com/lakegate/lakegate/sdk-plugin/rust/cargobuild"
)

var update = flag.Bool("update", false, "rewrite the expected.json files of testdata/<case>/")

// formatter is loaded once per test binary: the module is compiled once
// (and found in the shared on-disk cache by later runs).
var formatter *plugins.Formatter

func TestMain(m *testing.M) {
	flag.Parse()
	ctx := context.Background()
	r, err := plugins.NewRuntime(ctx, plugins.RuntimeOptions{CacheDir: plugintest.CacheDir()})
	if err == nil {
		formatter, err = r.Load(ctx, jsonformat.ID, jsonformat.Module(), plugins.Limits{Instances: 2, MaxRows: 1000})
	}
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	code := m.Run()
	if err := r.Close(ctx); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		code = 1
	}
	os.Exit(code)
}

// TestCases runs every testdata/<case>/payload.json through the real
// module and runtime and compares the rows (or the error) with
// expected.json. Run with -update to rewrite the expected files.
func TestCases(t *testing.T) {
	plugintest.RunCases(t, formatter, "testdata", plugintest.CaseConfig{Table: "sensors", Topic: "sensors/d1/data"}, *update)
}

// TestEmbeddedWasmIsCurrent rebuilds json.wasm from rust/ and fails if the
// committed module differs: run go generate ./formatters/json after
// changing the formatter, the Rust SDK or the Rust toolchain (Debian's
// rustc, which cargobuild uses).
//
// The bytes depend on the rustc version too: with another one than
// rust/rustc-version names (a newer Debian, say) the test says so and
// skips rather than fail everyone's test run, unless
// LAKEGATE_REQUIRE_TOOLCHAINS=1 (CI, whose rustc is the one named).
func TestEmbeddedWasmIsCurrent(t *testing.T) {
	loadRust(t) // skips without the Rust toolchain (fails under LAKEGATE_REQUIRE_TOOLCHAINS=1)
	ctx := context.Background()
	tc, err := cargobuild.Find(ctx)
	if err != nil {
		t.Fatal(err)
	}
	have, err := tc.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("rust/rustc-version")
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.TrimSpace(string(want)); have != w {
		msg := fmt.Sprintf("json.wasm was built with %s, this machine has %s: not comparing (go generate ./formatters/json rebuilds it with this one)", w, have)
		if os.Getenv("LAKEGATE_REQUIRE_TOOLCHAINS") == "1" {
			t.Fatal("LAKEGATE_REQUIRE_TOOLCHAINS=1 but " + msg)
		}
		t.Skip(msg)
	}
	if !bytes.Equal(rustWasm, jsonformat.Module()) {
		t.Fatalf("json.wasm (%d bytes) differs from a fresh build (%d bytes) of ./rust: run go generate ./formatters/json",
			len(jsonformat.Module()), len(rustWasm))
	}
}

// TestSampleConfig checks that the README shows the embedded sample
// configuration and that the module accepts its routes.
func TestSampleConfig(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```yaml\n"+jsonformat.SampleConfig+"```\n") {
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
	if err := yaml.Unmarshal([]byte(jsonformat.SampleConfig), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Routes) == 0 {
		t.Fatal("sample has no routes")
	}
	for i, r := range cfg.Routes {
		if r.Formatter != jsonformat.ID {
			t.Errorf("route %d: formatter %q", i, r.Formatter)
		}
		// The gateway passes options in key order and types as type.<column>.
		var opts []plugins.Option
		keys := make([]string, 0, len(r.Options))
		for k := range r.Options {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			opts = append(opts, plugins.Option{Key: k, Value: toString(r.Options[k])})
		}
		for _, ty := range r.Types {
			opts = append(opts, plugins.Option{Key: "type." + ty.Column, Value: ty.Type})
		}
		if err := formatter.CheckRoute(context.Background(), &plugins.Route{Table: r.Table, Options: opts}); err != nil {
			t.Errorf("route %d: %v", i, err)
		}
	}
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}
