package plugins_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lakegate/lakegate/arrowstore/rows"
	jsonformat "github.com/lakegate/lakegate/formatters/json"
	"github.com/lakegate/lakegate/plugins"
	"github.com/lakegate/lakegate/plugins/plugintest"
)

func Example() {
	ctx := context.Background()
	// One runtime per gateway; CacheDir keeps compiled modules across restarts.
	r, err := plugins.NewRuntime(ctx, plugins.RuntimeOptions{CacheDir: plugintest.CacheDir()})
	if err != nil {
		panic(err)
	}
	defer r.Close(ctx)

	// Load compiles the module, checks its ABI and starts one instance.
	f, err := r.Load(ctx, jsonformat.ID, jsonformat.Module(), plugins.Limits{CallTimeout: time.Second})
	if err != nil {
		panic(err)
	}
	route := &plugins.Route{Table: "sensors", Options: []plugins.Option{{Key: "time_format", Value: "ms"}}}

	msg := &rows.Message{Topic: "sensors/d1", Payload: []byte(`{"ts":1700000000000,"temp":21.5}`), Received: time.Now()}
	rs, err := f.Format(ctx, msg, route)
	fmt.Println(len(rs), rs[0].Table, rs[0].Columns[0].Name, rs[0].Columns[0].Value.Float, err)

	msg.Payload = []byte(`{"temp" 21.5}`)
	_, err = f.Format(ctx, msg, route)
	fmt.Println(errors.Is(err, rows.ErrMalformedPayload))
	fmt.Println(err)
	fmt.Println(f.Stats().Calls, f.Stats().Malformed())
	// Output:
	// 1 sensors temp 21.5 <nil>
	// true
	// formatter json: malformed payload: line 1 col 9: expected ':' after object key, found '2'
	// 2 1
}
