//! The control socket: ike-ctl connects, we check who it is, then answer
//! typed requests (ike_ipc::msg::control). The listener was bound by the
//! parent (mode 0600, root-owned); the credential check here is the second,
//! independent gate (DESIGN.md "IPC": SO_PEERCRED / getpeereid).
//!
//! Flow control (docs/ipc.md): answers are queued per client and
//! written when its socket is writable. A long text answer is cut into
//! `Part`s of at most [`PART_BYTES`], fed to the queue only while it is
//! below its high-water mark, so `show sa` of 100,000 SAs holds one
//! rendered text and a few packets, never a message over 64 KiB. While a
//! client's answer is still going out, its next requests wait unread.
//! A `monitor` client that does not read loses events past
//! [`MONITOR_QUEUE_LIMIT`] (counted, and reported to it when it catches up)
//! rather than growing the daemon without bound.

use ike_ipc::channel::Channel;
use ike_ipc::mio::{unix::SourceFd, Interest, Registry, Token};
use ike_ipc::msg::{CtlRequest, CtlResponse};
use nix::sys::socket::{accept4, SockFlag};
use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Tokens at and above this are control clients.
pub const CLIENT_TOKEN_BASE: usize = 1 << 20;
/// At most this many ike-ctl connections at once; more are refused.
pub const MAX_CLIENTS: usize = 16;
/// The largest part of a long answer (leaves room for the envelope).
pub const PART_BYTES: usize = 60 * 1024;
/// Bytes a monitor client may leave unread before events are skipped.
pub const MONITOR_QUEUE_LIMIT: usize = 1024 * 1024;

pub type ClientChannel = Channel<CtlResponse, CtlRequest>;

pub struct ControlServer {
    listener: OwnedFd,
    allowed_uid: u32,
    clients: HashMap<Token, Client>,
    next: usize,
}

struct Client {
    ch: ClientChannel,
    monitor: bool,
    /// Wrong uid: its first request gets "permission denied", then it is
    /// dropped. Answering the request (rather than closing at accept) lets
    /// the client read the reason instead of a connection reset.
    denied: bool,
    /// A long answer still being cut into parts, and where.
    stream: Option<(String, usize)>,
    /// Requests left unread while an answer goes out.
    backlog: bool,
    /// Monitor events skipped since the client last had room.
    lost_events: u64,
}

impl Client {
    fn busy(&self) -> bool {
        self.stream.is_some() || self.ch.is_congested()
    }

    /// Queues the next parts of a long answer while there is room.
    fn pump(&mut self) -> Result<(), ike_ipc::channel::ChannelError> {
        while !self.ch.is_congested() {
            let Some((text, at)) = self.stream.as_mut() else {
                return Ok(());
            };
            let rest = text.get(*at..).unwrap_or("");
            if rest.len() <= PART_BYTES {
                let last = CtlResponse::Text(rest.to_string());
                self.stream = None;
                return self.ch.queue_only(&last);
            }
            // Cut on a character boundary at or below PART_BYTES.
            let mut cut = PART_BYTES;
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            let part = CtlResponse::Part(rest[..cut].to_string());
            *at += cut;
            self.ch.queue_only(&part)?;
        }
        Ok(())
    }
}

/// What a readable client produced.
pub enum ClientEvent {
    Request(Token, CtlRequest),
    /// The client sent something undecodable or went away; it was dropped.
    Gone {
        bad: bool,
    },
}

impl ControlServer {
    pub fn new(listener: OwnedFd, allowed_uid: u32) -> Self {
        Self {
            listener,
            allowed_uid,
            clients: HashMap::new(),
            next: 0,
        }
    }

    /// Accepts every pending connection. Returns how many were refused
    /// (wrong uid, too many clients).
    pub fn accept_all(&mut self, registry: &Registry) -> Result<u64, String> {
        let mut refused = 0;
        loop {
            let raw = match accept4(
                self.listener.as_raw_fd(),
                SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            ) {
                Ok(fd) => fd,
                Err(nix::errno::Errno::EAGAIN) => return Ok(refused),
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::ECONNABORTED) => continue,
                Err(e) => return Err(format!("control socket accept: {e}")),
            };
            // SAFETY: accept4 returned a fresh descriptor nobody else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            let ch = ClientChannel::from_fd(fd);
            let uid = match peer_uid(&ch) {
                Ok(uid) => uid,
                Err(e) => {
                    log::warn!("control client: cannot read its credentials: {e}");
                    refused += 1;
                    continue;
                }
            };
            let denied = uid != self.allowed_uid;
            if denied {
                log::warn!("control client with uid {uid} refused");
                refused += 1;
            }
            if self.clients.len() >= MAX_CLIENTS {
                log::warn!("too many control clients; one refused");
                if !denied {
                    refused += 1;
                }
                continue;
            }
            let token = Token(CLIENT_TOKEN_BASE + self.next);
            self.next = self.next.wrapping_add(1) % (usize::MAX - CLIENT_TOKEN_BASE);
            registry
                .register(
                    &mut SourceFd(&ch.as_raw_fd()),
                    token,
                    Interest::READABLE | Interest::WRITABLE,
                )
                .map_err(|e| format!("control client register: {e}"))?;
            let mut ch = ch;
            ch.set_name("control client");
            self.clients.insert(
                token,
                Client {
                    ch,
                    monitor: false,
                    denied,
                    stream: None,
                    backlog: false,
                    lost_events: 0,
                },
            );
        }
    }

    /// Reads the next request of one client (see `flush` for the rest).
    pub fn readable(&mut self, registry: &Registry, token: Token) -> Vec<ClientEvent> {
        let mut out = Vec::new();
        let Some(client) = self.clients.get_mut(&token) else {
            return out;
        };
        if !client.denied && client.busy() {
            // Back-pressure: read its next request once this answer is out.
            client.backlog = true;
            return out;
        }
        client.backlog = false;
        if client.denied {
            // Whatever it sent, the answer is the same; nothing is decoded.
            let _ = client.ch.recv();
            let _ = client
                .ch
                .send(&CtlResponse::Error("permission denied".into()));
            out.push(ClientEvent::Gone { bad: false });
            self.drop_client(registry, token);
            return out;
        }
        // One request at a time: its answer is queued before the next is
        // read, so a client that floods requests and never reads is paused
        // by its own full queue. `flush` hands it back for the next one.
        match client.ch.recv() {
            Ok(got) if got.fds.is_empty() => {
                out.push(ClientEvent::Request(token, got.msg));
                client.backlog = true;
            }
            Ok(_) => {
                log::warn!("control client sent descriptors; dropped");
                out.push(ClientEvent::Gone { bad: true });
                self.drop_client(registry, token);
            }
            Err(e) if e.is_would_block() => {}
            Err(ike_ipc::channel::ChannelError::Closed) => {
                out.push(ClientEvent::Gone { bad: false });
                self.drop_client(registry, token);
            }
            Err(e) => {
                // A bad client is not a reason to stop the daemon:
                // tell it, drop it, count it.
                log::warn!("control client: {e}; dropped");
                let _ = client
                    .ch
                    .send(&CtlResponse::Error(format!("bad request: {e}")));
                out.push(ClientEvent::Gone { bad: true });
                self.drop_client(registry, token);
            }
        }
        out
    }

    /// Queues an answer; it goes out with [`Self::flush`].
    pub fn respond(&mut self, registry: &Registry, token: Token, resp: &CtlResponse) {
        if let Some(c) = self.clients.get_mut(&token) {
            if let Err(e) = c.ch.queue_only(resp) {
                log::debug!("control client: {e}; dropped");
                self.drop_client(registry, token);
            }
        }
    }

    /// Queues a text answer of any length: in parts if it is long.
    pub fn respond_text(&mut self, registry: &Registry, token: Token, text: String) {
        let Some(c) = self.clients.get_mut(&token) else {
            return;
        };
        c.stream = Some((text, 0));
        if let Err(e) = c.pump() {
            log::debug!("control client: {e}; dropped");
            self.drop_client(registry, token);
        }
    }

    /// Writes what every client's socket takes and feeds long answers.
    /// Returns the clients whose unread requests can now be read.
    pub fn flush(&mut self, registry: &Registry) -> Vec<Token> {
        let mut dead = Vec::new();
        let mut resume = Vec::new();
        for (t, c) in self.clients.iter_mut() {
            let r = c.pump().and_then(|()| c.ch.flush()).and_then(|_| c.pump());
            if let Err(e) = r {
                log::debug!("control client: {e}; dropped");
                dead.push(*t);
            } else if c.backlog && !c.busy() {
                resume.push(*t);
            }
        }
        for t in dead {
            self.drop_client(registry, t);
        }
        resume
    }

    /// Marks a client as a `monitor` stream.
    pub fn set_monitor(&mut self, token: Token) {
        if let Some(c) = self.clients.get_mut(&token) {
            c.monitor = true;
        }
    }

    /// Sends an event line to every monitoring client.
    pub fn broadcast(&mut self, registry: &Registry, line: &str) {
        let monitors: Vec<Token> = self
            .clients
            .iter()
            .filter(|(_, c)| c.monitor)
            .map(|(t, _)| *t)
            .collect();
        for t in monitors {
            let Some(c) = self.clients.get_mut(&t) else {
                continue;
            };
            if c.ch.queued_bytes() >= MONITOR_QUEUE_LIMIT {
                c.lost_events += 1;
                continue;
            }
            if c.lost_events > 0 {
                let note = format!("({} events lost: monitor too slow)", c.lost_events);
                log::warn!("control client: {note}");
                c.lost_events = 0;
                self.respond(registry, t, &CtlResponse::Event(note));
            }
            self.respond(registry, t, &CtlResponse::Event(line.to_string()));
        }
    }

    fn drop_client(&mut self, registry: &Registry, token: Token) {
        if let Some(c) = self.clients.remove(&token) {
            let _ = registry.deregister(&mut SourceFd(&c.ch.as_raw_fd()));
        }
    }
}

/// The uid of the process at the other end of a unix socket, as the kernel
/// recorded it at connect time (it cannot be forged by the client).
#[cfg(target_os = "linux")]
fn peer_uid(ch: &ClientChannel) -> nix::Result<u32> {
    use nix::sys::socket::{getsockopt, sockopt};
    getsockopt(ch, sockopt::PeerCredentials).map(|c| c.uid())
}

/// The BSDs: getpeereid(2).
#[cfg(not(target_os = "linux"))]
fn peer_uid(ch: &ClientChannel) -> nix::Result<u32> {
    nix::unistd::getpeereid(ch).map(|(uid, _gid)| uid.as_raw())
}
