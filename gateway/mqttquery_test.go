package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	pmqtt "github.com/eclipse/paho.mqtt.golang"
)

// replyInbox records the PUBLISHes a test client receives.
type replyInbox struct {
	mu   sync.Mutex
	msgs []*paho.Publish
}

func (b *replyInbox) add(p *paho.Publish) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.msgs = append(b.msgs, p)
}

func (b *replyInbox) all() []*paho.Publish {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*paho.Publish(nil), b.msgs...)
}

// waitN polls until the replyInbox holds n messages.
func (b *replyInbox) waitN(t *testing.T, n int) []*paho.Publish {
	t.Helper()
	checkFor(t, 10*time.Second, func() error {
		if got := len(b.all()); got < n {
			return fmt.Errorf("got %d messages, want %d", got, n)
		}
		return nil
	})
	return b.all()
}

// mqttQueryClient connects an MQTT 5 client with the given Maximum Packet
// Size (0: none) that records what it receives.
func mqttQueryClient(t *testing.T, addr, id string, maxPacket uint32) (*paho.Client, *replyInbox) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	in := &replyInbox{}
	c := paho.NewClient(paho.ClientConfig{ClientID: id, Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) { in.add(pr.Packet); return true, nil },
		}})
	cp := &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: true, Properties: &paho.ConnectProperties{}}
	if maxPacket > 0 {
		cp.Properties.MaximumPacketSize = &maxPacket
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ca, err := c.Connect(ctx, cp); err != nil || ca.ReasonCode != 0 {
		t.Fatalf("connecting %s: %v", id, err)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c, in
}

func subscribe(t *testing.T, c *paho.Client, qos byte, filters ...string) {
	t.Helper()
	var opts []paho.SubscribeOptions
	for _, f := range filters {
		opts = append(opts, paho.SubscribeOptions{Topic: f, QoS: qos})
	}
	if _, err := c.Subscribe(context.Background(), &paho.Subscribe{Subscriptions: opts}); err != nil {
		t.Fatal(err)
	}
}

func publish(t *testing.T, c *paho.Client, p *paho.Publish) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pr, err := c.Publish(ctx, p)
	if err != nil {
		t.Fatalf("publishing to %s: %v", p.Topic, err)
	}
	if pr != nil && pr.ReasonCode >= 0x80 {
		t.Fatalf("publishing to %s: reason %#x", p.Topic, pr.ReasonCode)
	}
}

// writeSensors stores n rows in table sensors (a QoS 1 PUBACK means stored).
func writeSensors(t *testing.T, c *paho.Client, n int) {
	t.Helper()
	for i := range n {
		publish(t, c, &paho.Publish{Topic: "db/write/sensors", QoS: 1,
			Payload: []byte(fmt.Sprintf(`{"ts":%d,"device":"d%d","temp":%d.5}`, 1700000000000+int64(i)*1000, i, 20+i))})
	}
}

func decodeAnswer(t *testing.T, p *paho.Publish) queryReply {
	t.Helper()
	var r queryReply
	if err := json.Unmarshal(p.Payload, &r); err != nil {
		t.Fatalf("answer %q: %v", p.Payload, err)
	}
	return r
}

// TestMQTTQueryOnlyAsker: two sessions subscribe to db/reply; each gets its
// own answer only, and the db/query messages reach no subscriber and no table.
func TestMQTTQueryOnlyAsker(t *testing.T) {
	gw := startGateway(t, t.TempDir(), "")
	addr := gw.MQTTAddrs()[0]
	a, aIn := mqttQueryClient(t, addr, "asker", 0)
	b, bIn := mqttQueryClient(t, addr, "bystander", 0)
	watcher, wIn := mqttQueryClient(t, addr, "watcher", 0)
	subscribe(t, a, 1, "db/reply")
	subscribe(t, b, 1, "db/reply")
	subscribe(t, watcher, 1, "db/query")
	writeSensors(t, a, 3)

	publish(t, a, &paho.Publish{Topic: "db/query", QoS: 1,
		Payload: []byte(`{"q":"SELECT device, temp FROM sensors ORDER BY ts LIMIT 2","timeformat":"ms"}`)})
	got := aIn.waitN(t, 1)
	r := decodeAnswer(t, got[0])
	if !r.Success || len(r.Data.Rows) != 2 || fmt.Sprint(r.Data.Rows) != "[[d0 20.5] [d1 21.5]]" {
		t.Fatalf("asker's answer: %s", got[0].Payload)
	}
	if got[0].Topic != "db/reply" || got[0].Properties.ContentType != "application/json" {
		t.Fatalf("answer on %q with content type %q", got[0].Topic, got[0].Properties.ContentType)
	}

	// The bystander asks too: it must see its own answer and nothing else.
	publish(t, b, &paho.Publish{Topic: "db/query", QoS: 0, Payload: []byte(`{"q":"SELECT count(*) FROM sensors"}`)})
	bGot := bIn.waitN(t, 1)
	publish(t, a, &paho.Publish{Topic: "db/query", QoS: 1, Payload: []byte(`{"q":"SELECT count(*) FROM sensors"}`)})
	aIn.waitN(t, 2)
	if r := decodeAnswer(t, bGot[0]); !r.Success || fmt.Sprint(r.Data.Rows) != "[[3]]" {
		t.Fatalf("bystander's answer: %s", bGot[0].Payload)
	}
	if n := len(bIn.all()); n != 1 {
		t.Fatalf("bystander got %d messages, want only its own answer", n)
	}
	if n := len(wIn.all()); n != 0 {
		t.Fatalf("a subscriber of db/query got %d messages: queries must not be forwarded", n)
	}
}

// TestMQTTQueryResponseTopic: the MQTT 5 Response Topic wins over the reply
// field and the default, and the Correlation Data comes back; csv format.
func TestMQTTQueryResponseTopic(t *testing.T) {
	gw := startGateway(t, t.TempDir(), "")
	c, in := mqttQueryClient(t, gw.MQTTAddrs()[0], "rt", 0)
	subscribe(t, c, 1, "app/answers/#", "db/reply")
	writeSensors(t, c, 2)

	publish(t, c, &paho.Publish{Topic: "db/query", QoS: 1,
		Properties: &paho.PublishProperties{ResponseTopic: "app/answers/42", CorrelationData: []byte("req-42")},
		Payload:    []byte(`{"q":"SELECT ts, device FROM sensors","format":"csv","timeformat":"s","reply":"app/answers/other"}`)})
	got := in.waitN(t, 1)[0]
	if got.Topic != "app/answers/42" || string(got.Properties.CorrelationData) != "req-42" {
		t.Fatalf("answer on %q with correlation %q", got.Topic, got.Properties.CorrelationData)
	}
	if want := "ts,device\n1700000000,d0\n1700000001,d1\n"; string(got.Payload) != want || got.Properties.ContentType != "text/csv" {
		t.Fatalf("csv answer %q (%s), want %q", got.Payload, got.Properties.ContentType, want)
	}

	// The reply field, with ndjson and a time zone.
	publish(t, c, &paho.Publish{Topic: "db/query", QoS: 0,
		Payload: []byte(`{"q":"SELECT ts FROM sensors LIMIT 1","format":"ndjson","tz":"UTC","reply":"app/answers/field"}`)})
	got = in.waitN(t, 2)[1]
	if got.Topic != "app/answers/field" || string(got.Payload) != "{\"ts\":\"2023-11-14T22:13:20.000Z\"}\n" {
		t.Fatalf("ndjson answer on %q: %q", got.Topic, got.Payload)
	}
}

// TestMQTTQueryErrors: bad requests and failing queries are answered with
// {"success":false,"reason":...}, in the order they were asked.
func TestMQTTQueryErrors(t *testing.T) {
	gw := startGateway(t, t.TempDir(), "")
	c, in := mqttQueryClient(t, gw.MQTTAddrs()[0], "errs", 0)
	subscribe(t, c, 0, "db/reply")
	cases := []struct{ payload, reason string }{
		{`{"q":"SELEC 1"}`, "syntax error at position 6 near 'SELEC'"},
		{`{"q":"SELECT * FROM nope"}`, "table not found: nope"},
		{`{bad`, "payload: want a JSON object"},
		{`{"q":""}`, "missing q"},
		{`{"q":"SELECT 1","format":"xml"}`, `unknown format "xml"`},
		{`{"q":"SELECT 1","timeformat":"weeks"}`, "unknown time format"},
		{`{"q":"SELECT 1","tz":"Mars/Olympus"}`, "unknown time zone"},
		{`{"q":"SELECT 1","reply":"db/#"}`, "invalid reply topic"},
	}
	for _, tc := range cases {
		publish(t, c, &paho.Publish{Topic: "db/query", QoS: 1, Payload: []byte(tc.payload)})
	}
	got := in.waitN(t, len(cases))
	for i, tc := range cases {
		r := decodeAnswer(t, got[i])
		if r.Success || !strings.Contains(r.Reason, tc.reason) {
			t.Errorf("%s: answer %s, want reason containing %q", tc.payload, got[i].Payload, tc.reason)
		}
	}
}

// TestMQTTQueryTooLarge: an answer that does not fit the client's Maximum
// Packet Size is refused with a reason instead of being cut or dropped.
func TestMQTTQueryTooLarge(t *testing.T) {
	gw := startGateway(t, t.TempDir(), "")
	c, in := mqttQueryClient(t, gw.MQTTAddrs()[0], "small", 512)
	subscribe(t, c, 1, "db/reply")
	writeSensors(t, c, 20)
	publish(t, c, &paho.Publish{Topic: "db/query", QoS: 1, Payload: []byte(`{"q":"SELECT * FROM sensors"}`)})
	r := decodeAnswer(t, in.waitN(t, 1)[0])
	if r.Success || !strings.Contains(r.Reason, "result too large for an MQTT reply") {
		t.Fatalf("answer: %+v", r)
	}
}

// TestMQTTQueryOrderAndV3: many queries from one MQTT 3.1.1 client are
// answered in order; a session not subscribed to the reply topic gets nothing.
func TestMQTTQueryOrderAndV3(t *testing.T) {
	gw := startGateway(t, t.TempDir(), "")
	addr := gw.MQTTAddrs()[0]
	var mu sync.Mutex
	var got []string
	o := pmqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("v3").SetOrderMatters(true)
	c := pmqtt.NewClient(o)
	wait(t, c.Connect())
	t.Cleanup(func() { c.Disconnect(100) })
	wait(t, c.Subscribe("q/answers", 1, func(_ pmqtt.Client, m pmqtt.Message) {
		mu.Lock()
		got = append(got, string(m.Payload()))
		mu.Unlock()
	}))
	silent, silentIn := mqttQueryClient(t, addr, "unsubscribed", 0)

	const n = 40
	for i := range n {
		wait(t, c.Publish("db/query", byte(i%2), false,
			fmt.Sprintf(`{"q":"SELECT count(*) AS n%d FROM nope%d","reply":"q/answers"}`, i, i)))
	}
	publish(t, silent, &paho.Publish{Topic: "db/query", QoS: 1, Payload: []byte(`{"q":"SELECT 1"}`)})
	checkFor(t, 10*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(got) < n {
			return fmt.Errorf("%d answers of %d", len(got), n)
		}
		return nil
	})
	for i, p := range got {
		if !strings.Contains(p, fmt.Sprintf("table not found: nope%d\"", i)) {
			t.Fatalf("answer %d out of order: %s", i, p)
		}
	}
	if len(silentIn.all()) != 0 {
		t.Fatal("a session not subscribed to the reply topic got an answer")
	}
}

// TestMQTTQueryHammer: several sessions ask many queries at once, at QoS 0,
// 1 and 2; each gets exactly its own answers, in the order it asked.
func TestMQTTQueryHammer(t *testing.T) {
	gw := startGateway(t, t.TempDir(), "")
	addr := gw.MQTTAddrs()[0]
	const clients, perClient = 4, 25
	type session struct {
		c  *paho.Client
		in *replyInbox
	}
	var ss []session
	for k := range clients {
		c, in := mqttQueryClient(t, addr, fmt.Sprintf("h%d", k), 0)
		subscribe(t, c, 2, "db/reply")
		ss = append(ss, session{c, in})
	}
	writeSensors(t, ss[0].c, 3)
	var wg sync.WaitGroup
	for k, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perClient {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := s.c.Publish(ctx, &paho.Publish{Topic: "db/query", QoS: byte(i % 3),
					Properties: &paho.PublishProperties{CorrelationData: []byte(fmt.Sprintf("%d/%d", k, i))},
					Payload:    []byte(fmt.Sprintf(`{"q":"SELECT count(*) AS n%d FROM sensors"}`, i))})
				cancel()
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for k, s := range ss {
		got := s.in.waitN(t, perClient)
		if len(got) != perClient {
			t.Fatalf("client %d: %d answers, want %d", k, len(got), perClient)
		}
		for i, p := range got {
			if want := fmt.Sprintf("%d/%d", k, i); string(p.Properties.CorrelationData) != want {
				t.Fatalf("client %d answer %d: correlation %q, want %q", k, i, p.Properties.CorrelationData, want)
			}
			if r := decodeAnswer(t, p); !r.Success || r.Data.Columns[0] != fmt.Sprintf("n%d", i) {
				t.Fatalf("client %d answer %d: %s", k, i, p.Payload)
			}
		}
	}
}

// TestMQTTQueryConfigured: query.mqtt.topic and default_reply move the API,
// max_reply_bytes refuses a larger answer, and query.max_rows caps results
// for every API (here MQTT and HTTP).
func TestMQTTQueryConfigured(t *testing.T) {
	gw := startGateway(t, t.TempDir(), `
query:
  max_rows: 3
  mqtt: {topic: sql/in, default_reply: sql/out, max_reply_bytes: 300}
`)
	c, in := mqttQueryClient(t, gw.MQTTAddrs()[0], "configured", 0)
	subscribe(t, c, 1, "sql/out", "db/reply")
	writeSensors(t, c, 5)

	publish(t, c, &paho.Publish{Topic: "sql/in", QoS: 1, Payload: []byte(`{"q":"SELECT device FROM sensors LIMIT 2"}`)})
	got := in.waitN(t, 1)[0]
	if r := decodeAnswer(t, got); got.Topic != "sql/out" || !r.Success || fmt.Sprint(r.Data.Rows) != "[[d0] [d1]]" {
		t.Fatalf("answer on %q: %s", got.Topic, got.Payload)
	}
	publish(t, c, &paho.Publish{Topic: "sql/in", QoS: 1, Payload: []byte(`{"q":"SELECT * FROM sensors"}`)})
	got = in.waitN(t, 2)[1]
	if r := decodeAnswer(t, got); r.Success || !strings.Contains(r.Reason, "result too large: more than 3 rows") {
		t.Fatalf("5 rows with max_rows 3: %s", got.Payload)
	}
	publish(t, c, &paho.Publish{Topic: "sql/in", QoS: 1,
		Payload: []byte(`{"q":"SELECT device, device AS a, device AS b, device AS c, ts, temp FROM sensors LIMIT 3"}`)})
	got = in.waitN(t, 3)[2]
	if r := decodeAnswer(t, got); r.Success || !strings.Contains(r.Reason, "exceed 300 bytes") {
		t.Fatalf("answer over max_reply_bytes: %s", got.Payload)
	}
	// db/query is an ordinary topic now: a PUBLISH there is not a query.
	publish(t, c, &paho.Publish{Topic: "db/query", QoS: 1, Payload: []byte(`{"q":"SELECT 1"}`)})
	publish(t, c, &paho.Publish{Topic: "sql/in", QoS: 1, Payload: []byte(`{"q":"SELECT count(*) FROM sensors"}`)})
	got = in.waitN(t, 4)[3]
	if r := decodeAnswer(t, got); got.Topic != "sql/out" || fmt.Sprint(r.Data.Rows) != "[[5]]" {
		t.Fatalf("answer after a PUBLISH to db/query: %q %s", got.Topic, got.Payload)
	}
	resp, err := http.Get("http://" + gw.HTTPAddr() + "/db/query?q=" + url.QueryEscape("SELECT * FROM sensors"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "more than 3 rows") {
		t.Fatalf("HTTP answer with max_rows 3: %s %s", resp.Status, body)
	}
}
