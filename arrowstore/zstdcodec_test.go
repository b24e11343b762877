package arrowstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/file"

	"github.com/lakegate/lakegate/arrowstore/rows"
)

func TestZstdCodecRegistered(t *testing.T) {
	c, err := compress.GetCodec(compress.Codecs.Zstd)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(*zstdCodec); !ok {
		t.Fatalf("the zstd codec in arrow's registry is %T, not lakegate's", c)
	}
}

func TestZstdCodecRoundTripConcurrent(t *testing.T) {
	c := new(zstdCodec)
	src := bytes.Repeat([]byte("sensor-0042,21.53,48.2;"), 5000)
	var wg sync.WaitGroup
	for _, level := range []int{compress.DefaultCompressionLevel, 1, 3, 9, 19} {
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 20 {
					enc := c.EncodeLevel(make([]byte, 0, c.CompressBound(int64(len(src)))), src, level)
					if len(enc) == 0 || len(enc) >= len(src) {
						t.Errorf("level %d: %d bytes compressed from %d", level, len(enc), len(src))
						return
					}
					dec := c.Decode(make([]byte, len(src)), enc)
					if !bytes.Equal(dec, src) {
						t.Errorf("level %d: round trip differs", level)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
}

func TestZstdCodecCorruptInputIsNotAPanic(t *testing.T) {
	c := new(zstdCodec)
	enc := c.Encode(nil, bytes.Repeat([]byte("abc"), 1000))
	bad := bytes.Clone(enc)
	for i := len(bad) / 2; i < len(bad); i++ {
		bad[i] ^= 0x5a
	}
	if got := c.Decode(make([]byte, 3000), bad); got != nil && bytes.Equal(got, bytes.Repeat([]byte("abc"), 1000)) {
		t.Fatal("corrupt input decoded to the original")
	}
	if got := c.Decode(nil, []byte("not zstd at all")); got != nil {
		t.Fatalf("garbage decoded to %d bytes", len(got))
	}
}

// BenchmarkZstdPage compresses one 1 MiB page as the page writer does,
// through arrow's codec interface.
func BenchmarkZstdPage(b *testing.B) {
	src := bytes.Repeat([]byte("sensor-0042,21.53,48.2,1013.25;"), 1<<20/31)
	c, _ := compress.GetCodec(compress.Codecs.Zstd)
	dst := make([]byte, 0, c.CompressBound(int64(len(src))))
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		dst = c.EncodeLevel(dst[:0], src, compress.DefaultCompressionLevel)
	}
}

// TestCorruptPageFailsTheScan damages the compressed bytes of a column in
// a flushed Parquet file: both scans must return an error, not panic.
func TestCorruptPageFailsTheScan(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, testOptions(t, dir, memory.NewGoAllocator()))
	t.Cleanup(func() { s.Close() })
	var batch []rows.Row
	for i := range 5000 {
		batch = append(batch, row("c", at(time.Duration(i)*time.Second), col("s", rows.String(fmt.Sprintf("value-%d", i*7919%5000)))))
	}
	mustWrite(t, s, false, batch...)
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := scanRows(t, s, "c", AllTime(), []string{"s"}); len(got) != 5000 {
		t.Fatalf("before the damage: %d rows", len(got))
	}
	files := parquetFiles(t, dir, "c")
	if len(files) != 1 {
		t.Fatalf("want one file, have %v", files)
	}
	path := filepath.Join(dir, files[0])
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	rdr, err := file.NewParquetReader(f)
	if err != nil {
		t.Fatal(err)
	}
	md := rdr.MetaData()
	leaf := md.Schema.ColumnIndexByName("s")
	cc, err := md.RowGroup(0).ColumnChunk(leaf)
	if err != nil {
		t.Fatal(err)
	}
	start := cc.DataPageOffset()
	if cc.HasDictionaryPage() {
		start = cc.DictionaryPageOffset()
	}
	end := start + cc.TotalCompressedSize()
	rdr.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := end - 40; i < end-4; i++ { // the last page's zstd frame, past its header
		data[i] ^= 0xa5
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	snap, err := s.Snapshot("c", AllTime())
	if err != nil {
		t.Fatal(err)
	}
	err = snap.Scan(context.Background(), []string{"ts", "s"}, func(arrow.Record) error { return nil })
	if !errors.Is(err, ErrDamagedFile) {
		t.Fatalf("Scan of a damaged file: %v, want ErrDamagedFile", err)
	}
	t.Logf("Scan: %v", err)
	err = snap.ScanParallel(context.Background(), []string{"ts", "s"}, []string{"s"}, 2, func(int, int, arrow.Record) error { return nil })
	if !errors.Is(err, ErrDamagedFile) {
		t.Fatalf("ScanParallel of a damaged file: %v, want ErrDamagedFile", err)
	}
	t.Logf("ScanParallel: %v", err)
	// Compaction reads files through readFileRecords: it must not take
	// the short read for the whole file and drop the rest.
	err = readFileRecords(context.Background(), path, memory.NewGoAllocator(), func(arrow.Record) error { return nil })
	if !errors.Is(err, ErrDamagedFile) {
		t.Fatalf("readFileRecords of a damaged file: %v, want ErrDamagedFile", err)
	}
}
