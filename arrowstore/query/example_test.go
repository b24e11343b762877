package query_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/lakegate/lakegate/arrowstore"
	"github.com/lakegate/lakegate/arrowstore/query"
	"github.com/lakegate/lakegate/arrowstore/rows"
)

// A query over records held in memory, written as Machbase Neo's JSON.
func ExampleEngine_Query() {
	mem := memory.DefaultAllocator
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
		{Name: "temp", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for i, temp := range []float64{21.5, 22, 22.25} {
		b.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(1_700_000_000_000 + int64(i)*1000))
		b.Field(1).(*array.Float64Builder).Append(temp)
	}
	rec := b.NewRecord()
	defer rec.Release()

	src := query.NewMemSource()
	defer src.Release()
	if err := src.Add("sensors", rec); err != nil {
		fmt.Println(err)
		return
	}
	e := query.NewEngine(src, query.Options{Allocator: mem})

	start := time.Now()
	res, err := e.Query(context.Background(),
		"SELECT ts, temp FROM sensors WHERE ts >= '2023-11-14T22:13:21Z' ORDER BY ts DESC LIMIT 5")
	if err != nil {
		_ = query.WriteJSONError(os.Stdout, err, time.Since(start))
		return
	}
	// A server passes time.Since(start); 0 keeps the output stable here.
	_ = query.WriteJSON(os.Stdout, res, 0, query.Format{Time: query.TimeMillis})

	_, err = e.Query(context.Background(), "SELECT temp FROM sensors UNION SELECT temp FROM sensors")
	_ = query.WriteJSONError(os.Stdout, err, 0)
	// Output:
	// {"success":true,"reason":"success","elapse":"0s","data":{"columns":["ts","temp"],"types":["timestamp","float64"],"rows":[[1700000002000,22.25],[1700000001000,22]]}}
	// {"success":false,"reason":"not supported yet: UNION","elapse":"0s"}
}

// Querying an arrowstore: rows still buffered and rows flushed to Parquet
// answer alike.
func ExampleStoreSource() {
	dir, err := os.MkdirTemp("", "lakegate-query-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	store, err := arrowstore.Open(ctx, arrowstore.Options{Dir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	t0 := time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC)
	write := func(d time.Duration, temp float64) {
		r := rows.Row{Table: "sensors", Time: t0.Add(d).UnixNano(), Columns: []rows.Column{{Name: "temp", Value: rows.Float(temp)}}}
		if _, err := store.Write(ctx, []rows.Row{r}, true); err != nil {
			fmt.Println(err)
		}
	}
	write(0, 21.5)
	write(time.Second, 22)
	if err := store.Flush(ctx); err != nil { // these two are now in Parquet
		fmt.Println(err)
		return
	}
	write(2*time.Second, 22.25) // this one is buffered

	e := query.NewEngine(query.StoreSource(store), query.Options{})
	res, err := e.Query(ctx, "SELECT * FROM sensors WHERE ts > '2023-11-14T22:13:20Z'")
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = query.WriteCSV(os.Stdout, res, query.Format{})
	// Output:
	// ts,temp
	// 2023-11-14T22:13:21.000Z,22
	// 2023-11-14T22:13:22.000Z,22.25
}
