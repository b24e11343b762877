package listen

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// connect5 and connect4 are CONNECT packets for MQTT 5 and 3.1.1 (client id "c").
var (
	connect5 = []byte{0x10, 0x0e, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 30, 0, 0, 1, 'c'}
	connect4 = []byte{0x10, 0x0d, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 30, 0, 1, 'c'}
	pingreq  = []byte{0xc0, 0x00}
)

func TestFramer(t *testing.T) {
	for _, c := range []struct {
		name    string
		max     uint32
		chunks  [][]byte
		packets int
		version byte
		err     error
		ok      int // bytes accepted of the last chunk
	}{
		{"connect v5 whole", 0, [][]byte{connect5}, 1, 5, nil, len(connect5)},
		{"connect v4 byte by byte", 0, split(connect4, 1), 1, 4, nil, 1},
		{"two packets one chunk", 0, [][]byte{append(append([]byte{}, connect4...), pingreq...)}, 2, 4, nil, len(connect4) + 2},
		{"oversize header after good packet", 20, [][]byte{append(append([]byte{}, connect5...), 0x30, 0x80, 0x01)}, 1, 5, ErrPacketTooLarge, len(connect5)},
		{"at the limit", 16, [][]byte{connect5}, 1, 5, nil, len(connect5)},
		{"one over the limit", 15, [][]byte{connect5}, 0, 0, ErrPacketTooLarge, 0},
		{"five length bytes", 0, [][]byte{{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}}, 0, 0, ErrMalformedLength, 0},
		{"half a packet", 0, [][]byte{connect5[:7]}, 0, 0, nil, 7},
		{"v5 subscribe", 0, [][]byte{cat(connect5, subscribeGood)}, 2, 5, nil, len(connect5) + len(subscribeGood)},
		{"v5 subscribe split", 0, split(cat(connect5, subscribeGood), 3), 2, 5, nil, 3},
		{"v5 subscribe without options byte", 0, [][]byte{cat(connect5, pingreq, subscribeNoOptions)}, 2, 5, ErrMalformedSubscribe, len(connect5) + 2},
		{"v5 subscribe without options byte, split", 0, split(cat(connect5, subscribeNoOptions), 4), 1, 5, ErrMalformedSubscribe, 0},
		{"v5 subscribe properties past the end", 0, [][]byte{cat(connect5, []byte{0x82, 0x03, 0, 1, 9})}, 1, 5, ErrMalformedSubscribe, len(connect5)},
		{"v5 subscribe empty", 0, [][]byte{cat(connect5, []byte{0x82, 0x00})}, 1, 5, ErrMalformedSubscribe, len(connect5)},
		{"v3 subscribe left to mochi", 0, [][]byte{cat(connect4, subscribeNoOptions)}, 2, 4, nil, len(connect4) + len(subscribeNoOptions)},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := framer{max: c.max}
			var ok int
			var err error
			for _, ch := range c.chunks {
				ok, err = f.feed(ch)
			}
			if !errors.Is(err, c.err) || ok != c.ok || f.packets != c.packets || f.version != c.version {
				t.Errorf("ok=%d err=%v packets=%d version=%d, want ok=%d err=%v packets=%d version=%d",
					ok, err, f.packets, f.version, c.ok, c.err, c.packets, c.version)
			}
		})
	}
}

// subscribeGood is an MQTT 5 SUBSCRIBE to a/b at QoS 1; subscribeNoOptions
// lacks the options byte after the filter (mochi v2.7.9 panics on it).
var (
	subscribeGood      = []byte{0x82, 0x09, 0, 1, 0, 0, 3, 'a', '/', 'b', 1}
	subscribeNoOptions = []byte{0x82, 0x08, 0, 1, 0, 0, 3, 'a', '/', 'b'}
)

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func split(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) > n {
		out = append(out, b[:n])
		b = b[n:]
	}
	return append(out, b)
}

func TestGuardSendsDisconnect0x95ToV5(t *testing.T) {
	for _, c := range []struct {
		connect []byte
		want    []byte
	}{{connect5, disconnectTooLarge}, {connect4, nil}} {
		client, server := net.Pipe()
		g := Guard{MaxPacketSize: 64}.Wrap(server)
		go func() {
			_, _ = client.Write(c.connect)
			_, _ = client.Write([]byte{0x30, 0xff, 0x01}) // PUBLISH of 255 bytes
		}()
		got := make(chan []byte, 1)
		go func() {
			_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
			b, _ := io.ReadAll(client)
			got <- b
		}()
		buf := make([]byte, 64)
		var err error
		for err == nil {
			_, err = g.Read(buf)
		}
		if !errors.Is(err, ErrPacketTooLarge) {
			t.Fatalf("read error %v, want ErrPacketTooLarge", err)
		}
		if b := <-got; !bytes.Equal(b, c.want) {
			t.Errorf("protocol %d: client got %x, want %x", c.connect[8], b, c.want)
		}
		client.Close()
	}
}

// TestGuardMalformedSubscribe: a v5 SUBSCRIBE without its options byte is
// not handed on (the packets before it are), and the client is told 0x81.
func TestGuardMalformedSubscribe(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	g := Guard{}.Wrap(server)
	go func() { _, _ = client.Write(cat(connect5, pingreq, subscribeNoOptions)) }()
	got := make(chan []byte, 1)
	go func() {
		_ = client.SetReadDeadline(time.Now().Add(30 * time.Second))
		b, _ := io.ReadAll(client)
		got <- b
	}()
	var passed []byte
	buf := make([]byte, 64)
	var err error
	for err == nil {
		var n int
		n, err = g.Read(buf)
		passed = append(passed, buf[:n]...)
	}
	if !errors.Is(err, ErrMalformedSubscribe) {
		t.Fatalf("read error %v, want ErrMalformedSubscribe", err)
	}
	if want := cat(connect5, pingreq); !bytes.Equal(passed, want) {
		t.Errorf("handed on %x, want %x", passed, want)
	}
	if b := <-got; !bytes.Equal(b, disconnectMalformed) {
		t.Errorf("client got %x, want %x", b, disconnectMalformed)
	}
}

func TestGuardConnectTimeout(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	g := Guard{ConnectTimeout: 50 * time.Millisecond}.Wrap(server)
	go func() { _, _ = client.Write(connect5[:3]) }() // then nothing: a slow drip
	buf := make([]byte, 16)
	var err error
	for err == nil {
		_, err = g.Read(buf)
	}
	if !errors.Is(err, ErrConnectTimeout) {
		t.Fatalf("err = %v, want ErrConnectTimeout", err)
	}
}

// TestGuardReadAt: ReadAt is when the last read that returned bytes came
// back; a packet's bytes arriving later move it on.
func TestGuardReadAt(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	g := Guard{}.Wrap(server).(interface {
		net.Conn
		ReadAt() time.Time
	})
	if !g.ReadAt().IsZero() {
		t.Fatal("ReadAt before any read is not zero")
	}
	buf := make([]byte, 64)
	var marks []time.Time
	for _, chunk := range [][]byte{connect5, pingreq[:1], pingreq[1:]} {
		time.Sleep(20 * time.Millisecond)
		go func() { _, _ = client.Write(chunk) }()
		before := time.Now()
		if _, err := io.ReadFull(g, buf[:len(chunk)]); err != nil {
			t.Fatal(err)
		}
		at := g.ReadAt()
		if at.Before(before) || at.After(time.Now()) {
			t.Fatalf("ReadAt %v outside the read (%v ..)", at, before)
		}
		marks = append(marks, at)
	}
	if !marks[2].After(marks[1]) || !marks[1].After(marks[0]) {
		t.Fatalf("ReadAt did not move on with later reads: %v", marks)
	}
}

// FuzzFramer feeds arbitrary bytes in arbitrary chunkings: the framer must
// never panic, never accept more than it was given, and agree with itself
// whether the stream comes whole or split.
func FuzzFramer(f *testing.F) {
	f.Add(connect5, uint8(3), uint32(0))
	f.Add(append(append([]byte{}, connect4...), pingreq...), uint8(1), uint32(16))
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}, uint8(2), uint32(0))
	f.Add([]byte{0x10, 0x02, 0x00}, uint8(0), uint32(100))
	f.Add(cat(connect5, subscribeGood, subscribeNoOptions), uint8(4), uint32(0))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8, max uint32) {
		whole := framer{max: max}
		wok, werr := whole.feed(data)
		if wok < 0 || wok > len(data) {
			t.Fatalf("accepted %d of %d bytes", wok, len(data))
		}
		parts := framer{max: max}
		n := int(chunk)%7 + 1
		total := 0
		var perr error
		for _, ch := range split(data, n) {
			ok, err := parts.feed(ch)
			total += ok
			if err != nil {
				perr = err
				break
			}
		}
		if (werr == nil) != (perr == nil) || parts.packets != whole.packets || parts.version != whole.version {
			t.Fatalf("whole: err=%v packets=%d v=%d; in %d-byte chunks: err=%v packets=%d v=%d",
				werr, whole.packets, whole.version, n, perr, parts.packets, parts.version)
		}
		if werr == nil && total != len(data) {
			t.Fatalf("chunks accepted %d of %d", total, len(data))
		}
	})
}
