// Package format is the logic of lakegate's built-in JSON formatter: it
// turns a JSON payload into rows through the plugin SDK. The guest program
// in ../guest registers it; keeping it in a plain package lets it be tested,
// fuzzed and benchmarked natively.
//
// The accepted payloads, route options and output are described in
// formatters/json/README.md.
package format

import (
	"strconv"

	sdk "github.com/lakegate/lakegate/sdk-plugin/go"
	"github.com/lakegate/lakegate/sdk-plugin/go/jsonscan"
	"github.com/lakegate/lakegate/sdk-plugin/go/timeparse"
)

// Route option keys.
const (
	OptTimeField  = "time_field"
	OptTimeFormat = "time_format"
	OptColumns    = "columns"
	OptTypePrefix = "type."
)

// DefaultColumns names the values of positional rows when the route sets
// no columns option (Machbase tag table order).
const DefaultColumns = "name,time,value"

// noTimeField, as time_field, turns time extraction off.
const noTimeField = "-"

// config is a route's options, parsed for one message. Strings alias the input.
type config struct {
	timeField  string // "" = auto (ts, time, timestamp)
	noTime     bool
	unit       timeparse.Unit
	columnsRaw string
	columns    []string // columnsRaw split, once split is set
	split      bool
	hasTypes   bool
	options    []sdk.Option
}

// Formatter holds the buffers reused from message to message. The zero
// value is ready; it is not safe for concurrent use.
type Formatter struct {
	cfg     config
	sc      jsonscan.Scanner // the payload
	aux     jsonscan.Scanner // look-ahead and re-reads
	out     *sdk.Output
	name    []byte // flattened column name
	arena   []byte // Machbase column names
	mbCols  []string
	mbEnds  []int
	timeKey []byte // key of the auto time field chosen so far in this row
	tmpKey  []byte
	// per object row
	timeRank  int // rank of the auto time field chosen so far, -1 if none
	timeStart int // its value's offset
	timeSeen  bool
	noFast    bool // tests: always take the general path
}

// Check validates a route's options; the gateway calls it at start.
func Check(in *sdk.Input) error {
	var c config
	return c.parse(in.Options, true)
}

// Handle formats one message.
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
		return sc.ErrorAt(start, "empty payload, expected a JSON object or array")
	}
	for !sc.AtEnd() {
		if err := f.document(); err != nil {
			return err
		}
	}
	return nil
}

// document reads one top-level value.
func (f *Formatter) document() error {
	sc := &f.sc
	switch k := sc.Peek(); k {
	case jsonscan.KindObject:
		if mayBeMachbase(sc.Data(), sc.Offset()) {
			if ok, err := f.machbase(); ok || err != nil {
				return err
			}
		}
		if f.fastRow() {
			return nil
		}
		return f.objectRow(sc)
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
				return nil
			}
			switch k := sc.Peek(); k {
			case jsonscan.KindObject:
				if !f.fastRow() {
					err = f.objectRow(sc)
				}
			case jsonscan.KindArray:
				cols := f.cfg.cols()
				err = f.positionalRow(sc, cols, f.cfg.timeIndex(cols))
			default:
				err = sc.Expected("an object or an array as a row")
			}
			if err != nil {
				return err
			}
		}
	default:
		return sc.Expected("a JSON object or array")
	}
}

// objectRow reads one object as one row, flattening nested objects.
func (f *Formatter) objectRow(sc *jsonscan.Scanner) error {
	if err := sc.BeginObject(); err != nil {
		return err
	}
	f.out.Row("")
	f.timeRank, f.timeSeen = -1, false
	return f.members(sc, 0, true)
}

// members reads the members of an open object. Nested objects are
// flattened: their column names start with f.name[:prefix] (prefix > 0),
// top-level names are the keys themselves.
func (f *Formatter) members(sc *jsonscan.Scanner, prefix int, top bool) error {
	for {
		key, ok, err := sc.NextKey()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		if len(key) == 0 {
			return sc.ErrorAt(sc.Offset(), "empty object key")
		}
		var name string
		if prefix > 0 {
			f.name = appendShort(f.name[:prefix], key)
			name = jsonscan.UnsafeString(f.name)
		} else {
			name = jsonscan.UnsafeString(key)
		}
		if top && f.cfg.timeCandidate(len(name)) {
			done, err := f.topTime(sc, name)
			if err != nil {
				return err
			}
			if done {
				continue
			}
		}
		if err := f.value(sc, name, prefix > 0); err != nil {
			return err
		}
	}
}

// appendShort appends b to dst, copying short slices by hand (calls to
// memmove cost more than the copy in wasm).
func appendShort(dst, b []byte) []byte {
	if len(b) > 32 {
		return append(dst, b...)
	}
	for _, c := range b {
		dst = append(dst, c)
	}
	return dst
}

// topTime handles a top-level member that may be the row's time. It
// reports whether it consumed the value.
func (f *Formatter) topTime(sc *jsonscan.Scanner, name string) (bool, error) {
	c := &f.cfg
	if c.timeField != "" {
		if name != c.timeField {
			return false, nil
		}
		if f.timeSeen {
			return true, sc.ErrorAt(sc.Offset(), "time field "+strconv.Quote(c.timeField)+" appears twice")
		}
		f.timeSeen = true
		return true, f.readTime(sc, name)
	}
	rank := autoRank(name)
	if rank < 0 || (f.timeRank >= 0 && f.timeRank <= rank) {
		return false, nil // not a candidate, or a better one is the time already
	}
	sc.Peek()
	start := sc.Offset()
	if err := f.readTime(sc, name); err != nil {
		return true, err
	}
	f.tmpKey = append(f.tmpKey[:0], name...)
	if f.timeRank >= 0 {
		// The candidate chosen before is an ordinary column after all.
		f.aux.ResetAt(sc.Data(), f.timeStart)
		if err := f.value(&f.aux, jsonscan.UnsafeString(f.timeKey), false); err != nil {
			return true, err
		}
	}
	f.timeKey, f.tmpKey = f.tmpKey, f.timeKey
	f.timeRank, f.timeStart = rank, start
	return true, nil
}

// autoRank returns the priority of a default time field name: ts, time,
// timestamp (any letter case), or -1.
func autoRank(name string) int {
	switch len(name) {
	case 2:
		if eqFold(name, "ts") {
			return 0
		}
	case 4:
		if eqFold(name, "time") {
			return 1
		}
	case 9:
		if eqFold(name, "timestamp") {
			return 2
		}
	}
	return -1
}

// eqFold compares s with the lower-case ASCII word w, ignoring case.
func eqFold(s, w string) bool {
	if len(s) != len(w) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != w[i] {
			return false
		}
	}
	return true
}

// readTime reads the value of the time field and sets the row's time.
// null leaves the row without a time of its own.
func (f *Formatter) readTime(sc *jsonscan.Scanner, name string) error {
	k := sc.Peek()
	off := sc.Offset()
	switch k {
	case jsonscan.KindNumber:
		n, err := sc.Number()
		if err != nil {
			return err
		}
		ns, msg := timeparse.FromNumber(n, f.cfg.unit)
		if msg != "" {
			return sc.ErrorAt(off, "time field "+strconv.Quote(name)+": "+msg)
		}
		f.out.Time(ns)
	case jsonscan.KindString:
		s, err := sc.String()
		if err != nil {
			return err
		}
		ns, msg := timeparse.FromText(s, f.cfg.unit)
		if msg != "" {
			return sc.ErrorAt(off, "time field "+strconv.Quote(name)+": "+msg)
		}
		f.out.Time(ns)
	case jsonscan.KindNull:
		f.out.ClearTime()
		return sc.Null()
	default:
		return sc.Expected("a number or a string for time field " + strconv.Quote(name))
	}
	return nil
}

// positionalRow reads one array as one row whose values are named by cols;
// the value at timeIdx (if >= 0) is the row's time.
func (f *Formatter) positionalRow(sc *jsonscan.Scanner, cols []string, timeIdx int) error {
	start := sc.Offset()
	if err := sc.BeginArray(); err != nil {
		return err
	}
	f.out.Row("")
	i := 0
	for ; ; i++ {
		more, err := sc.NextElem()
		if err != nil {
			return err
		}
		if !more {
			break
		}
		if i >= len(cols) {
			return sc.ErrorAt(sc.Offset(), "row has more values than the "+strconv.Itoa(len(cols))+" columns ("+joinCols(cols)+")")
		}
		if i == timeIdx {
			err = f.readTime(sc, cols[i])
		} else {
			err = f.value(sc, cols[i], false)
		}
		if err != nil {
			return err
		}
	}
	if i < len(cols) {
		return sc.ErrorAt(start, "row has "+strconv.Itoa(i)+" values, expected "+strconv.Itoa(len(cols))+" ("+joinCols(cols)+")")
	}
	return nil
}

func joinCols(cols []string) string {
	s := ""
	for i, c := range cols {
		if i > 0 {
			s += ","
		}
		s += c
	}
	return s
}

// value reads one value into the column name. inBuf says that name is
// f.name (a flattened name) rather than a key or a configured name.
// keepName returns name where reading a nested value cannot overwrite it:
// a top-level key with escapes lives in the scanner's key buffer, which
// the keys inside the value reuse. Names already in f.name (inBuf) are safe.
func (f *Formatter) keepName(name string, inBuf bool) string {
	if inBuf {
		return name
	}
	f.name = append(f.name[:0], name...)
	return jsonscan.UnsafeString(f.name)
}

func (f *Formatter) value(sc *jsonscan.Scanner, name string, inBuf bool) error {
	var typ sdk.Kind
	typed := false
	if f.cfg.hasTypes {
		typ, typed = f.cfg.typeOf(name)
	}
	out := f.out
	k := sc.Peek()
	off := sc.Offset()
	switch k {
	case jsonscan.KindNumber:
		if !typed || typ == sdk.KindFloat64 {
			v, err := sc.Float()
			if err != nil {
				return err
			}
			out.Float(name, v)
			return nil
		}
		n, err := sc.Number()
		if err != nil {
			return err
		}
		return f.convertNumber(sc, off, name, n, typ)
	case jsonscan.KindString:
		s, err := sc.String()
		if err != nil {
			return err
		}
		if !typed || typ == sdk.KindString {
			out.StringBytes(name, s)
			return nil
		}
		return f.convertString(sc, off, name, s, typ)
	case jsonscan.KindObject:
		if typed {
			if typ != sdk.KindString {
				return sc.ErrorAt(off, cannot(name, "an object", typ))
			}
			name = f.keepName(name, inBuf)
			raw, err := sc.Raw()
			if err != nil {
				return err
			}
			out.StringBytes(name, raw)
			return nil
		}
		if err := sc.BeginObject(); err != nil {
			return err
		}
		if !inBuf {
			f.name = append(f.name[:0], name...)
		}
		f.name = append(f.name, '.')
		return f.members(sc, len(f.name), false)
	case jsonscan.KindArray:
		if typed && typ != sdk.KindString {
			return sc.ErrorAt(off, cannot(name, "an array", typ))
		}
		name = f.keepName(name, inBuf)
		raw, err := sc.Raw()
		if err != nil {
			return err
		}
		out.StringBytes(name, raw)
	case jsonscan.KindBool:
		b, err := sc.Bool()
		if err != nil {
			return err
		}
		switch {
		case !typed || typ == sdk.KindBool:
			out.Bool(name, b)
		case typ == sdk.KindString:
			if b {
				out.String(name, "true")
			} else {
				out.String(name, "false")
			}
		default:
			return sc.ErrorAt(off, cannot(name, "a bool", typ))
		}
	case jsonscan.KindNull:
		if err := sc.Null(); err != nil {
			return err
		}
		out.Null(name)
	default:
		return sc.Skip() // reports what was expected
	}
	return nil
}

func (f *Formatter) convertString(sc *jsonscan.Scanner, off int, name string, s []byte, typ sdk.Kind) error {
	switch typ {
	case sdk.KindInt64, sdk.KindFloat64:
		n, err := jsonscan.ParseNumber(s)
		if err != nil {
			return sc.ErrorAt(off, "column "+strconv.Quote(name)+": string "+strconv.Quote(string(s))+" is not a number")
		}
		return f.convertNumber(sc, off, name, n, typ)
	case sdk.KindBool:
		switch string(s) {
		case "true":
			f.out.Bool(name, true)
		case "false":
			f.out.Bool(name, false)
		default:
			return sc.ErrorAt(off, "column "+strconv.Quote(name)+": string "+strconv.Quote(string(s))+" is not true or false")
		}
	case sdk.KindTimestamp:
		ns, msg := timeparse.FromText(s, f.cfg.unit)
		if msg != "" {
			return sc.ErrorAt(off, "column "+strconv.Quote(name)+": "+msg)
		}
		f.out.Timestamp(name, ns)
	}
	return nil
}

func (f *Formatter) convertNumber(sc *jsonscan.Scanner, off int, name string, n jsonscan.Number, typ sdk.Kind) error {
	switch typ {
	case sdk.KindInt64:
		v, ok := n.Int()
		if !ok {
			return sc.ErrorAt(off, "column "+strconv.Quote(name)+": "+string(n.Raw)+" is not an int64")
		}
		f.out.Int(name, v)
	case sdk.KindFloat64:
		v, ok := n.Float()
		if !ok {
			return sc.ErrorAt(off, "column "+strconv.Quote(name)+": number "+string(n.Raw)+" is out of the float64 range")
		}
		f.out.Float(name, v)
	case sdk.KindString:
		f.out.StringBytes(name, n.Raw)
	case sdk.KindTimestamp:
		ns, msg := timeparse.FromNumber(n, f.cfg.unit)
		if msg != "" {
			return sc.ErrorAt(off, "column "+strconv.Quote(name)+": "+msg)
		}
		f.out.Timestamp(name, ns)
	default:
		return sc.ErrorAt(off, cannot(name, "a number", typ))
	}
	return nil
}

func cannot(name, what string, typ sdk.Kind) string {
	return "column " + strconv.Quote(name) + ": cannot store " + what + " as " + kindName(typ)
}

func kindName(k sdk.Kind) string {
	switch k {
	case sdk.KindInt64:
		return "int64"
	case sdk.KindFloat64:
		return "float64"
	case sdk.KindBool:
		return "bool"
	case sdk.KindString:
		return "string"
	case sdk.KindTimestamp:
		return "timestamp"
	}
	return "kind " + strconv.Itoa(int(k))
}

// mayBeMachbase is a quick test for machbase: whether the object at i
// starts with the key "data".
func mayBeMachbase(data []byte, i int) bool {
	for i++; i < len(data) && isSpace(data[i]); i++ {
	}
	return len(data)-i >= 6 && string(data[i:i+6]) == `"data"`
}

// machbase handles the Machbase Neo write form
// {"data":{"columns":[...],"rows":[[...],...]}}. It reports false, leaving
// the scanner where it was, if the object at hand is not of that form.
func (f *Formatter) machbase() (bool, error) {
	sc := &f.sc
	data := sc.Data()
	la := &f.aux
	la.ResetAt(data, sc.Offset())
	if la.BeginObject() != nil {
		return false, nil
	}
	key, ok, err := la.NextKey()
	if err != nil || !ok || string(key) != "data" || la.Peek() != jsonscan.KindObject {
		return false, nil
	}
	if la.BeginObject() != nil {
		return false, nil
	}
	colsAt, rowsAt := -1, -1
	for {
		key, ok, err := la.NextKey()
		if err != nil {
			return false, nil
		}
		if !ok {
			break
		}
		k := la.Peek()
		switch {
		case string(key) == "columns" && k == jsonscan.KindArray:
			colsAt = la.Offset()
		case string(key) == "rows" && k == jsonscan.KindArray:
			rowsAt = la.Offset()
		}
		if la.Skip() != nil {
			return false, nil
		}
	}
	if rowsAt < 0 {
		return false, nil
	}
	if _, more, err := la.NextKey(); err != nil || more {
		return false, nil // other members beside "data": an ordinary row
	}
	end := la.Offset()

	var cols []string
	if colsAt >= 0 {
		var err error
		if cols, err = f.machbaseColumns(colsAt); err != nil {
			return true, err
		}
	} else {
		cols = f.cfg.cols()
	}
	timeIdx := f.cfg.timeIndex(cols)
	sc.ResetAt(data, rowsAt)
	if err := sc.BeginArray(); err != nil {
		return true, err
	}
	for {
		more, err := sc.NextElem()
		if err != nil {
			return true, err
		}
		if !more {
			break
		}
		if k := sc.Peek(); k != jsonscan.KindArray {
			return true, sc.Expected("an array per row in data.rows")
		}
		if err := f.positionalRow(sc, cols, timeIdx); err != nil {
			return true, err
		}
	}
	sc.ResetAt(data, end)
	return true, nil
}

// machbaseColumns reads the column names array at offset at.
func (f *Formatter) machbaseColumns(at int) ([]string, error) {
	la := &f.aux
	la.ResetAt(la.Data(), at)
	if err := la.BeginArray(); err != nil {
		return nil, err
	}
	f.arena, f.mbEnds = f.arena[:0], f.mbEnds[:0]
	for {
		more, err := la.NextElem()
		if err != nil {
			return nil, err
		}
		if !more {
			break
		}
		if k := la.Peek(); k != jsonscan.KindString {
			return nil, la.Expected("column name strings in data.columns")
		}
		off := la.Offset()
		s, err := la.String()
		if err != nil {
			return nil, err
		}
		if len(s) == 0 {
			return nil, la.ErrorAt(off, "data.columns: empty column name")
		}
		f.arena = append(f.arena, s...)
		f.mbEnds = append(f.mbEnds, len(f.arena))
	}
	f.mbCols = f.mbCols[:0]
	start := 0
	for _, end := range f.mbEnds {
		f.mbCols = append(f.mbCols, jsonscan.UnsafeString(f.arena[start:end]))
		start = end
	}
	return f.mbCols, nil
}
