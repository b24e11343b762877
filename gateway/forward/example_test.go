package forward_test

import (
	"context"
	"fmt"
	"os"

	"github.com/lakegate/lakegate/arrowstore/rows"
	"github.com/lakegate/lakegate/gateway/forward"
)

func ExampleParseTemplate() {
	// The route's topic is sites/{site}/{table}: {site} is level 1 (from 0).
	tmpl, err := forward.ParseTemplate("edge/{site}/{client}/{table}", map[string]int{"site": 1})
	if err != nil {
		panic(err)
	}
	fmt.Println(tmpl.Expand(forward.Vars{
		Table:  "temps",
		Topic:  "sites/berlin/temps",
		Client: "sensor+7",
		Levels: []string{"sites", "berlin", "temps"},
	}))
	// Output: edge/berlin/sensor_7/temps
}

func ExampleRowJSON() {
	r := rows.Row{Table: "temps", Time: 1700000000000000000, Columns: []rows.Column{
		{Name: "device", Value: rows.String("d1")},
		{Name: "temp", Value: rows.Float(21)},
	}}
	fmt.Println(string(forward.RowJSON(nil, r, "ts")))
	// Output: {"ts":"2023-11-14T22:13:20Z","device":"d1","temp":21.0}
}

// An outbox takes items durably, hands them out in order, and remembers
// what was delivered across a restart.
func ExampleOutbox() {
	dir, _ := os.MkdirTemp("", "outbox")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	box, _ := forward.Open(forward.Options{Dir: dir})
	wait, _ := box.Append(ctx, []forward.Item{
		{Topic: "edge/a", Payload: []byte("1"), QoS: 1},
		{Topic: "edge/a", Payload: []byte("2"), QoS: 1},
	})
	_ = wait() // on disk: now the publisher may be acknowledged
	e, _ := box.Next(ctx)
	box.Ack(e.Seq) // the upstream broker acknowledged it
	box.Close()

	box, _ = forward.Open(forward.Options{Dir: dir})
	defer box.Close()
	e, _ = box.Next(ctx)
	fmt.Println(e.Topic, string(e.Payload), box.Stats().Queued)
	// Output: edge/a 2 1
}
