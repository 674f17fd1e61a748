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
        self.drain_into(&mut |name, raw| emit(name, raw))
    }

    /// [`Self::drain`] with the lines handed to `sink` (name, raw line).
    pub fn drain_into(&mut self, sink: &mut dyn FnMut(&str, &[u8])) -> Drained {
        // The children write their lines in batches (ike_ipc::childlog):
        // one read takes a whole batch.
        let mut buf = [0u8; 16 * 1024];
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
                    self.flush_partial(sink);
                    self.pipe = None;
                    return Drained::Closed;
                }
                Ok(n) => {
                    total = total.saturating_add(n);
                    self.pending.extend_from_slice(buf.get(..n).unwrap_or(&[]));
                    self.emit_lines(sink);
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

    fn emit_lines(&mut self, sink: &mut dyn FnMut(&str, &[u8])) {
        // Every complete line in place, then one shift of the remainder
        // (not one shift and one copy per line).
        let mut start = 0;
        while let Some(len) = self
            .pending
            .get(start..)
            .and_then(|rest| rest.iter().position(|b| *b == b'\n'))
        {
            sink(
                self.name,
                self.pending.get(start..start + len).unwrap_or(&[]),
            );
            start += len + 1;
        }
        self.pending.drain(..start);
        if self.pending.len() >= MAX_LINE {
            self.flush_partial(sink);
        }
    }

    fn flush_partial(&mut self, sink: &mut dyn FnMut(&str, &[u8])) {
        if !self.pending.is_empty() {
            sink(self.name, &self.pending);
            self.pending.clear();
        }
    }
}

fn emit(name: &str, raw: &[u8]) {
    let (level, text) = parse_line(raw);
    if ike_ipc::childlog::is_notice(raw) {
        // crate::logging maps the "/notice" suffix to LOG_NOTICE.
        let target = format!("{name}/{}", ike_ipc::childlog::NOTICE_TARGET);
        log::log!(target: &target, level, "{text}");
    } else {
        log::log!(target: name, level, "{text}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    /// Many lines in big batches, lines cut across reads, a line over the
    /// cap and a last line without newline: every line once, in order.
    #[test]
    fn batched_lines_all_arrive_in_order() {
        // The bytes must come on a ChildStderr: `cat >&2` relays ours.
        let mut child = Command::new("sh")
            .args(["-c", "cat >&2"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut pipe = LogPipe::new("t", child.stderr.take().unwrap()).unwrap();
        let mut input = child.stdin.take().unwrap();
        const N: usize = 50_000;
        let writer = std::thread::spawn(move || {
            let mut batch = Vec::new();
            for i in 0..N {
                batch.extend_from_slice(format!("I line {i}\n").as_bytes());
                if batch.len() > 10_000 {
                    input.write_all(&batch).unwrap();
                    batch.clear();
                }
            }
            batch.extend_from_slice(b"W ");
            batch.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
            batch.extend_from_slice(b"\nE last");
            input.write_all(&batch).unwrap();
        });
        let mut got: Vec<Vec<u8>> = Vec::new();
        loop {
            match pipe.drain_into(&mut |_, raw| got.push(raw.to_vec())) {
                Drained::Closed => break,
                _ => std::thread::sleep(std::time::Duration::from_millis(1)),
            }
        }
        writer.join().unwrap();
        let _ = child.wait();
        for (i, line) in got.iter().take(N).enumerate() {
            assert_eq!(line, format!("I line {i}").as_bytes());
        }
        // The long line: whole, or cut at the cap when it straddles reads
        // (its tail then a line of its own); nothing of it is lost.
        let long: Vec<u8> = got[N..got.len() - 1].concat();
        assert_eq!(long.len(), 2 + MAX_LINE + 10);
        assert!(long.starts_with(b"W x"));
        assert_eq!(got.last().unwrap(), b"E last");
    }
}
