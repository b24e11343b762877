//! lakegate's built-in JSON formatter in Rust: a port of the Go guest
//! (formatters/json/format) that gives the same rows, the same route checks
//! and the same error texts. formatters/json/README.md describes the
//! payloads, options and output; rust_test.go in the parent directory runs
//! every golden case and a fuzz target through both modules and compares.
//!
//! Only the Go formatter's general path is ported: its single-pass fast
//! path (fast.go) exists because calls are dear in Go's wasm code, and
//! FuzzFastPath pins it to the general path's output byte for byte.

mod isprint;
mod quote;
mod scan;
mod timeparse;

use lakegate_sdk::{Error, Input, Output, Pairs};
use quote::quote;
use scan::{err_at, parse_number, JErr, Kind, Number, Scanner, R};
use timeparse::{from_number, from_text, parse_unit, Unit};

lakegate_sdk::export_formatter!(format, check);

const OPT_TIME_FIELD: &str = "time_field";
const OPT_TIME_FORMAT: &str = "time_format";
const OPT_COLUMNS: &str = "columns";
const OPT_TYPE_PREFIX: &str = "type.";
const DEFAULT_COLUMNS: &str = "name,time,value";
const NO_TIME_FIELD: &str = "-";

/// Column types declared with type.<column>.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Typ {
    Int64,
    Float64,
    Bool,
    String,
    Timestamp,
}

fn parse_type(s: &str) -> Option<Typ> {
    Some(match s {
        "int64" | "int" | "integer" | "long" => Typ::Int64,
        "float64" | "float" | "double" | "number" => Typ::Float64,
        "bool" | "boolean" => Typ::Bool,
        "string" | "text" | "str" => Typ::String,
        "timestamp" | "time" | "datetime" => Typ::Timestamp,
        _ => return None,
    })
}

fn kind_name(t: Typ) -> &'static str {
    match t {
        Typ::Int64 => "int64",
        Typ::Float64 => "float64",
        Typ::Bool => "bool",
        Typ::String => "string",
        Typ::Timestamp => "timestamp",
    }
}

/// A route's options, parsed for one message.
struct Config<'a> {
    time_field: &'a str, // "" = auto (ts, time, timestamp)
    no_time: bool,
    unit: Unit,
    columns_raw: &'a str,
    has_types: bool,
    options: Pairs<'a>,
}

impl<'a> Config<'a> {
    #[inline(always)]
    fn parse(opts: Pairs<'a>, strict: bool) -> Result<Config<'a>, Error> {
        let mut c = Config {
            time_field: "",
            no_time: false,
            unit: Unit::Auto,
            columns_raw: DEFAULT_COLUMNS,
            has_types: false,
            options: opts,
        };
        for o in opts {
            let (k, v) = (o.key, o.value);
            if k == OPT_TIME_FIELD {
                c.time_field = v;
                c.no_time = v == NO_TIME_FIELD;
                if v.is_empty() {
                    return Err(Error::failed("option time_field: empty (use \"-\" for no time field)"));
                }
            } else if k == OPT_TIME_FORMAT {
                match parse_unit(v) {
                    Some(u) => c.unit = u,
                    None => {
                        return Err(Error::failed(format!(
                            "option time_format: {} is not auto, s, ms, us, ns or rfc3339",
                            quote(v.as_bytes())
                        )))
                    }
                }
            } else if k == OPT_COLUMNS {
                c.columns_raw = v;
                if strict && split_columns(v).iter().any(|n| n.is_empty()) {
                    return Err(Error::failed(format!(
                        "option columns: {} has an empty column name",
                        quote(v.as_bytes())
                    )));
                }
            } else if k.len() > OPT_TYPE_PREFIX.len() && k.starts_with(OPT_TYPE_PREFIX) {
                if parse_type(v).is_none() {
                    return Err(Error::failed(format!(
                        "option {}: {} is not int64, float64, bool, string or timestamp",
                        k,
                        quote(v.as_bytes())
                    )));
                }
                c.has_types = true;
            } else if strict {
                return Err(Error::failed(format!(
                    "unknown option {} (want time_field, time_format, columns or type.<column>)",
                    quote(k.as_bytes())
                )));
            }
        }
        Ok(c)
    }

    /// Whether a top-level key of length n may be the time field.
    #[inline]
    fn time_candidate(&self, n: usize) -> bool {
        if self.no_time {
            return false;
        }
        if !self.time_field.is_empty() {
            return n == self.time_field.len();
        }
        n == 2 || n == 4 || n == 9
    }

    /// The type declared for a column with a type.<column> option.
    fn type_of(&self, name: &[u8]) -> Option<Typ> {
        if !self.has_types {
            return None;
        }
        let p = OPT_TYPE_PREFIX.len();
        for o in self.options {
            let k = o.key.as_bytes();
            if k.len() == p + name.len() && k.starts_with(OPT_TYPE_PREFIX.as_bytes()) && &k[p..] == name {
                return parse_type(o.value);
            }
        }
        None
    }

    /// Which of the positional columns is the time, or -1.
    fn time_index<S: AsRef<str>>(&self, cols: &[S]) -> isize {
        if self.no_time {
            return -1;
        }
        if !self.time_field.is_empty() {
            return cols.iter().position(|c| c.as_ref() == self.time_field).map_or(-1, |i| i as isize);
        }
        let (mut best, mut best_rank) = (-1isize, 3);
        for (i, name) in cols.iter().enumerate() {
            let r = auto_rank(name.as_ref().as_bytes());
            if r >= 0 && r < best_rank {
                best = i as isize;
                best_rank = r;
            }
        }
        best
    }
}

/// The comma-separated names of s, trimmed of spaces and tabs.
fn split_columns(s: &str) -> Vec<&str> {
    s.split(',').map(|n| n.trim_matches(|c| c == ' ' || c == '\t')).collect()
}

/// The priority of a default time field name: ts, time, timestamp (any
/// letter case), or -1.
fn auto_rank(name: &[u8]) -> i32 {
    match name.len() {
        2 if name.eq_ignore_ascii_case(b"ts") => 0,
        4 if name.eq_ignore_ascii_case(b"time") => 1,
        9 if name.eq_ignore_ascii_case(b"timestamp") => 2,
        _ => -1,
    }
}

/// Column names and values are decoded JSON strings or JSON text, which
/// the scanner has checked to be valid UTF-8, or option values.
#[inline(always)]
fn s(b: &[u8]) -> &str {
    debug_assert!(core::str::from_utf8(b).is_ok());
    // SAFETY: see above; the SDK only copies the bytes.
    unsafe { core::str::from_utf8_unchecked(b) }
}

fn malformed(e: JErr) -> Error {
    Error::Malformed(e.0)
}

/// Validates a route's options; the gateway calls it at start.
pub fn check(input: &Input) -> Result<(), Error> {
    Config::parse(input.options, true).map(|_| ())
}

/// Buffers kept from message to message.
struct Bufs {
    name: Vec<u8>,
    time_key: Vec<u8>,
    tmp_key: Vec<u8>,
}

static mut BUFS: Bufs = Bufs { name: Vec::new(), time_key: Vec::new(), tmp_key: Vec::new() };

/// Formats one message.
pub fn format(input: &Input, out: &mut Output) -> Result<(), Error> {
    let cfg = Config::parse(input.options, false)?;
    // SAFETY: one call at a time on one thread (the host's instance pool).
    let bufs = unsafe { core::mem::replace(&mut *core::ptr::addr_of_mut!(BUFS), Bufs::new()) };
    let mut f = Formatter {
        cfg,
        out,
        cols: None,
        time_key: bufs.time_key,
        tmp_key: bufs.tmp_key,
        time_rank: -1,
        time_start: 0,
        time_seen: false,
    };
    let mut name = bufs.name;
    let res = f.handle(input.payload, &mut name);
    // SAFETY: as above.
    unsafe {
        *core::ptr::addr_of_mut!(BUFS) = Bufs { name, time_key: f.time_key, tmp_key: f.tmp_key };
    }
    res.map_err(malformed)
}

impl Bufs {
    const fn new() -> Bufs {
        Bufs { name: Vec::new(), time_key: Vec::new(), tmp_key: Vec::new() }
    }
}

struct Formatter<'a, 'o> {
    cfg: Config<'a>,
    out: &'o mut Output,
    cols: Option<Vec<&'a str>>, // the columns option, split on first use
    time_key: Vec<u8>,          // key of the auto time field chosen so far in this row
    tmp_key: Vec<u8>,
    time_rank: i32, // rank of that field, -1 if none
    time_start: usize,
    time_seen: bool,
}

impl<'a, 'o> Formatter<'a, 'o> {
    fn handle(&mut self, data: &'a [u8], nb: &mut Vec<u8>) -> R<()> {
        let start = if data.len() >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF { 3 } else { 0 };
        let mut sc = Scanner::new(data, start);
        if sc.at_end() {
            return Err(err_at(data, start, "empty payload, expected a JSON object or array"));
        }
        while !sc.at_end() {
            self.document(&mut sc, nb)?;
        }
        Ok(())
    }

    fn take_cols(&mut self) -> Vec<&'a str> {
        match self.cols.take() {
            Some(c) => c,
            None => split_columns(self.cfg.columns_raw),
        }
    }

    /// Reads one top-level value.
    fn document(&mut self, sc: &mut Scanner<'a>, nb: &mut Vec<u8>) -> R<()> {
        match sc.peek() {
            Kind::Object => {
                if may_be_machbase(sc.data, sc.pos) && self.machbase(sc, nb)? {
                    return Ok(());
                }
                if self.fast_row(sc) {
                    return Ok(());
                }
                self.object_row(sc, nb)
            }
            Kind::Array => {
                sc.begin_array()?;
                loop {
                    if !sc.next_elem()? {
                        return Ok(());
                    }
                    match sc.peek() {
                        Kind::Object => {
                            if !self.fast_row(sc) {
                                self.object_row(sc, nb)?
                            }
                        }
                        Kind::Array => {
                            let cols = self.take_cols();
                            let ti = self.cfg.time_index(&cols);
                            let r = self.positional_row(sc, &cols, ti, nb);
                            self.cols = Some(cols);
                            r?
                        }
                        _ => return Err(sc.expected_found("an object or an array as a row")),
                    }
                }
            }
            _ => Err(sc.expected_found("a JSON object or array")),
        }
    }

    /// Reads the object at the scanner's offset as one row in one pass,
    /// with the position in a local: a port of the Go formatter's fastRow
    /// (format/fast.go). It takes only a flat object of plain ASCII keys and
    /// values that are numbers in float64's exact range, plain ASCII
    /// strings, booleans or null, with at most one time field holding a
    /// number. On anything else it rewinds the output and reports false,
    /// and the general path reads the object (FuzzFastPath pins the Go
    /// paths to the same output; the differential tests pin this one).
    fn fast_row(&mut self, sc: &mut Scanner<'a>) -> bool {
        if self.cfg.has_types {
            return false;
        }
        let data = sc.data;
        let len = data.len();
        let mut i = sc.pos; // at '{'
        let mark = self.out.mark();
        self.out.row("");
        i += 1;
        let mut time_seen = false;
        let mut first = true;
        loop {
            while i < len && scan::is_space(data[i]) {
                i += 1;
            }
            if i >= len {
                break;
            }
            if !first {
                if data[i] == b'}' {
                    sc.pos = i + 1;
                    return true;
                }
                if data[i] != b',' {
                    break;
                }
                i += 1;
                while i < len && scan::is_space(data[i]) {
                    i += 1;
                }
                if i >= len {
                    break;
                }
            } else if data[i] == b'}' {
                sc.pos = i + 1;
                return true;
            }
            first = false;
            // Key: plain printable ASCII.
            if data[i] != b'"' {
                break;
            }
            let ks = i + 1;
            i = plain_end(data, ks);
            if i >= len || data[i] != b'"' || i == ks {
                break;
            }
            let key = &data[ks..i];
            i += 1;
            while i < len && scan::is_space(data[i]) {
                i += 1;
            }
            if i >= len || data[i] != b':' {
                break;
            }
            i += 1;
            while i < len && scan::is_space(data[i]) {
                i += 1;
            }
            if i >= len {
                break;
            }
            let name = s(key);

            // The time field: a number, once.
            if self.cfg.time_candidate(key.len()) && self.is_time_field(key) {
                if time_seen || !(data[i] == b'-' || data[i].is_ascii_digit()) {
                    break;
                }
                time_seen = true;
                let end = number_end(data, i);
                let n = match parse_number(&data[i..end]) {
                    Some(n) if delimiter(data, end) => n,
                    _ => break,
                };
                match from_number(&n, self.cfg.unit) {
                    Ok(ns) => self.out.time(ns),
                    Err(_) => break,
                }
                i = end;
                continue;
            }

            let c = data[i];
            if c == b'"' {
                let vs = i + 1;
                i = plain_end(data, vs);
                if i >= len || data[i] != b'"' {
                    break;
                }
                self.out.string(name, s(&data[vs..i]));
                i += 1;
            } else if c == b'-' || c.is_ascii_digit() {
                match fast_float(data, i) {
                    Some((v, end)) => {
                        self.out.float(name, v);
                        i = end;
                    }
                    None => break,
                }
            } else if c == b't' && data[i..].starts_with(b"true") && delimiter(data, i + 4) {
                self.out.bool(name, true);
                i += 4;
            } else if c == b'f' && data[i..].starts_with(b"false") && delimiter(data, i + 5) {
                self.out.bool(name, false);
                i += 5;
            } else if c == b'n' && data[i..].starts_with(b"null") && delimiter(data, i + 4) {
                self.out.null(name);
                i += 4;
            } else {
                break;
            }
        }
        self.out.rewind(mark);
        false
    }

    /// Whether a top-level key is the time field; in auto mode any of ts,
    /// time and timestamp is (fast_row gives up on a second one).
    fn is_time_field(&self, key: &[u8]) -> bool {
        if !self.cfg.time_field.is_empty() {
            return key == self.cfg.time_field.as_bytes();
        }
        auto_rank(key) >= 0
    }

    /// Reads one object as one row, flattening nested objects.
    fn object_row(&mut self, sc: &mut Scanner<'a>, nb: &mut Vec<u8>) -> R<()> {
        sc.begin_object()?;
        self.out.row("");
        self.time_rank = -1;
        self.time_seen = false;
        self.members(sc, nb, 0, true)
    }

    /// Reads the members of an open object. Nested objects are flattened:
    /// their column names start with nb[..prefix] (prefix > 0).
    fn members(&mut self, sc: &mut Scanner<'a>, nb: &mut Vec<u8>, prefix: usize, top: bool) -> R<()> {
        let mut kb = Vec::new();
        loop {
            let key = match sc.next_key(&mut kb)? {
                Some(k) => k,
                None => return Ok(()),
            };
            if key.is_empty() {
                return Err(err_at(sc.data, sc.pos, "empty object key"));
            }
            let k = if prefix > 0 {
                nb.truncate(prefix);
                nb.extend_from_slice(key);
                None
            } else {
                if top && self.cfg.time_candidate(key.len()) && self.top_time(sc, key, nb)? {
                    continue;
                }
                Some(key)
            };
            self.value(sc, k, nb)?;
        }
    }

    /// Handles a top-level member that may be the row's time; reports
    /// whether it consumed the value.
    fn top_time(&mut self, sc: &mut Scanner<'a>, name: &[u8], nb: &mut Vec<u8>) -> R<bool> {
        let tf = self.cfg.time_field;
        if !tf.is_empty() {
            if name != tf.as_bytes() {
                return Ok(false);
            }
            if self.time_seen {
                return Err(err_at(
                    sc.data,
                    sc.pos,
                    &format!("time field {} appears twice", quote(tf.as_bytes())),
                ));
            }
            self.time_seen = true;
            self.read_time(sc, name)?;
            return Ok(true);
        }
        let rank = auto_rank(name);
        if rank < 0 || (self.time_rank >= 0 && self.time_rank <= rank) {
            return Ok(false);
        }
        sc.peek();
        let start = sc.pos;
        self.read_time(sc, name)?;
        self.tmp_key.clear();
        self.tmp_key.extend_from_slice(name);
        if self.time_rank >= 0 {
            // The candidate chosen before is an ordinary column after all.
            let mut aux = Scanner::new(sc.data, self.time_start);
            let tk = core::mem::take(&mut self.time_key);
            let r = self.value_out(&mut aux, Some(&tk), nb);
            self.time_key = tk;
            r?;
        }
        core::mem::swap(&mut self.time_key, &mut self.tmp_key);
        self.time_rank = rank;
        self.time_start = start;
        Ok(true)
    }

    /// Reads the value of the time field and sets the row's time.
    fn read_time(&mut self, sc: &mut Scanner<'a>, name: &[u8]) -> R<()> {
        let k = sc.peek();
        let off = sc.pos;
        let data = sc.data;
        let res = match k {
            Kind::Number => {
                let n = sc.number()?;
                from_number(&n, self.cfg.unit)
            }
            Kind::String => {
                let v = sc.string()?;
                from_text(v, self.cfg.unit)
            }
            Kind::Null => {
                self.out.clear_time();
                return sc.null();
            }
            _ => {
                return Err(sc.expected_found(&format!("a number or a string for time field {}", quote(name))));
            }
        };
        match res {
            Ok(ns) => {
                self.out.time(ns);
                Ok(())
            }
            Err(msg) => Err(err_at(data, off, &format!("time field {}: {}", quote(name), msg))),
        }
    }

    /// Reads one array as one row whose values are named by cols.
    fn positional_row<S: AsRef<str>>(
        &mut self,
        sc: &mut Scanner<'a>,
        cols: &[S],
        time_idx: isize,
        nb: &mut Vec<u8>,
    ) -> R<()> {
        let start = sc.pos;
        sc.begin_array()?;
        self.out.row("");
        let mut i = 0usize;
        loop {
            if !sc.next_elem()? {
                break;
            }
            if i >= cols.len() {
                return Err(err_at(
                    sc.data,
                    sc.pos,
                    &format!("row has more values than the {} columns ({})", cols.len(), join_cols(cols)),
                ));
            }
            let name = cols[i].as_ref().as_bytes();
            if i as isize == time_idx {
                self.read_time(sc, name)?;
            } else {
                self.value_out(sc, Some(name), nb)?;
            }
            i += 1;
        }
        if i < cols.len() {
            return Err(err_at(
                sc.data,
                start,
                &format!("row has {} values, expected {} ({})", i, cols.len(), join_cols(cols)),
            ));
        }
        Ok(())
    }

    /// value, kept out of line for the callers off the hot path.
    #[inline(never)]
    fn value_out(&mut self, sc: &mut Scanner<'a>, key: Option<&[u8]>, nb: &mut Vec<u8>) -> R<()> {
        self.value(sc, key, nb)
    }

    /// Reads one value into the column named key, or nb when key is None
    /// (a flattened name).
    #[inline(always)]
    fn value(&mut self, sc: &mut Scanner<'a>, key: Option<&[u8]>, nb: &mut Vec<u8>) -> R<()> {
        let k = sc.peek();
        if k == Kind::Object {
            return self.object_value(sc, key, nb);
        }
        let name: &[u8] = match key {
            Some(k) => k,
            None => nb,
        };
        let typ = if self.cfg.has_types { self.cfg.type_of(name) } else { None };
        let out = &mut *self.out;
        let off = sc.pos;
        let data = sc.data;
        match k {
            Kind::Number => match typ {
                None | Some(Typ::Float64) => {
                    let v = sc.float()?;
                    out.float(s(name), v);
                }
                Some(t) => {
                    let n = sc.number()?;
                    convert_number(out, self.cfg.unit, data, off, name, &n, t)?;
                }
            },
            Kind::String => {
                let v = sc.string()?;
                match typ {
                    None | Some(Typ::String) => out.string(s(name), s(v)),
                    Some(t) => convert_string(out, self.cfg.unit, data, off, name, v, t)?,
                }
            }
            Kind::Array => {
                if let Some(t) = typ {
                    if t != Typ::String {
                        return Err(err_at(data, off, &cannot(name, "an array", t)));
                    }
                }
                let raw = sc.raw()?;
                out.string(s(name), s(raw));
            }
            Kind::Bool => {
                let b = sc.bool()?;
                match typ {
                    None | Some(Typ::Bool) => out.bool(s(name), b),
                    Some(Typ::String) => out.string(s(name), if b { "true" } else { "false" }),
                    Some(t) => return Err(err_at(data, off, &cannot(name, "a bool", t))),
                }
            }
            Kind::Null => {
                sc.null()?;
                out.null(s(name));
            }
            _ => return sc.skip(), // reports what was expected
        }
        Ok(())
    }

    #[inline(never)]
    fn object_value(&mut self, sc: &mut Scanner<'a>, key: Option<&[u8]>, nb: &mut Vec<u8>) -> R<()> {
        let typ = if self.cfg.has_types {
            self.cfg.type_of(match key {
                Some(k) => k,
                None => nb,
            })
        } else {
            None
        };
        if let Some(t) = typ {
            let name: &[u8] = match key {
                Some(k) => k,
                None => nb,
            };
            if t != Typ::String {
                return Err(err_at(sc.data, sc.pos, &cannot(name, "an object", t)));
            }
            let raw = sc.raw()?;
            self.out.string(s(name), s(raw));
            return Ok(());
        }
        sc.begin_object()?;
        if let Some(k) = key {
            nb.clear();
            nb.extend_from_slice(k);
        }
        nb.push(b'.');
        let p = nb.len();
        self.members(sc, nb, p, false)
    }

    /// Handles the Machbase Neo write form
    /// {"data":{"columns":[...],"rows":[[...],...]}}. It reports false,
    /// leaving the scanner where it was, if the object is not of that form.
    fn machbase(&mut self, sc: &mut Scanner<'a>, nb: &mut Vec<u8>) -> R<bool> {
        let data = sc.data;
        let mut la = Scanner::new(data, sc.pos);
        let mut kb = Vec::new();
        if la.begin_object().is_err() {
            return Ok(false);
        }
        match la.next_key(&mut kb) {
            Ok(Some(k)) if k == b"data" => {}
            _ => return Ok(false),
        }
        if la.peek() != Kind::Object || la.begin_object().is_err() {
            return Ok(false);
        }
        let (mut cols_at, mut rows_at) = (None, None);
        loop {
            let key = match la.next_key(&mut kb) {
                Err(_) => return Ok(false),
                Ok(None) => break,
                Ok(Some(k)) => k,
            };
            let k = la.peek();
            if key == b"columns" && k == Kind::Array {
                cols_at = Some(la.pos);
            } else if key == b"rows" && k == Kind::Array {
                rows_at = Some(la.pos);
            }
            if la.skip().is_err() {
                return Ok(false);
            }
        }
        let rows_at = match rows_at {
            Some(r) => r,
            None => return Ok(false),
        };
        match la.next_key(&mut kb) {
            Ok(None) => {}
            _ => return Ok(false), // other members beside "data": an ordinary row
        }
        let end = la.pos;

        let r = if let Some(at) = cols_at {
            let cols = machbase_columns(data, at)?;
            let ti = self.cfg.time_index(&cols);
            self.machbase_rows(sc, rows_at, &cols, ti, nb)
        } else {
            let cols = self.take_cols();
            let ti = self.cfg.time_index(&cols);
            let r = self.machbase_rows(sc, rows_at, &cols, ti, nb);
            self.cols = Some(cols);
            r
        };
        r?;
        sc.reset_at(end);
        Ok(true)
    }

    fn machbase_rows<S: AsRef<str>>(
        &mut self,
        sc: &mut Scanner<'a>,
        rows_at: usize,
        cols: &[S],
        ti: isize,
        nb: &mut Vec<u8>,
    ) -> R<()> {
        sc.reset_at(rows_at);
        sc.begin_array()?;
        loop {
            if !sc.next_elem()? {
                return Ok(());
            }
            if sc.peek() != Kind::Array {
                return Err(sc.expected_found("an array per row in data.rows"));
            }
            self.positional_row(sc, cols, ti, nb)?;
        }
    }
}

/// Where the run of printable ASCII other than '"' and '\\' from i ends.
#[inline(always)]
fn plain_end(data: &[u8], i: usize) -> usize {
    let mut i = scan::skip_plain(data, i);
    while i < data.len() && data[i] != b'"' && data[i] != b'\\' && data[i] >= 0x20 && data[i] < 0x80 {
        i += 1;
    }
    i
}

/// Whether a value may end at data[i].
#[inline(always)]
fn delimiter(data: &[u8], i: usize) -> bool {
    if i >= data.len() {
        return true;
    }
    let c = data[i];
    c == b',' || c == b'}' || c == b']' || scan::is_space(c)
}

/// Where the number-like run of bytes at i ends.
fn number_end(data: &[u8], mut i: usize) -> usize {
    while i < data.len() && matches!(data[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
        i += 1;
    }
    i
}

static POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// Reads a JSON number at i that float64 represents by one exact operation
/// (at most 15 significant digits, no exponent, a small fraction): the same
/// value as the general path's. None for any other number or bad syntax.
#[inline(always)]
fn fast_float(data: &[u8], mut i: usize) -> Option<(f64, usize)> {
    let len = data.len();
    let mut neg = false;
    if data[i] == b'-' {
        neg = true;
        i += 1;
        if i >= len {
            return None;
        }
    }
    let mut mant: u64 = 0;
    let mut exp: i32 = 0;
    let mut nd = 0;
    match data[i] {
        b'0' => i += 1,
        b'1'..=b'9' => {
            while i < len && data[i].is_ascii_digit() {
                mant = mant.wrapping_mul(10).wrapping_add((data[i] - b'0') as u64);
                nd += 1;
                i += 1;
            }
        }
        _ => return None,
    }
    if i < len && data[i] == b'.' {
        i += 1;
        let start = i;
        while i < len && data[i].is_ascii_digit() {
            if mant == 0 && data[i] == b'0' {
                exp -= 1;
            } else {
                mant = mant.wrapping_mul(10).wrapping_add((data[i] - b'0') as u64);
                nd += 1;
                exp -= 1;
            }
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    if i < len && (data[i] == b'e' || data[i] == b'E') {
        return None; // exponents: left to the general path
    }
    if nd > 15 || exp < -22 || !delimiter(data, i) {
        return None;
    }
    let mut f = mant as f64;
    if exp < 0 {
        f /= POW10[(-exp) as usize];
    }
    if neg {
        f = -f;
    }
    Some((f, i))
}

/// Reads the column names array at offset at.
fn machbase_columns(data: &[u8], at: usize) -> R<Vec<String>> {
    let mut la = Scanner::new(data, at);
    la.begin_array()?;
    let mut cols = Vec::new();
    loop {
        if !la.next_elem()? {
            return Ok(cols);
        }
        if la.peek() != Kind::String {
            return Err(la.expected_found("column name strings in data.columns"));
        }
        let off = la.pos;
        let v = la.string()?;
        if v.is_empty() {
            return Err(err_at(data, off, "data.columns: empty column name"));
        }
        cols.push(s(v).to_owned());
    }
}

/// A quick test for machbase: whether the object at i starts with the key "data".
fn may_be_machbase(data: &[u8], mut i: usize) -> bool {
    i += 1;
    while i < data.len() && scan::is_space(data[i]) {
        i += 1;
    }
    data.len() - i.min(data.len()) >= 6 && &data[i..i + 6] == b"\"data\""
}

fn join_cols<S: AsRef<str>>(cols: &[S]) -> String {
    let mut j = String::new();
    for (i, c) in cols.iter().enumerate() {
        if i > 0 {
            j.push(',');
        }
        j.push_str(c.as_ref());
    }
    j
}

fn cannot(name: &[u8], what: &str, t: Typ) -> String {
    format!("column {}: cannot store {} as {}", quote(name), what, kind_name(t))
}

fn convert_string(out: &mut Output, unit: Unit, data: &[u8], off: usize, name: &[u8], v: &[u8], t: Typ) -> R<()> {
    match t {
        Typ::Int64 | Typ::Float64 => match parse_number(v) {
            Some(n) => convert_number(out, unit, data, off, name, &n, t),
            None => Err(err_at(
                data,
                off,
                &format!("column {}: string {} is not a number", quote(name), quote(v)),
            )),
        },
        Typ::Bool => match v {
            b"true" => {
                out.bool(s(name), true);
                Ok(())
            }
            b"false" => {
                out.bool(s(name), false);
                Ok(())
            }
            _ => Err(err_at(
                data,
                off,
                &format!("column {}: string {} is not true or false", quote(name), quote(v)),
            )),
        },
        Typ::Timestamp => match from_text(v, unit) {
            Ok(ns) => {
                out.timestamp(s(name), ns);
                Ok(())
            }
            Err(msg) => Err(err_at(data, off, &format!("column {}: {}", quote(name), msg))),
        },
        Typ::String => Ok(()),
    }
}

fn convert_number(out: &mut Output, unit: Unit, data: &[u8], off: usize, name: &[u8], n: &Number, t: Typ) -> R<()> {
    match t {
        Typ::Int64 => match n.int() {
            Some(v) => out.int(s(name), v),
            None => {
                return Err(err_at(
                    data,
                    off,
                    &format!("column {}: {} is not an int64", quote(name), s(n.raw)),
                ))
            }
        },
        Typ::Float64 => match n.float() {
            Some(v) => out.float(s(name), v),
            None => {
                return Err(err_at(
                    data,
                    off,
                    &format!("column {}: number {} is out of the float64 range", quote(name), s(n.raw)),
                ))
            }
        },
        Typ::String => out.string(s(name), s(n.raw)),
        Typ::Timestamp => match from_number(n, unit) {
            Ok(ns) => out.timestamp(s(name), ns),
            Err(msg) => return Err(err_at(data, off, &format!("column {}: {}", quote(name), msg))),
        },
        Typ::Bool => return Err(err_at(data, off, &cannot(name, "a number", t))),
    }
    Ok(())
}
