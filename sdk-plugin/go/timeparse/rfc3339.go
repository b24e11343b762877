// Package timeparse parses the time texts device payloads carry, for
// formatter plugins: RFC 3339 without the time package, whose size would
// weigh on every wasm module that uses it.
package timeparse

// RFC3339 parses an RFC 3339 date-time ("2024-01-15T04:10:59.5Z",
// "2024-01-15 04:10:59+09:00") into unix nanoseconds without the time
// package, which would add much to the wasm module. 'T' may be 't' or ' ',
// 'Z' may be 'z'; the fraction may have any number of digits (beyond
// nanoseconds they are dropped). ok is false for anything else, including
// dates outside the int64 nanosecond range (years 1678 to 2261).
func RFC3339(s []byte) (ns int64, ok bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	if c := s[10]; c != 'T' && c != 't' && c != ' ' {
		return 0, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	min, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return 0, false
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || min > 59 || sec > 59 {
		return 0, false
	}
	i := 19
	var frac int64
	if s[i] == '.' {
		i++
		start := i
		scale := int64(100000000)
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			frac += int64(s[i]-'0') * scale
			scale /= 10
		}
		if i == start {
			return 0, false
		}
	}
	if i >= len(s) {
		return 0, false
	}
	var offset int64
	switch s[i] {
	case 'Z', 'z':
		i++
	case '+', '-':
		if len(s)-i != 6 || s[i+3] != ':' {
			return 0, false
		}
		oh, ok1 := digits(s[i+1 : i+3])
		om, ok2 := digits(s[i+4 : i+6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return 0, false
		}
		offset = int64(oh*3600 + om*60)
		if s[i] == '-' {
			offset = -offset
		}
		i += 6
	default:
		return 0, false
	}
	if i != len(s) {
		return 0, false
	}
	secs := daysFromCivil(year, month, day)*86400 + int64(hour*3600+min*60+sec) - offset
	// The int64 nanosecond range: 1677-09-21T00:12:43.145224192Z to
	// 2262-04-11T23:47:16.854775807Z.
	const maxSecs = 9223372036
	if secs > maxSecs || secs < -maxSecs || secs == maxSecs && frac > 854775807 {
		return 0, false
	}
	return secs*1e9 + frac, true
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian
// date (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}
