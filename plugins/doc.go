// Package plugins runs lakegate's payload formatters: WebAssembly modules
// that implement the guest ABI of sdk-plugin/ABI.md and turn one MQTT
// message into rows.
//
// A Runtime is made once per gateway and holds the compilation cache. Load
// compiles a module once, checks its ABI and starts one instance so that a
// broken plugin fails at start; the Formatter it returns keeps a pool of up
// to Limits.Instances instances, each used by one call at a time. Every call
// runs under a deadline and size limits; a trap, timeout, out-of-memory or
// broken limit discards only the instance concerned.
//
// See README.md beside this file for the limits and the reasons behind the
// design.
package plugins
