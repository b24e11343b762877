// Command lakegate-cargobuild builds a Rust plugin crate into a
// wasm32-unknown-unknown module with cargobuild (the distribution's
// toolchain, offline, --locked, location-independent output), for build
// scripts and go:generate lines:
//
//	//go:generate go run github.com/lakegate/lakegate/sdk-plugin/rust/cmd/lakegate-cargobuild -o plugin.wasm -lib plugin ./rust
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/lakegate/lakegate/sdk-plugin/rust/cargobuild"
)

func main() {
	out := flag.String("o", "", "output .wasm file")
	lib := flag.String("lib", "", "the crate's library name (its [package] name with - as _)")
	versionFile := flag.String("version-file", "", "also write the rustc version the module was built with to this file")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: lakegate-cargobuild -o OUT.wasm -lib NAME CRATE_DIR")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || *lib == "" || flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*out, *lib, flag.Arg(0), *versionFile); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(out, lib, dir, versionFile string) error {
	ctx := context.Background()
	tc, err := cargobuild.Find(ctx)
	if err != nil {
		return err
	}
	if versionFile != "" {
		v, err := tc.Version(ctx)
		if err != nil {
			return err
		}
		if err := os.WriteFile(versionFile, []byte(v+"\n"), 0o644); err != nil {
			return err
		}
	}
	target, err := os.MkdirTemp("", "lakegate-cargobuild-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(target)
	wasm, err := tc.Build(ctx, dir, lib, target)
	if err != nil {
		return err
	}
	return os.WriteFile(out, wasm, 0o644)
}
