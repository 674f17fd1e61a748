//! The per-datagram address control messages as plain bytes, for every
//! system we support, compiled everywhere so that the BSD layouts are
//! unit-tested on Linux with hand-built buffers.
//!
//! What differs per system (facts from the headers named; docs/bsd.md
//! lists them with the kernel functions that consume them):
//!
//! - `struct cmsghdr`: Linux (include/uapi/linux/socket.h via glibc
//!   bits/socket.h) has a `size_t cmsg_len`, so the header is 16 bytes on
//!   64-bit; FreeBSD and OpenBSD (sys/sys/socket.h) have a `socklen_t`
//!   (u32) `cmsg_len`: 12 bytes.
//! - `CMSG_ALIGN`: Linux rounds to `sizeof(size_t)`; FreeBSD `_ALIGN`
//!   (sys/amd64/include/_align.h, arm64 the same) and OpenBSD `_ALIGN`
//!   (sys/arch/amd64/include/_types.h) round to 8 on the 64-bit systems.
//!   The data starts at `CMSG_ALIGN(sizeof(struct cmsghdr))`: 16 on all three.
//! - Which message carries the local address: Linux `IP_PKTINFO`
//!   (`struct in_pktinfo`, both ways); the BSDs `IP_RECVDSTADDR` on receive
//!   and `IP_SENDSRCADDR` on send (a bare `struct in_addr`); IPv6 is
//!   `IPV6_PKTINFO` (`struct in6_pktinfo`) everywhere, with a different
//!   option number on Linux.
//!
//! Every length comes from the kernel (or, in the tests, from a hostile
//! buffer): each is checked before use and a bad one is an error, never a
//! panic or an out-of-bounds read.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IPPROTO_IP and IPPROTO_IPV6: the same numbers on all three systems
/// (netinet/in.h): 0 and 41.
const LEVEL_IP: i32 = 0;
const LEVEL_IPV6: i32 = 41;

/// `struct in6_pktinfo` (RFC 3542 6.1): 16-byte address, u32 interface index.
const IN6_PKTINFO_LEN: usize = 20;
/// Linux `struct in_pktinfo`: int ifindex, in_addr spec_dst, in_addr addr.
const IN_PKTINFO_LEN: usize = 12;
/// `struct in_addr`.
const IN_ADDR_LEN: usize = 4;

/// The control-message dialect of one operating system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    Linux,
    FreeBsd,
    OpenBsd,
}

impl Os {
    /// The system this binary runs on. Every system that is neither
    /// FreeBSD nor OpenBSD is treated as Linux (as in ike-parent/src/sockets.rs).
    pub const HOST: Os = if cfg!(target_os = "freebsd") {
        Os::FreeBsd
    } else if cfg!(target_os = "openbsd") {
        Os::OpenBsd
    } else {
        Os::Linux
    };

    /// Size of `cmsg_len` in bytes.
    fn len_field(self) -> usize {
        match self {
            // size_t (64-bit hosts only: the daemon targets 64-bit systems).
            Os::Linux => 8,
            // socklen_t
            Os::FreeBsd | Os::OpenBsd => 4,
        }
    }

    /// `sizeof(struct cmsghdr)`: cmsg_len, then int level, int type.
    fn header(self) -> usize {
        self.len_field() + 8
    }

    /// The `CMSG_ALIGN` unit.
    fn align(self) -> usize {
        8
    }

    fn cmsg_align(self, n: usize) -> Option<usize> {
        let a = self.align();
        n.checked_add(a - 1).map(|v| v & !(a - 1))
    }

    /// Offset of the data: `CMSG_DATA(cmsg) - cmsg`.
    fn data_offset(self) -> usize {
        // 12 or 16, rounded to 8: 16 on all three.
        self.cmsg_align(self.header()).unwrap_or(usize::MAX)
    }

    /// `CMSG_SPACE(len)`: what one message with `len` data bytes occupies.
    pub fn space(self, len: usize) -> usize {
        self.data_offset() + self.cmsg_align(len).unwrap_or(usize::MAX / 2)
    }

    /// (level, type) of the message that reports the IPv4 destination.
    fn v4_recv_type(self) -> (i32, i32) {
        match self {
            // include/uapi/linux/in.h: IP_PKTINFO 8
            Os::Linux => (LEVEL_IP, 8),
            // FreeBSD sys/netinet/in.h, OpenBSD sys/netinet/in.h: IP_RECVDSTADDR 7
            Os::FreeBsd | Os::OpenBsd => (LEVEL_IP, 7),
        }
    }

    /// (level, type) of the message that picks the IPv4 source on send.
    fn v4_send_type(self) -> (i32, i32) {
        match self {
            Os::Linux => (LEVEL_IP, 8),
            // IP_SENDSRCADDR is defined as IP_RECVDSTADDR (7) on both BSDs.
            Os::FreeBsd | Os::OpenBsd => (LEVEL_IP, 7),
        }
    }

    /// (level, type) of IPV6_PKTINFO.
    fn v6_type(self) -> (i32, i32) {
        match self {
            // include/uapi/linux/in6.h: IPV6_PKTINFO 50
            Os::Linux => (LEVEL_IPV6, 50),
            // FreeBSD sys/netinet6/in6.h, OpenBSD sys/netinet6/in6.h: 46
            Os::FreeBsd | Os::OpenBsd => (LEVEL_IPV6, 46),
        }
    }

    /// The socket option (level, name, value 1) that asks for the
    /// destination of each datagram.
    pub fn recv_option(self, v6: bool) -> (i32, i32) {
        match (self, v6) {
            (Os::Linux, false) => (LEVEL_IP, 8),   // IP_PKTINFO
            (Os::Linux, true) => (LEVEL_IPV6, 49), // IPV6_RECVPKTINFO
            (_, false) => (LEVEL_IP, 7),           // IP_RECVDSTADDR
            (_, true) => (LEVEL_IPV6, 36),         // IPV6_RECVPKTINFO
        }
    }

    /// The control buffer to receive into: room for the largest message
    /// we asked for (an in6_pktinfo, or Linux's in_pktinfo), with spare.
    pub const RECV_SPACE: usize = 64;
}

/// A control buffer the kernel can write: 8-byte aligned like the kernel's
/// own cmsghdr expects.
#[repr(C, align(8))]
pub struct CmsgBuf(pub [u8; Os::RECV_SPACE]);

impl CmsgBuf {
    pub fn new() -> Self {
        Self([0; Os::RECV_SPACE])
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmsgError {
    /// A header whose cmsg_len is below the header size.
    LengthTooSmall { at: usize, len: usize },
    /// A message whose cmsg_len runs past the received control data.
    Truncated { at: usize, len: usize, have: usize },
    /// An address message with the wrong payload size.
    BadPayload { level: i32, kind: i32, len: usize },
    /// The kernel set MSG_CTRUNC: our buffer was too small.
    KernelTruncated,
    /// The address is too big for the buffer given to `encode_source`.
    NoRoom,
}

impl fmt::Display for CmsgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LengthTooSmall { at, len } => {
                write!(
                    f,
                    "control message at {at}: cmsg_len {len} is below the header size"
                )
            }
            Self::Truncated { at, len, have } => write!(
                f,
                "control message at {at}: cmsg_len {len} runs past the {have} bytes received"
            ),
            Self::BadPayload { level, kind, len } => write!(
                f,
                "control message level {level} type {kind}: {len} data bytes, not an address"
            ),
            Self::KernelTruncated => f.write_str("control data truncated by the kernel"),
            Self::NoRoom => f.write_str("control buffer too small"),
        }
    }
}

fn read_len(os: Os, b: &[u8]) -> usize {
    match os.len_field() {
        4 => b
            .get(..4)
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
            .map_or(0, |a| u32::from_ne_bytes(a) as usize),
        _ => b
            .get(..8)
            .and_then(|s| <[u8; 8]>::try_from(s).ok())
            .map_or(0, |a| {
                usize::try_from(u64::from_ne_bytes(a)).unwrap_or(usize::MAX)
            }),
    }
}

fn read_i32(b: &[u8], at: usize) -> i32 {
    b.get(at..at + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map_or(0, i32::from_ne_bytes)
}

/// The local (destination) address of a received datagram from its control
/// data `buf` (exactly the `msg_controllen` bytes the kernel returned).
/// Ok(None): no address message among them. Messages of other types are
/// skipped; the walk follows `CMSG_NXTHDR`: the next header starts at
/// `CMSG_ALIGN(cmsg_len)` and must fit whole in the buffer.
pub fn local_addr(os: Os, buf: &[u8]) -> Result<Option<IpAddr>, CmsgError> {
    let hdr = os.header();
    let data_at = os.data_offset();
    let mut at = 0usize;
    let mut found = None;
    while at.checked_add(hdr).is_some_and(|end| end <= buf.len()) {
        let h = &buf[at..];
        let len = read_len(os, h);
        if len < hdr {
            return Err(CmsgError::LengthTooSmall { at, len });
        }
        let end = at.checked_add(len).filter(|&e| e <= buf.len());
        let Some(end) = end else {
            return Err(CmsgError::Truncated {
                at,
                len,
                have: buf.len(),
            });
        };
        let level = read_i32(h, os.len_field());
        let kind = read_i32(h, os.len_field() + 4);
        // Data is what lies between CMSG_DATA and the end of cmsg_len; a
        // cmsg_len that ends inside the header padding has no data.
        let data = buf.get(at + data_at..end).unwrap_or(&[]);
        if found.is_none() {
            found = address_in(os, level, kind, data)?;
        }
        match os.cmsg_align(len).and_then(|a| at.checked_add(a)) {
            Some(next) => at = next,
            None => break,
        }
    }
    Ok(found)
}

/// The address carried by one message, if it is one of ours.
fn address_in(os: Os, level: i32, kind: i32, data: &[u8]) -> Result<Option<IpAddr>, CmsgError> {
    let bad = || CmsgError::BadPayload {
        level,
        kind,
        len: data.len(),
    };
    if (level, kind) == os.v6_type() {
        let d = data.get(..IN6_PKTINFO_LEN).ok_or_else(bad)?;
        let mut a = [0u8; 16];
        a.copy_from_slice(&d[..16]);
        return Ok(Some(IpAddr::V6(Ipv6Addr::from(a))));
    }
    if (level, kind) == os.v4_recv_type() {
        return match os {
            // in_pktinfo: ipi_addr (the header's destination) at offset 8.
            Os::Linux => {
                let d = data.get(..IN_PKTINFO_LEN).ok_or_else(bad)?;
                Ok(Some(IpAddr::V4(Ipv4Addr::new(d[8], d[9], d[10], d[11]))))
            }
            // A bare in_addr.
            Os::FreeBsd | Os::OpenBsd => {
                let d = data.get(..IN_ADDR_LEN).ok_or_else(bad)?;
                Ok(Some(IpAddr::V4(Ipv4Addr::new(d[0], d[1], d[2], d[3]))))
            }
        };
    }
    Ok(None)
}

/// Writes the one control message that makes the kernel send from
/// `local` into `out` (zero-filled first) and returns `CMSG_SPACE` of it:
/// the `msg_controllen` to pass.
pub fn encode_source(os: Os, local: IpAddr, out: &mut [u8]) -> Result<usize, CmsgError> {
    let mut payload = [0u8; IN6_PKTINFO_LEN];
    let ((level, kind), n) = match (os, local) {
        (_, IpAddr::V6(a)) => {
            // in6_pktinfo: address, interface index 0 (the kernel picks it).
            payload[..16].copy_from_slice(&a.octets());
            (os.v6_type(), IN6_PKTINFO_LEN)
        }
        (Os::Linux, IpAddr::V4(a)) => {
            // in_pktinfo: ifindex 0, ipi_spec_dst = the source to use,
            // ipi_addr ignored on send (Linux ip(7)).
            payload[4..8].copy_from_slice(&a.octets());
            (os.v4_send_type(), IN_PKTINFO_LEN)
        }
        (_, IpAddr::V4(a)) => {
            payload[..4].copy_from_slice(&a.octets());
            (os.v4_send_type(), IN_ADDR_LEN)
        }
    };
    let space = os.space(n);
    let out = out.get_mut(..space).ok_or(CmsgError::NoRoom)?;
    out.fill(0);
    let len = os.data_offset() + n; // CMSG_LEN(n)
    let lf = os.len_field();
    match lf {
        4 => out[..4].copy_from_slice(&(len as u32).to_ne_bytes()),
        _ => out[..8].copy_from_slice(&(len as u64).to_ne_bytes()),
    }
    out[lf..lf + 4].copy_from_slice(&level.to_ne_bytes());
    out[lf + 4..lf + 8].copy_from_slice(&kind.to_ne_bytes());
    let d = os.data_offset();
    out[d..d + n].copy_from_slice(&payload[..n]);
    Ok(space)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Os; 3] = [Os::Linux, Os::FreeBsd, Os::OpenBsd];

    /// One hand-built message: header per `os`, then `data` at offset 16,
    /// padded to CMSG_SPACE.
    fn msg(os: Os, level: i32, kind: i32, data: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        let len = 16 + data.len();
        match os {
            Os::Linux => v.extend_from_slice(&(len as u64).to_ne_bytes()),
            _ => v.extend_from_slice(&(len as u32).to_ne_bytes()),
        }
        v.extend_from_slice(&level.to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.resize(16, 0); // BSD: 4 bytes of padding after the 12-byte header
        v.extend_from_slice(data);
        v.resize(16 + data.len().div_ceil(8) * 8, 0);
        v
    }

    #[test]
    fn layouts_are_the_headers() {
        // FreeBSD/OpenBSD: 12-byte cmsghdr, data at 16, CMSG_SPACE(4) = 24,
        // CMSG_SPACE(20) = 40. Linux (64-bit): 16-byte header, same offsets.
        for os in ALL {
            assert_eq!(os.data_offset(), 16);
            assert_eq!(os.space(4), 24);
            assert_eq!(os.space(12), 32);
            assert_eq!(os.space(20), 40);
            assert!(os.space(20) <= Os::RECV_SPACE);
        }
        assert_eq!(Os::Linux.header(), 16);
        assert_eq!(Os::FreeBsd.header(), 12);
        assert_eq!(Os::OpenBsd.header(), 12);
    }

    #[test]
    fn bsd_ipv4_recvdstaddr_is_a_bare_in_addr() {
        for os in [Os::FreeBsd, Os::OpenBsd] {
            let b = msg(os, 0, 7, &[192, 0, 2, 7]);
            assert_eq!(b.len(), 24);
            assert_eq!(
                local_addr(os, &b).unwrap(),
                Some("192.0.2.7".parse().unwrap())
            );
            // The same bytes read as Linux: a different header size and an
            // unknown type 7, so no address (and no misreading).
            assert_ne!(
                local_addr(Os::Linux, &b).ok().flatten(),
                Some("192.0.2.7".parse().unwrap())
            );
        }
    }

    #[test]
    fn ipv6_pktinfo_on_every_system() {
        let a: Ipv6Addr = "2001:db8::5".parse().unwrap();
        let mut data = a.octets().to_vec();
        data.extend_from_slice(&3u32.to_ne_bytes());
        for (os, kind) in [(Os::Linux, 50), (Os::FreeBsd, 46), (Os::OpenBsd, 46)] {
            let b = msg(os, 41, kind, &data);
            assert_eq!(local_addr(os, &b).unwrap(), Some(IpAddr::V6(a)));
        }
    }

    #[test]
    fn linux_in_pktinfo_reports_the_header_destination() {
        // ifindex 2, spec_dst 10.0.0.1 (routing's choice), addr 10.0.0.9 (the
        // destination in the header): we want the latter.
        let mut d = 2i32.to_ne_bytes().to_vec();
        d.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 9]);
        let b = msg(Os::Linux, 0, 8, &d);
        assert_eq!(
            local_addr(Os::Linux, &b).unwrap(),
            Some("10.0.0.9".parse().unwrap())
        );
    }

    #[test]
    fn other_messages_are_skipped_and_the_walk_finds_ours() {
        for os in [Os::FreeBsd, Os::OpenBsd] {
            // SCM_TIMESTAMP-like (level SOL_SOCKET 0xffff, 16 data bytes),
            // then IP_RECVDSTADDR.
            let mut b = msg(os, 0xffff, 2, &[0; 16]);
            b.extend(msg(os, 0, 7, &[198, 51, 100, 1]));
            assert_eq!(
                local_addr(os, &b).unwrap(),
                Some("198.51.100.1".parse().unwrap())
            );
        }
    }

    #[test]
    fn empty_and_padding_only_buffers_have_no_address() {
        for os in ALL {
            assert_eq!(local_addr(os, &[]).unwrap(), None);
            // Fewer bytes than a header: CMSG_FIRSTHDR would be NULL.
            assert_eq!(local_addr(os, &[0; 11]).unwrap(), None);
        }
    }

    #[test]
    fn truncated_and_garbage_messages_are_errors() {
        for os in [Os::FreeBsd, Os::OpenBsd] {
            let good = msg(os, 0, 7, &[192, 0, 2, 1]);
            // cmsg_len says 20 but only 18 bytes arrived.
            assert!(matches!(
                local_addr(os, &good[..18]),
                Err(CmsgError::Truncated { .. })
            ));
            // cmsg_len 0 and cmsg_len below the header.
            for len in [0u32, 11] {
                let mut b = good.clone();
                b[..4].copy_from_slice(&len.to_ne_bytes());
                assert!(matches!(
                    local_addr(os, &b),
                    Err(CmsgError::LengthTooSmall { .. })
                ));
            }
            // cmsg_len huge: no overflow, an error.
            let mut b = good.clone();
            b[..4].copy_from_slice(&u32::MAX.to_ne_bytes());
            assert!(matches!(
                local_addr(os, &b),
                Err(CmsgError::Truncated { .. })
            ));
            // Our type with a short payload (2 bytes of in_addr).
            let short = msg(os, 0, 7, &[192, 0]);
            assert!(matches!(
                local_addr(os, &short),
                Err(CmsgError::BadPayload { .. })
            ));
            // Header-sized message whose len ends inside the padding.
            let mut pad = msg(os, 0, 7, &[]);
            pad[..4].copy_from_slice(&12u32.to_ne_bytes());
            assert!(matches!(
                local_addr(os, &pad),
                Err(CmsgError::BadPayload { len: 0, .. })
            ));
        }
        // Linux with a 64-bit length beyond usize on no platform: still an error.
        let mut b = msg(Os::Linux, 41, 50, &[0; 20]);
        b[..8].copy_from_slice(&u64::MAX.to_ne_bytes());
        assert!(local_addr(Os::Linux, &b).is_err());
    }

    /// Every prefix and every single-byte corruption of a valid two-message
    /// buffer decodes to a value or an error, never a panic.
    #[test]
    fn no_input_panics() {
        for os in ALL {
            let mut b = msg(os, 0xffff, 2, &[1; 8]);
            b.extend(msg(os, 41, os.v6_type().1, &[7; 20]));
            for n in 0..=b.len() {
                let _ = local_addr(os, &b[..n]);
            }
            for i in 0..b.len() {
                for v in [0u8, 1, 0x7f, 0xff] {
                    let mut c = b.clone();
                    c[i] = v;
                    let _ = local_addr(os, &c);
                }
            }
        }
    }

    #[test]
    fn encode_then_decode_round_trips_on_bsd_layouts() {
        for os in [Os::FreeBsd, Os::OpenBsd] {
            let mut out = [0xaau8; 64];
            let v4: IpAddr = "192.0.2.9".parse().unwrap();
            let n = encode_source(os, v4, &mut out).unwrap();
            // CMSG_SPACE(sizeof(struct in_addr)) with cmsg_len = CMSG_LEN(4) = 20.
            assert_eq!(n, 24);
            assert_eq!(u32::from_ne_bytes(out[..4].try_into().unwrap()), 20);
            assert_eq!(i32::from_ne_bytes(out[4..8].try_into().unwrap()), 0);
            assert_eq!(i32::from_ne_bytes(out[8..12].try_into().unwrap()), 7);
            assert_eq!(&out[16..20], &[192, 0, 2, 9]);
            assert_eq!(&out[20..24], &[0; 4]);
            // IP_SENDSRCADDR == IP_RECVDSTADDR, so our own decoder reads it back.
            assert_eq!(local_addr(os, &out[..n]).unwrap(), Some(v4));

            let v6: IpAddr = "2001:db8::1".parse().unwrap();
            let n = encode_source(os, v6, &mut out).unwrap();
            assert_eq!(n, 40);
            assert_eq!(u32::from_ne_bytes(out[..4].try_into().unwrap()), 36);
            assert_eq!(i32::from_ne_bytes(out[8..12].try_into().unwrap()), 46);
            assert_eq!(local_addr(os, &out[..n]).unwrap(), Some(v6));
        }
    }

    #[test]
    fn encode_linux_in_pktinfo_sets_spec_dst() {
        let mut out = [0u8; 64];
        let n = encode_source(Os::Linux, "10.1.2.3".parse().unwrap(), &mut out).unwrap();
        assert_eq!(n, 32);
        assert_eq!(u64::from_ne_bytes(out[..8].try_into().unwrap()), 28);
        assert_eq!(&out[16..20], &[0; 4]); // ifindex 0
        assert_eq!(&out[20..24], &[10, 1, 2, 3]); // ipi_spec_dst
        assert_eq!(&out[24..28], &[0; 4]); // ipi_addr unused on send
    }

    #[test]
    fn encode_refuses_a_small_buffer() {
        let mut out = [0u8; 23];
        assert_eq!(
            encode_source(Os::FreeBsd, "192.0.2.1".parse().unwrap(), &mut out),
            Err(CmsgError::NoRoom)
        );
    }

    /// On the host, our numbers must be the C library's.
    #[test]
    fn host_constants_match_libc() {
        #[cfg(target_os = "linux")]
        {
            assert_eq!(
                Os::HOST.recv_option(false),
                (libc::IPPROTO_IP, libc::IP_PKTINFO)
            );
            assert_eq!(
                Os::HOST.recv_option(true),
                (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO)
            );
            assert_eq!(Os::HOST.v6_type(), (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO));
            assert_eq!(Os::HOST.header(), std::mem::size_of::<libc::cmsghdr>());
        }
        #[cfg(any(target_os = "freebsd", target_os = "openbsd"))]
        {
            assert_eq!(
                Os::HOST.recv_option(false),
                (libc::IPPROTO_IP, libc::IP_RECVDSTADDR)
            );
            assert_eq!(
                Os::HOST.v4_send_type(),
                (libc::IPPROTO_IP, libc::IP_SENDSRCADDR)
            );
            assert_eq!(
                Os::HOST.recv_option(true),
                (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO)
            );
            assert_eq!(Os::HOST.v6_type(), (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO));
            assert_eq!(Os::HOST.header(), std::mem::size_of::<libc::cmsghdr>());
        }
        // CMSG_SPACE and CMSG_LEN from the C library's own macros (libc crate).
        // SAFETY: pure arithmetic functions.
        unsafe {
            assert_eq!(Os::HOST.space(4), libc::CMSG_SPACE(4) as usize);
            assert_eq!(Os::HOST.space(20), libc::CMSG_SPACE(20) as usize);
            assert_eq!(Os::HOST.data_offset() + 4, libc::CMSG_LEN(4) as usize);
        }
    }
}
