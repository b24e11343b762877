//go:build wasip1

// Command kv is an example lakegate plugin: it reads payloads of
// space-separated key=value pairs ("temp=21.5 unit=C ts=1700000000000"),
// storing numbers as float64 and everything else as strings, with the
// device taken from the topic's second level. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o kv.wasm .
//
// This file is all a Go plugin needs: the SDK owns the ABI exports.
package main

import (
	"strconv"

	sdk "github.com/lakegate/lakegate/sdk-plugin/go"
)

func init() {
	sdk.Handle(handle)
	sdk.HandleCheck(check)
}

func main() {}

// check accepts one option, time_key (default "ts"): the key that holds the
// row's time in milliseconds.
func check(in *sdk.Input) error {
	for _, o := range in.Options {
		if o.Key != "time_key" {
			return sdk.Fail("unknown option " + strconv.Quote(o.Key))
		}
	}
	return nil
}

func handle(in *sdk.Input, out *sdk.Output) error {
	timeKey, ok := in.Option("time_key")
	if !ok {
		timeKey = "ts"
	}
	out.Row("")
	out.String("device", in.TopicLevel(1))
	p := in.Payload
	for i := 0; i < len(p); {
		for i < len(p) && p[i] == ' ' {
			i++
		}
		start := i
		for i < len(p) && p[i] != ' ' {
			i++
		}
		if start == i {
			break
		}
		pair := string(p[start:i]) // one small copy per pair; strconv needs a string
		eq := -1
		for j := 0; j < len(pair); j++ {
			if pair[j] == '=' {
				eq = j
				break
			}
		}
		if eq <= 0 {
			return sdk.Malformed("byte " + strconv.Itoa(start) + ": expected key=value, found " + strconv.Quote(pair))
		}
		key, val := pair[:eq], pair[eq+1:]
		if key == timeKey {
			ms, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				return sdk.Malformed("byte " + strconv.Itoa(start) + ": " + key + " is not a number of milliseconds")
			}
			out.Time(ms * 1e6)
			continue
		}
		if f, err := strconv.ParseFloat(val, 64); err == nil {
			out.Float(key, f)
		} else {
			out.String(key, val)
		}
	}
	return nil
}
