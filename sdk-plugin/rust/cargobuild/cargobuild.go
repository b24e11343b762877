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

// Version returns the first line of `rustc --version` (say "rustc
// 1.63.0"): the bytes Build gives depend on it.
func (tc Toolchain) Version(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, tc.Rustc, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", tc.Rustc, err)
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line, nil
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
// named lib. The code may use the bulk memory instructions (wazero's
// default features): a copy or fill is then one memory.copy or
// memory.fill, which wazero runs as Go's memmove, instead of a call to a
// byte loop that pays a deadline check per iteration (about 5 % of the JSON
// formatter's time per message).
//
// The module does not depend on where the source tree is, so that a
// committed module can be checked against a fresh build anywhere. Cargo
// gives rustc path dependencies outside the crate (the SDK) by absolute
// paths, which panic locations keep, and hashes those paths into each
// crate's -C metadata, which changes the code's layout. Build therefore
// runs rustc through a wrapper (written into targetDir) that remaps the Go
// module root holding dir (the nearest parent with a go.mod, else dir) to
// "/lakegate" and sets every crate's -C metadata to "lakegate" (crate
// names keep crates apart).
func (tc Toolchain) Build(ctx context.Context, dir, lib, targetDir string) ([]byte, error) {
	root, err := sourceRoot(dir)
	if err != nil {
		return nil, err
	}
	wrapper := filepath.Join(targetDir, "cargobuild-rustc.sh")
	if err := os.MkdirAll(targetDir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(wrapper, []byte(wrapperScript(root)), 0o755); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, tc.Cargo, "build", "--offline", "--locked", "--quiet", "--release", "--target", Target)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"RUSTC="+tc.Rustc,
		"CARGO_TARGET_DIR="+targetDir,
		"CARGO_HOME="+filepath.Join(targetDir, "cargo-home"), // no user config or rustup overrides
		"RUSTFLAGS=", "CARGO_BUILD_RUSTFLAGS=", "CARGO_ENCODED_RUSTFLAGS=-Ctarget-feature=+bulk-memory",
		"RUSTC_WRAPPER="+wrapper, "RUSTC_WORKSPACE_WRAPPER=",
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

// sourceRoot returns the absolute path of the nearest directory holding
// dir that has a go.mod, or of dir itself.
func sourceRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := abs; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return abs, nil
		}
		d = parent
	}
}

// wrapperScript is the rustc wrapper of Build: cargo runs it with rustc's
// path and arguments.
func wrapperScript(root string) string {
	return `#!/bin/sh
# Written by lakegate's cargobuild: location-independent rustc output.
rustc=$1
shift
for a do
	shift
	case $a in
	metadata=*) a=metadata=lakegate ;;
	esac
	set -- "$@" "$a"
done
exec "$rustc" "$@" ` + shellQuote("--remap-path-prefix="+root+"=/lakegate") + "\n"
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
