#!/bin/sh
# Builds the Rust JSON formatter into a module with the distribution's Rust
# toolchain (Debian: apt-get install rustc cargo libstd-rust-dev-wasm32 lld-14),
# through cargobuild, so that the bytes are those the tests build
# (location-independent). The module is not committed; see README.md.
set -eu
cd "$(dirname "$0")"
out=${1:-jsonformat.wasm}
case $out in /*) ;; *) out=$PWD/$out ;; esac
go run github.com/lakegate/lakegate/sdk-plugin/rust/cmd/lakegate-cargobuild -o "$out" -lib jsonformat .
ls -l "$out"
