package binaryformat_test

import (
	"flag"
	"testing"

	binaryformat "github.com/lakegate/lakegate/formatters/binary"
	"github.com/lakegate/lakegate/formatters/internal/formattertest"
	"github.com/lakegate/lakegate/plugins"
	"github.com/lakegate/lakegate/plugins/plugintest"
)

var update = flag.Bool("update", false, "rewrite the expected.json files of testdata/<case>/")

var formatter *plugins.Formatter

func TestMain(m *testing.M) {
	flag.Parse()
	formattertest.Main(m, binaryformat.ID, binaryformat.Module(), &formatter)
}

// TestCases runs every testdata/<case>/payload.json through the real
// module and runtime and compares the rows (or the error) with
// expected.json. Run with -update to rewrite the expected files.
func TestCases(t *testing.T) {
	plugintest.RunCases(t, formatter, "testdata", plugintest.CaseConfig{Table: "frames", Topic: "frames/d1"}, *update)
}

// TestEmbeddedWasmIsCurrent rebuilds binary.wasm from its source and fails
// if the committed module differs: run go generate ./formatters/binary
// after changing the formatter, the SDK or the Go toolchain.
func TestEmbeddedWasmIsCurrent(t *testing.T) {
	formattertest.EmbeddedWasmIsCurrent(t, "binary.wasm", binaryformat.Module())
}

// TestSampleConfig checks that the README shows the embedded sample
// configuration and that the module accepts its routes.
func TestSampleConfig(t *testing.T) {
	formattertest.SampleConfig(t, formatter, binaryformat.ID, binaryformat.SampleConfig)
}
