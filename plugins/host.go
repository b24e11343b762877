package plugins

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// Guest logging limits (ABI.md, "Limits").
const (
	maxLogLine       = 1024 // bytes of one guest log line
	maxLogsPerSecond = 100  // lines per formatter per second; the rest are counted and dropped
	maxCapture       = 4096 // bytes of stdout/stderr kept per call
)

const levelInfo = slog.LevelInfo

// instantiateHost provides the "lakegate" host module to the formatter's
// runtime: log(level i32, ptr i32, len i32).
func (f *Formatter) instantiateHost(ctx context.Context) error {
	i32 := api.ValueTypeI32
	_, err := f.rt.NewHostModuleBuilder(hostModule).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(f.hostLog), []api.ValueType{i32, i32, i32}, nil).
		WithParameterNames("level", "ptr", "len").
		Export("log").
		Instantiate(ctx)
	return err
}

// OOMLogPrefix starts the error-level log line a guest sends when an
// allocation fails, just before it aborts the call (the Rust SDK's
// allocator does; a Go guest prints the Go runtime's "out of memory"
// instead). The call's failure is then reported as ReasonOOM.
const OOMLogPrefix = "out of memory"

// hostLog writes one guest log line to the formatter's logger, and notes
// an out-of-memory line (OOMLogPrefix) for the call's failure, whether or
// not the line is logged.
func (f *Formatter) hostLog(ctx context.Context, mod api.Module, stack []uint64) {
	level, ptr, n := slog.Level(int32(stack[0])), uint32(stack[1]), uint32(stack[2])
	if level >= slog.LevelError && n >= uint32(len(OOMLogPrefix)) {
		if b, ok := mod.Memory().Read(ptr, uint32(len(OOMLogPrefix))); ok && string(b) == OOMLogPrefix {
			if _, had := f.outOfMemory.LoadOrStore(mod, struct{}{}); !had {
				f.oomNoted.Add(1)
			}
		}
	}
	if !f.logger.Enabled(ctx, level) {
		return
	}
	if !f.allowLog() {
		return
	}
	truncated := false
	if n > maxLogLine {
		n, truncated = maxLogLine, true
	}
	b, ok := mod.Memory().Read(ptr, n)
	if !ok {
		return
	}
	if truncated {
		f.logger.Log(ctx, level, string(b), "truncated", true)
		return
	}
	f.logger.Log(ctx, level, string(b))
}

// allowLog applies the per-second guest log budget.
func (f *Formatter) allowLog() bool {
	now := time.Now().Unix()
	if w := f.stats.logWindow.Load(); w != now && f.stats.logWindow.CompareAndSwap(w, now) {
		f.stats.logsInWindow.Store(0)
	}
	if f.stats.logsInWindow.Add(1) > maxLogsPerSecond {
		f.stats.logsDropped.Add(1)
		return false
	}
	return true
}

var _ io.Writer = (*capture)(nil)

// capture keeps the first max bytes a guest writes to stdout and stderr
// during one call; a Go guest's panic message lands here.
type capture struct {
	buf []byte
	max int
}

func (c *capture) Write(p []byte) (int, error) {
	if room := c.max - len(c.buf); room > 0 {
		if len(p) > room {
			c.buf = append(c.buf, p[:room]...)
		} else {
			c.buf = append(c.buf, p...)
		}
	}
	return len(p), nil
}

func (c *capture) reset() { c.buf = c.buf[:0] }

func (c *capture) text() string { return string(c.buf) }
