package plugins

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
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
	inPtr    uint32 // the guest's input buffer
	inCap    uint32
	stack    [1]uint64
	stdio    capture // the guest's stdout and stderr
	dec      decoder
}

// startTimeout bounds the start of an instance (the guest's _initialize);
// a Go runtime starts in tens of milliseconds.
const startTimeout = 10 * time.Second

func (f *Formatter) newInstance(ctx context.Context) (*instance, error) {
	inst := &instance{f: f}
	inst.stdio.max = maxCapture
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions("_initialize").
		WithStdout(&inst.stdio).
		WithStderr(&inst.stdio).
		WithSysWalltime().
		WithSysNanotime().
		WithRandSource(crand.Reader)
	timeout := startTimeout
	if f.limits.CallTimeout > timeout {
		timeout = f.limits.CallTimeout
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	mod, err := f.rt.InstantiateModule(cctx, f.compiled, cfg)
	if err != nil {
		reason, text := inst.classify(ctx, err)
		return nil, fmt.Errorf("starting instance (%s): %s", reason, text)
	}
	inst.mod = mod
	inst.mem = mod.Memory()
	inst.fnInput = mod.ExportedFunction(exportInput)
	inst.fnFormat = mod.ExportedFunction(exportFormat)
	if err := mod.ExportedFunction(exportVersion).CallWithStack(cctx, inst.stack[:]); err != nil {
		_, text := inst.classify(ctx, err)
		inst.close(ctx)
		return nil, fmt.Errorf("calling %s: %s", exportVersion, text)
	}
	if v := uint32(inst.stack[0]); v != abiVersion {
		inst.close(ctx)
		return nil, fmt.Errorf("module implements lakegate ABI version %d, the host supports version %d", v, abiVersion)
	}
	f.stats.started.Add(1)
	return inst, nil
}

func (inst *instance) close(ctx context.Context) {
	if inst.mod != nil {
		_ = inst.mod.Close(ctx)
	}
}

// call runs one message (or a route check) through the instance. It
// returns the instance to put back in the pool: inst itself, or nil if
// the failure discarded it.
func (inst *instance) call(ctx context.Context, msg *rows.Message, route *Route, check bool) ([]rows.Row, *instance, error) {
	f := inst.f
	size := inputSize(msg, route, check)
	if size > math.MaxInt32 {
		return inst.failed(ctx, ReasonInputTooLarge, "message of "+strconv.Itoa(size)+" bytes does not fit a guest buffer", nil)
	}
	cctx, cancel := context.WithTimeout(ctx, f.limits.CallTimeout)
	defer cancel()
	inst.stdio.reset()
	if uint32(size) > inst.inCap {
		want := growTo(inst.inCap, uint32(size))
		inst.stack[0] = uint64(want)
		if err := inst.fnInput.CallWithStack(cctx, inst.stack[:]); err != nil {
			reason, text := inst.classify(ctx, err)
			return inst.failed(ctx, reason, text, err)
		}
		ptr := uint32(inst.stack[0])
		if ptr == 0 {
			return inst.failed(ctx, ReasonBadOutput, exportInput+" returned a null pointer", nil)
		}
		inst.inPtr, inst.inCap = ptr, want
	}
	buf, ok := inst.mem.Read(inst.inPtr, uint32(size))
	if !ok {
		return inst.failed(ctx, ReasonBadOutput, "input buffer lies outside guest memory", nil)
	}
	received := receivedNanos(msg)
	encodeInput(buf, msg, route, received, check, &f.limits)

	inst.stack[0] = uint64(size)
	if err := inst.fnFormat.CallWithStack(cctx, inst.stack[:]); err != nil {
		reason, text := inst.classify(ctx, err)
		return inst.failed(ctx, reason, text, err)
	}
	inst.flushStdio(ctx)
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

// failed is fail for call: it also returns the instance to put back in
// the pool, nil if the failure discarded it.
func (inst *instance) failed(ctx context.Context, reason Reason, text string, cause error) ([]rows.Row, *instance, error) {
	err := inst.fail(ctx, reason, text, cause)
	if reason.discards() {
		return nil, nil, err
	}
	return nil, inst, err
}

// fail counts a failure, closes the instance if the reason calls for it
// and returns the error for the caller.
func (inst *instance) fail(ctx context.Context, reason Reason, text string, cause error) error {
	f := inst.f
	f.stats.failures[reason].Add(1)
	if reason == ReasonCanceled && cause == nil {
		cause = ctx.Err()
	} else if reason == ReasonCanceled {
		cause = errors.Join(ctx.Err(), cause)
	}
	if reason.discards() {
		f.stats.discarded.Add(1)
		if out := inst.stdio.text(); out != "" {
			f.logger.Warn("formatter instance failed", "reason", reason.String(), "error", text, "guest_output", out)
		} else if reason != ReasonCanceled {
			f.logger.Warn("formatter instance failed", "reason", reason.String(), "error", text)
		}
		inst.close(context.WithoutCancel(ctx))
	}
	if reason != ReasonCanceled {
		cause = nil // wazero's error text is already in text; do not expose its types
	}
	return &Error{Formatter: f.name, Reason: reason, Text: text, cause: cause}
}

// classify turns an error from a guest call into a reason and a text.
func (inst *instance) classify(ctx context.Context, err error) (Reason, string) {
	out := inst.stdio.text()
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
