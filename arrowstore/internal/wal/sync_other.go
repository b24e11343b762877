//go:build !linux

package wal

import "os"

// preallocate does nothing off Linux: segments grow as they are appended.
func preallocate(*os.File, int64) (bool, error) { return false, nil }

// datasync is a full fsync off Linux.
func datasync(f *os.File) error { return f.Sync() }
