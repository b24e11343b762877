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
// formatter is compiled once per test binary; closeRuntime is the same in
// DeadlineCloseOnContextDone mode.
var testRuntime, closeRuntime *plugins.Runtime

// runtimes lists the runtime of each deadline mode, for tests that must
// hold in both.
func runtimes() map[string]*plugins.Runtime {
	return map[string]*plugins.Runtime{
		plugins.DeadlineInstrument.String():         testRuntime,
		plugins.DeadlineCloseOnContextDone.String(): closeRuntime,
	}
}

func TestMain(m *testing.M) {
	ctx := context.Background()
	var err error
	testRuntime, err = plugins.NewRuntime(ctx, plugins.RuntimeOptions{CacheDir: plugintest.CacheDir()})
	if err == nil {
		closeRuntime, err = plugins.NewRuntime(ctx, plugins.RuntimeOptions{CacheDir: plugintest.CacheDir(), Deadline: plugins.DeadlineCloseOnContextDone})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := closeRuntime.Close(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	if err := testRuntime.Close(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}
