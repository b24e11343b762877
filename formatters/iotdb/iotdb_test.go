package iotdbformat_test

import (
	"flag"
	"testing"

	"github.com/lakegate/lakegate/formatters/internal/formattertest"
	iotdbformat "github.com/lakegate/lakegate/formatters/iotdb"
	"github.com/lakegate/lakegate/plugins"
	"github.com/lakegate/lakegate/plugins/plugintest"
)

var update = flag.Bool("update", false, "rewrite the expected.json files of testdata/<case>/")

var formatter *plugins.Formatter

func TestMain(m *testing.M) {
	flag.Parse()
	formattertest.Main(m, iotdbformat.ID, iotdbformat.Module(), &formatter)
}

// TestCases runs every testdata/<case>/payload.json through the real
// module and runtime and compares the rows (or the error) with
// expected.json. Run with -update to rewrite the expected files.
func TestCases(t *testing.T) {
	plugintest.RunCases(t, formatter, "testdata", plugintest.CaseConfig{Table: "iotdb", Topic: "iotdb/root.sg.d1"}, *update)
}

// TestEmbeddedWasmIsCurrent rebuilds iotdb.wasm from its source and fails
// if the committed module differs: run go generate ./formatters/iotdb
// after changing the formatter, the SDK or the Go toolchain.
func TestEmbeddedWasmIsCurrent(t *testing.T) {
	formattertest.EmbeddedWasmIsCurrent(t, "iotdb.wasm", iotdbformat.Module())
}

// TestSampleConfig checks that the README shows the embedded sample
// configuration and that the module accepts its routes.
func TestSampleConfig(t *testing.T) {
	formattertest.SampleConfig(t, formatter, iotdbformat.ID, iotdbformat.SampleConfig)
}
