package wasmbuild_test

import (
	"slices"
	"testing"

	"github.com/lakegate/lakegate/sdk-plugin/go/wasmbuild"
)

func TestEnvPinsBuild(t *testing.T) {
	env := wasmbuild.Env([]string{"GOOS=linux", "GOFLAGS=-race", "HOME=/h", "GOWASM=satconv"})
	for _, kv := range []string{"GOOS=wasip1", "GOARCH=wasm", "GOWASM=", "CGO_ENABLED=0", "GOFLAGS=", "HOME=/h"} {
		if !slices.Contains(env, kv) {
			t.Errorf("env lacks %s: %q", kv, env)
		}
	}
	for _, kv := range []string{"GOOS=linux", "GOFLAGS=-race", "GOWASM=satconv"} {
		if slices.Contains(env, kv) {
			t.Errorf("env keeps %s", kv)
		}
	}
}
