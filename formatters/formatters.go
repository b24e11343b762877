// Package formatters is the registry of lakegate's built-in payload
// formatters: one place that lists every WASM module shipped inside the
// binary, by the id routes use. Each formatter lives in a folder of its own
// (README, guest source, the built .wasm, golden tests); a build that wants
// fewer formatters leaves entries out of builtins.
//
// Resolve finds the module a route names: a built-in id, then
// "plugin:PATH.wasm", then ID.wasm in a plugin directory.
package formatters

import (
	"sort"

	binaryformat "github.com/lakegate/lakegate/formatters/binary"
	csvformat "github.com/lakegate/lakegate/formatters/csv"
	iotdbformat "github.com/lakegate/lakegate/formatters/iotdb"
	jsonformat "github.com/lakegate/lakegate/formatters/json"
	lineformat "github.com/lakegate/lakegate/formatters/line"
)

// Builtin is one formatter shipped inside the binary.
type Builtin struct {
	ID          string        // what a route's `formatter:` names
	Description string        // one line for listings
	Module      func() []byte // the WASM module
}

// builtins returns the registry; a function, not a package variable, so no
// caller can change what another sees.
func builtins() []Builtin {
	return []Builtin{
		{ID: jsonformat.ID, Description: "JSON objects, arrays, NDJSON and Machbase Neo row forms", Module: jsonformat.Module},
		{ID: iotdbformat.ID, Description: "Apache IoTDB MQTT JSON (device, timestamp(s), measurements, values, datatypes)", Module: iotdbformat.Module},
		{ID: binaryformat.ID, Description: "packed fixed-size binary frames with a layout declared in the route options", Module: binaryformat.Module},
		{ID: csvformat.ID, Description: "CSV (RFC 4180) with a header line or configured columns", Module: csvformat.Module},
		{ID: lineformat.ID, Description: "InfluxDB line protocol", Module: lineformat.Module},
	}
}

// Lookup finds a built-in formatter by id.
func Lookup(id string) (Builtin, bool) {
	for _, b := range builtins() {
		if b.ID == id {
			return b, true
		}
	}
	return Builtin{}, false
}

// IDs lists the built-in formatter ids, sorted.
func IDs() []string {
	var ids []string
	for _, b := range builtins() {
		ids = append(ids, b.ID)
	}
	sort.Strings(ids)
	return ids
}
