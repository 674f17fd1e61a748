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
    spawn_with_args(exe, &[], fds)
}

/// [`spawn`] with command-line arguments (ike-pfkey's `--dialect`).
pub fn spawn_with_args(
    exe: &Path,
    args: &[&str],
    fds: &[(BorrowedFd<'_>, RawFd)],
) -> io::Result<Child> {
    let plan: Vec<(RawFd, RawFd)> = fds.iter().map(|(f, t)| (f.as_raw_fd(), *t)).collect();
    let mut cmd = Command::new(exe);
    cmd.args(args);
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
            let mut highest = 2;
            for (i, (_, target)) in plan.iter().enumerate() {
                if libc::dup2(tmp[i], *target) < 0 {
                    return Err(io::Error::last_os_error());
                }
                highest = highest.max(*target);
            }
            // Our own descriptors are all close-on-exec, but whoever started
            // us may have leaked some without the flag: close everything
            // above the placed range so that the child gets exactly its set.
            close_from(highest + 1);
            Ok(())
        });
    }
    cmd.spawn()
}

/// Makes `cmd` close every descriptor above stderr before exec: whoever
/// started ike-parent may have leaked some without close-on-exec, and a
/// helper run from the parent (`ike-net --check-config`) gets stdio only.
pub fn inherit_stdio_only(cmd: &mut Command) {
    // SAFETY: the closure runs between fork and exec and calls only
    // close_range/closefrom/close (async-signal-safe); it allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            close_from(3);
            Ok(())
        });
    }
}

/// Closes every descriptor numbered `first` or above. Async-signal-safe.
#[cfg(target_os = "linux")]
unsafe fn close_from(first: RawFd) {
    // close_range(2), Linux 5.9; on older kernels fall back to a loop.
    if libc::syscall(
        libc::SYS_close_range,
        first as libc::c_uint,
        libc::c_uint::MAX,
        0,
    ) != 0
    {
        close_loop(first);
    }
}

/// Closes every descriptor numbered `first` or above. Async-signal-safe.
#[cfg(any(target_os = "freebsd", target_os = "openbsd"))]
unsafe fn close_from(first: RawFd) {
    libc::closefrom(first);
}

#[cfg(not(any(target_os = "freebsd", target_os = "openbsd")))]
unsafe fn close_loop(first: RawFd) {
    let max = libc::sysconf(libc::_SC_OPEN_MAX);
    let max = if max <= 0 {
        1024
    } else {
        max.min(1 << 20) as RawFd
    };
    for fd in first..max {
        libc::close(fd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::{AsFd, FromRawFd, OwnedFd};

    fn dup_high(fd: BorrowedFd<'_>, min: RawFd) -> OwnedFd {
        let n =
            nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(min)).unwrap();
        // SAFETY: fcntl just returned a fresh descriptor we own.
        unsafe { OwnedFd::from_raw_fd(n) }
    }

    /// Two sources sitting exactly on each other's targets (a swap): a
    /// naive dup2 order would make both targets the same pipe.
    #[test]
    fn descriptors_land_at_their_targets_even_when_numbers_collide() {
        let (ra, wa) = nix::unistd::pipe().unwrap();
        let (rb, wb) = nix::unistd::pipe().unwrap();
        let a = dup_high(wa.as_fd(), 600);
        let b = dup_high(wb.as_fd(), 700);
        drop((wa, wb));
        let (na, nb) = (a.as_raw_fd(), b.as_raw_fd());
        // a goes to b's number and b to a's.
        let script = format!("printf A >&{nb}; printf B >&{na}");
        let exe = Path::new("/bin/bash");
        if !exe.exists() {
            return;
        }
        let mut cmd_child = {
            // spawn() runs the executable without arguments; wrap the script.
            let dir = std::env::temp_dir().join(format!("ike-spawn-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("swap.sh");
            std::fs::write(&path, format!("#!/bin/bash\n{script}\n")).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            spawn(&path, &[(a.as_fd(), nb), (b.as_fd(), na)]).unwrap()
        };
        drop((a, b));
        assert!(cmd_child.wait().unwrap().success());
        let mut sa = String::new();
        let mut sb = String::new();
        std::fs::File::from(ra).read_to_string(&mut sa).unwrap();
        std::fs::File::from(rb).read_to_string(&mut sb).unwrap();
        assert_eq!((sa.as_str(), sb.as_str()), ("A", "B"));
    }

    #[test]
    fn nothing_else_is_inherited() {
        // A descriptor leaked WITHOUT close-on-exec (as a careless caller of
        // ike-parent might leave one) must still not reach the child.
        let (r, _w) = nix::unistd::pipe().unwrap();
        let leaked = nix::fcntl::fcntl(r.as_raw_fd(), nix::fcntl::FcntlArg::F_DUPFD(800)).unwrap();
        // SAFETY: fcntl just returned a fresh descriptor we own.
        let leaked = unsafe { OwnedFd::from_raw_fd(leaked) };
        let dir = std::env::temp_dir().join(format!("ike-spawn2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("probe.sh");
        let n = leaked.as_raw_fd();
        std::fs::write(
            &path,
            format!("#!/bin/sh\n[ -e /proc/self/fd/3 ] || exit 3\n[ -e /proc/self/fd/{n} ] && exit 4\nexit 0\n"),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut c = spawn(&path, &[(r.as_fd(), 3)]).unwrap();
        assert_eq!(c.wait().unwrap().code(), Some(0));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
