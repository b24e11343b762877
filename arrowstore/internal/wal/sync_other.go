//go:build !linux

package wal

import "os"

// preallocStep is unused off Linux.
const preallocStep = 4 << 20

// preallocate does nothing off Linux: segments grow as they are appended.
func preallocate(*os.File, int64, int64) (int64, error) { return 0, nil }

// datasync is a full fsync off Linux.
func datasync(f *os.File) error { return f.Sync() }
