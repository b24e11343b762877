//go:build wasip1

package main

import (
	sdk "github.com/lakegate/lakegate/sdk-plugin/go"
	"github.com/lakegate/lakegate/sdk-plugin/go/jsonscan"
)

var sc jsonscan.Scanner

func init() {
	sdk.Handle(func(in *sdk.Input, out *sdk.Output) error {
		sc.Reset(in.Payload)
		return sc.Skip()
	})
}
func main() {}
