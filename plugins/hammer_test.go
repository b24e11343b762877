package plugins_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lakegate/lakegate/arrowstore/rows"
	jsonformat "github.com/lakegate/lakegate/formatters/json"
	"github.com/lakegate/lakegate/plugins"
)

// TestHammer runs many goroutines through a small pool, mixing good,
// malformed and (on a second formatter) trapping messages, and checks every
// answer and the counters.
func TestHammer(t *testing.T) {
	ctx := context.Background()
	jf := load(t, jsonformat.Module(), plugins.Limits{Instances: 3})
	hf := load(t, hostileModule(hostile{version: 1}), plugins.Limits{Instances: 2})
	const workers, perWorker = 8, 60
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				if err := hammerOne(ctx, jf, hf, w, i); err != nil {
					errc <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	js := jf.Stats()
	if js.Calls != workers*perWorker || js.Malformed() != workers*perWorker/3 || js.Failed() != 0 || js.InstancesStarted > 3 {
		t.Fatalf("json stats %+v", js)
	}
	hs := hf.Stats()
	if hs.Failures[plugins.ReasonTrap] != workers*perWorker/4 || hs.InstancesDiscarded != hs.Failures[plugins.ReasonTrap] {
		t.Fatalf("hostile stats %+v", hs)
	}
}

func hammerOne(ctx context.Context, jf, hf *plugins.Formatter, w, i int) error {
	n := strconv.Itoa(w*1000 + i)
	m := &rows.Message{Topic: "t/" + n, Received: time.Unix(int64(i), 0)}
	r := &plugins.Route{Table: "t" + strconv.Itoa(w)}
	if i%3 == 0 {
		m.Payload = []byte(`{"n":` + n + `,}`)
		_, err := jf.Format(ctx, m, r)
		if !errors.Is(err, rows.ErrMalformedPayload) {
			return errors.New("malformed payload gave " + errString(err))
		}
	} else {
		m.Payload = []byte(`[{"n":` + n + `,"s":"x` + n + `"},{"n":1}]`)
		rs, err := jf.Format(ctx, m, r)
		if err != nil {
			return err
		}
		if len(rs) != 2 || rs[0].Table != r.Table || rs[0].Time != int64(i)*1e9 ||
			rs[0].Columns[0].Value.Float != float64(w*1000+i) || rs[0].Columns[1].Value.Str != "x"+n {
			return errors.New("wrong rows for " + string(m.Payload))
		}
	}
	if i%4 == 0 {
		m.Payload = []byte("T")
		if _, err := hf.Format(ctx, m, r); !errors.Is(err, rows.ErrPluginFailed) {
			return errors.New("trap gave " + errString(err))
		}
	} else {
		m.Payload = []byte("ok")
		if _, err := hf.Format(ctx, m, r); err != nil {
			return err
		}
	}
	return nil
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}
