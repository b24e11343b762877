//! The lakegate plugin SDK for Rust: write a payload formatter as a
//! `cdylib` for `wasm32-unknown-unknown` that speaks the guest ABI, version 1
//! (`sdk-plugin/ABI.md`).
//!
//! ```ignore
//! use lakegate_sdk::{Error, Input, Output};
//!
//! fn format(input: &Input, out: &mut Output) -> Result<(), Error> {
//!     if input.payload.is_empty() {
//!         return Err(Error::malformed("empty payload"));
//!     }
//!     out.row("");                                  // the route's table, receive time
//!     out.string("device", input.topic_level(1));
//!     out.int("size", input.payload.len() as i64);
//!     Ok(())
//! }
//!
//! lakegate_sdk::export_formatter!(format);
//! ```
//!
//! `export_formatter!` defines the ABI exports (`lakegate_abi_version`,
//! `lakegate_input`, `lakegate_format` and `lakegate_format_batch`, which
//! runs the handler on each message of a batch); an optional second
//! argument names a function that validates a route's options at the
//! gateway's start: `export_formatter!(format, check)`.
//!
//! The crate has no dependencies and uses `std` only for `Vec` and `String`.
//! Decoding the input does not allocate; the output is appended to one buffer
//! reused for every message.

#![warn(missing_docs)]

mod input;
mod output;
pub mod reader;

pub use input::{Input, Pair, Pairs};
pub use output::{Mark, Output};

/// The guest ABI version this SDK implements.
pub const ABI_VERSION: i32 = 1;

/// Column value kinds (ABI.md, "Output"); never renumbered.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Null = 0,
    Int64 = 1,
    Float64 = 2,
    Bool = 3,
    String = 4,
    Bytes = 5,
    /// Unix nanoseconds, UTC.
    Timestamp = 6,
}

/// Output statuses (the first byte of the output).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// Rows follow.
    Ok = 0,
    /// The payload could not be parsed: MQTT 5 reason 0x99 to the publisher.
    Malformed = 1,
    /// Another failure, such as a bad route option.
    Failed = 2,
    /// The output would break the host's row or byte limit.
    Limit = 3,
}

/// Why a handler refused a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The payload could not be parsed (status 1).
    Malformed(String),
    /// Something else is wrong, e.g. a route option (status 2).
    Failed(String),
}

impl Error {
    /// A malformed payload, with a text saying where and what.
    pub fn malformed(text: impl Into<String>) -> Error {
        Error::Malformed(text.into())
    }
    /// A failure that is not the payload's fault, such as a bad option.
    pub fn failed(text: impl Into<String>) -> Error {
        Error::Failed(text.into())
    }
}

/// Log levels, in `log/slog` numbers.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Level {
    Debug = -4,
    Info = 0,
    Warn = 4,
    Error = 8,
}

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "lakegate")]
extern "C" {
    #[link_name = "log"]
    fn host_log(level: i32, ptr: *const u8, len: i32);
}

/// Sends one line to the gateway's logger. The host rate-limits guest logs
/// (100 lines a second, 1 KiB each): use it for rare events, not per message.
pub fn log(level: Level, msg: &str) {
    if msg.is_empty() {
        return;
    }
    #[cfg(target_arch = "wasm32")]
    // SAFETY: the host reads len bytes at ptr from this module's memory.
    unsafe {
        host_log(level as i32, msg.as_ptr(), msg.len() as i32)
    }
    #[cfg(not(target_arch = "wasm32"))]
    let _ = level;
}

/// What the SDK's allocator logs (at Error level) when an allocation
/// fails, just before Rust aborts the call: the host then reports the call
/// as out of memory (failure `oom`) rather than as a bare trap. The host
/// matches these first words (ABI.md, "Limits").
pub const OUT_OF_MEMORY: &str = "out of memory: an allocation failed (the route's plugin memory limit)";

/// The SDK's global allocator: the system one, which on a failed
/// allocation first tells the host (see OUT_OF_MEMORY). A plugin built on
/// the SDK uses it; it cannot set a global allocator of its own.
#[cfg(target_arch = "wasm32")]
mod allocator {
    use std::alloc::{GlobalAlloc, Layout, System};

    struct Reporting;

    fn checked(p: *mut u8) -> *mut u8 {
        if p.is_null() {
            super::log(super::Level::Error, super::OUT_OF_MEMORY);
        }
        p
    }

    // SAFETY: every method forwards to System with the same arguments.
    unsafe impl GlobalAlloc for Reporting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            checked(System.alloc(layout))
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            checked(System.alloc_zeroed(layout))
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            System.dealloc(ptr, layout)
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            checked(System.realloc(ptr, layout, new_size))
        }
    }

    #[global_allocator]
    static ALLOCATOR: Reporting = Reporting;
}

/// A formatter: turns one message into rows.
pub type Handler = fn(&Input, &mut Output) -> Result<(), Error>;

/// A route check: validates `input.table` and `input.options` at the start.
pub type Checker = fn(&Input) -> Result<(), Error>;

/// Runs one ABI-encoded input through a handler and returns the encoded
/// output, checking that the input's strings are UTF-8. Tests and
/// benchmarks may call it natively; the exports take the host's word for
/// UTF-8 instead (ABI.md, "Encodings").
pub fn run<'o>(handler: Handler, checker: Option<Checker>, input: &[u8], out: &'o mut Output) -> &'o [u8] {
    handle(handler, checker, Input::decode(input), out)
}

/// Runs an input decoded from the ABI.
fn handle<'o>(
    handler: Handler,
    checker: Option<Checker>,
    decoded: Result<Input, &'static str>,
    out: &'o mut Output,
) -> &'o [u8] {
    // Borrowed where it was decoded: moving the Input out of the Result
    // costs a copy of it per message.
    let inp = match &decoded {
        Ok(i) => i,
        Err(e) => return out.fail(Status::Failed, e),
    };
    out.reset(inp.max_rows, inp.max_bytes);
    let res = if inp.check_only {
        match checker {
            Some(c) => c(inp),
            None => Ok(()),
        }
    } else {
        handler(inp, out)
    };
    match res {
        Err(Error::Malformed(t)) => out.fail(Status::Malformed, &t),
        Err(Error::Failed(t)) => out.fail(Status::Failed, &t),
        Ok(()) if inp.check_only => {
            out.reset(0, 0);
            out.finish()
        }
        Ok(()) => match out.over_text() {
            Some(t) => out.fail(Status::Limit, &t),
            None => out.finish(),
        },
    }
}

/// Implementation of `export_formatter!`; not part of the API.
#[doc(hidden)]
pub mod __private {
    use super::{Checker, Handler, Input, Output, Status};

    // One instance runs one call at a time, on one thread: plain statics
    // are the guest's state, as in any wasm32-unknown-unknown module.
    static mut INBUF: Vec<u8> = Vec::new();
    static mut OUT: Output = Output::new();
    static mut BATCH: Vec<u8> = Vec::new();

    /// `lakegate_input`: a buffer of at least `size` bytes, kept and reused.
    pub fn input(size: i32) -> i32 {
        if size < 0 {
            return 0;
        }
        // SAFETY: single-threaded guest; no reference outlives this call.
        unsafe {
            let buf = &mut *core::ptr::addr_of_mut!(INBUF);
            if (size as usize) > buf.len() || buf.is_empty() {
                let n = (size as usize).max(4096);
                *buf = vec![0; n];
            }
            buf.as_mut_ptr() as usize as i32
        }
    }

    /// `lakegate_format`: handles the `len`-byte input in the input buffer.
    pub fn format(len: i32, handler: Handler, checker: Option<Checker>) -> i64 {
        // SAFETY: single-threaded guest; the output stays valid until the
        // next call, as the ABI says.
        unsafe {
            let buf = &*core::ptr::addr_of!(INBUF);
            let out = &mut *core::ptr::addr_of_mut!(OUT);
            let res = if len < 0 || len as usize > buf.len() {
                out.fail(Status::Failed, "sdk: input length out of range")
            } else {
                // The host promises UTF-8 strings (ABI.md, "Encodings").
                super::handle(handler, checker, Input::decode_from_host(&buf[..len as usize]), out)
            };
            ((res.as_ptr() as usize as i64) << 32) | res.len() as i64
        }
    }

    /// `lakegate_format_batch`: handles the batch of inputs in the input
    /// buffer (ABI.md, "Batches"), each as `format` would, and returns
    /// their outputs in one buffer. An input buffer that is not a batch
    /// gives an empty output, which the host takes as a refusal.
    pub fn format_batch(len: i32, handler: Handler, checker: Option<Checker>) -> i64 {
        // SAFETY: as in format; BATCH is this call's output, valid until
        // the next call.
        unsafe {
            let buf = &*core::ptr::addr_of!(INBUF);
            let out = &mut *core::ptr::addr_of_mut!(OUT);
            let batch = &mut *core::ptr::addr_of_mut!(BATCH);
            batch.clear();
            if len >= 0 && len as usize <= buf.len() && !batch_into(&buf[..len as usize], handler, checker, out, batch) {
                batch.clear();
            }
            ((batch.as_ptr() as usize as i64) << 32) | batch.len() as i64
        }
    }

    /// Appends the outputs of batch's inputs to dst; false if batch is
    /// not a well-formed batch.
    fn batch_into(batch: &[u8], handler: Handler, checker: Option<Checker>, out: &mut Output, dst: &mut Vec<u8>) -> bool {
        let count = match le_u32(batch, 0) {
            Some(c) => c,
            None => return false,
        };
        dst.extend_from_slice(&count.to_le_bytes());
        let mut off = 4;
        for _ in 0..count {
            let n = match le_u32(batch, off) {
                Some(n) => n,
                None => return false,
            };
            let (start, end) = (off + 4, off + 4 + n as usize);
            if end > batch.len() {
                return false;
            }
            // SAFETY: the host wrote the batch and promises UTF-8 strings
            // (ABI.md, "Encodings").
            let input = unsafe { Input::decode_from_host(&batch[start..end]) };
            let res = super::handle(handler, checker, input, out);
            dst.extend_from_slice(&(res.len() as u32).to_le_bytes());
            dst.extend_from_slice(res);
            off = end;
        }
        off == batch.len()
    }

    /// The u32 at b[off..], if b holds one there.
    #[inline(always)]
    fn le_u32(b: &[u8], off: usize) -> Option<u32> {
        b.get(off..off.checked_add(4)?).map(crate::input::le32)
    }
}

/// Defines the ABI exports for a formatter function and, optionally, a
/// route-check function. Use it once, in the plugin's `cdylib` crate.
#[macro_export]
macro_rules! export_formatter {
    ($handler:path) => {
        $crate::export_formatter!(@exports $handler, ::core::option::Option::None);
    };
    ($handler:path, $checker:path) => {
        $crate::export_formatter!(@exports $handler,
            ::core::option::Option::Some($checker as $crate::Checker));
    };
    (@exports $handler:path, $checker:expr) => {
        #[no_mangle]
        pub extern "C" fn lakegate_abi_version() -> i32 {
            $crate::ABI_VERSION
        }
        #[no_mangle]
        pub extern "C" fn lakegate_input(size: i32) -> i32 {
            $crate::__private::input(size)
        }
        #[no_mangle]
        pub extern "C" fn lakegate_format(len: i32) -> i64 {
            $crate::__private::format(len, $handler, $checker)
        }
        #[no_mangle]
        pub extern "C" fn lakegate_format_batch(len: i32) -> i64 {
            $crate::__private::format_batch(len, $handler, $checker)
        }
    };
}
