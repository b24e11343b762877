package plugins_test

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/lakegate/lakegate/arrowstore/rows"
	"github.com/lakegate/lakegate/plugins"
)

func load(t testing.TB, wasm []byte, l plugins.Limits) *plugins.Formatter {
	t.Helper()
	return loadIn(t, testRuntime, wasm, l)
}

func loadIn(t testing.TB, r *plugins.Runtime, wasm []byte, l plugins.Limits) *plugins.Formatter {
	t.Helper()
	f, err := r.Load(context.Background(), t.Name(), wasm, l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return f
}

func msg(payload string) *rows.Message {
	return &rows.Message{
		Topic:           "sensors/d1",
		Payload:         []byte(payload),
		ClientID:        "c1",
		ProtocolVersion: 5,
		Received:        time.Unix(1700000000, 0),
	}
}

var route = &plugins.Route{Table: "sensors"}

func wantReason(t *testing.T, err error, r plugins.Reason, sentinel error) *plugins.Error {
	t.Helper()
	var pe *plugins.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *plugins.Error", err, err)
	}
	if pe.Reason != r {
		t.Fatalf("reason %s, want %s (error: %v)", pe.Reason, r, err)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %v does not wrap %v", err, sentinel)
	}
	return pe
}

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name string
		mod  []byte
		l    plugins.Limits
		want string
	}{
		{"wrong ABI version", hostileModule(hostile{version: 2}), plugins.Limits{}, "module implements lakegate ABI version 2, the host supports version 1"},
		{"missing export", hostileModule(hostile{version: 1, noFormat: true}), plugins.Limits{}, "module does not export lakegate_format"},
		{"unknown import", hostileModule(hostile{version: 1, importEnv: true}), plugins.Limits{}, "module imports env.foo, which the host does not provide"},
		{"command module", hostileModule(hostile{version: 1, exportStart: true}), plugins.Limits{}, "build it as a reactor"},
		{"memory over limit", hostileModule(hostile{version: 1, minPages: 20}), plugins.Limits{MemoryPages: 10}, "over limit of 10 pages"},
		{"not wasm", []byte("hello"), plugins.Limits{}, "not a WebAssembly"},
		{"bad limits", hostileModule(hostile{version: 1}), plugins.Limits{Instances: -1}, "instances -1 must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := testRuntime.Load(context.Background(), "bad", tt.mod, tt.l)
			if err == nil {
				f.Close(context.Background())
				t.Fatal("Load succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), `formatter "bad"`) {
				t.Fatalf("error %q does not name the formatter and say %q", err, tt.want)
			}
		})
	}
}

func TestHostileGuest(t *testing.T) {
	for mode, r := range runtimes() {
		t.Run(mode, func(t *testing.T) { testHostileGuest(t, r) })
	}
}

func testHostileGuest(t *testing.T, r *plugins.Runtime) {
	ctx := context.Background()
	f := loadIn(t, r, hostileModule(hostile{version: 1}), plugins.Limits{Instances: 1, CallTimeout: 200 * time.Millisecond, MaxRows: 2, MaxOutputBytes: 1 << 20})

	good := func() {
		t.Helper()
		rs, err := f.Format(ctx, msg("fine"), route)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != 1 || rs[0].Table != "sensors" || rs[0].Time != msg("").Received.UnixNano() ||
			len(rs[0].Columns) != 1 || rs[0].Columns[0].Name != "ok" || !rs[0].Columns[0].Value.Equal(rows.Int(1)) {
			t.Fatalf("rows %+v", rs)
		}
	}
	good()
	tests := []struct {
		payload  string
		reason   plugins.Reason
		sentinel error
		text     string
		discards bool
	}{
		{"T", plugins.ReasonTrap, rows.ErrPluginFailed, "unreachable", true},
		{"L", plugins.ReasonTimeout, rows.ErrPluginFailed, "deadline of 200ms", true},
		{"B", plugins.ReasonOutputLimit, rows.ErrPluginFailed, "2147483647 bytes of output, more than the limit of 1048576", true},
		{"X", plugins.ReasonBadOutput, rows.ErrPluginFailed, "outside guest memory", true},
		{"R", plugins.ReasonOutputLimit, rows.ErrPluginFailed, "5 rows, more than the limit of 2", true},
		{"M", plugins.ReasonMalformed, rows.ErrMalformedPayload, "guest says: bad payload", false},
		{"S", plugins.ReasonBadOutput, rows.ErrPluginFailed, "unknown output status 9", true},
		{"E", plugins.ReasonBadOutput, rows.ErrPluginFailed, "short value", true},
	}
	for _, tt := range tests {
		t.Run(tt.payload, func(t *testing.T) {
			before := f.Stats()
			start := time.Now()
			_, err := f.Format(ctx, msg(tt.payload), route)
			pe := wantReason(t, err, tt.reason, tt.sentinel)
			if !strings.Contains(pe.Text, tt.text) {
				t.Fatalf("text %q does not say %q", pe.Text, tt.text)
			}
			if tt.reason == plugins.ReasonTimeout && time.Since(start) > 5*time.Second {
				t.Fatalf("timeout took %v", time.Since(start))
			}
			after := f.Stats()
			if got := after.Failures[tt.reason] - before.Failures[tt.reason]; got != 1 {
				t.Fatalf("failures[%s] grew by %d", tt.reason, got)
			}
			if got := after.InstancesDiscarded - before.InstancesDiscarded; (got == 1) != tt.discards {
				t.Fatalf("instances discarded grew by %d", got)
			}
			good() // the next call works, on a fresh instance if needed
		})
	}
	s := f.Stats()
	if s.Malformed() != 1 || s.Failed() != 7 || s.InstancesStarted != 8 || s.Calls != 17 {
		t.Fatalf("stats %+v", s)
	}
}

func TestInputBufferTooSmall(t *testing.T) {
	f := load(t, hostileModule(hostile{version: 1}), plugins.Limits{Instances: 1})
	_, err := f.Format(context.Background(), msg(strings.Repeat("x", 70000)), route)
	wantReason(t, err, plugins.ReasonBadOutput, rows.ErrPluginFailed)
}

func TestCallerCancel(t *testing.T) {
	for mode, r := range runtimes() {
		t.Run(mode, func(t *testing.T) { testCallerCancel(t, r) })
	}
}

func testCallerCancel(t *testing.T, r *plugins.Runtime) {
	f := loadIn(t, r, hostileModule(hostile{version: 1}), plugins.Limits{Instances: 1, CallTimeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := f.Format(ctx, msg("L"), route)
	pe := wantReason(t, err, plugins.ReasonCanceled, rows.ErrPluginFailed)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v does not wrap the context's error (%s)", err, pe.Text)
	}
	// Waiting for a busy pool respects the context too.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := f.Format(ctx, msg("fine"), route); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v", err)
	}
}

func TestPoolBlocksWhenBusy(t *testing.T) {
	for mode, r := range runtimes() {
		t.Run(mode, func(t *testing.T) { testPoolBlocksWhenBusy(t, r) })
	}
}

func testPoolBlocksWhenBusy(t *testing.T, r *plugins.Runtime) {
	f := loadIn(t, r, hostileModule(hostile{version: 1}), plugins.Limits{Instances: 1, CallTimeout: 300 * time.Millisecond})
	done := make(chan error)
	go func() {
		_, err := f.Format(context.Background(), msg("L"), route)
		done <- err
	}()
	// Wait until the loop holds the only instance.
	deadline := time.Now().Add(5 * time.Second)
	for f.Stats().Calls == 0 {
		if time.Now().After(deadline) {
			t.Fatal("call never started")
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := f.Format(ctx, msg("fine"), route); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Format with a busy pool: %v, want deadline exceeded", err)
	}
	if err := <-done; err == nil {
		t.Fatal("endless loop returned no error")
	}
	if _, err := f.Format(context.Background(), msg("fine"), route); err != nil {
		t.Fatal(err)
	}
}

func TestClose(t *testing.T) {
	ctx := context.Background()
	f, err := testRuntime.Load(ctx, "close", hostileModule(hostile{version: 1}), plugins.Limits{Instances: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(ctx); err != nil {
		t.Fatal("second Close:", err)
	}
	if _, err := f.Format(ctx, msg("fine"), route); !errors.Is(err, plugins.ErrClosed) {
		t.Fatalf("Format after Close: %v", err)
	}
}

func TestRuntimeClose(t *testing.T) {
	ctx := context.Background()
	r, err := plugins.NewRuntime(ctx, plugins.RuntimeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := r.Load(ctx, "x", hostileModule(hostile{version: 1}), plugins.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Format(ctx, msg("fine"), route); !errors.Is(err, plugins.ErrClosed) {
		t.Fatalf("Format after runtime Close: %v", err)
	}
	if _, err := r.Load(ctx, "y", hostileModule(hostile{version: 1}), plugins.Limits{}); err == nil {
		t.Fatal("Load after Close succeeded")
	}
}

func TestLimitsDefaults(t *testing.T) {
	l := plugins.Limits{}.WithDefaults()
	if l.MemoryPages != plugins.DefaultMemoryPages || l.CallTimeout != plugins.DefaultCallTimeout ||
		l.MaxOutputBytes != plugins.DefaultMaxOutputBytes || l.MaxRows != plugins.DefaultMaxRows || l.Instances < 1 {
		t.Fatalf("defaults %+v", l)
	}
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (plugins.Limits{MemoryPages: 70000, CallTimeout: -1, MaxOutputBytes: 1, MaxRows: -1, Instances: -1}).Validate(); err == nil ||
		strings.Count(err.Error(), "\n") != 4 {
		t.Fatalf("Validate reported %v, want five problems", err)
	}
}

func TestReasons(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range plugins.Reasons() {
		if s := r.String(); s == "unknown" || seen[s] {
			t.Fatalf("reason %d has name %q", r, s)
		}
		seen[r.String()] = true
	}
}

// TestDeadlineDuringGC runs an endless guest loop while another goroutine
// forces garbage collections: a guest that never returned to Go would
// block the collector's stop-the-world, and with it the deadline timer.
func TestDeadlineDuringGC(t *testing.T) {
	for mode, r := range runtimes() {
		t.Run(mode, func(t *testing.T) {
			f := loadIn(t, r, hostileModule(hostile{version: 1}), plugins.Limits{Instances: 1, CallTimeout: 300 * time.Millisecond})
			stop := make(chan struct{})
			gcDone := make(chan struct{})
			go func() {
				defer close(gcDone)
				for {
					select {
					case <-stop:
						return
					default:
						runtime.GC()
					}
				}
			}()
			done := make(chan error, 1)
			go func() {
				_, err := f.Format(context.Background(), msg("L"), route)
				done <- err
			}()
			select {
			case err := <-done:
				wantReason(t, err, plugins.ReasonTimeout, rows.ErrPluginFailed)
			case <-time.After(20 * time.Second):
				t.Fatal("the deadline did not stop the guest while the collector ran")
			}
			close(stop)
			<-gcDone
		})
	}
}

// TestBatch runs good and hostile messages through one Batch: every call
// gets the answer Format would give, a call that discards the instance
// leaves the next on a fresh one, the batch holds its instance until Close,
// and Close gives it back.
func TestBatch(t *testing.T) {
	for mode, r := range runtimes() {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			f := loadIn(t, r, hostileModule(hostile{version: 1}), plugins.Limits{Instances: 1, CallTimeout: 200 * time.Millisecond, MaxRows: 2, MaxOutputBytes: 1 << 20})
			b := f.NewBatch(ctx)
			for _, p := range []struct {
				payload string
				reason  plugins.Reason // 0: rows
			}{{"fine", plugins.Reason(0)}, {"T", plugins.ReasonTrap}, {"fine", plugins.Reason(0)}, {"L", plugins.ReasonTimeout},
				{"fine", plugins.Reason(0)}, {"M", plugins.ReasonMalformed}, {"fine", plugins.Reason(0)}} {
				rs, err := b.Format(msg(p.payload), route)
				if p.reason == plugins.Reason(0) {
					if err != nil || len(rs) != 1 || rs[0].Columns[0].Name != "ok" {
						t.Fatalf("%s: rows %+v, error %v", p.payload, rs, err)
					}
					continue
				}
				sentinel := rows.ErrPluginFailed
				if p.reason == plugins.ReasonMalformed {
					sentinel = rows.ErrMalformedPayload
				}
				wantReason(t, err, p.reason, sentinel)
			}
			// The one instance is the batch's until Close.
			busy, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			_, err := f.Format(busy, msg("fine"), route)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Format during the batch: %v, want to wait for the instance", err)
			}
			b.Close()
			b.Close() // a second Close does nothing
			if _, err := f.Format(ctx, msg("fine"), route); err != nil {
				t.Fatal(err)
			}
			s := f.Stats()
			if s.Calls != 8 || s.InstancesStarted != 3 || s.InstancesDiscarded != 2 || s.Malformed() != 1 || s.Failed() != 2 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

// TestFormatAll runs batches through a guest that exports
// lakegate_format_batch: a batch it answers comes back from that one call
// (rows ok=2); a batch that traps, loops, is refused or answered for the
// wrong number of messages is formatted again message by message (rows
// ok=1), where only the message at fault fails, with the failure a call of
// its own gives.
func TestFormatAll(t *testing.T) {
	type want struct {
		ok     int64          // the row's ok column
		reason plugins.Reason // or the failure
	}
	cases := []struct {
		name      string
		payloads  []string
		want      []want
		discarded uint64
	}{
		{"answered", []string{"a", "b", "c"}, []want{{ok: 2}, {ok: 2}, {ok: 2}}, 0},
		{"trap", []string{"a", "b", "T"}, []want{{ok: 1}, {ok: 1}, {reason: plugins.ReasonTrap}}, 2},
		{"loop", []string{"a", "b", "L"}, []want{{ok: 1}, {ok: 1}, {reason: plugins.ReasonTimeout}}, 2},
		{"refused", []string{"a", "b", "Z"}, []want{{ok: 1}, {ok: 1}, {ok: 1}}, 1},
		{"wrong count", []string{"a", "b"}, []want{{ok: 1}, {ok: 1}}, 1},
		{"large one alone", []string{"a", "b", "c", "M"}, []want{{ok: 2}, {ok: 2}, {ok: 2}, {reason: plugins.ReasonMalformed}}, 0},
	}
	for mode, r := range runtimes() {
		for _, c := range cases {
			t.Run(mode+"/"+c.name, func(t *testing.T) {
				f := loadIn(t, r, hostileModule(hostile{version: 1, batch: true}), plugins.Limits{Instances: 1, CallTimeout: 200 * time.Millisecond})
				b := f.NewBatch(context.Background())
				defer b.Close()
				items := make([]plugins.Item, len(c.payloads))
				for i, p := range c.payloads {
					items[i] = plugins.Item{Msg: msg(p), Route: route}
				}
				if len(items) == batchOf+1 {
					// The batch limits would not split these: the last
					// message goes alone because it is too large to batch.
					items[batchOf].Msg.Payload = append(bytes.Repeat([]byte{' '}, 20<<10), 'M')
				}
				b.FormatAll(items)
				for i, w := range c.want {
					it := items[i]
					if w.reason != 0 {
						sentinel := rows.ErrPluginFailed
						if w.reason == plugins.ReasonMalformed {
							sentinel = rows.ErrMalformedPayload
						}
						wantReason(t, it.Err, w.reason, sentinel)
						continue
					}
					if it.Err != nil || len(it.Rows) != 1 || it.Rows[0].Columns[0].Value.Int != w.ok {
						t.Fatalf("message %d (%q): rows %+v, error %v; want ok=%d", i, c.payloads[i], it.Rows, it.Err, w.ok)
					}
				}
				s := f.Stats()
				if s.Calls != uint64(len(items)) || s.InstancesDiscarded != c.discarded {
					t.Fatalf("stats %+v: want %d calls, %d instances discarded", s, len(items), c.discarded)
				}
			})
		}
	}
}
