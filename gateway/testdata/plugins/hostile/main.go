//go:build wasip1

// Command hostile is a test plugin for the gateway's hostile-plugin test:
// its payload says how to misbehave.
//
//	loop   never returns (cut at the call deadline: reason timeout)
//	alloc  allocates and touches 1 GiB (beyond the memory limit: reason oom)
//	trap   loads from an address far outside linear memory (reason trap)
//	other  stored as column v, like a well-behaved plugin
package main

import (
	"unsafe"

	sdk "github.com/lakegate/lakegate/sdk-plugin/go"
)

// sink keeps the allocation reachable, so the compiler cannot drop it.
var sink []byte

// spin is the endless loop; its counter is global so that the loop has a
// visible effect and is not optimised away.
var spin uint64

func init() {
	sdk.Handle(func(in *sdk.Input, out *sdk.Output) error {
		switch string(in.Payload) {
		case "loop":
			for {
				spin++
			}
		case "alloc":
			sink = make([]byte, 1<<30)
			for i := 0; i < len(sink); i += 4096 {
				sink[i] = 1
			}
		case "trap":
			// Not nil, so Go inserts no nil check: the load itself is
			// out of bounds and wasm traps.
			p := (*byte)(unsafe.Pointer(uintptr(0xfffffff0)))
			out.Int("v", int64(*p))
			return nil
		}
		out.Row("")
		out.String("v", string(in.Payload))
		return nil
	})
}

func main() {}
