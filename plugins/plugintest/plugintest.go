// Package plugintest holds helpers for tests that run formatters through
// the real runtime: a compilation cache shared by every test binary on the
// machine, so that a module is compiled once, not once per test package.
package plugintest

import (
	"os"
	"path/filepath"
)

// CacheDirEnv overrides the shared compilation cache directory.
const CacheDirEnv = "LAKEGATE_TEST_WASM_CACHE"

// CacheDir returns the compilation cache directory tests share:
// $LAKEGATE_TEST_WASM_CACHE, or lakegate-wazero-test-cache in the system's
// temporary directory. The cache is keyed by module bytes and wazero
// version, so sharing it is safe; wazero writes entries atomically.
func CacheDir() string {
	if d := os.Getenv(CacheDirEnv); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "lakegate-wazero-test-cache")
}
