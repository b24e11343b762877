package listen

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Errors a guarded connection ends with.
var (
	// ErrPacketTooLarge: the client announced a packet larger than the maximum.
	ErrPacketTooLarge = errors.New("packet too large")
	// ErrMalformedLength: a remaining length used more than four bytes.
	ErrMalformedLength = errors.New("malformed remaining length")
	// ErrConnectTimeout: no complete CONNECT arrived in time.
	ErrConnectTimeout = errors.New("no CONNECT in time")
	// ErrMalformedSubscribe: an MQTT 5 SUBSCRIBE whose filters run past its
	// end. mochi v2.7.9 indexes past the packet for a filter without its
	// options byte and panics, which would end the whole broker; such a
	// packet is never handed to it.
	ErrMalformedSubscribe = errors.New("malformed SUBSCRIBE")
)

// Guard protects the broker from what a connection sends before mochi
// parses it: it follows the MQTT framing of the byte stream, ends the
// connection at the header of a packet larger than MaxPacketSize (telling
// an MQTT 5 client why with DISCONNECT 0x95, which mochi does not send),
// and closes connections that do not complete their CONNECT within
// ConnectTimeout (slow-drip and idle sockets). It also keeps from mochi
// the malformed packets known to crash it (ErrMalformedSubscribe), telling
// an MQTT 5 client with DISCONNECT 0x81.
type Guard struct {
	// MaxPacketSize is the largest whole packet accepted; 0 means no limit.
	MaxPacketSize uint32
	// ConnectTimeout bounds the time to the end of the CONNECT packet; 0
	// means no bound.
	ConnectTimeout time.Duration
}

// Wrap returns c guarded.
func (g Guard) Wrap(c net.Conn) net.Conn {
	gc := &guardConn{Conn: c, fr: framer{max: g.MaxPacketSize}, alive: keepAlive{base: time.Now()}}
	if g.ConnectTimeout > 0 {
		gc.timer = time.AfterFunc(g.ConnectTimeout, func() {
			if !gc.connected.Load() {
				gc.closeErr.Store(ErrConnectTimeout)
				_ = c.Close()
			}
		})
	}
	return gc
}

// disconnectTooLarge and disconnectMalformed are MQTT 5 DISCONNECTs with
// reason 0x95 (packet too large) and 0x81 (malformed packet).
var (
	disconnectTooLarge  = []byte{0xE0, 0x02, 0x95, 0x00}
	disconnectMalformed = []byte{0xE0, 0x02, 0x81, 0x00}
)

type guardConn struct {
	net.Conn
	wmu       sync.Mutex // whole packets: mochi writes one packet per Write
	corked    bool       // under wmu: writes go to held (see Cork)
	held      []byte
	fr        framer // owned by the reading goroutine
	pending   error  // framing error to report at the next Read
	connected atomic.Bool
	keepalive atomic.Uint32 // seconds, from the CONNECT
	closeErr  atomic.Value
	timer     *time.Timer
	alive     keepAlive
	readAt    time.Time // when Read last returned bytes; the reading goroutine's
}

// keepAlive ends a connection that sends nothing for 1.5 times its
// keep-alive, as mochi's per-packet deadline would, for much less: mochi
// sets a read and write deadline before every packet it reads, which
// costs three clock reads and two timer updates in the runtime's poller,
// about 0.3 µs a message (4 % of a QoS 0 message's CPU in lakegate
// bench). Here a refresh stores the new deadline in an atomic; a watchdog
// timer per connection wakes once per keep-alive period and, when the
// deadline it finds has passed, sets a deadline in the past on the
// connection, which ends a blocked read or write exactly as mochi's own
// deadline would have.
type keepAlive struct {
	base     time.Time    // deadlines are kept as monotonic nanoseconds since base
	due      atomic.Int64 // the deadline; 0: none
	watching atomic.Bool  // the watchdog waits for due; if not, a refresh wakes it
	mu       sync.Mutex   // the watchdog against a refresh that wakes it
	watchdog *time.Timer  // under mu
	past     bool         // under mu: the watchdog set a past deadline on the connection
	stopped  bool         // under mu: the connection is closed
}

func (c *guardConn) Read(p []byte) (int, error) {
	if c.pending != nil {
		return 0, c.fail(c.pending)
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.readAt = time.Now()
		ok, ferr := c.fr.feed(p[:n])
		if c.fr.packets > 0 && !c.connected.Load() {
			c.connected.Store(true)
			c.keepalive.Store(uint32(c.fr.keepalive))
			if c.timer != nil {
				c.timer.Stop()
			}
		}
		if ferr != nil {
			// Hand over the whole packets before the bad header first, so
			// they are processed (and acknowledged) before the disconnect.
			c.pending = ferr
			if ok == 0 {
				return 0, c.fail(ferr)
			}
			return ok, nil
		}
	}
	if err != nil {
		if ce, _ := c.closeErr.Load().(error); ce != nil {
			err = fmt.Errorf("%w: %w", ce, err)
		}
	}
	return n, err
}

// ReadAt returns when Read last returned bytes: for a packet being
// handled, when the read that completed it returned. One clock reading
// serves every packet of a read. Only the goroutine that reads may call it.
func (c *guardConn) ReadAt() time.Time { return c.readAt }

// fail ends the connection for a framing error.
func (c *guardConn) fail(err error) error {
	var disconnect []byte
	switch {
	case errors.Is(err, ErrPacketTooLarge):
		disconnect = disconnectTooLarge
	case errors.Is(err, ErrMalformedSubscribe):
		disconnect = disconnectMalformed
	}
	if disconnect != nil && c.fr.version == 5 {
		c.wmu.Lock()
		_ = c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.Conn.Write(disconnect)
		c.wmu.Unlock()
	}
	_ = c.Conn.Close()
	return err
}

// SetDeadline takes mochi's keep-alive deadline, which it sets before
// reading each packet, and makes it exactly 1.5 times the keep-alive:
// mochi computes it in whole seconds (keepalive + keepalive/2), which for
// a 1 s keep-alive is 1 s. The deadline is kept by c.alive rather than
// set on the connection; any other deadline passes through.
func (c *guardConn) SetDeadline(t time.Time) error {
	ka := c.keepalive.Load()
	if ka == 0 || t.IsZero() {
		if c.alive.due.Load() != 0 {
			c.alive.disarm()
		}
		return c.Conn.SetDeadline(t)
	}
	// mochi's t is its clock reading plus keepalive+keepalive/2 seconds,
	// in uint16 arithmetic: take that reading back instead of reading the
	// clock again.
	read := t.Add(-time.Duration(uint16(ka+ka/2)) * time.Second)
	return c.alive.refresh(c.Conn, read.Add(time.Duration(ka)*1500*time.Millisecond))
}

// refresh moves the keep-alive deadline of conn to due.
func (k *keepAlive) refresh(conn net.Conn, due time.Time) error {
	k.due.Store(int64(due.Sub(k.base)))
	if k.watching.Load() {
		return nil
	}
	// The first deadline, or the watchdog fired (perhaps while mochi was
	// handling a packet, when no read is waiting on the deadline): wake
	// it, and take back the past deadline it set.
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stopped || k.watching.Load() {
		return nil
	}
	var err error
	if k.past {
		k.past = false
		err = conn.SetDeadline(time.Time{})
	}
	k.watching.Store(true)
	left := time.Duration(k.due.Load()) - time.Since(k.base)
	if k.watchdog == nil {
		k.watchdog = time.AfterFunc(left, func() { k.watch(conn) })
	} else {
		k.watchdog.Reset(left)
	}
	return err
}

// watch is the watchdog: it sleeps until the deadline, and once that has
// passed it ends conn's blocked reads and writes.
func (k *keepAlive) watch(conn net.Conn) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stopped || !k.watching.Load() {
		return // fired after disarm
	}
	due := k.due.Load()
	if left := time.Duration(due) - time.Since(k.base); due != 0 && left > 0 {
		k.watchdog.Reset(left)
		return
	}
	k.watching.Store(false)
	// A refresh that stored its deadline before watching was cleared did
	// not wake the watchdog: keep watching. (One that stores after sees
	// watching cleared and wakes it once this returns.)
	if now := k.due.Load(); now != due {
		k.watching.Store(true)
		k.watchdog.Reset(time.Duration(now) - time.Since(k.base))
		return
	}
	if due != 0 {
		k.past = true
		_ = conn.SetDeadline(k.base)
	}
}

// disarm drops the keep-alive deadline (mochi asked for none).
func (k *keepAlive) disarm() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.due.Store(0)
	k.watching.Store(false)
	k.past = false
	if k.watchdog != nil {
		k.watchdog.Stop()
	}
}

// stop ends the watchdog for good.
func (k *keepAlive) stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.stopped = true
	if k.watchdog != nil {
		k.watchdog.Stop()
	}
}

func (c *guardConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.corked {
		if len(c.held)+len(p) > maxHeld {
			if err := c.writeHeldLocked(); err != nil {
				return 0, err
			}
		}
		c.held = append(c.held, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// maxHeld bounds what a corked connection holds back.
const maxHeld = 64 << 10

// Cork holds back this connection's writes until Uncork, so that a burst
// of small packets (the acknowledgements one fsync releases) leaves in one
// write(2) instead of one each. An error of a held write surfaces at Uncork.
func (c *guardConn) Cork() {
	c.wmu.Lock()
	c.corked = true
	c.wmu.Unlock()
}

// Uncork writes what Cork held back and lets writes through again.
func (c *guardConn) Uncork() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.corked = false
	return c.writeHeldLocked()
}

func (c *guardConn) writeHeldLocked() error {
	if len(c.held) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.held)
	if cap(c.held) > maxHeld {
		c.held = nil
	} else {
		c.held = c.held[:0]
	}
	return err
}

func (c *guardConn) Close() error {
	if c.timer != nil {
		c.timer.Stop()
	}
	c.alive.stop()
	return c.Conn.Close()
}

// framer follows MQTT control packet boundaries in a byte stream.
type framer struct {
	max       uint32 // largest packet (fixed header included); 0 = none
	state     int    // 0: next byte is a packet type; 1: in the remaining length; 2: in the body
	length    uint32 // remaining length decoded so far
	shift     uint
	lenLen    int    // bytes of remaining length seen
	left      uint32 // body bytes still to come
	packets   int    // complete packets seen
	version   byte   // protocol level from the CONNECT (4 = 3.1.1, 5 = 5.0), 0 until known
	keepalive uint16 // keep-alive seconds from the CONNECT
	first     []byte // start of the first packet's body, to read the version
	header    byte   // first byte of the packet being framed
	check     bool   // the packet's body is kept in body and checked when complete
	body      []byte
}

// feed consumes p. On a framing error it returns how many leading bytes of p
// belong to packets before the bad one, and the error; the framer must not
// be fed again after an error.
func (f *framer) feed(p []byte) (int, error) {
	start := 0 // where the packet being framed starts in p (0 if before p)
	for i := 0; i < len(p); {
		switch f.state {
		case 0:
			start = i
			f.header = p[i]
			f.state, f.length, f.shift, f.lenLen = 1, 0, 0, 0
			i++
		case 1:
			b := p[i]
			i++
			f.lenLen++
			f.length |= uint32(b&0x7f) << f.shift
			f.shift += 7
			if b&0x80 != 0 {
				if f.lenLen == 4 {
					return start, ErrMalformedLength
				}
				continue
			}
			if f.max > 0 && uint64(1+f.lenLen)+uint64(f.length) > uint64(f.max) {
				return start, fmt.Errorf("%w: %d bytes, at most %d", ErrPacketTooLarge, 1+f.lenLen+int(f.length), f.max)
			}
			f.left = f.length
			f.state = 2
			f.check = f.packets > 0 && f.version == 5 && f.header == 0x82
			f.body = f.body[:0]
			if f.left == 0 {
				if err := f.done(); err != nil {
					return start, err
				}
			}
		case 2:
			n := uint32(len(p) - i)
			if n > f.left {
				n = f.left
			}
			if f.packets == 0 && len(f.first) < 16 {
				k := min(int(n), 16-len(f.first))
				f.first = append(f.first, p[i:i+k]...)
			}
			if f.check {
				f.body = append(f.body, p[i:i+int(n)]...)
			}
			i += int(n)
			f.left -= n
			if f.left == 0 {
				if err := f.done(); err != nil {
					return start, err
				}
			}
		}
	}
	return len(p), nil
}

// done ends a packet; it returns an error for a packet that must not
// reach the broker.
func (f *framer) done() error {
	if f.check && !subscribeWellFormed(f.body) {
		return ErrMalformedSubscribe
	}
	if f.packets == 0 {
		f.version, f.keepalive = connectHeader(f.first)
		f.first = nil
	}
	f.packets++
	f.state = 0
	return nil
}

// subscribeWellFormed reports whether an MQTT 5 SUBSCRIBE body (packet id,
// properties, then filters each followed by its options byte) ends where
// its last filter's options byte does. Only the framing is checked; mochi
// checks the rest.
func subscribeWellFormed(b []byte) bool {
	if len(b) < 2 {
		return false
	}
	i := 2
	props, shift := 0, 0
	for n := 0; ; n++ { // properties length, a variable byte integer
		if i >= len(b) || n == 4 {
			return false
		}
		props |= int(b[i]&0x7f) << shift
		shift += 7
		i++
		if b[i-1]&0x80 == 0 {
			break
		}
	}
	i += props
	for i < len(b) {
		if i+2 > len(b) {
			return false
		}
		i += 2 + (int(b[i])<<8 | int(b[i+1])) + 1 // filter and its options byte
	}
	return i == len(b)
}

// connectHeader reads the protocol level and the keep-alive from the start
// of a CONNECT body (protocol name, level, flags, keep-alive), or zeros.
func connectHeader(body []byte) (version byte, keepalive uint16) {
	if len(body) < 2 {
		return 0, 0
	}
	n := int(body[0])<<8 | int(body[1])
	if len(body) < 2+n+4 {
		return 0, 0
	}
	return body[2+n], uint16(body[2+n+2])<<8 | uint16(body[2+n+3])
}
