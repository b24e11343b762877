package plugins

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/lakegate/lakegate/arrowstore/rows"
)

// Route is where a message goes and how its formatter should read it: the
// destination table and the route's options, in configuration order.
type Route struct {
	Table   string
	Options []Option
}

// Option is one route option.
type Option struct {
	Key, Value string
}

// ABIVersion is the guest ABI version (sdk-plugin/ABI.md) the runtime
// runs; Load refuses modules whose lakegate_abi_version returns another.
const ABIVersion = abiVersion

// Names of the guest's ABI exports and the host's import module.
const (
	exportVersion = "lakegate_abi_version"
	exportInput   = "lakegate_input"
	exportFormat  = "lakegate_format"
	// exportFormatBatch is optional (ABI.md, "Batches").
	exportFormatBatch = "lakegate_format_batch"
	exportMemory      = "memory"
	hostModule        = "lakegate"
)

// Formatter is one loaded plugin: a compiled module and a pool of
// instances. It is safe for concurrent use.
type Formatter struct {
	// closed is read by every call: it sits among fields that do not
	// change, away from stats, which every call writes (a cache line
	// shared with them would bounce between CPUs).
	closed atomic.Bool

	name     string
	logger   *slog.Logger
	limits   Limits
	deadline DeadlineMode
	owner    *Runtime
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	// batches: the guest exports lakegate_format_batch.
	batches bool

	// pool holds one token per instance slot: a ready instance, or nil
	// for a slot whose instance has not been started (or was discarded).
	pool chan *instance
	done chan struct{}

	// outOfMemory holds the instances (their modules) whose guest said
	// OOMLogPrefix through the log import during the current call: a
	// Rust guest's allocator does so before the call aborts with a bare
	// trap. classify reads and clears it; oomNoted counts its entries, so
	// that a call that succeeds checks the map only when it is not empty.
	outOfMemory sync.Map
	oomNoted    atomic.Int32

	stats counters
}

// Load compiles wasm (once per distinct module, thanks to the shared
// cache), checks that it implements the guest ABI and starts one instance,
// so that a broken plugin fails here rather than at its first message.
// Further instances start when needed, up to limits.Instances.
func (r *Runtime) Load(ctx context.Context, name string, wasm []byte, limits Limits) (_ *Formatter, err error) {
	r.life.RLock()
	defer r.life.RUnlock()
	if r.closed {
		return nil, fmt.Errorf("loading formatter %q: %w", name, ErrClosed)
	}
	limits = limits.WithDefaults()
	if err := limits.Validate(); err != nil {
		return nil, fmt.Errorf("loading formatter %q: limits: %w", name, err)
	}
	if r.deadline == DeadlineInstrument {
		instrumented, err := instrument(wasm)
		if err != nil {
			return nil, fmt.Errorf("loading formatter %q: adding deadline checks: %w", name, err)
		}
		wasm = instrumented
	}
	cfg := wazero.NewRuntimeConfig().
		WithCompilationCache(r.cache).
		WithCloseOnContextDone(r.deadline == DeadlineCloseOnContextDone).
		WithMemoryLimitPages(limits.MemoryPages)
	f := &Formatter{
		name:     name,
		logger:   r.logger.With("formatter", name),
		deadline: r.deadline,
		limits:   limits,
		owner:    r,
		rt:       wazero.NewRuntimeWithConfig(ctx, cfg),
		pool:     make(chan *instance, limits.Instances),
		done:     make(chan struct{}),
	}
	defer func() {
		if err != nil {
			_ = f.rt.Close(ctx)
		}
	}()
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, f.rt); err != nil {
		return nil, fmt.Errorf("loading formatter %q: instantiating WASI: %w", name, err)
	}
	if err := f.instantiateHost(ctx); err != nil {
		return nil, fmt.Errorf("loading formatter %q: instantiating host module: %w", name, err)
	}
	f.compiled, err = f.rt.CompileModule(ctx, wasm)
	if err != nil {
		return nil, fmt.Errorf("loading formatter %q: compiling: %w", name, err)
	}
	if err := checkModule(f.compiled); err != nil {
		return nil, fmt.Errorf("loading formatter %q: %w", name, err)
	}
	_, f.batches = f.compiled.ExportedFunctions()[exportFormatBatch]
	inst, err := f.newInstance(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading formatter %q: %w", name, err)
	}
	f.pool <- inst
	for i := 1; i < limits.Instances; i++ {
		f.pool <- nil
	}
	r.add(f)
	return f, nil
}

// checkModule checks the exports and imports of the guest ABI before
// anything runs, so that the error names what is wrong.
func checkModule(m wazero.CompiledModule) error {
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	want := []struct {
		name            string
		params, results []api.ValueType
		optional        bool
	}{
		{exportVersion, nil, []api.ValueType{i32}, false},
		{exportInput, []api.ValueType{i32}, []api.ValueType{i32}, false},
		{exportFormat, []api.ValueType{i32}, []api.ValueType{i64}, false},
		{exportFormatBatch, []api.ValueType{i32}, []api.ValueType{i64}, true},
	}
	exports := m.ExportedFunctions()
	var errs []error
	for _, w := range want {
		fn, ok := exports[w.name]
		if !ok && w.optional {
			continue
		}
		if !ok {
			errs = append(errs, fmt.Errorf("module does not export %s (is it built with the lakegate SDK?)", w.name))
			continue
		}
		if !sameTypes(fn.ParamTypes(), w.params) || !sameTypes(fn.ResultTypes(), w.results) {
			errs = append(errs, fmt.Errorf("export %s has signature %s, want %s",
				w.name, signature(fn.ParamTypes(), fn.ResultTypes()), signature(w.params, w.results)))
		}
	}
	if _, ok := exports["_start"]; ok {
		if _, ok := exports["_initialize"]; !ok {
			errs = append(errs, errors.New("module is a WASI command (exports _start): build it as a reactor (go build -buildmode=c-shared)"))
		}
	}
	if _, ok := m.ExportedMemories()[exportMemory]; !ok {
		errs = append(errs, errors.New("module does not export its memory as \"memory\""))
	}
	for _, fn := range m.ImportedFunctions() {
		mod, name, _ := fn.Import()
		switch {
		case mod == wasi_snapshot_preview1.ModuleName:
		case mod == hostModule && name == "log":
		default:
			errs = append(errs, fmt.Errorf("module imports %s.%s, which the host does not provide", mod, name))
		}
	}
	return errors.Join(errs...)
}

func sameTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func signature(params, results []api.ValueType) string {
	s := "("
	for i, p := range params {
		if i > 0 {
			s += ", "
		}
		s += api.ValueTypeName(p)
	}
	s += ")"
	if len(results) > 0 {
		s += " -> " + api.ValueTypeName(results[0])
	}
	return s
}

// Name returns the name the formatter was loaded with.
func (f *Formatter) Name() string { return f.name }

// TakesBatches reports whether the guest exports lakegate_format_batch,
// so that FormatAll gives it many messages per call.
func (f *Formatter) TakesBatches() bool { return f.batches }

// Limits returns the formatter's limits, defaults filled in.
func (f *Formatter) Limits() Limits { return f.limits }

// Stats returns the formatter's counters.
func (f *Formatter) Stats() Stats { return f.stats.snapshot() }

// Format turns one message into rows for route. It waits for a free
// instance while all are busy (or until ctx ends).
//
// A payload the guest cannot parse gives an *Error wrapping
// rows.ErrMalformedPayload with the guest's text. A trap, timeout,
// out-of-memory, exit or output over the limits gives an *Error wrapping
// rows.ErrPluginFailed; the instance is discarded and the next call gets a
// fresh one. Rows without a table of their own get route.Table; rows
// without a time get msg.Received (or the current time if that is zero).
func (f *Formatter) Format(ctx context.Context, msg *rows.Message, route *Route) ([]rows.Row, error) {
	b := Batch{f: f, ctx: ctx}
	defer b.Close()
	return b.Format(msg, route)
}

// Batch formats several messages one after the other with one instance,
// held from the first Format to Close: it saves taking an instance from
// the pool and putting it back for every message, and the guest's memory
// stays warm in the cache. A Batch is for one goroutine; Close it soon,
// since the instance is out of the pool meanwhile.
type Batch struct {
	f    *Formatter
	ctx  context.Context
	inst *instance
	// last is when the previous call ended, and so when the next began:
	// one clock reading per call, of the monotonic clock alone (monoNow).
	last time.Time
	// noRoute stands for a nil route in FormatAll's items.
	noRoute Route
	// sizes are the input sizes of the next batch call's messages.
	sizes []uint32
}

// monoNow returns the time now, as base plus the monotonic time elapsed
// since base: time.Since reads only the monotonic clock where time.Now
// reads it and the wall clock, and the readings here only time calls and
// bound their deadlines. base must hold a monotonic reading (time.Now's).
func monoNow(base time.Time) time.Time { return base.Add(time.Since(base)) }

// NewBatch starts a batch of calls made with ctx.
func (f *Formatter) NewBatch(ctx context.Context) *Batch { return &Batch{f: f, ctx: ctx} }

// Format is Formatter.Format within the batch. After a call that
// discards the instance the next one takes a fresh instance from the pool.
// A call's latency counts from when it began to wait for an instance, its
// deadline from when it got one.
func (b *Batch) Format(msg *rows.Message, route *Route) ([]rows.Row, error) {
	f := b.f
	if msg == nil {
		return nil, fmt.Errorf("formatter %s: nil message", f.name)
	}
	if route == nil {
		route = &Route{}
	}
	start, now, err := b.take()
	if err != nil {
		return nil, err
	}
	f.stats.calls.Add(1)
	out, inst, err := b.inst.call(b.ctx, now, msg, route, false)
	b.put(inst, start)
	f.stats.callLatency.Observe(b.last.Sub(start))
	if err != nil {
		return nil, err
	}
	f.stats.rows.Add(uint64(len(out)))
	return out, nil
}

// FormatAll formats each item as Format would, filling in its Rows and
// Err. A guest that exports lakegate_format_batch (sdk-plugin/ABI.md,
// "Batches") gets the messages in as few calls as the batch limits allow;
// the messages of a batch call that fails as a whole are then formatted
// one by one, so that only the one at fault fails. Each message of a batch
// call counts as a call in Stats, taking an equal share of its time.
func (b *Batch) FormatAll(items []Item) {
	for i := range items {
		if items[i].Route == nil {
			items[i].Route = &b.noRoute
		}
	}
	for len(items) > 0 {
		n := 1
		if b.f.batches {
			n = b.batchable(items)
		}
		if n < 2 {
			items[0].Rows, items[0].Err = b.Format(items[0].Msg, items[0].Route)
			items = items[1:]
			continue
		}
		b.formatMany(items[:n])
		items = items[n:]
	}
}

// batchable returns how many of items, from the first, go in one batch
// call (0 or 1: the first goes alone), and leaves their input sizes in
// b.sizes.
func (b *Batch) batchable(items []Item) int {
	b.sizes = b.sizes[:0]
	total := 4
	for n, it := range items {
		if n == maxBatchCount || it.Msg == nil {
			return n
		}
		size := inputSize(it.Msg, it.Route, false)
		total += 4 + size
		if size > maxBatchItemBytes || total > maxBatchBytes {
			return n
		}
		b.sizes = append(b.sizes, uint32(size))
	}
	return len(items)
}

// formatMany formats items, at least two, in one batch call; b.sizes
// holds their input sizes.
func (b *Batch) formatMany(items []Item) {
	f := b.f
	start, now, err := b.take()
	if err != nil {
		for i := range items {
			items[i].Rows, items[i].Err = nil, err
		}
		return
	}
	ok, inst := b.inst.callBatch(b.ctx, now, items, b.sizes[:len(items)])
	b.put(inst, start)
	if !ok {
		for i := range items {
			items[i].Rows, items[i].Err = b.Format(items[i].Msg, items[i].Route)
		}
		return
	}
	f.stats.calls.Add(uint64(len(items)))
	f.stats.callLatency.ObserveN(b.last.Sub(start)/time.Duration(len(items)), uint64(len(items)))
	var n int
	for i := range items {
		n += len(items[i].Rows)
	}
	f.stats.rows.Add(uint64(n))
}

// take returns the batch's instance, taking one from the pool if it has
// none, with the time the call began to wait for it (start) and the time
// it got it (now).
func (b *Batch) take() (start, now time.Time, err error) {
	if b.inst != nil {
		return b.last, b.last, nil
	}
	start = time.Now()
	inst, waited, err := b.f.acquire(b.ctx)
	if err != nil {
		return start, start, err
	}
	b.inst, now = inst, start
	if waited {
		now = monoNow(start)
	}
	return start, now, nil
}

// put ends a call that take began at start: it keeps inst (nil if the
// call discarded the instance, whose slot then goes back to the pool) and
// reads the clock, once, for the end of this call and the start of the
// next.
func (b *Batch) put(inst *instance, start time.Time) {
	b.inst = inst
	if inst == nil {
		b.f.release(nil) // its slot: the next call starts a fresh instance
	}
	b.last = monoNow(start)
}

// Close puts the batch's instance back in the pool.
func (b *Batch) Close() {
	if b.inst != nil {
		b.f.release(b.inst)
		b.inst = nil
	}
}

// CheckRoute asks the plugin whether it accepts route's options, as the
// gateway does when it validates its configuration. Plugins that do not
// check accept every route.
func (f *Formatter) CheckRoute(ctx context.Context, route *Route) error {
	if route == nil {
		route = &Route{}
	}
	inst, _, err := f.acquire(ctx)
	if err != nil {
		return err
	}
	_, inst, err = inst.call(ctx, time.Now(), &rows.Message{}, route, true)
	f.release(inst)
	return err
}

// acquire takes an instance from the pool, starting one in an empty slot.
// waited reports whether it had to wait for one or start one.
func (f *Formatter) acquire(ctx context.Context) (_ *instance, waited bool, _ error) {
	if f.closed.Load() {
		return nil, false, fmt.Errorf("formatter %s: %w", f.name, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return nil, false, fmt.Errorf("formatter %s: %w", f.name, err)
	}
	var inst *instance
	select {
	case inst = <-f.pool: // the common case, without a blocking select
		if inst != nil && !inst.mod.IsClosed() {
			return inst, false, nil
		}
	default:
		select {
		case inst = <-f.pool:
		case <-f.done:
			return nil, true, fmt.Errorf("formatter %s: %w", f.name, ErrClosed)
		case <-ctx.Done():
			return nil, true, fmt.Errorf("formatter %s: waiting for a free instance: %w", f.name, ctx.Err())
		}
	}
	if inst != nil && !inst.mod.IsClosed() {
		return inst, true, nil
	}
	inst, err := f.newInstance(ctx)
	if err != nil {
		f.pool <- nil
		if ctx.Err() != nil {
			return nil, true, fmt.Errorf("formatter %s: starting an instance: %w", f.name, ctx.Err())
		}
		f.stats.failures[ReasonInstantiate].Add(1)
		return nil, true, &Error{Formatter: f.name, Reason: ReasonInstantiate, Text: err.Error()}
	}
	return inst, true, nil
}

// release puts inst (nil for a discarded one) back in the pool.
func (f *Formatter) release(inst *instance) {
	if inst != nil && f.closed.Load() {
		// Close may have stopped waiting for this instance: it must not
		// stay registered with the caller's context.
		inst.unwatch()
	}
	f.pool <- inst
}

// Close waits for the calls in flight (until ctx ends), closes every
// instance and releases the compiled module. It is safe to call more than once.
func (f *Formatter) Close(ctx context.Context) error {
	if !f.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(f.done)
	f.owner.remove(f)
collect:
	for i := 0; i < f.limits.Instances; i++ {
		select {
		case inst := <-f.pool:
			if inst != nil {
				inst.close(ctx)
			}
		case <-ctx.Done():
			break collect // closing the runtime below ends the calls still running
		}
	}
	if err := f.rt.Close(ctx); err != nil {
		return fmt.Errorf("closing formatter %s: %w", f.name, err)
	}
	return nil
}
