package formatters_test

import (
	"fmt"

	"github.com/lakegate/lakegate/formatters"
)

// A gateway resolves each route's formatter id when it checks its
// configuration, and reads the module when it starts.
func ExampleResolve() {
	src, err := formatters.Resolve("json", "/etc/lakegate/plugins")
	if err != nil {
		fmt.Println(err)
		return
	}
	wasm, err := src.Module()
	fmt.Println(src, src.Builtin(), len(wasm) > 0, err)

	_, err = formatters.Resolve("acme", "")
	fmt.Println(err)
	// Output:
	// built-in json true true <nil>
	// formatter "acme": unknown formatter (built-in: binary, csv, iotdb, json, line; or plugin:PATH.wasm)
}
