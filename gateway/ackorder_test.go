package gateway_test

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mochi-mqtt/server/v2/packets"
)

// TestPipelinedAcksKeepOrder sends a window of QoS 1 messages, some of
// them malformed, with QoS 0 messages between them, on one connection
// without waiting for acknowledgements, as a device with a send queue
// does. The gateway acknowledges after the shared fsync, off the
// connection's goroutine; this checks that the PUBACKs still come in
// publish order with the right reason codes, that a subscriber gets the
// stored messages in publish order, and that every acknowledged message is
// stored exactly once.
func TestPipelinedAcksKeepOrder(t *testing.T) {
	gw := startGateway(t, t.TempDir(), "")
	addr, httpAddr := gw.MQTTAddrs()[0], gw.HTTPAddr()

	var mu sync.Mutex
	var delivered []string
	sub := connect(t, addr, "order-sub", func(p *paho.Publish) {
		mu.Lock()
		delivered = append(delivered, string(p.Payload))
		mu.Unlock()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "db/write/acks", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	r := bufio.NewReader(conn)
	writePacket(t, conn, packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: 5,
		Connect:         packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: "order-pub"},
	})
	if typ, body := splitPacket(readPacket(t, r)); typ != packets.Connack || len(body) < 2 || body[1] != 0 {
		t.Fatalf("CONNACK: type %d body % x", typ, body)
	}

	const n = 300
	base := time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC).UnixMilli()
	var wantAcks []byte // reason code per QoS 1 message, by packet id
	var wantDelivered []string
	var stored []string // n of every stored row
	var batch bytes.Buffer
	for i := 1; i <= n; i++ {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "db/write/acks",
			PacketID: uint16(i), ProtocolVersion: 5}
		pk.Payload = fmt.Appendf(nil, `{"ts":%d,"n":%d}`, base+int64(i), i)
		code := byte(0)
		if i%7 == 0 {
			pk.Payload = fmt.Appendf(nil, `{"ts":%d,"n":`, base+int64(i))
			code = 0x99
		}
		if i%10 == 0 { // a QoS 0 message between the QoS 1 ones
			q0 := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: "db/write/acks", ProtocolVersion: 5,
				Payload: fmt.Appendf(nil, `{"ts":%d,"n":%d}`, base+int64(i)+n, i+n)}
			if err := q0.PublishEncode(&batch); err != nil {
				t.Fatal(err)
			}
			wantDelivered = append(wantDelivered, string(q0.Payload))
			stored = append(stored, fmt.Sprint(i+n))
		}
		if err := pk.PublishEncode(&batch); err != nil {
			t.Fatal(err)
		}
		wantAcks = append(wantAcks, code)
		if code == 0 {
			wantDelivered = append(wantDelivered, string(pk.Payload))
			stored = append(stored, fmt.Sprint(i))
		}
	}
	// All of it at once: the acknowledgements are pipelined.
	if _, err := conn.Write(batch.Bytes()); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		typ, body := splitPacket(readPacket(t, r))
		if typ != packets.Puback || len(body) < 2 {
			t.Fatalf("packet %d: type %d body % x, want PUBACK", i, typ, body)
		}
		id := binary.BigEndian.Uint16(body)
		code := byte(0)
		if len(body) > 2 {
			code = body[2]
		}
		if int(id) != i {
			t.Fatalf("PUBACK %d is for packet %d: acknowledgements out of order", i, id)
		}
		if code != wantAcks[i-1] {
			t.Fatalf("PUBACK for packet %d: reason %#x, want %#x", id, code, wantAcks[i-1])
		}
	}

	checkFor(t, 30*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(delivered) < len(wantDelivered) {
			return fmt.Errorf("%d of %d messages delivered", len(delivered), len(wantDelivered))
		}
		return nil
	})
	mu.Lock()
	for i := range wantDelivered {
		if delivered[i] != wantDelivered[i] {
			mu.Unlock()
			t.Fatalf("delivery %d: %s, want %s (order not kept)", i, delivered[i], wantDelivered[i])
		}
	}
	mu.Unlock()

	res := query(t, httpAddr, "SELECT n FROM acks ORDER BY ts")
	var got []string
	for _, row := range res.Data.Rows {
		got = append(got, fmt.Sprint(row[0]))
	}
	slices.SortFunc(stored, func(a, b string) int { return cmp.Compare(len(a), len(b))*2 + cmp.Compare(a, b) })
	slices.SortFunc(got, func(a, b string) int { return cmp.Compare(len(a), len(b))*2 + cmp.Compare(a, b) })
	if !slices.Equal(got, stored) {
		t.Fatalf("stored n values:\n got %v\nwant %v", got, stored)
	}
}

func writePacket(t *testing.T, w io.Writer, pk packets.Packet) {
	t.Helper()
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	default:
		t.Fatalf("writePacket: type %d", pk.FixedHeader.Type)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
}

// splitPacket returns a packet's type and body (after the fixed header).
func splitPacket(pkt []byte) (byte, []byte) {
	i := 1
	for pkt[i]&0x80 != 0 {
		i++
	}
	return pkt[0] >> 4, pkt[i+1:]
}
