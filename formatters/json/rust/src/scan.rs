//! A pull reader for JSON: a port of sdk-plugin/go/jsonscan with the same
//! acceptance and the same error texts (positions, wording).

use crate::quote::quote_byte;

/// A positioned error: "line L col C: message".
#[derive(Debug)]
pub struct JErr(pub String);

/// The error for byte offset `off` of `data` (clamped to the input).
#[cold]
#[inline(never)]
pub fn err_at(data: &[u8], off: usize, msg: &str) -> JErr {
    let off = off.min(data.len());
    let (line, col) = line_col(data, off);
    JErr(format!("line {} col {}: {}", line, col, msg))
}

fn line_col(data: &[u8], off: usize) -> (usize, usize) {
    let mut line = 1;
    let mut line_start = 0;
    for (i, &c) in data[..off].iter().enumerate() {
        if c == b'\n' {
            line += 1;
            line_start = i + 1;
        }
    }
    (line, off - line_start + 1)
}

fn where_(data: &[u8], off: usize) -> String {
    let (line, col) = line_col(data, off);
    format!("line {} col {}", line, col)
}

pub type R<T> = Result<T, JErr>;

/// The kind of the next value.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    End,
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
    Invalid,
}

#[inline(always)]
fn kind_of(c: u8) -> Kind {
    match c {
        b'{' => Kind::Object,
        b'[' => Kind::Array,
        b'"' => Kind::String,
        b'-' | b'0'..=b'9' => Kind::Number,
        b't' | b'f' => Kind::Bool,
        b'n' => Kind::Null,
        _ => Kind::Invalid,
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::End => "end of input",
        Kind::Object => "object",
        Kind::Array => "array",
        Kind::String => "string",
        Kind::Number => "number",
        Kind::Bool => "bool",
        Kind::Null => "null",
        Kind::Invalid => "invalid",
    }
}

const MAX_DEPTH: usize = 128;
const IN_ARRAY: u8 = 1;
const HAS_ELEMS: u8 = 2;

#[inline(always)]
pub fn is_space(c: u8) -> bool {
    c == b' ' || c == b'\n' || c == b'\r' || c == b'\t'
}

fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Skips the bytes from data[i] on that need no attention in a string:
/// printable ASCII other than '"' and '\\', eight at a time. It returns
/// the offset of the first group of eight that holds another byte (or of
/// the last bytes, fewer than eight), for the byte loops to go on from.
#[inline(always)]
pub fn skip_plain(data: &[u8], mut i: usize) -> usize {
    while i + 8 <= data.len() {
        let w = u64::from_le_bytes([
            data[i],
            data[i + 1],
            data[i + 2],
            data[i + 3],
            data[i + 4],
            data[i + 5],
            data[i + 6],
            data[i + 7],
        ]);
        let q = w ^ (LO * b'"' as u64);
        let b = w ^ (LO * b'\\' as u64);
        // A zero byte in q or b, a byte below 0x20 or one from 0x80 on.
        let special = (q.wrapping_sub(LO) & !q) | (b.wrapping_sub(LO) & !b) | (w.wrapping_sub(LO * 0x20) & !w) | w;
        if special & HI != 0 {
            break;
        }
        i += 8;
    }
    i
}

/// Reads JSON values from a byte slice.
pub struct Scanner<'a> {
    pub data: &'a [u8],
    pub pos: usize,
    stack: [u8; MAX_DEPTH],
    depth: usize,
    str_buf: Vec<u8>,
}

impl<'a> Scanner<'a> {
    pub fn new(data: &'a [u8], off: usize) -> Scanner<'a> {
        Scanner { data, pos: off, stack: [0; MAX_DEPTH], depth: 0, str_buf: Vec::new() }
    }

    /// Restarts at byte offset off with no open containers.
    pub fn reset_at(&mut self, off: usize) {
        self.pos = off;
        self.depth = 0;
    }

    #[inline(always)]
    fn skip_space(&mut self) {
        let d = self.data;
        while self.pos < d.len() && is_space(d[self.pos]) {
            self.pos += 1;
        }
    }

    #[inline]
    pub fn peek(&mut self) -> Kind {
        self.skip_space();
        if self.pos >= self.data.len() {
            return Kind::End;
        }
        kind_of(self.data[self.pos])
    }

    pub fn at_end(&mut self) -> bool {
        self.peek() == Kind::End
    }

    fn push(&mut self, flags: u8) -> R<()> {
        if self.depth >= MAX_DEPTH {
            return Err(err_at(self.data, self.pos, "nesting deeper than 128"));
        }
        self.stack[self.depth] = flags;
        self.depth += 1;
        Ok(())
    }

    pub fn begin_object(&mut self) -> R<()> {
        self.skip_space();
        if self.pos >= self.data.len() || self.data[self.pos] != b'{' {
            return Err(self.expected("'{'"));
        }
        self.push(0)?;
        self.pos += 1;
        Ok(())
    }

    /// Moves to the next member of the innermost object: its key (decoded
    /// into kb when it has escapes), or None once the '}' is consumed.
    #[inline(always)]
    pub fn next_key<'k>(&mut self, kb: &'k mut Vec<u8>) -> R<Option<&'k [u8]>>
    where
        'a: 'k,
    {
        if self.depth == 0 || self.stack[self.depth - 1] & IN_ARRAY != 0 {
            return Err(err_at(self.data, self.pos, "NextKey called outside an object"));
        }
        let top = self.depth - 1;
        self.skip_space();
        let data = self.data;
        if self.pos >= data.len() {
            return Err(err_at(data, self.pos, "unexpected end of input, expected '}'"));
        }
        let c = data[self.pos];
        if self.stack[top] & HAS_ELEMS != 0 {
            match c {
                b'}' => {
                    self.pos += 1;
                    self.depth = top;
                    return Ok(None);
                }
                b',' => {
                    self.pos += 1;
                    self.skip_space();
                    if self.pos >= data.len() || data[self.pos] != b'"' {
                        return Err(self.expected("object key string after ','"));
                    }
                }
                _ => return Err(self.expected("',' or '}' after object member")),
            }
        } else {
            if c == b'}' {
                self.pos += 1;
                self.depth = top;
                return Ok(None);
            }
            if c != b'"' {
                return Err(self.expected("object key string or '}'"));
            }
            self.stack[top] |= HAS_ELEMS;
        }
        // A plain ASCII key followed directly by ':'.
        let start = self.pos + 1;
        let mut i = skip_plain(data, start);
        while i < data.len() {
            let c = data[i];
            if c == b'"' {
                if i + 1 < data.len() && data[i + 1] == b':' {
                    self.pos = i + 2;
                    return Ok(Some(&data[start..i]));
                }
                break;
            }
            if c == b'\\' || c < 0x20 || c >= 0x80 {
                break;
            }
            i += 1;
        }
        let key = read_string(data, &mut self.pos, kb)?;
        self.skip_space();
        if self.pos >= data.len() || data[self.pos] != b':' {
            return Err(self.expected("':' after object key"));
        }
        self.pos += 1;
        Ok(Some(key))
    }

    pub fn begin_array(&mut self) -> R<()> {
        self.skip_space();
        if self.pos >= self.data.len() || self.data[self.pos] != b'[' {
            return Err(self.expected("'['"));
        }
        self.push(IN_ARRAY)?;
        self.pos += 1;
        Ok(())
    }

    pub fn next_elem(&mut self) -> R<bool> {
        if self.depth == 0 || self.stack[self.depth - 1] & IN_ARRAY == 0 {
            return Err(err_at(self.data, self.pos, "NextElem called outside an array"));
        }
        let top = self.depth - 1;
        self.skip_space();
        let data = self.data;
        if self.pos >= data.len() {
            return Err(err_at(data, self.pos, "unexpected end of input, expected ']'"));
        }
        let c = data[self.pos];
        if self.stack[top] & HAS_ELEMS != 0 {
            return match c {
                b']' => {
                    self.pos += 1;
                    self.depth = top;
                    Ok(false)
                }
                b',' => {
                    self.pos += 1;
                    self.skip_space();
                    if self.pos >= data.len() || data[self.pos] == b']' {
                        return Err(self.expected("a value after ','"));
                    }
                    Ok(true)
                }
                _ => Err(self.expected("',' or ']' after array element")),
            };
        }
        if c == b']' {
            self.pos += 1;
            self.depth = top;
            return Ok(false);
        }
        self.stack[top] |= HAS_ELEMS;
        Ok(true)
    }

    /// Reads a string value, decoded: a slice of the input or of a buffer
    /// reused by the next call.
    #[inline(always)]
    pub fn string(&mut self) -> R<&[u8]> {
        self.skip_space();
        let data = self.data;
        if self.pos >= data.len() || data[self.pos] != b'"' {
            return Err(self.expected("a string"));
        }
        read_string(data, &mut self.pos, &mut self.str_buf)
    }

    #[inline(always)]
    pub fn number(&mut self) -> R<Number<'a>> {
        self.skip_space();
        match scan_number(self.data, self.pos) {
            Ok((n, end)) => {
                self.pos = end;
                Ok(n)
            }
            Err((end, msg)) => Err(err_at(self.data, end, &msg)),
        }
    }

    /// Reads a number as the nearest float64.
    #[inline(always)]
    pub fn float(&mut self) -> R<f64> {
        self.skip_space();
        let start = self.pos;
        match scan_number(self.data, self.pos) {
            Ok((n, end)) => {
                self.pos = end;
                match n.float() {
                    Some(f) => Ok(f),
                    None => Err(err_at(
                        self.data,
                        start,
                        &format!("number {} is out of the float64 range", bstr(n.raw)),
                    )),
                }
            }
            Err((end, msg)) => Err(err_at(self.data, end, &msg)),
        }
    }

    pub fn bool(&mut self) -> R<bool> {
        self.skip_space();
        if self.literal(b"true") {
            return Ok(true);
        }
        if self.literal(b"false") {
            return Ok(false);
        }
        Err(self.expected("true or false"))
    }

    pub fn null(&mut self) -> R<()> {
        self.skip_space();
        if self.literal(b"null") {
            return Ok(());
        }
        Err(self.expected("null"))
    }

    fn literal(&mut self, lit: &[u8]) -> bool {
        let end = self.pos + lit.len();
        if end > self.data.len() || &self.data[self.pos..end] != lit {
            return false;
        }
        if end < self.data.len() && is_ident_byte(self.data[end]) {
            return false;
        }
        self.pos = end;
        true
    }

    /// Reads and discards the next value, checking its syntax.
    pub fn skip(&mut self) -> R<()> {
        match self.peek() {
            Kind::Object => {
                self.begin_object()?;
                let mut kb = Vec::new();
                loop {
                    if self.next_key(&mut kb)?.is_none() {
                        return Ok(());
                    }
                    self.skip()?;
                }
            }
            Kind::Array => {
                self.begin_array()?;
                loop {
                    if !self.next_elem()? {
                        return Ok(());
                    }
                    self.skip()?;
                }
            }
            Kind::String => self.skip_string(),
            Kind::Number => self.number().map(|_| ()),
            Kind::Bool => self.bool().map(|_| ()),
            Kind::Null => self.null(),
            _ => Err(self.expected("a value")),
        }
    }

    fn skip_string(&mut self) -> R<()> {
        let data = self.data;
        let mut i = self.pos + 1;
        while i < data.len() {
            let c = data[i];
            if c == b'"' {
                self.pos = i + 1;
                return Ok(());
            } else if c == b'\\' {
                let (n, _) = unescape(data, i)?;
                i += n;
            } else {
                i += string_char(data, i)?;
            }
        }
        Err(unterminated_string(data, self.pos))
    }

    /// Reads the next value and returns its JSON text.
    pub fn raw(&mut self) -> R<&'a [u8]> {
        self.skip_space();
        let start = self.pos;
        self.skip()?;
        Ok(&self.data[start..self.pos])
    }

    /// An error saying what was expected at the next value and what kind
    /// of value was found (jsonscan's Expected).
    #[cold]
    pub fn expected_found(&mut self, what: &str) -> JErr {
        self.skip_space();
        if self.pos < self.data.len() {
            let k = kind_of(self.data[self.pos]);
            match k {
                Kind::Object | Kind::Array => {
                    return err_at(self.data, self.pos, &format!("expected {}, found an {}", what, kind_name(k)))
                }
                Kind::String | Kind::Number | Kind::Bool | Kind::Null => {
                    return err_at(self.data, self.pos, &format!("expected {}, found a {}", what, kind_name(k)))
                }
                _ => {}
            }
        }
        self.expected(what)
    }

    #[cold]
    #[inline(never)]
    fn expected(&self, what: &str) -> JErr {
        if self.pos >= self.data.len() {
            return err_at(self.data, self.pos, &format!("unexpected end of input, expected {}", what));
        }
        err_at(self.data, self.pos, &format!("expected {}, found {}", what, quote_byte(self.data[self.pos])))
    }
}

/// The bytes as text for messages (they are ASCII or valid UTF-8 here).
pub fn bstr(b: &[u8]) -> &str {
    core::str::from_utf8(b).unwrap_or("")
}

/// Reads the string starting at the '"' at *pos.
#[inline(always)]
fn read_string<'a: 'k, 'k>(data: &'a [u8], pos: &mut usize, buf: &'k mut Vec<u8>) -> R<&'k [u8]> {
    let start = *pos + 1;
    let mut i = skip_plain(data, start);
    while i < data.len() {
        let c = data[i];
        if c == b'"' {
            *pos = i + 1;
            return Ok(&data[start..i]);
        }
        if c == b'\\' || c < 0x20 || c >= 0x80 {
            break;
        }
        i += 1;
    }
    read_string_slow(data, pos, buf, start, i)
}

/// read_string from data[i] on, past the plain bytes of the string at start.
#[inline(never)]
fn read_string_slow<'a: 'k, 'k>(data: &'a [u8], pos: &mut usize, buf: &'k mut Vec<u8>, start: usize, mut i: usize) -> R<&'k [u8]> {
    let mut escaped = false;
    let mut copied = start;
    while i < data.len() {
        let c = data[i];
        if c == b'"' {
            *pos = i + 1;
            if !escaped {
                return Ok(&data[start..i]);
            }
            buf.extend_from_slice(&data[copied..i]);
            return Ok(&buf[..]);
        } else if c == b'\\' {
            if !escaped {
                buf.clear();
                escaped = true;
            }
            buf.extend_from_slice(&data[copied..i]);
            let (n, ch) = unescape(data, i)?;
            let mut tmp = [0u8; 4];
            buf.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
            i += n;
            copied = i;
        } else {
            i += string_char(data, i)?;
        }
    }
    Err(unterminated_string(data, start - 1))
}

/// string_char returns the size of the character at i inside a string
/// (neither quote nor backslash): 1 for ASCII, the UTF-8 sequence's length
/// otherwise; an error for a control character or invalid UTF-8.
#[inline]
fn string_char(data: &[u8], i: usize) -> Result<usize, JErr> {
    let c = data[i];
    if c < 0x20 {
        return Err(err_at(data, i, &format!("control character {} in string", quote_byte(c))));
    }
    if c < 0x80 {
        return Ok(1);
    }
    match utf8_size(data, i) {
        0 => Err(err_at(data, i, "invalid UTF-8 in string")),
        size => Ok(size),
    }
}

/// unterminated_string is the error for a string (its quote at quote) that
/// the input ends in.
fn unterminated_string(data: &[u8], quote: usize) -> JErr {
    err_at(
        data,
        data.len(),
        &format!("unexpected end of input in string starting at {}", where_(data, quote)),
    )
}

/// Decodes the escape at data[i] ('\\'): its length and character.
fn unescape(data: &[u8], i: usize) -> R<(usize, char)> {
    if i + 1 >= data.len() {
        return Err(err_at(data, data.len(), "unexpected end of input in string escape"));
    }
    let c = data[i + 1];
    let ch = match c {
        b'"' | b'\\' | b'/' => c as char,
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let mut r = match hex4(data, i + 2) {
                Some(r) => r,
                None => return Err(err_at(data, i, "invalid \\u escape, expected 4 hex digits")),
            };
            let mut n = 6;
            if (0xD800..0xDC00).contains(&r) {
                let mut paired = false;
                if i + 7 < data.len() && data[i + 6] == b'\\' && data[i + 7] == b'u' {
                    if let Some(r2) = hex4(data, i + 8) {
                        if (0xDC00..0xE000).contains(&r2) {
                            r = 0x10000 + ((r - 0xD800) << 10) + (r2 - 0xDC00);
                            n = 12;
                            paired = true;
                        }
                    }
                }
                if !paired {
                    r = 0xFFFD;
                }
            } else if (0xDC00..0xE000).contains(&r) {
                r = 0xFFFD;
            }
            return Ok((n, char::from_u32(r).unwrap_or('\u{FFFD}')));
        }
        _ => return Err(err_at(data, i, &format!("invalid escape {} in string", quote_byte(c)))),
    };
    Ok((2, ch))
}

fn hex4(data: &[u8], i: usize) -> Option<u32> {
    if i + 4 > data.len() {
        return None;
    }
    let mut r = 0u32;
    for &c in &data[i..i + 4] {
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        r = r << 4 | v as u32;
    }
    Some(r)
}

/// The length of the valid UTF-8 sequence at data[i] (a byte >= 0x80), or
/// 0 if it is not one (Go's utf8.DecodeRune giving RuneError, 1).
pub fn utf8_size(data: &[u8], i: usize) -> usize {
    let c0 = data[i];
    let cont = |j: usize, lo: u8, hi: u8| j < data.len() && data[j] >= lo && data[j] <= hi;
    match c0 {
        0xC2..=0xDF => {
            if cont(i + 1, 0x80, 0xBF) {
                2
            } else {
                0
            }
        }
        0xE0..=0xEF => {
            let (lo, hi) = match c0 {
                0xE0 => (0xA0, 0xBF),
                0xED => (0x80, 0x9F),
                _ => (0x80, 0xBF),
            };
            if cont(i + 1, lo, hi) && cont(i + 2, 0x80, 0xBF) {
                3
            } else {
                0
            }
        }
        0xF0..=0xF4 => {
            let (lo, hi) = match c0 {
                0xF0 => (0x90, 0xBF),
                0xF4 => (0x80, 0x8F),
                _ => (0x80, 0xBF),
            };
            if cont(i + 1, lo, hi) && cont(i + 2, 0x80, 0xBF) && cont(i + 3, 0x80, 0xBF) {
                4
            } else {
                0
            }
        }
        _ => 0,
    }
}

/// A JSON number as read: its text and ±mant × 10^exp.
#[derive(Clone, Copy, Debug)]
pub struct Number<'a> {
    pub raw: &'a [u8],
    mant: u64,
    exp: i32,
    neg: bool,
    trunc: bool,
}

const MAX_MANT_DIGITS: i32 = 19;

static POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

impl<'a> Number<'a> {
    /// The nearest float64, or None out of range.
    #[inline]
    pub fn float(&self) -> Option<f64> {
        if self.trunc || self.mant >= 1 << 53 || self.exp < -22 || self.exp > 22 {
            return self.float_slow();
        }
        let mut f = self.mant as f64;
        if self.exp < 0 {
            f /= POW10[(-self.exp) as usize];
        } else {
            f *= POW10[self.exp as usize];
        }
        if self.neg {
            f = -f;
        }
        Some(f)
    }

    #[inline(never)]
    fn float_slow(&self) -> Option<f64> {
        let f: f64 = bstr(self.raw).parse().ok()?;
        if f.is_infinite() {
            return None;
        }
        Some(f)
    }

    /// The value as an int64 if it is an integer that fits.
    pub fn int(&self) -> Option<i64> {
        if self.trunc {
            return None;
        }
        let (mut m, mut e) = (self.mant, self.exp);
        if m == 0 {
            return Some(0);
        }
        while e > 0 {
            if m > u64::MAX / 10 {
                return None;
            }
            m *= 10;
            e -= 1;
        }
        while e < 0 {
            if m % 10 != 0 {
                return None;
            }
            m /= 10;
            e += 1;
        }
        signed(m, self.neg)
    }

    /// The value times 10^k as an int64, rounded half away from zero.
    pub fn scaled(&self, k: i64) -> Option<i64> {
        if self.trunc || !(-1000..=1000).contains(&k) {
            return None;
        }
        let mut m = self.mant;
        let mut e = self.exp as i64 + k;
        if m == 0 {
            return Some(0);
        }
        while e > 0 {
            if m > u64::MAX / 10 {
                return None;
            }
            m *= 10;
            e -= 1;
        }
        if e < -20 {
            return Some(0);
        }
        let mut last = 0;
        while e < 0 {
            last = m % 10;
            m /= 10;
            e += 1;
        }
        if last >= 5 {
            m += 1;
        }
        signed(m, self.neg)
    }
}

fn signed(m: u64, neg: bool) -> Option<i64> {
    if neg {
        if m > 1 << 63 {
            return None;
        }
        return Some((m as i64).wrapping_neg());
    }
    if m > i64::MAX as u64 {
        return None;
    }
    Some(m as i64)
}

/// Parses b, exactly one JSON number.
pub fn parse_number(b: &[u8]) -> Option<Number<'_>> {
    match scan_number(b, 0) {
        Ok((n, end)) if end == b.len() => Some(n),
        _ => None,
    }
}

/// Reads the number at data[i]: the number and the offset after it, or the
/// offset of the problem and a message.
#[inline(always)]
pub fn scan_number(data: &[u8], mut i: usize) -> Result<(Number<'_>, usize), (usize, String)> {
    let start = i;
    let mut neg = false;
    let mut trunc = false;
    if i < data.len() && data[i] == b'-' {
        neg = true;
        i += 1;
    }
    if i >= data.len() {
        return Err((i, "unexpected end of input in number".into()));
    }
    let mut mant: u64 = 0;
    let mut exp: i32 = 0;
    let mut nd: i32 = 0;
    let c = data[i];
    if c == b'0' {
        i += 1;
    } else if (b'1'..=b'9').contains(&c) {
        while i < data.len() {
            let c = data[i];
            if !c.is_ascii_digit() {
                break;
            }
            if nd < MAX_MANT_DIGITS {
                mant = mant * 10 + (c - b'0') as u64;
                nd += 1;
            } else {
                trunc = trunc || c != b'0';
                exp = exp.wrapping_add(1);
            }
            i += 1;
        }
    } else {
        return Err((i, format!("expected a digit, found {}", quote_byte(c))));
    }
    if i < data.len() && data[i] == b'.' {
        i += 1;
        if i >= data.len() || !data[i].is_ascii_digit() {
            return Err((i, "expected a digit after '.' in number".into()));
        }
        while i < data.len() {
            let c = data[i];
            if !c.is_ascii_digit() {
                break;
            }
            i += 1;
            if mant == 0 && c == b'0' {
                exp = exp.wrapping_sub(1);
                continue;
            }
            if nd < MAX_MANT_DIGITS {
                mant = mant * 10 + (c - b'0') as u64;
                nd += 1;
                exp = exp.wrapping_sub(1);
            } else if c != b'0' {
                trunc = true;
            }
        }
    }
    if i < data.len() && (data[i] == b'e' || data[i] == b'E') {
        i += 1;
        let mut eneg = false;
        if i < data.len() && (data[i] == b'+' || data[i] == b'-') {
            eneg = data[i] == b'-';
            i += 1;
        }
        if i >= data.len() || !data[i].is_ascii_digit() {
            return Err((i, "expected a digit in number exponent".into()));
        }
        let mut e: i32 = 0;
        while i < data.len() {
            let c = data[i];
            if !c.is_ascii_digit() {
                break;
            }
            if e < 100000 {
                e = e * 10 + (c - b'0') as i32;
            }
            i += 1;
        }
        if eneg {
            e = -e;
        }
        exp = exp.wrapping_add(e);
    }
    if i < data.len() {
        let c = data[i];
        if c == b'.' || c == b'+' || c == b'-' || is_ident_byte(c) {
            return Err((i, format!("invalid character {} in number", quote_byte(c))));
        }
    }
    Ok((Number { raw: &data[start..i], mant, exp, neg, trunc }, i))
}
