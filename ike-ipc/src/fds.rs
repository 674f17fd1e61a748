//! The fixed descriptor numbers at which the parent places each child's
//! sockets before exec. Children take them over by number; nothing else is
//! inherited (every other descriptor is close-on-exec).
//!
//! | fd | ike-net                      | ike-pfkey                      | ike-cred            |
//! |----|------------------------------|--------------------------------|---------------------|
//! | 0  | /dev/null                    | /dev/null                      | /dev/null           |
//! | 1  | /dev/null                    | /dev/null                      | /dev/null           |
//! | 2  | log pipe to the parent       | log pipe to the parent         | log pipe            |
//! | 3  | channel to the parent        | channel to the parent          | channel to parent   |
//! | 4  | channel to ike-pfkey         | channel to ike-net             | channel to ike-net  |
//! | 5  | control socket listener      | PF_KEY socket (or simulator)   | -                   |
//! | 6+ | UDP sockets, in `NetInit::listen` order | -                   | -                   |
//! | 70 | channel to ike-cred ([`NET_CRED`]) | -                        | -                   |

use std::os::fd::RawFd;

/// The channel to the parent, in both children.
pub const PARENT: RawFd = 3;
/// The channel between the two children.
pub const PEER: RawFd = 4;
/// ike-net: the listening control socket.
pub const NET_CONTROL: RawFd = 5;
/// ike-net: the first UDP socket.
pub const NET_UDP_FIRST: RawFd = 6;
/// ike-pfkey: the PF_KEY socket.
pub const PFKEY_SOCKET: RawFd = 5;
/// At most this many UDP sockets (listen addresses x 2 ports).
pub const NET_UDP_MAX: usize = 64;
/// ike-net: the channel to the credential process, after the UDP range.
pub const NET_CRED: RawFd = NET_UDP_FIRST + NET_UDP_MAX as RawFd;

/// Takes ownership of a descriptor the parent placed at a fixed number,
/// after checking that it is open.
pub fn take(fd: RawFd) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // F_GETFD fails with EBADF on a closed descriptor: refuse to adopt it.
    nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD)?;
    // Close-on-exec from here on: nothing in a child execs, but be tidy.
    nix::fcntl::fcntl(
        fd,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )?;
    // SAFETY: the descriptor is open (checked above) and by the fd-number
    // convention of this module nothing else in this process owns it.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}
