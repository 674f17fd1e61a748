//! A typed, message-preserving channel over a `SOCK_SEQPACKET` unix socket.
//!
//! One envelope (see [`crate::envelope`]) per packet; file descriptors travel
//! beside a message with `SCM_RIGHTS`. The type parameters fix, per channel
//! end, which enum it sends and which it receives, so ike-net cannot even
//! construct a message meant for the parent on its broker channel.
//!
//! Flow control (docs/ipc.md): on a non-blocking channel a sender
//! [`queue`](Channel::queue)s and [`flush`](Channel::flush)es; nothing is
//! ever dropped on `EAGAIN`. What the socket does not take waits in the
//! channel's outgoing queue until the event loop sees the socket writable
//! ([`Channel::wants_write`]). The queue has a high-water mark: above it the
//! channel is [`congested`](Channel::is_congested) and the producer stops
//! taking new input (ike-net stops reading datagrams, the broker stops
//! reading requests) until the queue drains. Crossing the mark is counted
//! and logged at most once per [`CONGESTION_LOG_INTERVAL`], never fatal.
//! A flush sends several small queued messages in one packet (a batch).

use crate::envelope::{self, EnvelopeError, Kind, Reassembly, MAX_MESSAGE, MAX_PAYLOAD};
use nix::cmsg_space;
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use serde::{de::DeserializeOwned, Serialize};
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

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

/// Default high-water mark of a channel's outgoing queue, in bytes. About
/// the size of the socket's own send buffer (Linux: 208 KiB by default), so
/// a producer that stops here keeps at most twice that in flight.
pub const DEFAULT_HIGH_WATER: usize = 256 * 1024;

/// How often a congested channel is logged at most.
pub const CONGESTION_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// What a channel's outgoing side has seen, for `show stats` and the logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutStats {
    /// Messages queued.
    pub messages: u64,
    /// Packets written (a batch is one packet for many messages).
    pub packets: u64,
    /// Times the queue crossed its high-water mark.
    pub congested: u64,
    /// The most bytes ever waiting in the queue.
    pub peak_bytes: usize,
}

/// A queued message: its payload (may go out in a batch), or the
/// fragments of one too large for a packet (each a finished packet).
enum Queued {
    Whole(Vec<u8>),
    Packet(Vec<u8>),
}

impl Queued {
    fn len(&self) -> usize {
        match self {
            Queued::Whole(b) | Queued::Packet(b) => b.len(),
        }
    }
}

/// The outgoing queue of one channel end.
struct Outbox {
    q: VecDeque<Queued>,
    bytes: usize,
    high: usize,
    stats: OutStats,
    /// Built packet, reused between flushes.
    scratch: Vec<u8>,
    last_log: Option<Instant>,
    /// Congestion events since the last log line.
    unlogged: u64,
    name: &'static str,
}

impl Outbox {
    fn new() -> Self {
        Self {
            q: VecDeque::new(),
            bytes: 0,
            high: DEFAULT_HIGH_WATER,
            stats: OutStats::default(),
            scratch: Vec::new(),
            last_log: None,
            unlogged: 0,
            name: "IPC channel",
        }
    }

    fn push(&mut self, item: Queued) {
        let was_congested = self.bytes >= self.high;
        self.bytes += item.len();
        self.q.push_back(item);
        self.stats.peak_bytes = self.stats.peak_bytes.max(self.bytes);
        if !was_congested && self.bytes >= self.high {
            self.stats.congested += 1;
            self.unlogged += 1;
            let now = Instant::now();
            if self
                .last_log
                .is_none_or(|t| now.duration_since(t) >= CONGESTION_LOG_INTERVAL)
            {
                log::warn!(
                    "{}: outgoing queue full ({} bytes, {} times since the last report, {} in all); \
                     pausing its producer until the peer reads",
                    self.name,
                    self.bytes,
                    self.unlogged,
                    self.stats.congested
                );
                self.last_log = Some(now);
                self.unlogged = 0;
            }
        }
    }

    /// Builds the next packet from the front of the queue into `scratch`;
    /// returns how many entries it covers.
    fn build(&mut self) -> usize {
        self.scratch.clear();
        let Some(first) = self.q.front() else {
            return 0;
        };
        let first = match first {
            Queued::Packet(p) => {
                self.scratch.extend_from_slice(p);
                return 1;
            }
            Queued::Whole(b) => b,
        };
        // How many whole messages fit in one packet after the first.
        let mut total = first.len();
        let mut n = 1;
        for item in self.q.iter().skip(1) {
            match item {
                Queued::Whole(b) if total + b.len() <= MAX_PAYLOAD && n < envelope::MAX_BATCH => {
                    total += b.len();
                    n += 1;
                }
                _ => break,
            }
        }
        envelope::push_header(
            &mut self.scratch,
            if n == 1 { Kind::One } else { Kind::Batch },
        );
        for item in self.q.iter().take(n) {
            if let Queued::Whole(b) = item {
                self.scratch.extend_from_slice(b);
            }
        }
        n
    }

    fn pop(&mut self, n: usize) {
        for _ in 0..n {
            if let Some(mut item) = self.q.pop_front() {
                self.bytes -= item.len();
                // Kernel requests carry SA keys: wipe what was sent.
                match &mut item {
                    Queued::Whole(b) | Queued::Packet(b) => zeroize::Zeroize::zeroize(b),
                }
            }
        }
        zeroize::Zeroize::zeroize(&mut self.scratch);
    }
}

/// One end of a channel: sends `Tx`, receives `Rx`.
pub struct Channel<Tx, Rx> {
    fd: OwnedFd,
    buf: Vec<u8>,
    /// Values of a received batch not yet handed out.
    inbox: VecDeque<Rx>,
    /// A fragmented message being received.
    partial: Reassembly,
    out: Outbox,
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
            inbox: VecDeque::new(),
            partial: Reassembly::new(MAX_MESSAGE),
            out: Outbox::new(),
            _types: PhantomData,
        }
    }

    /// Names the channel in its log lines ("broker channel").
    pub fn set_name(&mut self, name: &'static str) {
        self.out.name = name;
    }

    /// The largest message this end reassembles from fragments (default
    /// one packet, [`MAX_MESSAGE`]: no fragments). Raised only on the
    /// channels that carry the configuration, from the more trusted side.
    pub fn set_max_message(&mut self, cap: usize) {
        self.partial.set_cap(cap);
    }

    /// Sets the outgoing queue's high-water mark in bytes.
    pub fn set_high_water(&mut self, bytes: usize) {
        self.out.high = bytes.max(1);
    }

    /// True when the outgoing queue is at or above its high-water mark:
    /// the producer should stop taking new input until [`Self::flush`]
    /// brings it down.
    pub fn is_congested(&self) -> bool {
        self.out.bytes >= self.out.high
    }

    /// True while queued messages wait for the socket to become writable.
    pub fn wants_write(&self) -> bool {
        !self.out.q.is_empty()
    }

    /// Bytes waiting in the outgoing queue.
    pub fn queued_bytes(&self) -> usize {
        self.out.bytes
    }

    pub fn out_stats(&self) -> OutStats {
        self.out.stats
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
    /// Sends one message now, bypassing the queue: for blocking channels
    /// (start-up hand-shakes, ike-ctl) and last words (`Fatal`). A message
    /// larger than one packet goes out in fragments, which on a
    /// non-blocking socket could stop half-way: there, use [`Self::queue`].
    pub fn send(&self, msg: &Tx) -> Result<(), ChannelError> {
        let body = envelope::payload(msg).map_err(ChannelError::Decode)?;
        let mut pkts = envelope::packets(&body);
        let mut r = Ok(());
        for p in &pkts {
            r = send_packet(self.fd.as_fd(), p, &[]);
            if r.is_err() {
                break;
            }
        }
        for p in &mut pkts {
            zeroize::Zeroize::zeroize(p);
        }
        r
    }

    /// Sends one message with descriptors attached (`SCM_RIGHTS`), now.
    /// One packet only: descriptors never travel beside fragments.
    pub fn send_with_fds(&self, msg: &Tx, fds: &[BorrowedFd<'_>]) -> Result<(), ChannelError> {
        let bytes = envelope::encode(msg).map_err(ChannelError::Decode)?;
        send_packet(self.fd.as_fd(), &bytes, fds)
    }

    /// Queues one message and writes what the socket takes. Never drops:
    /// what is not written stays queued for [`Self::flush`]. An error is
    /// a broken channel (peer gone), never a full one.
    ///
    /// If older messages are still waiting, the socket was full at the
    /// last try: this one joins them and goes out on the next
    /// [`Self::flush`] (when the socket is writable), without a futile
    /// write per message.
    pub fn queue(&mut self, msg: &Tx) -> Result<(), ChannelError> {
        let idle = self.out.q.is_empty();
        self.queue_only(msg)?;
        if idle {
            self.flush()?;
        }
        Ok(())
    }

    /// Queues one message without writing anything yet: the caller
    /// flushes once per wakeup, which lets the flush batch.
    pub fn queue_only(&mut self, msg: &Tx) -> Result<(), ChannelError> {
        let body = envelope::payload(msg).map_err(ChannelError::Decode)?;
        self.out.stats.messages += 1;
        if body.len() <= MAX_PAYLOAD {
            self.out.push(Queued::Whole(body));
        } else {
            let mut body = body;
            for p in envelope::packets(&body) {
                self.out.push(Queued::Packet(p));
            }
            zeroize::Zeroize::zeroize(&mut body);
        }
        Ok(())
    }

    /// Writes queued messages until the queue is empty (true) or the
    /// socket is full (false: wait for it to be writable). On a blocking
    /// socket this returns only when everything is written.
    pub fn flush(&mut self) -> Result<bool, ChannelError> {
        loop {
            let n = self.out.build();
            if n == 0 {
                return Ok(true);
            }
            match send_packet(self.fd.as_fd(), &self.out.scratch, &[]) {
                Ok(()) => {
                    self.out.stats.packets += 1;
                    self.out.pop(n);
                }
                Err(e) if e.is_would_block() => return Ok(false),
                Err(ChannelError::Io(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Receives one message. On a non-blocking socket an empty queue is
    /// `Io(WouldBlock)`. Every malformed packet is an error value.
    pub fn recv(&mut self) -> Result<Received<Rx>, ChannelError> {
        if let Some(msg) = self.inbox.pop_front() {
            return Ok(Received {
                msg,
                fds: Vec::new(),
            });
        }
        if self.buf.len() < MAX_MESSAGE {
            self.buf.resize(MAX_MESSAGE, 0);
        }
        loop {
            let (len, fds) = recv_packet(self.fd.as_fd(), &mut self.buf)?;
            let bytes = self.buf.get(..len).ok_or(ChannelError::Oversized)?;
            let (kind, body) = envelope::split(bytes).map_err(ChannelError::Decode)?;
            if self.partial.in_progress() && matches!(kind, Kind::One | Kind::Batch) {
                return Err(ChannelError::Decode(EnvelopeError::BadSequence(
                    "a message inside a fragmented one",
                )));
            }
            if kind != Kind::One && !fds.is_empty() {
                return Err(ChannelError::Decode(EnvelopeError::BadSequence(
                    "descriptors beside a batch or fragment",
                )));
            }
            match kind {
                Kind::One => {
                    let msg = envelope::decode_one(body).map_err(ChannelError::Decode)?;
                    return Ok(Received { msg, fds });
                }
                Kind::Batch => {
                    let values = envelope::decode_batch(body).map_err(ChannelError::Decode)?;
                    self.inbox.extend(values);
                    if let Some(msg) = self.inbox.pop_front() {
                        return Ok(Received { msg, fds });
                    }
                }
                Kind::More | Kind::Last => {
                    let got = self
                        .partial
                        .push(kind, body)
                        .map_err(ChannelError::Decode)?;
                    if let Some(msg) = got {
                        return Ok(Received { msg, fds });
                    }
                    // Keep reading: the next fragment is usually there.
                }
            }
        }
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
    let msg = match recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg_buf),
        MsgFlags::MSG_CMSG_CLOEXEC,
    ) {
        // A peer that exits with our packets still unread in its queue
        // makes the kernel report ECONNRESET instead of end-of-file: it is
        // gone all the same. (Seen in tests/soak: ike-net stopping with
        // 10,000 SAs left the broker's last replies unread, and ike-pfkey
        // took the reset for a failure and exited 1 during shutdown.)
        Err(nix::errno::Errno::ECONNRESET) => return Err(ChannelError::Closed),
        other => other?,
    };
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

    #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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
        send_packet(s, b"ik\x00\x07\x00\x00\x00", &[]).unwrap();
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

    /// The issue-12 failure: a non-blocking sender far ahead of its reader.
    /// Nothing is dropped, nothing fails, order is kept, the queue reports
    /// congestion, and small messages travel in batches.
    #[test]
    fn a_flood_is_queued_in_order_and_never_dropped() {
        let (mut a, mut b) = pair::<Ping, Ping>().unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        const N: usize = 100_000;
        let mut congested_seen = false;
        for i in 0..N {
            a.queue(&Ping::Hello(format!("m{i}"))).unwrap();
            congested_seen |= a.is_congested();
        }
        assert!(congested_seen, "the reader never read: the queue must fill");
        assert!(a.wants_write());
        assert!(a.out_stats().congested >= 1);
        let mut got = 0;
        loop {
            loop {
                match b.recv() {
                    Ok(r) => {
                        assert_eq!(r.msg, Ping::Hello(format!("m{got}")));
                        got += 1;
                    }
                    Err(e) if e.is_would_block() => break,
                    Err(e) => panic!("{e}"),
                }
            }
            if a.flush().unwrap() && got == N {
                break;
            }
            assert!(got <= N);
        }
        assert_eq!(got, N);
        assert!(!a.wants_write() && !a.is_congested());
        let st = a.out_stats();
        assert_eq!(st.messages, N as u64);
        assert!(st.packets * 20 < st.messages, "batched: {st:?}");
        // ... and never more than a receiver accepts in one batch (b
        // would have failed above).
        assert!(
            st.messages <= st.packets * envelope::MAX_BATCH as u64,
            "{st:?}"
        );
    }

    #[test]
    fn large_messages_go_in_fragments_within_the_receivers_bound() {
        let (mut a, mut b) = pair::<Ping, Ping>().unwrap();
        let big = Ping::Blob((0..1_000_000u32).map(|i| (i * 7) as u8).collect());
        // Blocking: the writer thread stops whenever the socket is full.
        b.set_max_message(2 * 1024 * 1024);
        let sent = big.clone();
        let t = std::thread::spawn(move || {
            a.queue(&sent).unwrap();
            a.queue(&Ping::Hello("after".into())).unwrap();
            a
        });
        assert_eq!(b.recv().unwrap().msg, big);
        assert_eq!(b.recv().unwrap().msg, Ping::Hello("after".into()));
        let a = t.join().unwrap();
        // The default bound (one packet) refuses the same message.
        let (_, mut c) = (a, {
            let (x, y) = pair::<Ping, Ping>().unwrap();
            let big2 = big.clone();
            std::thread::spawn(move || {
                let _ = x.send(&big2);
            });
            y
        });
        assert!(matches!(
            c.recv(),
            Err(ChannelError::Decode(EnvelopeError::TooLarge { .. }))
        ));
    }

    #[test]
    fn a_whole_message_inside_fragments_is_an_error() {
        let (a, mut b) = pair::<Ping, Ping>().unwrap();
        b.set_max_message(1 << 20);
        let body = envelope::payload(&Ping::Blob(vec![1; 100_000])).unwrap();
        let pkts = envelope::packets(&body);
        send_packet(a.as_fd(), &pkts[0], &[]).unwrap();
        a.send(&Ping::Hello("x".into())).unwrap();
        assert!(matches!(
            b.recv(),
            Err(ChannelError::Decode(EnvelopeError::BadSequence(_)))
        ));
    }

    #[test]
    fn closed_and_would_block() {
        let (a, mut b) = pair::<Ping, Ping>().unwrap();
        b.set_nonblocking(true).unwrap();
        assert!(b.recv().unwrap_err().is_would_block());
        drop(a);
        assert!(matches!(b.recv(), Err(ChannelError::Closed)));
    }

    /// The peer closed with our packet unread in its queue: ECONNRESET on
    /// our side, which is a close too.
    #[test]
    fn a_peer_gone_with_unread_packets_is_closed() {
        let (mut a, b) = pair::<Ping, Ping>().unwrap();
        a.send(&Ping::Blob(vec![1; 10])).unwrap();
        drop(b);
        assert!(matches!(a.recv(), Err(ChannelError::Closed)));
    }
}
