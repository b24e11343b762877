// Package sdktest runs lakegate plugin handlers natively, through the same
// input and output encodings the host uses, so that a plugin's logic can be
// unit-tested and benchmarked with go test before it is built for wasm.
package sdktest

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"

	sdk "github.com/lakegate/lakegate/sdk-plugin/go"
)

// Message is one input: a publish with its context and its route.
type Message struct {
	Topic           string
	Payload         []byte
	ClientID        string
	Username        string
	ContentType     string
	QoS             uint8
	Retain          bool
	ProtocolVersion uint8
	Received        int64 // unix nanoseconds
	UserProperties  []sdk.Property
	Table           string
	Options         []sdk.Option
	MaxRows         uint32 // 0 = no limit
	MaxOutputBytes  uint32 // 0 = no limit
}

// Column is one decoded column. Value is nil (null), int64 (int64 and
// timestamp), float64, bool, string or []byte.
type Column struct {
	Name  string
	Kind  sdk.Kind
	Value any
}

// Row is one decoded row.
type Row struct {
	Table   string // "" = the route's table
	HasTime bool
	Time    int64 // unix nanoseconds, if HasTime
	Columns []Column
}

// Error is a non-ok output status with the guest's text.
type Error struct {
	Status sdk.Status
	Text   string
}

var _ error = (*Error)(nil)

// Error returns the status and the guest's text.
func (e *Error) Error() string {
	switch e.Status {
	case sdk.StatusMalformed:
		return "malformed: " + e.Text
	case sdk.StatusLimit:
		return "limit: " + e.Text
	}
	return "failed: " + e.Text
}

// Harness runs handlers with reused buffers. The zero value is ready.
type Harness struct {
	runner sdk.Runner
	buf    []byte
}

// Run encodes m, calls h through the SDK and decodes the rows.
func (hs *Harness) Run(h sdk.Handler, m Message) ([]Row, error) {
	return DecodeOutput(hs.RunRaw(h, nil, hs.encode(m, false)))
}

// Check asks c to validate m's route, as the host does at start.
func (hs *Harness) Check(c sdk.Checker, m Message) error {
	_, err := DecodeOutput(hs.RunRaw(nil, c, hs.encode(m, true)))
	return err
}

// RunRaw runs one encoded input and returns the encoded output (reused by
// the next call); benchmarks use it to leave out the decoding.
func (hs *Harness) RunRaw(h sdk.Handler, c sdk.Checker, input []byte) []byte {
	return hs.runner.Run(h, c, input)
}

func (hs *Harness) encode(m Message, check bool) []byte {
	hs.buf = AppendInput(hs.buf[:0], m, check)
	return hs.buf
}

// Run runs h on m with a fresh Harness.
func Run(h sdk.Handler, m Message) ([]Row, error) {
	var hs Harness
	return hs.Run(h, m)
}

// Check runs c on m's route with a fresh Harness.
func Check(c sdk.Checker, m Message) error {
	var hs Harness
	return hs.Check(c, m)
}

// AppendInput appends m in the ABI input encoding to b.
func AppendInput(b []byte, m Message, check bool) []byte {
	var flags byte
	if m.Retain {
		flags |= sdk.FlagRetain
	}
	if check {
		flags |= sdk.FlagCheckRoute
	}
	b = append(b, sdk.ABIVersion, flags, m.QoS, m.ProtocolVersion)
	b = binary.LittleEndian.AppendUint64(b, uint64(m.Received))
	b = binary.LittleEndian.AppendUint32(b, m.MaxRows)
	b = binary.LittleEndian.AppendUint32(b, m.MaxOutputBytes)
	str := func(s string) {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	str(m.Topic)
	str(m.ClientID)
	str(m.Username)
	str(m.ContentType)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(m.UserProperties)))
	for _, p := range m.UserProperties {
		str(p.Key)
		str(p.Value)
	}
	str(m.Table)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(m.Options)))
	for _, o := range m.Options {
		str(o.Key)
		str(o.Value)
	}
	if check {
		str("")
	} else {
		str(string(m.Payload))
	}
	return b
}

// DecodeOutput decodes an ABI output buffer. A non-ok status is returned as
// an *Error; a broken encoding as another error.
func DecodeOutput(b []byte) ([]Row, error) {
	if len(b) == 0 {
		return nil, errors.New("empty output")
	}
	if st := sdk.Status(b[0]); st != sdk.StatusOK {
		return nil, &Error{Status: st, Text: string(b[1:])}
	}
	if len(b) < sdk.OutputHeaderSize {
		return nil, errors.New("short output header")
	}
	nrows := binary.LittleEndian.Uint32(b[4:])
	ncols := binary.LittleEndian.Uint32(b[8:])
	off := sdk.OutputHeaderSize
	fail := func(what string) error { return errors.New("bad output at offset " + strconv.Itoa(off) + ": " + what) }
	need := func(n int) bool { return len(b)-off >= n }
	u32 := func() uint32 { v := binary.LittleEndian.Uint32(b[off:]); off += 4; return v }
	u64 := func() uint64 { v := binary.LittleEndian.Uint64(b[off:]); off += 8; return v }
	str := func() (string, bool) {
		if !need(4) {
			return "", false
		}
		n := int(u32())
		if !need(n) {
			return "", false
		}
		s := string(b[off : off+n])
		off += n
		return s, true
	}
	out := []Row{}
	var total uint32
	for r := uint32(0); r < nrows; r++ {
		if !need(sdk.RowHeaderSize) {
			return nil, fail("short row header")
		}
		var row Row
		row.HasTime = b[off]&sdk.RowHasTime != 0
		off++
		row.Time = int64(u64())
		n := u32()
		total += n
		var ok bool
		if row.Table, ok = str(); !ok {
			return nil, fail("short table name")
		}
		for c := uint32(0); c < n; c++ {
			if !need(1) {
				return nil, fail("short column")
			}
			col := Column{Kind: sdk.Kind(b[off])}
			off++
			if col.Name, ok = str(); !ok {
				return nil, fail("short column name")
			}
			switch col.Kind {
			case sdk.KindNull:
			case sdk.KindInt64, sdk.KindTimestamp, sdk.KindFloat64:
				if !need(8) {
					return nil, fail("short value")
				}
				v := u64()
				if col.Kind == sdk.KindFloat64 {
					col.Value = math.Float64frombits(v)
				} else {
					col.Value = int64(v)
				}
			case sdk.KindBool:
				if !need(1) {
					return nil, fail("short value")
				}
				col.Value = b[off] != 0
				off++
			case sdk.KindString:
				if col.Value, ok = str(); !ok {
					return nil, fail("short string")
				}
			case sdk.KindBytes:
				s, ok := str()
				if !ok {
					return nil, fail("short bytes")
				}
				col.Value = []byte(s)
			default:
				return nil, fail("unknown kind " + strconv.Itoa(int(col.Kind)))
			}
			row.Columns = append(row.Columns, col)
		}
		out = append(out, row)
	}
	if total != ncols {
		return nil, fail("column count mismatch")
	}
	if off != len(b) {
		return nil, fail("trailing bytes")
	}
	return out, nil
}
