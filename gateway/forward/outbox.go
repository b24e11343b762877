package forward

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// segmentMagic starts every outbox segment file; its last bytes are the
// format version.
var segmentMagic = []byte("LGOUT01\n")

// cursorMagic starts the cursor file.
var cursorMagic = []byte("LGCUR01\n")

const cursorFile = "cursor"

var (
	// ErrFull: the outbox holds MaxBytes already. The gateway answers the
	// publisher as it does for the store's backpressure (MQTT 5 reason
	// 0x97 quota exceeded), so the message is sent again later.
	ErrFull = errors.New("forward: outbox full")
	// ErrClosed: the outbox was closed.
	ErrClosed = errors.New("forward: outbox closed")
	// ErrBroken: an earlier write or fsync failed, so what was appended
	// since the last good sync cannot be trusted; the outbox takes no more.
	ErrBroken = errors.New("forward: outbox broken by earlier I/O error")
)

// Defaults of Options.
const (
	DefaultMaxBytes     = 1 << 30
	DefaultSyncInterval = 200 * time.Millisecond
	minSegmentSize      = 64 << 10
	maxSegmentSize      = 64 << 20
)

// Options configure an Outbox.
type Options struct {
	Dir string // the outbox's own directory; created if missing
	// MaxBytes caps the segment files on disk; an Append that would pass
	// it fails with ErrFull. DefaultMaxBytes if 0.
	MaxBytes int64
	// SegmentSize is where a segment file is closed and a new one begun;
	// 0 means MaxBytes/8 within [64 KiB, 64 MiB].
	SegmentSize int64
	// SyncInterval is how often appends nobody waits for, and the
	// delivery cursor, are fsynced. DefaultSyncInterval if 0.
	SyncInterval time.Duration
	Logger       *slog.Logger // nil discards
}

type segment struct {
	first uint64 // seq of its first record (from the file name)
	last  uint64 // seq of its last record; 0 if none
	path  string
	size  int64 // bytes, header included
}

// Outbox is a durable queue of Items on its way upstream: segment files
// "out-<firstseq>.log" of CRC-framed records, appended with group commit,
// and a "cursor" file with the highest sequence number delivered. Append,
// Ack, Stats and Close are safe for concurrent use; Next has one caller
// (the uplink's sender).
type Outbox struct {
	opts Options
	log  *slog.Logger

	// syncMu serializes fsyncs: its holder syncs for everyone queued
	// behind it (group commit). Lock order: syncMu, then mu.
	syncMu sync.Mutex
	// cursorMu serializes writes of the cursor file.
	cursorMu sync.Mutex

	mu        sync.Mutex
	segs      []segment // oldest first; the last is the active one
	active    *os.File
	appended  uint64     // highest seq appended
	synced    uint64     // highest seq on disk
	syncedOff int64      // bytes of the active segment on disk
	retired   []*os.File // rotated out, synced, closed by the next sync
	dirDirty  bool
	cursor    uint64 // highest seq delivered (Ack)
	saved     uint64 // cursor as last written to disk
	bytes     int64  // sum of segment sizes
	broken    error
	closed    bool
	notify    chan struct{} // closed and replaced when synced moves or on Close
	encodeBuf []byte

	rd reader // Next's position; only Next touches it

	appendedCount, forwardedCount, refusedCount atomic.Uint64

	stop     chan struct{}
	stopped  chan struct{}
	closeErr error
	once     sync.Once
}

// reader is where Next reads: a segment and an offset in it.
type reader struct {
	seg  uint64 // first seq of the segment read; 0 before the first
	f    *os.File
	off  int64
	next uint64 // the lowest seq Next may still return
}

// Open opens (or creates) the outbox in opts.Dir. A torn record at the end
// of the last segment (a crash while writing) is cut off and logged;
// damage anywhere else fails the open rather than skip queued messages.
// Delivery resumes after the saved cursor.
func Open(opts Options) (*Outbox, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = min(max(opts.MaxBytes/8, minSegmentSize), maxSegmentSize)
	}
	if opts.SyncInterval <= 0 {
		opts.SyncInterval = DefaultSyncInterval
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating outbox directory: %w", err)
	}
	o := &Outbox{opts: opts, log: log, notify: make(chan struct{}), stop: make(chan struct{}), stopped: make(chan struct{})}
	cursor, err := readCursor(filepath.Join(opts.Dir, cursorFile))
	if err != nil {
		// Resending everything is safe (at-least-once); skipping is not.
		log.Warn("outbox: unreadable cursor, resending from the oldest message", "dir", opts.Dir, "error", err)
		cursor = 0
	}
	o.cursor, o.saved = cursor, cursor
	last, err := o.scan()
	if err != nil {
		return nil, err
	}
	next := max(last, cursor) + 1
	o.appended, o.synced = next-1, next-1
	o.rd.next = cursor + 1
	if err := o.openSegmentLocked(next); err != nil {
		return nil, err
	}
	if err := syncDir(opts.Dir); err != nil {
		o.active.Close()
		return nil, err
	}
	o.dirDirty = false
	go o.background()
	return o, nil
}

func segmentName(first uint64) string { return fmt.Sprintf("out-%020d.log", first) }

func parseSegmentName(name string) (uint64, bool) {
	s, ok := strings.CutPrefix(name, "out-")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, ".log")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil && v > 0
}

// scan checks every segment, cuts a torn tail off the last one, drops the
// segments already delivered, and returns the highest seq found.
func (o *Outbox) scan() (uint64, error) {
	ents, err := os.ReadDir(o.opts.Dir)
	if err != nil {
		return 0, fmt.Errorf("listing outbox directory: %w", err)
	}
	var segs []segment
	for _, e := range ents {
		if first, ok := parseSegmentName(e.Name()); ok && e.Type().IsRegular() {
			segs = append(segs, segment{first: first, path: filepath.Join(o.opts.Dir, e.Name())})
		}
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].first < segs[j].first })
	var last uint64
	for i := range segs {
		sg := &segs[i]
		data, err := os.ReadFile(sg.path)
		if err != nil {
			return 0, fmt.Errorf("reading outbox segment: %w", err)
		}
		good, err := scanSegment(sg, data, &last)
		if err != nil {
			if i != len(segs)-1 || !(errors.Is(err, ErrTruncated) || errors.Is(err, ErrCorrupt)) {
				return 0, fmt.Errorf("outbox segment %s at offset %d: %w", sg.path, good, err)
			}
			o.log.Warn("outbox: dropping torn tail of last segment", "segment", sg.path, "offset", good,
				"dropped_bytes", len(data)-good, "reason", err.Error())
			if err := truncateSync(sg.path, int64(good)); err != nil {
				return 0, err
			}
		}
		sg.size = int64(good)
	}
	for _, sg := range segs {
		if sg.last == 0 || sg.last <= o.cursor {
			if err := os.Remove(sg.path); err != nil {
				return 0, fmt.Errorf("removing delivered outbox segment: %w", err)
			}
			o.dirDirty = true
			continue
		}
		o.segs = append(o.segs, sg)
		o.bytes += sg.size
	}
	return last, nil
}

// scanSegment walks the records of one segment, returning the length of
// its good prefix and an error for the first damage.
func scanSegment(sg *segment, data []byte, last *uint64) (int, error) {
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
		e, n, err := decodeRecord(data[off:])
		if err != nil {
			return off, err
		}
		if e.Seq <= *last || e.Seq < sg.first {
			return off, fmt.Errorf("%w: seq %d after %d", ErrCorrupt, e.Seq, *last)
		}
		*last, sg.last = e.Seq, e.Seq
		off += n
	}
	return off, nil
}

func (o *Outbox) openSegmentLocked(first uint64) error {
	path := filepath.Join(o.opts.Dir, segmentName(first))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("creating outbox segment: %w", err)
	}
	if _, err := f.Write(segmentMagic); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("writing outbox segment header: %w", err)
	}
	o.active = f
	o.syncedOff = int64(len(segmentMagic)) // the header is all a reader needs of it
	o.segs = append(o.segs, segment{first: first, path: path, size: int64(len(segmentMagic))})
	o.bytes += int64(len(segmentMagic))
	o.dirDirty = true
	return nil
}

// Append writes items to the outbox, in order, and returns at once: the
// items survive a crash of the process now, and a power cut once wait has
// returned nil (group commit: concurrent waits share one fsync). Items
// nobody waits for are fsynced within Options.SyncInterval. Append fails
// with ErrFull, writing nothing, when the items do not fit in MaxBytes.
func (o *Outbox) Append(ctx context.Context, items []Item) (wait func() error, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return func() error { return nil }, nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, ErrClosed
	}
	if o.broken != nil {
		return nil, o.broken
	}
	buf := o.encodeBuf[:0]
	seq := o.appended
	for _, it := range items {
		seq++
		if buf, err = appendRecord(buf, seq, it); err != nil {
			return nil, err
		}
	}
	o.encodeBuf = buf[:0] // written below, still under mu
	if cap(buf) > 1<<20 {
		o.encodeBuf = nil // do not pin one huge batch
	}
	if o.bytes+int64(len(buf)) > o.opts.MaxBytes {
		o.refusedCount.Add(1)
		return nil, fmt.Errorf("%w: %d bytes queued, %d more would pass max_bytes %d", ErrFull, o.bytes, len(buf), o.opts.MaxBytes)
	}
	cur := &o.segs[len(o.segs)-1]
	if cur.size >= o.opts.SegmentSize && cur.last != 0 {
		if err := o.rotateLocked(o.appended + 1); err != nil {
			return nil, err
		}
		cur = &o.segs[len(o.segs)-1]
	}
	n, err := o.active.Write(buf)
	if err != nil {
		// Undo a partial write so the segment stays whole records.
		if terr := o.active.Truncate(cur.size); terr != nil {
			o.broken = fmt.Errorf("%w: %v", ErrBroken, err)
		}
		return nil, fmt.Errorf("writing outbox record: %w", err)
	}
	cur.size += int64(n)
	cur.last = seq
	o.bytes += int64(n)
	o.appended = seq
	o.appendedCount.Add(uint64(len(items)))
	return func() error { return o.SyncTo(seq) }, nil
}

// rotateLocked syncs and retires the active segment and opens a new one
// starting at first. Every segment but the last is thus whole on disk,
// which is what lets the open treat damage there as corruption.
func (o *Outbox) rotateLocked(first uint64) error {
	if err := o.active.Sync(); err != nil {
		o.broken = fmt.Errorf("%w: %v", ErrBroken, err)
		return fmt.Errorf("syncing outbox segment before rotation: %w", err)
	}
	o.retired = append(o.retired, o.active)
	o.active = nil
	if o.appended > o.synced {
		o.synced = o.appended
		o.wakeLocked()
	}
	if err := o.openSegmentLocked(first); err != nil {
		o.broken = fmt.Errorf("%w: %v", ErrBroken, err)
		return err
	}
	return nil
}

// wakeLocked tells a waiting Next that there is more to read.
func (o *Outbox) wakeLocked() {
	close(o.notify)
	o.notify = make(chan struct{})
}

// SyncTo returns once every item up to seq is on disk.
func (o *Outbox) SyncTo(seq uint64) error {
	o.mu.Lock()
	done, broken := o.synced >= seq, o.broken
	o.mu.Unlock()
	if broken != nil {
		return broken
	}
	if done {
		return nil
	}
	o.syncMu.Lock()
	defer o.syncMu.Unlock()
	return o.syncLocked(seq)
}

// syncLocked runs with syncMu held.
func (o *Outbox) syncLocked(seq uint64) error {
	o.mu.Lock()
	if o.broken != nil {
		o.mu.Unlock()
		return o.broken
	}
	if o.synced >= seq {
		o.mu.Unlock()
		return nil
	}
	target, f, dirDirty, retired := o.appended, o.active, o.dirDirty, o.retired
	seg, off := o.segs[len(o.segs)-1].first, o.segs[len(o.segs)-1].size
	o.retired, o.dirDirty = nil, false
	o.mu.Unlock()

	for _, r := range retired {
		r.Close() // synced at rotation
	}
	var err error
	if f != nil {
		err = f.Sync()
	}
	if err == nil && dirDirty {
		err = syncDir(o.opts.Dir)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		o.broken = fmt.Errorf("%w: %v", ErrBroken, err)
		return fmt.Errorf("syncing outbox: %w", err)
	}
	if target > o.synced {
		o.synced = target
		if a := o.segs[len(o.segs)-1]; a.first == seg && off > o.syncedOff {
			o.syncedOff = off
		}
		o.wakeLocked()
	}
	if o.synced < seq {
		return fmt.Errorf("syncing outbox: seq %d was never appended (last %d)", seq, o.synced)
	}
	return nil
}

// Sync makes everything appended so far durable.
func (o *Outbox) Sync() error {
	o.mu.Lock()
	seq := o.appended
	o.mu.Unlock()
	return o.SyncTo(seq)
}

// Next returns the next item to send, in append order, once it is on
// disk; it blocks while there is none. After a restart it starts after the
// saved cursor. Only one goroutine may call Next.
func (o *Outbox) Next(ctx context.Context) (Entry, error) {
	for {
		o.mu.Lock()
		if o.closed {
			o.mu.Unlock()
			o.closeReader()
			return Entry{}, ErrClosed
		}
		i := o.readSegmentLocked()
		var (
			limit     int64
			path      string
			nextFirst uint64 // first seq of the segment after the reader's; 0 if it is the last
		)
		if i >= 0 {
			limit, path = o.segs[i].size, o.segs[i].path
			if i == len(o.segs)-1 {
				limit = o.syncedOff
			} else {
				nextFirst = o.segs[i+1].first
			}
		}
		wake := o.notify
		o.mu.Unlock()

		switch {
		case i < 0 || (o.rd.off >= limit && nextFirst == 0):
			select {
			case <-wake:
			case <-ctx.Done():
				return Entry{}, ctx.Err()
			}
		case o.rd.off >= limit:
			o.closeReader()
			o.rd.seg = nextFirst
		default:
			if o.rd.f == nil {
				f, err := os.Open(path)
				if err != nil {
					return Entry{}, fmt.Errorf("opening outbox segment to read: %w", err)
				}
				o.rd.f, o.rd.off = f, int64(len(segmentMagic))
				continue
			}
			e, n, err := o.readAt(o.rd.off, limit)
			if err != nil {
				return Entry{}, fmt.Errorf("reading outbox segment %s at %d: %w", path, o.rd.off, err)
			}
			o.rd.off += int64(n)
			if e.Seq < o.rd.next {
				continue // delivered before the restart
			}
			o.rd.next = e.Seq + 1
			return e, nil
		}
	}
}

// readSegmentLocked finds the index of the segment the reader is in,
// moving it to the oldest segment it has not passed; -1 if none.
func (o *Outbox) readSegmentLocked() int {
	for i, sg := range o.segs {
		if o.rd.seg == sg.first {
			return i
		}
	}
	// Not started yet, or its segment was removed: take the first one
	// that may hold rd.next.
	o.closeReader()
	for i, sg := range o.segs {
		if sg.last == 0 || sg.last >= o.rd.next {
			o.rd.seg = sg.first
			return i
		}
	}
	return -1
}

func (o *Outbox) closeReader() {
	if o.rd.f != nil {
		o.rd.f.Close()
		o.rd.f = nil
	}
	o.rd.off = int64(len(segmentMagic))
}

// readAt reads the record at off, which ends at or before limit.
func (o *Outbox) readAt(off, limit int64) (Entry, int, error) {
	var hdr [recordHeaderLen]byte
	if _, err := o.rd.f.ReadAt(hdr[:], off); err != nil {
		return Entry{}, 0, err
	}
	size := int64(binary.LittleEndian.Uint32(hdr[:]))
	if size > MaxRecordSize || off+recordHeaderLen+size > limit {
		return Entry{}, 0, fmt.Errorf("%w: record of %d bytes passes the synced end %d", ErrCorrupt, size, limit)
	}
	buf := make([]byte, recordHeaderLen+size)
	if _, err := o.rd.f.ReadAt(buf, off); err != nil {
		return Entry{}, 0, err
	}
	return decodeRecord(buf)
}

// Ack records that every item up to seq has been delivered. The cursor
// reaches the disk within SyncInterval (and at Close); until then a crash
// sends those items again, never fewer.
func (o *Outbox) Ack(seq uint64) {
	o.mu.Lock()
	if seq > o.cursor && seq <= o.appended {
		o.forwardedCount.Add(seq - o.cursor)
		o.cursor = seq
	}
	o.mu.Unlock()
}

// saveCursor writes the cursor to disk if it moved: a temporary file,
// fsynced, renamed over the old one.
func (o *Outbox) saveCursor() error {
	o.cursorMu.Lock()
	defer o.cursorMu.Unlock()
	o.mu.Lock()
	c, saved := o.cursor, o.saved
	o.mu.Unlock()
	if c == saved {
		return nil
	}
	if err := writeCursor(o.opts.Dir, c); err != nil {
		return err
	}
	o.mu.Lock()
	o.saved = c
	o.mu.Unlock()
	return nil
}

// release removes the segments whose items are all delivered (by the saved
// cursor). A wholly delivered active segment is rotated out first, so an
// idle outbox keeps no data.
func (o *Outbox) release() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.broken != nil || o.active == nil {
		return nil
	}
	if act := o.segs[len(o.segs)-1]; act.last != 0 && act.last <= o.saved && o.appended <= o.saved {
		if err := o.rotateLocked(o.appended + 1); err != nil {
			return err
		}
	}
	keep := o.segs[:0]
	var firstErr error
	for i, sg := range o.segs {
		if i < len(o.segs)-1 && sg.last <= o.saved {
			if err := os.Remove(sg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
				if firstErr == nil {
					firstErr = fmt.Errorf("removing delivered outbox segment: %w", err)
				}
				keep = append(keep, sg)
				continue
			}
			o.bytes -= sg.size
			o.dirDirty = true
			continue
		}
		keep = append(keep, sg)
	}
	o.segs = keep
	return firstErr
}

// background fsyncs what nobody waited for, saves the cursor and removes
// delivered segments, every SyncInterval.
func (o *Outbox) background() {
	defer close(o.stopped)
	t := time.NewTicker(o.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-o.stop:
			return
		case <-t.C:
		}
		if err := o.maintain(); err != nil {
			o.log.Error("outbox maintenance", "dir", o.opts.Dir, "error", err)
		}
	}
}

func (o *Outbox) maintain() error {
	return errors.Join(o.Sync(), o.saveCursor(), o.release())
}

// Stats are the outbox's counters.
type Stats struct {
	Appended  uint64 // items appended since Open
	Forwarded uint64 // items delivered (Ack) since Open
	Queued    uint64 // items waiting for delivery, from before Open too
	Bytes     int64  // size of the segment files
	Refused   uint64 // Appends refused with ErrFull
}

// Stats returns the counters.
func (o *Outbox) Stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return Stats{
		Appended:  o.appendedCount.Load(),
		Forwarded: o.forwardedCount.Load(),
		Queued:    o.appended - o.cursor,
		Bytes:     o.bytes,
		Refused:   o.refusedCount.Load(),
	}
}

// Close syncs what was appended, saves the cursor and closes the files;
// Next then returns ErrClosed. Call it after the sender has stopped
// calling Next. Safe to call twice.
func (o *Outbox) Close() error {
	o.once.Do(func() {
		close(o.stop)
		<-o.stopped
		o.mu.Lock()
		o.closed = true // no Append from here on
		o.wakeLocked()
		o.mu.Unlock()
		err := o.maintain()
		o.syncMu.Lock()
		defer o.syncMu.Unlock()
		o.mu.Lock()
		defer o.mu.Unlock()
		for _, r := range o.retired {
			r.Close()
		}
		o.retired = nil
		o.closeReader() // the sender has stopped calling Next
		if o.active != nil {
			if cerr := o.active.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("closing outbox segment: %w", cerr)
			}
			o.active = nil
			if act := o.segs[len(o.segs)-1]; act.last == 0 {
				if rerr := os.Remove(act.path); rerr == nil {
					o.segs = o.segs[:len(o.segs)-1]
					o.bytes -= act.size
					o.dirDirty = true
				}
			}
		}
		if o.dirDirty {
			err = errors.Join(err, syncDir(o.opts.Dir))
		}
		o.closeErr = err
	})
	return o.closeErr
}

func readCursor(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading outbox cursor: %w", err)
	}
	if len(b) != len(cursorMagic)+12 || !bytes.Equal(b[:len(cursorMagic)], cursorMagic) {
		return 0, fmt.Errorf("%w: cursor file of %d bytes", ErrCorrupt, len(b))
	}
	v := b[len(cursorMagic):]
	if crc32.Checksum(v[:8], castagnoli) != binary.LittleEndian.Uint32(v[8:]) {
		return 0, fmt.Errorf("%w: cursor checksum", ErrCorrupt)
	}
	return binary.LittleEndian.Uint64(v), nil
}

func writeCursor(dir string, seq uint64) error {
	b := append([]byte{}, cursorMagic...)
	b = binary.LittleEndian.AppendUint64(b, seq)
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[len(cursorMagic):], castagnoli))
	tmp := filepath.Join(dir, cursorFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("writing outbox cursor: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, cursorFile))
	}
	if err != nil {
		return fmt.Errorf("writing outbox cursor: %w", err)
	}
	return syncDir(dir)
}

func truncateSync(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("opening outbox segment to truncate: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("truncating outbox segment: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing truncated outbox segment: %w", err)
	}
	return nil
}

// syncDir fsyncs a directory so that files created, renamed or removed in
// it survive a power cut.
func syncDir(dir string) error {
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
