package gateway_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/lakegate/lakegate/gateway"
)

// The ingest queue (ingestqueue.go) stores QoS 0 messages in the
// background, in batches. These tests hold it to what the gateway promised
// before it existed: a query sees every message received before it, an
// acknowledgement covers everything the client sent before, a shutdown
// stores what was queued, and a batch gives each message the outcome it
// would have had alone.

// rawClient is an MQTT 5 connection without a client library, for
// sending many packets in one write.
type rawClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialRaw(t *testing.T, addr, clientID string) *rawClient {
	t.Helper()
	return dialRawKeepAlive(t, addr, clientID, 30)
}

// dialRawKeepAlive is dialRaw with a keep-alive of its own, in seconds.
func dialRawKeepAlive(t *testing.T, addr, clientID string, keepAlive uint16) *rawClient {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	c := &rawClient{t: t, conn: conn, r: bufio.NewReader(conn)}
	writePacket(t, conn, packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: 5,
		Connect:         packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: keepAlive, ClientIdentifier: clientID},
	})
	if typ, body := splitPacket(readPacket(t, c.r)); typ != packets.Connack || len(body) < 2 || body[1] != 0 {
		t.Fatalf("CONNACK: type %d body % x", typ, body)
	}
	return c
}

// publishAll sends every message in one write; QoS 1 ones get packet ids
// from 1 up.
func (c *rawClient) publishAll(msgs []rawMsg) {
	c.t.Helper()
	var buf bytes.Buffer
	id := uint16(0)
	for _, m := range msgs {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: m.qos}, TopicName: m.topic,
			ProtocolVersion: 5, Payload: []byte(m.payload)}
		if m.qos > 0 {
			id++
			pk.PacketID = id
		}
		if err := pk.PublishEncode(&buf); err != nil {
			c.t.Fatal(err)
		}
	}
	if _, err := c.conn.Write(buf.Bytes()); err != nil {
		c.t.Fatal(err)
	}
}

// ping sends PINGREQ and waits for PINGRESP, reading past acknowledgements:
// the broker handles a connection's packets in order, so by then every
// message sent before has been taken.
func (c *rawClient) ping() {
	c.t.Helper()
	if _, err := c.conn.Write([]byte{packets.Pingreq << 4, 0}); err != nil {
		c.t.Fatal(err)
	}
	for {
		if typ, _ := splitPacket(readPacket(c.t, c.r)); typ == packets.Pingresp {
			return
		}
	}
}

// nextAck reads up to the next PUBACK and returns its packet id and reason.
func (c *rawClient) nextAck() (uint16, byte) {
	c.t.Helper()
	for {
		typ, body := splitPacket(readPacket(c.t, c.r))
		if typ != packets.Puback {
			continue
		}
		code := byte(0)
		if len(body) > 2 {
			code = body[2]
		}
		return uint16(body[0])<<8 | uint16(body[1]), code
	}
}

type rawMsg struct {
	topic, payload string
	qos            byte
}

// readings returns n QoS 0 messages to db/write/{table} with n = 0..n-1.
func readings(table string, n int) []rawMsg {
	base := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC).UnixMilli()
	msgs := make([]rawMsg, n)
	for i := range msgs {
		msgs[i] = rawMsg{topic: "db/write/" + table, payload: fmt.Sprintf(`{"ts":%d,"n":%d,"v":%d.5}`, base+int64(i), i, i)}
	}
	return msgs
}

// TestQoS0QueryAfterPublish: a query sees every QoS 0 message that reached
// the gateway before it, though they are stored in the background.
func TestQoS0QueryAfterPublish(t *testing.T) {
	gw := startGateway(t, t.TempDir(), "")
	const n = 3000
	c := dialRaw(t, gw.MQTTAddrs()[0], "q0-query")
	c.publishAll(readings("q0", n))
	c.ping()
	r := query(t, gw.HTTPAddr(), "SELECT count(*), max(n) FROM q0")
	if got, want := fmt.Sprint(r.Data.Rows), fmt.Sprintf("[[%d %d]]", n, n-1); got != want {
		t.Fatalf("right after the messages: got %s, want %s", got, want)
	}
}

// TestQoS1AckCoversEarlierQoS0: a client's QoS 1 message is acknowledged
// only once the QoS 0 messages it sent before are stored too.
func TestQoS1AckCoversEarlierQoS0(t *testing.T) {
	gw := startGateway(t, t.TempDir(), "")
	const n = 5000
	c := dialRaw(t, gw.MQTTAddrs()[0], "q0-then-q1")
	msgs := readings("mixed", n+1)
	msgs[n].qos = 1
	c.publishAll(msgs)
	if id, code := c.nextAck(); id != 1 || code != 0 {
		t.Fatalf("PUBACK id %d reason %#x", id, code)
	}
	// Stats, not a query: a query would wait for the queue itself.
	if got := gw.Stats().RowsStored; got != n+1 {
		t.Fatalf("at the PUBACK %d rows are stored, want %d", got, n+1)
	}
}

// TestCloseStoresQueuedQoS0: a gateway that shuts down stores the QoS 0
// messages it had taken first.
func TestCloseStoresQueuedQoS0(t *testing.T) {
	dir := t.TempDir()
	gw := startGateway(t, dir, "")
	const n = 5000
	c := dialRaw(t, gw.MQTTAddrs()[0], "q0-close")
	c.publishAll(readings("closing", n))
	c.ping()
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
	gw = startGateway(t, dir, "")
	r := query(t, gw.HTTPAddr(), "SELECT count(*) FROM closing")
	if got, want := fmt.Sprint(r.Data.Rows), fmt.Sprintf("[[%d]]", n); got != want {
		t.Fatalf("after a restart: got %s rows, want %s", got, want)
	}
}

// TestBatchOutcomes sends the same mix of messages (good, multi-row,
// malformed, a type conflict, unrouted, a bad table name) to three
// gateways: at QoS 1 one at a time, each acknowledged before the next is
// sent, so that each is formatted and stored alone; at QoS 0 and at QoS 1
// all at once, which the ingest queue takes in batches. Rows, dead
// letters, counters and PUBACK reason codes must be the same.
func TestBatchOutcomes(t *testing.T) {
	base := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC).UnixMilli()
	var msgs []rawMsg
	var wantCodes []byte
	for i := range 400 {
		ts := base + int64(i)
		p := fmt.Sprintf(`{"ts":%d,"n":%d,"v":%d.25}`, ts, i, i)
		topic := "db/write/mix"
		code := byte(0)
		switch i % 10 {
		case 1:
			p = fmt.Sprintf(`[{"ts":%d,"n":%d},{"ts":%d,"n":%d,"v":1}]`, ts, i, ts, i+10000)
		case 2: // another formatter (csv, a Go guest) in the same batches
			topic, p = "db/write/mix:csv", fmt.Sprintf("dev%d,%d,%d.5", i, ts*1e6, i)
		case 3:
			p = fmt.Sprintf(`{"ts":%d,"n":`, ts)
			code = 0x99
		case 5:
			p = fmt.Sprintf(`{"ts":%d,"n":%d,"v":"text"}`, ts, i) // v is a float column
			code = 0x99
		case 7:
			topic = "elsewhere/x"
		case 9:
			topic = "db/write/bad.name"
			code = 0x90
		}
		msgs = append(msgs, rawMsg{topic: topic, payload: p})
		wantCodes = append(wantCodes, code)
	}
	type result struct {
		stats      gateway.IngestStatsSnapshot
		data, dead string
	}
	run := func(qos byte, oneAtATime bool) result {
		gw := startGateway(t, t.TempDir(), "dead_letter: {table: dead}\n")
		c := dialRaw(t, gw.MQTTAddrs()[0], fmt.Sprintf("mix-%d-%v", qos, oneAtATime))
		ms := append([]rawMsg(nil), msgs...)
		for i := range ms {
			ms[i].qos = qos
		}
		switch {
		case qos == 0:
			c.publishAll(ms)
			c.ping()
		case oneAtATime:
			for i, m := range ms {
				c.publishAll([]rawMsg{m}) // packet id 1 each time
				if id, code := c.nextAck(); id != 1 || code != wantCodes[i] {
					t.Errorf("message %d alone: PUBACK id %d reason %#x, want %#x", i, id, code, wantCodes[i])
				}
			}
		default:
			c.publishAll(ms)
			for i := range ms {
				if id, code := c.nextAck(); int(id) != i+1 || code != wantCodes[i] {
					t.Errorf("message %d of all: PUBACK id %d reason %#x, want id %d reason %#x", i, id, code, i+1, wantCodes[i])
				}
			}
		}
		// The query first: it waits for the queue, the counters do not.
		r := result{data: fmt.Sprint(query(t, gw.HTTPAddr(), "SELECT n, v, name, value FROM mix ORDER BY n, name").Data.Rows)}
		r.stats = gw.Stats()
		var dead []string
		for _, row := range query(t, gw.HTTPAddr(), "SELECT topic, route_table, reason_code, reason, payload FROM dead").Data.Rows {
			dead = append(dead, fmt.Sprint(row))
		}
		sort.Strings(dead)
		r.dead = fmt.Sprint(dead)
		return r
	}
	alone := run(1, true)
	if alone.stats.Malformed != 40 || alone.stats.Unrouted != 40 || alone.stats.BadTopic != 40 || alone.stats.RowsRejected != 40 ||
		!strings.Contains(alone.data, "dev392 392.5") {
		t.Errorf("the mix is not what the test means it to be: %+v\n%s", alone.stats, alone.data)
	}
	for _, mode := range []struct {
		name string
		qos  byte
	}{{"QoS 0, batched", 0}, {"QoS 1, batched", 1}} {
		got := run(mode.qos, false)
		if got.stats != alone.stats {
			t.Errorf("%s: counters\n%+v, alone\n%+v", mode.name, got.stats, alone.stats)
		}
		if got.data != alone.data {
			t.Errorf("%s: rows\n%s, alone\n%s", mode.name, got.data, alone.data)
		}
		if got.dead != alone.dead {
			t.Errorf("%s: dead letters\n%s, alone\n%s", mode.name, got.dead, alone.dead)
		}
	}
}

// TestShutdownTimeoutLosesNoAcknowledged: a gateway whose shutdown
// deadline passes while its queue still formats QoS 1 messages drops their
// connections unanswered; every message it did acknowledge is stored after
// a restart.
func TestShutdownTimeoutLosesNoAcknowledged(t *testing.T) {
	dir := t.TempDir()
	gw := startGateway(t, dir, "shutdown_timeout: 50ms\nbroker: {max_packet_size: 4MiB}\n")
	// Big JSON arrays keep the queue's worker busy for a while each.
	var big bytes.Buffer
	big.WriteString("[")
	for i := range 5000 {
		if i > 0 {
			big.WriteString(",")
		}
		fmt.Fprintf(&big, `{"ts":%d,"v":%d}`, 1700000000000+int64(i), i)
	}
	big.WriteString("]")
	const n = 40
	msgs := make([]rawMsg, n)
	for i := range msgs {
		msgs[i] = rawMsg{topic: "db/write/big", payload: big.String(), qos: 1}
	}
	c := dialRaw(t, gw.MQTTAddrs()[0], "big-pub")
	c.publishAll(msgs)
	time.Sleep(50 * time.Millisecond) // some are written and acknowledged, most are not
	acked := make(chan int)
	go func() {
		n := 0
		for {
			_ = c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			typ, err := c.r.ReadByte()
			if err != nil {
				acked <- n
				return
			}
			if typ>>4 == packets.Puback {
				l, _ := c.r.ReadByte()
				body := make([]byte, l)
				if _, err := io.ReadFull(c.r, body); err != nil {
					acked <- n
					return
				}
				if len(body) < 3 || body[2] == 0 {
					n++
				}
			}
		}
	}()
	start := time.Now()
	if err := gw.Close(); err != nil {
		t.Logf("close: %v", err)
	}
	t.Logf("closed in %v", time.Since(start))
	got := <-acked
	gw = startGateway(t, dir, "")
	var stored int
	if got > 0 {
		r := query(t, gw.HTTPAddr(), "SELECT count(*) FROM big")
		fmt.Sscan(fmt.Sprint(r.Data.Rows[0][0]), &stored)
	}
	t.Logf("%d of %d messages acknowledged; %d rows stored", got, n, stored)
	if stored < got*5000 {
		t.Fatalf("%d messages acknowledged but only %d rows (%d messages) stored", got, stored, stored/5000)
	}
	if got == n {
		t.Fatalf("every message was acknowledged before the deadline: the test did not test the shutdown")
	}
}
