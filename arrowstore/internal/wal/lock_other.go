//go:build !unix

package wal

import (
	"fmt"
	"os"
)

// lockDir only creates the lock file on systems without flock: nothing
// stops two stores from sharing a directory there.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening wal lock file: %w", err)
	}
	return f, nil
}

func unlockDir(f *os.File) { f.Close() }
