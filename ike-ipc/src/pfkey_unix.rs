//! `--pfkey unix:PATH`: getting a PF_KEY socket from another process.
//!
//! Where the parent cannot (or should not) open `socket(PF_KEY, ...)` itself,
//! a server listens on a `SOCK_SEQPACKET` unix socket at PATH. Protocol:
//!
//! 1. The client (ike-parent) connects.
//! 2. The server sends exactly one hello packet: the 8 bytes [`HELLO_MAGIC`]
//!    followed by one mode byte:
//!    - [`MODE_FD`] (`F`): exactly one descriptor is attached with
//!      `SCM_RIGHTS`; it is a PF_KEY socket (pf-to-fd opened it as root). The
//!      client keeps the descriptor and closes the connection.
//!    - [`MODE_STREAM`] (`S`): no descriptor; the connection itself is the
//!      PF_KEY socket from now on: every packet in either direction is exactly
//!      one PF_KEY message (`sadb_msg` and its extensions), as on a kernel
//!      PF_KEY socket. This is what the PF_KEY simulator offers.
//! 3. Anything else (other bytes, a missing or extra descriptor) is an error.
//!
//! Either way the broker gets one descriptor it reads and writes PF_KEY
//! messages on, and cannot tell (nor needs to) which kind it has.

use crate::channel::{recv_packet, send_packet, ChannelError};
use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};
use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// Opens every hello packet.
pub const HELLO_MAGIC: [u8; 8] = *b"IKEPFKEY";
/// Mode byte: a PF_KEY descriptor is attached.
pub const MODE_FD: u8 = b'F';
/// Mode byte: this connection is the PF_KEY stream.
pub const MODE_STREAM: u8 = b'S';

#[derive(Debug)]
pub enum PfkeyUnixError {
    Connect(String, nix::Error),
    Hello(ChannelError),
    BadHello(String),
}

impl fmt::Display for PfkeyUnixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect(p, e) => write!(f, "cannot connect to PF_KEY server at {p}: {e}"),
            Self::Hello(e) => write!(f, "PF_KEY server hello: {e}"),
            Self::BadHello(why) => write!(f, "PF_KEY server hello: {why}"),
        }
    }
}

impl std::error::Error for PfkeyUnixError {}

/// Client side: connects to `path` and returns the PF_KEY descriptor
/// (a received one for `F`, the connection itself for `S`).
pub fn connect_pfkey(path: &Path) -> Result<OwnedFd, PfkeyUnixError> {
    let shown = path.display().to_string();
    let sock = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| PfkeyUnixError::Connect(shown.clone(), e))?;
    let addr = UnixAddr::new(path).map_err(|e| PfkeyUnixError::Connect(shown.clone(), e))?;
    connect(std::os::fd::AsRawFd::as_raw_fd(&sock), &addr)
        .map_err(|e| PfkeyUnixError::Connect(shown.clone(), e))?;
    read_hello(sock)
}

/// Reads and checks the hello on a connected socket.
pub fn read_hello(sock: OwnedFd) -> Result<OwnedFd, PfkeyUnixError> {
    let mut buf = [0u8; 16];
    let (len, mut fds) = recv_packet(sock.as_fd(), &mut buf).map_err(PfkeyUnixError::Hello)?;
    let hello = buf.get(..len).unwrap_or(&[]);
    let mode = match hello.split_first_chunk::<8>() {
        Some((magic, [mode])) if *magic == HELLO_MAGIC => *mode,
        _ => {
            return Err(PfkeyUnixError::BadHello(format!(
                "unexpected {len}-byte hello"
            )))
        }
    };
    match (mode, fds.len()) {
        (MODE_FD, 1) => Ok(fds.remove(0)),
        (MODE_STREAM, 0) => Ok(sock),
        (MODE_FD | MODE_STREAM, n) => Err(PfkeyUnixError::BadHello(format!(
            "mode {} with {n} descriptors",
            mode as char
        ))),
        _ => Err(PfkeyUnixError::BadHello(format!(
            "unknown mode byte {mode:#04x}"
        ))),
    }
}

/// Server side (pf-to-fd): hand `pfkey` to the client on `conn`.
pub fn send_hello_fd(conn: BorrowedFd<'_>, pfkey: BorrowedFd<'_>) -> Result<(), ChannelError> {
    send_packet(conn, &hello(MODE_FD), &[pfkey])
}

/// Server side (simulator): declare `conn` itself the PF_KEY stream.
pub fn send_hello_stream(conn: BorrowedFd<'_>) -> Result<(), ChannelError> {
    send_packet(conn, &hello(MODE_STREAM), &[])
}

fn hello(mode: u8) -> [u8; 9] {
    let mut h = [0u8; 9];
    h[..8].copy_from_slice(&HELLO_MAGIC);
    h[8] = mode;
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::raw_pair;

    #[test]
    fn fd_mode_hands_over_the_descriptor() {
        let (client, server) = raw_pair().unwrap();
        let (payload_a, payload_b) = raw_pair().unwrap();
        send_hello_fd(server.as_fd(), payload_a.as_fd()).unwrap();
        let got = read_hello(client).unwrap();
        send_packet(got.as_fd(), b"sadb", &[]).unwrap();
        let mut buf = [0u8; 8];
        let (n, _) = recv_packet(payload_b.as_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"sadb");
    }

    #[test]
    fn stream_mode_keeps_the_connection() {
        let (client, server) = raw_pair().unwrap();
        send_hello_stream(server.as_fd()).unwrap();
        let got = read_hello(client).unwrap();
        send_packet(got.as_fd(), b"msg", &[]).unwrap();
        let mut buf = [0u8; 8];
        let (n, _) = recv_packet(server.as_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"msg");
    }

    #[test]
    fn bad_hellos_are_refused() {
        let cases: [(&[u8], bool); 5] = [
            (b"IKEPFKEYF", false), // fd mode without fd
            (b"IKEPFKEYS", true),  // stream mode with fd
            (b"IKEPFKEYX", false), // unknown mode
            (b"NOTPFKEYS", false), // bad magic
            (b"IKEPF", false),     // short
        ];
        for (bytes, with_fd) in cases {
            let (client, server) = raw_pair().unwrap();
            let (extra, _keep) = raw_pair().unwrap();
            let fds: Vec<BorrowedFd<'_>> = if with_fd { vec![extra.as_fd()] } else { vec![] };
            send_packet(server.as_fd(), bytes, &fds).unwrap();
            assert!(
                matches!(read_hello(client), Err(PfkeyUnixError::BadHello(_))),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn connect_over_a_path() {
        use nix::sys::socket::{accept, bind, listen, Backlog};
        let dir = std::env::temp_dir().join(format!("ike-ipc-pfkey-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let l = socket(
            AddressFamily::Unix,
            SockType::SeqPacket,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .unwrap();
        bind(
            std::os::fd::AsRawFd::as_raw_fd(&l),
            &UnixAddr::new(&dir).unwrap(),
        )
        .unwrap();
        listen(&l, Backlog::new(1).unwrap()).unwrap();
        let path = dir.clone();
        let t = std::thread::spawn(move || connect_pfkey(&path));
        let c = accept(std::os::fd::AsRawFd::as_raw_fd(&l)).unwrap();
        // SAFETY: accept returned a fresh descriptor we own.
        let c = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(c) };
        send_hello_stream(c.as_fd()).unwrap();
        assert!(t.join().unwrap().is_ok());
        let _ = std::fs::remove_file(&dir);
    }
}
