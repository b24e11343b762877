//go:build wasip1

// Command trap is a test plugin for the gateway's dead letters: it stores
// the payload as column v, except that a payload of "boom" makes it panic,
// which ends the guest like a trap.
package main

import (
	sdk "github.com/lakegate/lakegate/sdk-plugin/go"
)

func init() {
	sdk.Handle(func(in *sdk.Input, out *sdk.Output) error {
		if string(in.Payload) == "boom" {
			panic("boom")
		}
		out.Row("")
		out.String("v", string(in.Payload))
		return nil
	})
}

func main() {}
