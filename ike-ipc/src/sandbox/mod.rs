//! The OS sandbox each child enters after [`crate::privdrop`]:
//! Linux no_new_privs + no capabilities + a seccomp allow-list,
//! FreeBSD Capsicum rights on every descriptor plus process limits, and
//! capability mode for ike-pfkey only (ike-net must name the destination of
//! each datagram, which capability mode forbids: see freebsd.rs),
//! OpenBSD pledge/unveil (DESIGN.md "Processes and trust"; docs/bsd.md for
//! the kernel sources each BSD choice was checked against).

use std::fmt;
use std::os::fd::BorrowedFd;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub mod seccomp_common;
#[cfg(target_os = "linux")]
pub mod seccomp_net;
#[cfg(target_os = "linux")]
pub mod seccomp_pfkey;
#[cfg(target_os = "linux")]
pub use linux::{build_filter, install_filter};

#[cfg(target_os = "freebsd")]
mod freebsd;
#[cfg(target_os = "openbsd")]
mod openbsd;

/// Which child is being sandboxed: each has its own allow-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Net,
    Pfkey,
}

/// What a descriptor is used for; Capsicum limits each fd to that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdUse {
    /// An IPC channel: send, receive, poll.
    Channel,
    /// A bound UDP socket: send, receive, poll.
    Datagram,
    /// The control socket: accept, poll.
    Listener,
    /// The PF_KEY socket: read, write, poll.
    Pfkey,
    /// A write-only log descriptor (stderr).
    Log,
}

#[derive(Debug)]
pub struct SandboxError(pub String);

impl fmt::Display for SandboxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sandbox: {}", self.0)
    }
}

impl std::error::Error for SandboxError {}

/// Steps that need root and so must run before `setresuid`
/// (called by [`crate::privdrop::drop_privileges`]).
pub fn before_setuid() -> Result<(), SandboxError> {
    #[cfg(target_os = "linux")]
    return linux::drop_bounding_set();
    #[cfg(not(target_os = "linux"))]
    Ok(())
}

// ---- XFRM (issue 18): ike-pfkey keeps CAP_NET_ADMIN ----------------------
/// Linux checks CAP_NET_ADMIN of the *sending* process on every NETLINK_XFRM
/// request (net/netlink/af_netlink.c `__netlink_ns_capable`, called by
/// xfrm_user_rcv_msg), where af_key checks it once, at socket(). So a broker
/// whose descriptor is NETLINK_XFRM must keep that one capability through the
/// privilege drop: call this before `child::lock_down`. The seccomp list
/// still forbids socket(), so the capability reaches only the descriptors
/// the broker holds. Not available elsewhere (XFRM is Linux only).
pub fn keep_net_admin() -> Result<(), SandboxError> {
    #[cfg(target_os = "linux")]
    return linux::keep_net_admin();
    #[cfg(not(target_os = "linux"))]
    Err(SandboxError("XFRM is Linux only".into()))
}
// ---- end XFRM ---------------------------------------------------------------

/// Enters the sandbox for `role`. `fds` lists every descriptor the child
/// keeps and what for. After this returns the process cannot open files or
/// regain privileges; on Linux and OpenBSD (and for ike-pfkey on FreeBSD)
/// it cannot create sockets either. ike-net on FreeBSD still can: see
/// freebsd.rs and docs/bsd.md.
pub fn enter(role: Role, fds: &[(BorrowedFd<'_>, FdUse)]) -> Result<(), SandboxError> {
    #[cfg(target_os = "linux")]
    {
        let _ = fds; // seccomp filters syscalls, not descriptors.
        linux::enter(role)
    }
    #[cfg(target_os = "freebsd")]
    {
        freebsd::enter(role, fds)
    }
    #[cfg(target_os = "openbsd")]
    {
        let _ = fds;
        openbsd::enter(role)
    }
    #[cfg(not(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd")))]
    {
        let _ = (role, fds);
        Err(SandboxError("no sandbox for this operating system".into()))
    }
}

/// The environment variable that makes a child, right after entering its
/// sandbox, call a syscall outside its allow-list (`socket` on Linux, `open`
/// on OpenBSD, a descriptor call without the right on FreeBSD). A debugging and
/// test aid: it proves the filter is live (the child dies by SIGSYS and the
/// parent logs it). It can only make a child kill itself. The parent passes
/// it on to the children only if it is set in the parent's own environment.
///
/// Values: `deny` (both children), `deny:ike-net`, `deny:ike-pfkey`.
pub const SELFTEST_ENV: &str = "IKE_SANDBOX_SELFTEST";

impl Role {
    /// The executable's name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Net => "ike-net",
            Role::Pfkey => "ike-pfkey",
        }
    }
}

/// Whether [`SELFTEST_ENV`] asks `role` for the denied-syscall probe.
/// Read before entering the sandbox.
pub fn selftest_requested(role: Role) -> bool {
    match std::env::var(SELFTEST_ENV) {
        Ok(v) => v == "deny" || v.strip_prefix("deny:") == Some(role.name()),
        Err(_) => false,
    }
}

/// Performs the denied-syscall probe: under a working sandbox this does not
/// return. If it returns, the sandbox let `socket` through, which the caller
/// treats as fatal.
pub fn selftest_probe() -> SandboxError {
    // Capsicum answers a forbidden call with an error, not a kill, and does
    // not forbid socket(2); its probe turns such errors into SIGTRAP first.
    #[cfg(target_os = "freebsd")]
    {
        freebsd::selftest_probe()
    }
    // ike-net's "inet" promise allows socket(2); no child holds a path
    // promise, so opening a file aborts either child (pledge_namei).
    #[cfg(target_os = "openbsd")]
    {
        let r = std::fs::File::open("/etc/passwd");
        SandboxError(format!("sandbox self-test: open() was allowed ({r:?})"))
    }
    #[cfg(not(any(target_os = "freebsd", target_os = "openbsd")))]
    {
        let r = nix::sys::socket::socket(
            nix::sys::socket::AddressFamily::Inet,
            nix::sys::socket::SockType::Datagram,
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
            None,
        );
        SandboxError(format!("sandbox self-test: socket() was allowed ({r:?})"))
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};

    /// Forks; the child installs `role`'s filter and runs `then`, then
    /// `_exit(0)`. Returns how the child ended.
    fn under_filter(role: Role, then: fn()) -> WaitStatus {
        let filter = build_filter(role).unwrap();
        // SAFETY: the child only calls async-signal-safe functions
        // (prctl/seccomp via install_filter, raw syscalls, _exit); the filter
        // was built (allocated) before the fork.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                if install_filter(&filter).is_err() {
                    // SAFETY: _exit is async-signal-safe.
                    unsafe { libc::_exit(3) };
                }
                then();
                // SAFETY: as above.
                unsafe { libc::_exit(0) }
            }
            ForkResult::Parent { child } => waitpid(child, None).unwrap(),
        }
    }

    fn call_socket() {
        // SAFETY: a plain syscall with constant arguments.
        unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) };
    }

    fn call_openat() {
        // SAFETY: a plain syscall with a static NUL-terminated path.
        unsafe { libc::openat(libc::AT_FDCWD, c"/etc/passwd".as_ptr(), libc::O_RDONLY) };
    }

    fn call_allowed() {
        // SAFETY: plain syscalls on no memory.
        unsafe { libc::getpid() };
    }

    #[test]
    fn denied_syscalls_kill_with_sigsys() {
        for role in [Role::Net, Role::Pfkey] {
            for probe in [call_socket as fn(), call_openat] {
                match under_filter(role, probe) {
                    WaitStatus::Signaled(_, Signal::SIGSYS, _) => {}
                    other => panic!("{role:?}: expected SIGSYS, got {other:?}"),
                }
            }
            assert!(matches!(
                under_filter(role, call_allowed),
                WaitStatus::Exited(_, 0)
            ));
        }
    }

    #[test]
    fn lists_have_no_dangerous_entries() {
        let danger = [
            libc::SYS_socket,
            libc::SYS_connect,
            libc::SYS_bind,
            libc::SYS_openat,
            libc::SYS_execve,
            libc::SYS_clone,
            libc::SYS_ptrace,
            libc::SYS_mprotect,
            libc::SYS_kill,
        ];
        for (nr, why) in seccomp_common::allowed()
            .into_iter()
            .chain(seccomp_net::allowed())
            .chain(seccomp_pfkey::allowed())
        {
            assert!(!danger.contains(&nr), "{nr} ({why}) must not be allowed");
        }
    }
}
