// Package csvformat is lakegate's built-in CSV formatter (RFC 4180):
// a WASM module, built from the Go source in guest/ and
// format/ with the plugin SDK, embedded here and run by package plugins
// like any other plugin.
//
// See README.md for the payloads it accepts, its route options and its
// output.
package csvformat

import (
	_ "embed"
)

//go:generate go run github.com/lakegate/lakegate/sdk-plugin/go/cmd/lakegate-wasmbuild -o csv.wasm ./guest

// ID is the formatter's registry id, as routes name it.
const ID = "csv"

//go:embed csv.wasm
var module []byte

// Module returns the formatter's WASM module. The slice is shared: do not
// modify it.
func Module() []byte { return module }

// SampleConfig is an example route configuration using this formatter; the
// README shows the same text.
//
//go:embed sample.yaml
var SampleConfig string
