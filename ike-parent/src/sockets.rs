//! The privileged opens the parent does before the children exist: the
//! PF_KEY socket, the UDP sockets, the control socket.

use crate::cli::PfkeySource;
use ike_ipc::msg::ListenSocket;
use nix::sys::socket::{
    bind, listen, setsockopt, socket, sockopt, AddressFamily, Backlog, SockFlag, SockType,
    SockaddrStorage, UnixAddr,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

/// The PF_KEY protocol family: its number differs per OS, and the libc
/// crate only declares it for Linux.
/// Linux include/linux/socket.h: AF_KEY 15.
#[cfg(not(any(target_os = "freebsd", target_os = "openbsd")))]
const PF_KEY: libc::c_int = 15;
/// FreeBSD sys/sys/socket.h: PF_KEY = pseudo_AF_KEY = 27.
#[cfg(target_os = "freebsd")]
const PF_KEY: libc::c_int = 27;
/// OpenBSD sys/sys/socket.h: PF_KEY = AF_KEY = 30 (not checked on a live
/// system here).
#[cfg(target_os = "openbsd")]
const PF_KEY: libc::c_int = 30;
/// RFC 2367 2.1: the protocol argument of socket(2), same everywhere.
const PF_KEY_V2: libc::c_int = 2;

/// Opens the PF_KEY socket the broker will own.
pub fn open_pfkey(src: &PfkeySource) -> Result<OwnedFd, String> {
    match src {
        PfkeySource::Unix(path) => ike_ipc::pfkey_unix::connect_pfkey(path)
            .map_err(|e| format!("--pfkey unix:{}: {e}", path.display())),
        PfkeySource::Xfrm => open_xfrm(),
        PfkeySource::Kernel => {
            // SAFETY: plain socket(2) call with constant arguments.
            let fd =
                unsafe { libc::socket(PF_KEY, libc::SOCK_RAW | libc::SOCK_CLOEXEC, PF_KEY_V2) };
            if fd < 0 {
                let e = std::io::Error::last_os_error();
                return Err(match e.raw_os_error() {
                    Some(libc::EAFNOSUPPORT) | Some(libc::EPROTONOSUPPORT) => format!(
                        "this kernel has no PF_KEY socket ({e}); on Linux load af_key \
                         (modprobe af_key), or hand one over with --pfkey unix:PATH \
                         (pf-to-fd) or use the simulator (pfkey-sim)"
                    ),
                    _ => format!("socket(PF_KEY): {e}; see --pfkey"),
                });
            }
            // SAFETY: socket() returned a fresh descriptor we own.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        }
    }
}

/// The addresses to bind: `--listen` ones, or the IPv4 and IPv6 wildcards.
pub fn listen_addrs(listen: &[IpAddr], port: u16, natt_port: u16) -> Vec<ListenSocket> {
    let ips: Vec<IpAddr> = if listen.is_empty() {
        vec![
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        ]
    } else {
        listen.to_vec()
    };
    let mut out = Vec::new();
    for ip in ips {
        out.push(ListenSocket {
            addr: SocketAddr::new(ip, port),
            natt: false,
        });
        out.push(ListenSocket {
            addr: SocketAddr::new(ip, natt_port),
            natt: true,
        });
    }
    out
}

/// Binds one UDP socket. IPv6 sockets are IPv6-only so that the IPv4
/// wildcard can be bound beside them.
pub fn bind_udp(addr: SocketAddr) -> Result<OwnedFd, String> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let s = socket(family, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| format!("UDP socket for {addr}: {e}"))?;
    if family == AddressFamily::Inet6 {
        setsockopt(&s, sockopt::Ipv6V6Only, &true)
            .map_err(|e| format!("IPV6_V6ONLY {addr}: {e}"))?;
    }
    bind(s.as_raw_fd(), &SockaddrStorage::from(addr))
        .map_err(|e| format!("bind UDP {addr}: {e}"))?;
    enlarge_receive_buffer(&s, addr);
    Ok(s)
}

/// What [`enable_esp_in_udp`] could do on this system.
#[derive(Debug, PartialEq, Eq)]
pub enum EspInUdp {
    /// The kernel now decapsulates ESP-in-UDP arriving on this socket.
    Enabled,
    /// It cannot (no kernel IPsec, an IPv6 socket the kernel does not
    /// support, ESP-in-UDP switched off): the reason, to be logged.
    Unavailable(String),
}

/// The socket option level and values of ESP-in-UDP decapsulation.
/// Linux include/uapi/linux/udp.h: UDP_ENCAP 100, UDP_ENCAP_ESPINUDP 2 (at
/// level SOL_UDP = IPPROTO_UDP). FreeBSD sys/netinet/udp.h: UDP_ENCAP 1,
/// UDP_ENCAP_ESPINUDP 2 (RFC 3948 framing with the non-ESP marker), handled
/// by udp_ctloutput() for IPv4 sockets only and refused with ENOPROTOOPT
/// when the kernel has no IPsec.
#[cfg(not(any(target_os = "freebsd", target_os = "openbsd")))]
const UDP_ENCAP: libc::c_int = 100;
#[cfg(target_os = "freebsd")]
const UDP_ENCAP: libc::c_int = 1;
#[cfg(not(target_os = "openbsd"))]
const UDP_ENCAP_ESPINUDP: libc::c_int = 2;

/// Makes the kernel take ESP-in-UDP (RFC 3948) off the NAT-T socket: without
/// this Linux and FreeBSD hand the peer's encapsulated ESP to ike-net as
/// ordinary datagrams and no packet behind a NAT is ever decrypted. IKE
/// messages (non-ESP marker) and keepalives are still told apart by the
/// kernel: IKE reaches the socket, the 1-byte keepalive is dropped.
#[cfg(not(target_os = "openbsd"))]
pub fn enable_esp_in_udp(fd: BorrowedFd<'_>, addr: SocketAddr) -> EspInUdp {
    #[cfg(target_os = "freebsd")]
    if addr.is_ipv6() {
        return EspInUdp::Unavailable(
            "FreeBSD takes UDP_ENCAP on IPv4 sockets only (udp_ctloutput)".into(),
        );
    }
    let val: libc::c_int = UDP_ENCAP_ESPINUDP;
    // SAFETY: setsockopt(2) with a live descriptor and a c_int option value
    // of the size given.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_UDP,
            UDP_ENCAP,
            (&val as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        EspInUdp::Enabled
    } else {
        EspInUdp::Unavailable(format!(
            "setsockopt(UDP_ENCAP, UDP_ENCAP_ESPINUDP) on the {} socket: {}",
            if addr.is_ipv6() { "IPv6" } else { "IPv4" },
            std::io::Error::last_os_error()
        ))
    }
}

/// OpenBSD decapsulates ESP-in-UDP for the whole system, on the port of
/// sysctl net.inet.esp.udpencap_port, when net.inet.esp.udpencap is 1; a
/// daemon cannot switch it per socket, so we read both and say what is off.
/// OpenBSD sys/netinet/ip_esp.h: ESPCTL_UDPENCAP_ENABLE 2,
/// ESPCTL_UDPENCAP_PORT 3, under CTL_NET.PF_INET.IPPROTO_ESP.
#[cfg(target_os = "openbsd")]
pub fn enable_esp_in_udp(_fd: BorrowedFd<'_>, addr: SocketAddr) -> EspInUdp {
    fn read(leaf: libc::c_int) -> Result<libc::c_int, std::io::Error> {
        let mib = [libc::CTL_NET, libc::PF_INET, libc::IPPROTO_ESP, leaf];
        let mut val: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>();
        // SAFETY: read-only sysctl(2) of one int into a local of that size.
        let rc = unsafe {
            libc::sysctl(
                mib.as_ptr(),
                mib.len() as libc::c_uint,
                (&mut val as *mut libc::c_int).cast(),
                &mut len,
                std::ptr::null_mut(),
                0,
            )
        };
        if rc == 0 {
            Ok(val)
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
    match read(2) {
        Ok(0) => {
            return EspInUdp::Unavailable(
                "sysctl net.inet.esp.udpencap is 0: ESP-in-UDP is off, peers behind \
                 NAT will not pass traffic (sysctl net.inet.esp.udpencap=1)"
                    .into(),
            )
        }
        Ok(_) => {}
        Err(e) => return EspInUdp::Unavailable(format!("sysctl net.inet.esp.udpencap: {e}")),
    }
    match read(3) {
        Ok(p) if p == libc::c_int::from(addr.port()) => EspInUdp::Enabled,
        Ok(p) => EspInUdp::Unavailable(format!(
            "sysctl net.inet.esp.udpencap_port is {p}, not our NAT-T port {}: \
             the kernel will not decapsulate ESP-in-UDP on it",
            addr.port()
        )),
        Err(e) => EspInUdp::Unavailable(format!("sysctl net.inet.esp.udpencap_port: {e}")),
    }
}

/// The receive buffer of an IKE socket (issue 12): room for a burst of
/// [`UDP_RECEIVE_BUFFER`] bytes, several thousand IKE_SA_INIT requests,
/// while ike-net is busy or holds back (its broker channel full). The
/// default (about 200 KiB, some 200 datagrams) drops a burst of a thousand
/// initiations, and the retransmission back-off then stretches handshakes
/// past the kernel's 30 s larval SA lifetime. As root the parent may exceed
/// net.core.rmem_max (SO_RCVBUFFORCE); if refused, the default stays.
fn enlarge_receive_buffer(s: &OwnedFd, addr: SocketAddr) {
    #[cfg(target_os = "linux")]
    let r = setsockopt(s, sockopt::RcvBufForce, &UDP_RECEIVE_BUFFER)
        .or_else(|_| setsockopt(s, sockopt::RcvBuf, &UDP_RECEIVE_BUFFER));
    #[cfg(not(target_os = "linux"))]
    let r = setsockopt(s, sockopt::RcvBuf, &UDP_RECEIVE_BUFFER);
    if let Err(e) = r {
        log::debug!("UDP {addr}: receive buffer left at the default: {e}");
    }
}

/// See [`enlarge_receive_buffer`].
pub const UDP_RECEIVE_BUFFER: usize = 4 * 1024 * 1024;

/// Binds the control socket at `path`: SOCK_SEQPACKET, root-owned, mode
/// 0600. A stale socket file is replaced; any other file there is refused.
pub fn bind_control(path: &Path) -> Result<OwnedFd, String> {
    let shown = path.display();
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            std::fs::remove_file(path).map_err(|e| format!("remove stale {shown}: {e}"))?
        }
        Ok(_) => {
            return Err(format!(
                "control socket path {shown} exists and is not a socket"
            ))
        }
        Err(_) => {}
    }
    let s = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| format!("control socket: {e}"))?;
    let addr = UnixAddr::new(path).map_err(|e| format!("control socket {shown}: {e}"))?;
    // umask 0177 around bind: the socket file is never, even briefly,
    // connectable by anyone but root. We are single-threaded here.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let bound = bind(s.as_raw_fd(), &addr);
    nix::sys::stat::umask(old);
    bound.map_err(|e| format!("bind control socket {shown}: {e}"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("chmod {shown}: {e}"))?;
    listen(&s, Backlog::new(16).map_err(|e| e.to_string())?)
        .map_err(|e| format!("listen {shown}: {e}"))?;
    Ok(s)
}

/// Linux `--pfkey xfrm`: a NETLINK_XFRM socket (include/uapi/linux/netlink.h,
/// NETLINK_XFRM = 6), bound here, as root, to the ACQUIRE, EXPIRE and MAPPING
/// multicast groups (ike_pfkey::xfrm::consts::BROKER_GROUPS) so that the
/// sandboxed broker only reads and writes it.
#[cfg(target_os = "linux")]
fn open_xfrm() -> Result<OwnedFd, String> {
    // include/uapi/linux/netlink.h: NETLINK_XFRM = 6; xfrm.h: XFRMNLGRP_ACQUIRE
    // = 1, XFRMNLGRP_EXPIRE = 2, XFRMNLGRP_MAPPING = 8, bound as bit (group - 1).
    // The same values as ike_pfkey::xfrm::consts (ike-parent does not link
    // ike-pfkey).
    const NETLINK_XFRM: libc::c_int = 6;
    const BROKER_GROUPS: u32 = (1 << 0) | (1 << 1) | (1 << 7);
    // SAFETY: plain socket(2) call with constant arguments.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            NETLINK_XFRM,
        )
    };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        return Err(format!(
            "socket(NETLINK_XFRM): {e}; load xfrm_user (modprobe xfrm_user) or use --pfkey kernel"
        ));
    }
    // SAFETY: socket() returned a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: an all-zero sockaddr_nl is valid; bind(2) gets its real size.
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    sa.nl_groups = BROKER_GROUPS;
    let r = unsafe {
        libc::bind(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            &sa as *const libc::sockaddr_nl as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(format!(
            "bind(NETLINK_XFRM): {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(fd)
}

#[cfg(not(target_os = "linux"))]
fn open_xfrm() -> Result<OwnedFd, String> {
    Err("--pfkey xfrm: XFRM is Linux only".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn default_listen_is_both_families_both_ports() {
        let l = listen_addrs(&[], 500, 4500);
        assert_eq!(l.len(), 4);
        assert!(l
            .iter()
            .any(|s| s.addr == "0.0.0.0:4500".parse().unwrap() && s.natt));
        assert!(l
            .iter()
            .any(|s| s.addr == "[::]:500".parse().unwrap() && !s.natt));
    }

    #[test]
    fn control_socket_is_0600_and_replaces_stale() {
        let p = std::env::temp_dir().join(format!("ike-ctl-test-{}.sock", std::process::id()));
        let first = bind_control(&p).unwrap();
        drop(first);
        let _second = bind_control(&p).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        std::fs::remove_file(&p).unwrap();
        std::fs::write(&p, b"not a socket").unwrap();
        assert!(bind_control(&p).is_err());
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn udp_v4_and_v6_on_one_port() {
        let a = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = std::net::UdpSocket::from(a).local_addr().unwrap().port();
        // The IPv6 wildcard on the same port coexists thanks to V6ONLY
        // (skip where the host has no IPv6).
        if std::net::UdpSocket::bind("[::1]:0").is_ok() {
            assert!(bind_udp(SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port)).is_ok());
        }
    }

    /// Linux: the option sticks on an IPv4 socket (read back with
    /// getsockopt). Needs only CONFIG_XFRM, which every distribution kernel
    /// has; a kernel without it answers ENOPROTOOPT and the test says so.
    #[cfg(target_os = "linux")]
    #[test]
    fn natt_socket_gets_udp_encap() {
        use std::os::fd::AsFd;
        let s = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
        match enable_esp_in_udp(s.as_fd(), "127.0.0.1:4500".parse().unwrap()) {
            EspInUdp::Enabled => {
                let mut val: libc::c_int = -1;
                let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
                // SAFETY: getsockopt of one int into a local of that size.
                let rc = unsafe {
                    libc::getsockopt(
                        s.as_raw_fd(),
                        libc::IPPROTO_UDP,
                        UDP_ENCAP,
                        (&mut val as *mut libc::c_int).cast(),
                        &mut len,
                    )
                };
                assert_eq!(rc, 0);
                assert_eq!(val, UDP_ENCAP_ESPINUDP);
            }
            EspInUdp::Unavailable(e) => assert!(e.contains("Protocol not available"), "{e}"),
        }
    }
}
