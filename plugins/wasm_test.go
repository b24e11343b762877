package plugins_test

import (
	"encoding/binary"
	"math"
)

// This file hand-assembles tiny hostile guests, so that the runtime's
// failure paths are tested against real modules without a toolchain.

// hostile configures the module hostileModule builds.
type hostile struct {
	version      int32 // what lakegate_abi_version returns
	noFormat     bool  // leave out the lakegate_format export
	importEnv    bool  // import env.foo, which the host does not provide
	exportStart  bool  // export _start and no _initialize (a WASI command)
	importGlobal bool  // import the immutable i32 global env.g
	minPages     uint32
	batch        bool // export lakegate_format_batch (see batchOf)
}

// The module's memory layout: outputs at the bottom, the input buffer at
// inputAt. lakegate_format looks at the payload's last byte:
//
//	'T' traps (unreachable)        'L' loops forever
//	'B' returns a 2 GiB length     'X' returns a pointer outside memory
//	'R' returns 5 rows             'M' returns a malformed status
//	'S' returns an unknown status  'E' returns a broken row encoding
//	anything else returns one row: ok=1 (int64), no time, route's table.
//
// With batch, lakegate_format_batch looks at the last byte of the batch
// (its last message's payload) the same way for 'T' and 'L', returns an
// empty output for 'Z' and otherwise a fixed batch output of batchOf
// messages of one row each, ok=2 (so a test tells batch rows from single
// ones); a batch of another size gets an output the host must refuse.
const (
	inputAt   = 65536
	inputCap  = 65536
	okAt      = 0
	rowsAt    = 1024
	malAt     = 2048
	statusAt  = 3072
	brokenAt  = 3584
	batchAt   = 4096
	batchOf   = 3
	hostilePg = 2
)

func hostileModule(h hostile) []byte {
	okOut := outputRows(1)
	fiveOut := outputRows(5)
	malOut := append([]byte{1}, "guest says: bad payload"...)
	statusOut := []byte{9, 'x'}
	brokenOut := outputRows(1)
	brokenOut = brokenOut[:len(brokenOut)-3] // value cut short

	var m []byte
	m = append(m, 0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00)
	// types: 0 () -> i32, 1 (i32) -> i32, 2 (i32) -> i64
	m = section(m, 1, vec(
		[]byte{0x60, 0x00, 0x01, 0x7f},
		[]byte{0x60, 0x01, 0x7f, 0x01, 0x7f},
		[]byte{0x60, 0x01, 0x7f, 0x01, 0x7e},
	))
	nimports := uint32(0)
	var imports [][]byte
	if h.importEnv {
		imports = append(imports, cat(name("env"), name("foo"), []byte{0x00, 0x00}))
		nimports = 1
	}
	if h.importGlobal {
		imports = append(imports, cat(name("env"), name("g"), []byte{0x03, 0x7f, 0x00}))
	}
	if len(imports) > 0 {
		m = section(m, 2, vec(imports...))
	}
	funcs := [][]byte{{0x00}, {0x01}, {0x02}}
	if h.batch {
		funcs = append(funcs, []byte{0x02})
	}
	m = section(m, 3, vec(funcs...))
	pages := h.minPages
	if pages == 0 {
		pages = hostilePg
	}
	m = section(m, 5, vec(cat([]byte{0x00}, uleb(uint64(pages)))))
	exports := [][]byte{
		cat(name("memory"), []byte{0x02, 0x00}),
		cat(name("lakegate_abi_version"), []byte{0x00}, uleb(uint64(nimports+0))),
		cat(name("lakegate_input"), []byte{0x00}, uleb(uint64(nimports+1))),
	}
	if !h.noFormat {
		exports = append(exports, cat(name("lakegate_format"), []byte{0x00}, uleb(uint64(nimports+2))))
	}
	if h.exportStart {
		exports = append(exports, cat(name("_start"), []byte{0x00}, uleb(uint64(nimports+0))))
	}
	if h.batch {
		exports = append(exports, cat(name("lakegate_format_batch"), []byte{0x00}, uleb(uint64(nimports+3))))
	}
	m = section(m, 7, vec(exports...))

	version := cat([]byte{0x41}, sleb(int64(h.version)))
	input := cat(
		[]byte{0x20, 0x00}, []byte{0x41}, sleb(inputCap), []byte{0x4b}, // size > cap
		[]byte{0x04, 0x7f}, []byte{0x41, 0x00}, // if (result i32) 0
		[]byte{0x05}, []byte{0x41}, sleb(inputAt), []byte{0x0b}, // else inputAt end
	)
	ret := func(ptr, n uint32) []byte {
		return cat([]byte{0x42}, sleb(int64(uint64(ptr)<<32|uint64(n))), []byte{0x0f})
	}
	when := func(c byte, body []byte) []byte {
		return cat([]byte{0x20, 0x01, 0x41}, sleb(int64(c)), []byte{0x46, 0x04, 0x40}, body, []byte{0x0b})
	}
	format := cat(
		// local 1 = input[len-1]
		[]byte{0x41}, sleb(inputAt), []byte{0x20, 0x00, 0x6a, 0x41, 0x01, 0x6b, 0x2d, 0x00, 0x00, 0x21, 0x01},
		when('T', []byte{0x00}),
		when('L', []byte{0x03, 0x40, 0x0c, 0x00, 0x0b}),
		when('B', ret(okAt, math.MaxInt32)),
		when('X', ret(0xFFFF0000, 100)),
		when('R', ret(rowsAt, uint32(len(fiveOut)))),
		when('M', ret(malAt, uint32(len(malOut)))),
		when('S', ret(statusAt, uint32(len(statusOut)))),
		when('E', ret(brokenAt, uint32(len(brokenOut)))),
		[]byte{0x42}, sleb(int64(uint64(okAt)<<32|uint64(len(okOut)))),
	)
	batchOut := le32(batchOf)
	for range batchOf {
		one := outputRowsOf(1, 2)
		batchOut = append(append(batchOut, le32(uint32(len(one)))...), one...)
	}
	batch := cat(
		[]byte{0x41}, sleb(inputAt), []byte{0x20, 0x00, 0x6a, 0x41, 0x01, 0x6b, 0x2d, 0x00, 0x00, 0x21, 0x01},
		when('T', []byte{0x00}),
		when('L', []byte{0x03, 0x40, 0x0c, 0x00, 0x0b}),
		when('Z', ret(batchAt, 0)),
		[]byte{0x42}, sleb(int64(uint64(batchAt)<<32|uint64(len(batchOut)))),
	)
	bodies := [][]byte{
		body(nil, version),
		body(nil, input),
		body([]byte{0x01, 0x01, 0x7f}, format), // one local of type i32
	}
	if h.batch {
		bodies = append(bodies, body([]byte{0x01, 0x01, 0x7f}, batch))
	}
	m = section(m, 10, vec(bodies...))
	seg := func(at int, data []byte) []byte {
		return cat([]byte{0x00, 0x41}, sleb(int64(at)), []byte{0x0b}, uleb(uint64(len(data))), data)
	}
	m = section(m, 11, vec(
		seg(okAt, okOut), seg(rowsAt, fiveOut), seg(malAt, malOut),
		seg(statusAt, statusOut), seg(brokenAt, brokenOut), seg(batchAt, batchOut),
	))
	return m
}

// globalModule exports one immutable i32 global "g" = 5, to satisfy
// hostile{importGlobal: true}.
func globalModule() []byte {
	m := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
	m = section(m, 6, vec([]byte{0x7f, 0x00, 0x41, 0x05, 0x0b}))
	return section(m, 7, vec(cat(name("g"), []byte{0x03, 0x00})))
}

// outputRows encodes n rows of one int64 column ok=1 in the ABI output encoding.
func outputRows(n int) []byte { return outputRowsOf(n, 1) }

// outputRowsOf encodes n rows of one int64 column ok=v.
func outputRowsOf(n int, v uint64) []byte {
	le := binary.LittleEndian
	b := []byte{0, 0, 0, 0}
	b = le.AppendUint32(b, uint32(n))
	b = le.AppendUint32(b, uint32(n))
	for i := 0; i < n; i++ {
		b = append(b, 0)          // flags: no time
		b = le.AppendUint64(b, 0) // time
		b = le.AppendUint32(b, 1) // columns
		b = le.AppendUint32(b, 0) // table ""
		b = append(b, 1)          // kind int64
		b = le.AppendUint32(b, 2) // name length
		b = append(b, "ok"...)    // name
		b = le.AppendUint64(b, v) // value
	}
	return b
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func body(locals, code []byte) []byte {
	if locals == nil {
		locals = []byte{0x00}
	}
	b := cat(locals, code, []byte{0x0b})
	return cat(uleb(uint64(len(b))), b)
}

func section(m []byte, id byte, content []byte) []byte {
	m = append(m, id)
	m = append(m, uleb(uint64(len(content)))...)
	return append(m, content...)
}

func vec(items ...[]byte) []byte {
	b := uleb(uint64(len(items)))
	for _, it := range items {
		b = append(b, it...)
	}
	return b
}

func name(s string) []byte { return cat(uleb(uint64(len(s))), []byte(s)) }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func uleb(v uint64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			c |= 0x80
		}
		b = append(b, c)
		if v == 0 {
			return b
		}
	}
}

func sleb(v int64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		done := (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0)
		if !done {
			c |= 0x80
		}
		b = append(b, c)
		if done {
			return b
		}
	}
}
