package arrowstore

import (
	"bytes"
	"sync"
	"testing"

	"github.com/apache/arrow/go/v17/parquet/compress"
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
