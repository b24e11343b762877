package lineformat_test

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
		Topic:    "telegraf/host1",
		Payload:  []byte("weather,site=a temp=21.5,hum=40i 1700000000000000000\ncpu,host=h1 idle=98.2\n"),
		Received: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	// formatter is lineformat.Module() loaded by TestMain, as a gateway
	// loads it once at start.
	rs, err := formatter.Format(ctx, msg, &plugins.Route{Table: "metrics"})
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
	// weather 2023-11-14T22:13:20Z
	//   site string
	//   temp float64
	//   hum int64
	// cpu 2024-01-01T00:00:00Z
	//   host string
	//   idle float64
}
