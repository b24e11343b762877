package jsonformat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lakegate/lakegate/arrowstore/rows"
	jsonformat "github.com/lakegate/lakegate/formatters/json"
	"github.com/lakegate/lakegate/plugins"
	"github.com/lakegate/lakegate/plugins/plugintest"
	"github.com/lakegate/lakegate/sdk-plugin/go/wasmbuild"
)

var update = flag.Bool("update", false, "rewrite the expected.json files of testdata/<case>/")

// received is the receive time of every test message; rows without a time
// of their own carry it.
var received = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

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

// caseConfig is a case's options.yaml: the route and the message's topic.
type caseConfig struct {
	Table   string           `yaml:"table"`
	Topic   string           `yaml:"topic"`
	Options []plugins.Option `yaml:"options"`
}

// TestCases runs every testdata/<case>/payload.json through the real
// module and runtime and compares the rows (or the error) with
// expected.json. Run with -update to rewrite the expected files.
func TestCases(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "*", "payload.json"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, p := range dirs {
		dir := filepath.Dir(p)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			payload, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			cfg := caseConfig{Table: "sensors", Topic: "sensors/d1/data"}
			if b, err := os.ReadFile(filepath.Join(dir, "options.yaml")); err == nil {
				if err := yaml.Unmarshal(b, &cfg); err != nil {
					t.Fatalf("options.yaml: %v", err)
				}
			}
			msg := &rows.Message{Topic: cfg.Topic, Payload: payload, ProtocolVersion: 5, Received: received}
			rs, err := formatter.Format(context.Background(), msg, &plugins.Route{Table: cfg.Table, Options: cfg.Options})
			got := render(t, rs, err)
			want := filepath.Join(dir, "expected.json")
			if *update {
				if err := os.WriteFile(want, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			exp, err := os.ReadFile(want)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, exp) {
				t.Errorf("output differs from %s (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", want, got, exp)
			}
		})
	}
}

type renderedColumn struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	Value any    `json:"value"`
}

type renderedRow struct {
	Table   string           `json:"table"`
	Time    string           `json:"time"`
	Columns []renderedColumn `json:"columns"`
}

type renderedError struct {
	Reason string `json:"reason"`
	Text   string `json:"text"`
}

func render(t *testing.T, rs []rows.Row, err error) []byte {
	t.Helper()
	var doc struct {
		Rows  []renderedRow  `json:"rows,omitempty"`
		Error *renderedError `json:"error,omitempty"`
	}
	if err != nil {
		var pe *plugins.Error
		if !errors.As(err, &pe) {
			t.Fatalf("error %v is not a *plugins.Error", err)
		}
		if (pe.Reason == plugins.ReasonMalformed) != errors.Is(err, rows.ErrMalformedPayload) {
			t.Fatalf("reason %s and sentinel disagree", pe.Reason)
		}
		doc.Error = &renderedError{Reason: pe.Reason.String(), Text: pe.Text}
	}
	for _, r := range rs {
		rr := renderedRow{Table: r.Table, Time: time.Unix(0, r.Time).UTC().Format(time.RFC3339Nano), Columns: []renderedColumn{}}
		for _, c := range r.Columns {
			rc := renderedColumn{Name: c.Name, Kind: c.Value.Kind.String()}
			switch c.Value.Kind {
			case rows.KindInt64:
				rc.Value = c.Value.Int
			case rows.KindFloat64:
				rc.Value = c.Value.Float
			case rows.KindBool:
				rc.Value = c.Value.AsBool()
			case rows.KindString:
				rc.Value = c.Value.Str
			case rows.KindBytes:
				rc.Value = c.Value.Bytes
			case rows.KindTimestamp:
				rc.Value = time.Unix(0, c.Value.Int).UTC().Format(time.RFC3339Nano)
			}
			rr.Columns = append(rr.Columns, rc)
		}
		doc.Rows = append(doc.Rows, rr)
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// TestEmbeddedWasmIsCurrent rebuilds json.wasm from its source and fails
// if the committed module differs: run go generate ./formatters/json after
// changing the formatter, the SDK or the Go toolchain.
func TestEmbeddedWasmIsCurrent(t *testing.T) {
	if _, err := wasmbuild.GoTool(); err != nil {
		if os.Getenv("LAKEGATE_REQUIRE_TOOLCHAINS") == "1" {
			t.Fatalf("LAKEGATE_REQUIRE_TOOLCHAINS=1 but %v", err)
		}
		t.Skipf("cannot check json.wasm against its source: %v", err)
	}
	out := filepath.Join(t.TempDir(), "json.wasm")
	if err := wasmbuild.Build(context.Background(), ".", "./guest", out); err != nil {
		t.Fatal(err)
	}
	fresh, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, jsonformat.Module()) {
		t.Fatalf("json.wasm (%d bytes) differs from a fresh build (%d bytes) of ./guest: run go generate ./formatters/json",
			len(jsonformat.Module()), len(fresh))
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
