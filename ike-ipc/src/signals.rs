//! Signals as mio readiness, by the self-pipe pattern: the handler sets a
//! per-signal flag and writes one byte to a non-blocking pipe whose read
//! end is registered with the event loop; the loop then reads the flags.
//!
//! Written here instead of taken from signal-hook (which does the same)
//! because signal-hook, signal-hook-registry, signal-hook-mio and errno were
//! four of the 15 crates the broker may link (issue 14, DESIGN.md section
//! 3); this is the part of them we used.
//!
//! The handler does only what is async-signal-safe: atomic stores and one
//! `write(2)`, keeping `errno` as it found it.

use mio::event::Source;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use nix::errno::Errno;
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

pub use libc::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};

/// Signal numbers below this have a flag (all the standard ones do).
const MAX_SIGNAL: usize = 32;

/// Set by the handler, cleared by [`Signals::pending`].
static PENDING: [AtomicBool; MAX_SIGNAL] = [const { AtomicBool::new(false) }; MAX_SIGNAL];
/// The pipe's write end, or -1: the handler's only way to wake the loop.
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let saved = Errno::last_raw();
    if let Some(flag) = usize::try_from(sig).ok().and_then(|i| PENDING.get(i)) {
        flag.store(true, Ordering::SeqCst);
    }
    let fd = WAKE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        // A full pipe (EAGAIN) is fine: a wake-up is already waiting and
        // the flag is set.
        // SAFETY: write(2) on a descriptor we own, from a one-byte buffer
        // that lives for the call; async-signal-safe per POSIX.
        unsafe { libc::write(fd, [1u8].as_ptr().cast(), 1) };
    }
    Errno::set_raw(saved);
}

/// The process's signal pipe for a set of signals. One per process: the
/// handler knows one pipe.
pub struct Signals {
    read: OwnedFd,
    /// Kept open for the handler, which writes to it by number.
    _write: OwnedFd,
    wanted: Vec<Signal>,
}

impl Signals {
    /// Installs the handler for `signals` (with SA_RESTART, so the
    /// interrupted calls of the rest of the program restart).
    pub fn new(signals: &[libc::c_int]) -> Result<Signals, String> {
        let wanted = signals
            .iter()
            .map(|&s| match Signal::try_from(s) {
                Ok(sig) if usize::try_from(s).is_ok_and(|i| i < MAX_SIGNAL) => Ok(sig),
                _ => Err(format!("signal {s} cannot be handled here")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (read, write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
                .map_err(|e| format!("signal pipe: {e}"))?;
        if WAKE_FD
            .compare_exchange(-1, write.as_raw_fd(), Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Err("signal pipe: one per process".into());
        }
        let action = SigAction::new(
            SigHandler::Handler(on_signal),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        // From here on, dropping `signals` (also on an error below) takes
        // the pipe away from the handler before its descriptors close.
        let signals = Signals {
            read,
            _write: write,
            wanted,
        };
        for &sig in &signals.wanted {
            // SAFETY: the handler is async-signal-safe (module comment).
            unsafe { sigaction(sig, &action) }.map_err(|e| format!("sigaction {sig}: {e}"))?;
        }
        Ok(signals)
    }

    /// The signals received since the last call, each once; empties the
    /// pipe so that the next signal wakes the loop again.
    pub fn pending(&mut self) -> std::vec::IntoIter<libc::c_int> {
        let mut buf = [0u8; 64];
        while matches!(nix::unistd::read(self.read.as_raw_fd(), &mut buf), Ok(n) if n > 0) {}
        let got: Vec<libc::c_int> = self
            .wanted
            .iter()
            .map(|&s| s as libc::c_int)
            .filter(|&s| {
                usize::try_from(s)
                    .ok()
                    .and_then(|i| PENDING.get(i))
                    .is_some_and(|f| f.swap(false, Ordering::SeqCst))
            })
            .collect();
        got.into_iter()
    }
}

impl Drop for Signals {
    /// The handler forgets the pipe, so that no signal writes to a
    /// descriptor number that is closed (and may be reused) once the fields
    /// drop. The handler itself stays installed (it then only sets a flag):
    /// a sandboxed child drops this on its way out, where sigaction is
    /// outside its seccomp allow-list.
    fn drop(&mut self) {
        WAKE_FD.store(-1, Ordering::SeqCst);
    }
}

impl Source for Signals {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> std::io::Result<()> {
        SourceFd(&self.read.as_raw_fd()).register(r, t, i)
    }
    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> std::io::Result<()> {
        SourceFd(&self.read.as_raw_fd()).reregister(r, t, i)
    }
    fn deregister(&mut self, r: &Registry) -> std::io::Result<()> {
        SourceFd(&self.read.as_raw_fd()).deregister(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test for the whole module: the pipe is one per process.
    #[test]
    fn a_raised_signal_wakes_the_poll_and_is_reported_once() {
        let mut poll = mio::Poll::new().unwrap();
        let mut s = Signals::new(&[libc::SIGUSR1, libc::SIGUSR2]).unwrap();
        poll.registry()
            .register(&mut s, Token(7), Interest::READABLE)
            .unwrap();
        assert!(Signals::new(&[libc::SIGUSR1]).is_err(), "one per process");
        nix::sys::signal::raise(Signal::SIGUSR2).unwrap();
        let mut events = mio::Events::with_capacity(4);
        poll.poll(&mut events, Some(std::time::Duration::from_secs(5)))
            .unwrap();
        assert!(events.iter().any(|e| e.token() == Token(7)));
        assert_eq!(s.pending().collect::<Vec<_>>(), vec![libc::SIGUSR2]);
        assert_eq!(s.pending().count(), 0);
        // Dropped, the pipe is free for a new one.
        drop(s);
        assert_eq!(WAKE_FD.load(Ordering::SeqCst), -1);
        drop(Signals::new(&[libc::SIGUSR1]).unwrap());
    }
}
