//! ike-pfkey: the kernel broker. Started only by ike-parent, with its
//! descriptors at the numbers in `ike_ipc::fds`: the parent channel (3), the
//! ike-net channel (4) and the PF_KEY socket (5). It owns the PF_KEY socket
//! and, once the broker logic (`ike_pfkey::broker`) is wired in below, lets
//! through only the requests the parent's configuration allows.
//!
//! This file is the process skeleton: start-up, privilege drop, sandbox and
//! the event loop. The broker's decisions live in the library.

use ike_ipc::channel::{recv_packet, Channel, ChannelError};
use ike_ipc::mio::{Events, Poll, Token};
use ike_ipc::msg::pfkey::{KernelError, NetToPfkey, PfkeyToNet};
use ike_ipc::msg::{ParentToPfkey, PfkeyToParent};
use ike_ipc::sandbox::{FdUse, Role};
use ike_ipc::timers::Timers;
use ike_ipc::{child, fds};
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

/// The largest PF_KEY message we read (sadb_msg_len is 16 bits of 8-byte
/// units: RFC 2367 2.1, so 512 KiB is the protocol's own ceiling).
const MAX_PFKEY_MESSAGE: usize = 8 * 65535;

fn main() -> ExitCode {
    ike_ipc::childlog::init(log::LevelFilter::Info);
    let mut parent: ParentChannel = match child::take_channel(fds::PARENT) {
        Ok(c) => c,
        Err(e) => {
            log::error!("ike-pfkey must be started by ike-parent: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(&mut parent) {
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

/// Where the broker logic plugs in. Until `ike_pfkey::broker` exists this
/// keeps the kernel socket drained and refuses every request from ike-net:
/// nothing reaches the kernel that the broker's allow-list has not checked.
struct BrokerHook {
    kernel: OwnedFd,
    buf: Vec<u8>,
    kernel_messages: u64,
}

impl BrokerHook {
    fn on_kernel_readable(&mut self) -> Result<(), String> {
        loop {
            match recv_packet(self.kernel.as_fd(), &mut self.buf) {
                Ok((n, _fds)) => {
                    self.kernel_messages += 1;
                    log::debug!("kernel message of {n} bytes: no broker yet, dropped");
                }
                Err(e) if e.is_would_block() => return Ok(()),
                Err(ChannelError::Io(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(ChannelError::Oversized) => log::warn!("oversized PF_KEY message dropped"),
                Err(e) => return Err(format!("PF_KEY socket: {e}")),
            }
        }
    }

    fn on_net_message(&mut self, msg: NetToPfkey) -> PfkeyToNet {
        match msg {
            NetToPfkey::Request { id, req } => {
                log::warn!(
                    "request {id} ({}) refused: no broker yet",
                    request_name(&req)
                );
                PfkeyToNet::Reply {
                    id,
                    result: Err(KernelError::Refused(
                        "the broker is not wired in yet".into(),
                    )),
                }
            }
        }
    }

    fn on_reload(&mut self, _config: ike_ipc::config::Config) {
        log::info!("allowed set reloaded");
    }
}

fn run(parent: &mut ParentChannel) -> Result<(), String> {
    let init = match child::recv_first(parent)? {
        ParentToPfkey::Init(init) => init,
        other => return Err(format!("expected Init from the parent, got {other:?}")),
    };
    log::set_max_level(init.log_level.to_filter());
    let mut net: NetChannel = child::take_channel(fds::PEER)?;
    net.set_nonblocking(true)
        .map_err(|e| format!("ike-net channel: {e}"))?;
    let kernel = fds::take(fds::PFKEY_SOCKET).map_err(|e| format!("PF_KEY socket: {e}"))?;
    ike_ipc::channel::set_nonblocking(kernel.as_fd(), true)
        .map_err(|e| format!("PF_KEY socket: {e}"))?;

    // Before the sandbox: epoll_create, the signal handler, registrations.
    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let reg = poll.registry();
    child::register_fd(reg, parent.as_fd(), PARENT)?;
    child::register_fd(reg, net.as_fd(), NET)?;
    child::register_fd(reg, kernel.as_fd(), KERNEL)?;
    let mut signals = child::signals(reg, SIGNALS)?;

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

    let mut broker = BrokerHook {
        kernel,
        buf: vec![0; MAX_PFKEY_MESSAGE],
        kernel_messages: 0,
    };
    // The broker will arm its own timers here (SA-expiry checks).
    let mut timers: Timers<Timer> = Timers::new();
    let mut events = Events::with_capacity(16);
    loop {
        if let Err(e) = poll.poll(&mut events, timers.timeout(Instant::now())) {
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("poll: {e}"));
        }
        // The parent first: a Shutdown in the same batch as ike-net's channel
        // closing means an orderly stop, not a failure.
        let mut tokens: Vec<Token> = events.iter().map(|e| e.token()).collect();
        tokens.sort_by_key(|t| *t != PARENT);
        for token in tokens {
            match token {
                PARENT => {
                    let mut stop = false;
                    child::drain(parent, |msg| {
                        match msg {
                            ParentToPfkey::Init(_) => return Err("second Init".into()),
                            ParentToPfkey::Reload(cfg) => broker.on_reload(*cfg),
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
                    if stop {
                        log::info!(
                            "shutdown requested by the parent ({} kernel messages seen)",
                            broker.kernel_messages
                        );
                        return Ok(());
                    }
                }
                NET => {
                    // ike-net is untrusted: anything undecodable is fatal.
                    let mut replies = Vec::new();
                    let drained = child::drain(&mut net, |m| {
                        replies.push(broker.on_net_message(m));
                        Ok(())
                    });
                    match drained {
                        Ok(()) => {}
                        Err(child::DrainError::Closed) => {
                            child::deregister_fd(poll.registry(), net.as_fd());
                            timers.arm(Instant::now() + child::PEER_CLOSED_GRACE, Timer::NetGone);
                        }
                        Err(e) => return Err(format!("ike-net channel: {e}")),
                    }
                    for r in replies {
                        net.send(&r).map_err(|e| format!("ike-net channel: {e}"))?;
                    }
                }
                KERNEL => broker.on_kernel_readable()?,
                SIGNALS => {
                    if signals.pending().next().is_some() {
                        log::info!("SIGTERM: stopping");
                        return Ok(());
                    }
                }
                Token(_) => {}
            }
        }
        // Only one kind of timer so far; the broker's will join it.
        if let Some(Timer::NetGone) = timers.expired(Instant::now()).first() {
            return Err("ike-net channel: closed by ike-net".into());
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// ike-net closed our channel; give up unless the parent stops us first.
    NetGone,
}

/// The request's kind, for logs (its contents may hold keys).
fn request_name(req: &ike_ipc::msg::pfkey::KernelRequest) -> String {
    let dbg = format!("{req:?}");
    dbg.split([' ', '(', '{']).next().unwrap_or("?").to_string()
}
