//! A port of sdk-plugin/go/timeparse: RFC 3339 by hand and numbers in a unit.

use crate::quote::quote;
use crate::scan::{bstr, parse_number, Number};

/// How a time value is read (the time_format option).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Unit {
    Auto,
    S,
    MS,
    US,
    NS,
    RFC3339,
}

pub fn parse_unit(s: &str) -> Option<Unit> {
    Some(match s {
        "auto" | "" => Unit::Auto,
        "s" => Unit::S,
        "ms" => Unit::MS,
        "us" => Unit::US,
        "ns" => Unit::NS,
        "rfc3339" => Unit::RFC3339,
        _ => return None,
    })
}

/// A number in unit u as unix nanoseconds, or the payload's error message.
pub fn from_number(n: &Number, u: Unit) -> Result<i64, String> {
    let scale = match u {
        Unit::S => 9,
        Unit::MS => 6,
        Unit::US => 3,
        Unit::NS => 0,
        Unit::RFC3339 => {
            return Err("expected an RFC 3339 string (time_format rfc3339), found a number".into());
        }
        Unit::Auto => {
            let v = match n.float() {
                Some(v) => v.abs(),
                None => return Err(format!("time {} is out of range", bstr(n.raw))),
            };
            if v < 1e11 {
                9
            } else if v < 1e14 {
                6
            } else if v < 1e17 {
                3
            } else {
                0
            }
        }
    };
    n.scaled(scale).ok_or_else(|| format!("time {} is out of range", bstr(n.raw)))
}

/// A time text as unix nanoseconds: RFC 3339, or else a number in unit u.
pub fn from_text(s: &[u8], u: Unit) -> Result<i64, String> {
    if let Some(ns) = rfc3339(s) {
        return Ok(ns);
    }
    if u == Unit::RFC3339 {
        return Err(format!("{} is not an RFC 3339 time", quote(s)));
    }
    match parse_number(s) {
        Some(n) => from_number(&n, u),
        None => Err(format!("{} is neither an RFC 3339 time nor a number", quote(s))),
    }
}

fn digits(b: &[u8]) -> Option<i64> {
    let mut n = 0i64;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + (c - b'0') as i64;
    }
    Some(n)
}

fn days_in(year: i64, month: i64) -> i64 {
    match month {
        2 => {
            if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) {
                29
            } else {
                28
            }
        }
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn days_from_civil(mut y: i64, m: i64, d: i64) -> i64 {
    if m <= 2 {
        y -= 1;
    }
    let mut era = y / 400;
    if y < 0 && y % 400 != 0 {
        era -= 1;
    }
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Parses an RFC 3339 date-time into unix nanoseconds.
pub fn rfc3339(s: &[u8]) -> Option<i64> {
    if s.len() < 20 || s[4] != b'-' || s[7] != b'-' || s[13] != b':' || s[16] != b':' {
        return None;
    }
    let c = s[10];
    if c != b'T' && c != b't' && c != b' ' {
        return None;
    }
    let year = digits(&s[0..4])?;
    let month = digits(&s[5..7])?;
    let day = digits(&s[8..10])?;
    let hour = digits(&s[11..13])?;
    let min = digits(&s[14..16])?;
    let sec = digits(&s[17..19])?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in(year, month) || hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    let mut i = 19;
    let mut frac: i64 = 0;
    if s[i] == b'.' {
        i += 1;
        let start = i;
        let mut scale: i64 = 100000000;
        while i < s.len() && s[i].is_ascii_digit() {
            frac += (s[i] - b'0') as i64 * scale;
            scale /= 10;
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    if i >= s.len() {
        return None;
    }
    let mut offset: i64 = 0;
    match s[i] {
        b'Z' | b'z' => i += 1,
        b'+' | b'-' => {
            if s.len() - i != 6 || s[i + 3] != b':' {
                return None;
            }
            let oh = digits(&s[i + 1..i + 3])?;
            let om = digits(&s[i + 4..i + 6])?;
            if oh > 23 || om > 59 {
                return None;
            }
            offset = oh * 3600 + om * 60;
            if s[i] == b'-' {
                offset = -offset;
            }
            i += 6;
        }
        _ => return None,
    }
    if i != s.len() {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86400 + (hour * 3600 + min * 60 + sec) - offset;
    const MAX_SECS: i64 = 9223372036;
    if secs > MAX_SECS || secs < -MAX_SECS || secs == MAX_SECS && frac > 854775807 {
        return None;
    }
    Some(secs * 1_000_000_000 + frac)
}
