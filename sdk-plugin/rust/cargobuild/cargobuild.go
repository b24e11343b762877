// Package cargobuild builds Rust plugin crates into wasm32-unknown-unknown
// modules with the distribution's toolchain (/usr/bin/cargo and
// /usr/bin/rustc, Debian's rustc, cargo and libstd-rust-dev-wasm32), for
// tests and the plugin tooling. A rustup toolchain without the wasm32
// target is not used: cargo and rustc are taken from /usr/bin unless
// $LAKEGATE_CARGO and $LAKEGATE_RUSTC name others.
package cargobuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Target is the Rust target plugins are built for.
const Target = "wasm32-unknown-unknown"

// ErrNoToolchain is wrapped by Find's error when cargo, rustc or the
// target's standard library is missing.
var ErrNoToolchain = errors.New("cargobuild: no Rust toolchain for " + Target)

// Toolchain is a cargo and a rustc that can build for Target.
type Toolchain struct {
	Cargo, Rustc string
}

// Find returns the toolchain, checking that rustc's sysroot has the
// standard library for Target.
func Find(ctx context.Context) (Toolchain, error) {
	tc := Toolchain{Cargo: envOr("LAKEGATE_CARGO", "/usr/bin/cargo"), Rustc: envOr("LAKEGATE_RUSTC", "/usr/bin/rustc")}
	for _, p := range []string{tc.Cargo, tc.Rustc} {
		if _, err := os.Stat(p); err != nil {
			return Toolchain{}, fmt.Errorf("%w: %s missing (apt-get install rustc cargo libstd-rust-dev-wasm32 lld-14)", ErrNoToolchain, p)
		}
	}
	out, err := exec.CommandContext(ctx, tc.Rustc, "--print", "sysroot").Output()
	if err != nil {
		return Toolchain{}, fmt.Errorf("%w: %s --print sysroot: %v", ErrNoToolchain, tc.Rustc, err)
	}
	lib := filepath.Join(strings.TrimSpace(string(out)), "lib", "rustlib", Target, "lib")
	if ents, err := os.ReadDir(lib); err != nil || len(ents) == 0 {
		return Toolchain{}, fmt.Errorf("%w: no standard library in %s (apt-get install libstd-rust-dev-wasm32)", ErrNoToolchain, lib)
	}
	return tc, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// Build runs `cargo build --release --target wasm32-unknown-unknown` on the
// crate in dir, offline and with its committed Cargo.lock, in targetDir
// (so the source tree stays clean), and returns the module of the cdylib
// named lib.
func (tc Toolchain) Build(ctx context.Context, dir, lib, targetDir string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, tc.Cargo, "build", "--offline", "--locked", "--quiet", "--release", "--target", Target)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"RUSTC="+tc.Rustc,
		"CARGO_TARGET_DIR="+targetDir,
		"CARGO_HOME="+filepath.Join(targetDir, "cargo-home"), // no user config or rustup overrides
		"RUSTFLAGS=", "CARGO_BUILD_RUSTFLAGS=", "RUSTC_WRAPPER=",
	)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("cargo build in %s: %v\n%s", dir, err, stderr.Bytes())
	}
	wasm, err := os.ReadFile(filepath.Join(targetDir, Target, "release", lib+".wasm"))
	if err != nil {
		return nil, fmt.Errorf("cargo build in %s: %w", dir, err)
	}
	return wasm, nil
}
