//! Linux: no_new_privs, no capabilities, a seccomp allow-list.

use super::linux_caps;
use super::seccomp_common::ArgIs;
use super::{Role, SandboxError};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

fn err(what: &str, e: impl std::fmt::Display) -> SandboxError {
    SandboxError(format!("{what}: {e}"))
}

/// Clears the capability bounding set. Runs while still root: dropping a
/// bounding-set entry (PR_CAPBSET_DROP) needs CAP_SETPCAP in the effective
/// set, which `setresuid` to a non-zero uid removes. Without this, a later
/// execve of a file-capability binary could bring capabilities back (also
/// prevented by no_new_privs; the two are independent layers).
pub(super) fn drop_bounding_set() -> Result<(), SandboxError> {
    linux_caps::clear_bounding().map_err(|e| err("clearing the bounding set", e))
}

// ---- XFRM (issue 18) --------------------------------------------------------
/// Set by [`keep_net_admin`]: `enter` leaves CAP_NET_ADMIN in the permitted and
/// effective sets (every other capability goes as before).
static KEEP_NET_ADMIN: AtomicBool = AtomicBool::new(false);

/// PR_SET_KEEPCAPS so that setresuid keeps the permitted set (the effective
/// set is still emptied: setuid(0) keeps failing in privdrop's check); `enter`
/// then cuts both down to CAP_NET_ADMIN and clears KEEPCAPS again.
pub(super) fn keep_net_admin() -> Result<(), SandboxError> {
    nix::sys::prctl::set_keepcaps(true).map_err(|e| err("PR_SET_KEEPCAPS", e))?;
    KEEP_NET_ADMIN.store(true, Ordering::SeqCst);
    Ok(())
}
// ---- end XFRM -----------------------------------------------------------------

/// no_new_privs, then every remaining capability set, then the filter.
pub(super) fn enter(role: Role) -> Result<(), SandboxError> {
    // Build the BPF program before anything is locked down: it allocates.
    let filter = build_filter(role)?;
    // PR_SET_NO_NEW_PRIVS: execve can never grant privileges again (setuid
    // bits, file capabilities). Also the precondition for an unprivileged
    // seccomp filter.
    nix::sys::prctl::set_no_new_privs().map_err(|e| err("PR_SET_NO_NEW_PRIVS", e))?;
    // setresuid already emptied the permitted and effective sets; clear all of
    // them explicitly so the outcome does not hang on that kernel rule
    // (SECBIT_KEEP_CAPS would change it).
    if KEEP_NET_ADMIN.load(Ordering::SeqCst) {
        // XFRM: CAP_NET_ADMIN alone (see keep_net_admin).
        linux_caps::clear_all_but(&[linux_caps::CAP_NET_ADMIN])
            .map_err(|e| err("keeping CAP_NET_ADMIN", e))?;
        nix::sys::prctl::set_keepcaps(false).map_err(|e| err("PR_SET_KEEPCAPS 0", e))?;
    } else {
        linux_caps::clear_all().map_err(|e| err("clearing capabilities", e))?;
    }
    install_filter(&filter)
}

/// The allow-list filter for `role` in the calling process: listed syscalls
/// pass, every other one kills the whole process (the parent sees SIGSYS
/// and logs it).
pub fn build_filter(role: Role) -> Result<BpfProgram, SandboxError> {
    build_filter_for(role, std::process::id())
}

/// [`build_filter`] for the process `pid` (the only target of its tgkill).
pub fn build_filter_for(role: Role, pid: u32) -> Result<BpfProgram, SandboxError> {
    let own = match role {
        Role::Net => super::seccomp_net::allowed(),
        // ike-cred, like the broker, only reads and writes the channels it
        // holds (and getrandom for ECDSA nonces, in the common list).
        Role::Pfkey | Role::Cred => super::seccomp_pfkey::allowed(),
    };
    let mut rules = BTreeMap::new();
    for (nr, _why) in super::seccomp_common::allowed().into_iter().chain(own) {
        // An empty rule list matches the syscall whatever its arguments.
        rules.insert(nr, vec![]);
    }
    for (nr, args, _why) in super::seccomp_common::allowed_when(pid) {
        let mut conds = Vec::new();
        for (arg, is) in args {
            // Dword: these arguments are C ints, of which the kernel reads
            // the low 32 bits only, whatever the upper half of the register.
            let (op, value) = match is {
                ArgIs::Eq(v) => (SeccompCmpOp::Eq, v),
                ArgIs::Without(bits) => (SeccompCmpOp::MaskedEq(bits), 0),
            };
            conds.push(
                SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value)
                    .map_err(|e| err("seccomp condition", e))?,
            );
        }
        let rule = SeccompRule::new(conds).map_err(|e| err("seccomp rule", e))?;
        rules.insert(nr, vec![rule]);
    }
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(|e| err("seccomp arch", e))?;
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::KillProcess,
        SeccompAction::Allow,
        arch,
    )
    .map_err(|e| err("seccomp filter", e))?;
    filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| err("seccomp compile", e))
}

/// Installs a built filter on the calling thread (our processes have one).
pub fn install_filter(filter: &BpfProgram) -> Result<(), SandboxError> {
    seccompiler::apply_filter(filter).map_err(|e| err("installing the seccomp filter", e))
}
