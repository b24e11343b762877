package wal

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/lakegate/lakegate/arrowstore/rows"
)

func sampleRows() []rows.Row {
	return []rows.Row{
		{Table: "t", Time: 1_700_000_000_123_456_789, Columns: []rows.Column{
			{Name: "i", Value: rows.Int(-42)},
			{Name: "f", Value: rows.Float(math.NaN())},
			{Name: "b", Value: rows.Bool(true)},
			{Name: "s", Value: rows.String("héllo")},
			{Name: "y", Value: rows.Bytes([]byte{0, 255})},
			{Name: "ts", Value: rows.Timestamp(-5)},
			{Name: "n", Value: rows.Null()},
		}},
		{Table: "u", Time: -1},
	}
}

func TestRecordRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		seq  uint64
		rs   []rows.Row
	}{
		{"no rows", 1, nil},
		{"every kind", 7, sampleRows()},
		{"max seq", math.MaxUint64, sampleRows()[1:]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf, err := AppendRecord([]byte("prefix"), tc.seq, tc.rs)
			if err != nil {
				t.Fatal(err)
			}
			seq, rs, n, err := DecodeRecord(buf[len("prefix"):])
			if err != nil {
				t.Fatal(err)
			}
			if seq != tc.seq || n != len(buf)-len("prefix") || !rowsEqual(rs, tc.rs) {
				t.Fatalf("got seq %d n %d rows %+v", seq, n, rs)
			}
		})
	}
}

func rowsEqual(a, b []rows.Row) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Table != b[i].Table || a[i].Time != b[i].Time || len(a[i].Columns) != len(b[i].Columns) {
			return false
		}
		for j := range a[i].Columns {
			x, y := a[i].Columns[j], b[i].Columns[j]
			if x.Name != y.Name || !x.Value.Equal(y.Value) {
				return false
			}
		}
	}
	return true
}

func TestDecodeErrors(t *testing.T) {
	good, err := AppendRecord(nil, 3, sampleRows())
	if err != nil {
		t.Fatal(err)
	}
	mod := func(f func([]byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	reframe := func(payload []byte) []byte {
		b, _ := AppendRecord(nil, 0, nil)
		b = b[:headerLen]
		b = append(b, payload...)
		putHeader(b)
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"short header", good[:5], ErrTruncated},
		{"short payload", good[:len(good)-1], ErrTruncated},
		{"bad checksum", mod(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), ErrCorrupt},
		{"huge length", mod(func(b []byte) []byte { b[3] = 0xff; return b }), ErrCorrupt},
		{"payload too short for seq", reframe([]byte{1, 2, 3}), ErrCorrupt},
		{"row count past end", reframe(append(make([]byte, 8), 0xff, 0x01)), ErrCorrupt},
		{"trailing bytes", reframe(append(make([]byte, 8), 0, 9)), ErrCorrupt},
		{"unknown kind", reframe(append(make([]byte, 8), 1, 1, 't', 0, 1, 1, 'c', 9)), ErrCorrupt},
		{"bad bool", reframe(append(make([]byte, 8), 1, 1, 't', 0, 1, 1, 'c', 3, 2)), ErrCorrupt},
		{"string past end", reframe(append(make([]byte, 8), 1, 1, 't', 0, 1, 1, 'c', 4, 9, 'x')), ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, n, err := DecodeRecord(tc.in)
			if !errors.Is(err, tc.want) || n != 0 {
				t.Fatalf("DecodeRecord = n %d, %v; want %v", n, err, tc.want)
			}
		})
	}
}

// putHeader fills in the length and checksum of a framed record.
func putHeader(b []byte) {
	p := b[headerLen:]
	b[0], b[1], b[2], b[3] = byte(len(p)), byte(len(p)>>8), byte(len(p)>>16), byte(len(p)>>24)
	sum := crcOf(p)
	b[4], b[5], b[6], b[7] = byte(sum), byte(sum>>8), byte(sum>>16), byte(sum>>24)
}

func testLog(t testing.TB, dir string, segSize int64) *Log {
	t.Helper()
	l, err := Open(Options{Dir: dir, SegmentSize: segSize, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func appendN(t *testing.T, l *Log, from, n uint64) {
	t.Helper()
	for seq := from; seq < from+n; seq++ {
		rec, err := AppendRecord(nil, seq, []rows.Row{{Table: "t", Time: int64(seq), Columns: []rows.Column{{Name: "v", Value: rows.Int(int64(seq))}}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Append(seq, rec); err != nil {
			t.Fatal(err)
		}
	}
}

func replayAll(t testing.TB, l *Log) []uint64 {
	t.Helper()
	var seqs []uint64
	if _, err := l.Replay(func(seq uint64, rs []rows.Row) error {
		if len(rs) != 1 || rs[0].Columns[0].Value.Int != int64(seq) {
			return fmt.Errorf("seq %d: rows %+v", seq, rs)
		}
		seqs = append(seqs, seq)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return seqs
}

func segFiles(t *testing.T, dir string) []string {
	m, err := filepath.Glob(filepath.Join(dir, "wal-*.log"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLogRotateReplayRelease(t *testing.T) {
	dir := t.TempDir()
	l := testLog(t, dir, 100) // a few records per segment
	if got := replayAll(t, l); len(got) != 0 {
		t.Fatalf("fresh log replayed %v", got)
	}
	if err := l.Start(1); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 1, 20)
	if err := l.SyncTo(20); err != nil {
		t.Fatal(err)
	}
	nseg := len(segFiles(t, dir))
	if nseg < 3 {
		t.Fatalf("want several segments, got %d", nseg)
	}
	if err := l.Release(10); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l = testLog(t, dir, 100)
	got := replayAll(t, l)
	if got[0] > 10 || got[len(got)-1] != 20 || len(got) < 11 {
		t.Fatalf("after Release(10) replayed %v", got)
	}
	if len(segFiles(t, dir)) >= nseg {
		t.Fatalf("Release deleted nothing")
	}
	if err := l.Start(21); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(21); err != nil { // everything is in files
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if segs := segFiles(t, dir); len(segs) != 0 {
		t.Fatalf("Release(21) and Close left %v", segs)
	}
}

func TestLogStartRejectsUsedSeq(t *testing.T) {
	dir := t.TempDir()
	l := testLog(t, dir, 0)
	replayAll(t, l)
	if err := l.Start(5); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 5, 2)
	if err := l.Append(6, []byte("x")); err == nil {
		t.Fatal("Append of a used seq succeeded")
	}
	l.Close()
	l = testLog(t, dir, 0)
	defer l.Close()
	replayAll(t, l)
	if err := l.Start(6); err == nil {
		t.Fatal("Start at a replayed seq succeeded")
	}
}

func TestLogIsExclusive(t *testing.T) {
	dir := t.TempDir()
	l := testLog(t, dir, 0)
	if _, err := Open(Options{Dir: dir, Logger: slog.Default()}); err == nil {
		t.Fatal("second Open of a locked log succeeded")
	}
	l.Close()
	l2 := testLog(t, dir, 0)
	l2.Close()
}

// TestGroupCommit: concurrent SyncTo callers all return with their seq on
// disk, sharing fsyncs.
func TestGroupCommit(t *testing.T) {
	dir := t.TempDir()
	l := testLog(t, dir, 0)
	defer l.Close()
	replayAll(t, l)
	if err := l.Start(1); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex // the store's mutex: appends in seq order
	next := uint64(1)
	var wg sync.WaitGroup
	const writers, each = 8, 40
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				mu.Lock()
				seq := next
				next++
				rec, _ := AppendRecord(nil, seq, nil)
				err := l.Append(seq, rec)
				mu.Unlock()
				if err == nil {
					err = l.SyncTo(seq)
				}
				if err != nil {
					t.Error(err)
					return
				}
				if st := l.Stats(); st.Synced < seq {
					t.Errorf("SyncTo(%d) returned with synced %d", seq, st.Synced)
				}
			}
		}()
	}
	wg.Wait()
	st := l.Stats()
	t.Logf("%d durable appends, %d fsyncs", writers*each, st.Syncs)
	if st.Syncs > writers*each {
		t.Fatalf("more fsyncs (%d) than appends", st.Syncs)
	}
}

func TestReplayTornHeaderSegmentIsRemoved(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, segmentName(9)), segmentMagic[:3], 0o644); err != nil {
		t.Fatal(err)
	}
	l := testLog(t, dir, 0)
	defer l.Close()
	if got := replayAll(t, l); len(got) != 0 {
		t.Fatalf("replayed %v", got)
	}
	if segs := segFiles(t, dir); len(segs) != 0 {
		t.Fatalf("torn segment kept: %v", segs)
	}
	if err := l.Start(9); err != nil {
		t.Fatalf("Start at the removed segment's seq: %v", err)
	}
	if !reflect.DeepEqual(l.Stats().Segments, 1) {
		t.Fatal("no active segment")
	}
}

// segmentSizes returns the sizes of dir's segment files, oldest first.
func segmentSizes(t *testing.T, dir string) []int64 {
	t.Helper()
	var sizes []int64
	for _, p := range segFiles(t, dir) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, fi.Size())
	}
	return sizes
}

// A crash leaves the active segment with its preallocated zeros; replay
// takes every record before them, and no segment but the active one keeps
// zeros (they would read as corruption in a segment that is not the last).
func TestReplayAfterCrashWithPreallocatedTail(t *testing.T) {
	dir := t.TempDir()
	const segSize = 1 << 20
	l := testLog(t, dir, segSize)
	replayAll(t, l)
	if err := l.Start(1); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 1, 5)
	if err := l.SyncTo(5); err != nil {
		t.Fatal(err)
	}
	l.Abandon() // as kill -9 leaves it
	sizes := segmentSizes(t, dir)
	if len(sizes) != 1 {
		t.Fatalf("segments %v", sizes)
	}
	preallocated := sizes[0] == preallocStep // not on every OS or file system

	l = testLog(t, dir, segSize)
	if got := replayAll(t, l); !reflect.DeepEqual(got, []uint64{1, 2, 3, 4, 5}) {
		t.Fatalf("replayed %v", got)
	}
	if err := l.Start(6); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 6, 2)
	if err := l.SyncTo(7); err != nil {
		t.Fatal(err)
	}
	l.Abandon()
	sizes = segmentSizes(t, dir)
	if len(sizes) != 2 || sizes[0] >= preallocStep {
		t.Fatalf("after the first replay the old segment should be cut to its records: sizes %v", sizes)
	}
	if preallocated && sizes[1] != preallocStep {
		t.Fatalf("active segment not preallocated: sizes %v", sizes)
	}

	l = testLog(t, dir, segSize)
	if got := replayAll(t, l); !reflect.DeepEqual(got, []uint64{1, 2, 3, 4, 5, 6, 7}) {
		t.Fatalf("second replay %v", got)
	}
	if err := l.Start(8); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, sz := range segmentSizes(t, dir) {
		if sz >= preallocStep {
			t.Fatalf("a closed log keeps preallocated zeros: %v", segmentSizes(t, dir))
		}
	}
}

// A record cut short inside the preallocated region (the crash came in the
// middle of its write) is a torn tail: the records before it are kept.
func TestReplayTornRecordBeforeZeros(t *testing.T) {
	dir := t.TempDir()
	const segSize = 1 << 20
	l := testLog(t, dir, segSize)
	replayAll(t, l)
	if err := l.Start(1); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 1, 3)
	if err := l.SyncTo(3); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	end := l.size
	l.mu.Unlock()
	l.Abandon()

	seg := segFiles(t, dir)[0]
	f, err := os.OpenFile(seg, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := AppendRecord(nil, 4, sampleRows())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(rec[:len(rec)/2], end); err != nil {
		t.Fatal(err)
	}
	f.Close()

	l = testLog(t, dir, segSize)
	defer l.Close()
	if got := replayAll(t, l); !reflect.DeepEqual(got, []uint64{1, 2, 3}) {
		t.Fatalf("replayed %v", got)
	}
	if sizes := segmentSizes(t, dir); sizes[0] != end {
		t.Fatalf("torn segment cut to %d bytes, want %d", sizes[0], end)
	}
}

// Records past the first preallocated step grow the zeros ahead of them;
// all of them replay after a crash.
func TestAppendBeyondPreallocation(t *testing.T) {
	dir := t.TempDir()
	l := testLog(t, dir, 64<<20)
	replayAll(t, l)
	if err := l.Start(1); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 1<<20) // a payload column of 1 MiB per record
	const n = 6                // more than preallocStep in all
	for seq := uint64(1); seq <= n; seq++ {
		rec, err := AppendRecord(nil, seq, []rows.Row{{Table: "t", Time: int64(seq), Columns: []rows.Column{
			{Name: "v", Value: rows.Int(int64(seq))}, {Name: "blob", Value: rows.Bytes(big)}}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Append(seq, rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.SyncTo(n); err != nil {
		t.Fatal(err)
	}
	l.Abandon()
	l = testLog(t, dir, 64<<20)
	defer l.Close()
	var got []uint64
	if _, err := l.Replay(func(seq uint64, rs []rows.Row) error {
		if len(rs) != 1 || len(rs[0].Columns[1].Value.Bytes) != len(big) {
			return fmt.Errorf("seq %d: bad row", seq)
		}
		got = append(got, seq)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("replayed %v", got)
	}
}

// BenchmarkAppendSync is the cost of a durable append: one record of about
// 16 KB (a QoS 1 group commit's worth of sensor rows) written and synced
// per iteration, in a segment preallocated as in production.
func BenchmarkAppendSync(b *testing.B) {
	l := testLog(b, b.TempDir(), 0)
	defer l.Close()
	replayAll(b, l)
	if err := l.Start(1); err != nil {
		b.Fatal(err)
	}
	rs := make([]rows.Row, 100)
	for i := range rs {
		rs[i] = rows.Row{Table: "sensors", Time: int64(i), Columns: []rows.Column{
			{Name: "device", Value: rows.String("sensor-0042")}, {Name: "status", Value: rows.String("ok")},
			{Name: "temp", Value: rows.Float(21.5)}, {Name: "humidity", Value: rows.Float(48.2)},
			{Name: "battery", Value: rows.Float(3.71)}, {Name: "seq", Value: rows.Float(12345)}}}
	}
	var rec []byte
	seq := uint64(0)
	for b.Loop() {
		seq++
		var err error
		if rec, err = AppendRecord(rec[:0], seq, rs); err != nil {
			b.Fatal(err)
		}
		if err := l.Append(seq, rec); err != nil {
			b.Fatal(err)
		}
		if err := l.SyncTo(seq); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(rec)))
}
