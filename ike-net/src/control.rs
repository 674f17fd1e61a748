//! The control socket: ike-ctl connects, we check who it is, then answer
//! typed requests (ike_ipc::msg::control). The listener was bound by the
//! parent (mode 0600, root-owned); the credential check here is the second,
//! independent gate (DESIGN.md "IPC": SO_PEERCRED / getpeereid).

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
                .register(&mut SourceFd(&ch.as_raw_fd()), token, Interest::READABLE)
                .map_err(|e| format!("control client register: {e}"))?;
            self.clients.insert(
                token,
                Client {
                    ch,
                    monitor: false,
                    denied,
                },
            );
        }
    }

    /// Reads every pending request of one client.
    pub fn readable(&mut self, registry: &Registry, token: Token) -> Vec<ClientEvent> {
        let mut out = Vec::new();
        let Some(client) = self.clients.get_mut(&token) else {
            return out;
        };
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
        loop {
            match client.ch.recv() {
                Ok(got) if got.fds.is_empty() => out.push(ClientEvent::Request(token, got.msg)),
                Ok(_) => {
                    log::warn!("control client sent descriptors; dropped");
                    out.push(ClientEvent::Gone { bad: true });
                    self.drop_client(registry, token);
                    return out;
                }
                Err(e) if e.is_would_block() => return out,
                Err(ike_ipc::channel::ChannelError::Closed) => {
                    out.push(ClientEvent::Gone { bad: false });
                    self.drop_client(registry, token);
                    return out;
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
                    return out;
                }
            }
        }
    }

    pub fn respond(&mut self, registry: &Registry, token: Token, resp: &CtlResponse) {
        if let Some(c) = self.clients.get(&token) {
            if let Err(e) = c.ch.send(resp) {
                log::debug!("control client: {e}; dropped");
                self.drop_client(registry, token);
            }
        }
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
