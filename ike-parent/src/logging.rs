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
        let prio = match r.level() {
            Level::Error => libc::LOG_ERR,
            Level::Warn => libc::LOG_WARNING,
            Level::Info => libc::LOG_INFO,
            Level::Debug | Level::Trace => libc::LOG_DEBUG,
        };
        // Child lines carry their process name as the target.
        let text = match r.target() {
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
