package plugins

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/lakegate/lakegate/arrowstore/rows"
)

// instance is one module instance; one call uses it at a time.
type instance struct {
	f        *Formatter
	mod      api.Module
	mem      api.Memory
	fnInput  api.Function
	fnFormat api.Function
	fnBatch  api.Function // nil unless the guest exports lakegate_format_batch
	inPtr    uint32       // the guest's input buffer
	inCap    uint32
	stack    [1]uint64
	stdio    capture // the guest's stdout and stderr
	dec      decoder
	batch    batchScratch

	// Interrupt state (DeadlineInstrument). mu orders the timer's and the
	// context's callbacks against the start and end of calls.
	//
	// The timer is not stopped when a call ends: it stays armed for the
	// deadline of some earlier call, and when it fires it interrupts the
	// running call only if that call's own deadline has passed, otherwise
	// it re-arms for it. So a call costs no timer operation unless the
	// timer has run down (or must fire sooner).
	intr     api.MutableGlobal
	timer    *time.Timer
	mu       sync.Mutex
	running  bool
	deadline time.Time       // of the running call
	callDone <-chan struct{} // the running call's ctx.Done()
	fired    interrupt
	armed    bool      // the timer is pending
	armedFor time.Time // when it fires

	// The context watch (DeadlineInstrument): a context.AfterFunc on the
	// context of a recent call, kept from call to call while they share
	// it (the gateway passes one context to every call), so that a call
	// does not register and remove one each time. Used only by the
	// goroutine holding the instance.
	watchDone <-chan struct{}
	stopWatch func() bool
}

// interrupt says why a call was interrupted.
type interrupt uint8

const (
	notInterrupted interrupt = iota
	interruptedTimeout
	interruptedCanceled
)

// startTimeout bounds the start of an instance (the guest's _initialize);
// a Go runtime starts in tens of milliseconds.
const startTimeout = 10 * time.Second

func (f *Formatter) newInstance(ctx context.Context) (*instance, error) {
	inst := &instance{f: f}
	inst.stdio.max = maxCapture
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStdout(&inst.stdio).
		WithStderr(&inst.stdio).
		WithSysWalltime().
		WithSysNanotime().
		WithRandSource(crand.Reader)
	timeout := max(startTimeout, f.limits.CallTimeout)
	if f.deadline == DeadlineCloseOnContextDone {
		cfg = cfg.WithStartFunctions("_initialize")
	} else {
		cfg = cfg.WithStartFunctions() // called below, under the deadline
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	mod, err := f.rt.InstantiateModule(cctx, f.compiled, cfg)
	if err != nil {
		reason, text := inst.classify(ctx, err, notInterrupted)
		return nil, fmt.Errorf("starting instance (%s): %s", reason, text)
	}
	inst.mod = mod
	inst.mem = mod.Memory()
	inst.fnInput = mod.ExportedFunction(exportInput)
	inst.fnFormat = mod.ExportedFunction(exportFormat)
	if f.batches {
		inst.fnBatch = mod.ExportedFunction(exportFormatBatch)
	}
	if f.deadline == DeadlineInstrument {
		g, ok := mod.ExportedGlobal(interruptExport).(api.MutableGlobal)
		if !ok {
			inst.close(ctx)
			return nil, errors.New("instrumented module lacks its interrupt global")
		}
		inst.intr = g
		inst.timer = time.AfterFunc(time.Hour, inst.onDeadline)
		inst.timer.Stop()
	}

	cctx, d := inst.startCall(ctx, time.Now(), timeout)
	if init := mod.ExportedFunction("_initialize"); init != nil && f.deadline == DeadlineInstrument {
		err = init.CallWithStack(cctx, nil)
	}
	if err == nil {
		err = mod.ExportedFunction(exportVersion).CallWithStack(cctx, inst.stack[:])
	}
	fired := inst.endCall(d)
	if err != nil {
		reason, text := inst.classify(ctx, err, fired)
		inst.close(ctx)
		return nil, fmt.Errorf("starting instance (%s): %s", reason, text)
	}
	if v := uint32(inst.stack[0]); v != abiVersion {
		inst.close(ctx)
		return nil, fmt.Errorf("module implements lakegate ABI version %d, the host supports version %d", v, abiVersion)
	}
	f.stats.started.Add(1)
	return inst, nil
}

// forgetOOM clears the instance's out-of-memory note (see
// Formatter.outOfMemory) and reports whether there was one.
func (inst *instance) forgetOOM() bool {
	if _, ok := inst.f.outOfMemory.LoadAndDelete(inst.mod); ok {
		inst.f.oomNoted.Add(-1)
		return true
	}
	return false
}

func (inst *instance) close(ctx context.Context) {
	if inst.mod != nil && inst.f.oomNoted.Load() > 0 {
		inst.forgetOOM()
	}
	if inst.timer != nil {
		inst.timer.Stop()
	}
	inst.unwatch()
	if inst.mod != nil {
		_ = inst.mod.Close(ctx)
	}
}

// callDeadline is what startCall arms and endCall disarms.
type callDeadline struct {
	cancel context.CancelFunc // DeadlineCloseOnContextDone
}

// startCall arms the deadline of one call started at now and returns the
// context to call the guest with.
func (inst *instance) startCall(ctx context.Context, now time.Time, timeout time.Duration) (context.Context, callDeadline) {
	if inst.intr == nil {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		return cctx, callDeadline{cancel: cancel}
	}
	done := ctx.Done()
	inst.mu.Lock()
	inst.running = true
	inst.fired = notInterrupted
	inst.deadline = now.Add(timeout)
	inst.callDone = done
	inst.intr.Set(0)
	if !inst.armed || inst.deadline.Before(inst.armedFor) {
		inst.timer.Reset(timeout)
		inst.armed, inst.armedFor = true, inst.deadline
	}
	inst.mu.Unlock()
	if done != nil {
		inst.watch(ctx, done)
		select {
		case <-done: // ended before the watch could see this call
			inst.canceled(done)
		default:
		}
	}
	return ctx, callDeadline{}
}

// endCall disarms the deadline and reports whether it interrupted the call.
func (inst *instance) endCall(d callDeadline) interrupt {
	if d.cancel != nil {
		d.cancel()
		return notInterrupted // classify reads wazero's exit code instead
	}
	if inst.intr == nil {
		return notInterrupted
	}
	inst.mu.Lock()
	inst.running = false
	inst.callDone = nil
	fired := inst.fired
	inst.mu.Unlock()
	return fired
}

// onDeadline is the timer's callback. It interrupts the running call if
// its deadline has passed, re-arms for the deadline of a call still
// running, and otherwise lets the timer run down.
func (inst *instance) onDeadline() {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	inst.armed = false
	if !inst.running || inst.fired != notInterrupted {
		return
	}
	if left := time.Until(inst.deadline); left > 0 {
		inst.timer.Reset(left)
		inst.armed, inst.armedFor = true, inst.deadline
		return
	}
	inst.fired = interruptedTimeout
	inst.intr.Set(1)
}

// watch makes sure the end of ctx (whose Done channel is done) interrupts
// the call using it.
func (inst *instance) watch(ctx context.Context, done <-chan struct{}) {
	if done == inst.watchDone {
		return
	}
	inst.unwatch()
	inst.watchDone = done
	inst.stopWatch = context.AfterFunc(ctx, func() { inst.canceled(done) })
}

// unwatch removes the context watch.
func (inst *instance) unwatch() {
	if inst.stopWatch != nil {
		inst.stopWatch()
	}
	inst.watchDone, inst.stopWatch = nil, nil
}

// canceled stops the running call if it uses the context whose Done
// channel is done.
func (inst *instance) canceled(done <-chan struct{}) {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	if inst.running && inst.callDone == done && inst.fired == notInterrupted {
		inst.fired = interruptedCanceled
		inst.intr.Set(1)
	}
}

// callFailure is a failure found by the host during a call.
type callFailure struct {
	reason Reason
	text   string
}

func (e *callFailure) Error() string { return e.text }

var _ error = (*callFailure)(nil)

// call runs one message (or a route check) through the instance; its
// deadline runs from now. It returns the instance to put back in the
// pool: inst itself, or nil if the failure discarded it.
func (inst *instance) call(ctx context.Context, now time.Time, msg *rows.Message, route *Route, check bool) ([]rows.Row, *instance, error) {
	f := inst.f
	size := inputSize(msg, route, check)
	if size > math.MaxInt32 {
		return inst.failed(ctx, ReasonInputTooLarge, "message of "+strconv.Itoa(size)+" bytes does not fit a guest buffer", nil)
	}
	received := receivedNanos(msg)
	inst.stdio.reset()
	cctx, d := inst.startCall(ctx, now, f.limits.CallTimeout)
	err := inst.run(cctx, msg, route, check, uint32(size), received)
	fired := inst.endCall(d)
	if err != nil {
		var cf *callFailure
		if errors.As(err, &cf) {
			return inst.failed(ctx, cf.reason, cf.text, nil)
		}
		reason, text := inst.classify(ctx, err, fired)
		return inst.failed(ctx, reason, text, err)
	}
	inst.flushStdio(ctx)
	if f.oomNoted.Load() > 0 {
		inst.forgetOOM() // the guest got over a failed allocation
	}
	ptr, n := uint32(inst.stack[0]>>32), uint32(inst.stack[0])
	if uint64(n) > uint64(f.limits.MaxOutputBytes) {
		return inst.failed(ctx, ReasonOutputLimit, strconv.FormatUint(uint64(n), 10)+" bytes of output, more than the limit of "+strconv.Itoa(f.limits.MaxOutputBytes), nil)
	}
	out, ok := inst.mem.Read(ptr, n)
	if !ok || n == 0 {
		return inst.failed(ctx, ReasonBadOutput, "output buffer lies outside guest memory or is empty", nil)
	}
	switch out[0] {
	case statusOK:
		res, oerr := inst.dec.decode(out, route.Table, received, &f.limits)
		if oerr != nil {
			return inst.failed(ctx, oerr.reason, oerr.text, nil)
		}
		return res, inst, nil
	case statusMalformed:
		return inst.failed(ctx, ReasonMalformed, errorText(out), nil)
	case statusFailed:
		return inst.failed(ctx, ReasonGuestError, errorText(out), nil)
	case statusLimit:
		return inst.failed(ctx, ReasonOutputLimit, errorText(out), nil)
	}
	return inst.failed(ctx, ReasonBadOutput, "unknown output status "+strconv.Itoa(int(out[0])), nil)
}

// run writes the input into the guest and calls lakegate_format; the
// result is left in inst.stack[0].
func (inst *instance) run(ctx context.Context, msg *rows.Message, route *Route, check bool, size uint32, received int64) error {
	buf, err := inst.inputBuffer(ctx, size)
	if err != nil {
		return err
	}
	encodeInput(buf, msg, route, received, check, &inst.f.limits)
	inst.stack[0] = uint64(size)
	return inst.fnFormat.CallWithStack(ctx, inst.stack[:])
}

// inputBuffer returns the first size bytes of the guest's input buffer,
// asking the guest for a larger one if it is too small.
func (inst *instance) inputBuffer(ctx context.Context, size uint32) ([]byte, error) {
	if size > inst.inCap {
		want := growTo(inst.inCap, size)
		inst.stack[0] = uint64(want)
		if err := inst.fnInput.CallWithStack(ctx, inst.stack[:]); err != nil {
			return nil, err
		}
		ptr := uint32(inst.stack[0])
		if ptr == 0 {
			return nil, &callFailure{ReasonBadOutput, exportInput + " returned a null pointer"}
		}
		inst.inPtr, inst.inCap = ptr, want
	}
	buf, ok := inst.mem.Read(inst.inPtr, size)
	if !ok {
		return nil, &callFailure{ReasonBadOutput, "input buffer lies outside guest memory"}
	}
	return buf, nil
}

// growTo returns the input buffer capacity to ask for: at least need,
// doubling the old one for steady growth, but not more than 1 MiB beyond need.
func growTo(old, need uint32) uint32 {
	want := uint64(old) * 2
	if want < uint64(need) {
		want = uint64(need)
	}
	if want < 4096 {
		want = 4096
	}
	if want > uint64(need)+1<<20 {
		want = uint64(need) + 1<<20
	}
	if want > math.MaxInt32 {
		want = math.MaxInt32
	}
	return uint32(want)
}

// failed counts a failure, closes the instance if the reason calls for it
// and returns the error for the caller with the instance to put back in
// the pool (nil if it was discarded).
func (inst *instance) failed(ctx context.Context, reason Reason, text string, cause error) ([]rows.Row, *instance, error) {
	f := inst.f
	f.stats.failures[reason].Add(1)
	keep := inst
	if reason.discards() {
		keep = nil
		inst.discard(ctx, reason, text, slog.LevelWarn)
	}
	// wazero's error text is in text already; only a context's error is
	// kept for errors.Is.
	cause = nil
	if reason == ReasonCanceled {
		cause = ctx.Err()
	}
	return nil, keep, &Error{Formatter: f.name, Reason: reason, Text: text, cause: cause}
}

// discard logs (at level) why the instance failed, counts it and closes it.
func (inst *instance) discard(ctx context.Context, reason Reason, text string, level slog.Level) {
	f := inst.f
	f.stats.discarded.Add(1)
	if out := inst.stdio.text(); out != "" {
		f.logger.Log(ctx, level, "formatter instance failed", "reason", reason.String(), "error", text, "guest_output", out)
	} else if reason != ReasonCanceled {
		f.logger.Log(ctx, level, "formatter instance failed", "reason", reason.String(), "error", text)
	}
	inst.close(context.WithoutCancel(ctx))
}

// classify turns an error from a guest call into a reason and a text.
func (inst *instance) classify(ctx context.Context, err error, fired interrupt) (Reason, string) {
	switch fired {
	case interruptedTimeout:
		return ReasonTimeout, "call ran past its deadline of " + inst.f.limits.CallTimeout.String()
	case interruptedCanceled:
		return ReasonCanceled, "the caller's context ended during the call"
	}
	out := inst.stdio.text()
	if inst.mod != nil {
		if inst.forgetOOM() {
			return ReasonOOM, "guest ran out of memory (limit " + strconv.Itoa(int(inst.f.limits.MemoryPages)) + " pages of 64 KiB): " + firstLine(err.Error())
		}
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded:
			if ctx.Err() != nil {
				return ReasonCanceled, "the caller's deadline passed during the call"
			}
			return ReasonTimeout, "call ran past its deadline of " + inst.f.limits.CallTimeout.String()
		case sys.ExitCodeContextCanceled:
			return ReasonCanceled, "the caller canceled the call"
		}
		text := "guest exited with code " + strconv.FormatUint(uint64(exit.ExitCode()), 10)
		if line := firstLine(out); line != "" {
			text += ": " + line
		}
		if strings.Contains(out, "out of memory") {
			return ReasonOOM, text
		}
		return ReasonExit, text
	}
	text := firstLine(err.Error())
	if line := firstLine(out); line != "" {
		text += " (guest output: " + line + ")"
	}
	if strings.Contains(out, "out of memory") {
		return ReasonOOM, text
	}
	return ReasonTrap, text
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// flushStdio logs what a successful call wrote to stdout or stderr.
func (inst *instance) flushStdio(ctx context.Context) {
	if len(inst.stdio.buf) == 0 {
		return
	}
	if inst.f.allowLog() {
		inst.f.logger.Log(ctx, levelInfo, "formatter wrote to stdout/stderr", "output", inst.stdio.text())
	}
	inst.stdio.reset()
}
