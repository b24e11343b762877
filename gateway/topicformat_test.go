package gateway_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/lakegate/lakegate/gateway"
)

// topicFormatConfig is Machbase Neo's db/write with CSV and NDJSON besides
// JSON, and topic levels as columns through three formatters.
const topicFormatConfig = `
dead_letter: {table: dead}
routes:
  - topic: db/write/{table}
    formatter: json
    formats:
      - name: csv
        options: {header: false, columns: [name, time, value], time_format: ns}
  - topic: factory/{site}/{line}/telemetry
    formatter: json
    table: telemetry
  - topic: factory/{site}/{line}/csv
    formatter: csv
    table: telemetry_csv
    formats: [{name: csv}]
  - topic: influx/{site}
    formatter: line
    table: influx
    topic_columns: [{placeholder: site, column: plant}]
`

// publishTimeout is generous: the machine running the tests may be loaded.
const publishTimeout = 30 * time.Second

// publish5 sends one QoS 1 message and returns the PUBACK's reason code
// and reason string.
func publish5(t *testing.T, c *paho.Client, topic string, payload []byte, props ...paho.UserProperty) (byte, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	p := &paho.Publish{Topic: topic, QoS: 1, Payload: payload}
	if len(props) > 0 {
		p.Properties = &paho.PublishProperties{User: props}
	}
	pr, err := c.Publish(ctx, p)
	if pr == nil {
		t.Fatalf("publishing to %s: no PUBACK: %v", topic, err)
	}
	reason := ""
	if pr.Properties != nil {
		reason = pr.Properties.ReasonString
	}
	return pr.ReasonCode, reason
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// queryRows runs sql through the HTTP query API and renders its rows.
func queryRows(t *testing.T, httpAddr, sql string) string {
	t.Helper()
	return fmt.Sprint(query(t, httpAddr, sql).Data.Rows)
}

// TestTopicFormats publishes over real MQTT 5 to a real gateway and reads
// the rows back through the HTTP query API: topic levels as columns with
// the json, csv and line formatters; Machbase Neo's :csv:gzip and :ndjson
// suffixes and the format / compress user properties; and the malformed
// cases, each with its exact reason code and string and its dead letter.
func TestTopicFormats(t *testing.T) {
	gw := startGateway(t, t.TempDir(), topicFormatConfig)
	c := connect(t, gw.MQTTAddrs()[0], "topicformat", nil)
	http := gw.HTTPAddr()
	ok := func(topic string, payload []byte, props ...paho.UserProperty) {
		t.Helper()
		if code, reason := publish5(t, c, topic, payload, props...); code != 0 {
			t.Fatalf("%s: PUBACK reason %#x %q, want success", topic, code, reason)
		}
	}

	// Topic levels as columns, for every formatter.
	ok("factory/north/l1/telemetry", []byte(`{"ts":1700000000000,"temp":21.5}`))
	ok("factory/south/l2/telemetry", []byte(`{"ts":1700000001000,"temp":22.5,"site":"south"}`)) // same value: kept once
	ok("factory/east/l3/csv", []byte("ts,temp\n1700000002000,23.5\n"))
	ok("factory/west/l4/csv:csv:gzip", gzipped(t, []byte("ts,temp\n1700000003000,24.5\n")))
	ok("influx/plant7", []byte("weather,room=a temp=19.5 1700000004000000000\n"))
	if got, want := queryRows(t, http, "SELECT site, line, temp FROM telemetry ORDER BY ts"), "[[north l1 21.5] [south l2 22.5]]"; got != want {
		t.Errorf("telemetry: got %s, want %s", got, want)
	}
	if got, want := queryRows(t, http, "SELECT site, line, temp FROM telemetry_csv ORDER BY ts"), "[[east l3 23.5] [west l4 24.5]]"; got != want {
		t.Errorf("telemetry_csv: got %s, want %s", got, want)
	}
	if got, want := queryRows(t, http, "SELECT plant, room, temp FROM weather"), "[[plant7 a 19.5]]"; got != want {
		t.Errorf("weather (line protocol, table from the measurement): got %s, want %s", got, want)
	}

	// Machbase Neo's per-message formats: the suffix is not part of the table.
	ok("db/write/mach:csv:gzip", gzipped(t, []byte("d1,1700000000000000000,1.5\nd2,1700000001000000000,2.5\n")))
	ok("db/write/mach:ndjson", []byte("[[\"d3\",1700000002000000000,3.5]]\n[[\"d4\",1700000003000000000,4.5]]\n"))
	ok("db/write/mach:json", []byte(`{"ts":1700000004000,"name":"d5","value":5.5}`))
	ok("db/write/mach", gzipped(t, []byte("d6,1700000005000000000,6.5\n")),
		paho.UserProperty{Key: "format", Value: "csv"}, paho.UserProperty{Key: "compress", Value: "gzip"})
	ok("db/write/mach", []byte("{\"ts\":1700000006000,\"name\":\"d7\",\"value\":7.5}\n{\"ts\":1700000007000,\"name\":\"d8\",\"value\":8.5}"),
		paho.UserProperty{Key: "format", Value: "ndjson"})
	if got, want := queryRows(t, http, "SELECT name, value FROM mach ORDER BY ts"),
		"[[d1 1.5] [d2 2.5] [d3 3.5] [d4 4.5] [d5 5.5] [d6 6.5] [d7 7.5] [d8 8.5]]"; got != want {
		t.Errorf("mach: got %s, want %s", got, want)
	}

	// Malformed: each refused with its reason and kept as a dead letter.
	bomb := gzipped(t, make([]byte, gateway.DefaultMaxDecompressedSize+1))
	bad := []struct {
		topic   string
		payload []byte
		props   []paho.UserProperty
		code    byte
		reason  string
		dead    string // dead letter reason_code
	}{
		{"db/write/badgz:csv:gzip", []byte("d1,1700000000000000000,1.5\n"), nil, 0x99,
			"payload format invalid: formatting for table badgz with csv: decompressing gzip payload: gzip: invalid header", "malformed"},
		{"db/write/truncgz:gzip", gzipped(t, []byte(`{"v":1}`))[:12], nil, 0x99,
			"payload format invalid: formatting for table truncgz with json: decompressing gzip payload: unexpected EOF", "malformed"},
		{"db/write/bomb:gzip", bomb, nil, 0x99,
			fmt.Sprintf("payload format invalid: formatting for table bomb with json: decompressing gzip payload: more than %d bytes (the route's max_decompressed_size) from %d compressed",
				gateway.DefaultMaxDecompressedSize, len(bomb)), "malformed"},
		{"db/write/unk:xml", []byte(`{"v":1}`), nil, 0x90,
			`topic name invalid: topic "db/write/unk:xml" routed by routes[0]: topic suffix ":xml": unknown format "xml" (the route accepts csv, json, ndjson)`, "bad_topic"},
		{"db/write/unk:csv:zip", []byte(`{"v":1}`), nil, 0x90,
			`topic name invalid: topic "db/write/unk:csv:zip" routed by routes[0]: topic suffix ":csv:zip": unknown compression "zip" (want gzip, or - for none)`, "bad_topic"},
		{"db/write/unkprop", []byte(`{"v":1}`), []paho.UserProperty{{Key: "format", Value: "xml"}}, 0x99,
			`payload format invalid: formatting for table unkprop with json: user property format "xml": unknown format (the route accepts csv, json, ndjson)`, "malformed"},
		{"db/write/clash:csv", []byte(`{"v":1}`), []paho.UserProperty{{Key: "format", Value: "json"}}, 0x99,
			`payload format invalid: formatting for table clash with csv: user property format "json" contradicts the topic suffix's "csv"`, "malformed"},
		{"factory/north/l1/telemetry", []byte(`{"ts":1700000009000,"temp":1,"line":"l9"}`), nil, 0x99,
			`payload format invalid: formatting for table telemetry with json: row 0: column "line" is "l9" in the payload but "l1" in the topic (rename the topic column with topic_columns)`, "malformed"},
	}
	for _, b := range bad {
		code, reason := publish5(t, c, b.topic, b.payload, b.props...)
		if code != b.code || reason != b.reason {
			t.Errorf("%s:\n got reason %#x %q\nwant reason %#x %q", b.topic, code, reason, b.code, b.reason)
		}
	}
	var want []string
	for _, b := range bad {
		want = append(want, fmt.Sprintf("[%s %s]", b.topic, b.dead))
	}
	if got := queryRows(t, http, "SELECT topic, reason_code FROM dead ORDER BY ts"); got != "["+strings.Join(want, " ")+"]" {
		t.Errorf("dead letters:\n got %s\nwant [%s]", got, strings.Join(want, " "))
	}
	// The refused messages stored nothing; the good tables are unchanged.
	if got := queryRows(t, http, "SELECT count(*) FROM telemetry"); got != "[[2]]" {
		t.Errorf("telemetry after the malformed messages: count %s, want 2", got)
	}
	if st := gw.Stats(); st.Malformed != 6 || st.BadTopic != 2 {
		t.Errorf("stats = %+v, want 6 malformed and 2 bad topics", st)
	}
}

// TestTopicFormatsUnknownFormatter: a format naming a formatter that does
// not exist is refused when the gateway is built, at its key.
func TestTopicFormatsUnknownFormatter(t *testing.T) {
	cfg, err := gateway.ParseConfig("test", []byte(`
routes:
  - topic: db/write/{table}
    formatter: json
    formats: [{name: csv}, {name: xml}]
`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = gateway.New(cfg, gateway.Options{})
	var fe *gateway.FieldError
	if !errors.As(err, &fe) || fe.Key != "routes[0].formats[1].name" || !strings.Contains(fe.Reason, `formatter "xml": unknown formatter`) {
		t.Fatalf("got %v, want an unknown formatter error at routes[0].formats[1].name", err)
	}
}

// TestDefaultRoutesMachbaseFormats: the default configuration's db/write
// and db/append take Machbase Neo's headerless CSV and gzip suffixes, over
// MQTT 5 and 3.1.1.
func TestDefaultRoutesMachbaseFormats(t *testing.T) {
	gw := startGateway(t, t.TempDir(), "")
	c := connect(t, gw.MQTTAddrs()[0], "machbase", nil)
	for _, m := range []struct {
		topic   string
		payload []byte
	}{
		{"db/write/EXAMPLE:csv", []byte("my-car,1670380342000000000,32.1\nmy-car,1670380343000000000,65.4\n")},
		{"db/append/EXAMPLE:json:gzip", gzipped(t, []byte(`[["my-car",1670380344000000000,76.5]]`))},
		{"db/write/EXAMPLE:CSV:GZIP", gzipped(t, []byte("my-car,1670380345000000000,11.5\n"))},
	} {
		if code, reason := publish5(t, c, m.topic, m.payload); code != 0 {
			t.Fatalf("%s: PUBACK reason %#x %q, want success", m.topic, code, reason)
		}
	}
	// MQTT 3.1.1 has no user properties; the suffix works the same.
	c3, _, err := dialV3(t, "tcp://"+gw.MQTTAddrs()[0], "machbase-v3", "", "", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok := c3.Publish("db/write/EXAMPLE:csv:gzip", 1, false, gzipped(t, []byte("my-car,1670380346000000000,12.5\n")))
	if !tok.WaitTimeout(publishTimeout) || tok.Error() != nil {
		t.Fatalf("MQTT 3.1.1 publish: %v", tok.Error())
	}
	if got, want := queryRows(t, gw.HTTPAddr(), "SELECT name, value FROM EXAMPLE ORDER BY ts"),
		"[[my-car 32.1] [my-car 65.4] [my-car 76.5] [my-car 11.5] [my-car 12.5]]"; got != want {
		t.Errorf("EXAMPLE: got %s, want %s", got, want)
	}
}
