//! A cursor over binary payloads: fixed-size integers and floats in either
//! byte order, byte runs, and errors that say at which byte and what was
//! missing. It never allocates and never panics on short input.
//!
//! ```
//! use lakegate_sdk::reader::Reader;
//! let mut r = Reader::new(&[0x34, 0x12, 0xff]);
//! assert_eq!(r.u16_le(), Ok(0x1234));
//! assert!(r.u16_le().is_err()); // one byte left
//! ```

use core::fmt;

/// A short read: `want` bytes were needed at byte `at`, `have` were left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShortRead {
    /// Offset of the read in the payload.
    pub at: usize,
    /// Bytes the read needed.
    pub want: usize,
    /// Bytes that were left.
    pub have: usize,
}

impl fmt::Display for ShortRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "byte {}: need {} bytes, have {}", self.at, self.want, self.have)
    }
}

impl From<ShortRead> for crate::Error {
    fn from(e: ShortRead) -> crate::Error {
        crate::Error::Malformed(e.to_string())
    }
}

/// Reads a byte slice front to back.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    b: &'a [u8],
    off: usize,
}

macro_rules! fixed {
    ($($le:ident, $be:ident, $t:ty);* $(;)?) => {$(
        #[doc = concat!("Reads a little-endian `", stringify!($t), "`.")]
        #[inline]
        pub fn $le(&mut self) -> Result<$t, ShortRead> {
            Ok(<$t>::from_le_bytes(self.array()?))
        }
        #[doc = concat!("Reads a big-endian `", stringify!($t), "`.")]
        #[inline]
        pub fn $be(&mut self) -> Result<$t, ShortRead> {
            Ok(<$t>::from_be_bytes(self.array()?))
        }
    )*};
}

impl<'a> Reader<'a> {
    /// A reader at the start of `b`.
    pub fn new(b: &'a [u8]) -> Reader<'a> {
        Reader { b, off: 0 }
    }

    /// The offset of the next read.
    pub fn pos(&self) -> usize {
        self.off
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        &self.b[self.off..]
    }

    /// How many bytes are left.
    pub fn remaining(&self) -> usize {
        self.b.len() - self.off
    }

    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.off == self.b.len()
    }

    /// Reads the next `n` bytes.
    #[inline]
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], ShortRead> {
        if n > self.remaining() {
            return Err(ShortRead { at: self.off, want: n, have: self.remaining() });
        }
        let v = &self.b[self.off..self.off + n];
        self.off += n;
        Ok(v)
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize) -> Result<(), ShortRead> {
        self.bytes(n).map(|_| ())
    }

    /// Reads the next `N` bytes as an array.
    #[inline]
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], ShortRead> {
        let s = self.bytes(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// Reads a `u8`.
    #[inline]
    pub fn u8(&mut self) -> Result<u8, ShortRead> {
        Ok(self.array::<1>()?[0])
    }

    /// Reads an `i8`.
    #[inline]
    pub fn i8(&mut self) -> Result<i8, ShortRead> {
        Ok(self.u8()? as i8)
    }

    fixed! {
        u16_le, u16_be, u16;
        i16_le, i16_be, i16;
        u32_le, u32_be, u32;
        i32_le, i32_be, i32;
        u64_le, u64_be, u64;
        i64_le, i64_be, i64;
        f32_le, f32_be, f32;
        f64_le, f64_be, f64;
    }
}
