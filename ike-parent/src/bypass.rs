//! Per-socket IPsec bypass for the IKE UDP sockets.
//!
//! Without it, a policy whose selectors cover the gateways' own addresses
//! (every transport-mode policy, or a tunnel whose subnets include the
//! gateways) also catches our IKE datagrams: the kernel then encrypts them
//! or drops the peer's cleartext ones, and an IKE SA can never be deleted or
//! rekeyed. IKE sets up and tears down the SAs, so it must always travel
//! outside them, whatever the SPD says: the parent marks each UDP
//! socket "bypass" in both directions before handing it to ike-net. Setting
//! a socket policy needs CAP_NET_ADMIN (Linux) or root (BSD): the unprivileged
//! worker could not do it itself.
//!
//! Linux and FreeBSD take a bare `sadb_x_policy` (RFC 2367 extension layout,
//! KAME) of type BYPASS through `IP_IPSEC_POLICY` / `IPV6_IPSEC_POLICY`, one
//! call per direction. OpenBSD has no socket policy struct; it takes
//! per-socket security levels, set to `IPSEC_LEVEL_BYPASS`.
//!
//! A kernel without IPsec (or, on Linux, without a PF_KEY key manager: af_key
//! not loaded) refuses the option. Such a kernel cannot hold our SAs either,
//! and the daemon still has to run there against the PF_KEY simulator, so
//! those specific errors are a warning; every other error is fatal (fail
//! closed: better no daemon than IKE packets swallowed by our own policies).

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Linux include/uapi/linux/pfkeyv2.h and FreeBSD sys/net/pfkeyv2.h:
/// SADB_X_EXT_POLICY 18.
const SADB_X_EXT_POLICY: u16 = 18;
/// Linux include/uapi/linux/ipsec.h and FreeBSD sys/netipsec/ipsec.h:
/// IPSEC_POLICY_BYPASS 4.
const IPSEC_POLICY_BYPASS: u16 = 4;
/// Same headers: IPSEC_DIR_INBOUND 1, IPSEC_DIR_OUTBOUND 2. (OpenBSD sets
/// per-socket levels instead, see `options` below.)
#[cfg(any(test, not(target_os = "openbsd")))]
const IPSEC_DIR_INBOUND: u8 = 1;
#[cfg(any(test, not(target_os = "openbsd")))]
const IPSEC_DIR_OUTBOUND: u8 = 2;
/// `sadb_x_policy` is 16 bytes; `sadb_x_policy_len` counts 8-byte units.
const POLICY_LEN: usize = 16;

/// One `sadb_x_policy` with no ipsecrequests, in host byte order (PF_KEY
/// and these socket options use the host's order):
/// u16 len (units of 8 bytes), u16 exttype, u16 type, u8 dir,
/// u8 reserved (FreeBSD: scope; 0 leaves the kernel's default), u32 id,
/// u32 priority.
pub fn bypass_policy(dir: u8) -> [u8; POLICY_LEN] {
    let mut b = [0u8; POLICY_LEN];
    b[0..2].copy_from_slice(&((POLICY_LEN / 8) as u16).to_ne_bytes());
    b[2..4].copy_from_slice(&SADB_X_EXT_POLICY.to_ne_bytes());
    b[4..6].copy_from_slice(&IPSEC_POLICY_BYPASS.to_ne_bytes());
    b[6] = dir;
    // b[7] reserved/scope, b[8..12] id, b[12..16] priority: all zero.
    b
}

/// What became of the attempt on one socket.
#[derive(Debug)]
pub enum Outcome {
    /// The kernel took the bypass for both directions.
    Set,
    /// The kernel has no IPsec (or no key manager to compile the policy):
    /// nothing to bypass. Carries the kernel's error for the log.
    NoKernelIpsec(std::io::Error),
}

/// Errors that mean "this kernel has no IPsec for sockets", not "we failed".
/// Linux net/ipv4/ip_sockglue.c and net/xfrm/xfrm_state.c
/// (`xfrm_user_policy`): ENOPROTOOPT without CONFIG_XFRM, EINVAL when no key
/// manager (af_key) compiles the policy, EOPNOTSUPP when only xfrm_user is
/// there (it accepts only IP_XFRM_POLICY). BSD kernels without `options
/// IPSEC` answer ENOPROTOOPT / EINVAL / EOPNOTSUPP as well.
fn means_no_kernel_ipsec(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOPROTOOPT) | Some(libc::EOPNOTSUPP) | Some(libc::EINVAL)
    )
}

/// setsockopt(2) with a byte buffer.
fn set_raw(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    val: &[u8],
) -> std::io::Result<()> {
    let len = libc::socklen_t::try_from(val.len())
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `val` is a live buffer of exactly `len` bytes that the kernel
    // only reads; `fd` is a borrowed, open descriptor.
    let r = unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, val.as_ptr().cast(), len) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Sets the bypass on one bound UDP socket (`addr` picks the family and
/// names the socket in messages). Err is fatal for the daemon.
pub fn exempt(fd: BorrowedFd<'_>, addr: SocketAddr) -> Result<Outcome, String> {
    let mut first = true;
    for (what, level, name, val) in options(addr) {
        match set_raw(fd, level, name, &val) {
            Ok(()) => {}
            // Only the first option decides "no IPsec here": once the kernel
            // took one, a later refusal is a real failure.
            Err(e) if first && means_no_kernel_ipsec(&e) => {
                return Ok(Outcome::NoKernelIpsec(e));
            }
            Err(e) => {
                return Err(format!(
                    "IPsec bypass ({what}) on the UDP socket {addr}: {e}; \
                     without it our own IPsec policies could catch IKE packets"
                ))
            }
        }
        first = false;
    }
    Ok(Outcome::Set)
}

/// The socket options to set, in order: (name for messages, level, option,
/// value).
#[cfg(not(target_os = "openbsd"))]
fn options(addr: SocketAddr) -> Vec<(&'static str, libc::c_int, libc::c_int, Vec<u8>)> {
    let (level, name) = match addr {
        SocketAddr::V4(_) => (libc::IPPROTO_IP, IP_IPSEC_POLICY),
        SocketAddr::V6(_) => (libc::IPPROTO_IPV6, IPV6_IPSEC_POLICY),
    };
    vec![
        (
            "inbound",
            level,
            name,
            bypass_policy(IPSEC_DIR_INBOUND).to_vec(),
        ),
        (
            "outbound",
            level,
            name,
            bypass_policy(IPSEC_DIR_OUTBOUND).to_vec(),
        ),
    ]
}

/// Linux include/uapi/linux/in.h: IP_IPSEC_POLICY 16;
/// include/uapi/linux/in6.h: IPV6_IPSEC_POLICY 34. (Like sockets.rs, every
/// system that is neither FreeBSD nor OpenBSD is treated as Linux.)
#[cfg(not(any(target_os = "freebsd", target_os = "openbsd")))]
const IP_IPSEC_POLICY: libc::c_int = 16;
#[cfg(not(any(target_os = "freebsd", target_os = "openbsd")))]
const IPV6_IPSEC_POLICY: libc::c_int = 34;
/// FreeBSD sys/netinet/in.h: IP_IPSEC_POLICY 21;
/// sys/netinet6/in6.h: IPV6_IPSEC_POLICY 28. (Not compiled here.)
#[cfg(target_os = "freebsd")]
const IP_IPSEC_POLICY: libc::c_int = 21;
#[cfg(target_os = "freebsd")]
const IPV6_IPSEC_POLICY: libc::c_int = 28;

/// OpenBSD: per-socket levels, each an int, set to IPSEC_LEVEL_BYPASS.
/// sys/netinet/in.h: IP_AUTH_LEVEL 20, IP_ESP_TRANS_LEVEL 21,
/// IP_ESP_NETWORK_LEVEL 22, IP_IPCOMP_LEVEL 29;
/// sys/netinet6/in6.h: IPV6_AUTH_LEVEL 53, IPV6_ESP_TRANS_LEVEL 54,
/// IPV6_ESP_NETWORK_LEVEL 55, IPV6_IPCOMP_LEVEL 60;
/// sys/netinet/ip_ipsp.h: IPSEC_LEVEL_BYPASS 0x00 (below the default, so
/// only root may set it). Not compiled or run here.
#[cfg(target_os = "openbsd")]
fn options(addr: SocketAddr) -> Vec<(&'static str, libc::c_int, libc::c_int, Vec<u8>)> {
    const IPSEC_LEVEL_BYPASS: libc::c_int = 0x00;
    let names: [(&'static str, libc::c_int); 4] = match addr {
        SocketAddr::V4(_) => [
            ("AH", 20),
            ("ESP transport", 21),
            ("ESP tunnel", 22),
            ("IPcomp", 29),
        ],
        SocketAddr::V6(_) => [
            ("AH", 53),
            ("ESP transport", 54),
            ("ESP tunnel", 55),
            ("IPcomp", 60),
        ],
    };
    let level = match addr {
        SocketAddr::V4(_) => libc::IPPROTO_IP,
        SocketAddr::V6(_) => libc::IPPROTO_IPV6,
    };
    names
        .iter()
        .map(|&(what, name)| (what, level, name, IPSEC_LEVEL_BYPASS.to_ne_bytes().to_vec()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    /// Known bytes of the policy on a little-endian host (x86_64, the
    /// machines these tests run on): what `ip xfrm`'s and strongSwan's
    /// bypass structs look like in memory.
    #[test]
    #[cfg(target_endian = "little")]
    fn policy_bytes_are_the_sadb_x_policy_layout() {
        assert_eq!(
            bypass_policy(IPSEC_DIR_INBOUND),
            [2, 0, 18, 0, 4, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            bypass_policy(IPSEC_DIR_OUTBOUND),
            [2, 0, 18, 0, 4, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn policy_len_field_counts_eight_byte_units() {
        let b = bypass_policy(IPSEC_DIR_OUTBOUND);
        assert_eq!(usize::from(u16::from_ne_bytes([b[0], b[1]])) * 8, b.len());
    }

    #[test]
    fn only_no_ipsec_errors_are_tolerated() {
        for e in [libc::ENOPROTOOPT, libc::EOPNOTSUPP, libc::EINVAL] {
            assert!(means_no_kernel_ipsec(&std::io::Error::from_raw_os_error(e)));
        }
        for e in [libc::EPERM, libc::EACCES, libc::ENOMEM, libc::EBADF] {
            assert!(!means_no_kernel_ipsec(&std::io::Error::from_raw_os_error(
                e
            )));
        }
    }

    /// On this machine the call either takes (a kernel with a key manager,
    /// as root), or reports the kernel's lack of IPsec; as non-root on Linux
    /// it is EPERM, which must be fatal, never silently skipped.
    #[test]
    fn exempt_on_this_host_sets_or_reports_no_ipsec() {
        let root = nix::unistd::geteuid().is_root();
        for addr in ["127.0.0.1:0", "[::1]:0"] {
            let Ok(s) = std::net::UdpSocket::bind(addr) else {
                continue; // no IPv6 here
            };
            let local = s.local_addr().unwrap();
            match exempt(s.as_fd(), local) {
                Ok(Outcome::Set) => assert!(root, "non-root must not set a bypass"),
                Ok(Outcome::NoKernelIpsec(e)) => {
                    assert!(root, "non-root got {e} instead of a fatal EPERM");
                    assert!(means_no_kernel_ipsec(&e), "{e}");
                }
                Err(msg) => {
                    assert!(!root, "root: {msg}");
                    assert!(msg.contains(&local.to_string()), "{msg}");
                }
            }
        }
    }

    /// A descriptor that is not a socket is a real error, not "no IPsec".
    #[test]
    fn exempt_on_a_non_socket_is_an_error() {
        let f = std::fs::File::open("/dev/null").unwrap();
        let err = exempt(f.as_fd(), "127.0.0.1:500".parse().unwrap()).unwrap_err();
        assert!(err.contains("127.0.0.1:500"), "{err}");
    }
}
