//! Resource limits every child sets before its OS sandbox (issue 16). They
//! are POSIX setrlimit(2) and mean the same on Linux, FreeBSD and OpenBSD;
//! soft and hard limit alike, so that the child cannot raise them again
//! (raising a hard limit needs root, which the child no longer is).

use super::{Role, SandboxError};
use nix::sys::resource::{setrlimit, Resource};

/// Descriptors ike-pfkey may hold: its PF_KEY socket, two channels, stderr
/// and the signal pipe, with room to spare. The limit also caps descriptors
/// passed to it over a channel (SCM_RIGHTS fails beyond it).
pub const PFKEY_NOFILE: libc::rlim_t = 64;

/// Descriptors ike-net may hold: the UDP sockets (two per listening
/// address), the control listener and the ike-ctl connections it accepts,
/// which close after each command. The usual default soft limit.
pub const NET_NOFILE: libc::rlim_t = 1024;

/// Descriptors ike-cred may hold: two channels, stderr, the signal pipe and
/// its poll instance.
pub const CRED_NOFILE: libc::rlim_t = 16;

/// The limits of `role`:
/// - RLIMIT_CORE 0: a core dump would carry keys (ike-pfkey's SAs, ike-net's
///   IKE SA secrets) to disk;
/// - RLIMIT_NPROC 0: neither child forks or starts threads, so a
///   compromised one cannot either (clone fails with EAGAIN; the seccomp
///   filter refuses it on Linux anyway: two independent layers);
/// - RLIMIT_NOFILE: a compromised child cannot hoard descriptors.
pub fn limits(role: Role) -> [(Resource, libc::rlim_t); 3] {
    let nofile = match role {
        Role::Net => NET_NOFILE,
        Role::Pfkey => PFKEY_NOFILE,
        Role::Cred => CRED_NOFILE,
    };
    [
        (Resource::RLIMIT_CORE, 0),
        (Resource::RLIMIT_NPROC, 0),
        (Resource::RLIMIT_NOFILE, nofile),
    ]
}

/// Set [`limits`] for `role` (soft = hard).
pub fn apply(role: Role) -> Result<(), SandboxError> {
    for (r, v) in limits(role) {
        setrlimit(r, v, v).map_err(|e| SandboxError(format!("setrlimit {r:?} {v}: {e}")))?;
    }
    Ok(())
}
