//go:build wasip1

package sdk

import "unsafe"

// The guest's state: one runner, the input buffer the host writes into and
// the output of the last batch. They live as long as the instance (see the
// note on handler in run.go).
var (
	runner   Runner
	inbuf    []byte
	batchOut []byte
)

//go:wasmexport lakegate_abi_version
func exportABIVersion() int32 { return ABIVersion }

// exportInput returns a buffer of at least size bytes for the host to write
// the next input into. The buffer is kept and reused; the host asks again
// only when it needs more room.
//
//go:wasmexport lakegate_input
func exportInput(size int32) int32 {
	if size < 0 {
		return 0
	}
	if int(size) > cap(inbuf) || cap(inbuf) == 0 {
		n := int(size)
		if n < 4096 {
			n = 4096
		}
		inbuf = make([]byte, n)
	}
	inbuf = inbuf[:cap(inbuf)]
	return int32(uintptr(unsafe.Pointer(unsafe.SliceData(inbuf))))
}

// exportFormat handles the n-byte input in the input buffer and returns
// (pointer << 32) | length of the output, valid until the next call.
//
//go:wasmexport lakegate_format
func exportFormat(n int32) int64 {
	var out []byte
	if n < 0 || int(n) > len(inbuf) {
		out = runner.out.fail(StatusFailed, "sdk: input length out of range")
	} else {
		out = runner.Run(handler, checker, inbuf[:n])
	}
	ptr := uintptr(unsafe.Pointer(unsafe.SliceData(out)))
	return int64(ptr)<<32 | int64(len(out))
}

// exportFormatBatch handles the batch of inputs in the input buffer (ABI.md,
// "Batches") and returns (pointer << 32) | length of the batch output,
// valid until the next call; an empty output refuses a malformed batch.
//
//go:wasmexport lakegate_format_batch
func exportFormatBatch(n int32) int64 {
	if n < 0 || int(n) > len(inbuf) {
		batchOut = batchOut[:0]
	} else {
		batchOut = runner.RunBatch(handler, checker, inbuf[:n], batchOut)
	}
	ptr := uintptr(unsafe.Pointer(unsafe.SliceData(batchOut)))
	return int64(ptr)<<32 | int64(len(batchOut))
}

//go:wasmimport lakegate log
func hostLog(level int32, ptr unsafe.Pointer, n int32)

func logMessage(level Level, msg string) {
	if len(msg) == 0 {
		return
	}
	hostLog(int32(level), unsafe.Pointer(unsafe.StringData(msg)), int32(len(msg)))
}
