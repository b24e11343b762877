package plugins

import (
	"errors"
	"fmt"
	"runtime"
	"time"
)

// Limits bound what one formatter may use. Zero fields take the defaults
// of WithDefaults.
type Limits struct {
	// MemoryPages is the most linear memory one instance may have, in 64 KiB
	// pages. Default 1024 (64 MiB).
	MemoryPages uint32
	// CallTimeout is the deadline of one call into the guest. Default 1s.
	CallTimeout time.Duration
	// MaxOutputBytes caps the encoded rows a guest may hand back for one
	// message. Default 4 MiB.
	MaxOutputBytes int
	// MaxRows caps the rows of one message. Default 10000.
	MaxRows int
	// Instances is the pool size: how many messages one formatter handles
	// at once. Default runtime.GOMAXPROCS(0).
	Instances int
}

// Default limits (see README.md, "Limits", for why these numbers).
const (
	DefaultMemoryPages    = 1024
	DefaultCallTimeout    = time.Second
	DefaultMaxOutputBytes = 4 << 20
	DefaultMaxRows        = 10000
)

// Bounds that Validate enforces, for configuration checks that want to
// name the offending key before Load.
const (
	// MaxMemoryPages is the wasm32 maximum of MemoryPages (4 GiB).
	MaxMemoryPages = 65536
	// OutputBytesFloor and OutputBytesCeiling bound Limits.MaxOutputBytes: below
	// 64 bytes not even an error text fits; above 1 GiB one message could
	// hold the host's memory hostage.
	OutputBytesFloor   = 64
	OutputBytesCeiling = 1 << 30
)

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	if l.MemoryPages == 0 {
		l.MemoryPages = DefaultMemoryPages
	}
	if l.CallTimeout == 0 {
		l.CallTimeout = DefaultCallTimeout
	}
	if l.MaxOutputBytes == 0 {
		l.MaxOutputBytes = DefaultMaxOutputBytes
	}
	if l.MaxRows == 0 {
		l.MaxRows = DefaultMaxRows
	}
	if l.Instances == 0 {
		l.Instances = runtime.GOMAXPROCS(0)
	}
	return l
}

// Validate reports limits that cannot work. Call it after WithDefaults.
func (l Limits) Validate() error {
	var errs []error
	if l.MemoryPages == 0 || l.MemoryPages > MaxMemoryPages {
		errs = append(errs, fmt.Errorf("memory pages %d out of range 1..%d", l.MemoryPages, MaxMemoryPages))
	}
	if l.CallTimeout <= 0 {
		errs = append(errs, fmt.Errorf("call timeout %v must be positive", l.CallTimeout))
	}
	if l.MaxOutputBytes < OutputBytesFloor || l.MaxOutputBytes > OutputBytesCeiling {
		errs = append(errs, fmt.Errorf("max output bytes %d out of range %d..%d", l.MaxOutputBytes, OutputBytesFloor, OutputBytesCeiling))
	}
	if l.MaxRows <= 0 {
		errs = append(errs, fmt.Errorf("max rows %d must be positive", l.MaxRows))
	}
	if l.Instances <= 0 {
		errs = append(errs, fmt.Errorf("instances %d must be positive", l.Instances))
	}
	return errors.Join(errs...)
}
