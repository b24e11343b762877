package gateway_test

import (
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// TestLateSubscriberHearsQoS0: a QoS 0 message to a routed topic nobody
// subscribes to skips mochi's subscriber lookup (audience.go). A client
// that subscribes afterwards, plainly or in a shared group, must still get
// the next message from the same publisher connection, and a retained
// message sent while nobody listened must still be retained.
func TestLateSubscriberHearsQoS0(t *testing.T) {
	gw := startBroker(t, tcpListener)
	addr := gw.MQTTAddrs()[0]
	for _, filter := range []string{"db/write/late_plain", "db/write/+", "$share/g/db/write/late_shared"} {
		topic := "db/write/late_plain"
		if strings.HasPrefix(filter, "$share") {
			topic = "db/write/late_shared"
		}
		t.Run(filter, func(t *testing.T) {
			p, _, err := dialV5(t, addr, "late-pub", v5opts{clean: true})
			if err != nil {
				t.Fatal(err)
			}
			// Heard by nobody; the QoS 1 fence makes sure it was handled.
			pub5(t, p, &paho.Publish{Topic: topic, QoS: 0, Payload: []byte(`{"n":1}`)})
			pub5(t, p, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(`{"n":2}`)})

			got := make(chan string, 16)
			s, _, err := dialV5(t, addr, "late-sub", v5opts{clean: true, onMessage: func(m *paho.Publish) { got <- string(m.Payload) }})
			if err != nil {
				t.Fatal(err)
			}
			sub5(t, s, filter, 0)
			pub5(t, p, &paho.Publish{Topic: topic, QoS: 0, Payload: []byte(`{"n":3}`)})
			// The QoS 1 message may reach it too: mochi delivers it after
			// the PUBACK.
			timeout := time.After(5 * time.Second)
			for m := ""; m != `{"n":3}`; {
				select {
				case m = <-got:
				case <-timeout:
					t.Fatal("the subscriber did not get the QoS 0 message sent after its SUBACK")
				}
			}
			_ = s.Disconnect(&paho.Disconnect{})
			_ = p.Disconnect(&paho.Disconnect{})
		})
	}

	t.Run("retained", func(t *testing.T) {
		p, _, err := dialV5(t, addr, "ret-pub", v5opts{clean: true})
		if err != nil {
			t.Fatal(err)
		}
		pub5(t, p, &paho.Publish{Topic: "db/write/late_ret", QoS: 0, Payload: []byte(`{"n":1}`)})
		pub5(t, p, &paho.Publish{Topic: "db/write/late_ret", QoS: 0, Retain: true, Payload: []byte(`{"n":2}`)})
		pub5(t, p, &paho.Publish{Topic: "db/write/late_ret", QoS: 1, Payload: []byte(`{"n":3}`)})
		got := make(chan string, 16)
		s, _, err := dialV5(t, addr, "ret-sub", v5opts{clean: true, onMessage: func(m *paho.Publish) { got <- string(m.Payload) }})
		if err != nil {
			t.Fatal(err)
		}
		sub5(t, s, "db/write/late_ret", 0)
		select {
		case m := <-got:
			if m != `{"n":2}` {
				t.Fatalf("subscriber got %s, want the retained message", m)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a QoS 0 message retained while nobody subscribed was not retained")
		}
	})
}
