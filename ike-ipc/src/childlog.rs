//! Logging from the children.
//!
//! A sandboxed child cannot reach syslog (no socket, no /dev/log in the
//! chroot), so it writes one line per record to its stderr, which the parent
//! holds the other end of: a pipe. The parent reads the lines, treats them as
//! untrusted text (length cap, control characters escaped) and logs them
//! through its own logger (stderr with -d, syslog when daemonized).
//!
//! Line format: one level letter (`E W I D T`), a space, the message, `\n`.

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write;

/// The longest line the parent forwards; the rest is cut.
pub const MAX_LINE: usize = 2048;

struct ChildLogger;

impl Log for ChildLogger {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let letter = match r.level() {
            Level::Error => 'E',
            Level::Warn => 'W',
            Level::Info => 'I',
            Level::Debug => 'D',
            Level::Trace => 'T',
        };
        // One write per line so lines from one process never interleave.
        let line = format!("{letter} {}\n", r.args()).replace(['\r'], " ");
        let body = line.trim_end_matches('\n').replace('\n', " | ");
        let _ = std::io::stderr().write_all(format!("{body}\n").as_bytes());
    }

    fn flush(&self) {}
}

static LOGGER: ChildLogger = ChildLogger;

/// Installs the child logger at `level`.
pub fn init(level: LevelFilter) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

/// Parent side: turns one raw line from a child into a level and a safe
/// message (cut to [`MAX_LINE`], control characters and non-UTF-8 escaped).
pub fn parse_line(raw: &[u8]) -> (Level, String) {
    let (level, body) = match raw {
        [l, b' ', rest @ ..] => match l {
            b'E' => (Level::Error, rest),
            b'W' => (Level::Warn, rest),
            b'I' => (Level::Info, rest),
            b'D' => (Level::Debug, rest),
            b'T' => (Level::Trace, rest),
            _ => (Level::Warn, raw),
        },
        // Not our format (a panic message, say): surface it as a warning.
        _ => (Level::Warn, raw),
    };
    (level, sanitize(body))
}

/// Untrusted bytes to one safe log line: cut to [`MAX_LINE`], control
/// characters (newlines, terminal escapes) and invalid UTF-8 escaped, so a
/// child can neither forge extra lines nor hide text.
pub fn sanitize(raw: &[u8]) -> String {
    let body = raw.get(..MAX_LINE).unwrap_or(raw);
    let mut out = String::with_capacity(body.len());
    for chunk in body.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_levels_and_escapes() {
        assert_eq!(parse_line(b"E boom"), (Level::Error, "boom".into()));
        assert_eq!(parse_line(b"D x"), (Level::Debug, "x".into()));
        assert_eq!(
            parse_line(b"thread 'main' panicked"),
            (Level::Warn, "thread 'main' panicked".into())
        );
        assert_eq!(
            parse_line(b"I a\x1b[31mb\xff"),
            (Level::Info, "a\\u{1b}[31mb\\xff".into())
        );
        assert_eq!(sanitize(b"a\nb"), "a\\nb");
        let long = vec![b'a'; MAX_LINE * 2];
        assert_eq!(parse_line(&long).1.len(), MAX_LINE);
    }
}
