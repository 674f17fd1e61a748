//! A typed, message-preserving channel over a `SOCK_SEQPACKET` unix socket.
//!
//! One envelope (see [`crate::envelope`]) per packet; file descriptors travel
//! beside a message with `SCM_RIGHTS`. The type parameters fix, per channel
//! end, which enum it sends and which it receives, so ike-net cannot even
//! construct a message meant for the parent on its broker channel.

use crate::envelope::{self, EnvelopeError, MAX_MESSAGE};
use nix::cmsg_space;
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use serde::{de::DeserializeOwned, Serialize};
use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The most descriptors accepted beside one message; more is an error
/// (`MSG_CTRUNC`), and the extra ones are closed by the kernel.
pub const MAX_FDS: usize = 8;

/// Why a send or receive failed.
#[derive(Debug)]
pub enum ChannelError {
    /// The socket call failed; `WouldBlock` means "nothing more to read now".
    Io(io::Error),
    /// The peer closed its end (or sent an empty packet, which we never send).
    Closed,
    /// The packet was larger than [`MAX_MESSAGE`] and was cut by the kernel.
    Oversized,
    /// More descriptors arrived than [`MAX_FDS`].
    TooManyFds,
    /// The bytes were not a valid message.
    Decode(EnvelopeError),
}

impl ChannelError {
    /// True for "no message pending" on a non-blocking channel.
    pub fn is_would_block(&self) -> bool {
        matches!(self, Self::Io(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}

impl fmt::Display for ChannelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "{e}"),
            Self::Closed => write!(f, "peer closed the channel"),
            Self::Oversized => write!(f, "oversized message (over {MAX_MESSAGE} bytes)"),
            Self::TooManyFds => write!(f, "too many file descriptors (over {MAX_FDS})"),
            Self::Decode(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ChannelError {}

impl From<nix::Error> for ChannelError {
    fn from(e: nix::Error) -> Self {
        Self::Io(io::Error::from(e))
    }
}

/// A message and the descriptors that came with it.
#[derive(Debug)]
pub struct Received<T> {
    pub msg: T,
    /// Owned, so any descriptor the receiver did not ask for is closed on drop.
    pub fds: Vec<OwnedFd>,
}

/// One end of a channel: sends `Tx`, receives `Rx`.
pub struct Channel<Tx, Rx> {
    fd: OwnedFd,
    buf: Vec<u8>,
    _types: PhantomData<fn(Tx) -> Rx>,
}

impl<Tx, Rx> fmt::Debug for Channel<Tx, Rx> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("fd", &self.fd.as_raw_fd())
            .finish()
    }
}

/// A connected pair of channel ends: `.0` sends `A` and receives `B`.
pub fn pair<A, B>() -> io::Result<(Channel<A, B>, Channel<B, A>)> {
    let (a, b) = raw_pair()?;
    Ok((Channel::from_fd(a), Channel::from_fd(b)))
}

/// A `SOCK_SEQPACKET | SOCK_CLOEXEC` socketpair. Close-on-exec so only the
/// descriptors the parent places deliberately reach a child.
pub fn raw_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(io::Error::from)
}

impl<Tx, Rx> Channel<Tx, Rx> {
    /// Wraps a connected `SOCK_SEQPACKET` socket.
    pub fn from_fd(fd: OwnedFd) -> Self {
        Self {
            fd,
            buf: Vec::new(),
            _types: PhantomData,
        }
    }

    /// Switches between blocking (start-up hand-shakes) and non-blocking (event loop).
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        set_nonblocking(self.fd.as_fd(), on)
    }

    /// Gives the socket back, e.g. to place it at a fixed fd number in a child.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }
}

impl<Tx: Serialize, Rx: DeserializeOwned> Channel<Tx, Rx> {
    /// Sends one message.
    pub fn send(&self, msg: &Tx) -> Result<(), ChannelError> {
        self.send_with_fds(msg, &[])
    }

    /// Sends one message with descriptors attached (`SCM_RIGHTS`).
    pub fn send_with_fds(&self, msg: &Tx, fds: &[BorrowedFd<'_>]) -> Result<(), ChannelError> {
        let bytes = envelope::encode(msg).map_err(ChannelError::Decode)?;
        send_packet(self.fd.as_fd(), &bytes, fds)
    }

    /// Receives one message. On a non-blocking socket an empty queue is
    /// `Io(WouldBlock)`. Every malformed packet is an error value.
    pub fn recv(&mut self) -> Result<Received<Rx>, ChannelError> {
        if self.buf.len() < MAX_MESSAGE {
            self.buf.resize(MAX_MESSAGE, 0);
        }
        let (len, fds) = recv_packet(self.fd.as_fd(), &mut self.buf)?;
        let bytes = self.buf.get(..len).ok_or(ChannelError::Oversized)?;
        let msg = envelope::decode(bytes).map_err(ChannelError::Decode)?;
        Ok(Received { msg, fds })
    }
}

impl<Tx, Rx> AsFd for Channel<Tx, Rx> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl<Tx, Rx> AsRawFd for Channel<Tx, Rx> {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Sends one packet of raw bytes with optional descriptors. Also used by the
/// tests that feed malformed packets to a receiver.
pub fn send_packet(
    sock: BorrowedFd<'_>,
    bytes: &[u8],
    fds: &[BorrowedFd<'_>],
) -> Result<(), ChannelError> {
    let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let cmsg = [ControlMessage::ScmRights(&raw)];
    let cmsgs: &[ControlMessage<'_>] = if raw.is_empty() { &[] } else { &cmsg };
    let iov = [IoSlice::new(bytes)];
    // MSG_NOSIGNAL: a dead peer is an error value here, not a SIGPIPE.
    let sent = sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None)?;
    if sent != bytes.len() {
        // SEQPACKET sends all or nothing; anything else is a kernel surprise.
        return Err(ChannelError::Io(io::Error::new(
            io::ErrorKind::WriteZero,
            "short send on a SOCK_SEQPACKET socket",
        )));
    }
    Ok(())
}

/// Receives one packet into `buf`. Returns its length and the descriptors
/// that came with it (close-on-exec). A packet longer than `buf` is
/// `Oversized`; a zero-length read is `Closed`.
pub fn recv_packet(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
) -> Result<(usize, Vec<OwnedFd>), ChannelError> {
    let mut cmsg_buf = cmsg_space!([RawFd; MAX_FDS]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg_buf),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    // Take ownership of every received descriptor first, so that they are
    // closed on every error path below.
    let mut fds = Vec::new();
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::ScmRights(list) = c {
                for fd in list {
                    // SAFETY: the kernel just installed `fd` in our table for
                    // us; nothing else owns it.
                    fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
                }
            }
        }
    }
    if msg.flags.contains(MsgFlags::MSG_TRUNC) {
        return Err(ChannelError::Oversized);
    }
    if msg.flags.contains(MsgFlags::MSG_CTRUNC) {
        return Err(ChannelError::TooManyFds);
    }
    if msg.bytes == 0 {
        return Err(ChannelError::Closed);
    }
    Ok((msg.bytes, fds))
}

/// Sets or clears `O_NONBLOCK`.
pub fn set_nonblocking(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = OFlag::from_bits_retain(fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL)?);
    let flags = if on {
        flags | OFlag::O_NONBLOCK
    } else {
        flags & !OFlag::O_NONBLOCK
    };
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::Read;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    enum Ping {
        Hello(String),
        Blob(Vec<u8>),
    }

    #[test]
    fn message_and_fd_round_trip() {
        let (a, mut b) = pair::<Ping, Ping>().unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        a.send_with_fds(&Ping::Hello("hi".into()), &[r.as_fd()])
            .unwrap();
        drop(r);
        nix::unistd::write(&w, b"through the fd").unwrap();
        drop(w);
        let got = b.recv().unwrap();
        assert_eq!(got.msg, Ping::Hello("hi".into()));
        assert_eq!(got.fds.len(), 1);
        let mut s = String::new();
        File::from(got.fds.into_iter().next().unwrap())
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "through the fd");
    }

    #[test]
    fn boundaries_are_kept() {
        let (a, mut b) = pair::<Ping, Ping>().unwrap();
        a.send(&Ping::Blob(vec![1; 10])).unwrap();
        a.send(&Ping::Blob(vec![2; 20])).unwrap();
        assert_eq!(b.recv().unwrap().msg, Ping::Blob(vec![1; 10]));
        assert_eq!(b.recv().unwrap().msg, Ping::Blob(vec![2; 20]));
    }

    #[test]
    fn malformed_packets_are_errors() {
        let (a, mut b) = pair::<Ping, Ping>().unwrap();
        let s = a.as_fd();
        send_packet(s, b"garbage!", &[]).unwrap();
        send_packet(s, b"ik", &[]).unwrap();
        send_packet(s, &vec![0u8; MAX_MESSAGE + 100], &[]).unwrap();
        send_packet(s, b"ik\x00\x07\x00\x00", &[]).unwrap();
        assert!(matches!(
            b.recv(),
            Err(ChannelError::Decode(EnvelopeError::BadMagic))
        ));
        assert!(matches!(
            b.recv(),
            Err(ChannelError::Decode(EnvelopeError::Truncated { len: 2 }))
        ));
        assert!(matches!(b.recv(), Err(ChannelError::Oversized)));
        assert!(matches!(
            b.recv(),
            Err(ChannelError::Decode(EnvelopeError::VersionMismatch { .. }))
        ));
        // The channel still works after errors (the caller decides to fail closed).
        a.send(&Ping::Hello("after".into())).unwrap();
        assert_eq!(b.recv().unwrap().msg, Ping::Hello("after".into()));
    }

    #[test]
    fn too_many_fds_is_an_error_and_closes_them() {
        let (a, mut b) = pair::<Ping, Ping>().unwrap();
        let (r, _w) = nix::unistd::pipe().unwrap();
        let many: Vec<BorrowedFd<'_>> = (0..MAX_FDS + 4).map(|_| r.as_fd()).collect();
        a.send_with_fds(&Ping::Hello("x".into()), &many).unwrap();
        assert!(matches!(b.recv(), Err(ChannelError::TooManyFds)));
    }

    #[test]
    fn closed_and_would_block() {
        let (a, mut b) = pair::<Ping, Ping>().unwrap();
        b.set_nonblocking(true).unwrap();
        assert!(b.recv().unwrap_err().is_would_block());
        drop(a);
        assert!(matches!(b.recv(), Err(ChannelError::Closed)));
    }
}
