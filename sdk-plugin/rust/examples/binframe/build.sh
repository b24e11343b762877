#!/bin/sh
# Builds binframe.wasm from source with the distribution's Rust toolchain
# (Debian: apt-get install rustc cargo libstd-rust-dev-wasm32 lld-14).
# The module is not committed: the tests build it (sdk-plugin/rust/rust_test.go).
set -eu
cd "$(dirname "$0")"
CARGO=${CARGO:-/usr/bin/cargo}
RUSTC=${RUSTC:-/usr/bin/rustc} "$CARGO" build --offline --release --target wasm32-unknown-unknown
cp target/wasm32-unknown-unknown/release/binframe.wasm "${1:-binframe.wasm}"
ls -l "${1:-binframe.wasm}"
