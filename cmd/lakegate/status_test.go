package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/lakegate/lakegate/gateway"
	"github.com/lakegate/lakegate/plugins/plugintest"
)

// TestStatusCommand runs `lakegate status` against a real gateway that
// stored messages published over MQTT.
func TestStatusCommand(t *testing.T) {
	dir := t.TempDir()
	cfg, err := gateway.ParseConfig("test", fmt.Appendf(nil, `
listeners:
  mqtt: [{id: tcp, address: "127.0.0.1:0"}]
  http: {address: "127.0.0.1:0"}
storage: {dir: %q}
`, dir))
	if err != nil {
		t.Fatal(err)
	}
	gw := startGateway(t, cfg, gateway.Options{CompilationCacheDir: plugintest.CacheDir(), Version: "v9.8.7"})

	conn, err := net.Dial("tcp", gw.MQTTAddrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	cc := paho.NewClient(paho.ClientConfig{ClientID: "status-cmd", Conn: conn})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cc.Connect(ctx, &paho.Connect{ClientID: "status-cmd", KeepAlive: 30, CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	defer cc.Disconnect(&paho.Disconnect{})
	for i := range 7 {
		if _, err := cc.Publish(ctx, &paho.Publish{Topic: "db/write/boilers", QoS: 1, Payload: fmt.Appendf(nil, `{"temp":%d}`, 60+i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := gw.Store().Flush(ctx); err != nil {
		t.Fatal(err)
	}

	run := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		cmd := newRootCommand(&out, &out)
		cmd.SetArgs(args)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("lakegate %v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}
	text := run("status", "--server", gw.HTTPAddr())
	t.Logf("lakegate status:\n%s", text)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^version +v9\.8\.7$`),
		regexp.MustCompile(`(?m)^uptime +\S+ \(ready\)$`),
		regexp.MustCompile(`(?m)^connections +1$`),
		regexp.MustCompile(`(?m)^messages +in 7, stored 7, dead-lettered 0, failed 0, unrouted 0$`),
		regexp.MustCompile(`(?m)^ *boilers +7 +\d+(\.\d)? (B|KiB)$`),
	} {
		if !want.MatchString(text) {
			t.Errorf("output does not match %s:\n%s", want, text)
		}
	}

	var st gateway.Status
	if err := json.Unmarshal([]byte(run("status", "--json", "--server", "http://"+gw.HTTPAddr())), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Tables) != 1 || st.Tables[0].Name != "boilers" || st.Tables[0].Rows != 7 || st.Tables[0].DiskBytes == 0 {
		t.Errorf("--json tables = %+v", st.Tables)
	}

	gw.Close()
	var out bytes.Buffer
	cmd := newRootCommand(&out, &out)
	cmd.SetArgs([]string{"status", "--server", gw.HTTPAddr()})
	if err := cmd.Execute(); err == nil {
		t.Errorf("status of a closed gateway succeeded:\n%s", out.String())
	}
}
