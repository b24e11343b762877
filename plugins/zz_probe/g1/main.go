//go:build wasip1

package main

import sdk "github.com/lakegate/lakegate/sdk-plugin/go"

func init() {
	sdk.Handle(func(in *sdk.Input, out *sdk.Output) error { return nil })
}
func main() {}
