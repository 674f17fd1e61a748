//! How pf-to-tcp shows a message: the decoded form from `ike_pfkey`'s codec (or
//! the header alone when the codec refuses the bytes), then a hex dump. Keys are
//! redacted in the decoded form by the codec; the hex dump shows every byte, which
//! is the point of a debugging proxy that only listens on loopback.

use ike_pfkey::dialect::Dialect;
use ike_pfkey::wire::{HeaderView, Message};
use std::fmt::Write;

/// `direction` is e.g. "client -> kernel".
pub fn render(direction: &str, dialect: Dialect, bytes: &[u8]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "=== {direction}: {} bytes", bytes.len());
    match Message::parse(dialect, bytes) {
        Ok(m) => {
            let _ = writeln!(out, "{m:#?}");
        }
        Err(e) => {
            let _ = writeln!(out, "{}", header_line(bytes));
            let _ = writeln!(out, "(not decodable as {dialect:?} PF_KEY: {e})");
        }
    }
    out.push_str(&hex(bytes));
    out
}

/// The 16-byte `sadb_msg` fields, or a note that there are fewer bytes.
pub fn header_line(bytes: &[u8]) -> String {
    match HeaderView::new_prefix(bytes) {
        Ok(h) => format!(
            "sadb_msg version={} type={} errno={} satype={} len={} reserved={} seq={} pid={}",
            h.version(),
            h.msg_type(),
            h.errno(),
            h.satype(),
            h.total_len(),
            h.reserved(),
            h.seq(),
            h.pid()
        ),
        Err(_) => format!("{} bytes: shorter than sadb_msg", bytes.len()),
    }
}

/// 16 bytes a line: offset, hex in 8-byte groups.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (i, line) in bytes.chunks(16).enumerate() {
        let _ = write!(out, "  {:04x}:", i * 16);
        for (j, b) in line.iter().enumerate() {
            if j == 8 {
                out.push(' ');
            }
            let _ = write!(out, " {b:02x}");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_request_decodes() {
        // SADB_REGISTER for ESP: version 2, type 7, errno 0, satype 3, 2 words, seq 5, pid 9
        let mut m = vec![2u8, 7, 0, 3];
        m.extend_from_slice(&2u16.to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&5u32.to_ne_bytes());
        m.extend_from_slice(&9u32.to_ne_bytes());
        let s = render("client -> kernel", Dialect::Linux, &m);
        assert!(s.starts_with("=== client -> kernel: 16 bytes\n"), "{s}");
        assert!(s.contains("Register"), "{s}");
        assert!(s.contains("  0000: 02 07 00 03"), "{s}");
    }

    #[test]
    fn garbage_shows_header_and_error() {
        let s = render("kernel -> client", Dialect::Linux, &[9u8; 16]);
        assert!(s.contains("sadb_msg version=9 type=9"), "{s}");
        assert!(s.contains("not decodable"), "{s}");
        let s = render("kernel -> client", Dialect::Linux, &[1, 2, 3]);
        assert!(s.contains("3 bytes: shorter than sadb_msg"), "{s}");
    }

    #[test]
    fn hex_layout() {
        let h = hex(&(0u8..18).collect::<Vec<_>>());
        assert_eq!(
            h,
            "  0000: 00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f\n  0010: 10 11\n"
        );
    }
}
