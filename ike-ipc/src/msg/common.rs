//! Types that more than one channel carries.

use serde::{Deserialize, Serialize};

/// How a child drops its privileges. The parent resolves the user name to
/// numbers because the child cannot read /etc/passwd once it is chrooted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivDrop {
    /// The empty directory to chroot into (checked by the parent).
    pub chroot: String,
    pub uid: u32,
    pub gid: u32,
}

/// Log verbosity, as set by `-v`/`-vv` or `ike-ctl log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    /// `-v` count to level: none = Info, -v = Debug, -vv = Trace.
    pub fn from_verbosity(v: u8) -> Self {
        match v {
            0 => Self::Info,
            1 => Self::Debug,
            _ => Self::Trace,
        }
    }

    pub fn to_filter(self) -> log::LevelFilter {
        match self {
            Self::Error => log::LevelFilter::Error,
            Self::Warn => log::LevelFilter::Warn,
            Self::Info => log::LevelFilter::Info,
            Self::Debug => log::LevelFilter::Debug,
            Self::Trace => log::LevelFilter::Trace,
        }
    }
}
