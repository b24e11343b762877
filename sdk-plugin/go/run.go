package sdk

// Handler turns one message into rows. Returning an error discards the rows
// written so far and reports the error text to the host; a plain error
// means the payload is malformed (see Malformed and Fail).
type Handler func(in *Input, out *Output) error

// Checker validates a route (in.Table and in.Options) when the gateway
// starts, before any message arrives. It returns Fail or plain errors; both
// stop the gateway with the error text.
type Checker func(in *Input) error

// The registered handler and checker. A reactor is a process of its own
// that the host calls into, so its handler has to live in a package
// variable set from init; the host-side rule against package-level state
// does not apply to guests.
var (
	handler Handler
	checker Checker
)

// Handle registers the plugin's handler. Call it from an init function.
func Handle(h Handler) { handler = h }

// HandleCheck registers an optional route checker. Call it from an init
// function. Without one every route is accepted.
func HandleCheck(c Checker) { checker = c }

// Registered returns the handler and checker registered with Handle and
// HandleCheck, for test harnesses.
func Registered() (Handler, Checker) { return handler, checker }

// Runner decodes inputs and encodes outputs, reusing its buffers from call
// to call. The wasm exports use one; tests may use their own. A Runner is
// not safe for concurrent use.
type Runner struct {
	in  Input
	out Output
}

// Run handles one ABI-encoded input with h (and c for route checks) and
// returns the ABI-encoded output. The returned slice is reused by the next
// call.
func (r *Runner) Run(h Handler, c Checker, input []byte) []byte {
	o := &r.out
	if err := r.in.decode(input); err != nil {
		return o.fail(StatusFailed, err.Error())
	}
	o.reset(r.in.maxRows, r.in.maxBytes)
	if r.in.CheckOnly {
		if c != nil {
			if err := c(&r.in); err != nil {
				return o.fail(StatusFailed, err.Error())
			}
		}
		return o.finish()
	}
	if h == nil {
		return o.fail(StatusFailed, "sdk: no handler registered (call sdk.Handle from init)")
	}
	if err := h(&r.in, o); err != nil {
		return o.fail(statusOf(err), err.Error())
	}
	out := o.finish()
	if o.over != 0 {
		if o.over == overRows {
			return o.fail(StatusLimit, "output limit: more than "+utoa(uint64(o.maxRows))+" rows")
		}
		return o.fail(StatusLimit, "output limit: more than "+utoa(uint64(o.maxBytes))+" bytes")
	}
	return out
}

// RunBatch handles a batch of ABI-encoded inputs (ABI.md, "Batches"),
// each as Run would, and appends the batch output to dst[:0]. It returns
// dst[:0] when batch is not a well-formed batch: an empty output, which
// the host takes as a refusal.
func (r *Runner) RunBatch(h Handler, c Checker, batch, dst []byte) []byte {
	dst = dst[:0]
	if len(batch) < 4 {
		return dst
	}
	count := le32(batch)
	dst = append32(dst, count)
	off := 4
	for i := uint32(0); i < count; i++ {
		if len(batch)-off < 4 {
			return dst[:0]
		}
		n := int(le32(batch[off:]))
		off += 4
		if n > len(batch)-off {
			return dst[:0]
		}
		out := r.Run(h, c, batch[off:off+n])
		dst = append(append32(dst, uint32(len(out))), out...)
		off += n
	}
	if off != len(batch) {
		return dst[:0]
	}
	return dst
}

// utoa formats v in decimal without strconv.
func utoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return string(b[i:])
}
