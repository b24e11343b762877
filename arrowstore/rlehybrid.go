package arrowstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"unsafe"
)

// rleDecoder decodes Parquet's RLE / bit-packed hybrid encoding (the
// definition levels of a page, and the indices of a dictionary-encoded
// page after their bit width byte): a sequence of runs, each a ULEB128
// header followed by either one value of ceil(width/8) bytes repeated
// header>>1 times (an RLE run, header&1 == 0) or header>>1 groups of 8
// values of width bits each, packed LSB first (a bit-packed run).
//
// Every read is bounds-checked: bytes that do not hold the values asked
// for give errRLE, never a panic. A bit-packed run whose bytes end early
// (as some writers leave the last one) may still be read up to its last
// whole value.
type rleDecoder struct {
	data  []byte
	pos   int    // byte offset of the next run header
	width uint   // bits per value, 0 to 32
	mask  uint64 // width low bits set
	// The current run: rle values of val left, or packed bit-packed
	// values left starting at bit offset bit of data.
	rle    int
	val    uint32
	packed int
	bit    int
}

// unalignedLE is whether the machine loads a uint64 from any address in
// little-endian order.
const unalignedLE = runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64" || runtime.GOARCH == "386"

// errRLE is what rleDecoder returns for bytes that do not decode; callers
// wrap it in ErrDamagedFile.
var errRLE = errors.New("RLE / bit-packed data ends early or is malformed")

// reset starts decoding data as values of width bits (at most 32).
func (d *rleDecoder) reset(data []byte, width int) error {
	if width < 0 || width > 32 {
		return fmt.Errorf("%w: bit width %d", errRLE, width)
	}
	*d = rleDecoder{data: data, width: uint(width), mask: 1<<uint(width) - 1}
	return nil
}

// header reads the next run's header (and an RLE run's value).
func (d *rleDecoder) header() error {
	h, n := binary.Uvarint(d.data[min(d.pos, len(d.data)):])
	if n <= 0 || h > 1<<33 {
		return errRLE
	}
	d.pos += n
	if h&1 == 0 {
		nb := int(d.width+7) / 8
		if d.pos+nb > len(d.data) {
			return errRLE
		}
		var v uint32
		for i := range nb {
			v |= uint32(d.data[d.pos+i]) << (8 * i)
		}
		if uint64(v) > d.mask {
			return errRLE
		}
		d.pos += nb
		d.rle, d.val = int(h>>1), v
		return nil
	}
	groups := int(h >> 1)
	d.packed, d.bit = groups*8, d.pos*8
	d.pos += groups * int(d.width) // may pass the end: see the type's doc
	return nil
}

// allOf reports whether the first n values of data (width bits each) are
// all v, as one RLE run says: a page without nulls, whose definition
// levels need no decoding.
func allOf(data []byte, width int, n int, v uint32) bool {
	h, k := binary.Uvarint(data)
	if k <= 0 || h&1 != 0 || h>>1 < uint64(n) {
		return false
	}
	nb := (width + 7) / 8
	if k+nb > len(data) {
		return false
	}
	var got uint32
	for i := range nb {
		got |= uint32(data[k+i]) << (8 * i)
	}
	return got == v
}

// load reads the 8 bytes of data at o, fewer (zero-padded) at the end.
func load(data []byte, o int) uint64 {
	if o+8 <= len(data) {
		return binary.LittleEndian.Uint64(data[o:])
	}
	var w uint64
	for i, b := range data[o:] {
		w |= uint64(b) << (8 * i)
	}
	return w
}

// gather sets out[i] to dict[v] for the next len(out) values v, failing
// (errRLE) on data that ends early or a value not below len(dict): with
// dict the decoded dictionary page, it reads a dictionary-encoded page's
// values; with dict a table of indices, it remaps them; with dict {0, 1},
// it reads definition levels of a maxDef 1 column.
func gather[T any](d *rleDecoder, out []T, dict []T) error {
	n := uint64(len(dict))
	for len(out) > 0 {
		switch {
		case d.rle > 0:
			k := min(d.rle, len(out))
			if uint64(d.val) >= n {
				return fmt.Errorf("%w: value %d, dictionary of %d", errRLE, d.val, n)
			}
			v := dict[d.val]
			for i := range out[:k] {
				out[i] = v
			}
			out, d.rle = out[k:], d.rle-k
		case d.packed > 0:
			k := min(d.packed, len(out))
			data, w, mask, bit := d.data, int(d.width), d.mask, d.bit
			// Values wholly inside data; those whose 8-byte load would
			// pass its end in the loop below.
			if end := bit + k*w; (end+7)/8 > len(data) {
				return errRLE
			}
			o := out[:k]
			i := 0
			// 8-byte loads while they stay inside data: the loop's
			// condition bounds every load of the group, which are
			// unchecked (and unaligned, little-endian) where the machine
			// allows (twice as fast); bounds-checked elsewhere.
			base := unsafe.Pointer(unsafe.SliceData(data))
			for ; unalignedLE && i+8 <= len(o) && (bit+8*w)/8+8 <= len(data); i += 8 {
				g := o[i : i+8 : i+8]
				for j := range g {
					v := (*(*uint64)(unsafe.Add(base, bit>>3)) >> (bit & 7)) & mask
					if v >= n {
						return fmt.Errorf("%w: value %d, dictionary of %d", errRLE, v, n)
					}
					g[j] = dict[v]
					bit += w
				}
			}
			for ; i+8 <= len(o) && (bit+8*w)/8+8 <= len(data); i += 8 {
				g := o[i : i+8 : i+8]
				for j := range g {
					v := (binary.LittleEndian.Uint64(data[bit>>3:]) >> (bit & 7)) & mask
					if v >= n {
						return fmt.Errorf("%w: value %d, dictionary of %d", errRLE, v, n)
					}
					g[j] = dict[v]
					bit += w
				}
			}
			for ; i < len(o); i++ {
				v := (load(data, bit>>3) >> (bit & 7)) & mask
				if v >= n {
					return fmt.Errorf("%w: value %d, dictionary of %d", errRLE, v, n)
				}
				o[i] = dict[v]
				bit += w
			}
			d.bit, d.packed, out = bit, d.packed-k, out[k:]
		default:
			if err := d.header(); err != nil {
				return err
			}
		}
	}
	return nil
}
