package plugins_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/lakegate/lakegate/plugins"
)

// TestInstrumentInterrupts instruments a module that imports a global
// (so the interrupt global's index is not 0), runs its endless loop with
// plain wazero and checks that setting the exported flag stops it.
func TestInstrumentInterrupts(t *testing.T) {
	ctx := context.Background()
	mod, err := plugins.Instrument(hostileModule(hostile{version: 1, importGlobal: true}))
	if err != nil {
		t.Fatal(err)
	}
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	if _, err := rt.InstantiateWithConfig(ctx, globalModule(), wazero.NewModuleConfig().WithName("env")); err != nil {
		t.Fatal(err)
	}
	m, err := rt.InstantiateWithConfig(ctx, mod, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatal(err)
	}
	g, ok := m.ExportedGlobal(plugins.InterruptExport).(api.MutableGlobal)
	if !ok {
		t.Fatal("no mutable interrupt global")
	}
	// Input "L" makes lakegate_format loop forever.
	if !m.Memory().WriteByte(inputAt, 'L') {
		t.Fatal("write")
	}
	done := make(chan error, 1)
	go func() { done <- m.ExportedFunction("lakegate_format").CallWithStack(ctx, []uint64{1}) }()
	select {
	case err := <-done:
		t.Fatalf("returned before the interrupt: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	g.Set(1)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "unreachable") {
			t.Fatalf("error %v, want an unreachable trap", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the interrupt did not stop the loop")
	}
}

// TestInstrumentCompiles checks that instrumented modules stay valid. (The
// Go-built JSON formatter is instrumented by every test that loads it.)
func TestInstrumentCompiles(t *testing.T) {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(wazeroCache(t)))
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	for name, mod := range map[string][]byte{
		"hostile":       hostileModule(hostile{version: 1}),
		"import global": hostileModule(hostile{version: 1, importGlobal: true}),
		"import func":   hostileModule(hostile{version: 1, importEnv: true}),
	} {
		out, err := plugins.Instrument(mod)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := rt.CompileModule(ctx, out); err != nil {
			t.Fatalf("%s: instrumented module does not compile: %v", name, err)
		}
	}
}

func wazeroCache(t *testing.T) wazero.CompilationCache {
	c := wazero.NewCompilationCache()
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func TestInstrumentRejects(t *testing.T) {
	for _, mod := range [][]byte{
		nil,
		[]byte("\x00asm\x02\x00\x00\x00"),
		append(hostileModule(hostile{version: 1}), 10, 3, 1, 1, 0xFF), // a second code section with a bad body
	} {
		if _, err := plugins.Instrument(mod); err == nil {
			t.Errorf("accepted %q", mod)
		}
	}
}

// FuzzInstrument checks that instrument never panics and that whatever
// wazero accepts, it accepts instrumented.
func FuzzInstrument(f *testing.F) {
	f.Add(hostileModule(hostile{version: 1}))
	f.Add(hostileModule(hostile{version: 1, importGlobal: true, importEnv: true}))
	f.Add(globalModule())
	f.Fuzz(func(t *testing.T, mod []byte) {
		out, err := plugins.Instrument(mod)
		ctx := context.Background()
		rt := wazero.NewRuntime(ctx)
		defer rt.Close(ctx)
		if _, cerr := rt.CompileModule(ctx, mod); cerr != nil || err != nil {
			return
		}
		if _, cerr := rt.CompileModule(ctx, out); cerr != nil {
			t.Fatalf("original compiles, instrumented does not: %v", cerr)
		}
	})
}
