//go:build wasip1

package main

import (
	sdk "github.com/lakegate/lakegate/sdk-plugin/go"
)

func init() {
	sdk.Handle(func(in *sdk.Input, out *sdk.Output) error {
		out.Row("")
		for i := 0; i < 7; i++ {
			out.Float("temperature", 1.5)
		}
		return nil
	})
}
func main() {}
