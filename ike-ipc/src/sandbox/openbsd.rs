//! OpenBSD: unveil nothing, then pledge the minimum. Not compiled or run on
//! the Linux CI.

use super::{Role, SandboxError};
use std::ffi::CString;

pub(super) fn enter(role: Role) -> Result<(), SandboxError> {
    // unveil(NULL, NULL) with no earlier unveil: the file system becomes
    // invisible (we are chrooted to an empty directory anyway).
    // SAFETY: both arguments may be NULL per unveil(2); no pointers retained.
    if unsafe { libc::unveil(std::ptr::null(), std::ptr::null()) } == -1 {
        return Err(SandboxError(format!(
            "unveil: {}",
            std::io::Error::last_os_error()
        )));
    }
    // Promises:
    //   stdio   read/write/recvmsg/sendmsg on descriptors we hold, memory, time.
    //   recvfd  ike-net: descriptors from the parent over the channel (reload).
    //   unix    ike-net: accept on the control socket and getpeereid.
    //   inet    ike-net: sendto/recvfrom on the bound UDP sockets.
    //   ike-pfkey: stdio for read/write on its already-open PF_KEY socket.
    //   Whether pledge(2) lets SADB_ADD through under "stdio" alone is not
    //   checked (no OpenBSD machine here); verify on OpenBSD before release.
    let promises = match role {
        Role::Net => "stdio recvfd unix inet",
        Role::Pfkey => "stdio",
    };
    let p = CString::new(promises).map_err(|e| SandboxError(e.to_string()))?;
    // SAFETY: `p` is a valid NUL-terminated string; execpromises NULL = unchanged.
    if unsafe { libc::pledge(p.as_ptr(), std::ptr::null()) } == -1 {
        return Err(SandboxError(format!(
            "pledge: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}
