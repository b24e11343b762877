package plugins

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/lakegate/lakegate/arrowstore/rows"
)

// Batch calls (sdk-plugin/ABI.md, "Batches"). A guest that exports
// lakegate_format_batch formats several messages in one call: the call
// itself, its deadline and the guest's own set-up are paid once for them
// all. Messages of at most maxBatchItemBytes go in batches of at most
// maxBatchCount messages and maxBatchBytes of input.
const (
	maxBatchCount     = 256
	maxBatchBytes     = 256 << 10
	maxBatchItemBytes = 16 << 10
)

// Item is one message for Batch.FormatAll and, once it returns, its
// outcome.
type Item struct {
	Msg   *rows.Message
	Route *Route
	Rows  []rows.Row // the message's rows when Err is nil
	Err   error      // what Format would return
}

// batchOutcome is what one message of a batch call came to, held until
// the whole batch is known to be good.
type batchOutcome struct {
	rows   []rows.Row
	reason Reason // ReasonMalformed or ReasonGuestError; 0 for rows
	text   string
}

// batchScratch is an instance's working memory for batch calls.
type batchScratch struct {
	received []int64
	outcomes []batchOutcome
}

// callBatch formats items, whose input sizes are sizes, in one call of the
// guest's batch export, its deadline running from now, and reports whether
// it did. It reports false, leaving items alone, when the batch as a whole
// failed: a trap, a timeout, an output the host refuses, or a message
// whose failure would discard the instance. The caller then formats those
// messages one by one, so that only the one at fault fails, with the
// failure a call of its own gives. callBatch returns the instance to put back in the pool: inst, or
// nil if it was discarded. A discarded instance is logged at Debug level
// only: the calls that follow say at Warn level what the message at fault
// did.
func (inst *instance) callBatch(ctx context.Context, now time.Time, items []Item, sizes []uint32) (bool, *instance) {
	f := inst.f
	sc := &inst.batch
	sc.received = sc.received[:0]
	total := 4
	for i, it := range items {
		sc.received = append(sc.received, receivedNanos(it.Msg))
		total += 4 + int(sizes[i])
	}
	inst.stdio.reset()
	cctx, d := inst.startCall(ctx, now, f.limits.CallTimeout)
	err := inst.runBatch(cctx, items, sizes, uint32(total))
	fired := inst.endCall(d)
	if err != nil {
		var cf *callFailure
		if errors.As(err, &cf) {
			inst.discard(ctx, cf.reason, "batch: "+cf.text, slog.LevelDebug)
		} else {
			reason, text := inst.classify(ctx, err, fired)
			inst.discard(ctx, reason, "batch: "+text, slog.LevelDebug)
		}
		return false, nil
	}
	if f.oomNoted.Load() > 0 {
		inst.forgetOOM() // the guest got over a failed allocation
	}
	if reason, text := inst.readBatch(items); reason != 0 {
		inst.discard(ctx, reason, "batch: "+text, slog.LevelDebug)
		return false, nil
	}
	inst.flushStdio(ctx)
	for i, o := range sc.outcomes {
		if o.reason != 0 {
			f.stats.failures[o.reason].Add(1)
			items[i].Rows, items[i].Err = nil, &Error{Formatter: f.name, Reason: o.reason, Text: o.text}
			continue
		}
		items[i].Rows, items[i].Err = o.rows, nil
	}
	clear(sc.outcomes)
	return true, inst
}

// runBatch writes the batch input into the guest and calls
// lakegate_format_batch; the result is left in inst.stack[0].
func (inst *instance) runBatch(ctx context.Context, items []Item, sizes []uint32, total uint32) error {
	buf, err := inst.inputBuffer(ctx, total)
	if err != nil {
		return err
	}
	le := binary.LittleEndian
	le.PutUint32(buf, uint32(len(items)))
	off := uint32(4)
	for i, it := range items {
		n := sizes[i]
		le.PutUint32(buf[off:], n)
		encodeInput(buf[off+4:off+4+n], it.Msg, it.Route, inst.batch.received[i], false, &inst.f.limits)
		off += 4 + n
	}
	inst.stack[0] = uint64(total)
	return inst.fnBatch.CallWithStack(ctx, inst.stack[:])
}

// readBatch decodes the batch output into inst.batch.outcomes. It returns
// a reason (and text) when the batch must be redone message by message:
// the output is not a well-formed batch, or a message's output is one
// whose failure discards the instance.
func (inst *instance) readBatch(items []Item) (Reason, string) {
	f := inst.f
	sc := &inst.batch
	ptr, n := uint32(inst.stack[0]>>32), uint32(inst.stack[0])
	if uint64(n) > 4+uint64(len(items))*(4+uint64(f.limits.MaxOutputBytes)) {
		return ReasonOutputLimit, "output larger than its messages' limits allow"
	}
	out, ok := inst.mem.Read(ptr, n)
	if !ok {
		return ReasonBadOutput, "output buffer lies outside guest memory"
	}
	le := binary.LittleEndian
	if len(out) < 4 || le.Uint32(out) != uint32(len(items)) {
		return ReasonBadOutput, "output does not hold one output per message"
	}
	sc.outcomes = sc.outcomes[:0]
	off := 4
	for i, it := range items {
		if len(out)-off < 4 {
			return ReasonBadOutput, "output ends early"
		}
		size := int(le.Uint32(out[off:]))
		off += 4
		if size > len(out)-off {
			return ReasonBadOutput, "output ends early"
		}
		if size > f.limits.MaxOutputBytes {
			return ReasonOutputLimit, "a message's output is over the limit"
		}
		one := out[off : off+size]
		off += size
		if size == 0 {
			return ReasonBadOutput, "a message's output is empty"
		}
		switch one[0] {
		case statusOK:
			rs, oerr := inst.dec.decode(one, it.Route.Table, sc.received[i], &f.limits)
			if oerr != nil {
				return oerr.reason, oerr.text
			}
			sc.outcomes = append(sc.outcomes, batchOutcome{rows: rs})
		case statusMalformed:
			sc.outcomes = append(sc.outcomes, batchOutcome{reason: ReasonMalformed, text: errorText(one)})
		case statusFailed:
			sc.outcomes = append(sc.outcomes, batchOutcome{reason: ReasonGuestError, text: errorText(one)})
		default: // a broken limit or an unknown status discards the instance
			return ReasonBadOutput, "a message's output has status " + strconv.Itoa(int(one[0]))
		}
	}
	if off != len(out) {
		return ReasonBadOutput, "output goes on past its last message"
	}
	return 0, ""
}
