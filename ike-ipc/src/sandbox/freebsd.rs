//! FreeBSD: Capsicum. Each descriptor is limited to the rights its use
//! needs, then `cap_enter` removes every global namespace (no open, no
//! socket, no connect to a path). Not compiled or run on the Linux CI.

use super::{FdUse, SandboxError};
use capsicum::{CapRights, FileRights, Right};
use std::os::fd::BorrowedFd;

pub(super) fn enter(fds: &[(BorrowedFd<'_>, FdUse)]) -> Result<(), SandboxError> {
    for (fd, usage) in fds {
        let mut r = FileRights::new();
        // kqueue (mio) polls every descriptor we keep.
        r.allow(Right::Event);
        match usage {
            // recvmsg/sendmsg, with SCM_RIGHTS on the channels.
            FdUse::Channel | FdUse::Pfkey => {
                r.allow(Right::Read).allow(Right::Write);
            }
            // recvfrom/sendto; getsockname to learn the local address.
            FdUse::Datagram => {
                r.allow(Right::Read)
                    .allow(Right::Write)
                    .allow(Right::Getsockname);
            }
            // accept ike-ctl clients (accepted sockets inherit these rights,
            // so read/write and getpeereid's getpeername ride along).
            FdUse::Listener => {
                r.allow(Right::Accept)
                    .allow(Right::Read)
                    .allow(Right::Write)
                    .allow(Right::Getpeername);
            }
            // The log pipe: write only.
            FdUse::Log => {
                r.allow(Right::Write);
            }
        }
        r.limit(fd)
            .map_err(|e| SandboxError(format!("cap_rights_limit: {e}")))?;
    }
    capsicum::enter().map_err(|e| SandboxError(format!("cap_enter: {e}")))
}
