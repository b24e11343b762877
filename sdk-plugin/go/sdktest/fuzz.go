package sdktest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	sdk "github.com/lakegate/lakegate/sdk-plugin/go"
)

// AddSeedFiles adds each file matching glob to f's corpus once per option
// variant, as (payload, variant uint8) pairs: the shape of a formatter's
// FuzzFormat, whose second argument picks one of its option sets.
func AddSeedFiles(f *testing.F, glob string, variants int) {
	f.Helper()
	paths, _ := filepath.Glob(glob)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for v := range variants {
			f.Add(b, uint8(v))
		}
	}
}

// CheckPositioned fails t unless err, a handler's answer to payload, is nil
// or a malformed-payload error whose text starts with prefix (its position,
// such as "line ").
func CheckPositioned(t *testing.T, payload []byte, err error, prefix string) {
	t.Helper()
	if err == nil {
		return
	}
	e, ok := err.(*Error)
	if !ok || e.Status != sdk.StatusMalformed || !strings.HasPrefix(e.Text, prefix) {
		t.Fatalf("payload %q: %v (want a positioned malformed error)", payload, err)
	}
}
