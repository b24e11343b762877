package gateway_test

import (
	"io"
	"net/http"
	"net/url"
	"testing"
)

// TestHTTPQueryNDJSON: format=ndjson answers one JSON object per row.
func TestHTTPQueryNDJSON(t *testing.T) {
	gw := startGateway(t, t.TempDir(), "")
	c, _ := mqttQueryClient(t, gw.MQTTAddrs()[0], "nd", 0)
	writeSensors(t, c, 2)
	resp, err := http.Get("http://" + gw.HTTPAddr() + "/db/query?format=ndjson&timeformat=ms&q=" +
		url.QueryEscape("SELECT ts, device, temp FROM sensors WHERE device <> 'd0'"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("%s %s: %s", resp.Status, resp.Header.Get("Content-Type"), body)
	}
	if want := "{\"ts\":1700000001000,\"device\":\"d1\",\"temp\":21.5}\n"; string(body) != want {
		t.Fatalf("got %q, want %q", body, want)
	}
}
