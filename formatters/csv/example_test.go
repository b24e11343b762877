package csvformat_test

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
		Topic:    "csv/d1",
		Payload:  []byte("ts,device,temp,seq\n1700000000000,d1,21.5,42\n"),
		Received: time.Now(),
	}
	// formatter is csvformat.Module() loaded by TestMain, as a gateway
	// loads it once at start.
	rs, err := formatter.Format(ctx, msg, &plugins.Route{Table: "readings", Options: []plugins.Option{{Key: "type.seq", Value: "int64"}}})
	if err != nil {
		panic(err)
	}
	for _, row := range rs {
		fmt.Println(row.Table, time.Unix(0, row.Time).UTC().Format(time.RFC3339))
		for _, c := range row.Columns {
			fmt.Printf("  %s %s\n", c.Name, c.Value.Kind)
		}
	}
	// Output:
	// readings 2023-11-14T22:13:20Z
	//   device string
	//   temp float64
	//   seq int64
}
