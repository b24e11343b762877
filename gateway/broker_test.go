package gateway_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	pmqtt "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/crypto/bcrypt"

	"github.com/lakegate/lakegate/gateway"
)

// startBroker runs a gateway whose config is body (which must set
// listeners.mqtt) plus a temporary store and a loopback HTTP listener.
func startBroker(t *testing.T, body string) *gateway.Gateway {
	t.Helper()
	cfg, err := gateway.ParseConfig("test", []byte(fmt.Sprintf(`
storage:
  dir: %q
  flush: {max_age: 1h}
%s`, t.TempDir(), body)))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listeners.HTTP.Address == ":5654" {
		cfg.Listeners.HTTP.Address = "127.0.0.1:0"
	}
	return runGateway(t, cfg, gateway.Options{Logger: testLogger(t), CompilationCacheDir: wasmCache})
}

const tcpListener = `
listeners:
  mqtt: [{id: tcp, address: "127.0.0.1:0"}]
`

// hash is a bcrypt hash at the lowest cost, to keep tests fast.
func hash(t *testing.T, pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// v5 connects with paho.golang (MQTT 5) and returns the client and CONNACK.
type v5opts struct {
	user, password string
	clean          bool
	keepAlive      uint16
	expiry         uint32
	will           *paho.WillMessage
	willDelay      uint32
	onMessage      func(*paho.Publish)
	onDisconnect   func(*paho.Disconnect)
	conn           net.Conn
}

func dialV5(t *testing.T, addr, clientID string, o v5opts) (*paho.Client, *paho.Connack, error) {
	t.Helper()
	conn := o.conn
	if conn == nil {
		var err error
		if conn, err = net.Dial("tcp", addr); err != nil {
			t.Fatal(err)
		}
	}
	// paho.golang writes a packet in several Write calls and sends its
	// first PINGREQ from another goroutine right after the CONNACK; unless
	// the connection is a sync.Locker the two interleave on any conn that is
	// not a *net.TCPConn (TLS here), the broker reads a malformed packet and
	// drops the connection, and the client waits out its PUBACK / SUBACK.
	// A generous packet timeout: CI runs packages side by side on 2 cores.
	cfg := paho.ClientConfig{ClientID: clientID, Conn: packets.NewThreadSafeConn(conn), OnServerDisconnect: o.onDisconnect,
		PacketTimeout: 30 * time.Second}
	if o.onMessage != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) { o.onMessage(pr.Packet); return true, nil },
		}
	}
	c := paho.NewClient(cfg)
	cp := &paho.Connect{ClientID: clientID, KeepAlive: o.keepAlive, CleanStart: o.clean, WillMessage: o.will,
		Properties: &paho.ConnectProperties{}}
	if cp.KeepAlive == 0 {
		cp.KeepAlive = 30
	}
	if o.expiry > 0 {
		cp.Properties.SessionExpiryInterval = &o.expiry
	}
	if o.will != nil {
		cp.WillProperties = &paho.WillProperties{WillDelayInterval: &o.willDelay}
	}
	if o.user != "" {
		cp.Username, cp.UsernameFlag = o.user, true
		cp.Password, cp.PasswordFlag = []byte(o.password), true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ca, err := c.Connect(ctx, cp)
	if err == nil {
		t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	}
	return c, ca, err
}

// dialV3 connects with paho.mqtt.golang (MQTT 3.1.1) to url (tcp:// or ws://).
func dialV3(t *testing.T, url, clientID, user, password string, clean bool, tune func(*pmqtt.ClientOptions)) (pmqtt.Client, byte, error) {
	t.Helper()
	o := pmqtt.NewClientOptions().AddBroker(url).SetClientID(clientID).SetUsername(user).SetPassword(password).
		SetCleanSession(clean).SetAutoReconnect(false).SetConnectRetry(false).SetProtocolVersion(4).
		SetConnectTimeout(5 * time.Second).SetKeepAlive(30 * time.Second)
	if tune != nil {
		tune(o)
	}
	c := pmqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatal("v3 connect timed out")
	}
	if tok.Error() == nil {
		t.Cleanup(func() { c.Disconnect(50) })
	}
	return c, tok.(*pmqtt.ConnectToken).ReturnCode(), tok.Error()
}

func wait(t *testing.T, tok pmqtt.Token) {
	t.Helper()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatal("token timed out")
	}
	if err := tok.Error(); err != nil {
		t.Fatal(err)
	}
}

func lockedConfig(t *testing.T) string {
	return tcpListener + fmt.Sprintf(`
auth:
  users:
    - {username: sensor1, password_hash: %q}
    - {username: dashboard, password_hash: %q}
  acl:
    - {user: sensor1, publish: ["db/write/%%u", "devices/%%c/status"]}
    - {user: dashboard, subscribe: ["db/write/#", "devices/#"], publish: [db/query]}
`, hash(t, "pw-sensor"), hash(t, "pw-dash"))
}

// TestConnectRefusedCodes: the CONNACK codes of refused CONNECTs, for both
// protocol versions, each driven by its own client library.
func TestConnectRefusedCodes(t *testing.T) {
	gw := startBroker(t, lockedConfig(t))
	addr := gw.MQTTAddrs()[0]
	cases := []struct {
		name, user, password string
		v5, v3               byte
	}{
		{"good password", "sensor1", "pw-sensor", 0x00, 0x00},
		{"wrong password", "sensor1", "nope", 0x86, 0x04},
		{"unknown user", "mallory", "pw-sensor", 0x86, 0x04},
		{"anonymous", "", "", 0x87, 0x05},
	}
	for _, c := range cases {
		t.Run("v5 "+c.name, func(t *testing.T) {
			_, ca, err := dialV5(t, addr, "c5-"+c.user, v5opts{user: c.user, password: c.password, clean: true})
			if ca == nil {
				t.Fatalf("no CONNACK: %v", err)
			}
			if ca.ReasonCode != c.v5 {
				t.Errorf("CONNACK reason %#x, want %#x (err %v)", ca.ReasonCode, c.v5, err)
			}
		})
		t.Run("v3 "+c.name, func(t *testing.T) {
			_, rc, err := dialV3(t, "tcp://"+addr, "c3-"+c.user, c.user, c.password, true, nil)
			if rc != c.v3 {
				t.Errorf("CONNACK return code %#x, want %#x (err %v)", rc, c.v3, err)
			}
		})
	}
}

// TestACLOverMQTT drives the ACL through both client libraries: allowed
// writes are stored and delivered, denied ones are refused with the
// protocol's means and never reach a subscriber.
func TestACLOverMQTT(t *testing.T) {
	gw := startBroker(t, lockedConfig(t))
	addr := gw.MQTTAddrs()[0]

	got := make(chan string, 16)
	dash, _, err := dialV5(t, addr, "dash", v5opts{user: "dashboard", password: "pw-dash", clean: true,
		onMessage: func(p *paho.Publish) { got <- p.Topic }})
	if err != nil {
		t.Fatal(err)
	}
	sa, err := dash.Subscribe(context.Background(), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "db/write/#", QoS: 1}, {Topic: "#", QoS: 1}, {Topic: "$share/g/devices/+/status", QoS: 1},
	}})
	if sa == nil {
		t.Fatal(err)
	}
	if want := []byte{1, 0x87, 1}; string(sa.Reasons) != string(want) {
		t.Errorf("SUBACK reasons %x, want %x", sa.Reasons, want)
	}

	sensor, _, err := dialV5(t, addr, "s-1", v5opts{user: "sensor1", password: "pw-sensor", clean: true})
	if err != nil {
		t.Fatal(err)
	}
	pub := func(topic string) byte {
		pr, _ := sensor.Publish(context.Background(), &paho.Publish{Topic: topic, QoS: 1,
			Payload: []byte(`{"ts":1700000000000,"v":1}`)})
		if pr == nil {
			t.Fatalf("publish to %s: no PUBACK", topic)
		}
		return pr.ReasonCode
	}
	for topic, want := range map[string]byte{"db/write/sensor1": 0, "devices/s-1/status": 0, "db/write/other": 0x87, "db/query": 0x87} {
		if rc := pub(topic); rc != want {
			t.Errorf("sensor1 publish %s: PUBACK %#x, want %#x", topic, rc, want)
		}
	}
	seen := map[string]bool{}
	for len(seen) < 2 {
		select {
		case tp := <-got:
			seen[tp] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("dashboard got only %v", seen)
		}
	}
	if !seen["db/write/sensor1"] || !seen["devices/s-1/status"] {
		t.Errorf("dashboard got %v", seen)
	}
	checkFor(t, 10*time.Second, func() error {
		r := queryAs(t, gw.HTTPAddr(), "dashboard", "pw-dash", "SELECT count(*) FROM sensor1")
		if fmt.Sprint(r.Data.Rows) != "[[1]]" {
			return fmt.Errorf("rows %v", r.Data.Rows)
		}
		return nil
	})

	// MQTT 3.1.1 (paho.mqtt.golang): a denied SUBSCRIBE gets 0x80; a denied
	// QoS 1 PUBLISH closes the connection (3.1.1 has no negative PUBACK).
	v3, _, err := dialV3(t, "tcp://"+addr, "s3", "sensor1", "pw-sensor", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := v3.Subscribe("db/write/#", 1, nil)
	wait(t, st)
	if rc := st.(*pmqtt.SubscribeToken).Result()["db/write/#"]; rc != 0x80 {
		t.Errorf("v3 denied SUBSCRIBE: %#x, want 0x80", rc)
	}
	wait(t, v3.Publish("db/write/sensor1", 1, false, `{"v":2}`))
	v3.Publish("db/write/other", 1, false, `{"v":3}`).WaitTimeout(time.Second)
	checkFor(t, 10*time.Second, func() error {
		if v3.IsConnectionOpen() {
			return fmt.Errorf("v3 client still connected after a denied QoS 1 publish")
		}
		return nil
	})
	select {
	case tp := <-got:
		if tp != "db/write/sensor1" {
			t.Errorf("dashboard got a denied message on %s", tp)
		}
	case <-time.After(5 * time.Second):
		t.Error("dashboard did not get the allowed v3 message")
	}
}

// TestPubackReasonSuccess: an accepted QoS 1 PUBLISH from an MQTT 5 client
// is acknowledged with 0x00 Success (mochi writes 0x01 when the ack carries
// properties, here the inherited user property; mochi issue 474).
func TestPubackReasonSuccess(t *testing.T) {
	gw := startBroker(t, tcpListener)
	c, _, err := dialV5(t, gw.MQTTAddrs()[0], "p", v5opts{clean: true})
	if err != nil {
		t.Fatal(err)
	}
	// On the wire, independent of any client library.
	conn, err := net.Dial("tcp", gw.MQTTAddrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	mustWrite(t, conn, []byte{0x10, 0x0f, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 30, 0, 0, 2, 'r', 'w'})
	r := bufio.NewReader(conn)
	if pk := readPacket(t, r); pk[0] != 0x20 || pk[3] != 0 {
		t.Fatalf("want CONNACK 0, got %x", pk)
	}
	// PUBLISH QoS 1, topic a/b, id 7, user property k=v, payload x.
	mustWrite(t, conn, []byte{0x32, 16, 0, 3, 'a', '/', 'b', 0, 7, 7, 0x26, 0, 1, 'k', 0, 1, 'v', 'x'})
	ack := readPacket(t, r)
	if ack[0] != 0x40 || len(ack) < 5 || ack[4] != 0x00 {
		t.Errorf("PUBACK %x: want type 0x40 with reason 0x00", ack)
	}

	for _, topic := range []string{"plain/topic", "db/write/t"} {
		pr, err := c.Publish(context.Background(), &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(`{"a":1}`),
			Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: "k", Value: "v"}}}})
		if err != nil {
			t.Fatal(err)
		}
		if pr.ReasonCode != 0 {
			t.Errorf("%s: PUBACK reason %#x, want 0x00", topic, pr.ReasonCode)
		}
	}
}

// TestLimits: the maximum packet size (advertised, and an oversize packet
// ends the connection with DISCONNECT 0x95) and the maximum connections.
func TestLimits(t *testing.T) {
	gw := startBroker(t, tcpListener+`
broker: {max_packet_size: 1KiB, max_connections: 2}
`)
	addr := gw.MQTTAddrs()[0]
	c1, ca, err := dialV5(t, addr, "one", v5opts{clean: true})
	if err != nil {
		t.Fatal(err)
	}
	if ca.Properties == nil || ca.Properties.MaximumPacketSize == nil || *ca.Properties.MaximumPacketSize != 1024 {
		t.Errorf("CONNACK maximum packet size %+v, want 1024", ca.Properties)
	}
	_ = c1

	// A raw MQTT 5 client that ignores the advertised maximum.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	mustWrite(t, conn, []byte{0x10, 0x0f, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 30, 0, 0, 2, 'b', 'g'})
	r := bufio.NewReader(conn)
	if pk := readPacket(t, r); pk[0] != 0x20 {
		t.Fatalf("want CONNACK, got %x", pk)
	}
	big := append([]byte{0x30, 0x86, 0x10, 0, 3, 'a', '/', 'b', 0}, make([]byte, 2048)...) // 2 KiB PUBLISH
	mustWrite(t, conn, big[:20])                                                           // the header is enough: the broker must not wait for the rest
	if pk := readPacket(t, r); len(pk) < 3 || pk[0] != 0xE0 || pk[2] != 0x95 {
		t.Fatalf("want DISCONNECT 0x95, got %x", pk)
	}
	if _, err := r.ReadByte(); err == nil {
		t.Error("connection still open after DISCONNECT 0x95")
	}

	// max_connections 2: one is connected; the second is accepted (once the
	// broker has counted the dropped raw connection out), the third refused.
	checkFor(t, 10*time.Second, func() error {
		_, ca, err := dialV5(t, addr, "two", v5opts{clean: true})
		if err == nil && ca != nil && ca.ReasonCode == 0 {
			return nil
		}
		return fmt.Errorf("second connection refused: %+v %v", ca, err)
	})
	_, ca, _ = dialV5(t, addr, "three", v5opts{clean: true})
	if ca == nil || ca.ReasonCode != 0x89 {
		t.Errorf("third v5 connection: CONNACK %+v, want 0x89 server busy", ca)
	}
	if _, rc, _ := dialV3(t, "tcp://"+addr, "three3", "", "", true, nil); rc != 0x03 {
		t.Errorf("third v3 connection: return code %#x, want 0x03 server unavailable", rc)
	}
}

func mustWrite(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// readPacket reads one MQTT packet (fixed header included).
func readPacket(t *testing.T, r *bufio.Reader) []byte {
	t.Helper()
	h, err := r.ReadByte()
	if err != nil {
		t.Fatalf("reading packet: %v", err)
	}
	out := []byte{h}
	n, shift := 0, 0
	for {
		b, err := r.ReadByte()
		if err != nil {
			t.Fatalf("reading length: %v", err)
		}
		out = append(out, b)
		n |= int(b&0x7f) << shift
		shift += 7
		if b&0x80 == 0 {
			break
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return append(out, body...)
}

// certs writes a CA, a server certificate for 127.0.0.1 and a client
// certificate into dir and returns their paths and the CA pool.
type testCerts struct {
	ca, serverCert, serverKey string
	pool                      *x509.CertPool
	client                    tls.Certificate
}

func makeCerts(t *testing.T) testCerts {
	t.Helper()
	dir := t.TempDir()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := newKey()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lakegate test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	issue := func(cn string, usage x509.ExtKeyUsage, serial int64) ([]byte, *ecdsa.PrivateKey) {
		k := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyDER := func(k *ecdsa.PrivateKey) []byte {
		b, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	srvDER, srvKey := issue("127.0.0.1", x509.ExtKeyUsageServerAuth, 2)
	cliDER, cliKey := issue("device-1", x509.ExtKeyUsageClientAuth, 3)
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return testCerts{
		ca:         write("ca.pem", "CERTIFICATE", caDER),
		serverCert: write("server.pem", "CERTIFICATE", srvDER),
		serverKey:  write("server.key", "EC PRIVATE KEY", keyDER(srvKey)),
		pool:       pool,
		client:     tls.Certificate{Certificate: [][]byte{cliDER}, PrivateKey: cliKey},
	}
}

// listenersConfig is a config with one loopback MQTT listener of each
// kind named in ids (tcp, tls, mtls: TLS with client certificates, ws,
// wss), in that order, the TLS ones with certs.
func listenersConfig(certs testCerts, ids ...string) string {
	tls := fmt.Sprintf("cert_file: %q, key_file: %q", certs.serverCert, certs.serverKey)
	kinds := map[string]string{
		"tcp":  `{id: tcp, address: "127.0.0.1:0"}`,
		"tls":  `{id: tls, type: tls, address: "127.0.0.1:0", tls: {` + tls + `}}`,
		"mtls": `{id: mtls, type: tls, address: "127.0.0.1:0", tls: {` + tls + fmt.Sprintf(", client_ca_file: %q}}", certs.ca),
		"ws":   `{id: ws, type: ws, address: "127.0.0.1:0"}`,
		"wss":  `{id: wss, type: ws, address: "127.0.0.1:0", tls: {` + tls + `}}`,
	}
	var b strings.Builder
	b.WriteString("listeners:\n  mqtt:\n")
	for _, id := range ids {
		b.WriteString("    - " + kinds[id] + "\n")
	}
	return b.String()
}

// TestListeners runs TCP, TLS (with and without client certificates) and
// WebSocket listeners side by side, each on its own address: a message
// published on one reaches subscribers on the others.
func TestListeners(t *testing.T) {
	certs := makeCerts(t)
	gw := startBroker(t, listenersConfig(certs, "tcp", "tls", "mtls", "ws", "wss"))
	addrs := gw.MQTTAddrs()
	if len(addrs) != 5 {
		t.Fatalf("listeners %v", addrs)
	}
	for i := range addrs {
		for j := range i {
			if addrs[i] == addrs[j] {
				t.Fatalf("listeners share an address: %v", addrs)
			}
		}
	}
	tcpAddr, tlsAddr, mtlsAddr, wsAddr, wssAddr := addrs[0], addrs[1], addrs[2], addrs[3], addrs[4]

	var mu sync.Mutex
	got := map[string][]string{}
	record := func(who string) func(string) {
		return func(payload string) { mu.Lock(); got[who] = append(got[who], payload); mu.Unlock() }
	}

	// WebSocket subscribers (paho.mqtt.golang, MQTT 3.1.1).
	for _, s := range []struct{ who, url string }{{"ws", "ws://" + wsAddr}, {"wss", "wss://" + wssAddr}} {
		rec := record(s.who)
		c, _, err := dialV3(t, s.url, "sub-"+s.who, "", "", true, func(o *pmqtt.ClientOptions) {
			o.SetTLSConfig(&tls.Config{RootCAs: certs.pool})
		})
		if err != nil {
			t.Fatalf("%s: %v", s.who, err)
		}
		wait(t, c.Subscribe("fan/out", 1, func(_ pmqtt.Client, m pmqtt.Message) { rec(string(m.Payload())) }))
	}
	// TLS subscriber (paho.golang, MQTT 5).
	tconn, err := tls.Dial("tcp", tlsAddr, &tls.Config{RootCAs: certs.pool})
	if err != nil {
		t.Fatal(err)
	}
	rec := record("tls")
	sub, _, err := dialV5(t, "", "sub-tls", v5opts{clean: true, conn: tconn, onMessage: func(p *paho.Publish) { rec(string(p.Payload)) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Subscribe(context.Background(), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "fan/out", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}

	// mTLS: no client certificate, no connection; with one, publish.
	if c, err := tls.Dial("tcp", mtlsAddr, &tls.Config{RootCAs: certs.pool}); err == nil {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Write([]byte{0x10, 0x0d, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 30, 0, 1, 'x'})
		if err == nil {
			_, err = c.Read(make([]byte, 4))
		}
		if err == nil {
			t.Error("mTLS listener accepted a client without a certificate")
		}
		c.Close()
	}
	mconn, err := tls.Dial("tcp", mtlsAddr, &tls.Config{RootCAs: certs.pool, Certificates: []tls.Certificate{certs.client}})
	if err != nil {
		t.Fatal(err)
	}
	pub, _, err := dialV5(t, "", "pub-mtls", v5opts{clean: true, conn: mconn})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Publish(context.Background(), &paho.Publish{Topic: "fan/out", QoS: 1, Payload: []byte("m1")}); err != nil {
		t.Fatal(err)
	}
	// And plain TCP.
	tcp, _, err := dialV3(t, "tcp://"+tcpAddr, "pub-tcp", "", "", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	wait(t, tcp.Publish("fan/out", 1, false, "m2"))

	checkFor(t, 10*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		for _, who := range []string{"ws", "wss", "tls"} {
			// Two publishers: mochi delivers after the PUBACK, so their
			// order at a subscriber is not fixed.
			if s := slices.Sorted(slices.Values(got[who])); strings.Join(s, ",") != "m1,m2" {
				return fmt.Errorf("%s got %v, want [m1 m2]", who, got[who])
			}
		}
		return nil
	})
}
