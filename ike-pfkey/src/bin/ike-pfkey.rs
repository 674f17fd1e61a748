//! ike-pfkey: the kernel broker. Started only by ike-parent, with its
//! descriptors at the numbers in `ike_ipc::fds`: the parent channel (3), the
//! ike-net channel (4) and the PF_KEY socket (5). It owns the PF_KEY socket
//! and lets through only the requests the parent's configuration allows.
//!
//! This file is the process: start-up, privilege drop, sandbox and the
//! event loop. The decisions are the sans-IO [`ike_pfkey::broker::Broker`]'s;
//! this loop feeds it bytes, requests and time, and carries out its outputs.

use ike_ipc::channel::Channel;
use ike_ipc::mio::{Events, Poll, Token};
use ike_ipc::msg::pfkey::{NetToPfkey, PfkeyToNet};
use ike_ipc::msg::{ParentToPfkey, PfkeyToParent};
use ike_ipc::sandbox::{FdUse, Role};
use ike_ipc::timers::Timers;
use ike_ipc::{child, fds};
use ike_pfkey::broker::allow::AllowedSet;
use ike_pfkey::broker::backend::{Interface, KernelBroker};
use ike_pfkey::broker::BrokerConfig;
use std::os::fd::{AsFd, OwnedFd};
use std::process::ExitCode;
use std::time::Instant;

const PARENT: Token = Token(0);
const NET: Token = Token(1);
const SIGNALS: Token = Token(2);
const KERNEL: Token = Token(3);

type ParentChannel = Channel<PfkeyToParent, ParentToPfkey>;
/// ike-pfkey <-> ike-net: requests in, replies and events out.
type NetChannel = Channel<PfkeyToNet, NetToPfkey>;

/// Kernel messages read per readiness event before the others get a turn.
const MAX_KERNEL_MESSAGES: usize = 256;

/// Requests from ike-net handled per readiness event before the others get
/// a turn.
const MAX_NET_MESSAGES: usize = 64;

/// Back-pressure on ike-net's channel (docs/ipc.md): while more than
/// the channel's high-water mark waits for ike-net to read, no new request
/// is read from it (each would add a reply); past this many bytes, not even
/// the kernel is read (its ACQUIREs and EXPIREs would pile up here; the
/// kernel keeps them or, like for any slow PF_KEY reader, drops its
/// broadcasts with ENOBUFS). ike-net always reads this channel, so the
/// queue drains.
const NET_QUEUE_HARD: usize = 4 * ike_ipc::channel::DEFAULT_HIGH_WATER;

/// Kernel requests written and not yet answered, at most: the kernel (and
/// pfkey-sim) drops a reply that does not fit in our socket's receive
/// buffer, about 280 messages of the default size, which also takes the
/// kernel's own broadcasts. The rest wait in the broker's queue.
const KERNEL_WINDOW: usize = 64;

/// How long an orderly stop may spend deleting our SAs and policies (the
/// parent's own grace is 5 s).
const SHUTDOWN_LIMIT: std::time::Duration = std::time::Duration::from_secs(3);

/// The largest PF_KEY message we read (sadb_msg_len is 16 bits of 8-byte
/// units: RFC 2367 2.1, so 512 KiB is the protocol's own ceiling).
const MAX_PFKEY_MESSAGE: usize = 8 * 65535;

/// `--dialect NAME`, which ike-parent passes only with `--pfkey-dialect`
/// (towards pfkey-sim); otherwise the build platform's dialect. `--kernel
/// xfrm`, which ike-parent passes with `--pfkey xfrm`: the descriptor is
/// a NETLINK_XFRM socket.
fn args() -> Result<(ike_pfkey::dialect::Dialect, Interface), String> {
    use ike_pfkey::dialect::Dialect;
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok((Dialect::native(), Interface::PfKey)),
        [flag, name] if flag == "--dialect" => Dialect::from_name(name)
            .map(|d| (d, Interface::PfKey))
            .ok_or(format!("unknown PF_KEY dialect {name}")),
        [flag, name] if flag == "--kernel" && name == "xfrm" => {
            Ok((Dialect::native(), Interface::Xfrm))
        }
        _ => Err(format!("unexpected arguments {args:?}")),
    }
}

fn main() -> ExitCode {
    ike_ipc::childlog::init(log::LevelFilter::Info);
    let (dialect, interface) = match args() {
        Ok(d) => d,
        Err(e) => {
            log::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut parent: ParentChannel = match child::take_channel(fds::PARENT) {
        Ok(c) => c,
        Err(e) => {
            log::error!("ike-pfkey must be started by ike-parent: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(&mut parent, dialect, interface) {
        Ok(()) => {
            log::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            log::error!("fatal: {e}");
            let _ = parent.send(&PfkeyToParent::Fatal(e));
            ExitCode::FAILURE
        }
    }
}

/// The broker and its PF_KEY socket.
struct Kernel {
    broker: KernelBroker,
    sock: OwnedFd,
    buf: Vec<u8>,
    /// ike-net's channel closed or failed: stop sending to it.
    net_gone: bool,
    /// A kernel message the socket did not take (EAGAIN on the
    /// simulator's unix socket; a kernel PF_KEY write does not block):
    /// written first when the socket is writable again, before anything
    /// else the broker has for the kernel.
    kernel_blocked: Option<Vec<u8>>,
}

impl Kernel {
    /// Reads pending kernel messages into the broker, at most
    /// [`MAX_KERNEL_MESSAGES`]; true if it stopped there (more are waiting).
    fn on_readable(&mut self) -> Result<bool, String> {
        for _ in 0..MAX_KERNEL_MESSAGES {
            match recv_kernel(self.sock.as_fd(), &mut self.buf) {
                Ok(KernelRead::Message(n)) => {
                    let bytes = self.buf.get(..n).unwrap_or(&[]);
                    self.broker.handle_kernel(bytes, Instant::now());
                }
                Ok(KernelRead::Empty) => return Ok(false),
                // A message longer than the protocol allows: drop it.
                Ok(KernelRead::Truncated) => log::warn!("oversized PF_KEY message dropped"),
                Ok(KernelRead::Closed) => return Err("PF_KEY socket closed".into()),
                Err(nix::errno::Errno::EINTR) => {}
                // Netlink (XFRM) says a multicast event did not fit in our
                // receive buffer: it is lost, the socket goes on. Requests
                // whose answers were lost time out as with PF_KEY.
                Err(nix::errno::Errno::ENOBUFS) => {
                    log::warn!("kernel socket overrun: events were dropped")
                }
                Err(e) => return Err(format!("PF_KEY socket: {e}")),
            }
        }
        Ok(true)
    }

    /// Carries out the broker's outputs: messages to the kernel and to ike-net.
    fn flush(&mut self, net: &mut NetChannel) -> Result<(), String> {
        if let Some(bytes) = self.kernel_blocked.take() {
            self.write_kernel(bytes);
        }
        // _at: the broker starts each request's reply deadline when it is
        // actually written (af_key does the work inside write(), which can
        // take long on a kernel still loading crypto modules).
        while self.kernel_blocked.is_none() && self.broker.kernel_in_flight() < KERNEL_WINDOW {
            let Some(bytes) = self.broker.poll_kernel_transmit_at(Instant::now()) else {
                break;
            };
            self.write_kernel(bytes);
        }
        // Everything for ike-net is queued, then written in batches; what
        // the socket does not take waits for WRITABLE (never dropped).
        while let Some(m) = self.broker.poll_net() {
            if self.net_gone {
                continue; // nobody to tell
            }
            if let Err(e) = net.queue_only(&m) {
                log::warn!("ike-net channel: {e}");
                self.net_gone = true;
            }
        }
        if !self.net_gone {
            if let Err(e) = net.flush() {
                // ike-net died or closed: the same as seeing its channel
                // close (the parent decides, see PEER_CLOSED_GRACE). Failing
                // at once here would make us, not ike-net, look like the
                // cause when both are reaped.
                log::warn!("ike-net channel: {e}");
                self.net_gone = true;
            }
        }
        while let Some(a) = self.broker.poll_admin() {
            log::debug!("admin result: {a:?}");
        }
        Ok(())
    }
}

impl Kernel {
    fn write_kernel(&mut self, bytes: Vec<u8>) {
        match send_kernel(self.sock.as_fd(), &bytes) {
            Ok(_) => {}
            Err(nix::errno::Errno::EAGAIN) => self.kernel_blocked = Some(bytes),
            // The kernel refused the write itself; the broker's request
            // timeout turns this into an error reply for ike-net.
            Err(e) => log::warn!("PF_KEY write: {e}"),
        }
    }
}

fn run(
    parent: &mut ParentChannel,
    dialect: ike_pfkey::dialect::Dialect,
    interface: Interface,
) -> Result<(), String> {
    let init = match child::recv_first(parent)? {
        ParentToPfkey::Init(init) => init,
        other => return Err(format!("expected Init from the parent, got {other:?}")),
    };
    log::set_max_level(init.log_level.to_filter());
    let mut net: NetChannel = child::take_channel(fds::PEER)?;
    net.set_name("ike-net channel");
    net.set_nonblocking(true)
        .map_err(|e| format!("ike-net channel: {e}"))?;
    let kernel = fds::take(fds::PFKEY_SOCKET).map_err(|e| format!("PF_KEY socket: {e}"))?;
    // sadb_msg_pid of our requests; replies carry it back.
    let pid = std::process::id();
    ike_ipc::channel::set_nonblocking(kernel.as_fd(), true)
        .map_err(|e| format!("PF_KEY socket: {e}"))?;

    // Before the sandbox: epoll_create, the signal handler, registrations.
    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let reg = poll.registry();
    child::register_fd(reg, parent.as_fd(), PARENT)?;
    child::register_rw(reg, net.as_fd(), NET)?;
    child::register_rw(reg, kernel.as_fd(), KERNEL)?;
    let mut signals = child::signals(reg, SIGNALS)?;

    if interface == Interface::Xfrm {
        // Netlink checks CAP_NET_ADMIN on every XFRM message we send.
        ike_ipc::sandbox::keep_net_admin().map_err(|e| e.to_string())?;
    }
    child::lock_down(
        &init.privdrop,
        Role::Pfkey,
        &[
            child::with_use(parent, FdUse::Channel),
            child::with_use(&net, FdUse::Channel),
            child::with_use(&kernel, FdUse::Pfkey),
            (child::stderr_fd(), FdUse::Log),
        ],
    )?;
    parent
        .send(&PfkeyToParent::Ready)
        .map_err(|e| format!("parent channel: {e}"))?;
    log::info!(
        "ready: uid {} gid {}, chroot {}",
        init.privdrop.uid,
        init.privdrop.gid,
        init.privdrop.chroot
    );

    if interface == Interface::Xfrm {
        log::info!("kernel interface: XFRM (netlink)");
    } else if dialect != ike_pfkey::dialect::Dialect::native() {
        log::info!("speaking the {} PF_KEY dialect", dialect.name());
    }
    let mut cfg = BrokerConfig {
        dialect,
        ..BrokerConfig::from_config(&init.config, pid)
    };
    cfg.allowed.natt_port = init.natt_port;
    let natt_port = init.natt_port;
    let mut k = Kernel {
        broker: KernelBroker::new(interface, cfg, Instant::now()),
        sock: kernel,
        buf: vec![0; MAX_PFKEY_MESSAGE],
        net_gone: false,
        kernel_blocked: None,
    };
    k.broker.set_sa_limit(init.config.global.sa_limit);
    log::info!(
        "at most {} SAs and {} policies (set sa-limit)",
        k.broker.owned().max_sas,
        k.broker.owned().max_policies
    );
    k.flush(&mut net)?;
    // Set on Shutdown/SIGTERM: the broker is cleaning up, exit when idle.
    let mut stopping: Option<Instant> = None;
    // Whether the loss of ike-net's channel has been acted on.
    let mut net_gone_seen = false;
    // Our own timers; the broker's deadlines come from poll_timeout.
    let mut timers: Timers<Timer> = Timers::new();
    let mut events = Events::with_capacity(16);
    // Input left unread on purpose (a per-event cap, or back-pressure):
    // read again without waiting for another edge, once there is room.
    let mut net_backlog = false;
    let mut kernel_backlog = false;
    // Log lines go to the parent in batches, written before each wait.
    let _batch = ike_ipc::childlog::batch();
    loop {
        let now = Instant::now();
        // Nothing more is read from a closed ike-net channel.
        net_backlog &= !k.net_gone;
        let room_for_net = !net.is_congested();
        let room_for_kernel = net.queued_bytes() < NET_QUEUE_HARD || k.net_gone;
        let busy = (net_backlog && room_for_net) || (kernel_backlog && room_for_kernel);
        let wake = [
            timers.timeout(now),
            k.broker
                .poll_timeout()
                .map(|t| t.saturating_duration_since(now)),
            busy.then_some(std::time::Duration::ZERO),
        ]
        .into_iter()
        .flatten()
        .min();
        ike_ipc::childlog::flush();
        if let Err(e) = poll.poll(&mut events, wake) {
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("poll: {e}"));
        }
        // The parent first: a Shutdown in the same batch as ike-net's channel
        // closing means an orderly stop, not a failure.
        let mut tokens: Vec<Token> = events
            .iter()
            .filter(|e| e.is_readable() || e.is_read_closed() || e.is_error())
            .map(|e| e.token())
            .collect();
        tokens.sort_by_key(|t| *t != PARENT);
        // Readiness is edge-triggered: remember it, act when there is room.
        for t in &tokens {
            match *t {
                NET => net_backlog = true,
                KERNEL => kernel_backlog = true,
                _ => {}
            }
        }
        // Writable edges need no bookkeeping: the flush below runs on
        // every wakeup and writes whatever is queued.
        for token in tokens {
            match token {
                PARENT => {
                    let mut stop = false;
                    child::drain(parent, |msg| {
                        match msg {
                            ParentToPfkey::Init(_) => return Err("second Init".into()),
                            ParentToPfkey::Reload(cfg) => {
                                k.broker.set_allowed(AllowedSet {
                                    natt_port,
                                    ..AllowedSet::from_config(&cfg)
                                });
                                k.broker.set_sa_limit(cfg.global.sa_limit);
                                log::info!("allowed set reloaded");
                            }
                            ParentToPfkey::SetLogLevel(l) => log::set_max_level(l.to_filter()),
                            ParentToPfkey::Shutdown => stop = true,
                        }
                        Ok(())
                    })
                    .map_err(|e| match e {
                        child::DrainError::Closed => "the parent went away".to_string(),
                        child::DrainError::Failed(e) => {
                            format!("undecodable message from the parent: {e}")
                        }
                    })?;
                    if stop && stopping.is_none() {
                        log::info!("shutdown requested by the parent");
                        k.broker.shutdown(Instant::now());
                        stopping = Some(Instant::now() + SHUTDOWN_LIMIT);
                    }
                }
                NET | KERNEL => {} // below, when there is room
                SIGNALS => {
                    if signals.pending().next().is_some() && stopping.is_none() {
                        log::info!("SIGTERM: stopping");
                        k.broker.shutdown(Instant::now());
                        stopping = Some(Instant::now() + SHUTDOWN_LIMIT);
                    }
                }
                Token(_) => {}
            }
        }
        if net_backlog && !k.net_gone && !net.is_congested() {
            // ike-net is untrusted: anything undecodable is fatal.
            let mut requests = Vec::new();
            // Capped: a flooding ike-net must not keep the broker from its
            // parent channel and the kernel.
            let drained = child::drain_some(&mut net, MAX_NET_MESSAGES, |m| {
                requests.push(m);
                Ok(())
            });
            match drained {
                Ok(more) => net_backlog = more,
                Err(child::DrainError::Closed) => {
                    k.net_gone = true;
                    net_backlog = false;
                }
                Err(e) => return Err(format!("ike-net channel: {e}")),
            }
            for m in requests {
                k.broker.handle_net(m, Instant::now());
            }
        }
        // Replies that arrived during a slow write are not late: read what
        // is there before the broker judges its deadlines. Other PF_KEY
        // users' broadcasts arrive here too: capped per wakeup.
        let room_for_kernel = net.queued_bytes() < NET_QUEUE_HARD || k.net_gone;
        if room_for_kernel {
            kernel_backlog = k.on_readable()?;
        }
        if !kernel_backlog {
            k.broker.handle_timeout(Instant::now());
        }
        k.flush(&mut net)?;
        // ike-net's channel closed (read) or failed (write): give the parent
        // PEER_CLOSED_GRACE to stop us in order before failing.
        if k.net_gone && !net_gone_seen {
            net_gone_seen = true;
            child::deregister_fd(poll.registry(), net.as_fd());
            timers.arm(Instant::now() + child::PEER_CLOSED_GRACE, Timer::NetGone);
        }
        if let Some(limit) = stopping {
            if k.broker.is_idle() {
                return Ok(());
            }
            if Instant::now() >= limit {
                log::warn!("kernel clean-up did not finish in {SHUTDOWN_LIMIT:?}");
                return Ok(());
            }
        }
        // Only one kind of timer of our own so far.
        if let Some(Timer::NetGone) = timers.expired(Instant::now()).first() {
            if stopping.is_none() {
                return Err("ike-net channel: closed by ike-net".into());
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// ike-net closed our channel; give up unless the parent stops us first.
    NetGone,
}

enum KernelRead {
    Message(usize),
    Truncated,
    Empty,
    Closed,
}

/// One PF_KEY message. Plain recvmsg with no flags and no control buffer:
/// Linux af_key refuses any flag outside PEEK/DONTWAIT/TRUNC with EINVAL
/// (so the IPC channels' MSG_CMSG_CLOEXEC must not be used here), and a
/// PF_KEY socket carries no descriptors. Truncation shows in msg_flags.
fn recv_kernel(sock: std::os::fd::BorrowedFd<'_>, buf: &mut [u8]) -> nix::Result<KernelRead> {
    use nix::sys::socket::{recvmsg, MsgFlags};
    use std::os::fd::AsRawFd;
    let mut iov = [std::io::IoSliceMut::new(buf)];
    match recvmsg::<()>(sock.as_raw_fd(), &mut iov, None, MsgFlags::empty()) {
        Ok(m) if m.flags.contains(MsgFlags::MSG_TRUNC) => Ok(KernelRead::Truncated),
        // A kernel PF_KEY socket never reads 0; the simulator's stream
        // connection does when the simulator goes away.
        Ok(m) if m.bytes == 0 => Ok(KernelRead::Closed),
        Ok(m) => Ok(KernelRead::Message(m.bytes)),
        Err(nix::errno::Errno::EAGAIN) => Ok(KernelRead::Empty),
        Err(e) => Err(e),
    }
}

/// One PF_KEY message out. MSG_NOSIGNAL only matters for the simulator's
/// unix socket (a closed peer is an error value, not SIGPIPE).
fn send_kernel(sock: std::os::fd::BorrowedFd<'_>, bytes: &[u8]) -> nix::Result<usize> {
    use std::os::fd::AsRawFd;
    nix::sys::socket::send(
        sock.as_raw_fd(),
        bytes,
        nix::sys::socket::MsgFlags::MSG_NOSIGNAL,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn kernel_reads_report_messages_truncation_empty_and_close() {
        let (ours, theirs) = ike_ipc::channel::raw_pair().unwrap();
        ike_ipc::channel::set_nonblocking(ours.as_fd(), true).unwrap();
        let mut buf = [0u8; 16];
        assert!(matches!(
            recv_kernel(ours.as_fd(), &mut buf),
            Ok(KernelRead::Empty)
        ));
        send_kernel(theirs.as_fd(), &[7u8; 16]).unwrap();
        send_kernel(theirs.as_fd(), &[8u8; 17]).unwrap();
        assert!(matches!(
            recv_kernel(ours.as_fd(), &mut buf),
            Ok(KernelRead::Message(16))
        ));
        assert!(matches!(
            recv_kernel(ours.as_fd(), &mut buf),
            Ok(KernelRead::Truncated)
        ));
        drop(theirs);
        assert!(matches!(
            recv_kernel(ours.as_fd(), &mut buf),
            Ok(KernelRead::Closed)
        ));
    }
}
