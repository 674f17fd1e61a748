//! The UDP sockets the parent bound for us (ports 500 and 4500 by default).

use ike_ipc::fds;
use ike_ipc::msg::ListenSocket;
use std::io;
use std::net::{SocketAddr, UdpSocket};

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
            sockets.push((s, l.clone()));
        }
        Ok(Self { sockets })
    }

    pub fn recv(&self, idx: usize, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        match self.sockets.get(idx) {
            Some((s, _)) => s.recv_from(buf),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "no such socket")),
        }
    }

    pub fn send(&self, idx: usize, to: SocketAddr, bytes: &[u8]) -> io::Result<usize> {
        match self.sockets.get(idx) {
            Some((s, _)) => s.send_to(bytes, to),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "no such socket")),
        }
    }
}
