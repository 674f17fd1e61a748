//! The parent's log: stderr with -d (env_logger), syslog when daemonized.
//!
//! Syslog goes through libc's openlog/syslog rather than a crate: the C
//! library already speaks the local syslog protocol of each OS (/dev/log on
//! Linux and FreeBSD, sendsyslog(2) on OpenBSD), it is one call, and no extra
//! dependency is needed. Only the parent uses it; the children log through
//! their stderr pipe (ike_ipc::childlog) and the parent forwards the lines.

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::ffi::CString;

/// -d: human-readable lines on stderr.
pub fn init_stderr(level: LevelFilter) {
    let _ = env_logger::Builder::new()
        .filter_level(level)
        .format_timestamp_millis()
        .target(env_logger::Target::Stderr)
        .try_init();
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
    use super::priority;
    use log::Level;

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
