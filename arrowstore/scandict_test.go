package arrowstore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
)

// TestScanParallelDirectDictionary checks directDictColumn against pqarrow:
// Parquet files (data pages v1 and v2) whose string column has NULLs, empty
// strings, a few repeated values and bursts of long distinct ones that
// overflow the (small) dictionary page limit into PLAIN pages, over several
// row groups of many pages, read by ScanParallel as dictionaries on 1 to 3
// workers (batches spanning row groups, and tasks of a few), must give for
// every row the string pqarrow reads.
func TestScanParallelDirectDictionary(t *testing.T) {
	for _, v := range []parquet.DataPageVersion{parquet.DataPageV1, parquet.DataPageV2} {
		t.Run(fmt.Sprint("v", int(v)+1), func(t *testing.T) {
			mem := newChecked(t)
			const n = 23_000
			sc := arrow.NewSchema([]arrow.Field{
				{Name: "ts", Type: timestampType},
				{Name: "d", Type: arrow.BinaryTypes.String, Nullable: true},
				{Name: "i", Type: arrow.PrimitiveTypes.Int64},
			}, nil)
			value := func(i int) (string, bool) {
				switch {
				case i%7 == 0:
					return "", false
				case i%11 == 0:
					return "", true
				case (i/1500)%3 == 1: // distinct and long: the dictionary overflows
					return fmt.Sprintf("long-%06d-%s", i, strings.Repeat("x", 60+i%50)), true
				}
				return fmt.Sprintf("dev-%02d", i%40), true
			}
			b := array.NewRecordBuilder(mem, sc)
			for i := range n {
				b.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(at(time.Duration(i)*time.Second) / 1e6))
				if s, ok := value(i); ok {
					b.Field(1).(*array.StringBuilder).Append(s)
				} else {
					b.Field(1).AppendNull()
				}
				b.Field(2).(*array.Int64Builder).Append(int64(i))
			}
			rec := b.NewRecord()
			b.Release()
			path := filepath.Join(t.TempDir(), "d.parquet")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			props := parquet.NewWriterProperties(
				parquet.WithAllocator(mem),
				parquet.WithCompression(compress.Codecs.Zstd),
				parquet.WithDictionaryDefault(true),
				parquet.WithDictionaryPageSizeLimit(2048),
				parquet.WithDataPageSize(512),
				parquet.WithBatchSize(100),
				parquet.WithDataPageVersion(v),
				parquet.WithMaxRowGroupLength(5000),
				parquet.WithStats(true),
				parquet.WithRootRepetition(parquet.Repetitions.Required),
			)
			w, err := pqarrow.NewFileWriter(sc, f, props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem), pqarrow.WithStoreSchema()))
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(rec); err != nil {
				t.Fatal(err)
			}
			rec.Release()
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}

			// What pqarrow reads, as plain strings; and what the pages are.
			// (Not with mem: pqarrow v17 leaves the last v2 page of each
			// column chunk unreleased.)
			want := map[int64]string{}
			rdr, err := file.OpenParquetFile(path, false, file.WithReadProps(parquet.NewReaderProperties(memory.DefaultAllocator)))
			if err != nil {
				t.Fatal(err)
			}
			if rdr.NumRowGroups() < 4 {
				t.Fatalf("%d row groups, want several", rdr.NumRowGroups())
			}
			mixed := 0 // row groups with dictionary and PLAIN data pages, several of each
			for g := range rdr.NumRowGroups() {
				pr, err := rdr.RowGroup(g).GetColumnPageReader(1)
				if err != nil {
					t.Fatal(err)
				}
				dictPages, plainPages := 0, 0
				for pr.Next() {
					switch p := pr.Page().(type) {
					case *file.DataPageV1, *file.DataPageV2:
						if parquet.Encoding(p.Encoding()) == parquet.Encodings.Plain {
							plainPages++
						} else {
							dictPages++
						}
					}
				}
				if err := pr.Err(); err != nil {
					t.Fatal(err)
				}
				t.Logf("row group %d: %d dictionary and %d PLAIN data pages", g, dictPages, plainPages)
				if dictPages > 1 && plainPages > 1 {
					mixed++
				}
			}
			if mixed < 2 {
				t.Fatalf("%d row groups with several dictionary and PLAIN pages, want 2 or more", mixed)
			}
			fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
			if err != nil {
				t.Fatal(err)
			}
			tbl, err := fr.ReadTable(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			tr := array.NewTableReader(tbl, 4096)
			for tr.Next() {
				r := tr.Record()
				ds := r.Column(1).(*array.String)
				for k, i := range r.Column(2).(*array.Int64).Int64Values() {
					if ds.IsNull(k) {
						want[i] = "NULL"
					} else {
						want[i] = "=" + ds.Value(k)
					}
				}
			}
			tr.Release()
			tbl.Release()
			rdr.Close()
			if len(want) != n {
				t.Fatalf("pqarrow read %d rows, want %d", len(want), n)
			}
			for i := range n {
				if s, ok := value(i); ok && want[int64(i)] != "="+s || !ok && want[int64(i)] != "NULL" {
					t.Fatalf("row %d: pqarrow read %q", i, want[int64(i)])
				}
			}

			sn := &Snapshot{Schema: sc, table: "t", tr: AllTime(), mem: mem, files: []*dataFile{{path: path}}}
			for workers := 1; workers <= 3; workers++ {
				var mu sync.Mutex
				got := map[int64]string{}
				err := sn.ScanParallel(context.Background(), []string{"ts", "d", "i"}, []string{"d"}, workers, func(_, _ int, rec arrow.Record) error {
					d, ok := rec.Column(1).(*array.Dictionary)
					if !ok {
						return fmt.Errorf("column d is %s, want a dictionary", rec.Column(1).DataType())
					}
					dict := d.Dictionary().(*array.String)
					mu.Lock()
					defer mu.Unlock()
					for k, i := range rec.Column(2).(*array.Int64).Int64Values() {
						if _, dup := got[i]; dup {
							return fmt.Errorf("row %d twice", i)
						}
						if d.IsNull(k) {
							got[i] = "NULL"
							continue
						}
						if x := d.GetValueIndex(k); x < 0 || x >= dict.Len() {
							return fmt.Errorf("row %d: index %d, dictionary of %d", i, x, dict.Len())
						}
						got[i] = "=" + dict.Value(d.GetValueIndex(k))
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != n {
					t.Fatalf("%d workers: %d rows, want %d", workers, len(got), n)
				}
				for i, w := range want {
					if got[i] != w {
						t.Fatalf("%d workers: row %d is %q, pqarrow read %q", workers, i, got[i], w)
					}
				}
			}

			// The column went through directDictColumn, not pqarrow.
			cur := openReader{pool: bufPool{mem: mem}}
			_, groups, err := sn.fileRowGroups(sn.files[0])
			if err != nil {
				t.Fatal(err)
			}
			out, _ := sn.project([]string{"ts", "d", "i"})
			if err := sn.scanRowGroups(context.Background(), &cur, scanTask{file: sn.files[0], groups: groups}, out, map[string]bool{"d": true}, func(arrow.Record) error { return nil }); err != nil {
				t.Fatal(err)
			}
			if len(cur.dicts) != 1 || len(cur.pq) != 0 {
				t.Errorf("%d columns by directDictColumn, %d through pqarrow; want 1 and 0", len(cur.dicts), len(cur.pq))
			}
			cur.close()
			cur.pool.close()
		})
	}
}

// lookup is the index of v by dictState.indices.
func (st *dictState) lookup(v []byte) int32 {
	idx := make([]int32, 1)
	st.indices([]parquet.ByteArray{v}, idx)
	return idx[0]
}

// TestDictStateLookup checks that the pointer cache never answers from the
// address alone: a buffer reused for other bytes (as a page buffer can be)
// must give those bytes' index.
func TestDictStateLookup(t *testing.T) {
	var st dictState
	st.reset()
	buf := []byte("alpha-beta")
	a := st.lookup(buf[:5])
	if again := st.lookup(buf[:5]); again != a {
		t.Fatalf("same value: index %d, then %d", a, again)
	}
	copy(buf, "gamma")
	g := st.lookup(buf[:5])
	if g == a {
		t.Fatalf("other bytes at the same address got the same index %d", g)
	}
	if e := st.lookup(buf[:0]); e == a || e == g {
		t.Fatalf("empty value got index %d (alpha %d, gamma %d)", e, a, g)
	}
	other := []byte("alpha")
	if x := st.lookup(other); x != a {
		t.Fatalf("alpha at another address: index %d, want %d", x, a)
	}
	copy(buf, "alpha")
	if x := st.lookup(buf[:5]); x != a {
		t.Fatalf("alpha back at the first address: index %d, want %d", x, a)
	}
	// Other bytes of each length (the cache compares words, and the
	// middle of values longer than 16 bytes): one byte changed at a time
	// must give a new value.
	want := []string{"alpha", "gamma", ""}
	for n := 1; n <= 40; n++ {
		long := []byte(strings.Repeat("abcdefghij", 4)[:n])
		first := st.lookup(long)
		want = append(want, string(long))
		for k := range n {
			long[k] ^= 0x20
			if x := st.lookup(long); x == first || int(x) != len(want) {
				t.Fatalf("%q (byte %d changed) at the address of %q: index %d, want a new one (%d)", long, k, want[first], x, len(want))
			}
			want = append(want, string(long))
			if x := st.lookup(long); int(x) != len(want)-1 {
				t.Fatalf("%q again: index %d, want %d", long, x, len(want)-1)
			}
			long[k] ^= 0x20
			if x := st.lookup(long); x != first {
				t.Fatalf("%q back: index %d, want %d", long, x, first)
			}
		}
	}
	d := array.MakeFromData(st.dictionary())
	defer d.Release()
	if s := d.(*array.String); s.Len() != len(want) {
		t.Fatalf("dictionary of %d values, want %v", s.Len(), want)
	} else {
		for i, w := range want {
			if s.Value(i) != w {
				t.Fatalf("dictionary value %d is %q, want %q", i, s.Value(i), w)
			}
		}
	}
	st.reset()
}
