package plugins

import (
	"errors"
	"fmt"
	"strings"
)

// interruptExport is the name under which an instrumented module exports
// its interrupt flag.
const interruptExport = "__lakegate_interrupt"

// yieldEvery is how much fuel a guest burns between two visits to Go: a
// function call burns one, loopChunk loop iterations burn loopChunk.
const yieldEvery = 1024

// loopChunk is how many loop iterations a function counts in its own
// local before it charges them to fuel.
const loopChunk = 32

// instrument returns a copy of a wasm module with a check at the start of
// every function:
//
//	fuel -= 1
//	if fuel <= 0 {
//	  fuel = yieldEvery
//	  drop(memory.grow(0))   // an exit to Go
//	  if interrupt { unreachable }
//	}
//
// and one at every loop header, on a counter of the function's own, a new
// local that lives in a register, not in memory as a global does:
//
//	left -= 1
//	if left == 0 {
//	  left = loopChunk
//	  fuel -= loopChunk, then as above
//	}
//
// fuel and interrupt are two new mutable i32 globals; interrupt is exported
// as interruptExport. The host sets it from a timer when a call's deadline
// passes, and the guest traps at its next visit. A function that has loops
// sets left to loopChunk on entry, so fuel counts every call and every
// loopChunk iterations of a call's loops: a guest visits Go at least every
// yieldEvery calls or yieldEvery*loopChunk loop iterations, whichever
// comes first. (Counting loop iterations in the fuel global itself, as
// this did before, made each iteration of a byte loop wait for a load and
// a store of the same memory word: about 10 % of the JSON formatter's time.)
//
// The visit to Go matters as much as the flag: machine code compiled by
// wazero cannot be preempted, so a goroutine looping in a guest without
// ever returning to Go would block the garbage collector's stop-the-world
// forever, and with it the timer that should interrupt it. memory.grow is
// the one instruction that always leaves machine code for Go, where the
// goroutine can be stopped, so it needs no new import (which would
// renumber every function). wazero's WithCloseOnContextDone makes the same
// visit at every loop iteration, which costs a Go guest 5 to 20 times its
// speed in wazero v1.12 (wazero issue #2466); here a check is a few
// instructions and the visit is amortised over yieldEvery checks. See
// README.md, "Deadlines".
//
// The instruction walker knows the immediates of every instruction wazero
// accepts (MVP, sign extension, saturating conversions, bulk memory,
// reference types, SIMD, tail calls, threads, exception handling with
// try_table); anything else is an error, so a module is either instrumented
// completely or refused.
func instrument(wasm []byte) ([]byte, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" || string(wasm[4:8]) != "\x01\x00\x00\x00" {
		return nil, errors.New("not a WebAssembly 1.0 binary module")
	}
	type section struct {
		id   byte
		body []byte
	}
	var secs []section
	r := reader{b: wasm, off: 8}
	for r.off < len(r.b) {
		id := r.byte()
		n := r.u32()
		body := r.bytes(int(n))
		if r.err != nil {
			return nil, fmt.Errorf("reading section %d: %w", id, r.err)
		}
		secs = append(secs, section{id, body})
	}
	// Count the globals so the new ones get the next indexes, and the
	// parameters of each function so its new local gets the next index.
	var importedGlobals, definedGlobals, memories uint32
	var typeParams, funcTypes []uint32
	for _, s := range secs {
		switch s.id {
		case 1:
			var err error
			if typeParams, err = readTypeParams(s.body); err != nil {
				return nil, fmt.Errorf("reading types: %w", err)
			}
		case 3:
			rr := reader{b: s.body}
			n := rr.u32()
			for i := uint32(0); i < n && rr.err == nil; i++ {
				funcTypes = append(funcTypes, rr.u32())
			}
			if rr.err != nil {
				return nil, fmt.Errorf("reading functions: %w", rr.err)
			}
		case 2:
			g, m, err := countImports(s.body)
			if err != nil {
				return nil, fmt.Errorf("reading imports: %w", err)
			}
			importedGlobals = g
			memories += m
		case 5:
			rr := reader{b: s.body}
			memories += rr.u32()
		case 6:
			rr := reader{b: s.body}
			definedGlobals = rr.u32()
			if rr.err != nil {
				return nil, fmt.Errorf("reading globals: %w", rr.err)
			}
		case 7:
			if strings.Contains(string(s.body), interruptExport) {
				return nil, fmt.Errorf("module already uses the reserved name %s", interruptExport)
			}
		}
	}
	if memories == 0 {
		return nil, errors.New("module has no memory")
	}
	fuel := importedGlobals + definedGlobals
	intr := fuel + 1
	params := make([]uint32, len(funcTypes))
	for i, t := range funcTypes {
		if int(t) >= len(typeParams) {
			return nil, fmt.Errorf("function %d has type %d, past the %d types", i, t, len(typeParams))
		}
		params[i] = typeParams[t]
	}

	out := make([]byte, 0, len(wasm)+len(wasm)/8)
	out = append(out, wasm[:8]...)
	emit := func(id byte, body []byte) {
		out = append(out, id)
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	newGlobal := append([]byte{0x7f, 0x01, 0x41}, appendS32(nil, yieldEvery)...) // mutable i32 fuel = yieldEvery
	newGlobal = append(newGlobal, 0x0b, 0x7f, 0x01, 0x41, 0x00, 0x0b)            // mutable i32 interrupt = 0
	newExport := append(appendU32(nil, uint32(len(interruptExport))), interruptExport...)
	newExport = append(newExport, 0x03)
	newExport = appendU32(newExport, intr)
	wroteGlobal, wroteExport := false, false
	// order gives each section's position in the required module order
	// (the tag section sits between memory and global).
	order := func(id byte) int {
		switch id {
		case 13:
			return 55
		case 12:
			return 95
		case 0:
			return -1
		}
		return int(id) * 10
	}
	flush := func(before byte) {
		if !wroteGlobal && order(before) > order(6) {
			emit(6, append([]byte{0x02}, newGlobal...))
			wroteGlobal = true
		}
		if !wroteExport && order(before) > order(7) {
			emit(7, append([]byte{0x01}, newExport...))
			wroteExport = true
		}
	}
	for _, s := range secs {
		if s.id != 0 {
			flush(s.id)
		}
		switch s.id {
		case 0:
			rr := reader{b: s.body}
			name := rr.name()
			if strings.HasPrefix(name, ".debug") || name == "sourceMappingURL" {
				continue // code offsets change: drop debug info that refers to them
			}
			emit(0, s.body)
		case 6:
			rr := reader{b: s.body}
			n := rr.u32()
			b := appendU32(nil, n+2)
			b = append(b, s.body[rr.off:]...)
			emit(6, append(b, newGlobal...))
			wroteGlobal = true
		case 7:
			rr := reader{b: s.body}
			n := rr.u32()
			b := appendU32(nil, n+1)
			b = append(b, s.body[rr.off:]...)
			emit(7, append(b, newExport...))
			wroteExport = true
		case 10:
			body, err := instrumentCode(s.body, fuel, intr, params)
			if err != nil {
				return nil, err
			}
			emit(10, body)
		default:
			emit(s.id, s.body)
		}
	}
	flush(255)
	return out, nil
}

// entryCheck is the check inserted at function entries. It leaves the
// operand stack as it found it.
func entryCheck(fuel, intr uint32) []byte {
	c := appendU32([]byte{0x23}, fuel)   // global.get fuel
	c = append(c, 0x41, 0x01, 0x6b)      // i32.const 1; i32.sub
	c = appendU32(append(c, 0x24), fuel) // global.set fuel
	return appendVisit(c, fuel, intr)
}

// loopCheck is the check inserted after loop headers; left is the
// function's loop counter.
func loopCheck(fuel, intr, left uint32) []byte {
	c := appendU32([]byte{0x20}, left)   // local.get left
	c = append(c, 0x41, 0x01, 0x6b)      // i32.const 1; i32.sub
	c = appendU32(append(c, 0x22), left) // local.tee left
	c = append(c, 0x45, 0x04, 0x40)      // i32.eqz; if
	c = appendS32(append(c, 0x41), loopChunk)
	c = appendU32(append(c, 0x21), left) // local.set left
	c = appendU32(append(c, 0x23), fuel) // global.get fuel
	c = appendS32(append(c, 0x41), loopChunk)
	c = append(c, 0x6b)                  // i32.sub
	c = appendU32(append(c, 0x24), fuel) // global.set fuel
	c = appendVisit(c, fuel, intr)
	return append(c, 0x0b)
}

// appendVisit appends: if fuel <= 0 { fuel = yieldEvery; visit Go; trap
// if interrupted }.
func appendVisit(c []byte, fuel, intr uint32) []byte {
	c = appendU32(append(c, 0x23), fuel)        // global.get fuel
	c = append(c, 0x41, 0x00, 0x4c, 0x04, 0x40) // i32.const 0; i32.le_s; if
	c = appendS32(append(c, 0x41), yieldEvery)
	c = appendU32(append(c, 0x24), fuel)
	c = append(c, 0x41, 0x00, 0x40, 0x00, 0x1a) // drop(memory.grow(0))
	c = appendU32(append(c, 0x23), intr)
	c = append(c, 0x04, 0x40, 0x00, 0x0b) // if interrupt: unreachable
	return append(c, 0x0b)
}

// readTypeParams returns the number of parameters of each function type.
func readTypeParams(b []byte) ([]uint32, error) {
	r := reader{b: b}
	n := r.u32()
	var out []uint32
	for i := uint32(0); i < n && r.err == nil; i++ {
		if form := r.byte(); form != 0x60 && r.err == nil {
			return nil, fmt.Errorf("type %d: form 0x%02x, want a function type", i, form)
		}
		params := r.u32()
		r.bytes(int(params)) // one byte per value type in the features wazero runs
		r.bytes(int(r.u32()))
		out = append(out, params)
	}
	return out, r.err
}

// countImports returns how many globals and memories a module imports.
func countImports(b []byte) (globals, memories uint32, err error) {
	r := reader{b: b}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		r.name()
		r.name()
		switch kind := r.byte(); kind {
		case 0x00: // func
			r.u32()
		case 0x01: // table: reftype, limits
			r.byte()
			r.limits()
		case 0x02: // memory
			r.limits()
			memories++
		case 0x03: // global: valtype, mutability
			r.byte()
			r.byte()
			globals++
		case 0x04: // tag: attribute, type
			r.byte()
			r.u32()
		default:
			return 0, 0, fmt.Errorf("unknown import kind %d", kind)
		}
	}
	return globals, memories, r.err
}

// instrumentCode rewrites the code section; params holds the parameter
// count of each function.
func instrumentCode(sec []byte, fuel, intr uint32, params []uint32) ([]byte, error) {
	r := reader{b: sec}
	n := r.u32()
	if int(n) != len(params) {
		return nil, fmt.Errorf("code section has %d bodies for %d functions", n, len(params))
	}
	out := appendU32(make([]byte, 0, len(sec)+len(sec)/4), n)
	entry := entryCheck(fuel, intr)
	var body []byte
	for i := uint32(0); i < n; i++ {
		size := r.u32()
		fn := r.bytes(int(size))
		if r.err != nil {
			return nil, fmt.Errorf("reading function %d: %w", i, r.err)
		}
		var err error
		body, err = instrumentFunc(body[:0], fn, entry, fuel, intr, params[i])
		if err != nil {
			return nil, fmt.Errorf("instrumenting function %d: %w", i, err)
		}
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	if r.off != len(r.b) {
		return nil, errors.New("trailing bytes in code section")
	}
	return out, nil
}

// instrumentFunc copies one function body (of a function with params
// parameters), adding entry at its start and, if it has loops, a loop
// counter local set at its start and checked after every loop header.
func instrumentFunc(out, fn, entry []byte, fuel, intr, params uint32) ([]byte, error) {
	r := reader{b: fn}
	groups := r.u32()
	groupsEnd := r.off
	locals := uint64(params)
	for i := uint32(0); i < groups; i++ {
		locals += uint64(r.u32()) // count
		r.byte()                  // type
	}
	if r.err != nil {
		return nil, fmt.Errorf("reading locals: %w", r.err)
	}
	if locals >= 1<<32-1 {
		return nil, errors.New("too many locals")
	}
	code := r.off
	hasLoop := false
	for r.off < len(r.b) && !hasLoop {
		op, err := r.instruction()
		if err != nil {
			return nil, err
		}
		hasLoop = op == 0x03
	}
	if !hasLoop {
		out = append(out, fn[:code]...)
		out = append(out, entry...)
		return append(out, fn[code:]...), nil
	}
	left := uint32(locals)
	out = appendU32(out, groups+1)
	out = append(out, fn[groupsEnd:code]...)
	out = append(out, 0x01, 0x7f) // one more i32 local: left
	out = append(out, entry...)
	out = appendS32(append(out, 0x41), loopChunk)
	out = appendU32(append(out, 0x21), left) // left = loopChunk
	check := loopCheck(fuel, intr, left)
	r.off = code
	for r.off < len(r.b) {
		start := r.off
		op, err := r.instruction()
		if err != nil {
			return nil, err
		}
		out = append(out, fn[start:r.off]...)
		if op == 0x03 { // loop
			out = append(out, check...)
		}
	}
	return out, nil
}

// instruction moves past one instruction and returns its opcode.
func (r *reader) instruction() (byte, error) {
	start := r.off
	op := r.byte()
	if err := r.skipImmediates(op); err != nil {
		return op, err
	}
	if r.err != nil {
		return op, fmt.Errorf("instruction 0x%02x at offset %d: %w", op, start, r.err)
	}
	return op, nil
}

// skipImmediates moves past the immediates of instruction op.
func (r *reader) skipImmediates(op byte) error {
	switch {
	case op == 0x00, op == 0x01, op == 0x05, op == 0x0a, op == 0x0b, op == 0x0f,
		op == 0x1a, op == 0x1b, op == 0xd1, op >= 0x45 && op <= 0xc4:
		// no immediates
	case op == 0x02, op == 0x03, op == 0x04: // block, loop, if
		r.s64()
	case op == 0x08, op == 0x0c, op == 0x0d, op == 0x10, op == 0x12, op == 0xd2,
		op >= 0x20 && op <= 0x26:
		// throw, br, br_if, call, return_call, ref.func, local/global/table get/set/tee
		r.u32()
	case op == 0x0e: // br_table
		n := r.u32()
		for i := uint32(0); i <= n && r.err == nil; i++ {
			r.u32()
		}
	case op == 0x11, op == 0x13: // call_indirect, return_call_indirect
		r.u32()
		r.u32()
	case op == 0x1c: // select t*
		n := r.u32()
		for i := uint32(0); i < n && r.err == nil; i++ {
			r.byte()
		}
	case op == 0x1f: // try_table
		r.s64()
		n := r.u32()
		for i := uint32(0); i < n && r.err == nil; i++ {
			switch kind := r.byte(); kind {
			case 0x00, 0x01:
				r.u32()
				r.u32()
			case 0x02, 0x03:
				r.u32()
			default:
				return fmt.Errorf("unknown catch kind %d", kind)
			}
		}
	case op >= 0x28 && op <= 0x3e: // loads and stores
		r.memarg()
	case op == 0x3f, op == 0x40: // memory.size, memory.grow
		r.u32()
	case op == 0x41, op == 0x42: // i32.const, i64.const
		r.s64()
	case op == 0x43:
		r.bytes(4)
	case op == 0x44:
		r.bytes(8)
	case op == 0xd0: // ref.null
		r.s64()
	case op == 0xfc:
		switch sub := r.u32(); {
		case sub <= 7:
		case sub == 8, sub == 10, sub == 12, sub == 14: // memory.init, memory.copy, table.init, table.copy
			r.u32()
			r.u32()
		case sub == 9, sub == 11, sub == 13, sub >= 15 && sub <= 17:
			r.u32()
		default:
			return fmt.Errorf("unknown instruction 0xfc %d", sub)
		}
	case op == 0xfd:
		switch sub := r.u32(); {
		case sub <= 11, sub == 92, sub == 93: // loads, stores, load_zero
			r.memarg()
		case sub == 12, sub == 13: // v128.const, i8x16.shuffle
			r.bytes(16)
		case sub >= 21 && sub <= 34: // extract/replace lane
			r.byte()
		case sub >= 84 && sub <= 91: // load/store lane
			r.memarg()
			r.byte()
		}
	case op == 0xfe:
		if sub := r.u32(); sub == 0x03 { // atomic.fence
			r.byte()
		} else {
			r.memarg()
		}
	default:
		return fmt.Errorf("unsupported instruction 0x%02x", op)
	}
	return nil
}

// reader decodes the wasm binary format; the first error sticks.
type reader struct {
	b   []byte
	off int
	err error
}

var errShort = errors.New("unexpected end of data")

func (r *reader) byte() byte {
	if r.err != nil || r.off >= len(r.b) {
		r.err = errShort
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b)-r.off {
		r.err = errShort
		return nil
	}
	b := r.b[r.off : r.off+n]
	r.off += n
	return b
}

func (r *reader) u64() uint64 {
	var v uint64
	for shift := 0; shift < 70; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
	}
	r.err = errors.New("LEB128 number too long")
	return 0
}

func (r *reader) u32() uint32 {
	v := r.u64()
	if v > 1<<32-1 && r.err == nil {
		r.err = errors.New("u32 out of range")
	}
	return uint32(v)
}

// s64 skips a signed LEB128 number (up to 64 bits, s33 included).
func (r *reader) s64() { r.u64() }

func (r *reader) name() string { return string(r.bytes(int(r.u32()))) }

func (r *reader) limits() {
	flags := r.byte()
	r.u64()
	if flags&0x01 != 0 {
		r.u64()
	}
}

func (r *reader) memarg() {
	align := r.u32()
	if align&0x40 != 0 { // multi-memory: memory index follows
		r.u32()
	}
	r.u64()
}

func appendS32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}
