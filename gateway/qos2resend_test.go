package gateway_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// rawV5 is a bare MQTT 5 connection, to send exactly the packets a test
// needs (resends with DUP, no PUBREL) and read exactly what comes back.
type rawV5 struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialRawV5(t *testing.T, addr, clientID string, clean bool) (*rawV5, bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := &rawV5{t: t, conn: conn, r: bufio.NewReader(conn)}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 5,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: clean, Keepalive: 30, ClientIdentifier: clientID}}
	pk.Properties.SessionExpiryInterval = 300
	pk.Properties.SessionExpiryIntervalFlag = true
	writePacket(t, conn, pk)
	typ, body := splitPacket(readPacket(t, c.r))
	if typ != packets.Connack || len(body) < 2 || body[1] != 0 {
		t.Fatalf("CONNACK: type %d body % x", typ, body)
	}
	return c, body[0]&1 == 1
}

func (c *rawV5) send(pk packets.Packet) {
	c.t.Helper()
	pk.ProtocolVersion = 5
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Pubrel:
		err = pk.PubrelEncode(&buf)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.conn.Write(buf.Bytes()); err != nil {
		c.t.Fatal(err)
	}
}

// expectAck reads one acknowledgement and checks its type, id and reason.
func (c *rawV5) expectAck(typ byte, id uint16, reason byte) {
	c.t.Helper()
	gotTyp, body := splitPacket(readPacket(c.t, c.r))
	code := byte(0)
	if len(body) > 2 {
		code = body[2]
	}
	if gotTyp != typ || len(body) < 2 || binary.BigEndian.Uint16(body) != id || code != reason || typ == packets.Pubrec && len(body) > 4 {
		c.t.Fatalf("got type %d body % x, want type %d id %d reason %#x", gotTyp, body, typ, id, reason)
	}
}

// TestQoS2ResendStoredOnce: a QoS 2 PUBLISH sent again with DUP, while its
// acknowledgement is still pending, after its PUBREC, and after a
// reconnect, is stored once and every copy gets PUBREC 0x00 (mochi alone
// would answer 0x91 "packet identifier in use" to the later ones); PUBREL
// then completes it.
func TestQoS2ResendStoredOnce(t *testing.T) {
	gw := startGateway(t, t.TempDir(), "")
	addr := gw.MQTTAddrs()[0]
	ts := time.Date(2026, 11, 30, 7, 0, 0, 0, time.UTC).UnixMilli()
	publish := func(id uint16, v int, dup bool) packets.Packet {
		return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 2, Dup: dup},
			TopicName: "db/write/resend", PacketID: id, Payload: fmt.Appendf(nil, `{"ts":%d,"v":%d}`, ts+int64(v), v)}
	}

	c, _ := dialRawV5(t, addr, "resender", true)
	// The resend right behind the original, before any PUBREC: both are
	// still in the connection's ack lane.
	c.send(publish(7, 1, false))
	c.send(publish(7, 1, true))
	c.expectAck(packets.Pubrec, 7, 0)
	c.expectAck(packets.Pubrec, 7, 0)
	// A resend after the PUBREC.
	c.send(publish(7, 1, true))
	c.expectAck(packets.Pubrec, 7, 0)
	// A resend after a reconnect, as MQTT 5 clients do.
	c.conn.Close()
	c, present := dialRawV5(t, addr, "resender", false)
	if !present {
		t.Fatal("session not resumed")
	}
	c.send(publish(7, 1, true))
	c.expectAck(packets.Pubrec, 7, 0) // the broker resends its PUBREC on resuming the session
	c.expectAck(packets.Pubrec, 7, 0) // and answers the resend
	c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: 7})
	c.expectAck(packets.Pubcomp, 7, 0)
	// The id is free again: a new message with it is a new message.
	c.send(publish(7, 2, false))
	c.expectAck(packets.Pubrec, 7, 0)
	c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: 7})
	c.expectAck(packets.Pubcomp, 7, 0)

	res := query(t, gw.HTTPAddr(), "SELECT v, count(*) FROM resend GROUP BY v ORDER BY v")
	if got := fmt.Sprint(res.Data.Rows); got != "[[1 1] [2 1]]" {
		t.Fatalf("rows per v = %s, want each once", got)
	}
}
