package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/lakegate/lakegate/arrowstore/rows"
	"github.com/lakegate/lakegate/formatters"
	"github.com/lakegate/lakegate/plugins"
	"github.com/lakegate/lakegate/plugins/plugintest"
)

// BenchmarkFormatters is one message through each built-in formatter as
// the gateway runs it: Router.Match, the per-message format choice, the
// WASM module in the real runtime (one instance), and the topic columns;
// not the store. The payloads are the formatters' own BenchmarkHandle
// payloads (formatters/<id>/format), so the two can be compared: the
// difference is the runtime's cost. The figures are in each formatter's
// README:
//
//	go test -run '^$' -bench BenchmarkFormatters -benchtime 2s ./gateway/
func BenchmarkFormatters(b *testing.B) {
	ctx := context.Background()
	rtm, err := plugins.NewRuntime(ctx, plugins.RuntimeOptions{CacheDir: plugintest.CacheDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer rtm.Close(ctx)

	cases := []struct {
		name    string
		route   RouteConfig
		topic   string
		payload []byte
		gzip    bool
		props   []rows.Property
	}{
		{name: "json", route: RouteConfig{Topic: "t/{table}", Formatter: "json"}, topic: "t/t",
			payload: []byte(`{"ts":1700000000000,"device":"sensor-0042","temp":21.53,"humidity":48.2,"battery":3.71,"status":"ok","seq":12345}`)},
		{name: "csv", route: RouteConfig{Topic: "t/{table}", Formatter: "csv", Types: []ColumnType{{Column: "seq", Type: "int64"}}}, topic: "t/t",
			payload: []byte("ts,device,temp,hum,seq\n1700000000000,d1,21.5,48.2,42\n1700000001000,d1,21.6,48.1,43\n")},
		{name: "line", route: RouteConfig{Topic: "t/{table}", Formatter: "line"}, topic: "t/t",
			payload: []byte("weather,site=a,region=eu temp=21.5,hum=40i,ok=t 1700000000000000000\ncpu,host=h1 usage_idle=98.2,usage_user=1.1 1700000000000000000\n")},
		{name: "iotdb", route: RouteConfig{Topic: "t/{table}", Formatter: "iotdb"}, topic: "t/t",
			payload: []byte(`{"device":"root.sg.d1","timestamps":[1586076045524,1586076065526],"measurements":["s1","s2","s3"],"values":[[0.530635,21.5,1],[0.530655,21.7,2]]}`)},
		{name: "binary", route: RouteConfig{Topic: "t/{table}", Formatter: "binary",
			Options: map[string]any{"fields": "magic:u16=0xA55A,device:u32,temp:i16*0.01,hum:u16*0.1,pad[2],ts:u32:time_s"}}, topic: "t/t",
			payload: []byte{0xA5, 0x5A, 0, 0, 0, 42, 8, 0x66, 1, 0xA9, 0, 0, 0x65, 0x53, 0xF1, 0}},
		// The router-side features on top of the json formatter.
		{name: "json_topic_columns", route: RouteConfig{Topic: "factory/{site}/{line}/telemetry", Formatter: "json", Table: "telemetry"},
			topic:   "factory/north/l1/telemetry",
			payload: []byte(`{"ts":1700000000000,"device":"sensor-0042","temp":21.53,"humidity":48.2,"battery":3.71,"status":"ok","seq":12345}`)},
		{name: "csv_suffix_gzip", route: RouteConfig{Topic: "db/write/{table}", Formatter: "json", Formats: []FormatConfig{{Name: "csv"}},
			Types: []ColumnType{{Column: "seq", Type: "int64"}}}, topic: "db/write/t:csv:gzip", gzip: true,
			payload: []byte("ts,device,temp,hum,seq\n1700000000000,d1,21.5,48.2,42\n1700000001000,d1,21.6,48.1,43\n")},
		{name: "csv_property", route: RouteConfig{Topic: "db/write/{table}", Formatter: "json", Formats: []FormatConfig{{Name: "csv"}},
			Types: []ColumnType{{Column: "seq", Type: "int64"}}}, topic: "db/write/t", props: []rows.Property{{Key: "format", Value: "csv"}},
			payload: []byte("ts,device,temp,hum,seq\n1700000000000,d1,21.5,48.2,42\n1700000001000,d1,21.6,48.1,43\n")},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			router, err := NewRouter([]RouteConfig{c.route})
			if err != nil {
				b.Fatal(err)
			}
			rt := &routing{router: router, formatters: map[string]*plugins.Formatter{}}
			for _, id := range router.Formatters() {
				builtin, ok := formatters.Lookup(id)
				if !ok {
					b.Fatalf("no built-in formatter %s", id)
				}
				f, err := rtm.Load(ctx, id, builtin.Module(), plugins.Limits{Instances: 1}.WithDefaults())
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close(ctx)
				rt.formatters[id] = f
			}
			payload := c.payload
			if c.gzip {
				payload = gzipBytes(b, string(c.payload))
			}
			msg := &rows.Message{Topic: c.topic, Payload: payload, ClientID: "bench", QoS: 1, ProtocolVersion: 5,
				UserProperties: c.props, Received: time.Unix(1700000000, 0)}
			b.SetBytes(int64(len(c.payload)))
			b.ReportAllocs()
			for b.Loop() {
				m, ok, err := router.Match(msg.Topic)
				if !ok || err != nil {
					b.Fatalf("match: %v %v", ok, err)
				}
				f, in, err := rt.formatInput(msg, &m)
				if err != nil {
					b.Fatal(err)
				}
				rs, err := f.Format(ctx, in, m.Route)
				if _, err := formatted(rs, err, &m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
