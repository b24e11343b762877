package plugins

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/tetratelabs/wazero"
)

// RuntimeOptions configures a Runtime.
type RuntimeOptions struct {
	// CacheDir holds compiled modules on disk so that a restart does not
	// compile them again; "" keeps the cache in memory only.
	CacheDir string
	// Logger receives the runtime's and the guests' log lines; nil discards them.
	Logger *slog.Logger
	// Deadline selects how a call's deadline stops a guest; the zero value
	// is DeadlineInstrument.
	Deadline DeadlineMode
}

// DeadlineMode selects how the runtime stops a guest call that runs past
// its deadline (Limits.CallTimeout) or whose context ends. Both modes close
// and discard the instance; they differ in cost (README.md, "Deadlines").
type DeadlineMode uint8

const (
	// DeadlineInstrument adds a check of a few instructions at every
	// function entry and loop header of the guest when it is loaded; every
	// 1024 checks the guest visits Go and traps if the host's timer has set
	// its interrupt flag.
	DeadlineInstrument DeadlineMode = iota
	// DeadlineCloseOnContextDone uses wazero's WithCloseOnContextDone, whose
	// check exits to Go at every loop header: 5 to 20 times slower for Go
	// guests with wazero v1.12 (wazero issue #2466). Use it if a module
	// cannot be instrumented.
	DeadlineCloseOnContextDone
)

// String returns the mode's name.
func (m DeadlineMode) String() string {
	if m == DeadlineCloseOnContextDone {
		return "close_on_context_done"
	}
	return "instrument"
}

// Runtime loads formatters. Make one per gateway: the formatters it loads
// share its compilation cache, so each module is compiled once.
type Runtime struct {
	cache    wazero.CompilationCache
	logger   *slog.Logger
	deadline DeadlineMode

	// life is held for reading by Load and for writing by Close, so that
	// Close waits for loads in progress and later loads see closed.
	life   sync.RWMutex
	closed bool

	mu         sync.Mutex
	formatters map[*Formatter]struct{}
}

// NewRuntime returns a Runtime with an in-memory or on-disk compilation cache.
func NewRuntime(ctx context.Context, opts RuntimeOptions) (*Runtime, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var cache wazero.CompilationCache
	if opts.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(opts.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("opening compilation cache %s: %w", opts.CacheDir, err)
		}
		cache = c
	} else {
		cache = wazero.NewCompilationCache()
	}
	if opts.Deadline > DeadlineCloseOnContextDone {
		return nil, fmt.Errorf("unknown deadline mode %d", opts.Deadline)
	}
	return &Runtime{cache: cache, logger: logger, deadline: opts.Deadline, formatters: make(map[*Formatter]struct{})}, nil
}

// Close closes every formatter loaded by r, then the cache. It is safe to
// call more than once.
func (r *Runtime) Close(ctx context.Context) error {
	r.life.Lock()
	if r.closed {
		r.life.Unlock()
		return nil
	}
	r.closed = true
	r.life.Unlock()
	r.mu.Lock()
	fs := make([]*Formatter, 0, len(r.formatters))
	for f := range r.formatters {
		fs = append(fs, f)
	}
	r.mu.Unlock()
	var errs []error
	for _, f := range fs {
		errs = append(errs, f.Close(ctx))
	}
	if err := r.cache.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("closing compilation cache: %w", err))
	}
	return errors.Join(errs...)
}

// add registers f; the caller holds r.life for reading.
func (r *Runtime) add(f *Formatter) {
	r.mu.Lock()
	r.formatters[f] = struct{}{}
	r.mu.Unlock()
}

func (r *Runtime) remove(f *Formatter) {
	r.mu.Lock()
	delete(r.formatters, f)
	r.mu.Unlock()
}
