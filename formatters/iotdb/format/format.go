// Package format is the logic of lakegate's built-in IoTDB formatter: it
// turns Apache IoTDB's MQTT JSON payloads into rows through the plugin SDK.
// The guest program in ../guest registers it; keeping it in a plain package
// lets it be tested and fuzzed natively.
//
// The accepted payloads, route options and output are described in
// formatters/iotdb/README.md.
package format

import (
	"strconv"

	sdk "github.com/lakegate/lakegate/sdk-plugin/go"
	"github.com/lakegate/lakegate/sdk-plugin/go/jsonscan"
)

// Route option keys.
const (
	OptTableFromDevice = "table_from_device"
	OptDeviceColumn    = "device_column"
	OptPrecision       = "precision"
)

// DefaultDeviceColumn names the device's column when the route sets no
// device_column option.
const DefaultDeviceColumn = "device"

// noColumn, as device_column, leaves the device out of the row.
const noColumn = "-"

// Value types a datatypes entry may name; dtNone means "by JSON type".
type dtype uint8

const (
	dtNone dtype = iota
	dtBool
	dtInt32
	dtInt64
	dtFloat
	dtText
)

// config is a route's options, parsed for one message.
type config struct {
	tableLevel   int    // 0: the route's table
	deviceColumn string // "" when left out
	scale        int    // powers of ten from the time unit to nanoseconds
}

func (c *config) parse(opts []sdk.Option, strict bool) error {
	*c = config{deviceColumn: DefaultDeviceColumn, scale: 6}
	for _, o := range opts {
		switch o.Key {
		case OptTableFromDevice:
			n, err := strconv.Atoi(o.Value)
			if err != nil || n < 0 {
				return sdk.Fail("option table_from_device: " + strconv.Quote(o.Value) + " is not a level number (1 is root, 0 the route's table)")
			}
			c.tableLevel = n
		case OptDeviceColumn:
			switch o.Value {
			case "":
				return sdk.Fail("option device_column: empty (use \"-\" to leave the device out)")
			case noColumn:
				c.deviceColumn = ""
			default:
				c.deviceColumn = o.Value
			}
		case OptPrecision:
			switch o.Value {
			case "s":
				c.scale = 9
			case "ms":
				c.scale = 6
			case "us":
				c.scale = 3
			case "ns":
				c.scale = 0
			default:
				return sdk.Fail("option precision: " + strconv.Quote(o.Value) + " is not s, ms, us or ns")
			}
		default:
			if strict {
				return sdk.Fail("unknown option " + strconv.Quote(o.Key) + " (want table_from_device, device_column or precision)")
			}
		}
	}
	return nil
}

// span is a name's place in Formatter.arena.
type span struct{ start, end int }

// Formatter holds the buffers reused from message to message. The zero
// value is ready; it is not safe for concurrent use.
type Formatter struct {
	cfg      config
	sc       jsonscan.Scanner // the payload
	ts       jsonscan.Scanner // a timestamps list
	vals     jsonscan.Scanner // a values list
	out      *sdk.Output
	arena    []byte // measurement names and the device of the current object
	meas     []span
	types    []dtype
	device   span
	deviceAt int // the device's offset in the payload
	table    string
}

// Check validates a route's options; the gateway calls it at start.
func Check(in *sdk.Input) error {
	var c config
	return c.parse(in.Options, true)
}

// Handle formats one message: an object or an array of objects.
func (f *Formatter) Handle(in *sdk.Input, out *sdk.Output) error {
	if err := f.cfg.parse(in.Options, false); err != nil {
		return err
	}
	f.out = out
	data := in.Payload
	start := 0
	if len(data) >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF {
		start = 3 // UTF-8 byte order mark
	}
	sc := &f.sc
	sc.ResetAt(data, start)
	if sc.AtEnd() {
		return sc.ErrorAt(start, "empty payload, expected an IoTDB JSON object or array")
	}
	for !sc.AtEnd() {
		switch sc.Peek() {
		case jsonscan.KindObject:
			if err := f.object(); err != nil {
				return err
			}
		case jsonscan.KindArray:
			if err := sc.BeginArray(); err != nil {
				return err
			}
			for {
				more, err := sc.NextElem()
				if err != nil {
					return err
				}
				if !more {
					break
				}
				if sc.Peek() != jsonscan.KindObject {
					return sc.Expected("an IoTDB object")
				}
				if err := f.object(); err != nil {
					return err
				}
			}
		default:
			return sc.Expected("an IoTDB JSON object or array")
		}
	}
	return nil
}

// object reads one IoTDB object and writes its rows. Its members may come
// in any order, so the lists are read once for their place and read again
// when the rows are written.
func (f *Formatter) object() error {
	sc := &f.sc
	objStart := sc.Offset()
	if err := sc.BeginObject(); err != nil {
		return err
	}
	f.arena, f.meas, f.types = f.arena[:0], f.meas[:0], f.types[:0]
	var (
		hasDevice, hasMeas, hasTypes bool
		tsOff, tssOff, valsOff       = -1, -1, -1
		typesOff                     int
	)
	for {
		key, ok, err := sc.NextKey()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		switch string(key) {
		case "device":
			if sc.Peek() != jsonscan.KindString {
				return sc.Expected("the device path as a string")
			}
			at := sc.Offset()
			s, err := sc.String()
			if err != nil {
				return err
			}
			if len(s) == 0 {
				return sc.ErrorAt(at, "empty device")
			}
			start := len(f.arena)
			f.arena = append(f.arena, s...)
			f.device, f.deviceAt = span{start, len(f.arena)}, at
			hasDevice = true
		case "timestamp":
			tsOff = sc.Offset()
			if err := sc.Skip(); err != nil {
				return err
			}
		case "timestamps":
			tssOff = sc.Offset()
			if err := sc.Skip(); err != nil {
				return err
			}
		case "values":
			valsOff = sc.Offset()
			if err := sc.Skip(); err != nil {
				return err
			}
		case "measurements":
			if err := f.measurements(); err != nil {
				return err
			}
			hasMeas = true
		case "datatypes":
			typesOff = sc.Offset()
			if err := f.datatypes(); err != nil {
				return err
			}
			hasTypes = true
		default:
			if err := sc.Skip(); err != nil { // e.g. is_aligned
				return err
			}
		}
	}
	switch {
	case !hasDevice:
		return sc.ErrorAt(objStart, "object has no \"device\"")
	case !hasMeas:
		return sc.ErrorAt(objStart, "object has no \"measurements\"")
	case valsOff < 0:
		return sc.ErrorAt(objStart, "object has no \"values\"")
	case tsOff < 0 && tssOff < 0:
		return sc.ErrorAt(objStart, "object has neither \"timestamp\" nor \"timestamps\"")
	case tsOff >= 0 && tssOff >= 0:
		return sc.ErrorAt(tssOff, "object has both \"timestamp\" and \"timestamps\"")
	case hasTypes && len(f.types) != len(f.meas):
		return sc.ErrorAt(typesOff, "datatypes has "+strconv.Itoa(len(f.types))+" entries, measurements "+strconv.Itoa(len(f.meas)))
	}
	if err := f.pickTable(); err != nil {
		return err
	}
	if tsOff >= 0 {
		f.ts.ResetAt(sc.Data(), tsOff)
		t, err := f.time(&f.ts)
		if err != nil {
			return err
		}
		f.vals.ResetAt(sc.Data(), valsOff)
		return f.row(t)
	}
	return f.rows(tssOff, valsOff)
}

// measurements reads the measurements list into the arena.
func (f *Formatter) measurements() error {
	sc := &f.sc
	if sc.Peek() != jsonscan.KindArray {
		return sc.Expected("the measurements as an array of strings")
	}
	listAt := sc.Offset()
	if err := sc.BeginArray(); err != nil {
		return err
	}
	f.meas = f.meas[:0] // a repeated member replaces the earlier one
	for {
		more, err := sc.NextElem()
		if err != nil {
			return err
		}
		if !more {
			if len(f.meas) == 0 {
				return sc.ErrorAt(listAt, "empty measurements list")
			}
			return nil
		}
		if sc.Peek() != jsonscan.KindString {
			return sc.Expected("a measurement name")
		}
		at := sc.Offset()
		s, err := sc.String()
		if err != nil {
			return err
		}
		if len(s) == 0 {
			return sc.ErrorAt(at, "empty measurement name")
		}
		start := len(f.arena)
		f.arena = append(f.arena, s...)
		f.meas = append(f.meas, span{start, len(f.arena)})
	}
}

// datatypes reads the datatypes list.
func (f *Formatter) datatypes() error {
	sc := &f.sc
	if sc.Peek() != jsonscan.KindArray {
		return sc.Expected("the datatypes as an array of strings")
	}
	if err := sc.BeginArray(); err != nil {
		return err
	}
	f.types = f.types[:0]
	for {
		more, err := sc.NextElem()
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
		if sc.Peek() != jsonscan.KindString {
			return sc.Expected("a datatype name")
		}
		at := sc.Offset()
		s, err := sc.String()
		if err != nil {
			return err
		}
		t, ok := parseDatatype(s)
		if !ok {
			return sc.ErrorAt(at, "datatype "+strconv.Quote(string(s))+" is not BOOLEAN, INT32, INT64, FLOAT, DOUBLE, TEXT or STRING")
		}
		f.types = append(f.types, t)
	}
}

func parseDatatype(s []byte) (dtype, bool) {
	var up [8]byte
	if len(s) > len(up) {
		return 0, false
	}
	for i, c := range s {
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		up[i] = c
	}
	switch string(up[:len(s)]) {
	case "BOOLEAN":
		return dtBool, true
	case "INT32":
		return dtInt32, true
	case "INT64":
		return dtInt64, true
	case "FLOAT", "DOUBLE":
		return dtFloat, true
	case "TEXT", "STRING":
		return dtText, true
	}
	return 0, false
}

func (f *Formatter) name(s span) string {
	return jsonscan.UnsafeString(f.arena[s.start:s.end])
}

// pickTable sets f.table from the device path: level n (1 is the root) of
// the path split at dots outside backquotes, without its backquotes.
func (f *Formatter) pickTable() error {
	f.table = ""
	n := f.cfg.tableLevel
	if n == 0 {
		return nil
	}
	dev := f.arena[f.device.start:f.device.end]
	level, start, quoted := 1, 0, false
	for i := 0; i <= len(dev); i++ {
		if i < len(dev) && dev[i] == '`' {
			quoted = !quoted
			continue
		}
		if i < len(dev) && (quoted || dev[i] != '.') {
			continue
		}
		if level == n {
			node := dev[start:i]
			if len(node) >= 2 && node[0] == '`' && node[len(node)-1] == '`' {
				node = node[1 : len(node)-1]
			}
			if !validTable(node) {
				return f.sc.ErrorAt(f.deviceAt, "level "+strconv.Itoa(n)+" of device "+strconv.Quote(string(dev))+" cannot name a table (letters, digits, '_' and '-')")
			}
			f.table = jsonscan.UnsafeString(node)
			return nil
		}
		level++
		start = i + 1
	}
	return f.sc.ErrorAt(f.deviceAt, "device "+strconv.Quote(string(dev))+" has no level "+strconv.Itoa(n)+" to name the table (table_from_device)")
}

// time reads one timestamp: an integer (or numeric string) in the
// precision's unit.
func (f *Formatter) time(s *jsonscan.Scanner) (int64, error) {
	at := s.Offset()
	var n jsonscan.Number
	switch s.Peek() {
	case jsonscan.KindNumber:
		v, err := s.Number()
		if err != nil {
			return 0, err
		}
		n = v
	case jsonscan.KindString:
		b, err := s.String()
		if err != nil {
			return 0, err
		}
		v, err := jsonscan.ParseNumber(b)
		if err != nil {
			return 0, s.ErrorAt(at, "timestamp "+strconv.Quote(string(b))+" is not a number")
		}
		n = v
	default:
		return 0, s.Expected("a timestamp number")
	}
	t, ok := n.Scaled(f.cfg.scale)
	if !ok {
		return 0, s.ErrorAt(at, "timestamp "+string(n.Raw)+" is out of range")
	}
	return t, nil
}

// rows writes one row per entry of the timestamps list, taking its values
// from the entry of the values list at the same place.
func (f *Formatter) rows(tssOff, valsOff int) error {
	ts, vs := &f.ts, &f.vals
	ts.ResetAt(f.sc.Data(), tssOff)
	vs.ResetAt(f.sc.Data(), valsOff)
	if ts.Peek() != jsonscan.KindArray {
		return ts.Expected("the timestamps as an array")
	}
	if vs.Peek() != jsonscan.KindArray {
		return vs.Expected("the values as an array of arrays (one per timestamp)")
	}
	if err := ts.BeginArray(); err != nil {
		return err
	}
	if err := vs.BeginArray(); err != nil {
		return err
	}
	count := 0
	for {
		moreT, err := ts.NextElem()
		if err != nil {
			return err
		}
		moreV, err := vs.NextElem()
		if err != nil {
			return err
		}
		if moreT != moreV {
			what := "fewer"
			if moreV {
				what = "more"
			}
			return vs.ErrorAt(valsOff, "values has "+what+" entries than timestamps (one list of values per timestamp; "+strconv.Itoa(count)+" matched)")
		}
		if !moreT {
			return nil
		}
		t, err := f.time(ts)
		if err != nil {
			return err
		}
		if err := f.row(t); err != nil {
			return err
		}
		count++
	}
}

// row writes one row at time t with the values list at f.vals.
func (f *Formatter) row(t int64) error {
	vs := &f.vals
	if vs.Peek() != jsonscan.KindArray {
		return vs.Expected("the values as an array")
	}
	listAt := vs.Offset()
	if err := vs.BeginArray(); err != nil {
		return err
	}
	out := f.out
	out.Row(f.table)
	out.Time(t)
	if f.cfg.deviceColumn != "" {
		out.String(f.cfg.deviceColumn, f.name(f.device))
	}
	for i := 0; ; i++ {
		more, err := vs.NextElem()
		if err != nil {
			return err
		}
		if !more {
			if i != len(f.meas) {
				return vs.ErrorAt(listAt, "values has "+strconv.Itoa(i)+" entries, measurements "+strconv.Itoa(len(f.meas)))
			}
			return nil
		}
		if i >= len(f.meas) {
			return vs.ErrorAt(listAt, "values has more entries than the "+strconv.Itoa(len(f.meas))+" measurements")
		}
		dt := dtNone
		if len(f.types) > 0 {
			dt = f.types[i]
		}
		if err := f.value(f.name(f.meas[i]), dt); err != nil {
			return err
		}
	}
}

// value writes one value as column name, converted to its datatype.
func (f *Formatter) value(name string, dt dtype) error {
	vs, out := &f.vals, f.out
	at := vs.Offset()
	k := vs.Peek()
	if k == jsonscan.KindNull {
		out.Null(name)
		return vs.Null()
	}
	switch dt {
	case dtNone:
		switch k {
		case jsonscan.KindNumber:
			v, err := vs.Float()
			if err != nil {
				return err
			}
			out.Float(name, v)
		case jsonscan.KindString:
			s, err := vs.String()
			if err != nil {
				return err
			}
			out.StringBytes(name, s)
		case jsonscan.KindBool:
			b, err := vs.Bool()
			if err != nil {
				return err
			}
			out.Bool(name, b)
		default:
			return vs.Expected("a number, string, boolean or null for " + strconv.Quote(name))
		}
	case dtText:
		switch k {
		case jsonscan.KindString:
			s, err := vs.String()
			if err != nil {
				return err
			}
			out.StringBytes(name, s)
		case jsonscan.KindNumber, jsonscan.KindBool:
			raw, err := vs.Raw()
			if err != nil {
				return err
			}
			out.StringBytes(name, raw)
		default:
			return vs.Expected("a TEXT value for " + strconv.Quote(name))
		}
	case dtBool:
		switch k {
		case jsonscan.KindBool:
			b, err := vs.Bool()
			if err != nil {
				return err
			}
			out.Bool(name, b)
		case jsonscan.KindString:
			s, err := vs.String()
			if err != nil {
				return err
			}
			switch string(s) {
			case "true":
				out.Bool(name, true)
			case "false":
				out.Bool(name, false)
			default:
				return vs.ErrorAt(at, strconv.Quote(name)+": "+strconv.Quote(string(s))+" is not a BOOLEAN")
			}
		default:
			return vs.Expected("a BOOLEAN for " + strconv.Quote(name))
		}
	default: // numbers
		var n jsonscan.Number
		switch k {
		case jsonscan.KindNumber:
			v, err := vs.Number()
			if err != nil {
				return err
			}
			n = v
		case jsonscan.KindString:
			s, err := vs.String()
			if err != nil {
				return err
			}
			v, err := jsonscan.ParseNumber(s)
			if err != nil {
				return vs.ErrorAt(at, strconv.Quote(name)+": "+strconv.Quote(string(s))+" is not a number")
			}
			n = v
		default:
			return vs.Expected("a number for " + strconv.Quote(name))
		}
		if dt == dtFloat {
			v, ok := n.Float()
			if !ok {
				return vs.ErrorAt(at, strconv.Quote(name)+": "+string(n.Raw)+" is out of the DOUBLE range")
			}
			out.Float(name, v)
			return nil
		}
		v, ok := n.Int()
		if !ok || dt == dtInt32 && (v < -1<<31 || v > 1<<31-1) {
			what := "an INT64"
			if dt == dtInt32 {
				what = "an INT32"
			}
			return vs.ErrorAt(at, strconv.Quote(name)+": "+string(n.Raw)+" is not "+what)
		}
		out.Int(name, v)
	}
	return nil
}

// validTable reports whether name can be a table in the store (as
// rows.CheckTableName: letters, digits, '_' and '-' not first, at most
// 128 bytes), so that a bad name is refused here with its position.
func validTable(name []byte) bool {
	if len(name) == 0 || len(name) > 128 {
		return false
	}
	for i, c := range name {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' && i > 0) {
			return false
		}
	}
	return true
}
