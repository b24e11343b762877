// Package wasmbuild builds Go plugin sources into WASI reactor modules the
// same way everywhere: from go:generate, from tests that check a committed
// .wasm is current, and from plugin authors' scripts.
//
// The build is deterministic for a given Go toolchain: -trimpath drops file
// system paths, -buildvcs=false drops version control stamps, -ldflags=-s
// drops the symbol table, and the environment is pinned (GOOS=wasip1,
// GOARCH=wasm, GOWASM unset, CGO off, GOFLAGS empty).
package wasmbuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Args are the go command arguments of a plugin build, before "-o OUT PKG".
var Args = []string{"build", "-buildmode=c-shared", "-trimpath", "-buildvcs=false", "-ldflags=-s"}

// ErrNoGo is returned when the go command cannot be found.
var ErrNoGo = errors.New("wasmbuild: go command not found")

// GoTool returns the path of the go command.
func GoTool() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	if root := os.Getenv("GOROOT"); root != "" {
		p := root + "/bin/go"
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", ErrNoGo
}

// Command returns the command that builds package pkg (a path or pattern
// the go command understands, resolved in dir) into the module file out.
func Command(ctx context.Context, dir, pkg, out string) (*exec.Cmd, error) {
	gotool, err := GoTool()
	if err != nil {
		return nil, err
	}
	args := append(append([]string{}, Args...), "-o", out, pkg)
	cmd := exec.CommandContext(ctx, gotool, args...)
	cmd.Dir = dir
	cmd.Env = Env(os.Environ())
	return cmd, nil
}

// Env returns environ with the variables that change a wasm build pinned.
func Env(environ []string) []string {
	pinned := map[string]string{
		"GOOS":        "wasip1",
		"GOARCH":      "wasm",
		"GOWASM":      "",
		"CGO_ENABLED": "0",
		"GOFLAGS":     "",
	}
	env := make([]string, 0, len(environ)+len(pinned))
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := pinned[k]; !ok {
			env = append(env, kv)
		}
	}
	for _, k := range []string{"GOOS", "GOARCH", "GOWASM", "CGO_ENABLED", "GOFLAGS"} {
		env = append(env, k+"="+pinned[k])
	}
	return env
}

// Build builds pkg (resolved in dir) into out and returns the go command's
// output in the error if it fails.
func Build(ctx context.Context, dir, pkg, out string) error {
	cmd, err := Command(ctx, dir, pkg, out)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building %s: %w\n%s", pkg, err, buf.Bytes())
	}
	return nil
}
