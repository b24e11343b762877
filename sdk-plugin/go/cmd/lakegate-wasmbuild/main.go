// Command lakegate-wasmbuild builds a Go plugin into a deterministic WASI
// reactor module, for go:generate lines:
//
//	//go:generate go run github.com/lakegate/lakegate/sdk-plugin/go/cmd/lakegate-wasmbuild -o plugin.wasm ./guest
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/lakegate/lakegate/sdk-plugin/go/wasmbuild"
)

func main() {
	out := flag.String("o", "", "output .wasm file")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: lakegate-wasmbuild -o OUT.wasm PACKAGE")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := wasmbuild.Build(context.Background(), ".", flag.Arg(0), *out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
