package binaryformat_test

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
		Topic:    "frames/d1",
		Payload:  []byte{0xA5, 0x5A, 0x00, 0x00, 0x00, 0x2A, 0x08, 0x66, 0x01, 0xA9, 0x00, 0x00, 0x65, 0x53, 0xF1, 0x00},
		Received: time.Now(),
	}
	route := &plugins.Route{Table: "frames", Options: []plugins.Option{
		{Key: "endian", Value: "big"},
		{Key: "fields", Value: "magic:u16=0xA55A,device:u32,temp:i16*0.01,hum:u16*0.1,pad[2],ts:u32:time_s"},
	}}
	// formatter is binaryformat.Module() loaded by TestMain, as a gateway
	// loads it once at start.
	rs, err := formatter.Format(ctx, msg, route)
	if err != nil {
		panic(err)
	}
	for _, row := range rs {
		fmt.Println(row.Table, time.Unix(0, row.Time).UTC().Format(time.RFC3339))
		for _, c := range row.Columns {
			fmt.Printf("  %s %s %v\n", c.Name, c.Value.Kind, c.Value.Float+float64(c.Value.Int))
		}
	}
	// Output:
	// frames 2023-11-14T22:13:20Z
	//   device int64 42
	//   temp float64 21.5
	//   hum float64 42.5
}
