package arrowstore

import (
	"io"
	"sync"

	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/klauspost/compress/zstd"
)

// zstdCodec replaces arrow-go v17's zstd codec, whose EncodeLevel (the
// only entry point its page writer uses) builds a new zstd encoder, with
// tables of several hundred KiB to clear, for every page it compresses:
// that was a third of the CPU of a flush. This codec keeps one encoder per
// level; klauspost's EncodeAll may be called concurrently on one encoder.
// The bytes written are the same: same library, same settings.
type zstdCodec struct {
	once [zstd.SpeedBestCompression + 1]sync.Once
	enc  [zstd.SpeedBestCompression + 1]*zstd.Encoder
	err  [zstd.SpeedBestCompression + 1]error

	decOnce sync.Once
	dec     *zstd.Decoder
	decErr  error
}

// Registered once, when the package is loaded, the way arrow registers its
// own codecs: the registry is arrow's, keyed by compression type, and a
// writer cannot be handed a codec of its own.
func init() { compress.RegisterCodec(compress.Codecs.Zstd, new(zstdCodec)) }

// encoder returns the shared encoder of a zstd level as parquet gives it.
func (z *zstdCodec) encoder(level int) (*zstd.Encoder, error) {
	l := zstd.SpeedDefault
	if level != compress.DefaultCompressionLevel {
		l = zstd.EncoderLevelFromZstd(level)
	}
	z.once[l].Do(func() {
		z.enc[l], z.err[l] = zstd.NewWriter(nil, zstd.WithZeroFrames(true), zstd.WithEncoderLevel(l))
	})
	return z.enc[l], z.err[l]
}

func (z *zstdCodec) decoder() (*zstd.Decoder, error) {
	z.decOnce.Do(func() { z.dec, z.decErr = zstd.NewReader(nil) })
	return z.dec, z.decErr
}

func (z *zstdCodec) Encode(dst, src []byte) []byte {
	return z.EncodeLevel(dst, src, compress.DefaultCompressionLevel)
}

// EncodeLevel panics if the encoder cannot be made (it cannot with these
// options), as arrow's Decode panics on corrupt input: the interface has
// no error.
func (z *zstdCodec) EncodeLevel(dst, src []byte, level int) []byte {
	enc, err := z.encoder(level)
	if err != nil {
		panic(err)
	}
	return enc.EncodeAll(src, dst[:0])
}

// Decode returns nil for data that does not decode, where arrow's codec
// panics: the page reader then fails the read with "metadata said N bytes
// uncompressed ..., got 0" (for the v1 data pages and dictionary pages
// lakegate writes), so a damaged file is an error for one scan, not the
// end of the process.
func (z *zstdCodec) Decode(dst, src []byte) []byte {
	dec, err := z.decoder()
	if err != nil {
		return nil
	}
	out, err := dec.DecodeAll(src, dst[:0])
	if err != nil {
		return nil
	}
	return out
}

func (z *zstdCodec) NewReader(r io.Reader) io.ReadCloser {
	d, err := zstd.NewReader(r)
	if err != nil {
		return io.NopCloser(errReader{err})
	}
	return d.IOReadCloser()
}

func (z *zstdCodec) NewWriter(w io.Writer) io.WriteCloser {
	enc, _ := zstd.NewWriter(w)
	return enc
}

func (z *zstdCodec) NewWriterLevel(w io.Writer, level int) (io.WriteCloser, error) {
	l := zstd.SpeedDefault
	if level != compress.DefaultCompressionLevel {
		l = zstd.EncoderLevelFromZstd(level)
	}
	return zstd.NewWriter(w, zstd.WithEncoderLevel(l))
}

// CompressBound is ZSTD_COMPRESSBOUND from zstd.h, as arrow's.
func (z *zstdCodec) CompressBound(n int64) int64 {
	extra := ((128 << 10) - n) >> 11
	if n >= (128 << 10) {
		extra = 0
	}
	return n + (n >> 8) + extra
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
