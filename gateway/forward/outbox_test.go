package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

func openTest(t *testing.T, dir string, tune func(*Options)) *Outbox {
	t.Helper()
	opts := Options{Dir: dir, SyncInterval: time.Hour} // tests save the cursor themselves
	if tune != nil {
		tune(&opts)
	}
	o, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func item(i int) Item {
	return Item{Topic: fmt.Sprintf("t/%d", i%3), Payload: []byte(fmt.Sprintf("payload-%d", i)), QoS: byte(i % 2)}
}

// appendDurable appends items from..to-1 one call each and waits for them.
func appendDurable(t *testing.T, o *Outbox, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		wait, err := o.Append(context.Background(), []Item{item(i)})
		if err != nil {
			t.Fatal(err)
		}
		if err := wait(); err != nil {
			t.Fatal(err)
		}
	}
}

// next reads one entry, failing after a generous timeout.
func next(t *testing.T, o *Outbox) Entry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := o.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// expectEmpty checks that Next has nothing: it must block until the context ends.
func expectEmpty(t *testing.T, o *Outbox) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if e, err := o.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next on a drained outbox: %+v, %v", e, err)
	}
}

// checkEntries reads len(want) entries and compares them with items want.
func checkEntries(t *testing.T, o *Outbox, want ...int) []Entry {
	t.Helper()
	var got []Entry
	for _, i := range want {
		e := next(t, o)
		it := item(i)
		if e.Topic != it.Topic || string(e.Payload) != string(it.Payload) || e.QoS != it.QoS {
			t.Fatalf("entry seq %d: got %q %q qos %d, want item %d: %q %q qos %d", e.Seq, e.Topic, e.Payload, e.QoS, i, it.Topic, it.Payload, it.QoS)
		}
		got = append(got, e)
	}
	return got
}

func seq(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func TestOutboxOrderAckRestart(t *testing.T) {
	dir := t.TempDir()
	o := openTest(t, dir, nil)
	appendDurable(t, o, 0, 10)
	got := checkEntries(t, o, seq(0, 10)...)
	for i := 1; i < len(got); i++ {
		if got[i].Seq != got[i-1].Seq+1 {
			t.Fatalf("seqs not consecutive: %d then %d", got[i-1].Seq, got[i].Seq)
		}
	}
	o.Ack(got[3].Seq) // 0..3 delivered
	if st := o.Stats(); st.Queued != 6 || st.Forwarded != 4 || st.Appended != 10 {
		t.Fatalf("stats %+v, want 6 queued, 4 forwarded, 10 appended", st)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}

	// The cursor saved at Close: delivery resumes with item 4.
	o = openTest(t, dir, nil)
	if st := o.Stats(); st.Queued != 6 {
		t.Fatalf("after restart %d queued, want 6", st.Queued)
	}
	again := checkEntries(t, o, seq(4, 10)...)
	if again[0].Seq != got[4].Seq {
		t.Fatalf("resumed at seq %d, want %d", again[0].Seq, got[4].Seq)
	}
	appendDurable(t, o, 10, 12)
	more := checkEntries(t, o, 10, 11)
	if more[0].Seq != got[9].Seq+1 {
		t.Fatalf("seq after restart %d, want %d", more[0].Seq, got[9].Seq+1)
	}
	o.Ack(more[1].Seq)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}

	// Everything delivered: no data is kept, and nothing comes back.
	o = openTest(t, dir, nil)
	expectEmpty(t, o)
	if st := o.Stats(); st.Queued != 0 || st.Bytes != int64(len(segmentMagic)) {
		t.Fatalf("drained outbox stats %+v, want nothing queued and an empty segment", st)
	}
	appendDurable(t, o, 12, 13)
	if e := checkEntries(t, o, 12); e[0].Seq != more[1].Seq+1 {
		t.Fatalf("seq after a drained restart %d, want %d", e[0].Seq, more[1].Seq+1)
	}
}

// copyDir copies the outbox files as they are on disk: what a crash of
// the process at this moment would leave.
func copyDir(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

func TestOutboxCrashResendsUnsavedCursor(t *testing.T) {
	dir := t.TempDir()
	o := openTest(t, dir, nil)
	appendDurable(t, o, 0, 5)
	got := checkEntries(t, o, seq(0, 5)...)
	o.Ack(got[1].Seq)
	if err := o.saveCursor(); err != nil { // what the background does every SyncInterval
		t.Fatal(err)
	}
	o.Ack(got[3].Seq) // acknowledged upstream, cursor not yet on disk

	crashed := openTest(t, copyDir(t, dir), nil)
	// At-least-once: 2 and 3 come again, nothing is skipped.
	checkEntries(t, crashed, 2, 3, 4)
	expectEmpty(t, crashed)
}

func lastSegment(t *testing.T, dir string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "out-*.log"))
	if err != nil || len(m) == 0 {
		t.Fatalf("no segment in %s (%v)", dir, err)
	}
	sort.Strings(m)
	return m[len(m)-1]
}

func TestOutboxTornTail(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, path string, lastRecord int64)
	}{
		{"cut_in_body", func(t *testing.T, path string, last int64) { truncate(t, path, last+recordHeaderLen+3) }},
		{"cut_in_header", func(t *testing.T, path string, last int64) { truncate(t, path, last+5) }},
		{"bad_checksum", func(t *testing.T, path string, last int64) { flipByte(t, path, last+recordHeaderLen+2) }},
		{"garbage_tail", func(t *testing.T, path string, last int64) { appendBytes(t, path, []byte("\xff\xff\xff\x7fjunk")) }},
		{"zeros_tail", func(t *testing.T, path string, last int64) { appendBytes(t, path, make([]byte, 64)) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			o := openTest(t, dir, nil)
			appendDurable(t, o, 0, 5)
			path := lastSegment(t, dir)
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			lastRec := st.Size() - recordLen(t, 4)
			if err := o.Close(); err != nil {
				t.Fatal(err)
			}
			tc.damage(t, path, lastRec)
			wantItems := seq(0, 5)
			if tc.name != "garbage_tail" && tc.name != "zeros_tail" {
				wantItems = seq(0, 4) // the damaged last record is gone
			}

			o = openTest(t, dir, nil)
			if st, err := os.Stat(path); err != nil || (len(wantItems) == 4 && st.Size() != lastRec) {
				t.Fatalf("segment after open: %v, %v; want it cut to %d bytes", st.Size(), err, lastRec)
			}
			checkEntries(t, o, wantItems...)
			appendDurable(t, o, 5, 6)
			checkEntries(t, o, 5)
			expectEmpty(t, o)
		})
	}
}

// recordLen is the framed size of item(i) (seq width is fixed).
func recordLen(t *testing.T, i int) int64 {
	b, err := appendRecord(nil, 1, item(i))
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(b))
}

func truncate(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x40
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func TestOutboxCorruptMiddleSegmentRefused(t *testing.T) {
	dir := t.TempDir()
	o := openTest(t, dir, func(o *Options) { o.SegmentSize = 60 })
	appendDurable(t, o, 0, 10)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "out-*.log"))
	sort.Strings(segs)
	if len(segs) < 3 {
		t.Fatalf("%d segments, want several", len(segs))
	}
	flipByte(t, segs[0], int64(len(segmentMagic)+recordHeaderLen+1))
	if _, err := Open(Options{Dir: dir}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open with a damaged middle segment: %v, want ErrCorrupt", err)
	}
}

func TestOutboxSegmentsReleasedAndFull(t *testing.T) {
	dir := t.TempDir()
	rec := recordLen(t, 0)
	o := openTest(t, dir, func(o *Options) {
		o.SegmentSize = 3 * rec
		o.MaxBytes = int64(len(segmentMagic))*4 + 9*rec
		o.SyncInterval = 10 * time.Millisecond
	})
	n := 0
	for ; ; n++ {
		wait, err := o.Append(context.Background(), []Item{item(0)})
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := wait(); err != nil {
			t.Fatal(err)
		}
		if n > 100 {
			t.Fatal("the outbox never filled up")
		}
	}
	if n < 6 {
		t.Fatalf("full after %d items, want about 9", n)
	}
	if st := o.Stats(); st.Refused != 1 || st.Bytes > o.opts.MaxBytes {
		t.Fatalf("stats %+v: want 1 refused and at most %d bytes", st, o.opts.MaxBytes)
	}
	var last Entry
	for range n {
		last = next(t, o)
	}
	o.Ack(last.Seq)
	// The background saves the cursor and removes delivered segments.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if st := o.Stats(); st.Bytes == int64(len(segmentMagic)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered segments not released: %+v", o.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if segs, _ := filepath.Glob(filepath.Join(dir, "out-*.log")); len(segs) != 1 {
		t.Fatalf("%d segment files after everything was delivered, want 1 (empty, active)", len(segs))
	}
	appendDurable(t, o, 0, 1)
	if e := next(t, o); e.Seq != last.Seq+1 {
		t.Fatalf("seq after release %d, want %d", e.Seq, last.Seq+1)
	}
}

func TestOutboxClosed(t *testing.T) {
	o := openTest(t, t.TempDir(), nil)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Append(context.Background(), []Item{item(0)}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if _, err := o.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
	if err := o.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestOutboxHammer appends from many goroutines (batches, some waiting
// for durability, some not) while one reader drains, across segment
// rotations: each writer's items come out complete and in its order.
func TestOutboxHammer(t *testing.T) {
	const writers, perWriter = 8, 300
	o := openTest(t, t.TempDir(), func(o *Options) {
		o.SegmentSize = 4 << 10
		o.SyncInterval = 5 * time.Millisecond
	})
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; {
				batch := []Item{{Topic: fmt.Sprintf("w%d", w), Payload: []byte(fmt.Sprint(i)), QoS: 1}}
				if i%5 == 0 && i+1 < perWriter {
					batch = append(batch, Item{Topic: fmt.Sprintf("w%d", w), Payload: []byte(fmt.Sprint(i + 1)), QoS: 1})
				}
				wait, err := o.Append(context.Background(), batch)
				if err != nil {
					errs <- err
					return
				}
				if i%2 == 0 {
					if err := wait(); err != nil {
						errs <- err
						return
					}
				}
				i += len(batch)
			}
		}()
	}
	nextWant := make([]int, writers)
	var prev uint64
	for range writers * perWriter {
		e := next(t, o)
		if e.Seq <= prev {
			t.Fatalf("seq %d after %d", e.Seq, prev)
		}
		prev = e.Seq
		var w int
		if _, err := fmt.Sscanf(e.Topic, "w%d", &w); err != nil {
			t.Fatal(err)
		}
		if got := string(e.Payload); got != fmt.Sprint(nextWant[w]) {
			t.Fatalf("writer %d: got item %s, want %d", w, got, nextWant[w])
		}
		nextWant[w]++
		if e.Seq%50 == 0 {
			o.Ack(e.Seq)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	expectEmpty(t, o)
}

func TestRecordRoundTrip(t *testing.T) {
	for _, it := range []Item{
		{Topic: "a/b", Payload: []byte("x"), QoS: 1},
		{Topic: "", Payload: nil, QoS: 0},
		{Topic: strings.Repeat("t", 300), Payload: make([]byte, 70000), QoS: 1},
	} {
		b, err := appendRecord([]byte("prefix"), 42, it)
		if err != nil {
			t.Fatal(err)
		}
		e, n, err := decodeRecord(b[len("prefix"):])
		if err != nil || n != len(b)-len("prefix") {
			t.Fatalf("decode: %v, n %d of %d", err, n, len(b)-len("prefix"))
		}
		if e.Seq != 42 || e.Topic != it.Topic || string(e.Payload) != string(it.Payload) || e.QoS != it.QoS {
			t.Fatalf("round trip of %q: got %+v", it.Topic, e)
		}
		for cut := 0; cut < n; cut += 1 + cut/3 {
			if _, _, err := decodeRecord(b[len("prefix") : len("prefix")+cut]); !errors.Is(err, ErrTruncated) {
				t.Fatalf("record cut at %d: %v, want ErrTruncated", cut, err)
			}
		}
	}
}

// FuzzDecodeRecord: no input panics, and whatever decodes encodes back to
// the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	for i := range 4 {
		b, _ := appendRecord(nil, uint64(i+1), item(i))
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte("\x10\x00\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, n, err := decodeRecord(b)
		if err != nil {
			if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error wraps neither sentinel: %v", err)
			}
			return
		}
		again, err := appendRecord(nil, e.Seq, e.Item)
		if err != nil {
			t.Fatal(err)
		}
		if string(again) != string(b[:n]) {
			t.Fatalf("re-encoding differs:\n%x\n%x", again, b[:n])
		}
	})
}

var _ io.Closer = (*Outbox)(nil)
