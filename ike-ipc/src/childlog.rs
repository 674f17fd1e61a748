//! Logging from the children.
//!
//! A sandboxed child cannot reach syslog (no socket, no /dev/log in the
//! chroot), so it writes one line per record to its stderr, which the parent
//! holds the other end of: a pipe. The parent reads the lines, treats them as
//! untrusted text (length cap, control characters escaped) and logs them
//! through its own logger (stderr with -d, syslog when daemonized).
//!
//! Line format: one level letter (`E W N I D T`), a space, the message, `\n`.
//! `N` is an info record with the target [`NOTICE_TARGET`]: the log crate
//! has no NOTICE level, and syslog's LOG_NOTICE is where an operator looks
//! for "normal but significant" events such as dropped input.
//!
//! Cost (issue 12: the per-SA line was 9 % of a handshake): a line is
//! formatted into one reused buffer, without per-line allocations. Inside
//! the event loop ([`batch`]) lines are kept until the loop is about to
//! wait ([`flush`]), or 16 KiB gathered, or an error is logged, then
//! written with one `write`: the parent wakes once per batch and reads many
//! lines per `read`. Nothing is lost: the loop flushes before every wait,
//! the guard on its way out, a panic hook before the panic message.

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::fmt::Write as _;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// A batch is written once it reaches this size.
pub const BATCH_BYTES: usize = 16 * 1024;

/// Lines not yet written, and the line being formatted.
struct Pending {
    out: Vec<u8>,
    line: String,
}

static PENDING: Mutex<Pending> = Mutex::new(Pending {
    out: Vec::new(),
    line: String::new(),
});
static BATCHING: AtomicBool = AtomicBool::new(false);

fn write_out(out: &mut Vec<u8>) {
    if !out.is_empty() {
        let _ = std::io::stderr().write_all(out);
        out.clear();
    }
}

/// Writes the lines gathered so far.
pub fn flush() {
    if let Ok(mut p) = PENDING.lock() {
        write_out(&mut p.out);
    }
}

/// While the returned guard lives, lines are batched (see the module
/// comment); the event loop calls [`flush`] before it waits. Dropping the
/// guard writes what is left and returns to one write per line.
pub fn batch() -> BatchGuard {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // The lines before the panic first, then its message.
            flush();
            previous(info);
        }));
    });
    BATCHING.store(true, Ordering::Relaxed);
    BatchGuard(())
}

pub struct BatchGuard(());

impl Drop for BatchGuard {
    fn drop(&mut self) {
        BATCHING.store(false, Ordering::Relaxed);
        flush();
    }
}

/// The longest line the parent forwards; the rest is cut.
pub const MAX_LINE: usize = 2048;

struct ChildLogger;

impl ChildLogger {
    fn letter(r: &Record<'_>) -> char {
        match r.level() {
            Level::Error => 'E',
            Level::Warn => 'W',
            Level::Info if r.target() == NOTICE_TARGET => 'N',
            Level::Info => 'I',
            Level::Debug => 'D',
            Level::Trace => 'T',
        }
    }
}

impl Log for ChildLogger {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let letter = ChildLogger::letter(r);
        let Ok(mut guard) = PENDING.lock() else {
            return;
        };
        let p = &mut *guard;
        append_line(&mut p.out, &mut p.line, letter, *r.args());
        // Whole lines only, from a single writer: lines never interleave.
        if !BATCHING.load(Ordering::Relaxed)
            || r.level() == Level::Error
            || p.out.len() >= BATCH_BYTES
        {
            write_out(&mut p.out);
        }
        // Do not keep a huge line's buffer around.
        if p.line.capacity() > 4 * MAX_LINE {
            p.line = String::new();
        }
    }

    fn flush(&self) {
        flush();
    }
}

/// Appends one record as one line to `out` (`line` is a reused scratch
/// buffer): a newline inside the message would let it pass for several
/// records, so newlines become " | " and carriage returns spaces.
fn append_line(out: &mut Vec<u8>, line: &mut String, letter: char, args: std::fmt::Arguments<'_>) {
    line.clear();
    let _ = write!(line, "{args}");
    let body = line.trim_end_matches('\n');
    out.push(letter as u8);
    out.push(b' ');
    for (i, part) in body.split('\n').enumerate() {
        if i > 0 {
            out.extend_from_slice(b" | ");
        }
        out.extend(part.bytes().map(|b| if b == b'\r' { b' ' } else { b }));
    }
    out.push(b'\n');
}

static LOGGER: ChildLogger = ChildLogger;

/// Installs the child logger at `level`.
pub fn init(level: LevelFilter) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

/// The level named by `RUST_LOG` (a bare level such as `debug`; per-module
/// filters are not read), else `default`. For the stand-alone tools that
/// share this crate with the broker (pfkey-sim, pfkey-probe): they log
/// with [`init`] too, so the broker's crate does not link env_logger
/// (issue 14: the broker's dependency tree is kept at 15 crates).
pub fn level_from_env(default: LevelFilter) -> LevelFilter {
    std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// The target of info records meant for syslog's LOG_NOTICE (line
/// letter `N`); the parent logs a child's such line with the target
/// `"<child>/notice"` ([`is_notice`]).
pub const NOTICE_TARGET: &str = "notice";

/// True for a child's line at notice level.
pub fn is_notice(raw: &[u8]) -> bool {
    raw.starts_with(b"N ")
}

/// Parent side: turns one raw line from a child into a level and a safe
/// message (cut to [`MAX_LINE`], control characters and non-UTF-8 escaped).
/// A notice line is [`Level::Info`] here; see [`is_notice`].
pub fn parse_line(raw: &[u8]) -> (Level, String) {
    let (level, body) = match raw {
        [l, b' ', rest @ ..] => match l {
            b'E' => (Level::Error, rest),
            b'W' => (Level::Warn, rest),
            b'I' | b'N' => (Level::Info, rest),
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
    fn records_become_single_lines_in_one_buffer() {
        let (mut out, mut scratch) = (Vec::new(), String::new());
        append_line(&mut out, &mut scratch, 'I', format_args!("sa {} up", 7));
        append_line(&mut out, &mut scratch, 'W', format_args!("a\nb\r\n"));
        append_line(&mut out, &mut scratch, 'E', format_args!(""));
        assert_eq!(out, b"I sa 7 up\nW a | b \nE \n");
        // What the parent makes of them.
        let lines: Vec<_> = out.split(|b| *b == b'\n').collect();
        assert_eq!(parse_line(lines[0]), (Level::Info, "sa 7 up".into()));
        assert_eq!(parse_line(lines[1]), (Level::Warn, "a | b ".into()));
    }

    #[test]
    fn notice_records_get_their_own_letter() {
        let (mut out, mut scratch) = (Vec::new(), String::new());
        let letter = |target: &str, level: Level| {
            let r = Record::builder().target(target).level(level).build();
            ChildLogger::letter(&r)
        };
        assert_eq!(letter(NOTICE_TARGET, Level::Info), 'N');
        assert_eq!(letter("ike_proto::engine", Level::Info), 'I');
        assert_eq!(letter(NOTICE_TARGET, Level::Warn), 'W');
        append_line(&mut out, &mut scratch, 'N', format_args!("dropped"));
        assert!(is_notice(&out));
        assert_eq!(
            parse_line(&out[..out.len() - 1]),
            (Level::Info, "dropped".into())
        );
        assert!(!is_notice(b"I x") && !is_notice(b"Nx"));
    }

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
