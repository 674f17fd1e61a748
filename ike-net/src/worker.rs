//! ike-net's start-up and event loop: one thread, one `mio::Poll` over the
//! parent channel, the broker channel, the control socket, the UDP sockets
//! and the signal pipe, plus a timer list.
//!
//! Flow control (docs/ipc.md): everything for the broker, the parent
//! and control clients is queued and written once per wakeup (in batches),
//! the rest when the socket is writable; nothing is dropped. While the
//! broker's queue is above its high-water mark, no datagram is read (each
//! could start kernel work): the peers' retransmissions wait in the socket
//! buffers, and reading resumes as soon as the broker has caught up.

use crate::control::{ClientEvent, ControlServer, CLIENT_TOKEN_BASE};
use crate::engine::{EngineAdapter, Outputs};
use crate::udp::{UdpSockets, MAX_DATAGRAM};
use ike_ipc::channel::Channel;
use ike_ipc::mio::{Events, Poll, Token};
use ike_ipc::msg::pfkey::{NetToPfkey, PfkeyToNet};
use ike_ipc::msg::{CtlRequest, CtlResponse, LogLevel, NetToParent, ParentToNet, Stats};
use ike_ipc::sandbox::{FdUse, Role};
use ike_ipc::signals::Signals;
use ike_ipc::timers::Timers;
use ike_ipc::{child, fds};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

const PARENT: Token = Token(0);
const BROKER: Token = Token(1);
const SIGNALS: Token = Token(2);
const CONTROL: Token = Token(3);
const UDP_BASE: usize = 16;

pub type ParentChannel = Channel<NetToParent, ParentToNet>;
/// ike-net <-> ike-pfkey: kernel requests out, replies and events in.
pub type BrokerChannel = Channel<NetToPfkey, PfkeyToNet>;

/// Counter GETs for `show sa` in flight at once: a window, so a table of
/// 100,000 child SAs is read in pages, not all at once.
const COUNTER_WINDOW: usize = 256;
/// How long `show sa` waits for the kernel's counters: this, plus one
/// second per [`COUNTER_WAIT_PER`] kernel SAs, at most [`COUNTER_WAIT_MAX`];
/// after that it answers with what arrived (the rest show as unknown).
const COUNTER_WAIT: Duration = Duration::from_secs(5);
const COUNTER_WAIT_PER: usize = 10_000;
const COUNTER_WAIT_MAX: Duration = Duration::from_secs(60);

/// An on-demand read of the child SAs' kernel counters for `show sa`.
struct CounterRead {
    /// SAs (src, dst, SPI) whose GET is not sent yet.
    todo: Vec<(IpAddr, IpAddr, u32)>,
    deadline: Instant,
    /// Control clients waiting for the answer, and whether they want JSON.
    waiting: Vec<(Token, bool)>,
}

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
    engine: EngineAdapter,
    timers: Timers<Timer>,
    stats: Stats,
    started: Instant,
    buf: Vec<u8>,
    /// UDP sockets left unread because the broker's queue was full.
    udp_paused: BTreeSet<usize>,
    /// Control clients with requests left unread (one at a time).
    ctl_resume: Vec<Token>,
    counters: Option<CounterRead>,
    /// Writing to the broker failed (it is gone; the parent stops us).
    broker_broken: bool,
}

/// Everything up to and including "Ready": adopt fds, read Init, bind
/// nothing (the parent did), drop privileges, enter the sandbox.
pub fn start(parent: &mut ParentChannel) -> Result<Worker, String> {
    let init = match child::recv_first(parent)? {
        ParentToNet::Init(init) => init,
        other => return Err(format!("expected Init from the parent, got {other:?}")),
    };
    log::set_max_level(init.log_level.to_filter());
    let mut broker: BrokerChannel = child::take_channel(fds::PEER)?;
    broker.set_name("broker channel");
    broker
        .set_nonblocking(true)
        .map_err(|e| format!("broker channel: {e}"))?;
    let listener = fds::take(fds::NET_CONTROL).map_err(|e| format!("control socket: {e}"))?;
    ike_ipc::channel::set_nonblocking(listener.as_fd(), true)
        .map_err(|e| format!("control socket: {e}"))?;
    let udp = UdpSockets::adopt(&init.listen)?;
    // The credential process's channel (issue 16): blocking round trips
    // with a receive timeout, set here (setsockopt is outside the sandbox).
    let cred_fd = fds::take(fds::NET_CRED).map_err(|e| format!("ike-cred channel: {e}"))?;
    let creds = ike_cred::client::CredClient::new(cred_fd, ike_cred::client::TIMEOUT)?;

    // Everything that needs a syscall outside the sandbox's list happens
    // here, before lock_down: epoll_create, the signal handler, registering.
    let poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let reg = poll.registry();
    child::register_rw(reg, parent.as_fd(), PARENT)?;
    child::register_rw(reg, broker.as_fd(), BROKER)?;
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
    let cred_use = creds
        .with_fd(|fd| {
            let mut keep = keep;
            keep.push((fd, FdUse::Channel));
            child::lock_down(&init.privdrop, Role::Net, &keep)
        })
        .ok_or("ike-cred channel lock")?;
    cred_use?;

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
        engine: EngineAdapter::new(
            init.config,
            &init.listen,
            Instant::now(),
            std::sync::Arc::new(creds),
        ),
        timers: Timers::new(),
        stats: Stats::default(),
        started: Instant::now(),
        buf: vec![0; MAX_DATAGRAM],
        udp_paused: BTreeSet::new(),
        ctl_resume: Vec::new(),
        counters: None,
        broker_broken: false,
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
        // Log lines go to the parent in batches, written before each wait.
        let _batch = ike_ipc::childlog::batch();
        loop {
            let now = Instant::now();
            let more_input = (!self.udp_paused.is_empty() && !self.broker.is_congested())
                || !self.ctl_resume.is_empty();
            let timeout = [
                self.timers.timeout(now),
                self.counters
                    .as_ref()
                    .map(|c| c.deadline.saturating_duration_since(now)),
                more_input.then_some(Duration::ZERO),
            ]
            .into_iter()
            .flatten()
            .min();
            ike_ipc::childlog::flush();
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(format!("poll: {e}"));
            }
            // The parent first: a Shutdown in the same batch as the broker's
            // channel closing means an orderly stop, not a failure.
            // Writable edges need no handler: the flush at the end of
            // every wakeup writes whatever is queued.
            let mut tokens: Vec<Token> = events
                .iter()
                .filter(|e| e.is_readable() || e.is_read_closed() || e.is_error())
                .map(|e| e.token())
                .collect();
            tokens.sort_by_key(|t| *t != PARENT);
            for token in tokens {
                match token {
                    PARENT => {
                        if let Control::Stop = self.on_parent(parent)? {
                            self.stop(parent);
                            return Ok(());
                        }
                    }
                    BROKER => self.on_broker()?,
                    SIGNALS => {
                        if self.signals.pending().next().is_some() {
                            log::info!("SIGTERM: stopping");
                            self.stop(parent);
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
            self.resume_input(parent)?;
            self.pump_counters();
            self.flush_all(parent)?;
        }
    }

    /// Input left unread for back-pressure, now that there may be room.
    fn resume_input(&mut self, parent: &mut ParentChannel) -> Result<(), String> {
        if !self.broker.is_congested() {
            let paused = std::mem::take(&mut self.udp_paused);
            for idx in paused {
                self.on_udp(idx);
            }
        }
        for t in std::mem::take(&mut self.ctl_resume) {
            self.on_client(parent, t)?;
        }
        Ok(())
    }

    /// Writes what every channel's socket takes. A broken broker channel
    /// is the broker's exit, which the parent sees and acts on.
    fn flush_all(&mut self, parent: &mut ParentChannel) -> Result<(), String> {
        if !self.broker_broken {
            if let Err(e) = self.broker.flush() {
                // Once: the queue stays, and so would the error.
                log::error!("broker channel: {e}");
                self.broker_broken = true;
            }
        }
        parent.flush().map_err(|e| format!("parent channel: {e}"))?;
        self.ctl_resume = self.control.flush(self.poll.registry());
        Ok(())
    }

    /// Sends the next page of counter GETs, or answers the waiting
    /// `show sa` clients when all are in (or the wait is over).
    fn pump_counters(&mut self) {
        let Some(mut read) = self.counters.take() else {
            return;
        };
        while !read.todo.is_empty() && !self.broker.is_congested() {
            let room = COUNTER_WINDOW.saturating_sub(self.engine.counters_outstanding());
            if room == 0 {
                break;
            }
            let at = read.todo.len().saturating_sub(room);
            let page = read.todo.split_off(at);
            for req in self.engine.request_counters(&page) {
                self.queue_kernel(&req);
            }
        }
        let done = read.todo.is_empty() && self.engine.counters_outstanding() == 0;
        if !done && Instant::now() < read.deadline {
            self.counters = Some(read);
            return;
        }
        if !done {
            log::warn!("show sa: the kernel's counters did not all arrive in time");
        }
        for (token, json) in read.waiting {
            let text = self.engine.show_sa(json);
            self.control.respond_text(self.poll.registry(), token, text);
        }
    }

    fn queue_kernel(&mut self, req: &NetToPfkey) {
        match self.broker.queue_only(req) {
            Ok(()) => self.stats.pfkey_tx_messages += 1,
            Err(e) => log::error!("broker channel: {e}"),
        }
    }

    /// An orderly stop: the engine's last words (deletes to the peers and
    /// the kernel), and what the sockets take of what is queued. Best
    /// effort: the broker removes our SAs on its own shutdown anyway.
    fn stop(&mut self, parent: &mut ParentChannel) {
        let out = self.engine.shutdown(Instant::now());
        self.apply(out);
        let _ = self.flush_all(parent);
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
            if self.broker.is_congested() {
                // Back-pressure: the datagrams wait in the socket buffer
                // until the broker has read what we asked already.
                self.udp_paused.insert(idx);
                return;
            }
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
                CtlRequest::ShowSa | CtlRequest::ShowSaJson => {
                    // Answered when the kernel's counters are in.
                    let json = req == CtlRequest::ShowSaJson;
                    self.show_sa(token, json);
                    continue;
                }
                CtlRequest::ShowPolicy => {
                    let text = self.engine.show_policy(false);
                    self.control.respond_text(self.poll.registry(), token, text);
                    continue;
                }
                CtlRequest::ShowPolicyJson => {
                    let text = self.engine.show_policy(true);
                    self.control.respond_text(self.poll.registry(), token, text);
                    continue;
                }
                CtlRequest::Reload => match parent.queue_only(&NetToParent::ReloadRequest) {
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
                CtlRequest::Move(name, addr) => {
                    let r = self.engine.move_local(Instant::now(), &name, addr);
                    self.ctl_result(r)
                }
            };
            self.control.respond(self.poll.registry(), token, &resp);
        }
        Ok(())
    }

    /// `show sa`: joins the counter read in progress or starts one.
    fn show_sa(&mut self, token: Token, json: bool) {
        if let Some(read) = self.counters.as_mut() {
            read.waiting.push((token, json));
            return;
        }
        let todo = self.engine.start_counters();
        let wait = COUNTER_WAIT + Duration::from_secs((todo.len() / COUNTER_WAIT_PER) as u64);
        self.counters = Some(CounterRead {
            todo,
            deadline: Instant::now() + wait.min(COUNTER_WAIT_MAX),
            waiting: vec![(token, json)],
        });
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
        let out = self.broker.out_stats();
        let a = self.engine.admission_stats();
        Stats {
            uptime_secs: self.started.elapsed().as_secs(),
            ike_sas,
            child_sas,
            pfkey_tx_packets: out.packets,
            pfkey_queue_full: out.congested,
            half_open_sas: a.half_open as u64,
            cookie_mode: u64::from(a.cookie_mode),
            leases: self.engine.lease_stats().0,
            lease_failures: self.engine.lease_stats().1,
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
        // Queued, written in batches at the end of the wakeup. An error is
        // a broken channel (the broker is gone): the parent sees its exit
        // and stops the tree.
        for req in out.kernel {
            self.queue_kernel(&req);
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
