// Package iotdbformat is lakegate's built-in formatter for Apache IoTDB's
// MQTT JSON payloads: a WASM module, built from the Go source in guest/ and
// format/ with the plugin SDK, embedded here and run by package plugins
// like any other plugin.
//
// See README.md for the payloads it accepts, its route options and its
// output.
package iotdbformat

import (
	_ "embed"
)

//go:generate go run github.com/lakegate/lakegate/sdk-plugin/go/cmd/lakegate-wasmbuild -o iotdb.wasm ./guest

// ID is the formatter's registry id, as routes name it.
const ID = "iotdb"

//go:embed iotdb.wasm
var module []byte

// Module returns the formatter's WASM module. The slice is shared: do not
// modify it.
func Module() []byte { return module }

// SampleConfig is an example route configuration using this formatter; the
// README shows the same text.
//
//go:embed sample.yaml
var SampleConfig string
