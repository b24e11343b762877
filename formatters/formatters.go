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

	jsonformat "github.com/lakegate/lakegate/formatters/json"
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
