//! A blocking driver for the broker over one PF_KEY descriptor (a kernel
//! socket or a `pfkey-sim` connection): one request at a time from the
//! caller's point of view, with events kept aside. Used by `pfkey-probe` (the
//! kernel lab runs the broker's code path with it) and by tests; the daemon
//! itself drives [`Broker`] from its mio loop.

use super::{AdminResult, Broker, BrokerConfig};
use crate::wire::Message;
use ike_ipc::msg::pfkey::{
    BrokerEvent, BrokerRequest, BrokerRequestId, KernelError, KernelReply, NetToPfkey, PfkeyToNet,
    Supported,
};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recv, send, MsgFlags};
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// `socket(PF_KEY, SOCK_RAW, PF_KEY_V2)` (RFC 2367 2.1). Needs root
/// (CAP_NET_ADMIN on Linux).
#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
pub fn open_pfkey_socket() -> io::Result<OwnedFd> {
    use std::os::fd::FromRawFd;
    #[cfg(target_os = "linux")]
    let family = crate::dialect::linux::PF_KEY;
    #[cfg(target_os = "freebsd")]
    let family = crate::dialect::kame_freebsd::PF_KEY;
    #[cfg(target_os = "openbsd")]
    let family = crate::dialect::openbsd::PF_KEY;
    let proto = i32::from(crate::dialect::PF_KEY_V2);
    // SAFETY: socket(2) with constant arguments; nix has no PF_KEY_V2 protocol
    // value (nor PF_KEY on the BSDs), so the call goes through libc directly.
    let fd = unsafe { libc::socket(family, libc::SOCK_RAW | libc::SOCK_CLOEXEC, proto) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: socket() returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(not(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd")))]
pub fn open_pfkey_socket() -> io::Result<OwnedFd> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "no PF_KEY on this system",
    ))
}

pub struct BlockingBroker {
    fd: OwnedFd,
    pub broker: Broker,
    next_id: BrokerRequestId,
    replies: VecDeque<(BrokerRequestId, Result<KernelReply, KernelError>)>,
    events: VecDeque<BrokerEvent>,
    supported: Option<Supported>,
    buf: Vec<u8>,
}

impl BlockingBroker {
    /// Start the broker on `fd` and wait for its REGISTERs to be answered.
    pub fn start(fd: OwnedFd, cfg: BrokerConfig) -> io::Result<(BlockingBroker, Supported)> {
        let limit = cfg.timeout.max(super::REGISTER_TIMEOUT) + Duration::from_secs(1);
        let broker = Broker::new(cfg, Instant::now());
        let mut b = BlockingBroker {
            fd,
            broker,
            next_id: 1,
            replies: VecDeque::new(),
            events: VecDeque::new(),
            supported: None,
            buf: vec![0u8; 65536],
        };
        let deadline = Instant::now() + limit;
        while b.supported.is_none() {
            if Instant::now() >= deadline {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no REGISTER reply"));
            }
            b.pump(deadline)?;
        }
        let s = b.supported.clone().unwrap_or_default();
        Ok((b, s))
    }

    fn flush(&mut self) -> io::Result<()> {
        while let Some(bytes) = self.broker.poll_kernel_transmit_at(Instant::now()) {
            send(self.fd.as_raw_fd(), &bytes, MsgFlags::MSG_NOSIGNAL)?;
        }
        Ok(())
    }

    fn collect(&mut self) {
        while let Some(m) = self.broker.poll_net() {
            match m {
                PfkeyToNet::Ready(s) => self.supported = Some(s),
                PfkeyToNet::Reply { id, result } => self.replies.push_back((id, result)),
                PfkeyToNet::Event(e) => self.events.push_back(e),
            }
        }
    }

    /// Write what the broker queued, wait for one kernel message or the next
    /// broker deadline (at most until `until`), feed it in.
    pub fn pump(&mut self, until: Instant) -> io::Result<()> {
        self.flush()?;
        let now = Instant::now();
        let wake = self.broker.poll_timeout().map_or(until, |t| t.min(until));
        let ms = wake.saturating_duration_since(now).as_millis().min(60_000) as u16;
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
        let ready = poll(&mut fds, PollTimeout::from(ms)).map_err(io::Error::from)?;
        if ready > 0 {
            // Read everything queued before looking at deadlines: replies
            // that came in while a write blocked are not late.
            let mut flags = MsgFlags::empty();
            loop {
                let n = match recv(self.fd.as_raw_fd(), &mut self.buf, flags) {
                    Ok(n) => n,
                    Err(nix::errno::Errno::EAGAIN) if !flags.is_empty() => break,
                    Err(e) => return Err(io::Error::from(e)),
                };
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "PF_KEY socket closed",
                    ));
                }
                let msg = self.buf.get(..n).unwrap_or(&[]).to_vec();
                self.broker.handle_kernel(&msg, Instant::now());
                flags = MsgFlags::MSG_DONTWAIT;
            }
        }
        self.broker.handle_timeout(Instant::now());
        self.flush()?;
        self.collect();
        Ok(())
    }

    /// Send several requests at once (pipelined) and wait for all replies.
    pub fn requests(
        &mut self,
        reqs: Vec<BrokerRequest>,
    ) -> io::Result<Vec<Result<KernelReply, KernelError>>> {
        let with_ids = reqs
            .into_iter()
            .map(|req| {
                let id = self.next_id;
                self.next_id += 1;
                (id, req)
            })
            .collect();
        self.requests_with_ids(with_ids)
    }

    fn requests_with_ids(
        &mut self,
        reqs: Vec<(BrokerRequestId, BrokerRequest)>,
    ) -> io::Result<Vec<Result<KernelReply, KernelError>>> {
        let now = Instant::now();
        let ids: Vec<BrokerRequestId> = reqs
            .into_iter()
            .map(|(id, req)| {
                self.broker.handle_net(NetToPfkey::Request { id, req }, now);
                id
            })
            .collect();
        self.collect();
        let deadline = now + Duration::from_secs(30);
        let mut out: Vec<Option<Result<KernelReply, KernelError>>> = vec![None; ids.len()];
        loop {
            while let Some((id, r)) = self.replies.pop_front() {
                if let Some(i) = ids.iter().position(|x| *x == id) {
                    if let Some(slot) = out.get_mut(i) {
                        *slot = Some(r);
                    }
                }
            }
            if out.iter().all(Option::is_some) {
                return Ok(out.into_iter().flatten().collect());
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "broker gave no reply",
                ));
            }
            self.pump(deadline)?;
        }
    }

    pub fn request(&mut self, req: BrokerRequest) -> io::Result<Result<KernelReply, KernelError>> {
        let mut v = self.requests(vec![req])?;
        v.pop().ok_or_else(|| io::Error::other("no reply"))
    }

    /// One message from ike-net, as the daemon's loop would handle it: returns
    /// the reply to it and any events that arrived meanwhile.
    pub fn serve(&mut self, msg: NetToPfkey) -> io::Result<Vec<PfkeyToNet>> {
        let (id, req) = match msg {
            NetToPfkey::Request { id, req } => (id, req),
            lease @ NetToPfkey::Lease { .. } => {
                self.broker.handle_net(lease, Instant::now());
                return Ok(self.events.drain(..).map(PfkeyToNet::Event).collect());
            }
        };
        let r = self.requests_with_ids(vec![(id, req)])?;
        let mut out: Vec<PfkeyToNet> = r
            .into_iter()
            .map(|result| PfkeyToNet::Reply { id, result })
            .collect();
        out.extend(self.events.drain(..).map(PfkeyToNet::Event));
        Ok(out)
    }

    /// The broker's own DUMP / SPDDUMP (operator use only).
    pub fn dump(&mut self, spd: bool) -> io::Result<Result<Vec<Message>, KernelError>> {
        self.broker.admin_dump(spd, Instant::now());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(AdminResult::Dump(r)) = self.broker.poll_admin() {
                return Ok(r);
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "dump did not finish",
                ));
            }
            self.pump(deadline)?;
        }
    }

    /// Wait up to `timeout` for a kernel event.
    pub fn next_event(&mut self, timeout: Duration) -> io::Result<Option<BrokerEvent>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.events.pop_front() {
                return Ok(Some(e));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            self.pump(deadline)?;
        }
    }

    /// Delete what the broker installed (if configured) and wait for the kernel.
    pub fn shutdown(&mut self, timeout: Duration) -> io::Result<()> {
        self.broker.shutdown(Instant::now());
        let deadline = Instant::now() + timeout;
        while !self.broker.is_idle() && Instant::now() < deadline {
            self.pump(deadline)?;
        }
        Ok(())
    }
}
