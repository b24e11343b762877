package arrowstore_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/lakegate/lakegate/arrowstore"
	"github.com/lakegate/lakegate/arrowstore/rows"
)

func Example() {
	dir, err := os.MkdirTemp("", "lakegate-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	s, err := arrowstore.Open(ctx, arrowstore.Options{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	ts := time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC).UnixNano()
	res, err := s.Write(ctx, []rows.Row{
		{Table: "weather", Time: ts, Columns: []rows.Column{{Name: "temp", Value: rows.Float(21.5)}}},
		{Table: "weather", Time: ts + 1e9, Columns: []rows.Column{{Name: "temp", Value: rows.String("warm")}}},
	}, true) // durable: on disk when Write returns
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored", res.Stored, "rejected", len(res.Rejected))
	fmt.Println(res.Rejected[0].Err)

	if err := s.Flush(ctx); err != nil { // normally done by size or age
		log.Fatal(err)
	}
	snap, err := s.Snapshot("weather", arrowstore.AllTime())
	if err != nil {
		log.Fatal(err)
	}
	defer snap.Release()
	err = snap.Scan(ctx, []string{"ts", "temp"}, func(rec arrow.Record) error {
		fmt.Println(rec.NumRows(), "row(s):", rec.Column(0).ValueStr(0), rec.Column(1).ValueStr(0))
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// stored 1 rejected 1
	// schema conflict: table "weather" column "temp" is float64, value is string
	// 1 row(s): 2024-03-10 12:00:00Z 21.5
}
