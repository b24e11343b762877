//go:build wasip1

package main

import (
	sdk "github.com/lakegate/lakegate/sdk-plugin/go"
)

var buf []byte
var sink int

//go:noinline
func add(a, b int) int { return a + b }

func init() {
	sdk.Handle(func(in *sdk.Input, out *sdk.Output) error {
		switch in.Topic {
		case "arith":
			x := 0
			for i := 0; i < 1000; i++ {
				x += i * 3
			}
			sink = x
		case "call":
			x := 0
			for i := 0; i < 1000; i++ {
				x = add(x, i)
			}
			sink = x
		case "append":
			buf = buf[:0]
			for i := 0; i < 1000; i++ {
				buf = append(buf, byte(i))
			}
		case "null":
			out.Row("")
			for i := 0; i < 1000; i++ {
				out.Null("t")
			}
		case "a32":
			buf = buf[:0]
			for i := 0; i < 1000; i++ {
				buf = append(buf, byte(i), byte(i>>8), byte(i>>16), byte(i>>24))
			}
		case "astr":
			buf = buf[:0]
			for i := 0; i < 1000; i++ {
				buf = append(buf, "t"...)
			}
		case "float":
			out.Row("")
			for i := 0; i < 1000; i++ {
				out.Float("t", 1.5)
			}
		}
		return nil
	})
}
func main() {}
