//! Decoding the host's input (ABI.md, "Input") without allocating: every
//! field borrows from the input buffer.

/// Input flag bits.
const FLAG_RETAIN: u8 = 1 << 0;
const FLAG_CHECK_ROUTE: u8 = 1 << 1;
const HEADER_SIZE: usize = 20;

/// One message with its publish context and its route. Everything borrows
/// from the input buffer and is valid only during the call: copy what you
/// keep.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// The PUBLISH payload.
    pub payload: &'a [u8],
    /// The topic it was published to.
    pub topic: &'a str,
    /// The publisher's client id.
    pub client_id: &'a str,
    /// The publisher's user name, or empty.
    pub username: &'a str,
    /// MQTT 5 content type, or empty.
    pub content_type: &'a str,
    /// 0, 1 or 2.
    pub qos: u8,
    /// The PUBLISH had the retain flag.
    pub retain: bool,
    /// 3, 4 (MQTT 3.1.1) or 5.
    pub protocol_version: u8,
    /// Receive time, unix nanoseconds UTC.
    pub received: i64,
    /// The route's table.
    pub table: &'a str,
    /// MQTT 5 user properties, in PUBLISH order.
    pub user_properties: Pairs<'a>,
    /// The route's options, in configuration order.
    pub options: Pairs<'a>,
    /// The host asks only to validate `table` and `options`: no payload.
    pub check_only: bool,
    /// The host's row limit for this message (0: none).
    pub max_rows: u32,
    /// The host's output size limit in bytes (0: none).
    pub max_bytes: u32,
}

impl<'a> Input<'a> {
    /// Decodes one ABI-encoded input, checking that its strings are UTF-8.
    pub fn decode(b: &'a [u8]) -> Result<Input<'a>, &'static str> {
        Self::decode_with(b, false)
    }

    /// Decodes an input the host wrote: the ABI promises its strings are
    /// UTF-8 (the host replaces invalid bytes), so they are not checked
    /// again (ABI.md, "Encodings").
    ///
    /// # Safety
    ///
    /// Every string in `b` must be valid UTF-8.
    pub(crate) unsafe fn decode_from_host(b: &'a [u8]) -> Result<Input<'a>, &'static str> {
        Self::decode_with(b, true)
    }

    fn decode_with(b: &'a [u8], utf8_known: bool) -> Result<Input<'a>, &'static str> {
        if b.len() < HEADER_SIZE {
            return Err("sdk: bad input encoding: short header");
        }
        if b[0] != crate::ABI_VERSION as u8 {
            return Err("sdk: bad input encoding: unknown input version");
        }
        let mut d = Dec { b, off: HEADER_SIZE, utf8_known };
        let topic = d.str()?;
        let client_id = d.str()?;
        let username = d.str()?;
        let content_type = d.str()?;
        let user_properties = d.pairs()?;
        let table = d.str()?;
        let options = d.pairs()?;
        let payload = d.bytes()?;
        if d.off != b.len() {
            return Err("sdk: bad input encoding: trailing bytes");
        }
        Ok(Input {
            payload,
            topic,
            client_id,
            username,
            content_type,
            qos: b[2],
            retain: b[1] & FLAG_RETAIN != 0,
            protocol_version: b[3],
            received: le64(&b[4..]) as i64,
            table,
            user_properties,
            options,
            check_only: b[1] & FLAG_CHECK_ROUTE != 0,
            max_rows: le32(&b[12..]),
            max_bytes: le32(&b[16..]),
        })
    }

    /// The value of the first route option named `key`.
    pub fn option(&self, key: &str) -> Option<&'a str> {
        self.options.get(key)
    }

    /// The value of the first user property named `key`.
    pub fn user_property(&self, key: &str) -> Option<&'a str> {
        self.user_properties.get(key)
    }

    /// Topic level `i` (0-based), or "" if the topic has fewer levels.
    pub fn topic_level(&self, i: usize) -> &'a str {
        self.topic.split('/').nth(i).unwrap_or("")
    }
}

/// A list of key/value pairs (options or user properties), decoded lazily.
#[derive(Clone, Copy, Debug)]
pub struct Pairs<'a> {
    raw: &'a [u8],
    count: u32,
}

/// One key/value pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pair<'a> {
    /// The key.
    pub key: &'a str,
    /// The value.
    pub value: &'a str,
}

impl<'a> Pairs<'a> {
    /// How many pairs there are.
    pub fn len(&self) -> usize {
        self.count as usize
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    /// The value of the first pair named `key`.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.iter().find(|p| p.key == key).map(|p| p.value)
    }
    /// The pairs in order.
    pub fn iter(&self) -> PairsIter<'a> {
        // Checked (or promised by the host) when the input was decoded.
        PairsIter { d: Dec { b: self.raw, off: 0, utf8_known: true }, left: self.count }
    }
}

impl<'a> IntoIterator for Pairs<'a> {
    type Item = Pair<'a>;
    type IntoIter = PairsIter<'a>;
    #[inline(always)]
    fn into_iter(self) -> PairsIter<'a> {
        self.iter()
    }
}

/// Iterates over Pairs.
#[derive(Clone, Debug)]
pub struct PairsIter<'a> {
    d: Dec<'a>,
    left: u32,
}

impl<'a> Iterator for PairsIter<'a> {
    type Item = Pair<'a>;
    #[inline(always)]
    fn next(&mut self) -> Option<Pair<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let key = self.d.str().ok()?;
        let value = self.d.str().ok()?;
        Some(Pair { key, value })
    }
}

#[derive(Clone, Debug)]
struct Dec<'a> {
    b: &'a [u8],
    off: usize,
    // The strings are known to be UTF-8: str does not check them.
    utf8_known: bool,
}

// The small readers here and the column writers of output.rs are
// #[inline(always)]: LLVM left them as calls, and a call in wazero's machine
// code spills every live register and burns the deadline check at the
// callee's entry. Inlined, a message's fixed cost in the JSON formatter
// went from about 650 to 420 ns (plugins' BenchmarkFormatJSONBatch,
// one_column/format_all).
impl<'a> Dec<'a> {
    #[inline(always)]
    fn u32(&mut self) -> Result<u32, &'static str> {
        if self.b.len() - self.off < 4 {
            return Err("sdk: bad input encoding: truncated");
        }
        let v = le32(&self.b[self.off..]);
        self.off += 4;
        Ok(v)
    }
    #[inline(always)]
    fn bytes(&mut self) -> Result<&'a [u8], &'static str> {
        let n = self.u32()? as usize;
        if n > self.b.len() - self.off {
            return Err("sdk: bad input encoding: truncated");
        }
        let v = &self.b[self.off..self.off + n];
        self.off += n;
        Ok(v)
    }
    #[inline(always)]
    fn str(&mut self) -> Result<&'a str, &'static str> {
        let b = self.bytes()?;
        if self.utf8_known {
            // SAFETY: see utf8_known; Pairs are only made by pairs below,
            // from strings checked or promised UTF-8.
            return Ok(unsafe { core::str::from_utf8_unchecked(b) });
        }
        core::str::from_utf8(b).map_err(|_| "sdk: bad input encoding: a string is not UTF-8")
    }
    /// Checks a list of pairs and returns it undecoded.
    #[inline(always)]
    fn pairs(&mut self) -> Result<Pairs<'a>, &'static str> {
        let count = self.u32()?;
        if count as u64 * 8 > (self.b.len() - self.off) as u64 {
            return Err("sdk: bad input encoding: truncated");
        }
        let start = self.off;
        for _ in 0..count {
            self.str()?;
            self.str()?;
        }
        Ok(Pairs { raw: &self.b[start..self.off], count })
    }
}

#[inline(always)]
pub(crate) fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

#[inline(always)]
pub(crate) fn le64(b: &[u8]) -> u64 {
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}
