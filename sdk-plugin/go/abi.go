package sdk

// ABIVersion is the guest ABI version this SDK implements; the host refuses
// a module whose lakegate_abi_version export returns anything else.
const ABIVersion = 1

// Kind is the type of a column value. The numbers are those of the host's
// rows.Kind and are part of the ABI.
type Kind uint8

// Column value kinds.
const (
	KindNull      Kind = 0
	KindInt64     Kind = 1
	KindFloat64   Kind = 2
	KindBool      Kind = 3
	KindString    Kind = 4
	KindBytes     Kind = 5
	KindTimestamp Kind = 6 // unix nanoseconds, UTC
)

// Status is the first byte of the output buffer.
type Status uint8

// Output statuses (ABI.md, "Output").
const (
	StatusOK        Status = 0 // rows follow
	StatusMalformed Status = 1 // the payload could not be parsed; error text follows
	StatusFailed    Status = 2 // the guest failed for another reason (e.g. bad route options); error text follows
	StatusLimit     Status = 3 // the output would break the limits the host passed in; error text follows
)

// Input flag bits (ABI.md, "Input").
const (
	FlagRetain     = 1 << 0 // the PUBLISH had the retain flag
	FlagCheckRoute = 1 << 1 // validate the route only: no payload, no rows wanted
)

// Row flag bits (ABI.md, "Output").
const (
	RowHasTime = 1 << 0 // the row carries its own time; otherwise the receive time is used
)

// Sizes of the fixed parts of the encodings.
const (
	InputHeaderSize  = 20 // version, flags, qos, protocol, received, max rows, max output bytes
	OutputHeaderSize = 12 // status, 3 reserved, row count, column count
	RowHeaderSize    = 13 // flags, time, column count (then the table)
)

func le32(b []byte) uint32 {
	_ = b[3]
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func le64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

func put32(b []byte, v uint32) {
	_ = b[3]
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

func put64(b []byte, v uint64) {
	_ = b[7]
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	b[4], b[5], b[6], b[7] = byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56)
}

func append32(b []byte, v uint32) []byte {
	return append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
}

func append64(b []byte, v uint64) []byte {
	return append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24),
		byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56))
}
