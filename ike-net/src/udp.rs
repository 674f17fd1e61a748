//! The UDP sockets the parent bound for us (ports 500 and 4500 by default).
//!
//! IKE needs each datagram's local address (RFC 7296 2.11: responses go out
//! from the address the request came to; NAT detection hashes it, RFC 7296
//! 2.23). A socket bound to a specific address knows it; on a wildcard
//! socket the kernel tells it per datagram and the reply names it as its
//! source the same way: IP_PKTINFO / IPV6_PKTINFO on Linux, IP_RECVDSTADDR
//! with IP_SENDSRCADDR and IPV6_RECVPKTINFO with IPV6_PKTINFO on FreeBSD and
//! OpenBSD (the control-message bytes are in `cmsg`, docs/bsd.md has the
//! kernel functions that read them).

use ike_ipc::fds;
use ike_ipc::msg::ListenSocket;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};

mod cmsg;

/// The largest IKE datagram we accept; RFC 7296 2 requires at least 1280,
/// RFC 7383 fragmentation keeps real messages small. Anything longer is cut
/// by the kernel and dropped by the engine's length checks.
pub const MAX_DATAGRAM: usize = 65535;

pub struct UdpSockets {
    pub sockets: Vec<(UdpSocket, ListenSocket)>,
}

impl UdpSockets {
    /// Adopts the sockets at fds 6.. in the order of `listen`, checking that
    /// each is bound where the parent said.
    pub fn adopt(listen: &[ListenSocket]) -> Result<Self, String> {
        if listen.len() > fds::NET_UDP_MAX {
            return Err(format!("{} UDP sockets is over the limit", listen.len()));
        }
        let mut sockets = Vec::with_capacity(listen.len());
        for (i, l) in listen.iter().enumerate() {
            let n = fds::NET_UDP_FIRST + i as i32;
            let fd = fds::take(n).map_err(|e| format!("UDP socket fd {n}: {e}"))?;
            let s = UdpSocket::from(fd);
            let local = s
                .local_addr()
                .map_err(|e| format!("UDP socket fd {n}: {e}"))?;
            if local != l.addr {
                return Err(format!(
                    "UDP socket fd {n} is bound to {local}, expected {}",
                    l.addr
                ));
            }
            s.set_nonblocking(true)
                .map_err(|e| format!("UDP socket fd {n}: {e}"))?;
            // Before the sandbox: setsockopt is not on the allow-list.
            pktinfo::enable(&s, local).map_err(|e| format!("UDP socket fd {n}: {e}"))?;
            sockets.push((s, l.clone()));
        }
        Ok(Self { sockets })
    }

    /// Receives one datagram with the local address it was sent to.
    pub fn recv_local(&self, idx: usize, buf: &mut [u8]) -> io::Result<Datagram> {
        match self.sockets.get(idx) {
            Some((s, l)) => pktinfo::recv(s, l.addr, buf),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "no such socket")),
        }
    }

    /// Sends from `local` (which must be an address of this host; on a
    /// socket bound to a specific address it is that address anyway).
    pub fn send_from(
        &self,
        idx: usize,
        local: IpAddr,
        to: SocketAddr,
        bytes: &[u8],
    ) -> io::Result<usize> {
        match self.sockets.get(idx) {
            Some((s, l)) if l.addr.ip().is_unspecified() => pktinfo::send(s, local, to, bytes),
            Some((s, _)) => s.send_to(bytes, to),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "no such socket")),
        }
    }
}

/// One received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram {
    pub len: usize,
    pub from: SocketAddr,
    /// The address and port it was sent to.
    pub local: SocketAddr,
}

/// The syscalls around [`cmsg`]: one implementation for every system; only
/// the numbers and layouts in `cmsg::Os` differ. On Linux this is the path
/// the tests below run; on the BSDs the same code runs with their layouts.
mod pktinfo {
    use super::cmsg::{self, CmsgBuf, CmsgError, Os};
    use super::Datagram;
    use nix::sys::socket::{SockaddrLike, SockaddrStorage};
    use std::io::{self, IoSliceMut};
    use std::net::{IpAddr, SocketAddr, UdpSocket};
    use std::os::fd::AsRawFd;

    /// Ask for the destination address of each datagram (wildcard sockets
    /// only: a socket bound to one address knows it).
    pub fn enable(s: &UdpSocket, bound: SocketAddr) -> io::Result<()> {
        if !bound.ip().is_unspecified() {
            return Ok(());
        }
        let (level, name) = Os::HOST.recv_option(bound.is_ipv6());
        let one: libc::c_int = 1;
        // SAFETY: `one` outlives the call and its size is passed; the fd is
        // borrowed from a live socket.
        let r = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                level,
                name,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Receives the next datagram that carries what we need. A datagram whose
    /// control data is malformed, or that arrived on a wildcard socket
    /// without its destination, is consumed, logged and skipped (never
    /// handed on without a local address); the next one is read.
    pub fn recv(s: &UdpSocket, bound: SocketAddr, buf: &mut [u8]) -> io::Result<Datagram> {
        loop {
            let (len, from, control) = recv_raw(s, buf)?;
            let local_ip = if bound.ip().is_unspecified() {
                match control {
                    Ok(Some(ip)) => ip,
                    Ok(None) => {
                        log::warn!(
                            "UDP {bound}: datagram from {from} without its destination \
                             address control message: dropped"
                        );
                        continue;
                    }
                    Err(e) => {
                        log::warn!("UDP {bound}: datagram from {from}: {e}: dropped");
                        continue;
                    }
                }
            } else {
                bound.ip()
            };
            return Ok(Datagram {
                len,
                from,
                local: SocketAddr::new(local_ip, bound.port()),
            });
        }
    }

    type Raw = (usize, SocketAddr, Result<Option<IpAddr>, CmsgError>);

    fn recv_raw(s: &UdpSocket, buf: &mut [u8]) -> io::Result<Raw> {
        let mut control = CmsgBuf::new();
        // SAFETY: sockaddr_storage is plain data; all-zero is valid.
        let mut from: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut iov = [IoSliceMut::new(buf)];
        // SAFETY: msghdr is plain data (some systems have private padding
        // fields, hence zeroed rather than a literal).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (&mut from as *mut libc::sockaddr_storage).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = iov.as_mut_ptr().cast();
        msg.msg_iovlen = 1;
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen = control.0.len() as _;
        // SAFETY: every pointer in `msg` points to a live buffer of the
        // length given next to it; IoSliceMut is ABI-compatible with iovec.
        let n = unsafe { libc::recvmsg(s.as_raw_fd(), &mut msg, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let len = n as usize;
        // SAFETY: the kernel wrote msg_namelen bytes of a sockaddr into `from`.
        let addr = unsafe {
            SockaddrStorage::from_raw(
                (&from as *const libc::sockaddr_storage).cast(),
                Some(msg.msg_namelen),
            )
        };
        let from = addr
            .as_ref()
            .and_then(to_socket_addr)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no source address"))?;
        let got = (msg.msg_controllen as usize).min(control.0.len());
        let local = if msg.msg_flags & libc::MSG_CTRUNC != 0 {
            Err(CmsgError::KernelTruncated)
        } else {
            cmsg::local_addr(Os::HOST, &control.0[..got])
        };
        Ok((len, from, local))
    }

    /// Sends `bytes` to `to` from `local` on a wildcard socket.
    pub fn send(s: &UdpSocket, local: IpAddr, to: SocketAddr, bytes: &[u8]) -> io::Result<usize> {
        let mut control = CmsgBuf::new();
        let clen = cmsg::encode_source(Os::HOST, local, &mut control.0)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let dest = SockaddrStorage::from(to);
        let mut iov = [std::io::IoSlice::new(bytes)];
        // SAFETY: as in recv_raw.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = dest.as_ptr() as *mut libc::c_void;
        msg.msg_namelen = dest.len();
        msg.msg_iov = iov.as_mut_ptr().cast();
        msg.msg_iovlen = 1;
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen = clen as _;
        // SAFETY: every pointer in `msg` points to a live buffer of the
        // length given next to it; the kernel only reads them.
        let n = unsafe { libc::sendmsg(s.as_raw_fd(), &msg, 0) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    fn to_socket_addr(a: &SockaddrStorage) -> Option<SocketAddr> {
        if let Some(v4) = a.as_sockaddr_in() {
            return Some(SocketAddr::V4((*v4).into()));
        }
        a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into()))
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// `UdpSockets` holding just `s`, bound at `addr`.
    fn one_socket(s: UdpSocket, addr: SocketAddr, natt: bool) -> UdpSockets {
        UdpSockets {
            sockets: vec![(s, ListenSocket { addr, natt })],
        }
    }

    /// On a wildcard socket: a datagram to 127.0.0.2 reports that local
    /// address, and the reply sent "from" it arrives with it as source.
    #[test]
    fn wildcard_socket_learns_and_uses_the_local_address() {
        let s = UdpSocket::bind("0.0.0.0:0").unwrap();
        let bound = s.local_addr().unwrap();
        pktinfo::enable(&s, bound).unwrap();
        let port = bound.port();
        let u = one_socket(s, bound, false);
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.send_to(b"hello", ("127.0.0.2", port)).unwrap();
        let mut buf = [0u8; 64];
        let d = u.recv_local(0, &mut buf).unwrap();
        assert_eq!(&buf[..d.len], b"hello");
        assert_eq!(d.from, peer.local_addr().unwrap());
        assert_eq!(d.local, SocketAddr::new("127.0.0.2".parse().unwrap(), port));
        u.send_from(0, d.local.ip(), d.from, b"reply").unwrap();
        let (n, src) = peer.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"reply");
        assert_eq!(src, d.local);
    }

    /// The IPv6 path (IPV6_RECVPKTINFO / IPV6_PKTINFO) on a wildcard socket.
    #[test]
    fn ipv6_wildcard_socket_learns_and_uses_the_local_address() {
        let Ok(peer) = UdpSocket::bind("[::1]:0") else {
            return; // no IPv6 on this host
        };
        let s = UdpSocket::bind("[::]:0").unwrap();
        let bound = s.local_addr().unwrap();
        pktinfo::enable(&s, bound).unwrap();
        let u = one_socket(s, bound, false);
        peer.send_to(b"six", ("::1", bound.port())).unwrap();
        let mut buf = [0u8; 16];
        let d = u.recv_local(0, &mut buf).unwrap();
        assert_eq!(
            d.local,
            SocketAddr::new("::1".parse().unwrap(), bound.port())
        );
        u.send_from(0, d.local.ip(), d.from, b"back").unwrap();
        let (n, src) = peer.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], src), (&b"back"[..], d.local));
    }

    /// Without the option enabled a wildcard socket gets no destination: the
    /// datagram is dropped, never reported with an unspecified local address.
    #[test]
    fn wildcard_datagram_without_destination_is_dropped() {
        let s = UdpSocket::bind("0.0.0.0:0").unwrap();
        let bound = s.local_addr().unwrap();
        s.set_nonblocking(true).unwrap();
        // pktinfo::enable deliberately not called.
        let u = one_socket(s, bound, false);
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.send_to(b"lost", ("127.0.0.1", bound.port())).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut buf = [0u8; 16];
        let e = u.recv_local(0, &mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn specific_socket_reports_its_own_address() {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let bound = s.local_addr().unwrap();
        pktinfo::enable(&s, bound).unwrap();
        let u = one_socket(s, bound, true);
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.send_to(b"x", bound).unwrap();
        let mut buf = [0u8; 8];
        let d = u.recv_local(0, &mut buf).unwrap();
        assert_eq!(d.local, bound);
        u.send_from(0, bound.ip(), d.from, b"y").unwrap();
        assert_eq!(peer.recv_from(&mut buf).unwrap().1, bound);
    }
}
