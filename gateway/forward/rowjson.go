package forward

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"
	"time"

	"github.com/lakegate/lakegate/arrowstore/rows"
)

// RowJSON renders one row as the JSON object forwarded for it: the time
// first, under timeKey, as an RFC 3339 UTC string with nanoseconds (which
// lakegate's json formatter, and most others, read back exactly), then the
// columns in their order. int64 and float64 are JSON numbers, a float64
// always with a '.' or an exponent (NaN and infinities, which JSON lacks,
// become strings), timestamps RFC 3339
// strings, bytes base64 strings, nulls null. A column named like timeKey
// is left out: the row's time is the one that counts.
func RowJSON(dst []byte, r rows.Row, timeKey string) []byte {
	dst = append(dst, '{')
	dst = appendJSONString(dst, timeKey)
	dst = append(dst, ':')
	dst = appendTime(dst, r.Time)
	for _, c := range r.Columns {
		if c.Name == timeKey {
			continue
		}
		dst = append(dst, ',')
		dst = appendJSONString(dst, c.Name)
		dst = append(dst, ':')
		v := c.Value
		switch v.Kind {
		case rows.KindInt64:
			dst = strconv.AppendInt(dst, v.Int, 10)
		case rows.KindFloat64:
			if math.IsNaN(v.Float) || math.IsInf(v.Float, 0) {
				dst = appendJSONString(dst, strconv.FormatFloat(v.Float, 'g', -1, 64))
			} else {
				start := len(dst)
				dst = strconv.AppendFloat(dst, v.Float, 'g', -1, 64)
				if !bytes.ContainsAny(dst[start:], ".e") {
					dst = append(dst, ".0"...) // stays a float for a reader that infers types
				}
			}
		case rows.KindBool:
			dst = strconv.AppendBool(dst, v.AsBool())
		case rows.KindString:
			dst = appendJSONString(dst, v.Str)
		case rows.KindBytes:
			dst = appendJSONString(dst, base64.StdEncoding.EncodeToString(v.Bytes))
		case rows.KindTimestamp:
			dst = appendTime(dst, v.Int)
		default:
			dst = append(dst, "null"...)
		}
	}
	return append(dst, '}')
}

func appendTime(dst []byte, ns int64) []byte {
	dst = append(dst, '"')
	dst = time.Unix(0, ns).UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(dst, b...)
}
