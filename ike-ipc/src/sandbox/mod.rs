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
mod linux_caps;
#[cfg(target_os = "linux")]
pub mod seccomp_common;
#[cfg(target_os = "linux")]
pub mod seccomp_net;
#[cfg(target_os = "linux")]
pub mod seccomp_pfkey;
#[cfg(target_os = "linux")]
pub use linux::{build_filter, install_filter};

pub mod limits;

#[cfg(target_os = "freebsd")]
mod freebsd;
#[cfg(target_os = "openbsd")]
mod openbsd;

/// Which child is being sandboxed: each has its own allow-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Net,
    Pfkey,
    /// ike-cred, the credential process (issue 16): its channels only.
    Cred,
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
    // Before the OS sandbox: setrlimit is outside the seccomp list, and
    // pledge/cap_enter come after it too.
    limits::apply(role)?;
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
            Role::Cred => "ike-cred",
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
    use std::os::fd::AsRawFd;

    /// Forks; the child builds and installs `role`'s filter and runs
    /// `then`, then `_exit(0)`. Returns how the child ended.
    fn under_filter(role: Role, then: fn()) -> WaitStatus {
        // SAFETY: the child calls raw syscalls and _exit, and builds the
        // filter (it names the child's own pid): that allocates, which
        // glibc's malloc permits in a forked child (its fork handlers reset
        // the arena locks); no other lock of the test harness is touched.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                let Ok(filter) = build_filter(role) else {
                    // SAFETY: _exit is async-signal-safe.
                    unsafe { libc::_exit(4) };
                };
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

    fn mmap(prot: libc::c_int) -> *mut libc::c_void {
        // SAFETY: a fresh anonymous private mapping; nothing else is touched.
        unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                prot,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        }
    }

    fn mmap_exec() {
        mmap(libc::PROT_READ | libc::PROT_EXEC);
    }

    fn mmap_rw_then_exit_3_if_refused() {
        if mmap(libc::PROT_READ | libc::PROT_WRITE) == libc::MAP_FAILED {
            // SAFETY: _exit is async-signal-safe.
            unsafe { libc::_exit(3) };
        }
    }

    fn mprotect_exec() {
        let p = mmap(libc::PROT_READ | libc::PROT_WRITE);
        // SAFETY: the page was just mapped by this process.
        unsafe { libc::mprotect(p, 4096, libc::PROT_READ | libc::PROT_EXEC) };
    }

    /// Signal 0 to the parent (the test process, standing for ike-pfkey).
    fn kill_parent() {
        // SAFETY: plain syscalls; signal 0 only checks permission.
        unsafe { libc::kill(libc::getppid(), 0) };
    }

    fn tgkill_parent() {
        // SAFETY: as above; signal 0.
        unsafe {
            let p = libc::getppid();
            libc::syscall(libc::SYS_tgkill, p, p, 0);
        }
    }

    fn abort_self() {
        std::process::abort();
    }

    /// Issue 16: no executable memory, no signal to another process (ike-net
    /// cannot stop ike-pfkey: they share a user unless configured apart), but
    /// abort() still raises SIGABRT at the process itself.
    #[test]
    fn no_exec_memory_and_no_signals_to_others() {
        for role in [Role::Net, Role::Pfkey, Role::Cred] {
            for (what, probe) in [
                ("mmap PROT_EXEC", mmap_exec as fn()),
                ("mprotect PROT_EXEC", mprotect_exec),
                ("kill another process", kill_parent),
                ("tgkill another process", tgkill_parent),
            ] {
                match under_filter(role, probe) {
                    WaitStatus::Signaled(_, Signal::SIGSYS, _) => {}
                    other => panic!("{role:?} {what}: expected SIGSYS, got {other:?}"),
                }
            }
            assert!(matches!(
                under_filter(role, mmap_rw_then_exit_3_if_refused),
                WaitStatus::Exited(_, 0)
            ));
            assert!(matches!(
                under_filter(role, abort_self),
                WaitStatus::Signaled(_, Signal::SIGABRT, _)
            ));
        }
    }

    /// The whole sandbox in a child, seen from outside through /proc: the
    /// seccomp filter (mode 2), no_new_privs, no capabilities, and the
    /// resource limits (issue 16).
    #[test]
    fn proc_shows_the_filter_and_the_limits() {
        for role in [Role::Net, Role::Pfkey, Role::Cred] {
            let (ready_r, ready_w) = nix::unistd::pipe().unwrap();
            let (go_r, go_w) = nix::unistd::pipe().unwrap();
            // SAFETY: the child enters the sandbox (allocating: see
            // under_filter), then only reads, writes and _exits.
            match unsafe { fork() }.unwrap() {
                ForkResult::Child => {
                    let code = if enter(role, &[]).is_ok() { 0 } else { 5 };
                    let _ = nix::unistd::write(&ready_w, b"x");
                    let mut b = [0u8; 1];
                    let _ = nix::unistd::read(go_r.as_raw_fd(), &mut b);
                    // SAFETY: _exit is async-signal-safe.
                    unsafe { libc::_exit(code) };
                }
                ForkResult::Parent { child } => {
                    let mut b = [0u8; 1];
                    nix::unistd::read(ready_r.as_raw_fd(), &mut b).unwrap();
                    let status = std::fs::read_to_string(format!("/proc/{child}/status")).unwrap();
                    let limits = std::fs::read_to_string(format!("/proc/{child}/limits")).unwrap();
                    nix::unistd::write(&go_w, b"x").unwrap();
                    assert!(matches!(
                        waitpid(child, None).unwrap(),
                        WaitStatus::Exited(_, 0)
                    ));
                    let field = |name: &str| {
                        status
                            .lines()
                            .find_map(|l| l.strip_prefix(name))
                            .map(str::trim)
                            .unwrap_or_default()
                            .to_string()
                    };
                    assert_eq!(field("Seccomp:"), "2", "{role:?}");
                    assert_eq!(field("NoNewPrivs:"), "1", "{role:?}");
                    assert_eq!(field("CapEff:"), "0000000000000000");
                    assert_eq!(field("CapPrm:"), "0000000000000000");
                    let limit = |name: &str| {
                        let l = limits.lines().find(|l| l.starts_with(name)).unwrap();
                        let v: Vec<&str> = l[name.len()..].split_whitespace().collect();
                        (v[0].to_string(), v[1].to_string())
                    };
                    let nofile = match role {
                        Role::Net => limits::NET_NOFILE,
                        Role::Pfkey => limits::PFKEY_NOFILE,
                        Role::Cred => limits::CRED_NOFILE,
                    }
                    .to_string();
                    assert_eq!(limit("Max core file size"), ("0".into(), "0".into()));
                    assert_eq!(limit("Max processes"), ("0".into(), "0".into()));
                    assert_eq!(limit("Max open files"), (nofile.clone(), nofile));
                }
            }
        }
    }

    #[test]
    fn denied_syscalls_kill_with_sigsys() {
        for role in [Role::Net, Role::Pfkey, Role::Cred] {
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
            libc::SYS_pkey_mprotect,
            libc::SYS_kill,
            libc::SYS_tkill,
            // Only with argument checks (seccomp_common::allowed_when).
            libc::SYS_mmap,
            libc::SYS_tgkill,
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
