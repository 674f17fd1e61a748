//! The UDP sockets the parent bound for us (ports 500 and 4500 by default).
//!
//! IKE needs each datagram's local address (RFC 7296 2.11: responses go out
//! from the address the request came to; NAT detection hashes it, RFC 7296
//! 2.23). A socket bound to a specific address knows it; on a wildcard
//! socket the kernel tells it per datagram (IP_PKTINFO / IPV6_PKTINFO on
//! Linux) and the reply names it as its source the same way.

use ike_ipc::fds;
use ike_ipc::msg::ListenSocket;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};

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

#[cfg(target_os = "linux")]
mod pktinfo {
    use super::Datagram;
    use nix::sys::socket::{
        recvmsg, sendmsg, setsockopt, sockopt, ControlMessage, ControlMessageOwned, MsgFlags,
        SockaddrStorage,
    };
    use std::io::{self, IoSlice, IoSliceMut};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
    use std::os::fd::AsRawFd;

    /// Ask for the destination address of each datagram (wildcard sockets only).
    pub fn enable(s: &UdpSocket, bound: SocketAddr) -> io::Result<()> {
        if !bound.ip().is_unspecified() {
            return Ok(());
        }
        match bound {
            SocketAddr::V4(_) => setsockopt(s, sockopt::Ipv4PacketInfo, &true)?,
            SocketAddr::V6(_) => setsockopt(s, sockopt::Ipv6RecvPacketInfo, &true)?,
        }
        Ok(())
    }

    pub fn recv(s: &UdpSocket, bound: SocketAddr, buf: &mut [u8]) -> io::Result<Datagram> {
        let mut cmsg = nix::cmsg_space!(nix::libc::in6_pktinfo);
        let mut iov = [IoSliceMut::new(buf)];
        let msg = recvmsg::<SockaddrStorage>(
            s.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        )?;
        let from = msg
            .address
            .and_then(|a| to_socket_addr(&a))
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no source address"))?;
        let mut local_ip = bound.ip();
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                match c {
                    ControlMessageOwned::Ipv4PacketInfo(pi) => {
                        local_ip = IpAddr::V4(Ipv4Addr::from(u32::from_be(pi.ipi_addr.s_addr)));
                    }
                    ControlMessageOwned::Ipv6PacketInfo(pi) => {
                        local_ip = IpAddr::V6(Ipv6Addr::from(pi.ipi6_addr.s6_addr));
                    }
                    _ => {}
                }
            }
        }
        Ok(Datagram {
            len: msg.bytes,
            from,
            local: SocketAddr::new(local_ip, bound.port()),
        })
    }

    pub fn send(s: &UdpSocket, local: IpAddr, to: SocketAddr, bytes: &[u8]) -> io::Result<usize> {
        let iov = [IoSlice::new(bytes)];
        let dest = SockaddrStorage::from(to);
        let fd = s.as_raw_fd();
        let n = match local {
            IpAddr::V4(a) => {
                let pi = nix::libc::in_pktinfo {
                    ipi_ifindex: 0,
                    ipi_spec_dst: nix::libc::in_addr {
                        s_addr: u32::from(a).to_be(),
                    },
                    ipi_addr: nix::libc::in_addr { s_addr: 0 },
                };
                let c = [ControlMessage::Ipv4PacketInfo(&pi)];
                sendmsg(fd, &iov, &c, MsgFlags::empty(), Some(&dest))?
            }
            IpAddr::V6(a) => {
                let pi = nix::libc::in6_pktinfo {
                    ipi6_addr: nix::libc::in6_addr {
                        s6_addr: a.octets(),
                    },
                    ipi6_ifindex: 0,
                };
                let c = [ControlMessage::Ipv6PacketInfo(&pi)];
                sendmsg(fd, &iov, &c, MsgFlags::empty(), Some(&dest))?
            }
        };
        Ok(n)
    }

    fn to_socket_addr(a: &SockaddrStorage) -> Option<SocketAddr> {
        if let Some(v4) = a.as_sockaddr_in() {
            return Some(SocketAddr::V4((*v4).into()));
        }
        a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into()))
    }
}

/// Elsewhere: no per-datagram address yet (the BSDs use IP_RECVDSTADDR /
/// IP_SENDSRCADDR for IPv4); sockets bound with --listen report their own.
#[cfg(not(target_os = "linux"))]
mod pktinfo {
    use super::Datagram;
    use std::io;
    use std::net::{IpAddr, SocketAddr, UdpSocket};

    pub fn enable(_s: &UdpSocket, _bound: SocketAddr) -> io::Result<()> {
        Ok(())
    }

    pub fn recv(s: &UdpSocket, bound: SocketAddr, buf: &mut [u8]) -> io::Result<Datagram> {
        let (len, from) = s.recv_from(buf)?;
        Ok(Datagram {
            len,
            from,
            local: bound,
        })
    }

    pub fn send(s: &UdpSocket, _local: IpAddr, to: SocketAddr, bytes: &[u8]) -> io::Result<usize> {
        s.send_to(bytes, to)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// On a wildcard socket: a datagram to 127.0.0.2 reports that local
    /// address, and the reply sent "from" it arrives with it as source.
    #[test]
    fn wildcard_socket_learns_and_uses_the_local_address() {
        let s = UdpSocket::bind("0.0.0.0:0").unwrap();
        let bound = s.local_addr().unwrap();
        pktinfo::enable(&s, bound).unwrap();
        let port = bound.port();
        let u = UdpSockets {
            sockets: vec![(
                s,
                ListenSocket {
                    addr: bound,
                    natt: false,
                },
            )],
        };
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

    #[test]
    fn specific_socket_reports_its_own_address() {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let bound = s.local_addr().unwrap();
        pktinfo::enable(&s, bound).unwrap();
        let u = UdpSockets {
            sockets: vec![(
                s,
                ListenSocket {
                    addr: bound,
                    natt: true,
                },
            )],
        };
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.send_to(b"x", bound).unwrap();
        let mut buf = [0u8; 8];
        let d = u.recv_local(0, &mut buf).unwrap();
        assert_eq!(d.local, bound);
        u.send_from(0, bound.ip(), d.from, b"y").unwrap();
        assert_eq!(peer.recv_from(&mut buf).unwrap().1, bound);
    }
}
