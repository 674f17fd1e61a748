//! FreeBSD: Capsicum. Each descriptor is limited to the rights its use
//! needs, then `cap_enter` removes every global namespace (no open, no
//! socket, no connect to a path). Not compiled or run on the Linux CI.

use super::{FdUse, SandboxError};
use capsicum::{CapRights, Right, RightsBuilder};
use std::os::fd::BorrowedFd;

pub(super) fn enter(fds: &[(BorrowedFd<'_>, FdUse)]) -> Result<(), SandboxError> {
    for (fd, usage) in fds {
        let mut b = RightsBuilder::new(Right::Event); // kqueue may poll it
        match usage {
            // recvmsg/sendmsg (with SCM_RIGHTS) need read/write.
            FdUse::Channel | FdUse::Pfkey => b.add(Right::Read).add(Right::Write),
            // recvfrom/sendto; getsockname to learn the local address.
            FdUse::Datagram => b.add(Right::Read).add(Right::Write).add(Right::Getsockname),
            // accept new ike-ctl clients; getpeereid on them (inherits rights).
            FdUse::Listener => b
                .add(Right::Accept)
                .add(Right::Read)
                .add(Right::Write)
                .add(Right::Getpeername),
            FdUse::Log => b.add(Right::Write),
        };
        b.finalize()
            .limit(fd)
            .map_err(|e| SandboxError(format!("cap_rights_limit: {e}")))?;
    }
    capsicum::enter().map_err(|e| SandboxError(format!("cap_enter: {e}")))
}
