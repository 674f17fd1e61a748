//! FreeBSD: Capsicum rights on every descriptor, process limits, and
//! capability mode for the broker. Compiled and linted here (the FreeBSD
//! cross-check); never run on a FreeBSD kernel here. docs/bsd.md has the
//! kernel functions each choice was checked against and what remains open.
//!
//! Why ike-net does not enter capability mode: FreeBSD's `sendit()`
//! (sys/kern/uipc_syscalls.c) refuses any sendto/sendmsg that names a
//! destination with ECAPMODE while the process is in capability mode, and
//! `connect(2)` is not allowed there at all (sys/kern/capabilities.conf).
//! An IKE responder answers whoever writes to it, so ike-net must name the
//! destination of every datagram. The ways around it (a connected socket per
//! peer made by the parent before the peer is known, or a sender process
//! outside the sandbox) cost a descriptor and a parent round trip per peer
//! for up to 100,000 peers, or move the same exposure into another process;
//! docs/bsd.md weighs them. So ike-net gets the strongest set that works:
//! every descriptor limited to its rights (also enforced outside capability
//! mode), no fork, no files, no tracing, in the empty chroot as an
//! unprivileged user (privdrop). ike-pfkey only reads and writes descriptors
//! it holds and enters capability mode.

use super::{FdUse, Role, SandboxError};
use capsicum::{CapRights, FileRights, Right};
use std::os::fd::BorrowedFd;

pub(super) fn enter(role: Role, fds: &[(BorrowedFd<'_>, FdUse)]) -> Result<(), SandboxError> {
    for (fd, usage) in fds {
        rights_for(*usage)
            .limit(fd)
            .map_err(|e| SandboxError(format!("cap_rights_limit ({usage:?}): {e}")))?;
    }
    limit_process()?;
    match role {
        // ike-cred names no destination either: its channels are connected
        // socketpairs. ring's randomness is getrandom(2), which capability
        // mode allows (sys/kern/syscalls.master, 563 getrandom STD|CAPENABLED:
        // read, issue 16; see docs/bsd.md section 1.1).
        Role::Pfkey | Role::Cred => {
            capsicum::enter().map_err(|e| SandboxError(format!("cap_enter: {e}")))
        }
        // See the module comment: capability mode would make every send fail.
        Role::Net => Ok(()),
    }
}

/// The rights each kind of descriptor keeps. sys/sys/capsicum.h: CAP_RECV is
/// CAP_READ and CAP_SEND is CAP_WRITE.
fn rights_for(usage: FdUse) -> FileRights {
    let mut r = FileRights::new();
    // kqueue (mio) polls every descriptor we keep: kevent needs CAP_EVENT
    // on each (sys/kern/kern_event.c, kqueue_register).
    r.allow(Right::Event);
    match usage {
        // recvmsg/sendmsg without an address, SCM_RIGHTS on the channels;
        // read/write on PF_KEY (sys/netipsec/keysock.c key_send takes no
        // control data and checks no credentials).
        FdUse::Channel | FdUse::Pfkey => {
            r.allow(Right::Read).allow(Right::Write);
        }
        // recvmsg, and sendmsg naming the peer: kern_sendit wants CAP_SEND
        // plus CAP_CONNECT when msg_name is set.
        FdUse::Datagram => {
            r.allow(Right::Read)
                .allow(Right::Write)
                .allow(Right::Connect);
        }
        // accept ike-ctl clients: accepted sockets inherit the listener's
        // rights (kern_accept4), so read/write ride along, and getpeereid(3)
        // is getsockopt(LOCAL_PEERCRED), which needs CAP_GETSOCKOPT.
        FdUse::Listener => {
            r.allow(Right::Accept)
                .allow(Right::Read)
                .allow(Right::Write)
                .allow(Right::Getsockopt);
        }
        // The log pipe: write only.
        FdUse::Log => {
            r.allow(Right::Write);
        }
    }
    r
}

fn procctl(cmd: libc::c_int, mut arg: libc::c_int) -> std::io::Result<()> {
    // SAFETY: procctl(2) on our own pid with a pointer to a live int.
    let r = unsafe { libc::procctl(libc::P_PID, 0, cmd, (&mut arg as *mut libc::c_int).cast()) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn setrlimit0(what: libc::c_int) -> std::io::Result<()> {
    let zero = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit with a pointer to a live struct.
    if unsafe { libc::setrlimit(what, &zero) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Limits that hold in and out of capability mode.
fn limit_process() -> Result<(), SandboxError> {
    let e = |what: &str, err: std::io::Error| SandboxError(format!("{what}: {err}"));
    // No debugger may attach and no core is written (secrets in memory).
    procctl(libc::PROC_TRACE_CTL, libc::PROC_TRACE_CTL_DISABLE)
        .map_err(|x| e("procctl(PROC_TRACE_CTL)", x))?;
    // execve can never raise privileges (FreeBSD 14 and later; older
    // kernels do not know the command, and we never exec anyway).
    match procctl(libc::PROC_NO_NEW_PRIVS_CTL, libc::PROC_NO_NEW_PRIVS_ENABLE) {
        Err(x) if x.raw_os_error() == Some(libc::EINVAL) => {
            log::info!("procctl(PROC_NO_NEW_PRIVS_CTL) unknown to this kernel: skipped")
        }
        r => r.map_err(|x| e("procctl(PROC_NO_NEW_PRIVS_CTL)", x))?,
    }
    // No new processes for our uid (fork fails), no file growth, no core.
    setrlimit0(libc::RLIMIT_NPROC).map_err(|x| e("setrlimit(RLIMIT_NPROC)", x))?;
    setrlimit0(libc::RLIMIT_FSIZE).map_err(|x| e("setrlimit(RLIMIT_FSIZE)", x))?;
    setrlimit0(libc::RLIMIT_CORE).map_err(|x| e("setrlimit(RLIMIT_CORE)", x))?;
    Ok(())
}

/// The self-test: a call our rights forbid. PROC_TRAPCAP_CTL turns
/// ENOTCAPABLE/ECAPMODE into SIGTRAP, but only in capability mode
/// (sys/kern/subr_syscall.c, syscallret): ike-pfkey dies by SIGTRAP; ike-net
/// (rights only, no capability mode) gets the ENOTCAPABLE error back and
/// returns it, which its caller turns into an error exit. fstat on the log
/// descriptor is refused in both (it lacks CAP_FSTAT).
pub(super) fn selftest_probe() -> SandboxError {
    if let Err(e) = procctl(libc::PROC_TRAPCAP_CTL, libc::PROC_TRAPCAP_CTL_ENABLE) {
        return SandboxError(format!("sandbox self-test: PROC_TRAPCAP_CTL: {e}"));
    }
    // SAFETY: fstat into a zeroed plain-data struct; fd 2 is our log pipe.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let r = unsafe { libc::fstat(2, &mut st) };
    SandboxError(format!(
        "sandbox self-test: fstat on the write-only log descriptor returned {r} ({}); \
         ENOTCAPABLE means the rights limits hold",
        std::io::Error::last_os_error()
    ))
}
