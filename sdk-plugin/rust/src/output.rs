//! The output row builder (ABI.md, "Output").

use crate::{Kind, Status};

const HEADER_SIZE: usize = 12;
const ROW_HAS_TIME: u8 = 1;
/// Longest error text handed to the host.
const MAX_ERROR_TEXT: usize = 1024;

/// Collects the rows a handler makes of one message, appended to one buffer
/// that is reused for every message: adding rows and columns does not
/// allocate once the buffer has grown to a typical output's size.
///
/// `row` or `begin_row` starts a row; column methods add to the current row
/// (starting one in the route's table if there is none). Past the host's row
/// or byte limit further rows and columns are dropped and the host gets a
/// limit status.
#[derive(Debug)]
pub struct Output {
    buf: Vec<u8>,
    rows: u32,
    cols: u32,
    row_at: Option<usize>,
    row_cols: u32,
    max_rows: u32,
    max_bytes: u32,
    over: u8,
}

/// A position in an `Output` to rewind to.
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    n: usize,
    row_at: Option<usize>,
    rows: u32,
    cols: u32,
    row_cols: u32,
    over: u8,
}

const OVER_ROWS: u8 = 1;
const OVER_BYTES: u8 = 2;

impl Default for Output {
    fn default() -> Self {
        Output::new()
    }
}

impl Output {
    /// An empty output; `run` resets it for each message.
    pub const fn new() -> Output {
        Output { buf: Vec::new(), rows: 0, cols: 0, row_at: None, row_cols: 0, max_rows: 0, max_bytes: 0, over: 0 }
    }

    pub(crate) fn reset(&mut self, max_rows: u32, max_bytes: u32) {
        if self.buf.capacity() < 4096 {
            self.buf.reserve(4096);
        }
        self.buf.clear();
        self.buf.extend_from_slice(&[0; HEADER_SIZE]);
        self.rows = 0;
        self.cols = 0;
        self.row_at = None;
        self.row_cols = 0;
        self.max_rows = max_rows;
        self.max_bytes = max_bytes;
        self.over = 0;
    }

    /// Starts a row bound for `table` ("": the route's table), without a time
    /// of its own (the host uses the receive time) until `time` is called.
    #[inline(always)]
    pub fn row(&mut self, table: &str) {
        self.begin(table, 0, false)
    }

    /// Starts a row in the route's table with a time in unix nanoseconds.
    pub fn begin_row(&mut self, time_nanos: i64) {
        self.begin("", time_nanos, true)
    }

    /// Sets the current row's time in unix nanoseconds, replacing any earlier one.
    pub fn time(&mut self, time_nanos: i64) {
        if self.row_at.is_none() {
            self.row("");
        }
        if self.over != 0 {
            return;
        }
        if let Some(at) = self.row_at {
            self.buf[at] |= ROW_HAS_TIME;
            self.buf[at + 1..at + 9].copy_from_slice(&time_nanos.to_le_bytes());
        }
    }

    /// Removes the current row's own time: the host uses the receive time,
    /// as for a row started with `row`.
    pub fn clear_time(&mut self) {
        if self.over != 0 {
            return;
        }
        if let Some(at) = self.row_at {
            self.buf[at] &= !ROW_HAS_TIME;
            self.buf[at + 1..at + 9].copy_from_slice(&[0; 8]);
        }
    }

    /// The current position, for `rewind`.
    // #[inline(always)] here and on the column writers: see input.rs, Dec.
    #[inline(always)]
    pub fn mark(&self) -> Mark {
        Mark {
            n: self.buf.len(),
            row_at: self.row_at,
            rows: self.rows,
            cols: self.cols,
            row_cols: self.row_cols,
            over: self.over,
        }
    }

    /// Drops every row and column added since `m` was taken: formatters
    /// use it to give up a fast path and read the input again another way.
    pub fn rewind(&mut self, m: Mark) {
        if m.n <= self.buf.len() {
            self.buf.truncate(m.n);
        }
        self.row_at = m.row_at;
        self.rows = m.rows;
        self.cols = m.cols;
        self.row_cols = m.row_cols;
        self.over = m.over;
    }

    /// How many rows were started.
    pub fn rows(&self) -> usize {
        self.rows as usize
    }

    /// The encoded size so far, in bytes.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing but the header is encoded.
    pub fn is_empty(&self) -> bool {
        self.buf.len() <= HEADER_SIZE
    }

    /// Whether the output broke the host's limits; further rows and columns
    /// are dropped.
    pub fn over(&self) -> bool {
        self.over != 0
    }

    /// Adds a null column.
    #[inline(always)]
    pub fn null(&mut self, name: &str) {
        self.col(Kind::Null, name, &[]);
    }
    /// Adds an int64 column.
    #[inline(always)]
    pub fn int(&mut self, name: &str, v: i64) {
        self.col(Kind::Int64, name, &v.to_le_bytes());
    }
    /// Adds a float64 column.
    #[inline(always)]
    pub fn float(&mut self, name: &str, v: f64) {
        self.col(Kind::Float64, name, &v.to_bits().to_le_bytes());
    }
    /// Adds a bool column.
    #[inline(always)]
    pub fn bool(&mut self, name: &str, v: bool) {
        self.col(Kind::Bool, name, &[v as u8]);
    }
    /// Adds a timestamp column in unix nanoseconds.
    pub fn timestamp(&mut self, name: &str, unix_nanos: i64) {
        self.col(Kind::Timestamp, name, &unix_nanos.to_le_bytes());
    }
    /// Adds a string column.
    #[inline(always)]
    pub fn string(&mut self, name: &str, v: &str) {
        self.col_str(Kind::String, name, v.as_bytes());
    }
    /// Adds a bytes column.
    pub fn bytes(&mut self, name: &str, v: &[u8]) {
        self.col_str(Kind::Bytes, name, v);
    }

    #[inline(always)]
    fn begin(&mut self, table: &str, t: i64, has_time: bool) {
        if self.over != 0 {
            return;
        }
        self.finish_row();
        if self.max_rows != 0 && self.rows >= self.max_rows {
            self.over = OVER_ROWS;
            return;
        }
        self.check_bytes();
        if self.over != 0 {
            return;
        }
        self.row_at = Some(self.buf.len());
        self.buf.push(if has_time { ROW_HAS_TIME } else { 0 });
        self.buf.extend_from_slice(&t.to_le_bytes());
        self.buf.extend_from_slice(&0u32.to_le_bytes());
        self.buf.extend_from_slice(&(table.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(table.as_bytes());
        self.rows += 1;
    }

    #[inline(always)]
    fn head(&mut self, kind: Kind, name: &str) -> bool {
        if self.row_at.is_none() {
            self.row("");
        }
        if self.over != 0 {
            return false;
        }
        self.buf.push(kind as u8);
        self.buf.extend_from_slice(&(name.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(name.as_bytes());
        self.row_cols += 1;
        true
    }

    #[inline(always)]
    fn col(&mut self, kind: Kind, name: &str, value: &[u8]) {
        if self.head(kind, name) {
            self.buf.extend_from_slice(value);
        }
    }

    #[inline(always)]
    fn col_str(&mut self, kind: Kind, name: &str, v: &[u8]) {
        if self.head(kind, name) {
            self.buf.extend_from_slice(&(v.len() as u32).to_le_bytes());
            self.buf.extend_from_slice(v);
            self.check_bytes();
        }
    }

    #[inline(always)]
    fn finish_row(&mut self) {
        if let Some(at) = self.row_at {
            self.buf[at + 9..at + 13].copy_from_slice(&self.row_cols.to_le_bytes());
            self.cols += self.row_cols;
            self.row_cols = 0;
        }
    }

    #[inline(always)]
    fn check_bytes(&mut self) {
        if self.max_bytes != 0 && self.buf.len() as u64 > self.max_bytes as u64 {
            self.over = OVER_BYTES;
        }
    }

    /// The limit text if the output broke a limit.
    pub(crate) fn over_text(&mut self) -> Option<String> {
        self.finish_row();
        self.row_at = None;
        self.check_bytes();
        match self.over {
            OVER_ROWS => Some(format!("output limit: more than {} rows", self.max_rows)),
            OVER_BYTES => Some(format!("output limit: more than {} bytes", self.max_bytes)),
            _ => None,
        }
    }

    /// Patches the counts and returns the encoded rows.
    pub(crate) fn finish(&mut self) -> &[u8] {
        self.finish_row();
        self.row_at = None;
        self.buf[0] = Status::Ok as u8;
        self.buf[4..8].copy_from_slice(&self.rows.to_le_bytes());
        self.buf[8..12].copy_from_slice(&self.cols.to_le_bytes());
        &self.buf
    }

    /// Replaces the output with an error status and text.
    pub(crate) fn fail(&mut self, s: Status, text: &str) -> &[u8] {
        let mut n = text.len().min(MAX_ERROR_TEXT);
        while !text.is_char_boundary(n) {
            n -= 1;
        }
        self.buf.clear();
        self.buf.push(s as u8);
        self.buf.extend_from_slice(&text.as_bytes()[..n]);
        self.row_at = None;
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::Output;

    fn encoded(f: impl Fn(&mut Output)) -> Vec<u8> {
        let mut o = Output::new();
        o.reset(0, 0);
        f(&mut o);
        o.finish().to_vec()
    }

    #[test]
    fn rewind_drops_what_came_after_the_mark() {
        let want = encoded(|o| {
            o.row("");
            o.int("a", 1);
        });
        let got = encoded(|o| {
            o.row("");
            o.int("a", 1);
            let m = o.mark();
            o.row("t");
            o.time(5);
            o.string("b", "x");
            o.rewind(m);
        });
        assert_eq!(got, want);
    }

    #[test]
    fn clear_time_leaves_the_receive_time() {
        let want = encoded(|o| {
            o.row("");
            o.null("a");
        });
        let got = encoded(|o| {
            o.row("");
            o.time(7);
            o.null("a");
            o.clear_time();
        });
        assert_eq!(got, want);
    }
}
