package jsonformat_test

import (
	"context"
	"fmt"
	"time"

	"github.com/lakegate/lakegate/arrowstore/rows"
	jsonformat "github.com/lakegate/lakegate/formatters/json"
	"github.com/lakegate/lakegate/plugins"
	"github.com/lakegate/lakegate/plugins/plugintest"
)

func Example() {
	ctx := context.Background()
	// A gateway makes one runtime, with its configured cache directory.
	r, err := plugins.NewRuntime(ctx, plugins.RuntimeOptions{CacheDir: plugintest.CacheDir()})
	if err != nil {
		panic(err)
	}
	defer r.Close(ctx)
	f, err := r.Load(ctx, jsonformat.ID, jsonformat.Module(), plugins.Limits{Instances: 1})
	if err != nil {
		panic(err)
	}
	msg := &rows.Message{
		Topic:    "sensors/d1/data",
		Payload:  []byte(`{"ts":1700000000000,"device":"d1","temp":21.5,"loc":{"room":"lab"}}`),
		Received: time.Now(),
	}
	rs, err := f.Format(ctx, msg, &plugins.Route{Table: "sensors"})
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
	// sensors 2023-11-14T22:13:20Z
	//   device string
	//   temp float64
	//   loc.room string
}
