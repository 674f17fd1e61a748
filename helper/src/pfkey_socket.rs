//! Where a PF_KEY socket comes from: the kernel, or a `pfkey-sim` (or another
//! pf-to-fd) listening at a Unix socket path.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;

/// RFC 2367 2.3: the protocol argument of `socket(PF_KEY, SOCK_RAW, PF_KEY_V2)`.
const PF_KEY_V2: libc::c_int = 2;

/// The source of the PF_KEY sockets a helper hands out or relays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `socket(PF_KEY, SOCK_RAW, PF_KEY_V2)` in this process (needs root).
    Kernel,
    /// A connection to a PF_KEY server speaking `ike_ipc::pfkey_unix` (pfkey-sim).
    Sim(PathBuf),
}

impl Source {
    /// One fresh PF_KEY socket: a descriptor on which every send is one PF_KEY
    /// message and every receive returns one.
    pub fn open(&self) -> io::Result<OwnedFd> {
        match self {
            Source::Kernel => open_kernel(),
            Source::Sim(path) => ike_ipc::pfkey_unix::connect_pfkey(path)
                .map_err(|e| io::Error::new(io::ErrorKind::ConnectionRefused, e.to_string())),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Source::Kernel => "the kernel's PF_KEY".to_string(),
            Source::Sim(p) => format!("the PF_KEY server at {}", p.display()),
        }
    }
}

/// Opens the kernel's PF_KEY v2 socket. nix has no PF_KEY address family, so this
/// is the one direct libc call of the crate.
pub fn open_kernel() -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes only integers; it returns a new descriptor or -1.
    let fd = unsafe { libc::socket(libc::PF_KEY, libc::SOCK_RAW | libc::SOCK_CLOEXEC, PF_KEY_V2) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd >= 0 was just returned by socket(2); nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
