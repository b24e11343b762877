//! Go's strconv.Quote and jsonscan's quoteByte, for error texts that must
//! match the Go formatter's byte for byte.

use crate::isprint::{PRINT16, PRINT32};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Describes a byte for an error message: 'c' or byte 0xNN.
pub fn quote_byte(c: u8) -> String {
    if (0x20..0x7f).contains(&c) {
        if c == b'\'' {
            return "\"'\"".into();
        }
        return format!("'{}'", c as char);
    }
    format!("byte 0x{}{}", HEX[(c >> 4) as usize] as char, HEX[(c & 15) as usize] as char)
}

/// Go's strconv.IsPrint.
pub fn is_print(r: u32) -> bool {
    if r < 0x10000 {
        let r = r as u16;
        let i = PRINT16.partition_point(|&(_, hi)| hi < r);
        i < PRINT16.len() && PRINT16[i].0 <= r
    } else {
        let i = PRINT32.partition_point(|&(_, hi)| hi < r);
        i < PRINT32.len() && PRINT32[i].0 <= r
    }
}

/// Go's strconv.Quote of the bytes s (invalid UTF-8 bytes become \xNN).
pub fn quote(s: &[u8]) -> String {
    let mut b: Vec<u8> = Vec::with_capacity(s.len() + 2);
    b.push(b'"');
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        let (r, width) = if c < 0x80 {
            (c as u32, 1)
        } else {
            let n = crate::scan::utf8_size(s, i);
            if n == 0 {
                b.extend_from_slice(&[b'\\', b'x', HEX[(c >> 4) as usize], HEX[(c & 15) as usize]]);
                i += 1;
                continue;
            }
            match core::str::from_utf8(&s[i..i + n]).ok().and_then(|t| t.chars().next()) {
                Some(ch) => (ch as u32, n),
                None => (0xFFFD, n),
            }
        };
        i += width;
        escape_rune(&mut b, r);
    }
    b.push(b'"');
    String::from_utf8(b).unwrap_or_default()
}

fn escape_rune(b: &mut Vec<u8>, r: u32) {
    if r == '"' as u32 || r == '\\' as u32 {
        b.push(b'\\');
        b.push(r as u8);
        return;
    }
    if is_print(r) {
        let mut tmp = [0u8; 4];
        let ch = char::from_u32(r).unwrap_or('\u{FFFD}');
        b.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
        return;
    }
    match r {
        7 => b.extend_from_slice(b"\\a"),
        8 => b.extend_from_slice(b"\\b"),
        0xC => b.extend_from_slice(b"\\f"),
        0xA => b.extend_from_slice(b"\\n"),
        0xD => b.extend_from_slice(b"\\r"),
        9 => b.extend_from_slice(b"\\t"),
        0xB => b.extend_from_slice(b"\\v"),
        _ => {
            if r < 0x20 || r == 0x7f {
                b.extend_from_slice(&[b'\\', b'x', HEX[(r >> 4) as usize], HEX[(r & 15) as usize]]);
            } else if r < 0x10000 {
                b.extend_from_slice(b"\\u");
                for s in [12, 8, 4, 0] {
                    b.push(HEX[((r >> s) & 15) as usize]);
                }
            } else {
                b.extend_from_slice(b"\\U");
                for s in [28, 24, 20, 16, 12, 8, 4, 0] {
                    b.push(HEX[((r >> s) & 15) as usize]);
                }
            }
        }
    }
}
