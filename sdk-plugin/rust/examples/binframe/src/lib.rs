//! Example lakegate formatter in Rust: the binary frames of a (fictional)
//! Acme TH-20 temperature and humidity sensor. See README.md for the frame
//! layout, the options and the output.

use lakegate_sdk::reader::Reader;
use lakegate_sdk::{Error, Input, Output};

/// Size of one frame in bytes.
pub const FRAME_SIZE: usize = 20;
/// The first two bytes of every frame, read little-endian.
pub const MAGIC: u16 = 0xA55A;
/// The frame layout version this formatter reads.
pub const VERSION: u8 = 1;
/// The temperature value of a frame without a reading.
pub const NO_TEMPERATURE: i16 = i16::MIN;

const FLAG_BATTERY_LOW: u8 = 1 << 0;
const FLAG_HUMIDITY_FAULT: u8 = 1 << 1;

lakegate_sdk::export_formatter!(format, check);

/// Route options, read from the input.
struct Options {
    check_crc: bool,
    frame_time: bool,
}

fn options(input: &Input) -> Result<Options, Error> {
    let mut o = Options { check_crc: true, frame_time: true };
    for p in input.options {
        match (p.key, p.value) {
            ("crc", "check") => o.check_crc = true,
            ("crc", "ignore") => o.check_crc = false,
            ("time", "frame") => o.frame_time = true,
            ("time", "received") => o.frame_time = false,
            ("crc", v) => return Err(Error::failed(format!("option crc: {:?} is not check or ignore", v))),
            ("time", v) => return Err(Error::failed(format!("option time: {:?} is not frame or received", v))),
            (k, _) => return Err(Error::failed(format!("unknown option {:?} (known: crc, time)", k))),
        }
    }
    Ok(o)
}

/// Validates the route's options when the gateway starts.
pub fn check(input: &Input) -> Result<(), Error> {
    options(input).map(|_| ())
}

/// Turns a payload of one or more frames into one row per frame.
pub fn format(input: &Input, out: &mut Output) -> Result<(), Error> {
    let opts = options(input)?;
    let p = input.payload;
    if p.is_empty() {
        return Err(Error::malformed("empty payload: want one or more 20-byte frames"));
    }
    if p.len() % FRAME_SIZE != 0 {
        return Err(Error::malformed(format!(
            "payload is {} bytes: want a multiple of {} (one or more frames)",
            p.len(),
            FRAME_SIZE
        )));
    }
    for (i, frame) in p.chunks_exact(FRAME_SIZE).enumerate() {
        let at = i * FRAME_SIZE;
        let bad = |what: String| Error::malformed(format!("frame {} (byte {}): {}", i + 1, at, what));
        let mut r = Reader::new(frame);
        let magic = r.u16_le()?;
        if magic != MAGIC {
            return Err(bad(format!("bad magic {:#06x}, want {:#06x}", magic, MAGIC)));
        }
        let version = r.u8()?;
        if version != VERSION {
            return Err(bad(format!("frame version {}, this formatter reads version {}", version, VERSION)));
        }
        let flags = r.u8()?;
        let device = r.u32_le()?;
        let time = r.u32_le()?;
        let temp = r.i16_le()?;
        let hum = r.u16_le()?;
        let battery = r.u16_le()?;
        let crc = r.u16_le()?;
        if opts.check_crc {
            let want = crc16(&frame[..FRAME_SIZE - 2]);
            if crc != want {
                return Err(bad(format!("CRC {:#06x}, computed {:#06x}", crc, want)));
            }
        }
        if hum > 1000 && flags & FLAG_HUMIDITY_FAULT == 0 {
            return Err(bad(format!("humidity {} is over 100.0 %", hum)));
        }

        out.row("");
        if opts.frame_time && time != 0 {
            out.time(time as i64 * 1_000_000_000);
        }
        out.int("device_id", device as i64);
        if temp == NO_TEMPERATURE {
            out.null("temperature");
        } else {
            out.float("temperature", temp as f64 / 100.0);
        }
        if flags & FLAG_HUMIDITY_FAULT != 0 {
            out.null("humidity");
        } else {
            out.float("humidity", hum as f64 / 10.0);
        }
        out.int("battery_mv", battery as i64);
        out.bool("battery_low", flags & FLAG_BATTERY_LOW != 0);
    }
    Ok(())
}

/// CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, no
/// reflection, no final XOR), as the sensor computes it; a byte at a time
/// with a table built at compile time.
pub fn crc16(b: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &x in b {
        crc = (crc << 8) ^ CRC_TABLE[((crc >> 8) as u8 ^ x) as usize];
    }
    crc
}

const CRC_TABLE: [u16; 256] = crc_table();

const fn crc_table() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
            bit += 1;
        }
        t[i] = crc;
        i += 1;
    }
    t
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc16_check_value() {
        // The catalogue's check value for "123456789".
        assert_eq!(super::crc16(b"123456789"), 0x29B1);
    }
}
