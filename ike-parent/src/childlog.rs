//! Reading a child's log pipe (its stderr) and forwarding each line to our
//! logger. The bytes are untrusted: lines are cut and escaped by
//! ike_ipc::childlog::parse_line, and a line with no newline is forwarded
//! once it reaches the cap, so a child cannot make us buffer without bound.

use ike_ipc::childlog::{parse_line, MAX_LINE};
use std::io::Read;
use std::process::ChildStderr;

/// At most this much is read per readiness event, so that a child writing
/// without pause cannot keep the parent from supervising.
pub const MAX_READ_PER_EVENT: usize = 64 * 1024;

/// What [`LogPipe::drain`] left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// Everything read; wait for the next event.
    Empty,
    /// Stopped at [`MAX_READ_PER_EVENT`]; more is waiting (re-arm the fd).
    MoreLater,
    /// End of file or error: the pipe is closed.
    Closed,
}

pub struct LogPipe {
    pub name: &'static str,
    pipe: Option<ChildStderr>,
    pending: Vec<u8>,
}

impl LogPipe {
    pub fn new(name: &'static str, pipe: ChildStderr) -> std::io::Result<Self> {
        use std::os::fd::AsFd;
        ike_ipc::channel::set_nonblocking(pipe.as_fd(), true)?;
        Ok(Self {
            name,
            pipe: Some(pipe),
            pending: Vec::new(),
        })
    }

    pub fn raw_fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        self.pipe.as_ref().map(|p| p.as_raw_fd())
    }

    /// Reads what is there (up to [`MAX_READ_PER_EVENT`]) and logs every
    /// complete line.
    pub fn drain(&mut self) -> Drained {
        let mut buf = [0u8; 4096];
        let mut total = 0usize;
        loop {
            if total >= MAX_READ_PER_EVENT {
                return Drained::MoreLater;
            }
            let Some(pipe) = self.pipe.as_mut() else {
                return Drained::Closed;
            };
            match pipe.read(&mut buf) {
                Ok(0) => {
                    self.flush_partial();
                    self.pipe = None;
                    return Drained::Closed;
                }
                Ok(n) => {
                    total = total.saturating_add(n);
                    self.pending.extend_from_slice(buf.get(..n).unwrap_or(&[]));
                    self.emit_lines();
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Drained::Empty,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::warn!("{} log pipe: {e}", self.name);
                    self.pipe = None;
                    return Drained::Closed;
                }
            }
        }
    }

    fn emit_lines(&mut self) {
        while let Some(pos) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=pos).collect();
            self.emit(line.get(..pos).unwrap_or(&[]));
        }
        if self.pending.len() >= MAX_LINE {
            self.flush_partial();
        }
    }

    fn flush_partial(&mut self) {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.emit(&line);
        }
    }

    fn emit(&self, raw: &[u8]) {
        let (level, text) = parse_line(raw);
        log::log!(target: self.name, level, "{text}");
    }
}
