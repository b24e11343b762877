package arrowstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
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

// pagesSchema is the schema of the files the page decoding tests write:
// every type a direct column reads, with and without nulls.
var pagesSchema = arrow.NewSchema([]arrow.Field{
	{Name: "ts", Type: timestampType},
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
	{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "tus", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "s2", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

// writePagesFile writes n rows of pagesSchema to path with props: values
// few and repeated (dictionary pages) then, in bursts, many and distinct
// (the dictionary overflows to PLAIN, or to the column's encoding), nulls
// in some columns (in runs too: pages of nulls only) and none in others.
func writePagesFile(t *testing.T, path string, n int, props *parquet.WriterProperties) {
	t.Helper()
	mem := memory.NewGoAllocator()
	b := array.NewRecordBuilder(mem, pagesSchema)
	defer b.Release()
	for i := range n {
		burst := (i/1700)%3 == 1 // distinct values
		b.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(at(time.Duration(i)*time.Second) / 1e6))
		b.Field(1).(*array.Int64Builder).Append(int64(i))
		if i%7 == 3 {
			b.Field(2).AppendNull()
		} else if burst {
			b.Field(2).(*array.Int32Builder).Append(int32(i*2654435761) ^ int32(i))
		} else {
			b.Field(2).(*array.Int32Builder).Append(int32(i%13 - 6))
		}
		b.Field(3).(*array.Float32Builder).Append(float32(i) * 1.25) // no nulls
		switch {
		case (i/900)%4 == 2: // runs of nulls
			b.Field(4).AppendNull()
		case i%11 == 0:
			b.Field(4).(*array.Float64Builder).Append(math.Inf(-1 + 2*(i%2)))
		case burst:
			b.Field(4).(*array.Float64Builder).Append(float64(i) / 3)
		default:
			b.Field(4).(*array.Float64Builder).Append(float64(i%17) - 8.5)
		}
		if i%5 == 1 {
			b.Field(5).AppendNull()
		} else {
			b.Field(5).(*array.TimestampBuilder).Append(arrow.Timestamp(int64(i)*1_000_003 - 7))
		}
		switch {
		case i%9 == 4:
			b.Field(6).AppendNull()
		case i%13 == 0:
			b.Field(6).(*array.StringBuilder).Append("")
		case burst:
			b.Field(6).(*array.StringBuilder).Append(fmt.Sprintf("long-%06d-%s", i, strings.Repeat("y", i%40)))
		default:
			b.Field(6).(*array.StringBuilder).Append(fmt.Sprintf("dev-%02d", i%40))
		}
		switch {
		case i%6 == 5:
			b.Field(7).AppendNull()
		case burst:
			b.Field(7).(*array.StringBuilder).Append(fmt.Sprintf("other-%d", i))
		default:
			b.Field(7).(*array.StringBuilder).Append(fmt.Sprintf("s2-%d", i%9))
		}
	}
	rec := b.NewRecord()
	defer rec.Release()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(pagesSchema, f, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// cellString is a cell of a column as text, "NULL" for a null; a
// dictionary is looked through.
func cellString(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return "NULL"
	}
	if d, ok := a.(*array.Dictionary); ok {
		return "=" + d.Dictionary().(*array.String).Value(d.GetValueIndex(i))
	}
	if f, ok := a.(*array.Float64); ok {
		return fmt.Sprintf("=%x", math.Float64bits(f.Value(i)))
	}
	return "=" + a.ValueStr(i)
}

// TestDirectPagesMatchPqarrow checks the direct columns' own page decoding
// against pqarrow's plain read, cell by cell: files with data pages v1 and
// v2, zstd, snappy or no compression, dictionary pages that overflow to
// PLAIN (a small dictionary page limit), DELTA_BINARY_PACKED and
// DELTA_LENGTH_BYTE_ARRAY columns (read by parquet's reader instead),
// nulls (and pages of nulls only) and columns without, several row groups
// of many pages, read by ScanParallel on 1 to 3 workers, and on 4 with
// PLAIN pages left to parquet's reader too (from the middle of a chunk).
func TestDirectPagesMatchPqarrow(t *testing.T) {
	for _, v := range []parquet.DataPageVersion{parquet.DataPageV1, parquet.DataPageV2} {
		for _, codec := range []compress.Compression{compress.Codecs.Zstd, compress.Codecs.Snappy, compress.Codecs.Uncompressed} {
			t.Run(fmt.Sprintf("v%d/%s", int(v)+1, codec), func(t *testing.T) {
				mem := newChecked(t)
				const n = 21_000
				path := filepath.Join(t.TempDir(), "p.parquet")
				writePagesFile(t, path, n, parquet.NewWriterProperties(
					parquet.WithCompression(codec),
					parquet.WithDictionaryDefault(true),
					parquet.WithDictionaryFor("tus", false),
					parquet.WithEncodingFor("tus", parquet.Encodings.DeltaBinaryPacked),
					parquet.WithDictionaryFor("s2", false),
					parquet.WithEncodingFor("s2", parquet.Encodings.DeltaLengthByteArray),
					parquet.WithDictionaryPageSizeLimit(1024),
					parquet.WithDataPageSize(700),
					parquet.WithBatchSize(64),
					parquet.WithDataPageVersion(v),
					parquet.WithMaxRowGroupLength(1300), // tasks of several row groups, whose dictionaries differ
					parquet.WithRootRepetition(parquet.Repetitions.Required),
				))
				cols := []string{"ts", "id", "i32", "f32", "f64", "tus", "s", "s2"}

				// pqarrow's read, by row id.
				want := map[int64][]string{}
				rdr, err := file.OpenParquetFile(path, false)
				if err != nil {
					t.Fatal(err)
				}
				if rdr.NumRowGroups() < 4 {
					t.Fatalf("%d row groups, want several", rdr.NumRowGroups())
				}
				encs := map[string]map[parquet.Encoding]int{} // data pages by column and encoding
				for g := range rdr.NumRowGroups() {
					for c := range len(cols) {
						pr, err := rdr.RowGroup(g).GetColumnPageReader(c)
						if err != nil {
							t.Fatal(err)
						}
						for pr.Next() {
							if _, ok := pr.Page().(*file.DictionaryPage); !ok {
								if encs[cols[c]] == nil {
									encs[cols[c]] = map[parquet.Encoding]int{}
								}
								encs[cols[c]][parquet.Encoding(pr.Page().Encoding())]++
							}
						}
						if err := pr.Err(); err != nil {
							t.Fatal(err)
						}
					}
				}
				for _, c := range []string{"id", "i32", "f64", "s"} {
					if encs[c][parquet.Encodings.RLEDict] < 3 || encs[c][parquet.Encodings.Plain] < 3 {
						t.Fatalf("column %s: data pages by encoding %v, want dictionary and PLAIN ones", c, encs[c])
					}
				}
				if encs["tus"][parquet.Encodings.DeltaBinaryPacked] == 0 || encs["s2"][parquet.Encodings.DeltaLengthByteArray] == 0 {
					t.Fatalf("data pages by encoding: tus %v, s2 %v", encs["tus"], encs["s2"])
				}
				fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
				if err != nil {
					t.Fatal(err)
				}
				tbl, err := fr.ReadTable(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				tr := array.NewTableReader(tbl, 5000)
				for tr.Next() {
					r := tr.Record()
					for k, id := range r.Column(1).(*array.Int64).Int64Values() {
						row := make([]string, len(cols))
						for c := range cols {
							row[c] = cellString(r.Column(c), k)
						}
						want[id] = row
					}
				}
				tr.Release()
				tbl.Release()
				rdr.Close()
				if len(want) != n {
					t.Fatalf("pqarrow read %d rows, want %d", len(want), n)
				}

				// The columns decoded here, on a checked allocator; every
				// column (DELTA ones through parquet's reader, whose
				// decoders keep allocator memory: not checked).
				sn := &Snapshot{Schema: pagesSchema, table: "t", tr: AllTime(), mem: mem, files: []*dataFile{{path: path}}}
				snAll := &Snapshot{Schema: pagesSchema, table: "t", tr: AllTime(), mem: memory.DefaultAllocator, files: []*dataFile{{path: path}}}
				own := []string{"ts", "id", "i32", "f32", "f64", "s"}
				fallbacks := func() int64 { return sn.pageFallbacks.Load() + snAll.pageFallbacks.Load() }
				before := fallbacks()
				for round := range 7 {
					// Rounds 3 to 5 read every column; in round 6, PLAIN
					// pages are left to parquet's reader too: chunks move to
					// it after their dictionary pages, skipping the rows
					// read.
					workers := round%3 + 1
					scan, names := sn, own
					if round >= 3 {
						scan, names = snAll, cols
					}
					scan.plainFallback = round == 6
					var mu sync.Mutex
					got := map[int64][]string{}
					err := scan.ScanParallel(context.Background(), names, []string{"s", "s2"}, workers, func(_, _ int, rec arrow.Record) error {
						for c, name := range names {
							if rec.Schema().Field(c).Name != name {
								return fmt.Errorf("field %d is %s, want %s", c, rec.Schema().Field(c).Name, name)
							}
						}
						if _, ok := rec.Column(5).(*array.Dictionary); !ok && names[5] == "s" {
							return fmt.Errorf("column s is %s, want a dictionary", rec.Column(5).DataType())
						}
						mu.Lock()
						defer mu.Unlock()
						for k, id := range rec.Column(1).(*array.Int64).Int64Values() {
							if _, dup := got[id]; dup {
								return fmt.Errorf("row %d twice", id)
							}
							row := make([]string, len(names))
							for c := range names {
								row[c] = cellString(rec.Column(c), k)
							}
							got[id] = row
						}
						return nil
					})
					if err != nil {
						t.Fatal(err)
					}
					if len(got) != n {
						t.Fatalf("round %d: %d rows, want %d", round, len(got), n)
					}
					for id, w := range want {
						for c, name := range names {
							if wc := w[slices.Index(cols, name)]; got[id][c] != wc {
								t.Fatalf("round %d: row %d, column %s: %q, pqarrow read %q", round, id, name, got[id][c], wc)
							}
						}
					}
				}
				if fallbacks() == before {
					t.Errorf("no chunk fell back to parquet's reader (DELTA pages)")
				}

				// Every column goes through directColumn or
				// directDictColumn.
				cur := openReader{pool: bufPool{mem: memory.DefaultAllocator}}
				_, groups, err := snAll.fileRowGroups(snAll.files[0])
				if err != nil {
					t.Fatal(err)
				}
				out, _ := snAll.project(cols)
				if err := snAll.scanRowGroups(context.Background(), &cur, scanTask{file: snAll.files[0], groups: groups}, out, map[string]bool{"s": true, "s2": true}, func(arrow.Record) error { return nil }); err != nil {
					t.Fatal(err)
				}
				if len(cur.direct) != 6 || len(cur.dicts) != 2 || len(cur.pq) != 0 {
					t.Errorf("%d direct columns, %d dictionary ones, %d through pqarrow; want 6, 2, 0", len(cur.direct), len(cur.dicts), len(cur.pq))
				}
				cur.close()
				cur.pool.close()
			})
		}
	}
}

// TestScanParallelWithoutTimeColumn checks that a scan not asking for the
// time column (which ScanParallel then does not read) gives every row, and
// that columns a file lacks come as nulls.
func TestScanParallelWithoutTimeColumn(t *testing.T) {
	mem := newChecked(t)
	const n = 9_000
	path := filepath.Join(t.TempDir(), "p.parquet")
	writePagesFile(t, path, n, parquet.NewWriterProperties(
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithMaxRowGroupLength(2000),
		parquet.WithRootRepetition(parquet.Repetitions.Required),
	))
	sc := arrow.NewSchema(append(pagesSchema.Fields(), arrow.Field{Name: "later", Type: arrow.PrimitiveTypes.Float64, Nullable: true}), nil)
	sn := &Snapshot{Schema: sc, table: "t", tr: AllTime(), mem: mem, files: []*dataFile{{path: path}}}
	for _, cols := range [][]string{{"id"}, {"f64", "id", "s"}, {"later"}, {"later", "id"}} {
		var mu sync.Mutex
		rows, sum := 0, int64(0)
		err := sn.ScanParallel(context.Background(), cols, []string{"s"}, 2, func(_, _ int, rec arrow.Record) error {
			if int(rec.NumCols()) != len(cols) {
				return fmt.Errorf("%d columns, want %d", rec.NumCols(), len(cols))
			}
			mu.Lock()
			defer mu.Unlock()
			rows += int(rec.NumRows())
			for c, name := range cols {
				switch name {
				case "id":
					for _, v := range rec.Column(c).(*array.Int64).Int64Values() {
						sum += v
					}
				case "later":
					if rec.Column(c).NullN() != int(rec.NumRows()) {
						return fmt.Errorf("column later: %d nulls of %d", rec.Column(c).NullN(), rec.NumRows())
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%v: %v", cols, err)
		}
		if rows != n {
			t.Fatalf("%v: %d rows, want %d", cols, rows, n)
		}
		if cols[len(cols)-1] == "id" && sum != n*(n-1)/2 {
			t.Fatalf("%v: ids add up to %d, want %d", cols, sum, n*(n-1)/2)
		}
	}
}

// pageAt is a data page of a file: where its header and data start, and
// the header.
type pageAt struct {
	header, data int
	h            pageHeader
}

// filePages lists the pages of column leaf in row group g of the file
// whose bytes are data.
func filePages(t *testing.T, path string, data []byte, g, leaf int) []pageAt {
	t.Helper()
	rdr, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Close()
	cc, err := rdr.MetaData().RowGroup(g).ColumnChunk(leaf)
	if err != nil {
		t.Fatal(err)
	}
	start := cc.DataPageOffset()
	if cc.HasDictionaryPage() && cc.DictionaryPageOffset() > 0 {
		start = min(start, cc.DictionaryPageOffset())
	}
	end := int(start + cc.TotalCompressedSize())
	var out []pageAt
	for pos := int(start); pos < end; {
		var h pageHeader
		k, err := h.parse(data[pos:end])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pageAt{pos, pos + k, h})
		pos += k + int(h.compressed)
	}
	return out
}

// TestDamagedPagesAreErrors damages the bytes of an uncompressed file's
// pages (the definition levels' length and runs, a dictionary page's
// values, the bit width and the indices of a dictionary-encoded page, a
// PLAIN page's values, a page header) in many ways: ScanParallel must fail
// with ErrDamagedFile, and never panic.
func TestDamagedPagesAreErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.parquet")
	const n = 6000
	writePagesFile(t, path, n, parquet.NewWriterProperties(
		parquet.WithCompression(compress.Codecs.Uncompressed),
		parquet.WithDictionaryDefault(true),
		parquet.WithMaxRowGroupLength(3000),
		parquet.WithDataPageSize(4096),
		parquet.WithDictionaryPageSizeLimit(1024),
		parquet.WithRootRepetition(parquet.Repetitions.Required),
	))
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type damage struct {
		name string
		leaf int
		fn   func(b []byte, pages []pageAt) bool // damages b; false: not applicable
	}
	firstData := func(pages []pageAt, enc parquet.Encoding) *pageAt {
		for i := range pages {
			if pages[i].h.typ == pageData && parquet.Encoding(pages[i].h.encoding) == enc {
				return &pages[i]
			}
		}
		return nil
	}
	var damages []damage
	for _, leaf := range []int{2, 4, 6} { // i32, f64, s: nullable, dictionary-encoded
		damages = append(damages,
			damage{"levels length", leaf, func(b []byte, pages []pageAt) bool {
				p := firstData(pages, parquet.Encodings.RLEDict)
				binary.LittleEndian.PutUint32(b[p.data:], uint32(p.h.compressed))
				return true
			}},
			damage{"levels cut short", leaf, func(b []byte, pages []pageAt) bool {
				p := firstData(pages, parquet.Encodings.RLEDict)
				binary.LittleEndian.PutUint32(b[p.data:], 1)
				return true
			}},
			damage{"level runs", leaf, func(b []byte, pages []pageAt) bool {
				p := firstData(pages, parquet.Encodings.RLEDict)
				n := int(binary.LittleEndian.Uint32(b[p.data:]))
				// An RLE run of one level, then empty runs to the end.
				clear(b[p.data+4 : p.data+4+n])
				b[p.data+4], b[p.data+5] = 0x02, 1
				return true
			}},
			damage{"level value", leaf, func(b []byte, pages []pageAt) bool {
				p := firstData(pages, parquet.Encodings.RLEDict)
				b[p.data+4], b[p.data+5] = 0x02, 2 // a level above maxDef
				return true
			}},
			damage{"bit width", leaf, func(b []byte, pages []pageAt) bool {
				p := firstData(pages, parquet.Encodings.RLEDict)
				n := int(binary.LittleEndian.Uint32(b[p.data:]))
				b[p.data+4+n] = 33
				return true
			}},
			damage{"indices", leaf, func(b []byte, pages []pageAt) bool {
				p := firstData(pages, parquet.Encodings.RLEDict)
				n := int(binary.LittleEndian.Uint32(b[p.data:]))
				i := p.data + 4 + n + 1
				b[i], b[i+1] = 0xff, 0x7f // a bit-packed run of 8191 groups: past the page's end
				return true
			}},
			damage{"index past the dictionary", leaf, func(b []byte, pages []pageAt) bool {
				if pages[0].h.typ != pageDictionary {
					return false
				}
				p := firstData(pages, parquet.Encodings.RLEDict)
				n := int(binary.LittleEndian.Uint32(b[p.data:]))
				w := int(b[p.data+4+n])
				v := pages[0].h.numValues // the first index past the dictionary
				if v >= 1<<w {
					return false
				}
				i := p.data + 4 + n + 1
				b[i] = 0x02 // an RLE run of one value
				for k := range (w + 7) / 8 {
					b[i+1+k] = byte(v >> (8 * k))
				}
				return true
			}},
			damage{"dictionary page", leaf, func(b []byte, pages []pageAt) bool {
				if pages[0].h.typ != pageDictionary || leaf != 6 {
					return false
				}
				binary.LittleEndian.PutUint32(b[pages[0].data:], 1<<30) // the first string's length
				return true
			}},
			damage{"page header", leaf, func(b []byte, pages []pageAt) bool {
				p := firstData(pages, parquet.Encodings.RLEDict)
				for i := p.header; i < p.data; i++ {
					b[i] = 0xff
				}
				return true
			}},
		)
	}
	damages = append(damages,
		damage{"levels claim every row", 2, func(b []byte, pages []pageAt) bool {
			// i32: a PLAIN page with nulls (every 7th row) whose levels
			// now say every row has a value: its values end early.
			p := firstData(pages, parquet.Encodings.Plain)
			if p == nil || binary.LittleEndian.Uint32(b[p.data:]) < 5 {
				return false
			}
			run := binary.AppendUvarint(nil, uint64(p.h.numValues)<<1)
			copy(b[p.data+4:], append(run, 1))
			return true
		}},
		damage{"string value length", 6, func(b []byte, pages []pageAt) bool {
			p := firstData(pages, parquet.Encodings.Plain)
			if p == nil {
				return false
			}
			n := int(binary.LittleEndian.Uint32(b[p.data:]))
			binary.LittleEndian.PutUint32(b[p.data+4+n:], 1<<31)
			return true
		}},
	)
	tried := 0
	for _, dm := range damages {
		t.Run(fmt.Sprintf("%s/leaf%d", dm.name, dm.leaf), func(t *testing.T) {
			b := bytes.Clone(orig)
			if !dm.fn(b, filePages(t, path, b, 0, dm.leaf)) {
				t.Skip("not applicable")
			}
			tried++
			p := filepath.Join(t.TempDir(), "d.parquet")
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			mem := newChecked(t)
			sn := &Snapshot{Schema: pagesSchema, table: "t", tr: AllTime(), mem: mem, files: []*dataFile{{path: p}}}
			col := pagesSchema.Field(dm.leaf).Name
			err := sn.ScanParallel(context.Background(), []string{"id", col}, []string{"s"}, 2, func(int, int, arrow.Record) error { return nil })
			if !errors.Is(err, ErrDamagedFile) {
				t.Fatalf("ScanParallel: %v, want ErrDamagedFile", err)
			}
			t.Logf("%v", err)
		})
	}
	if tried < 20 {
		t.Fatalf("%d damages tried", tried)
	}
}

// encodeHybrid encodes vals (width bits each) in the RLE / bit-packed
// hybrid encoding as a writer may: runs of 8 or more equal values as RLE
// runs (or, at random, not), the rest in bit-packed runs of random
// lengths, the last group padded with zeros.
func encodeHybrid(vals []uint32, width int, rng *rand.Rand) []byte {
	var out []byte
	for i := 0; i < len(vals); {
		run := 1
		for i+run < len(vals) && vals[i+run] == vals[i] {
			run++
		}
		if run >= 8 && rng.IntN(4) != 0 || rng.IntN(16) == 0 {
			run = max(1, min(run, 1+rng.IntN(2*run)))
			out = binary.AppendUvarint(out, uint64(run)<<1)
			for k := range (width + 7) / 8 {
				out = append(out, byte(vals[i]>>(8*k)))
			}
			i += run
			continue
		}
		groups := 1 + rng.IntN(4)
		out = binary.AppendUvarint(out, uint64(groups)<<1|1)
		packed := make([]byte, groups*width)
		for j := range groups * 8 {
			var v uint32
			if i+j < len(vals) {
				v = vals[i+j]
			}
			for b := range width {
				if v>>b&1 != 0 {
					bit := j*width + b
					packed[bit/8] |= 1 << (bit % 8)
				}
			}
		}
		out = append(out, packed...)
		i += groups * 8
	}
	return out
}

// TestRLEHybridRoundTrip decodes what encodeHybrid encodes, for every bit
// width, through gather with an identity table (and a table one short,
// which must fail when the largest value is used), in pieces of random
// sizes (runs split across calls).
func TestRLEHybridRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for width := 0; width <= 32; width++ {
		for range 20 {
			n := rng.IntN(3000)
			vals := make([]uint32, n)
			// The values index a table in checkHybrid: below 2^20 (for
			// widths above 20, their top bits are 0).
			hi := uint32(1<<min(width, 20) - 1)
			for i := range vals {
				switch {
				case i > 0 && rng.IntN(3) == 0:
					vals[i] = vals[i-1]
				default:
					vals[i] = rng.Uint32() & hi
				}
			}
			checkHybrid(t, vals, width, encodeHybrid(vals, width, rng))
		}
	}
}

// checkHybrid decodes data as values of width bits, in pieces of random
// sizes, and compares with vals.
func checkHybrid(t *testing.T, vals []uint32, width int, data []byte) {
	t.Helper()
	var top uint32
	for _, v := range vals {
		top = max(top, v)
	}
	ident := make([]uint32, int(top)+1)
	for i := range ident {
		ident[i] = uint32(i)
	}
	var d rleDecoder
	if err := d.reset(data, width); err != nil {
		t.Fatal(err)
	}
	got := make([]uint32, len(vals))
	for i := 0; i < len(vals); {
		k := min(len(vals)-i, 1+int(bits.RotateLeft32(uint32(i)*2654435761, 7)%700))
		if err := gather(&d, got[i:i+k], ident); err != nil {
			t.Fatalf("width %d: values %d..%d: %v", width, i, i+k, err)
		}
		i += k
	}
	for i := range vals {
		if got[i] != vals[i] {
			t.Fatalf("width %d: value %d is %d, want %d", width, i, got[i], vals[i])
		}
	}
	if len(vals) > 0 {
		d.reset(data, width)
		if err := gather(&d, got, ident[:top]); err == nil {
			t.Fatalf("width %d: decoded with a table missing value %d", width, top)
		}
	}
}

// FuzzRLEHybrid decodes arbitrary bytes (which must fail or give values
// within the table, never panic) and round-trips values drawn from the
// input through encodeHybrid.
func FuzzRLEHybrid(f *testing.F) {
	f.Add([]byte{0x10, 0x01}, uint8(1), uint16(8), uint64(1))
	f.Add([]byte{0x03, 0xff, 0x00, 0x12, 0x34}, uint8(3), uint16(20), uint64(2))
	f.Add(encodeHybrid([]uint32{1, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0}, 2, rand.New(rand.NewPCG(1, 1))), uint8(2), uint16(12), uint64(3))
	f.Fuzz(func(t *testing.T, data []byte, width uint8, n uint16, seed uint64) {
		w := int(width % 34) // 33: reset refuses it
		var d rleDecoder
		if err := d.reset(data, w); err != nil {
			if w <= 32 {
				t.Fatalf("reset(width %d): %v", w, err)
			}
			return
		}
		tbl := make([]int16, 1+int(seed%300))
		out := make([]int16, int(n)%5000)
		for i := range out {
			out[i] = -1
		}
		if err := gather(&d, out, tbl); err == nil {
			for i, v := range out {
				if v != 0 {
					t.Fatalf("value %d: %d, not from the table", i, v)
				}
			}
		}
		if w > 32 {
			return
		}
		vals := make([]uint32, len(data))
		for i, b := range data {
			vals[i] = (uint32(b) * 0x01010101 >> (seed % 8)) & uint32(1<<min(w, 16)-1)
		}
		checkHybrid(t, vals, w, encodeHybrid(vals, w, rand.New(rand.NewPCG(seed, 9))))
	})
}

// FuzzPageHeader parses arbitrary bytes as a page header: an error or a
// length within the input, never a panic.
func FuzzPageHeader(f *testing.F) {
	f.Add([]byte{0x15, 0x00, 0x15, 0x80, 0x08, 0x15, 0x40, 0x2c, 0x15, 0x10, 0x15, 0x10, 0x15, 0x06, 0x15, 0x06, 0x00, 0x00})
	f.Add([]byte{0x15, 0x04, 0x15, 0x02, 0x15, 0x02, 0x3c, 0x15, 0x02, 0x15, 0x00, 0x11, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		var h pageHeader
		if n, err := h.parse(b); err == nil && (n <= 0 || n > len(b)) {
			t.Fatalf("parsed %d bytes of %d", n, len(b))
		}
	})
}

// TestDamagedCompressedPage damages the compressed bytes of a data page in
// a snappy file (arrow's snappy codec panics on them): ScanParallel must
// fail with ErrDamagedFile.
func TestDamagedCompressedPage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.parquet")
	writePagesFile(t, path, 6000, parquet.NewWriterProperties(
		parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithMaxRowGroupLength(3000),
		parquet.WithRootRepetition(parquet.Repetitions.Required),
	))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pages := filePages(t, path, b, 0, 4) // f64
	p := pages[len(pages)-1]
	for i := p.data; i < p.data+int(p.h.compressed); i++ {
		b[i] = 0xff
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	mem := newChecked(t)
	sn := &Snapshot{Schema: pagesSchema, table: "t", tr: AllTime(), mem: mem, files: []*dataFile{{path: path}}}
	err = sn.ScanParallel(context.Background(), []string{"id", "f64"}, nil, 2, func(int, int, arrow.Record) error { return nil })
	if !errors.Is(err, ErrDamagedFile) {
		t.Fatalf("ScanParallel: %v, want ErrDamagedFile", err)
	}
	t.Logf("%v", err)
}
