package gateway_test

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	pmqtt "github.com/eclipse/paho.mqtt.golang"
)

const persistOn = "broker: {persistence: true}\n"

// TestBrokerStateSurvivesRestart: a persistent session's subscription and
// the messages queued for it while it was offline, and retained messages,
// are still there after the gateway restarts on the same data dir.
func TestBrokerStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	gw := startGateway(t, dir, persistOn)
	addr := gw.MQTTAddrs()[0]

	sub, _, err := dialV5(t, addr, "ps-sub", v5opts{clean: true, expiry: 300})
	if err != nil {
		t.Fatal(err)
	}
	sub5(t, sub, "alerts/#", 1)
	_ = sub.Disconnect(&paho.Disconnect{})

	pub, _, err := dialV5(t, addr, "ps-pub", v5opts{clean: true})
	if err != nil {
		t.Fatal(err)
	}
	pub5(t, pub, &paho.Publish{Topic: "cfg/site", QoS: 1, Retain: true, Payload: []byte("v1")})
	pub5(t, pub, &paho.Publish{Topic: "alerts/a", QoS: 1, Payload: []byte("1")})
	pub5(t, pub, &paho.Publish{Topic: "alerts/b", QoS: 1, Payload: []byte("2")})
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}

	gw2 := startGateway(t, dir, persistOn)
	addr = gw2.MQTTAddrs()[0]
	var queued inbox
	_, ca, err := dialV5(t, addr, "ps-sub", v5opts{clean: false, expiry: 300, onMessage: queued.v5})
	if err != nil {
		t.Fatal(err)
	}
	if !ca.SessionPresent {
		t.Error("session not present after restart")
	}
	queued.waitSet(t, "alerts/a=1", "alerts/b=2")

	var retained inbox
	late, _, err := dialV5(t, addr, "late", v5opts{clean: true, onMessage: retained.v5})
	if err != nil {
		t.Fatal(err)
	}
	sub5(t, late, "cfg/#", 1)
	retained.wait(t, "cfg/site=v1")
}

// TestBrokerStateSurvivesRestartV3: the same for an MQTT 3.1.1 session
// (clean session false), through the second client library.
func TestBrokerStateSurvivesRestartV3(t *testing.T) {
	dir := t.TempDir()
	gw := startGateway(t, dir, persistOn)
	addr := gw.MQTTAddrs()[0]
	c3, _, err := dialV3(t, "tcp://"+addr, "ps-v3", "", "", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	wait(t, c3.Subscribe("q/v3", 1, nil))
	c3.Disconnect(50)
	pub, _, err := dialV5(t, addr, "ps-pub", v5opts{clean: true})
	if err != nil {
		t.Fatal(err)
	}
	pub5(t, pub, &paho.Publish{Topic: "q/v3", QoS: 1, Payload: []byte("1")})
	gw.Close()
	gw2 := startGateway(t, dir, persistOn)
	var in3 inbox
	if _, _, err := dialV3(t, "tcp://"+gw2.MQTTAddrs()[0], "ps-v3", "", "", false, func(o *pmqtt.ClientOptions) {
		o.SetDefaultPublishHandler(in3.v3)
	}); err != nil {
		t.Fatal(err)
	}
	in3.waitSet(t, "q/v3=1")
}

// TestInflightSurvivesRestart: QoS 1 and 2 messages delivered to an online
// subscriber but not yet acknowledged (no PUBACK, no PUBREC) are resent
// after a restart, on the wire: marked DUP, with their packet ids, and
// their flows complete (PUBACK; PUBREC, PUBREL, PUBCOMP).
func TestInflightSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	gw := startGateway(t, dir, persistOn)
	// MQTT 5 CONNECT, client id "inf", session expiry 300 s; clean start
	// first, then resuming the session.
	connect := func(clean bool) []byte {
		flags := byte(0)
		if clean {
			flags = 0x02
		}
		return []byte{0x10, 0x15, 0, 4, 'M', 'Q', 'T', 'T', 5, flags, 0, 30, 5, 0x11, 0, 0, 1, 0x2c, 0, 3, 'i', 'n', 'f'}
	}
	dial := func(addr string, clean bool) (net.Conn, *bufio.Reader, []byte) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		r := bufio.NewReader(conn)
		mustWrite(t, conn, connect(clean))
		ca := readPacket(t, r)
		if ca[0] != 0x20 || ca[3] != 0 {
			t.Fatalf("CONNACK %x", ca)
		}
		return conn, r, ca
	}
	conn, r, _ := dial(gw.MQTTAddrs()[0], true)
	mustWrite(t, conn, []byte{0x82, 0x0b, 0, 1, 0, 0, 5, 'i', 'n', 'f', '/', 't', 2})
	if sa := readPacket(t, r); sa[0] != 0x90 || sa[len(sa)-1] != 2 {
		t.Fatalf("SUBACK %x", sa)
	}
	pub, _, err := dialV5(t, gw.MQTTAddrs()[0], "inf-pub", v5opts{clean: true})
	if err != nil {
		t.Fatal(err)
	}
	pub5(t, pub, &paho.Publish{Topic: "inf/t", QoS: 2, Payload: []byte("q2")})
	pub5(t, pub, &paho.Publish{Topic: "inf/t", QoS: 1, Payload: []byte("q1")})
	first := map[string]inflight{}
	for range 2 {
		m := parsePublish(t, readPacket(t, r))
		first[m.payload] = m
	}
	conn.Close() // unacknowledged
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}

	gw2 := startGateway(t, dir, persistOn)
	conn, r, ca := dial(gw2.MQTTAddrs()[0], false)
	if ca[2]&1 != 1 {
		t.Fatalf("CONNACK %x: session not present after restart", ca)
	}
	again := map[string]inflight{}
	for range 2 {
		m := parsePublish(t, readPacket(t, r))
		again[m.payload] = m
	}
	for _, p := range []string{"q1", "q2"} {
		want := first[p]
		want.dup = true
		if again[p] != want {
			t.Errorf("resent %s: %+v, want %+v", p, again[p], want)
		}
	}
	q1, q2 := again["q1"].id, again["q2"].id
	mustWrite(t, conn, []byte{0x40, 2, byte(q1 >> 8), byte(q1)})
	mustWrite(t, conn, []byte{0x50, 2, byte(q2 >> 8), byte(q2)})
	if rel := readPacket(t, r); rel[0] != 0x62 || int(rel[2])<<8|int(rel[3]) != int(q2) {
		t.Fatalf("want PUBREL for %d, got %x", q2, rel)
	}
	mustWrite(t, conn, []byte{0x70, 2, byte(q2 >> 8), byte(q2)})
	// The session goes on: a new message arrives with nothing left to resend.
	pub2, _, err := dialV5(t, gw2.MQTTAddrs()[0], "inf-pub", v5opts{clean: true})
	if err != nil {
		t.Fatal(err)
	}
	pub5(t, pub2, &paho.Publish{Topic: "inf/t", QoS: 0, Payload: []byte("next")})
	if m := parsePublish(t, readPacket(t, r)); m.payload != "next" {
		t.Errorf("after the resent messages: %+v, want next", m)
	}
}

// inflight is what TestInflightSurvivesRestart checks of a PUBLISH.
type inflight struct {
	qos     byte
	dup     bool
	id      uint16
	payload string
}

// parsePublish reads an MQTT 5 PUBLISH (fixed header included).
func parsePublish(t *testing.T, pk []byte) inflight {
	t.Helper()
	if pk[0]>>4 != 3 {
		t.Fatalf("want PUBLISH, got %x", pk)
	}
	m := inflight{qos: pk[0] >> 1 & 3, dup: pk[0]&0x08 != 0}
	i := 1
	for pk[i]&0x80 != 0 { // remaining length
		i++
	}
	i++
	i += 2 + int(pk[i])<<8 | int(pk[i+1]) // topic
	if m.qos > 0 {
		m.id = uint16(pk[i])<<8 | uint16(pk[i+1])
		i += 2
	}
	i += 1 + int(pk[i]) // properties (short here)
	m.payload = string(pk[i:])
	return m
}
