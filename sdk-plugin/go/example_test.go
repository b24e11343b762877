package sdk_test

import (
	"fmt"

	sdk "github.com/lakegate/lakegate/sdk-plugin/go"
	"github.com/lakegate/lakegate/sdk-plugin/go/sdktest"
)

// A plugin registers its handler from init (sdk.Handle) and is built with
// GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared. Natively, sdktest
// runs the same handler through the same encodings.
func Example() {
	handler := func(in *sdk.Input, out *sdk.Output) error {
		if len(in.Payload) == 0 {
			return sdk.Malformed("empty payload")
		}
		out.Row("") // the route's table, the receive time
		out.String("device", in.TopicLevel(1))
		out.Int("bytes", int64(len(in.Payload)))
		return nil
	}
	// In a plugin: func init() { sdk.Handle(handler) }

	rows, err := sdktest.Run(handler, sdktest.Message{Topic: "sensors/d1", Payload: []byte("hello")})
	fmt.Println(rows, err)
	_, err = sdktest.Run(handler, sdktest.Message{Topic: "sensors/d1"})
	fmt.Println(err)
	// Output:
	// [{ false 0 [{device 4 d1} {bytes 1 5}]}] <nil>
	// malformed: empty payload
}
