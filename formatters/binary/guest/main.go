//go:build wasip1

// Command guest is lakegate's built-in binary frame formatter as a WASI reactor.
// It only registers the handler of package format; the SDK owns the ABI
// exports. Rebuild binary.wasm with `go generate` in the parent directory.
package main

import (
	"github.com/lakegate/lakegate/formatters/binary/format"
	sdk "github.com/lakegate/lakegate/sdk-plugin/go"
)

var formatter format.Formatter

func init() {
	sdk.Handle(formatter.Handle)
	sdk.HandleCheck(format.Check)
}

func main() {}
