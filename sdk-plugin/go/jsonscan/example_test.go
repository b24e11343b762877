package jsonscan_test

import (
	"fmt"

	"github.com/lakegate/lakegate/sdk-plugin/go/jsonscan"
)

func ExampleScanner() {
	var s jsonscan.Scanner
	s.Reset([]byte(`{"device":"d1","temp":21.5,"seq":1705291859000000001,"tags":["a"]}`))
	if err := s.BeginObject(); err != nil {
		panic(err)
	}
	for {
		key, ok, err := s.NextKey()
		if err != nil {
			panic(err)
		}
		if !ok {
			break
		}
		switch s.Peek() {
		case jsonscan.KindString:
			v, _ := s.String()
			fmt.Printf("%s = %q\n", key, v)
		case jsonscan.KindNumber:
			n, _ := s.Number()
			if i, exact := n.Int(); exact {
				fmt.Printf("%s = %d (exact int64)\n", key, i)
			} else {
				f, _ := n.Float()
				fmt.Printf("%s = %g\n", key, f)
			}
		default:
			raw, _ := s.Raw()
			fmt.Printf("%s = %s (raw)\n", key, raw)
		}
	}
	// Output:
	// device = "d1"
	// temp = 21.5
	// seq = 1705291859000000001 (exact int64)
	// tags = ["a"] (raw)
}

func ExampleScanner_errors() {
	var s jsonscan.Scanner
	s.Reset([]byte("{\n  \"a\" 1\n}"))
	_ = s.BeginObject()
	_, _, err := s.NextKey()
	fmt.Println(err)
	// Output:
	// line 2 col 7: expected ':' after object key, found '1'
}
