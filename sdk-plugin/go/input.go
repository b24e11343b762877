package sdk

import "unsafe"

// Property is one MQTT 5 user property of the message.
type Property struct {
	Key   string
	Value string
}

// Option is one route option, in the order the route configuration lists it.
type Option struct {
	Key   string
	Value string
}

// Input is one message with its publish context and its route.
//
// The strings and the payload point into the input buffer the host wrote:
// they are valid only until the handler returns. Copy what must outlive the
// call.
type Input struct {
	Payload         []byte
	Topic           string
	ClientID        string
	Username        string
	ContentType     string
	QoS             uint8
	Retain          bool
	ProtocolVersion uint8 // 3, 4 (MQTT 3.1.1) or 5
	Received        int64 // unix nanoseconds, UTC
	Table           string
	UserProperties  []Property
	Options         []Option

	// CheckOnly is set when the host asks only to validate the route
	// (Table and Options); there is no payload.
	CheckOnly bool

	maxRows  uint32
	maxBytes uint32
	levels   []string
	split    bool
}

// Option returns the value of the first route option named key.
func (in *Input) Option(key string) (string, bool) {
	for i := range in.Options {
		if in.Options[i].Key == key {
			return in.Options[i].Value, true
		}
	}
	return "", false
}

// UserProperty returns the value of the first user property named key.
func (in *Input) UserProperty(key string) (string, bool) {
	for i := range in.UserProperties {
		if in.UserProperties[i].Key == key {
			return in.UserProperties[i].Value, true
		}
	}
	return "", false
}

// TopicLevels returns the topic split at '/'. The slice is reused by the
// next message.
func (in *Input) TopicLevels() []string {
	if in.split {
		return in.levels
	}
	in.split = true
	in.levels = in.levels[:0]
	t := in.Topic
	start := 0
	for i := 0; i < len(t); i++ {
		if t[i] == '/' {
			in.levels = append(in.levels, t[start:i])
			start = i + 1
		}
	}
	in.levels = append(in.levels, t[start:])
	return in.levels
}

// TopicLevel returns topic level i (0-based), or "" if the topic has fewer levels.
func (in *Input) TopicLevel(i int) string {
	l := in.TopicLevels()
	if i < 0 || i >= len(l) {
		return ""
	}
	return l[i]
}

// inputError is returned by decode for input the host should never send.
type inputError string

func (e inputError) Error() string { return "sdk: bad input encoding: " + string(e) }

// decode fills in from one ABI-encoded input, reusing its slices.
func (in *Input) decode(b []byte) error {
	if len(b) < InputHeaderSize {
		return inputError("short header")
	}
	if b[0] != ABIVersion {
		return inputError("unknown input version")
	}
	flags := b[1]
	in.Retain = flags&FlagRetain != 0
	in.CheckOnly = flags&FlagCheckRoute != 0
	in.QoS = b[2]
	in.ProtocolVersion = b[3]
	in.Received = int64(le64(b[4:]))
	in.maxRows = le32(b[12:])
	in.maxBytes = le32(b[16:])
	in.split = false
	d := decoder{b: b, off: InputHeaderSize}
	in.Topic = d.str()
	in.ClientID = d.str()
	in.Username = d.str()
	in.ContentType = d.str()
	n := d.count(8)
	in.UserProperties = in.UserProperties[:0]
	for i := 0; i < n; i++ {
		k := d.str()
		in.UserProperties = append(in.UserProperties, Property{Key: k, Value: d.str()})
	}
	in.Table = d.str()
	n = d.count(8)
	in.Options = in.Options[:0]
	for i := 0; i < n; i++ {
		k := d.str()
		in.Options = append(in.Options, Option{Key: k, Value: d.str()})
	}
	in.Payload = d.bytes()
	if d.bad {
		return inputError("truncated")
	}
	if d.off != len(b) {
		return inputError("trailing bytes")
	}
	return nil
}

type decoder struct {
	b   []byte
	off int
	bad bool
}

func (d *decoder) u32() uint32 {
	if d.bad || len(d.b)-d.off < 4 {
		d.bad = true
		return 0
	}
	v := le32(d.b[d.off:])
	d.off += 4
	return v
}

// count reads a list length and checks that the list can fit, each entry
// taking at least min bytes.
func (d *decoder) count(min int) int {
	n := d.u32()
	if uint64(n)*uint64(min) > uint64(len(d.b)-d.off) {
		d.bad = true
		return 0
	}
	return int(n)
}

func (d *decoder) bytes() []byte {
	n := d.u32()
	if d.bad || uint64(n) > uint64(len(d.b)-d.off) {
		d.bad = true
		return nil
	}
	v := d.b[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return v
}

func (d *decoder) str() string { return unsafeString(d.bytes()) }

func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
