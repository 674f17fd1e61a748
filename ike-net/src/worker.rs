//! ike-net's start-up and event loop: one thread, one `mio::Poll` over the
//! parent channel, the broker channel, the control socket, the UDP sockets
//! and the signal pipe, plus a timer list.

use crate::control::{ClientEvent, ControlServer, CLIENT_TOKEN_BASE};
use crate::engine::{Engine, Outputs};
use crate::udp::{UdpSockets, MAX_DATAGRAM};
use ike_ipc::channel::Channel;
use ike_ipc::mio::{Events, Poll, Token};
use ike_ipc::msg::pfkey::{NetToPfkey, PfkeyToNet};
use ike_ipc::msg::{CtlRequest, CtlResponse, LogLevel, NetToParent, ParentToNet, Stats};
use ike_ipc::sandbox::{FdUse, Role};
use ike_ipc::timers::Timers;
use ike_ipc::{child, fds};
use signal_hook_mio::v1_0::Signals;
use std::os::fd::AsFd;
use std::time::Instant;

const PARENT: Token = Token(0);
const BROKER: Token = Token(1);
const SIGNALS: Token = Token(2);
const CONTROL: Token = Token(3);
const UDP_BASE: usize = 16;

pub type ParentChannel = Channel<NetToParent, ParentToNet>;
/// ike-net <-> ike-pfkey: kernel requests out, replies and events in.
pub type BrokerChannel = Channel<NetToPfkey, PfkeyToNet>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Engine,
    /// The broker closed our channel; give up unless the parent stops us first.
    BrokerGone,
}

pub struct Worker {
    poll: Poll,
    signals: Signals,
    broker: BrokerChannel,
    control: ControlServer,
    udp: UdpSockets,
    engine: Engine,
    timers: Timers<Timer>,
    stats: Stats,
    started: Instant,
    buf: Vec<u8>,
}

/// Everything up to and including "Ready": adopt fds, read Init, bind
/// nothing (the parent did), drop privileges, enter the sandbox.
pub fn start(parent: &mut ParentChannel) -> Result<Worker, String> {
    let init = match child::recv_first(parent)? {
        ParentToNet::Init(init) => init,
        other => return Err(format!("expected Init from the parent, got {other:?}")),
    };
    log::set_max_level(init.log_level.to_filter());
    let broker: BrokerChannel = child::take_channel(fds::PEER)?;
    broker
        .set_nonblocking(true)
        .map_err(|e| format!("broker channel: {e}"))?;
    let listener = fds::take(fds::NET_CONTROL).map_err(|e| format!("control socket: {e}"))?;
    ike_ipc::channel::set_nonblocking(listener.as_fd(), true)
        .map_err(|e| format!("control socket: {e}"))?;
    let udp = UdpSockets::adopt(&init.listen)?;

    // Everything that needs a syscall outside the sandbox's list happens
    // here, before lock_down: epoll_create, the signal handler, registering.
    let poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let reg = poll.registry();
    child::register_fd(reg, parent.as_fd(), PARENT)?;
    child::register_fd(reg, broker.as_fd(), BROKER)?;
    child::register_fd(reg, listener.as_fd(), CONTROL)?;
    for (i, (s, _)) in udp.sockets.iter().enumerate() {
        child::register_fd(reg, s.as_fd(), Token(UDP_BASE + i))?;
    }
    let signals = child::signals(reg, SIGNALS)?;

    let mut keep = vec![
        child::with_use(parent, FdUse::Channel),
        child::with_use(&broker, FdUse::Channel),
        child::with_use(&listener, FdUse::Listener),
        (child::stderr_fd(), FdUse::Log),
    ];
    for (s, _) in &udp.sockets {
        keep.push(child::with_use(s, FdUse::Datagram));
    }
    child::lock_down(&init.privdrop, Role::Net, &keep)?;
    drop(keep);

    parent
        .send(&NetToParent::Ready)
        .map_err(|e| format!("parent channel: {e}"))?;
    log::info!(
        "ready: uid {} gid {}, chroot {}, {} UDP sockets",
        init.privdrop.uid,
        init.privdrop.gid,
        init.privdrop.chroot,
        udp.sockets.len()
    );
    let init = *init;
    Ok(Worker {
        poll,
        signals,
        broker,
        control: ControlServer::new(listener, init.control_uid),
        udp,
        engine: Engine::new(init.config, &init.listen, Instant::now()),
        timers: Timers::new(),
        stats: Stats::default(),
        started: Instant::now(),
        buf: vec![0; MAX_DATAGRAM],
    })
}

/// What the parent asked for.
enum Control {
    Continue,
    Stop,
}

impl Worker {
    /// Runs until Shutdown/SIGTERM (Ok) or a fatal error (Err).
    pub fn run(&mut self, parent: &mut ParentChannel) -> Result<(), String> {
        let mut events = Events::with_capacity(64);
        loop {
            let timeout = self.timers.timeout(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(format!("poll: {e}"));
            }
            // The parent first: a Shutdown in the same batch as the broker's
            // channel closing means an orderly stop, not a failure.
            let mut tokens: Vec<Token> = events.iter().map(|e| e.token()).collect();
            tokens.sort_by_key(|t| *t != PARENT);
            for token in tokens {
                match token {
                    PARENT => {
                        if let Control::Stop = self.on_parent(parent)? {
                            let out = self.engine_shutdown();
                            self.apply(out);
                            return Ok(());
                        }
                    }
                    BROKER => self.on_broker()?,
                    SIGNALS => {
                        if self.signals.pending().next().is_some() {
                            log::info!("SIGTERM: stopping");
                            let out = self.engine_shutdown();
                            self.apply(out);
                            return Ok(());
                        }
                    }
                    CONTROL => {
                        let refused = self.control.accept_all(self.poll.registry())?;
                        self.stats.ctl_refused += refused;
                    }
                    Token(t) if t >= CLIENT_TOKEN_BASE => self.on_client(parent, Token(t))?,
                    Token(t) if t >= UDP_BASE => self.on_udp(t - UDP_BASE),
                    Token(_) => {}
                }
            }
            let now = Instant::now();
            for t in self.timers.expired(now) {
                match t {
                    Timer::Engine => {
                        let out = self.engine.on_timeout(now);
                        self.apply(out);
                    }
                    Timer::BrokerGone => {
                        return Err("broker channel: closed by ike-pfkey".into());
                    }
                }
            }
        }
    }

    fn engine_shutdown(&mut self) -> Outputs {
        self.engine.shutdown(Instant::now())
    }

    fn on_parent(&mut self, parent: &mut ParentChannel) -> Result<Control, String> {
        let mut verdict = Control::Continue;
        let mut outs = Vec::new();
        child::drain(parent, |msg| {
            match msg {
                ParentToNet::Init(_) => return Err("second Init from the parent".into()),
                ParentToNet::Reload(cfg) => {
                    log::info!("configuration reloaded");
                    outs.push(self.engine.reload(Instant::now(), *cfg));
                }
                ParentToNet::SetLogLevel(l) => log::set_max_level(l.to_filter()),
                ParentToNet::Shutdown => {
                    log::info!("shutdown requested by the parent");
                    verdict = Control::Stop;
                }
            }
            Ok(())
        })
        .map_err(|e| match e {
            child::DrainError::Closed => "the parent went away".to_string(),
            child::DrainError::Failed(e) => format!("undecodable message from the parent: {e}"),
        })?;
        let reloaded = !outs.is_empty();
        for o in outs {
            self.apply(o);
        }
        if reloaded {
            self.control
                .broadcast(self.poll.registry(), "configuration reloaded");
        }
        Ok(verdict)
    }

    /// Replies and events from the broker. The broker is a sibling we do
    /// not control: anything undecodable from it is fatal (fail closed).
    fn on_broker(&mut self) -> Result<(), String> {
        let mut msgs = Vec::new();
        let drained = child::drain(&mut self.broker, |m| {
            msgs.push(m);
            Ok(())
        });
        match drained {
            Ok(()) => {}
            Err(child::DrainError::Closed) => {
                child::deregister_fd(self.poll.registry(), self.broker.as_fd());
                self.timers
                    .arm(Instant::now() + child::PEER_CLOSED_GRACE, Timer::BrokerGone);
            }
            Err(e) => return Err(format!("broker channel: {e}")),
        }
        for m in msgs {
            self.stats.pfkey_rx_messages += 1;
            let out = self.engine.on_kernel(Instant::now(), m);
            self.apply(out);
        }
        Ok(())
    }

    fn on_udp(&mut self, idx: usize) {
        loop {
            match self.udp.recv_local(idx, &mut self.buf) {
                Ok(d) => {
                    self.stats.udp_rx_datagrams += 1;
                    self.stats.udp_rx_bytes += d.len as u64;
                    let bytes = self.buf.get(..d.len).unwrap_or(&[]);
                    let out = self
                        .engine
                        .on_datagram(Instant::now(), idx, d.local, d.from, bytes);
                    self.apply(out);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // ICMP errors surface here as ECONNREFUSED etc.; not fatal.
                    log::debug!("UDP socket {idx}: {e}");
                    return;
                }
            }
        }
    }

    fn on_client(&mut self, parent: &mut ParentChannel, token: Token) -> Result<(), String> {
        let registry = self.poll.registry();
        for ev in self.control.readable(registry, token) {
            let (token, req) = match ev {
                ClientEvent::Request(t, r) => (t, r),
                ClientEvent::Gone { bad } => {
                    if bad {
                        self.stats.ctl_refused += 1;
                    }
                    continue;
                }
            };
            self.stats.ctl_requests += 1;
            let resp = match req {
                CtlRequest::ShowStats => CtlResponse::Stats(self.current_stats()),
                CtlRequest::ShowSa => CtlResponse::Text(self.engine.show_sa(false)),
                CtlRequest::ShowSaJson => CtlResponse::Text(self.engine.show_sa(true)),
                CtlRequest::ShowPolicy => CtlResponse::Text(self.engine.show_policy(false)),
                CtlRequest::ShowPolicyJson => CtlResponse::Text(self.engine.show_policy(true)),
                CtlRequest::Reload => match parent.send(&NetToParent::ReloadRequest) {
                    Ok(()) => CtlResponse::Ok,
                    Err(e) => return Err(format!("parent channel: {e}")),
                },
                CtlRequest::LogVerbose(v) => {
                    let l = if v { LogLevel::Debug } else { LogLevel::Info };
                    log::set_max_level(l.to_filter());
                    CtlResponse::Ok
                }
                CtlRequest::Monitor => {
                    self.control.set_monitor(token);
                    CtlResponse::Ok
                }
                CtlRequest::Up(name) => {
                    let r = self.engine.up(Instant::now(), &name);
                    self.ctl_result(r)
                }
                CtlRequest::Down(name) => {
                    let r = self.engine.down(Instant::now(), &name);
                    self.ctl_result(r)
                }
                CtlRequest::Rekey(name) => {
                    let r = self.engine.rekey(Instant::now(), &name);
                    self.ctl_result(r)
                }
            };
            self.control.respond(self.poll.registry(), token, &resp);
        }
        Ok(())
    }

    /// An operator command's outcome: carry out its outputs, answer.
    fn ctl_result(&mut self, r: Result<Outputs, String>) -> CtlResponse {
        match r {
            Ok(out) => {
                self.apply(out);
                CtlResponse::Ok
            }
            Err(e) => CtlResponse::Error(e),
        }
    }

    fn current_stats(&self) -> Stats {
        let (ike_sas, child_sas) = self.engine.sa_counts();
        let a = self.engine.admission_stats();
        Stats {
            uptime_secs: self.started.elapsed().as_secs(),
            ike_sas,
            child_sas,
            half_open_sas: a.half_open as u64,
            cookie_mode: u64::from(a.cookie_mode),
            drops: a
                .drops
                .iter()
                .map(|(r, n)| (r.name().to_string(), *n))
                .collect(),
            ..self.stats.clone()
        }
    }

    /// Carries out what the engine asked for.
    fn apply(&mut self, out: Outputs) {
        for t in out.transmits {
            match self.udp.send_from(t.socket, t.from.ip(), t.to, &t.bytes) {
                Ok(n) => {
                    self.stats.udp_tx_datagrams += 1;
                    self.stats.udp_tx_bytes += n as u64;
                }
                Err(e) => log::debug!("send to {}: {e}", t.to),
            }
        }
        for req in out.kernel {
            match self.broker.send(&req) {
                Ok(()) => self.stats.pfkey_tx_messages += 1,
                // The broker is gone or the channel broke: the parent will
                // see the broker's exit and stop the tree.
                Err(e) => log::error!("broker channel: {e}"),
            }
        }
        self.timers.cancel(&Timer::Engine);
        if let Some(at) = out.next_timeout {
            self.timers.arm(at, Timer::Engine);
        }
        for line in out.events {
            self.control.broadcast(self.poll.registry(), &line);
        }
    }
}
