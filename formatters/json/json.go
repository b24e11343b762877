// Package jsonformat is lakegate's built-in JSON payload formatter: a WASM
// module, built from the Rust crate in rust/ with the plugin SDK, embedded
// here and run by package plugins like any other plugin. format/ (with
// guest/) is the same formatter in Go: the reference the Rust module is
// tested against, byte for byte (rust_test.go), and a larger example of
// the Go SDK.
//
// See README.md for the payloads it accepts, its route options and its
// output.
package jsonformat

import (
	_ "embed"
)

//go:generate go run github.com/lakegate/lakegate/sdk-plugin/rust/cmd/lakegate-cargobuild -o json.wasm -lib jsonformat -version-file rust/rustc-version ./rust

// ID is the formatter's registry id, as routes name it.
const ID = "json"

//go:embed json.wasm
var module []byte

// Module returns the formatter's WASM module. The slice is shared: do not
// modify it.
func Module() []byte { return module }

// SampleConfig is an example route configuration using this formatter; the
// README shows the same text.
//
//go:embed sample.yaml
var SampleConfig string
