//! Detaching from the terminal and the pidfile.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// fork, setsid, chdir /, stdio to /dev/null (daemon(3)). The original
/// process exits 0 in the C library; we continue in the detached child.
pub fn daemonize() -> Result<(), String> {
    nix::unistd::daemon(false, false).map_err(|e| format!("daemon: {e}"))
}

/// The pidfile, removed again when dropped.
pub struct Pidfile(PathBuf);

impl Pidfile {
    /// Writes our pid to `path` (mode 0644, replacing an old file).
    pub fn create(path: &Path) -> Result<Self, String> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(path)
            .map_err(|e| format!("pidfile {}: {e}", path.display()))?;
        writeln!(f, "{}", std::process::id())
            .map_err(|e| format!("pidfile {}: {e}", path.display()))?;
        Ok(Self(path.to_path_buf()))
    }
}

impl Drop for Pidfile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
