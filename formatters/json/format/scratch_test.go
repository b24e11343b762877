package format

import (
	"fmt"
	"testing"

	"github.com/lakegate/lakegate/sdk-plugin/go/sdktest"
)

func TestScratch(t *testing.T) {
	var f Formatter
	rows, err := sdktest.Run(f.Handle, sdktest.Message{Payload: []byte(`[{"a":1},{"a":2},{"a":3},{"a":4}]`), Table: "t", MaxRows: 3, MaxOutputBytes: 4096})
	fmt.Printf("  => %+v %v\n", rows, err)
}
