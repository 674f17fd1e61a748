//! fork+exec of a child with its descriptors at fixed numbers
//! (ike_ipc::fds) and nothing else inherited.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Starts `exe` with each `(fd, target)` placed at descriptor `target`,
/// stdin/stdout on /dev/null and stderr a pipe back to us (the child's log).
/// Every other descriptor of ours is close-on-exec and so not inherited.
pub fn spawn(exe: &Path, fds: &[(BorrowedFd<'_>, RawFd)]) -> io::Result<Child> {
    let plan: Vec<(RawFd, RawFd)> = fds.iter().map(|(f, t)| (f.as_raw_fd(), *t)).collect();
    let mut cmd = Command::new(exe);
    // A clean environment: nothing from ours leaks in, except the documented
    // sandbox self-test switch.
    cmd.env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // Own process group: a terminal's ^C reaches only the parent, which
        // then stops the children by message (no signal race).
        .process_group(0);
    if let Some(v) = std::env::var_os(ike_ipc::sandbox::SELFTEST_ENV) {
        cmd.env(ike_ipc::sandbox::SELFTEST_ENV, v);
    }
    // SAFETY: the closure runs between fork and exec and calls only
    // async-signal-safe functions (fcntl, dup2) on integers captured before
    // the fork; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            // First move every source above the target range (close-on-exec
            // copies), so that placing one cannot overwrite another's source.
            let mut tmp = [-1; 64];
            if plan.len() > tmp.len() {
                return Err(io::Error::from_raw_os_error(libc::EMFILE));
            }
            for (i, (src, _)) in plan.iter().enumerate() {
                let t = libc::fcntl(*src, libc::F_DUPFD_CLOEXEC, 128);
                if t < 0 {
                    return Err(io::Error::last_os_error());
                }
                tmp[i] = t;
            }
            // dup2 clears close-on-exec on the target: these survive exec.
            for (i, (_, target)) in plan.iter().enumerate() {
                if libc::dup2(tmp[i], *target) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    cmd.spawn()
}
