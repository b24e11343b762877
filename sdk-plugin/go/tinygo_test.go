package sdk_test

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lakegate/lakegate/sdk-plugin/go/wasmbuild"
)

// guestPackages are the packages a plugin compiles into its module: they
// must stay buildable by TinyGo and light in wasm.
var guestPackages = []string{".", "./jsonscan", "./timeparse", "./examples/kv"}

// heavyImports are packages a guest package must not pull in, even
// indirectly, with the reason. TinyGo is not installed on the project's
// machines (no Debian package, nothing real on the registries reachable
// here), so this list is the guard that keeps the SDK within what TinyGo
// builds well and what keeps a Go-built module small and fast.
var heavyImports = map[string]string{
	"reflect":       "TinyGo's reflect is partial; reflection is slow and large in wasm",
	"fmt":           "formats through reflect; ~30 KB and microseconds per call in wasm",
	"encoding/json": "reflection-based; costs ~13 µs for a 120-byte message in wasm (use jsonscan)",
	"encoding/xml":  "reflection-based",
	"encoding/gob":  "reflection-based",
	"encoding/asn1": "reflection-based",
	"encoding/binary": "Read and Write use reflect (use the byte-order methods or math/bits); " +
		"TinyGo supports the package, but the reflective half is a trap",
	"text/template": "reflection-based",
	"html/template": "reflection-based",
	"log":           "pulls in fmt",
	"log/slog":      "pulls in fmt and reflect (use sdk.Log)",
	"net":           "no sockets in a WASI preview 1 reactor",
	"net/http":      "no sockets in a WASI preview 1 reactor",
	"os/exec":       "no processes in WASI",
	"os/signal":     "no signals in WASI",
	"plugin":        "not available on wasm",
	"runtime/cgo":   "no cgo on wasm",
}

// deps lists the packages pkgs import, directly or not, as built for
// wasip1/wasm from dir.
func deps(t *testing.T, dir string, pkgs ...string) []string {
	t.Helper()
	gotool, err := wasmbuild.GoTool()
	if err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gotool, append([]string{"list", "-deps", "-f", "{{.ImportPath}}"}, pkgs...)...)
	cmd.Dir = dir
	cmd.Env = wasmbuild.Env(cmd.Environ())
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list -deps %v: %v\n%s", pkgs, err, stderr)
	}
	return strings.Fields(string(out))
}

// heavy returns the entries of list that are in heavyImports.
func heavy(list []string) []string {
	var bad []string
	for _, p := range list {
		if _, ok := heavyImports[p]; ok {
			bad = append(bad, p)
		}
	}
	return bad
}

// TestGuestImportsTinyGoFriendly fails when a guest package of the SDK
// pulls in a reflection-heavy or WASI-less package (heavyImports); this
// stands in for a TinyGo build, which cannot run here (README.md, TinyGo).
func TestGuestImportsTinyGoFriendly(t *testing.T) {
	for _, pkg := range guestPackages {
		t.Run(strings.TrimPrefix(pkg, "./"), func(t *testing.T) {
			list := deps(t, ".", pkg)
			if !slices.Contains(list, "unsafe") && !slices.Contains(list, "strconv") {
				t.Fatalf("go list gave an implausible dependency list for %s: %v", pkg, list)
			}
			for _, p := range heavy(list) {
				t.Errorf("%s depends on %s: %s", pkg, p, heavyImports[p])
			}
		})
	}
}

// TestHeavyImportGuardFires checks the guard itself: the same listing of
// encoding/json, which a guest must not use, is caught.
func TestHeavyImportGuardFires(t *testing.T) {
	bad := heavy(deps(t, ".", "encoding/json"))
	if !slices.Contains(bad, "reflect") || !slices.Contains(bad, "encoding/json") {
		t.Fatalf("guard found %v in encoding/json's dependencies, want reflect and encoding/json", bad)
	}
}
