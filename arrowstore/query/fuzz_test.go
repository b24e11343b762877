package query

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"
)

// FuzzQuery runs arbitrary SQL through parse, plan, bind and execution over
// the golden data set. A query must never panic, must fail only with one of
// the package's sentinel errors, must return a well-formed result that
// encodes to valid JSON, and must free all the memory it allocated.
//
// The seed corpus is every golden query plus testdata/fuzz/FuzzQuery.
func FuzzQuery(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "*", "query.sql"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	dataMem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	f.Cleanup(func() { dataMem.AssertSize(f, 0) })
	src := newMemSource(f, dataMem, testRows())
	queryMem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	e := NewEngine(src, Options{Allocator: queryMem, MaxRows: 8})
	f.Fuzz(func(t *testing.T, sql string) {
		res, err := e.Query(context.Background(), sql)
		if n := queryMem.CurrentAlloc(); n != 0 {
			t.Fatalf("%q: %d bytes still allocated after the query", sql, n)
		}
		if err != nil {
			for _, s := range []error{ErrSyntax, ErrUnsupported, ErrNoTable, ErrNoColumn, ErrTooManyRows} {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("%q: error %q wraps no sentinel", sql, err)
		}
		if len(res.Columns) != len(res.Types) || len(res.Rows) > 8 {
			t.Fatalf("%q: %d columns, %d types, %d rows", sql, len(res.Columns), len(res.Types), len(res.Rows))
		}
		for _, row := range res.Rows {
			if len(row) != len(res.Columns) {
				t.Fatalf("%q: row of %d values for %d columns", sql, len(row), len(res.Columns))
			}
		}
		var b bytes.Buffer
		if err := WriteJSON(&b, res, 0, Format{}); err != nil || !json.Valid(b.Bytes()) {
			t.Fatalf("%q: encoding: %v: %s", sql, err, b.Bytes())
		}
	})
}
