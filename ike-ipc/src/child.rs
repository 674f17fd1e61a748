//! The start-up sequence both children share (ike-net and ike-pfkey):
//! log to the parent's pipe, adopt the descriptors at their fixed numbers,
//! read the first message, drop privileges, enter the sandbox, report ready.
//! Each child then runs its own `mio::Poll` loop.

use crate::channel::{Channel, ChannelError};
use crate::msg::PrivDrop;
use crate::sandbox::{self, FdUse, Role};
use crate::signals::{Signals, SIGINT, SIGTERM};
use mio::{Interest, Registry, Token};
use serde::{de::DeserializeOwned, Serialize};
use std::os::fd::{AsFd, BorrowedFd, RawFd};

/// Adopts the channel at fixed descriptor `fd` (see [`crate::fds`]).
/// Refuses anything but a `SOCK_SEQPACKET` socket there, so a child started
/// by hand (with whatever its caller left at that number) stops at once.
pub fn take_channel<Tx, Rx>(fd: RawFd) -> Result<Channel<Tx, Rx>, String> {
    let owned = crate::fds::take(fd).map_err(|e| format!("descriptor {fd} is not open: {e}"))?;
    match nix::sys::socket::getsockopt(&owned, nix::sys::socket::sockopt::SockType) {
        Ok(nix::sys::socket::SockType::SeqPacket) => Ok(Channel::from_fd(owned)),
        _ => {
            // Not ours: do not close it (the caller exits right away).
            let _ = std::os::fd::IntoRawFd::into_raw_fd(owned);
            Err(format!("descriptor {fd} is not a SOCK_SEQPACKET socket"))
        }
    }
}

/// Blocks for the parent's first message (the Init).
///
/// The parent channel carries the configuration (Init, Reload), which may
/// arrive in fragments: this end accepts messages up to
/// [`crate::envelope::MAX_LARGE_MESSAGE`] from the parent, the one peer
/// more trusted than the child.
pub fn recv_first<Tx: Serialize, Rx: DeserializeOwned>(
    ch: &mut Channel<Tx, Rx>,
) -> Result<Rx, String> {
    ch.set_max_message(crate::envelope::MAX_LARGE_MESSAGE);
    ch.set_nonblocking(false)
        .map_err(|e| format!("parent channel: {e}"))?;
    let got = ch
        .recv()
        .map_err(|e| format!("first message from the parent: {e}"))?;
    if !got.fds.is_empty() {
        return Err("first message from the parent carried descriptors".into());
    }
    ch.set_nonblocking(true)
        .map_err(|e| format!("parent channel: {e}"))?;
    Ok(got.msg)
}

/// The signal pipe: SIGTERM (and SIGINT, should one reach a child) means an
/// orderly stop. Registered before the sandbox because installing a handler
/// is a syscall the filter does not allow.
pub fn signals(registry: &Registry, token: Token) -> Result<Signals, String> {
    let mut s = Signals::new(&[SIGTERM, SIGINT])?;
    registry
        .register(&mut s, token, Interest::READABLE)
        .map_err(|e| format!("signal pipe: {e}"))?;
    Ok(s)
}

/// Drops privileges and enters the sandbox; then, if asked by
/// [`sandbox::SELFTEST_ENV`], proves the filter by calling a denied syscall.
pub fn lock_down(pd: &PrivDrop, role: Role, fds: &[(BorrowedFd<'_>, FdUse)]) -> Result<(), String> {
    let selftest = sandbox::selftest_requested(role);
    crate::privdrop::drop_privileges(pd).map_err(|e| e.to_string())?;
    sandbox::enter(role, fds).map_err(|e| e.to_string())?;
    if selftest {
        log::warn!(
            "{}=deny: calling socket() inside the sandbox",
            sandbox::SELFTEST_ENV
        );
        return Err(sandbox::selftest_probe().to_string());
    }
    Ok(())
}

/// The standard descriptors a child keeps: its log pipe.
pub fn stderr_fd() -> BorrowedFd<'static> {
    // SAFETY: fd 2 is open for the whole life of the process (the parent
    // placed the log pipe there) and is never closed by us.
    unsafe { BorrowedFd::borrow_raw(2) }
}

/// Why [`drain`] stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DrainError {
    /// The other end closed the channel (it exited, or is exiting).
    Closed,
    /// Anything else: an undecodable packet, descriptors where none belong,
    /// a socket error, or the handler's own error.
    Failed(String),
}

impl std::fmt::Display for DrainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Closed => f.write_str("channel closed by the other end"),
            Self::Failed(e) => f.write_str(e),
        }
    }
}

/// How long a child waits after its sibling closed their channel before it
/// gives up: in an orderly stop the parent's Shutdown is on its way, and in
/// a failure the parent stops us anyway. Without this grace, whichever child
/// exits first would make the other one exit with an error.
pub const PEER_CLOSED_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// Drains every pending message on a non-blocking channel into `f`.
/// Stops at the first error that is not "nothing more": the caller fails
/// closed on it.
pub fn drain<Tx: Serialize, Rx: DeserializeOwned>(
    ch: &mut Channel<Tx, Rx>,
    mut f: impl FnMut(Rx) -> Result<(), String>,
) -> Result<(), DrainError> {
    while drain_some(ch, usize::MAX, &mut f)? {}
    Ok(())
}

/// Like [`drain`], but handles at most `max` messages. Returns true if it
/// stopped at the cap: the caller then re-arms the registration with
/// [`rearm`] so the rest is reported again after other sources had their
/// turn. For channels from a less trusted peer, which must not be able to
/// monopolize the loop (the broker reading ike-net).
pub fn drain_some<Tx: Serialize, Rx: DeserializeOwned>(
    ch: &mut Channel<Tx, Rx>,
    max: usize,
    mut f: impl FnMut(Rx) -> Result<(), String>,
) -> Result<bool, DrainError> {
    for _ in 0..max {
        match ch.recv() {
            Ok(got) => {
                if !got.fds.is_empty() {
                    return Err(DrainError::Failed(
                        "unexpected descriptors with a message".into(),
                    ));
                }
                f(got.msg).map_err(DrainError::Failed)?;
            }
            Err(e) if e.is_would_block() => return Ok(false),
            Err(ChannelError::Io(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(ChannelError::Closed) => return Err(DrainError::Closed),
            Err(e) => return Err(DrainError::Failed(e.to_string())),
        }
    }
    Ok(true)
}

/// Re-arms an edge-triggered registration: if the descriptor is still
/// readable, the next poll reports it again.
pub fn rearm(registry: &Registry, fd: BorrowedFd<'_>, token: Token) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    registry
        .reregister(
            &mut mio::unix::SourceFd(&fd.as_raw_fd()),
            token,
            Interest::READABLE,
        )
        .map_err(|e| format!("re-arm fd {}: {e}", fd.as_raw_fd()))
}

/// Stops watching a descriptor (a closed channel would otherwise report
/// readable forever).
pub fn deregister_fd(registry: &Registry, fd: BorrowedFd<'_>) {
    use std::os::fd::AsRawFd;
    let _ = registry.deregister(&mut mio::unix::SourceFd(&fd.as_raw_fd()));
}

/// Registers any descriptor-backed source for reading.
pub fn register_fd(registry: &Registry, fd: BorrowedFd<'_>, token: Token) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    registry
        .register(
            &mut mio::unix::SourceFd(&fd.as_raw_fd()),
            token,
            Interest::READABLE,
        )
        .map_err(|e| format!("register fd {}: {e}", fd.as_raw_fd()))
}

/// Registers a channel for reading and writing. Edge-triggered: WRITABLE
/// is reported when a full socket gets room again, which is when a queued
/// channel ([`Channel::wants_write`]) flushes; an idle socket costs nothing.
pub fn register_rw(registry: &Registry, fd: BorrowedFd<'_>, token: Token) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    registry
        .register(
            &mut mio::unix::SourceFd(&fd.as_raw_fd()),
            token,
            Interest::READABLE | Interest::WRITABLE,
        )
        .map_err(|e| format!("register fd {}: {e}", fd.as_raw_fd()))
}

/// Helper for the `fds` list of [`lock_down`].
pub fn with_use<F: AsFd>(f: &F, u: FdUse) -> (BorrowedFd<'_>, FdUse) {
    (f.as_fd(), u)
}
