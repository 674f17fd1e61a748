//! OpenBSD: hide the file system with unveil, then pledge the minimum.
//! Compiled and linted here (the OpenBSD cross-check), never run on an
//! OpenBSD kernel here. Each promise was checked against
//! sys/kern/kern_pledge.c (revision 1.333, OpenBSD 7.8-current); docs/bsd.md
//! lists the calls and the functions that decide them.

use super::{Role, SandboxError};
use std::ffi::CString;

/// The promises per child, and why each is needed after pledge (everything
/// else, setsockopt included, happens before it):
///
/// - `stdio`: read/write/recvmsg/sendmsg on descriptors we hold (the
///   channels, the log pipe, PF_KEY), kqueue/kevent, clock, memory
///   (pledge_syscalls table). sendmsg without an address is "stdio" in
///   pledge_sendit. getsockname/getpeername are "stdio" too.
/// - `inet` (ike-net only): sendmsg naming the peer (pledge_sendit wants
///   inet, unix or dns when there is an address); accept on the control
///   socket (SYS_accept4 is inet|unix; pledge_socket lets accept through for
///   any domain); getpeereid(3), which OpenBSD's libc implements as
///   getsockopt(SOL_SOCKET, SO_PEERCRED): SOL_SOCKET options pass in
///   pledge_sockopt with inet or unix.
///
/// Not promised: `recvfd` (no descriptor reaches either child after the
/// lock-down; one that did would abort the child in pledge_recvfd, which is
/// the fail-closed answer), `unix` (inet already covers accept and
/// SO_PEERCRED; unix would add connect/bind on socket paths).
pub const fn promises(role: Role) -> &'static str {
    match role {
        Role::Net => "stdio inet",
        // getentropy(2), ring's randomness here, is in "stdio"
        // (sys/kern/kern_pledge.c: [SYS_getentropy] = PLEDGE_STDIO: read).
        Role::Pfkey | Role::Cred => "stdio",
    }
}

fn unveil(path: Option<&str>, perms: Option<&str>) -> Result<(), SandboxError> {
    let c = |s: &str| CString::new(s).map_err(|e| SandboxError(e.to_string()));
    let p = path.map(c).transpose()?;
    let m = perms.map(c).transpose()?;
    let ptr = |o: &Option<CString>| o.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: both arguments are NULL or valid NUL-terminated strings that
    // outlive the call; unveil(2) keeps no pointer.
    if unsafe { libc::unveil(ptr(&p), ptr(&m)) } == -1 {
        return Err(SandboxError(format!(
            "unveil({path:?}, {perms:?}): {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

pub(super) fn enter(role: Role) -> Result<(), SandboxError> {
    // unveil("/", "") makes the whole tree (our empty chroot) invisible:
    // unveil(NULL, NULL) alone would only lock unveil with nothing hidden
    // (unveil(2): the first call naming a path is what hides the rest).
    // Then lock it. With neither child holding a path promise, sys_pledge
    // drops the unveil state again, and pledge_namei refuses paths anyway;
    // the unveil is the layer that holds if a promise set ever grows one.
    unveil(Some("/"), Some(""))?;
    unveil(None, None)?;
    let p = CString::new(promises(role)).map_err(|e| SandboxError(e.to_string()))?;
    // SAFETY: `p` is a valid NUL-terminated string; execpromises NULL = unchanged.
    if unsafe { libc::pledge(p.as_ptr(), std::ptr::null()) } == -1 {
        return Err(SandboxError(format!(
            "pledge: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}
