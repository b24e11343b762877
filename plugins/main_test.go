package plugins_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/lakegate/lakegate/plugins"
	"github.com/lakegate/lakegate/plugins/plugintest"
)

// testRuntime is shared by the tests of this package so that the JSON
// formatter is compiled once per test binary.
var testRuntime *plugins.Runtime

func TestMain(m *testing.M) {
	ctx := context.Background()
	var err error
	testRuntime, err = plugins.NewRuntime(ctx, plugins.RuntimeOptions{CacheDir: plugintest.CacheDir()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := testRuntime.Close(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}
