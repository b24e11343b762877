package gateway_test

import (
	"testing"

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
