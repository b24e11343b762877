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
}

// Runtime loads formatters. Make one per gateway: the formatters it loads
// share its compilation cache, so each module is compiled once.
type Runtime struct {
	cache  wazero.CompilationCache
	logger *slog.Logger

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
	return &Runtime{cache: cache, logger: logger, formatters: make(map[*Formatter]struct{})}, nil
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
