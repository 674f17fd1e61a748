//! ike-cred: the credential process (issue 16). Started only by ike-parent,
//! with the parent channel at fd 3 and ike-net's at fd 4. It holds the
//! PSKs and our private key, and answers ike-net's requests for AUTH values
//! (`ike_cred::serve`); it opens nothing and talks to nobody else.

use ike_cred::views::keystore;
use ike_cred::KeyStore;
use ike_ipc::channel::Channel;
use ike_ipc::config::Config;
use ike_ipc::mio::{Events, Poll, Token};
use ike_ipc::msg::cred::{CredToNet, NetToCred, MAX_CRED_MESSAGE};
use ike_ipc::msg::{CredToParent, ParentToCred};
use ike_ipc::sandbox::{FdUse, Role};
use ike_ipc::{child, fds};
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::time::Instant;

const PARENT: Token = Token(0);
const NET: Token = Token(1);
const SIGNALS: Token = Token(2);

type ParentChannel = Channel<CredToParent, ParentToCred>;
type NetChannel = Channel<CredToNet, NetToCred>;

/// Requests answered per readiness event before the parent gets a turn.
const MAX_NET_MESSAGES: usize = 64;
/// Answers waiting for ike-net beyond this: stop reading its requests until
/// it reads (a well-behaved ike-net has one request out at a time).
const NET_QUEUE_LIMIT: usize = 1 << 20;

fn main() -> ExitCode {
    ike_ipc::childlog::init(log::LevelFilter::Info);
    let mut parent: ParentChannel = match child::take_channel(fds::PARENT) {
        Ok(c) => c,
        Err(e) => {
            log::error!("ike-cred must be started by ike-parent: {e}");
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
            let _ = parent.send(&CredToParent::Fatal(e));
            ExitCode::FAILURE
        }
    }
}

/// The secrets of `config`, with a log line for each one left out.
fn load(config: &Config) -> KeyStore {
    let (store, problems) = keystore(config);
    for p in problems {
        log::warn!("{p}");
    }
    log::info!("holding the secrets of {} policies", store.len());
    store
}

fn run(parent: &mut ParentChannel) -> Result<(), String> {
    let init = match child::recv_first(parent)? {
        ParentToCred::Init(init) => init,
        other => return Err(format!("expected Init from the parent, got {other:?}")),
    };
    log::set_max_level(init.log_level.to_filter());
    let mut net: NetChannel = child::take_channel(fds::PEER)?;
    net.set_name("ike-net channel");
    net.set_max_message(MAX_CRED_MESSAGE);
    net.set_nonblocking(true)
        .map_err(|e| format!("ike-net channel: {e}"))?;

    // Before the sandbox: epoll_create, the signal handler, registrations.
    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let reg = poll.registry();
    child::register_fd(reg, parent.as_fd(), PARENT)?;
    child::register_rw(reg, net.as_fd(), NET)?;
    let mut signals = child::signals(reg, SIGNALS)?;
    // The keys are parsed before the lock-down too (ring reads no file, but
    // an early failure is clearer here).
    let mut store = load(&init.config);
    drop(init.config);
    child::lock_down(
        &init.privdrop,
        Role::Cred,
        &[
            child::with_use(parent, FdUse::Channel),
            child::with_use(&net, FdUse::Channel),
            (child::stderr_fd(), FdUse::Log),
        ],
    )?;
    parent
        .send(&CredToParent::Ready)
        .map_err(|e| format!("parent channel: {e}"))?;
    log::info!(
        "ready: uid {} gid {}, chroot {}",
        init.privdrop.uid,
        init.privdrop.gid,
        init.privdrop.chroot
    );

    let mut events = Events::with_capacity(8);
    // ike-net's channel closed at this time: the parent's Shutdown should
    // follow (orderly stop) or the parent stops us (failure).
    let mut net_closed: Option<Instant> = None;
    let mut net_backlog = false;
    let _batch = ike_ipc::childlog::batch();
    loop {
        let now = Instant::now();
        let wake = match net_closed {
            Some(t) => Some((t + child::PEER_CLOSED_GRACE).saturating_duration_since(now)),
            None if net_backlog && net.queued_bytes() < NET_QUEUE_LIMIT => {
                Some(std::time::Duration::ZERO)
            }
            None => None,
        };
        ike_ipc::childlog::flush();
        if let Err(e) = poll.poll(&mut events, wake) {
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("poll: {e}"));
        }
        if net_closed.is_some_and(|t| t.elapsed() >= child::PEER_CLOSED_GRACE) {
            return Err("ike-net closed its channel".into());
        }
        let mut tokens: Vec<Token> = events.iter().map(|e| e.token()).collect();
        // The parent first: a Shutdown next to ike-net's close is orderly.
        tokens.sort_by_key(|t| *t != PARENT);
        for t in tokens {
            match t {
                PARENT => {
                    let mut stop = false;
                    let r = child::drain(parent, |m| {
                        match m {
                            ParentToCred::Reload(config) => {
                                // The old store (and its secrets) is dropped.
                                store = load(&config);
                                log::info!("secrets reloaded");
                            }
                            ParentToCred::SetLogLevel(l) => log::set_max_level(l.to_filter()),
                            ParentToCred::Shutdown => stop = true,
                            ParentToCred::Init(_) => return Err("a second Init".into()),
                        }
                        Ok(())
                    });
                    if stop {
                        return Ok(());
                    }
                    r.map_err(|e| match e {
                        child::DrainError::Closed => "the parent closed its channel".to_string(),
                        child::DrainError::Failed(e) => {
                            format!("undecodable message from the parent: {e}")
                        }
                    })?;
                }
                NET => net_backlog = net_closed.is_none(),
                SIGNALS => {
                    if signals.pending().next().is_some() {
                        return Ok(());
                    }
                }
                Token(_) => {}
            }
        }
        if net_backlog && net.queued_bytes() < NET_QUEUE_LIMIT {
            let mut replies = Vec::new();
            let r = child::drain_some(&mut net, MAX_NET_MESSAGES, |req| {
                replies.push(ike_cred::serve::answer(&store, &req));
                Ok(())
            });
            for reply in &replies {
                // Never dropped: what the socket does not take waits.
                net.queue_only(reply)
                    .map_err(|e| format!("ike-net channel: {e}"))?;
            }
            match r {
                Ok(more) => net_backlog = more,
                Err(child::DrainError::Closed) => {
                    child::deregister_fd(poll.registry(), net.as_fd());
                    net_closed = Some(Instant::now());
                    net_backlog = false;
                }
                Err(child::DrainError::Failed(e)) => return Err(format!("ike-net channel: {e}")),
            }
        }
        if net_closed.is_none() {
            if let Err(e) = net.flush() {
                // ike-net gone: as if its channel closed (the parent decides).
                log::warn!("ike-net channel: {e}");
                net_closed = Some(Instant::now());
            }
        }
    }
}
