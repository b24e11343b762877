package iotdbformat_test

import (
	"context"
	"fmt"
	"time"

	"github.com/lakegate/lakegate/arrowstore/rows"
	"github.com/lakegate/lakegate/plugins"
)

func Example() {
	ctx := context.Background()
	msg := &rows.Message{
		Topic:    "iotdb/d1",
		Payload:  []byte(`{"device":"root.sg.d1","timestamp":1586076045524,"measurements":["s1","s2"],"datatypes":["DOUBLE","INT32"],"values":[0.53,7]}`),
		Received: time.Now(),
	}
	// formatter is iotdbformat.Module() loaded by TestMain, as a gateway
	// loads it once at start.
	rs, err := formatter.Format(ctx, msg, &plugins.Route{Table: "iotdb", Options: []plugins.Option{{Key: "table_from_device", Value: "2"}}})
	if err != nil {
		panic(err)
	}
	for _, row := range rs {
		fmt.Println(row.Table, time.Unix(0, row.Time).UTC().Format(time.RFC3339Nano))
		for _, c := range row.Columns {
			fmt.Printf("  %s %s\n", c.Name, c.Value.Kind)
		}
	}
	// Output:
	// sg 2020-04-05T08:40:45.524Z
	//   device string
	//   s1 float64
	//   s2 int64
}
