//! Reading configuration and key files: size bounds and the ownership and
//! mode checks that keep secrets private.
//!
//! The rules (ike.conf(5) FILES):
//! - every file must be a regular file owned by root or by the user running
//!   the parser, and not writable by group or others: whoever can write it
//!   controls the daemon;
//! - a configuration file must also have no group/other access at all when
//!   the configuration holds a pre-shared key (checked after parsing,
//!   over every file read, since a macro can carry the key across includes);
//! - `private/local.key` must have no group/other access, always;
//! - `ca/` and `certs/` must be directories not writable by group/others.

use super::error::{ConfigError, ErrorKind};
use ike_ipc::config::secret::{effective_uid, Zeroizing};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// One configuration file's bytes: at most this many.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// A file read with its identity and permissions.
pub struct ReadFile {
    pub bytes: Zeroizing<Vec<u8>>,
    /// (device, inode): include loops are detected by identity, not name.
    pub identity: (u64, u64),
    pub mode: u32,
}

/// Read a file of at most `max` bytes after checking type, owner and that
/// no group/other can write it.
pub fn read_checked(path: &Path, shown: &str, max: u64) -> Result<ReadFile, ConfigError> {
    let io = |e: std::io::Error| ConfigError::file(shown, ErrorKind::Io, e.to_string());
    // Refuse FIFOs and devices before opening (opening a FIFO blocks).
    if !std::fs::metadata(path).map_err(io)?.is_file() {
        return Err(ConfigError::file(
            shown,
            ErrorKind::Io,
            "not a regular file",
        ));
    }
    let file = std::fs::File::open(path).map_err(io)?;
    // Check the file we opened, not the name (it may have been swapped).
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(ConfigError::file(
            shown,
            ErrorKind::Io,
            "not a regular file",
        ));
    }
    let uid = meta.uid();
    if uid != 0 && uid != effective_uid() {
        return Err(ConfigError::file(
            shown,
            ErrorKind::Permission,
            format!("owned by uid {uid}, not by root or the user running ike: whoever owns it controls the daemon"),
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(ConfigError::file(
            shown,
            ErrorKind::Permission,
            format!("writable by group or others (mode {mode:04o}); run chmod go-w on it"),
        ));
    }
    if meta.len() > max {
        return Err(ConfigError::file(
            shown,
            ErrorKind::Limit,
            format!("{} bytes, more than the limit of {max}", meta.len()),
        ));
    }
    let mut bytes = Zeroizing::new(Vec::new());
    // `take` bounds the read even if the file grows after the check.
    file.take(max + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(ConfigError::file(
            shown,
            ErrorKind::Limit,
            format!("more than {max} bytes"),
        ));
    }
    Ok(ReadFile {
        bytes,
        identity: (meta.dev(), meta.ino()),
        mode,
    })
}

/// A directory of trust material (`ca/`, `certs/`): whoever can add a file
/// to it can add a trust anchor or swap our certificate, so it must be a
/// directory owned by root or us and not writable by group or others.
pub fn require_safe_dir(path: &Path, shown: &str) -> Result<(), ConfigError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| ConfigError::file(shown, ErrorKind::Io, e.to_string()))?;
    if !meta.is_dir() {
        return Err(ConfigError::file(shown, ErrorKind::Io, "not a directory"));
    }
    let uid = meta.uid();
    if uid != 0 && uid != effective_uid() {
        return Err(ConfigError::file(
            shown,
            ErrorKind::Permission,
            format!("owned by uid {uid}, not by root or the user running ike"),
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(ConfigError::file(
            shown,
            ErrorKind::Permission,
            format!(
                "directory writable by group or others (mode {mode:04o}): they could add \
                 trust anchors or certificates; run chmod go-w on it"
            ),
        ));
    }
    Ok(())
}

/// The check for files that hold secrets: no group/other access at all.
pub fn require_private(shown: &str, mode: u32, what: &str) -> Result<(), ConfigError> {
    if mode & 0o077 != 0 {
        return Err(ConfigError::file(
            shown,
            ErrorKind::Permission,
            format!(
                "{what}, but group or others may access it (mode {:04o}); run chmod 600 on it",
                mode & 0o7777
            ),
        ));
    }
    Ok(())
}
