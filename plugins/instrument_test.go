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

// TestInstrumentKeepsLocals: the loop counter the instrumentation adds
// is a new local after the parameters and the function's own locals, so a
// loop that uses both computes what it did before, for loops shorter and
// longer than a counter chunk.
func TestInstrumentKeepsLocals(t *testing.T) {
	// (func (export "f") (param $n i32) (param $step i64) (result i64)
	//   (local $acc i64) (local $count i64)
	//   (block (loop
	//     (br_if 1 (i32.eqz (local.get $n)))
	//     (local.set $acc (i64.add (local.get $acc) (local.get $step)))
	//     (local.set $count (i64.add (local.get $count) (i64.const 1)))
	//     (local.set $n (i32.sub (local.get $n) (i32.const 1)))
	//     (br 0)))
	//   (i64.add (local.get $acc) (local.get $count)))
	body := []byte{0x01, 0x02, 0x7e, // locals: 2 x i64
		0x02, 0x40, 0x03, 0x40,
		0x20, 0x00, 0x45, 0x0d, 0x01,
		0x20, 0x02, 0x20, 0x01, 0x7c, 0x21, 0x02,
		0x20, 0x03, 0x42, 0x01, 0x7c, 0x21, 0x03,
		0x20, 0x00, 0x41, 0x01, 0x6b, 0x21, 0x00,
		0x0c, 0x00, 0x0b, 0x0b,
		0x20, 0x02, 0x20, 0x03, 0x7c, 0x0b}
	mod := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
		0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7e, 0x01, 0x7e, // type (i32 i64) -> i64
		0x03, 0x02, 0x01, 0x00, // one function of type 0
		0x05, 0x03, 0x01, 0x00, 0x01, // a memory
		0x07, 0x05, 0x01, 0x01, 'f', 0x00, 0x00, // export "f"
		0x0a, byte(len(body) + 2), 0x01, byte(len(body))}
	mod = append(mod, body...)
	out, err := plugins.Instrument(mod)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	for name, wasm := range map[string][]byte{"original": mod, "instrumented": out} {
		m, err := rt.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithName(name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, n := range []uint64{0, 1, 31, 32, 33, 1000, 100_000} {
			res, err := m.ExportedFunction("f").Call(ctx, n, 7)
			if err != nil {
				t.Fatalf("%s f(%d): %v", name, n, err)
			}
			if want := n*7 + n; res[0] != want {
				t.Errorf("%s f(%d) = %d, want %d", name, n, res[0], want)
			}
		}
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
