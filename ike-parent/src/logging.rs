//! The parent's log: stderr with -d (env_logger), syslog when daemonized.
//!
//! Syslog goes through libc's openlog/syslog rather than a crate: the C
//! library already speaks the local syslog protocol of each OS (/dev/log on
//! Linux and FreeBSD, sendsyslog(2) on OpenBSD), it is one call, and no extra
//! dependency is needed. Only the parent uses it; the children log through
//! their stderr pipe (ike_ipc::childlog) and the parent forwards the lines.

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::ffi::CString;

/// -d: human-readable lines on stderr, each with its UTC time of day.
/// env_logger is built without its time-zone code (jiff), so the time is
/// formatted here.
pub fn init_stderr(level: LevelFilter) {
    use std::io::Write;
    let _ = env_logger::Builder::new()
        .filter_level(level)
        .format(|buf, r| {
            writeln!(
                buf,
                "[{} {:<5} {}] {}",
                utc_time_of_day(std::time::SystemTime::now()),
                r.level(),
                r.target(),
                r.args()
            )
        })
        .target(env_logger::Target::Stderr)
        .try_init();
}

/// `HH:MM:SS.mmm` (UTC) of `t`.
fn utc_time_of_day(t: std::time::SystemTime) -> String {
    let since = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let s = since.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        since.subsec_millis()
    )
}

struct Syslog;

static IDENT: &std::ffi::CStr = c"ike-parent";

impl Log for Syslog {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let (prio, target) = priority(r.level(), r.target());
        // Child lines carry their process name as the target.
        let text = match target {
            t if t.starts_with("ike-net") || t.starts_with("ike-pfkey") => {
                format!("{t}: {}", r.args())
            }
            _ => r.args().to_string(),
        };
        // Interior NULs cannot pass through a C string; replace them.
        let Ok(msg) = CString::new(text.replace('\0', "\\0")) else {
            return;
        };
        // SAFETY: "%s" with one valid NUL-terminated string argument.
        unsafe { libc::syslog(prio, c"%s".as_ptr(), msg.as_ptr()) };
    }

    fn flush(&self) {}
}

/// The syslog priority of a record, and its target without the notice
/// marker. The log crate has no NOTICE level: info records with the target
/// `notice` (ours) or `<child>/notice` (a child's `N` line, see
/// crate::childlog) go out at LOG_NOTICE; that is where the engine's
/// rate-limited "dropped" lines belong.
fn priority(level: Level, target: &str) -> (libc::c_int, &str) {
    let notice = ike_ipc::childlog::NOTICE_TARGET;
    let marked = if target == notice {
        Some("")
    } else {
        target
            .strip_suffix(notice)
            .and_then(|t| t.strip_suffix('/'))
    };
    match (level, marked) {
        (Level::Info, Some(t)) => (libc::LOG_NOTICE, t),
        (Level::Error, _) => (libc::LOG_ERR, target),
        (Level::Warn, _) => (libc::LOG_WARNING, target),
        (Level::Info, _) => (libc::LOG_INFO, target),
        (Level::Debug | Level::Trace, _) => (libc::LOG_DEBUG, target),
    }
}

static SYSLOG: Syslog = Syslog;

/// Daemonized: syslog, daemon facility, with our pid in each line.
pub fn init_syslog(level: LevelFilter) {
    // SAFETY: IDENT is a static C string that lives for the whole program,
    // as openlog requires (it keeps the pointer).
    unsafe {
        libc::openlog(
            IDENT.as_ptr(),
            libc::LOG_PID | libc::LOG_NDELAY,
            libc::LOG_DAEMON,
        )
    };
    let _ = log::set_logger(&SYSLOG);
    log::set_max_level(level);
}

#[cfg(test)]
mod tests {
    use super::{priority, utc_time_of_day};
    use log::Level;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn time_of_day_is_utc_with_millis() {
        // 2026-12-07 21:05:09.042 UTC
        let t = UNIX_EPOCH + Duration::from_millis(1_796_677_509_042);
        assert_eq!(utc_time_of_day(t), "21:05:09.042Z");
        assert_eq!(utc_time_of_day(UNIX_EPOCH), "00:00:00.000Z");
    }

    #[test]
    fn notice_targets_map_to_log_notice() {
        assert_eq!(
            priority(Level::Info, "ike-net/notice"),
            (libc::LOG_NOTICE, "ike-net")
        );
        assert_eq!(priority(Level::Info, "notice"), (libc::LOG_NOTICE, ""));
        assert_eq!(
            priority(Level::Info, "ike-net"),
            (libc::LOG_INFO, "ike-net")
        );
        assert_eq!(priority(Level::Warn, "ike-net/notice").0, libc::LOG_WARNING);
        assert_eq!(priority(Level::Error, "x").0, libc::LOG_ERR);
        assert_eq!(priority(Level::Trace, "x").0, libc::LOG_DEBUG);
        assert_eq!(priority(Level::Info, "ike-netnotice").0, libc::LOG_INFO);
    }
}
