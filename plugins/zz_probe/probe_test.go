package probe

import (
	"os"
	"context"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	jsonformat "github.com/lakegate/lakegate/formatters/json"
	"github.com/lakegate/lakegate/plugins/plugintest"
	"github.com/lakegate/lakegate/sdk-plugin/go/sdktest"
)

type counter map[string]int

func (c counter) NewFunctionListener(def api.FunctionDefinition) experimental.FunctionListener {
	if def.GoFunction() == nil {
		return nil
	}
	name := def.DebugName()
	return experimental.FunctionListenerFunc(func(ctx context.Context, mod api.Module, def api.FunctionDefinition, params []uint64, si experimental.StackIterator) {
		c[name]++
	})
}

func setup(b *testing.B, term bool, listen counter) (api.Function, api.Function) {
	f1, f2, _ := setup3(b, term, listen)
	return f1, f2
}

var wasmFile = ""

func setup3(b *testing.B, term bool, listen counter) (api.Function, api.Function, api.Module) {
	ctx := context.Background()
	if listen != nil {
		ctx = experimental.WithFunctionListenerFactory(ctx, listen)
	}
	cache, _ := wazero.NewCompilationCacheWithDir(plugintest.CacheDir())
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(term).WithCompilationCache(cache))
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	rt.NewHostModuleBuilder("lakegate").NewFunctionBuilder().WithFunc(func(a, b, c int32) {}).Export("log").Instantiate(ctx)
	mb := jsonformat.Module()
	if wasmFile != "" {
		mb, _ = os.ReadFile(wasmFile)
	}
	cm, err := rt.CompileModule(ctx, mb)
	if err != nil {
		b.Fatal(err)
	}
	mod, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithStartFunctions("_initialize").WithName(""))
	if err != nil {
		b.Fatal(err)
	}
	return mod.ExportedFunction("lakegate_abi_version"), mod.ExportedFunction("lakegate_format"), mod
}

func BenchmarkVersionTerm(b *testing.B) {
	v, _ := setup(b, true, nil)
	stack := make([]uint64, 1)
	for b.Loop() {
		v.CallWithStack(context.Background(), stack)
	}
}

func BenchmarkVersionNoTerm(b *testing.B) {
	v, _ := setup(b, false, nil)
	stack := make([]uint64, 1)
	for b.Loop() {
		v.CallWithStack(context.Background(), stack)
	}
}

func BenchmarkVersionListen(b *testing.B) {
	c := counter{}
	v, _ := setup(b, false, c)
	stack := make([]uint64, 1)
	n := 0
	for b.Loop() {
		v.CallWithStack(context.Background(), stack)
		n++
	}
	for k, x := range c {
		b.Logf("%s: %.1f per call", k, float64(x)/float64(n))
	}
}

func benchFormat(b *testing.B, term bool, c counter) { benchFormatTopic(b, term, c, "sensors/x") }

func benchFormatTopic(b *testing.B, term bool, c counter, topic string) {
	_, f, mod := setup3(b, term, c)
	in := sdktest.AppendInput(nil, sdktest.Message{Topic: topic, Table: "t", Payload: []byte(`{"ts":1700000000000,"device":"sensor-0042","temp":21.53,"humidity":48.2,"battery":3.71,"status":"ok","seq":12345}`)}, false)
	stack := make([]uint64, 1)
	stack[0] = uint64(len(in))
	mod.ExportedFunction("lakegate_input").CallWithStack(context.Background(), stack)
	ptr := uint32(stack[0])
	mod.Memory().Write(ptr, in)
	n := 0
	for b.Loop() {
		stack[0] = uint64(len(in))
		if err := f.CallWithStack(context.Background(), stack); err != nil {
			b.Fatal(err)
		}
		n++
	}
	for k, x := range c {
		b.Logf("%s: %.2f per call", k, float64(x)/float64(n))
	}
}

func BenchmarkFormatTerm(b *testing.B)   { benchFormat(b, true, nil) }
func BenchmarkFormatNoTerm(b *testing.B) { benchFormat(b, false, nil) }

func BenchmarkG(b *testing.B) {
	for _, g := range []string{"g1", "g2", "g3", ""} {
		b.Run(g, func(b *testing.B) {
			wasmFile = ""
			if g != "" {
				wasmFile = "/tmp/" + g + ".wasm"
			}
			benchFormat(b, false, nil)
		})
	}
}

func BenchmarkG2Only(b *testing.B) {
	wasmFile = "/tmp/g2.wasm"
	benchFormat(b, false, nil)
}

func BenchmarkG1Only(b *testing.B) { wasmFile = "/tmp/g1.wasm"; benchFormat(b, false, nil) }
func BenchmarkG3Only(b *testing.B) { wasmFile = "/tmp/g3.wasm"; benchFormat(b, false, nil) }
func BenchmarkJSONOnlyNoTerm(b *testing.B) { wasmFile = ""; benchFormat(b, false, nil) }
func BenchmarkJSONOnlyTerm(b *testing.B) { wasmFile = ""; benchFormat(b, true, nil) }
func BenchmarkG1OnlyTerm(b *testing.B) { wasmFile = "/tmp/g1.wasm"; benchFormat(b, true, nil) }

func BenchmarkG5Arith(b *testing.B)  { wasmFile = "/tmp/g5.wasm"; benchFormatTopic(b, false, nil, "arith") }
func BenchmarkG5Call(b *testing.B)   { wasmFile = "/tmp/g5.wasm"; benchFormatTopic(b, false, nil, "call") }
func BenchmarkG5Append(b *testing.B) { wasmFile = "/tmp/g5.wasm"; benchFormatTopic(b, false, nil, "append") }
func BenchmarkG5Float(b *testing.B)  { wasmFile = "/tmp/g5.wasm"; benchFormatTopic(b, false, nil, "float") }
func BenchmarkG5None(b *testing.B)   { wasmFile = "/tmp/g5.wasm"; benchFormatTopic(b, false, nil, "none") }

func BenchmarkG5Null(b *testing.B) { wasmFile = "/tmp/g5.wasm"; benchFormatTopic(b, false, nil, "null") }
func BenchmarkG5A32(b *testing.B)  { wasmFile = "/tmp/g5.wasm"; benchFormatTopic(b, false, nil, "a32") }
func BenchmarkG5Astr(b *testing.B) { wasmFile = "/tmp/g5.wasm"; benchFormatTopic(b, false, nil, "astr") }
func BenchmarkG5ArithTerm(b *testing.B) { wasmFile = "/tmp/g5.wasm"; benchFormatTopic(b, true, nil, "arith") }
func BenchmarkG5NoneTerm(b *testing.B)  { wasmFile = "/tmp/g5.wasm"; benchFormatTopic(b, true, nil, "none") }
func BenchmarkG5CallTerm(b *testing.B)  { wasmFile = "/tmp/g5.wasm"; benchFormatTopic(b, true, nil, "call") }
