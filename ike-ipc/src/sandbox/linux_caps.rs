//! Emptying the Linux capability sets: the three calls the sandbox needs,
//! written here instead of taken from the caps crate (issue 14: the broker
//! links at most 15 crates; DESIGN.md section 3).
//!
//! Kernel interface (man 2 capset, man 2 prctl; include/uapi/linux/
//! capability.h): `capset` with header version 3 takes two 32-bit words per
//! set (64 capabilities); `PR_CAPBSET_DROP` removes one capability from
//! the bounding set and fails with EINVAL past the last one the kernel
//! knows; `PR_CAP_AMBIENT_CLEAR_ALL` empties the ambient set.

use nix::errno::Errno;

/// `_LINUX_CAPABILITY_VERSION_3` (include/uapi/linux/capability.h).
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct`; version 3 takes two of them.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Empties the bounding set: one PR_CAPBSET_DROP per capability number
/// until the kernel says the number is past its last one (EINVAL).
pub(super) fn clear_bounding() -> Result<(), Errno> {
    // 64: the width of the capability words; a kernel stops earlier.
    for cap in 0..64 {
        // SAFETY: prctl with integer arguments only.
        let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        if r != 0 {
            return match Errno::last() {
                Errno::EINVAL if cap > 0 => Ok(()),
                e => Err(e),
            };
        }
    }
    Ok(())
}

/// `CAP_NET_ADMIN` (include/uapi/linux/capability.h): the one capability
/// the XFRM broker keeps, because Linux checks it on every XFRM message.
pub(super) const CAP_NET_ADMIN: u32 = 12;

/// Empties the ambient set, then the effective, permitted and inheritable
/// sets of this thread (one capset with every word zero).
pub(super) fn clear_all() -> Result<(), Errno> {
    clear_all_but(&[])
}

/// As [`clear_all`], but the capabilities in `keep` stay in the effective
/// and permitted sets (never in the inheritable or ambient ones, so an
/// execve could not pass them on).
pub(super) fn clear_all_but(keep: &[u32]) -> Result<(), Errno> {
    // SAFETY: prctl with integer arguments only.
    let r = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    // EINVAL: a kernel before 4.3 has no ambient set, so nothing to clear.
    if r != 0 && Errno::last() != Errno::EINVAL {
        return Err(Errno::last());
    }
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    for &cap in keep {
        let (word, bit) = ((cap / 32) as usize, 1u32 << (cap % 32));
        if let Some(d) = data.get_mut(word) {
            d.effective |= bit;
            d.permitted |= bit;
        }
    }
    // SAFETY: capset reads one header and, for version 3, two data
    // structs; both live for the call and have the kernel's layout.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        )
    };
    if r != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PR_CAPBSET_READ (23): 1 if `cap` is in the bounding set.
    fn in_bounding(cap: libc::c_ulong) -> libc::c_int {
        // SAFETY: prctl with integer arguments only.
        unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap, 0, 0, 0) }
    }

    /// The sets are emptied in a forked child (the test process keeps its
    /// own), which reports through its exit status: 0 all empty, 1 a call
    /// failed, 2 a set was not empty. Only async-signal-safe calls after
    /// fork (the test harness is multi-threaded).
    #[test]
    fn every_set_is_empty_afterwards() {
        // SAFETY: the child only makes syscalls and _exits.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let code = if clear_bounding().is_err() || clear_all().is_err() {
                    1
                } else {
                    let mut header = CapHeader {
                        version: CAPABILITY_VERSION_3,
                        pid: 0,
                    };
                    let mut data = [CapData {
                        effective: 1,
                        permitted: 1,
                        inheritable: 1,
                    }; 2];
                    // SAFETY: capget writes one header and two data structs.
                    let r = unsafe {
                        libc::syscall(
                            libc::SYS_capget,
                            &mut header as *mut CapHeader,
                            data.as_mut_ptr(),
                        )
                    };
                    let empty = data
                        .iter()
                        .all(|d| d.effective == 0 && d.permitted == 0 && d.inheritable == 0);
                    if r == 0 && empty && in_bounding(0) == 0 && in_bounding(12) == 0 {
                        0
                    } else {
                        2
                    }
                };
                // SAFETY: _exit is async-signal-safe.
                unsafe { libc::_exit(code) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                let status = nix::sys::wait::waitpid(child, None).unwrap();
                // Without CAP_SETPCAP (an unprivileged test run) dropping
                // from the bounding set fails with EPERM: status 1.
                let privileged = in_bounding(8) == 1 && nix::unistd::geteuid().is_root();
                let want = if privileged { 0 } else { 1 };
                assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, want));
            }
        }
    }
}
