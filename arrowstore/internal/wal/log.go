package wal

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lakegate/lakegate/arrowstore/latency"
	"github.com/lakegate/lakegate/arrowstore/rows"
)

// segmentMagic starts every segment file; its last bytes are the format
// version.
var segmentMagic = []byte("LGWAL01\n")

// DefaultSegmentSize is the size at which the active segment is closed and
// a new one started.
const DefaultSegmentSize = 64 << 20

// ErrCorruptLog reports damage that is not a torn tail: a bad record in a
// segment that is not the last, or sequence numbers out of order. The store
// refuses to open rather than silently skip acknowledged rows.
var ErrCorruptLog = errors.New("wal: corrupt log")

// ErrBroken reports that an earlier write or fsync of the log failed; after
// a failed fsync the kernel may have dropped dirty pages, so nothing written
// since the last good sync can be trusted and the log accepts no more.
var ErrBroken = errors.New("wal: log broken by earlier I/O error")

// ErrLocked reports that another Log (in this or another process) holds
// the directory's lock.
var ErrLocked = errors.New("wal: directory in use by another store")

// Options configure a Log.
type Options struct {
	Dir         string       // directory of the segment files; created if missing
	SegmentSize int64        // rotate the active segment at this size; DefaultSegmentSize if 0
	Logger      *slog.Logger // required
}

type segment struct {
	first uint64 // seq of its first record (from the file name)
	last  uint64 // seq of its last record; 0 if none
	path  string
}

// Log is a directory of segment files "wal-<firstseq>.log". Append is not
// safe for concurrent use (the store calls it under its own mutex, which is
// what keeps sequence numbers and buffer order aligned); SyncTo, Release,
// Stats and Close are.
type Log struct {
	opts Options
	lock *os.File

	// syncMu serializes fsyncs: the goroutine holding it is the leader and
	// every writer queued behind it finds its seq covered when it gets in.
	// Lock order: syncMu before mu.
	syncMu sync.Mutex

	mu     sync.Mutex
	segs   []segment // sorted by first; the last is active once Start ran
	active *os.File
	size   int64 // bytes of records (and header) in the active segment
	// pending holds the newest records of the active segment, not yet
	// written to the file: they end at size. Writing records in batches
	// rather than one write(2) each is most of what a QoS 0 message costs
	// the log.
	pending []byte
	// allocated is the active segment file's length when it is
	// preallocated (see preallocate): zero-filled past size, in steps of
	// preallocStep, and cut back to size when the segment closes. 0 when
	// the file system cannot preallocate.
	allocated int64
	appended  uint64     // highest seq appended
	synced    uint64     // highest seq known to be on disk
	retired   []*os.File // rotated-out files, already synced, closed by the next sync
	dirDirty  bool       // a segment was created or removed since the last dir fsync
	broken    error

	syncs       atomic.Uint64
	syncLatency latency.Histogram // of the group-commit syncs
}

// Open lists the segments in opts.Dir and takes an exclusive lock on the
// directory so that two stores cannot share it. Call Replay, then Start.
func Open(opts Options) (*Log, error) {
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating wal directory: %w", err)
	}
	lock, err := lockDir(filepath.Join(opts.Dir, "LOCK"))
	if err != nil {
		return nil, err
	}
	l := &Log{opts: opts, lock: lock}
	ents, err := os.ReadDir(opts.Dir)
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("listing wal directory: %w", err)
	}
	for _, e := range ents {
		first, ok := parseSegmentName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		l.segs = append(l.segs, segment{first: first, path: filepath.Join(opts.Dir, e.Name())})
	}
	sort.Slice(l.segs, func(i, j int) bool { return l.segs[i].first < l.segs[j].first })
	return l, nil
}

func segmentName(first uint64) string { return fmt.Sprintf("wal-%020d.log", first) }

func parseSegmentName(name string) (uint64, bool) {
	s, ok := strings.CutPrefix(name, "wal-")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, ".log")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}

// Replay calls fn with every record of every segment in sequence order and
// returns the highest seq seen (0 if none). A torn or corrupt record in the
// last segment ends the replay there: the segment is truncated to its last
// good record and the loss is logged. Damage anywhere else is ErrCorruptLog.
// Segments left without records are removed.
func (l *Log) Replay(fn func(seq uint64, rs []rows.Row) error) (uint64, error) {
	var last uint64
	keep := l.segs[:0]
	for i, sg := range l.segs {
		isLast := i == len(l.segs)-1
		data, err := os.ReadFile(sg.path)
		if err != nil {
			return 0, fmt.Errorf("reading wal segment %s: %w", sg.path, err)
		}
		good, err := l.replaySegment(&sg, data, &last, fn)
		if errors.Is(err, errZeroTail) {
			// Cut the preallocated zeros off, so that every segment on disk
			// but the active one is exactly its records.
			if err := truncateSync(sg.path, int64(good)); err != nil {
				return 0, err
			}
			err = nil
		}
		if err != nil && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
			return 0, err // fn failed or sequence broken
		}
		if err != nil {
			if !isLast {
				return 0, fmt.Errorf("%w: segment %s at offset %d: %v", ErrCorruptLog, sg.path, good, err)
			}
			l.opts.Logger.Warn("wal: dropping torn tail of last segment",
				"segment", sg.path, "offset", good, "dropped_bytes", len(data)-good, "reason", err.Error())
			if err := truncateSync(sg.path, int64(good)); err != nil {
				return 0, err
			}
		}
		if sg.last == 0 {
			if err := os.Remove(sg.path); err != nil {
				return 0, fmt.Errorf("removing empty wal segment: %w", err)
			}
			l.dirDirty = true
			continue
		}
		keep = append(keep, sg)
	}
	l.segs = keep
	l.appended, l.synced = last, last
	return last, nil
}

// replaySegment decodes data, returning the length of its good prefix. The
// error wraps ErrTruncated or ErrCorrupt for damage, anything else for a
// failure of fn or an out-of-order sequence.
func (l *Log) replaySegment(sg *segment, data []byte, last *uint64, fn func(uint64, []rows.Row) error) (int, error) {
	if len(data) < len(segmentMagic) {
		if bytes.HasPrefix(segmentMagic, data) {
			return 0, fmt.Errorf("%w: short segment header", ErrTruncated)
		}
		return 0, fmt.Errorf("%w: bad segment header", ErrCorrupt)
	}
	if !bytes.Equal(data[:len(segmentMagic)], segmentMagic) {
		return 0, fmt.Errorf("%w: bad segment header %q", ErrCorrupt, data[:len(segmentMagic)])
	}
	off := len(segmentMagic)
	for off < len(data) {
		if allZero(data[off:min(off+4, len(data))]) && allZero(data[off:]) {
			// The unused, preallocated end of a segment the process did not
			// close: its records end here.
			return off, errZeroTail
		}
		seq, rs, n, err := DecodeRecord(data[off:])
		if err != nil {
			return off, err
		}
		if seq <= *last || seq < sg.first {
			return off, fmt.Errorf("%w: segment %s: seq %d after %d", ErrCorruptLog, sg.path, seq, *last)
		}
		if err := fn(seq, rs); err != nil {
			return off, fmt.Errorf("replaying wal seq %d: %w", seq, err)
		}
		*last, sg.last = seq, seq
		off += n
	}
	return off, nil
}

// errZeroTail ends the replay of a segment at its preallocated zeros.
var errZeroTail = errors.New("wal: preallocated tail")

// allZero reports whether b holds only zero bytes. No record is all zeros
// (its payload holds a seq above zero), nor starts with a zero length.
func allZero(b []byte) bool { return bytes.Count(b, []byte{0}) == len(b) }

func truncateSync(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("opening wal segment to truncate: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("truncating wal segment: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing truncated wal segment: %w", err)
	}
	return nil
}

// Start opens a fresh active segment whose first record will be nextSeq.
// nextSeq must be above every seq replayed.
func (l *Log) Start(nextSeq uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if nextSeq <= l.appended {
		return fmt.Errorf("starting wal at seq %d: seq %d already used", nextSeq, l.appended)
	}
	l.appended, l.synced = nextSeq-1, nextSeq-1
	if err := l.openSegmentLocked(nextSeq); err != nil {
		return err
	}
	// Make the new segment's name durable now, so the first sync is cheap.
	if err := SyncDir(l.opts.Dir); err != nil {
		return err
	}
	l.dirDirty = false
	return nil
}

func (l *Log) openSegmentLocked(first uint64) error {
	path := filepath.Join(l.opts.Dir, segmentName(first))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("creating wal segment: %w", err)
	}
	allocated, err := preallocate(f, 0, preallocStep)
	if err == nil {
		_, err = f.WriteAt(segmentMagic, 0)
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("writing wal segment header: %w", err)
	}
	l.active, l.allocated = f, allocated
	l.size = int64(len(segmentMagic))
	l.segs = append(l.segs, segment{first: first, path: path})
	l.dirDirty = true
	return nil
}

// pendingLimit is how many bytes of records Append buffers before it
// writes them to the file.
const pendingLimit = 256 << 10

// Append adds one framed record (from AppendRecord) with the given seq to
// the active segment, rotating it first if it is full. The record is
// buffered: it reaches the file by the next SyncTo (or once pendingLimit
// bytes are buffered) and is on disk once a SyncTo covering seq returned.
// Until then a crash, even of the process alone, may lose it.
func (l *Log) Append(seq uint64, rec []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.broken != nil {
		return l.broken
	}
	if l.active == nil {
		return fmt.Errorf("appending to wal: %w", os.ErrClosed)
	}
	if seq <= l.appended {
		return fmt.Errorf("appending wal seq %d: not above %d", seq, l.appended)
	}
	cur := &l.segs[len(l.segs)-1]
	if l.size >= l.opts.SegmentSize && cur.last != 0 {
		if err := l.rotateLocked(seq); err != nil {
			return err
		}
		cur = &l.segs[len(l.segs)-1]
	}
	l.pending = append(l.pending, rec...)
	l.size += int64(len(rec))
	l.appended = seq
	cur.last = seq
	if len(l.pending) >= pendingLimit {
		return l.writePendingLocked()
	}
	return nil
}

// writePendingLocked writes the buffered records to the active segment. A
// failed write breaks the log: records already accepted by Append would be
// missing from it.
func (l *Log) writePendingLocked() error {
	if len(l.pending) == 0 {
		return nil
	}
	if l.allocated != 0 && l.size > l.allocated {
		// Grow the zeros ahead of the records rather than the file with
		// each write: one metadata change per preallocStep bytes.
		grown, err := preallocate(l.active, l.allocated, max(preallocStep, l.size-l.allocated))
		if err != nil {
			l.broken = fmt.Errorf("%w: preallocating: %v", ErrBroken, err)
			return fmt.Errorf("preallocating wal segment: %w", err)
		}
		l.allocated = grown // 0 if it cannot: the file just grows
	}
	if _, err := l.active.WriteAt(l.pending, l.size-int64(len(l.pending))); err != nil {
		l.broken = fmt.Errorf("%w: writing records: %v", ErrBroken, err)
		return fmt.Errorf("writing wal records: %w", err)
	}
	if cap(l.pending) > 4*pendingLimit {
		l.pending = nil
	} else {
		l.pending = l.pending[:0]
	}
	return nil
}

// rotateLocked syncs and retires the active segment and opens a new one
// starting at first. Syncing here keeps the invariant that every segment
// but the last is complete on disk, which is what lets Replay treat damage
// outside the last segment as corruption rather than a torn tail.
func (l *Log) rotateLocked(first uint64) error {
	if err := l.writePendingLocked(); err != nil {
		return err
	}
	if err := l.trimLocked(); err != nil {
		return err
	}
	if err := l.active.Sync(); err != nil {
		l.broken = fmt.Errorf("%w: %v", ErrBroken, err)
		return fmt.Errorf("syncing wal segment before rotation: %w", err)
	}
	l.syncs.Add(1)
	if l.appended > l.synced {
		l.synced = l.appended
	}
	l.retired = append(l.retired, l.active)
	l.active = nil
	if err := l.openSegmentLocked(first); err != nil {
		l.broken = fmt.Errorf("%w: %v", ErrBroken, err)
		return err
	}
	return nil
}

// SyncTo returns once every record up to seq is on disk. Concurrent callers
// share fsyncs: one goroutine syncs everything appended so far while the
// others wait for it, then find their seq covered (group commit).
func (l *Log) SyncTo(seq uint64) error {
	l.mu.Lock()
	done, broken := l.synced >= seq, l.broken
	l.mu.Unlock()
	if broken != nil {
		return broken
	}
	if done {
		return nil
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	return l.syncLocked(seq)
}

// syncLocked runs with syncMu held.
func (l *Log) syncLocked(seq uint64) error {
	l.mu.Lock()
	if l.broken != nil {
		l.mu.Unlock()
		return l.broken
	}
	if l.synced >= seq {
		l.mu.Unlock()
		return nil
	}
	if l.active != nil {
		if err := l.writePendingLocked(); err != nil {
			l.mu.Unlock()
			return err
		}
	}
	target, f, dirDirty, retired := l.appended, l.active, l.dirDirty, l.retired
	l.retired, l.dirDirty = nil, false
	l.mu.Unlock()

	for _, r := range retired {
		r.Close() // synced at rotation
	}
	var err error
	if f != nil {
		start := time.Now()
		err = datasync(f)
		l.syncLatency.Since(start)
		l.syncs.Add(1)
	}
	if err == nil && dirDirty {
		err = SyncDir(l.opts.Dir)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.broken = fmt.Errorf("%w: %v", ErrBroken, err)
		return fmt.Errorf("syncing wal: %w", err)
	}
	if target > l.synced {
		l.synced = target
	}
	if l.synced < seq {
		return fmt.Errorf("syncing wal: seq %d was never appended (last %d)", seq, l.synced)
	}
	return nil
}

// trimLocked cuts the active segment's preallocated zeros off, before it
// is closed or rotated out; the fsync that follows makes the length
// durable.
func (l *Log) trimLocked() error {
	if l.allocated == 0 {
		return nil
	}
	l.allocated = 0
	if err := l.active.Truncate(l.size); err != nil {
		l.broken = fmt.Errorf("%w: %v", ErrBroken, err)
		return fmt.Errorf("trimming wal segment: %w", err)
	}
	return nil
}

// Synced returns the highest seq known to be on disk.
func (l *Log) Synced() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.synced
}

// Sync makes everything appended so far durable.
func (l *Log) Sync() error {
	l.mu.Lock()
	seq := l.appended
	l.mu.Unlock()
	return l.SyncTo(seq)
}

// Release deletes every segment whose records all have seq < lowWater: the
// caller guarantees those rows are in renamed, synced Parquet files. If the
// active segment is wholly below lowWater it is rotated out and deleted too,
// so an idle store keeps no log.
func (l *Log) Release(lowWater uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.broken != nil || l.active == nil {
		return nil
	}
	act := l.segs[len(l.segs)-1]
	if act.last != 0 && act.last < lowWater && l.appended < lowWater {
		if err := l.rotateLocked(l.appended + 1); err != nil {
			return err
		}
	}
	keep := l.segs[:0]
	var firstErr error
	for i, sg := range l.segs {
		if i < len(l.segs)-1 && l.segs[i+1].first <= lowWater {
			if err := os.Remove(sg.path); err != nil && !errors.Is(err, os.ErrNotExist) && firstErr == nil {
				firstErr = fmt.Errorf("removing wal segment: %w", err)
				keep = append(keep, sg)
				continue
			}
			l.dirDirty = true
			continue
		}
		keep = append(keep, sg)
	}
	l.segs = keep
	return firstErr
}

// Stats describes the log.
type Stats struct {
	Syncs uint64 // fsyncs of segment files since Open
	// SyncLatency: how long the group-commit syncs took (what a durable
	// write waits for at least).
	SyncLatency latency.Snapshot
	Segments    int    // segment files on disk
	Appended    uint64 // highest seq appended
	Synced      uint64 // highest seq on disk
	Oldest      uint64 // first seq of the oldest segment file; 0 if none
}

// Stats returns counters for monitoring.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := Stats{Syncs: l.syncs.Load(), SyncLatency: l.syncLatency.Snapshot(), Segments: len(l.segs), Appended: l.appended, Synced: l.synced}
	if len(l.segs) > 0 {
		st.Oldest = l.segs[0].first
	}
	return st
}

// Close syncs the active segment, closes every file and releases the
// directory lock. Segments with records stay on disk for the next Replay;
// an active segment without any is removed.
func (l *Log) Close() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	var err error
	l.mu.Lock()
	seq := l.appended
	if l.active != nil {
		err = l.writePendingLocked()
		if err == nil {
			err = l.trimLocked()
		}
	}
	l.mu.Unlock()
	if l.active != nil && err == nil {
		err = l.syncLocked(seq)
		if err == nil {
			err = l.active.Sync() // the trimmed length, too
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.retired {
		r.Close()
	}
	l.retired = nil
	if l.active != nil {
		if cerr := l.active.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing wal segment: %w", cerr)
		}
		l.active = nil
		// An active segment without records is of no use to Replay.
		if act := l.segs[len(l.segs)-1]; act.last == 0 && err == nil {
			if rerr := os.Remove(act.path); rerr != nil {
				err = fmt.Errorf("removing empty wal segment: %w", rerr)
			} else {
				l.segs = l.segs[:len(l.segs)-1]
				l.dirDirty = true
			}
		}
	}
	if l.dirDirty && err == nil {
		err = SyncDir(l.opts.Dir)
	}
	if l.lock != nil {
		unlockDir(l.lock)
		l.lock = nil
	}
	return err
}

// Abandon closes every file without syncing, as a crash would leave them.
// For tests.
func (l *Log) Abandon() {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.retired {
		r.Close()
	}
	l.retired = nil
	if l.active != nil {
		l.active.Close()
		l.active = nil
	}
	if l.lock != nil {
		unlockDir(l.lock)
		l.lock = nil
	}
}

// SyncDir fsyncs a directory, so that a file created, renamed or removed in
// it survives a power cut.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening directory to sync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}
