//go:build !wasip1

package sdk

import "os"

// logMessage writes to standard error outside wasm, where there is no host.
func logMessage(level Level, msg string) {
	os.Stderr.WriteString(level.String() + " " + msg + "\n")
}
