// Package sdk is the guest side of the lakegate formatter ABI (version 1,
// see sdk-plugin/ABI.md): it lets a Go program compiled to WebAssembly turn
// one MQTT message into rows for lakegate.
//
// A plugin registers one handler from an init function and is built as a
// WASI reactor:
//
//	package main
//
//	import sdk "github.com/lakegate/lakegate/sdk-plugin/go"
//
//	func init() {
//		sdk.Handle(func(in *sdk.Input, out *sdk.Output) error {
//			out.Row("")
//			out.String("topic", in.Topic)
//			out.Int("size", int64(len(in.Payload)))
//			return nil
//		})
//	}
//
//	func main() {}
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .
//
// The package owns the //go:wasmexport functions of the ABI, so a plugin
// only imports it. It avoids reflection, encoding/json and fmt so that it
// also builds with TinyGo and keeps the per-message path free of heap
// allocation: the input is decoded in place and rows are appended to one
// reused output buffer.
//
// On other platforms the package builds too (without the exports), so a
// handler can be unit-tested natively with the sdktest package.
package sdk
