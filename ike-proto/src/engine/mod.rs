//! The IKEv2 state machine, without I/O (RFC 7296).
//!
//! One [`Engine`] holds every IKE SA of a daemon. It never touches a socket,
//! a clock, the kernel or the OS random source: the driver (`ike-net`) feeds
//! it inputs and drains its outputs, in the manner of quinn-proto.
//!
//! # Inputs
//!
//! - [`Engine::handle_datagram`]`(now, local, remote, bytes)`: a UDP payload
//!   received on `local` from `remote`. On the NAT-T port (4500) it still
//!   carries the non-ESP marker; the engine strips it.
//! - [`Engine::handle_timeout`]`(now)`: time has reached (or passed) the
//!   instant [`Engine::poll_timeout`] returned.
//! - [`Engine::handle_kernel_event`]`(now, event)`: an answer or
//!   notification from the kernel (through the PF_KEY broker): ACQUIRE,
//!   SPI allocated, SA installed or refused, soft/hard EXPIRE.
//! - [`Engine::handle_command`]`(now, command)`: an operator command.
//!
//! # Outputs (drain after every input)
//!
//! - [`Engine::poll_transmit`] → [`Transmit`]: a datagram to send.
//! - [`Engine::poll_kernel_request`] → [`KernelRequest`]: GETSPI, UPDATE
//!   (inbound SA), ADD (outbound SA), DELETE, policy add/delete.
//! - [`Engine::poll_timeout`] → the next instant `handle_timeout` is due.
//! - [`Engine::poll_event`] → [`Event`]: SA up/down, rekeys, failures.
//!
//! # Set-up and inspection
//!
//! [`Engine::new`] takes a [`Config`] (policies and engine-wide limits), the
//! [`Rng`] and the current time; [`Engine::start`] initiates the `Active`
//! policies and installs `trap` policies; [`Engine::set_config`] reloads.
//! [`Engine::sa_info`] is a snapshot of every IKE SA and CHILD_SA for the
//! control socket.
//!
//! # Kernel SPIs
//!
//! The kernel chooses inbound ESP SPIs. Whenever a CHILD_SA is about to be
//! proposed or accepted, the engine emits [`KernelRequest::AllocateSpi`]
//! and parks that step; [`KernelEvent::SpiAllocated`] with the same
//! [`RequestId`] resumes it (the IKE_AUTH or CREATE_CHILD_SA message goes
//! out then). Retransmissions of the peer's request that arrive meanwhile
//! are ignored (RFC 7296 2.1 lets a responder be slow). A driver whose
//! kernel answers synchronously can feed the answer right after draining.
//!
//! # Randomness
//!
//! Every random value the engine draws comes from the injected [`Rng`];
//! key-exchange private values come from the injected
//! [`KeyExchangeFactory`] (by default `crypto`'s, backed by ring's
//! `SystemRandom`, as ring seals its randomness trait).
//!
//! # Module map
//!
//! - `api`: input/output types; `config`: what to negotiate with whom.
//! - `init`, `auth`, `child`, `info`: the four exchanges; `ike_rekey`: the
//!   IKE SA rekey (a CREATE_CHILD_SA of its own).
//! - `exchange`: protected messages (window, cached answers, reassembly,
//!   dispatch); `lifetime`: retransmission, timeouts, rekeys, expiry, DPD.
//! - `kernel`: SPIs, parked answers, kernel policies and kernel events;
//!   `install`: a CHILD_SA's SAs into the kernel, answered and reported
//!   only once the kernel confirmed them (and the rekey install order).
//! - `inspect`: read-only snapshots for `ike-ctl`.
//! - `proposal`: offers and selection; `ts`: traffic selectors.
//! - `codec`: protected messages and fragments; `reassembly`.
//! - `keys`: IKE and CHILD_SA key material; `cookie`: RFC 7296 2.6.
//! - `endpoint`: the SA table and what routes to it (SPI demultiplexing,
//!   kernel request ids, half-open admission state, timers); `output`: the
//!   output queues and the context per-SA methods get.
//! - `sa`: per-SA state, its phase types and transitions; `seal`: our
//!   messages protected and sent, as SA methods; `timers`: deadlines;
//!   `rng`: randomness.

/// The body of the first payload of one kind in a decoded chain:
/// `first_payload!(payloads, Auth)` is `Option<&Auth>`.
macro_rules! first_payload {
    ($payloads:expr, $kind:ident) => {
        $payloads.iter().find_map(|p| {
            if let Payload::$kind(x) = p {
                Some(x)
            } else {
                None
            }
        })
    };
}

mod admission;
mod api;
mod auth;
mod child;
mod codec;
mod config;
mod cookie;
mod cp;
mod endpoint;
mod exchange;
mod ike_rekey;
mod info;
mod init;
mod inspect;
mod install;
mod kernel;
mod keys;
mod lifetime;
mod mobike;
mod msglog;
mod nat;
mod output;
mod pool;
mod proposal;
mod reassembly;
mod rng;
mod sa;
mod seal;
mod timers;
mod ts;
mod window;

pub use admission::{AdmissionStats, DropReason};
pub use api::{
    ChildInfo, ChildStatus, ChildSuite, Command, Direction, DownReason, Event, FailReason, IkeSaId,
    IkeSaInfo, IkeStatus, IkeSuite, KernelEvent, KernelRequest, PolicyParams, RequestId, SaParams,
    Transmit,
};
pub use auth::credentials::{check_signed_octets, Credentials, KeyStore, SignHow};
pub use config::{
    ChildProposal, Config, Encapsulation, Encr, Identity, IkeProposal, LocalAuth, PeerAuth, Policy,
    RekeySchedule, Retransmit, StartAction,
};
pub use cp::CpPolicy;
pub use pool::{PoolSpec, STICKY_MAX};
pub use rng::{Rng, SeededRng, SystemRng};
pub use ts::{narrow, TrafficSelector};
pub use window::MAX_WINDOW;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::crypto::dh::DefaultKeyExchangeFactory;
use crate::crypto::KeyExchangeFactory;
use crate::wire::consts::{ExchangeType, NotifyType};
use crate::wire::notify::Notify;
use crate::wire::strip_non_esp_marker;
use crate::wire::Header;
use crate::wire::Payload;

use cookie::CookieJar;
use endpoint::{Endpoint, Route};
use output::{Outputs, SaCtx};
use sa::{IkeSa, PendingKind, Phase, Task};

/// Why a kernel request was made, to route its answer.
#[derive(Clone, Copy, Debug)]
enum KernelPurpose {
    /// Initiator's SPI for the CHILD_SA of IKE_AUTH.
    AuthSpi,
    /// SPI for a queued CREATE_CHILD_SA request of ours.
    TaskSpi,
    /// SPI for the parked responder answer to this message ID.
    ParkedSpi(u32),
    /// An SA or policy install of the child with this inbound SPI.
    Install(u32),
}

/// Many IKE SAs and their CHILD_SAs, driven by the inputs above.
///
/// The SA table and everything that routes to it is the `Endpoint`
/// (`endpoint.rs`); this type adds the configuration, randomness, kernel
/// policy references and the output queues, and runs the exchanges.
pub struct Engine {
    cfg: Config,
    rng: Box<dyn Rng>,
    kex: Box<dyn KeyExchangeFactory>,
    /// ring's generator, for key-exchange and signing where ring insists on it.
    sys_rng: ring::rand::SystemRandom,
    /// The IKE SAs, their demultiplexing, half-open admission, timers.
    ep: Endpoint,
    /// Users of each pair of selectors in the kernel's policies.
    policy_refs: kernel::PolicyRefs,
    out: Outputs,
    /// Responder SAs whose IKE_AUTH carried INITIAL_CONTACT, acted on
    /// when the (parked) answer goes out.
    initial_contact: std::collections::HashSet<u64>,
    /// Started at least once: `Active` policies were initiated.
    started: bool,
    /// Configuration payload: address pools, leases, received addresses.
    cp: cp::CpState,
}

impl Engine {
    /// An engine for `cfg`, drawing randomness from `rng`.
    pub fn new(cfg: Config, mut rng: Box<dyn Rng>, now: Instant) -> Engine {
        let cookies = CookieJar::new(now, cfg.cookie_rotation, rng.as_mut());
        Engine {
            cfg,
            rng,
            kex: Box::new(DefaultKeyExchangeFactory),
            sys_rng: ring::rand::SystemRandom::new(),
            ep: Endpoint::new(cookies),
            policy_refs: HashMap::new(),
            out: Outputs::default(),
            initial_contact: Default::default(),
            started: false,
            cp: Default::default(),
        }
    }

    /// Replaces the key-exchange implementation (tests inject recorded
    /// shared secrets this way; see `crypto::RecordedKeyExchange`).
    pub fn set_key_exchange(&mut self, kex: Box<dyn KeyExchangeFactory>) {
        self.kex = kex;
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Initiates every policy whose start action is `Active` (once).
    pub fn start(&mut self, now: Instant) {
        if self.started {
            return;
        }
        self.started = true;
        let active: Vec<Arc<Policy>> = self
            .cfg
            .policies
            .iter()
            .filter(|p| p.start == StartAction::Active)
            .cloned()
            .collect();
        let traps: Vec<Arc<Policy>> = self
            .cfg
            .policies
            .iter()
            .filter(|p| p.trap)
            .cloned()
            .collect();
        for p in traps {
            self.install_trap(&p);
        }
        for p in active {
            self.initiate(now, p, None);
        }
    }

    /// Replaces the configuration (reload). Existing SAs keep the policy
    /// they were negotiated with; the caller terminates those of removed or
    /// changed policies first. `Active` policies without an IKE SA are
    /// initiated if the engine was started; traps of new policies are
    /// installed, those of removed ones (by name) deleted.
    pub fn set_config(&mut self, now: Instant, cfg: Config) {
        let old_policies = std::mem::take(&mut self.cfg.policies);
        self.cfg = cfg;
        if !self.started {
            return;
        }
        // A trap follows its policy by name: it goes when the policy goes
        // or its kernel-relevant settings change, and comes with a new or
        // changed policy.
        let traps_of = |p: &Policy| {
            p.trap.then(|| {
                (
                    p.local_ts.clone(),
                    p.peer_ts.clone(),
                    p.mode,
                    p.local_addr,
                    p.peer_addr,
                )
            })
        };
        let mut remove: Vec<Arc<Policy>> = Vec::new();
        let mut install: Vec<Arc<Policy>> = Vec::new();
        for o in old_policies.iter().filter(|o| o.trap) {
            match self.cfg.policies.iter().find(|n| n.name == o.name) {
                Some(n) if traps_of(n) == traps_of(o) => {}
                _ => remove.push(o.clone()),
            }
        }
        for n in self.cfg.policies.iter().filter(|n| n.trap) {
            match old_policies.iter().find(|o| o.name == n.name) {
                Some(o) if traps_of(o) == traps_of(n) => {}
                _ => install.push(n.clone()),
            }
        }
        for p in remove {
            self.remove_trap(&p);
        }
        for p in install {
            self.install_trap(&p);
        }
        let active: Vec<Arc<Policy>> = self
            .cfg
            .policies
            .iter()
            .filter(|p| p.start == StartAction::Active)
            // An SA on its way out (terminated before the reload) does not count.
            .filter(|p| {
                !self.ep.sas.values().any(|s| {
                    s.policy.name == p.name
                        && !matches!(s.phase(), Phase::Deleting | Phase::Rekeyed)
                })
            })
            .cloned()
            .collect();
        for p in active {
            self.initiate(now, p, None);
        }
    }

    // ----- inputs ---------------------------------------------------------

    /// A UDP payload arrived on `local` from `remote`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: &[u8],
    ) {
        let msg = if local.port() == self.cfg.natt_port {
            // RFC 3948 2.2: IKE on 4500 starts with the non-ESP marker;
            // anything else (ESP, keepalives) is not ours.
            match strip_non_esp_marker(bytes) {
                Some(m) => m,
                None => return,
            }
        } else {
            bytes
        };
        let Ok(header) = Header::parse_bytes(msg) else {
            self.note_drop(
                now,
                DropReason::Malformed,
                remote,
                format_args!("no IKE header"),
            );
            return;
        };
        if header.major_version != Header::MAJOR_VERSION {
            self.bad_version(now, local, remote, &header);
            return;
        }
        let ours = match self.ep.route(&header) {
            Route::InitRequest => {
                self.init_request(now, local, remote, header, msg);
                return;
            }
            Route::Unknown => {
                let x = header.exchange;
                self.note_drop(
                    now,
                    DropReason::Unexpected,
                    remote,
                    format_args!("{x}: no such IKE SA"),
                );
                return;
            }
            Route::Ignore => return,
            Route::InitResponse(h) => {
                self.init_response(now, h, remote, header, msg);
                return;
            }
            Route::Protected(h) => h,
        };
        self.protected(now, ours, local, remote, header, msg);
        self.after_input(ours, now);
    }

    /// Time advanced to `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.ep.cookies.maybe_rotate(now, self.rng.as_mut());
        while let Some(h) = self.ep.timers.pop_due(now) {
            self.on_timer(h, now);
            self.after_input(h, now);
        }
    }

    /// An event from the kernel.
    pub fn handle_kernel_event(&mut self, now: Instant, event: KernelEvent) {
        self.kernel_event(now, event);
    }

    /// An operator command.
    pub fn handle_command(&mut self, now: Instant, command: Command) {
        match command {
            Command::Initiate { policy } => {
                let Some(p) = self.policy_by_name(&policy) else {
                    return;
                };
                // An established IKE SA without a child gets one; otherwise
                // a new IKE SA (initiate() ignores a second one in progress).
                let up = self
                    .ep
                    .sas
                    .iter()
                    .find(|(_, s)| s.policy.name == p.name && s.phase() == Phase::Established)
                    .map(|(h, s)| (*h, s.children.is_empty()));
                match up {
                    Some((h, true)) => self.queue(now, h, Task::NewChild),
                    Some((_, false)) => {}
                    None => self.initiate(now, p, None),
                }
            }
            Command::Terminate { policy } => {
                let hs: Vec<u64> = self
                    .ep
                    .sas
                    .iter()
                    .filter(|(_, s)| s.policy.name == policy)
                    .map(|(h, _)| *h)
                    .collect();
                for h in hs {
                    self.terminate(now, h);
                }
            }
            Command::TerminateSa { ike } => self.terminate(now, ike.0),
            Command::RekeyIke { ike } => self.queue(now, ike.0, Task::RekeyIke),
            Command::RekeyChild { ike, spi_in } => self.queue(now, ike.0, Task::RekeyChild(spi_in)),
            Command::DeleteChild { ike, spi_in } => {
                self.queue(now, ike.0, Task::DeleteChild(spi_in))
            }
            Command::Dpd { ike } => self.queue(now, ike.0, Task::Dpd),
            Command::MoveLocal { ike, local } => self.mobike_move(now, ike.0, local),
        }
    }

    // ----- outputs --------------------------------------------------------

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.transmits.pop_front()
    }

    /// The next request for the kernel.
    pub fn poll_kernel_request(&mut self) -> Option<KernelRequest> {
        self.out.kernel_out.pop_front()
    }

    /// When `handle_timeout` should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.ep.timers.next()
    }

    /// The next event for logs and the control socket.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.events.pop_front()
    }

    // ----- shared helpers -------------------------------------------------

    fn policy_by_name(&self, name: &str) -> Option<Arc<Policy>> {
        self.cfg.policies.iter().find(|p| p.name == name).cloned()
    }

    /// Asks the kernel for an inbound ESP SPI from `src` (peer) to `dst` (us).
    fn request_spi(
        &mut self,
        request: RequestId,
        h: u64,
        purpose: KernelPurpose,
        src: std::net::IpAddr,
        dst: std::net::IpAddr,
    ) {
        self.ep.kernel_pending.insert(request, (h, purpose));
        self.ep.spi_requests.insert(request, (src, dst));
        self.out.kernel_out.push_back(KernelRequest::AllocateSpi {
            request,
            protocol: crate::wire::consts::ProtocolId::ESP,
            src,
            dst,
        });
    }

    fn nonce(&mut self) -> Vec<u8> {
        // 32 bytes: at least half the PRF key size of every PRF we offer
        // (RFC 7296 2.10).
        let mut n = vec![0u8; 32];
        self.rng.fill(&mut n);
        n
    }

    /// Sends a protected request on `h` and waits for its response; while
    /// the peer's window is full (or older requests wait), it waits in
    /// `deferred` and goes out from `run_tasks` (RFC 7296 2.3).
    fn send_request(
        &mut self,
        now: Instant,
        h: u64,
        exchange: ExchangeType,
        payloads: Vec<Payload>,
        kind: PendingKind,
    ) {
        let req = window::Deferred {
            exchange,
            payloads,
            kind,
        };
        if let Some(req) = self.ep.sas.get_mut(&h).and_then(|sa| sa.defer(req)) {
            self.transmit_request(now, h, req);
        }
    }

    /// Sends the deferred requests the peer's window has room for now.
    fn flush_deferred(&mut self, now: Instant, h: u64) {
        while let Some(d) = self.ep.sas.get_mut(&h).and_then(|sa| sa.next_deferred()) {
            self.transmit_request(now, h, d);
        }
    }

    /// Takes the deferred (unsent) requests off an SA that will send no
    /// more: their kernel SPIs are given back and the work they stood for
    /// is returned as tasks (for the SA that takes over, if any).
    fn drop_deferred(&mut self, h: u64) -> Vec<Task> {
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return Vec::new();
        };
        let deferred = std::mem::take(&mut sa.send.deferred);
        let mut tasks = Vec::new();
        for d in deferred {
            match d.kind {
                PendingKind::Child(req) => {
                    self.release_spi(h, req.spi_in);
                    let sa = self.ep.sas.get_mut(&h);
                    match req.rekey_of {
                        Some(old) => {
                            if let Some(c) = sa.and_then(|s| s.child_by_in(old)) {
                                c.state = sa::ChildState::Installed;
                            }
                            tasks.push(Task::RekeyChild(old));
                        }
                        None => tasks.push(Task::NewChild),
                    }
                }
                PendingKind::Delete { children } => {
                    tasks.extend(children.into_iter().map(Task::DeleteChild))
                }
                _ => {}
            }
        }
        tasks
    }

    /// Seals and sends a request now; the window was checked.
    fn transmit_request(&mut self, now: Instant, h: u64, req: window::Deferred) {
        let Some((sa, mut cx)) = self.sa_ctx(h) else {
            return;
        };
        if let Err(req) = sa.transmit_request(&mut cx, now, req) {
            self.request_unsendable(now, h, req.exchange, req.kind);
        }
    }

    /// Our request could not be sealed, so it will never go out and never
    /// be answered: abandon the exchange visibly (log, `Failed`) and undo
    /// what it stood for, so that nothing waits without a timer.
    fn request_unsendable(
        &mut self,
        now: Instant,
        h: u64,
        exchange: ExchangeType,
        kind: PendingKind,
    ) {
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        log::error!(
            "policy {}: our {exchange} request cannot be encoded; exchange abandoned",
            sa.policy.name
        );
        let reason = FailReason::Unencodable;
        match kind {
            // IKE_SA_INIT is not protected; it never comes here.
            PendingKind::Init { .. } => {}
            // No SA without IKE_AUTH: remove it and its child's SPI.
            PendingKind::Auth { child } => {
                self.auth_failed(h, reason, child.map(|c| c.spi_in));
            }
            // SPI given back; a rekey is tried again later (or the child
            // is deleted at its hard lifetime).
            PendingKind::Child(req) => {
                let collided = req.collision.is_some();
                self.child_request_failed(now, h, req.spi_in, req.rekey_of, collided, reason)
            }
            // The old SA stays until its hard lifetime; tried again later.
            PendingKind::RekeyIke { .. } => {
                sa.rekey_at = Some(now + child::RETRY_REKEY);
                self.failed_event(h, reason);
            }
            // We cannot tell the peer, but we wanted them gone: remove
            // them here as if the peer had confirmed (its side expires or
            // finds out by DPD).
            PendingKind::Delete { children } => {
                self.failed_event(h, reason);
                self.delete_response(now, h, children, Vec::new());
            }
            // Nothing to undo: a liveness check is queued again at the next
            // interval; the window announcement only enlarged ours.
            PendingKind::Dpd | PendingKind::AnnounceWindow | PendingKind::Mobike(_) => {
                self.failed_event(h, reason)
            }
        }
    }

    /// A `Failed` event about IKE SA `h`.
    fn failed_event(&mut self, h: u64, reason: FailReason) {
        if let Some(sa) = self.ep.sas.get(&h) {
            self.out.events.push_back(Event::Failed {
                ike: Some(IkeSaId(h)),
                policy: Some(sa.policy.name.clone()),
                remote: sa.remote,
                reason,
            });
        }
    }

    /// Sends a protected request we will not wait for: the last word
    /// before we delete the SA (RFC 7296 2.21.2).
    fn send_last_word(&mut self, h: u64, exchange: ExchangeType, payloads: Vec<Payload>) {
        let _ = self.seal_request(h, exchange, &payloads);
    }

    /// Protects `payloads` as our next request on `h`, sends it, and takes
    /// its message ID; returns that ID and the datagrams sent (one, or the
    /// RFC 7383 fragments) for the retransmission cache.
    fn seal_request(
        &mut self,
        h: u64,
        exchange: ExchangeType,
        payloads: &[Payload],
    ) -> Option<(u32, Vec<Vec<u8>>)> {
        let (sa, mut cx) = self.sa_ctx(h)?;
        sa.seal_request(&mut cx, exchange, payloads)
    }

    /// Sends (and caches) a protected response to request `message_id`.
    ///
    /// Returns false when the answer could not be encoded (say, a fragment
    /// MTU too small for any fragment): the peer then gets a short error
    /// answer instead (so that its request does not stay unanswered and
    /// its window moves on), the failure is logged and reported, and the
    /// caller undoes what the answer would have set up.
    fn send_response(
        &mut self,
        h: u64,
        exchange: ExchangeType,
        message_id: u32,
        payloads: Vec<Payload>,
    ) -> bool {
        if self.seal_response(h, exchange, message_id, &payloads) {
            return true;
        }
        let Some(sa) = self.ep.sas.get(&h) else {
            return false;
        };
        log::error!(
            "policy {}: our {exchange} answer cannot be encoded; refusing the request instead",
            sa.policy.name
        );
        self.failed_event(h, FailReason::Unencodable);
        let code = match exchange {
            ExchangeType::IKE_AUTH => Some(NotifyType::AUTHENTICATION_FAILED),
            ExchangeType::CREATE_CHILD_SA => Some(NotifyType::NO_PROPOSAL_CHOSEN),
            _ => None,
        };
        let fallback: Vec<Payload> = code.map(|c| notify(c, Vec::new())).into_iter().collect();
        if !self.seal_response(h, exchange, message_id, &fallback) {
            log::error!("cannot encode even an error answer to request {message_id}");
        }
        false
    }

    /// Seals, caches and sends one answer; false if it cannot be encoded.
    fn seal_response(
        &mut self,
        h: u64,
        exchange: ExchangeType,
        message_id: u32,
        payloads: &[Payload],
    ) -> bool {
        let Some((sa, mut cx)) = self.sa_ctx(h) else {
            return false;
        };
        sa.seal_response(&mut cx, exchange, message_id, payloads)
    }

    /// IKE SA `h` and what its own methods may use beside it.
    fn sa_ctx(&mut self, h: u64) -> Option<(&mut IkeSa, SaCtx<'_>)> {
        let sa = self.ep.sas.get_mut(&h)?;
        let cx = SaCtx {
            cfg: &self.cfg,
            rng: self.rng.as_mut(),
            out: &mut self.out,
        };
        Some((sa, cx))
    }

    /// Adds work for an IKE SA and starts it if the window is free.
    fn queue(&mut self, now: Instant, h: u64, task: Task) {
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        if !sa.tasks.contains(&task) {
            sa.tasks.push_back(task);
        }
        self.after_input(h, now);
    }

    /// After any input touching `h`: start queued work, re-arm the timer.
    fn after_input(&mut self, h: u64, now: Instant) {
        self.run_tasks(h, now);
        self.rearm(h, now);
    }

    /// Sends deferred requests, then starts queued tasks while the window
    /// has room. Tasks start in queue order, except that one about a child
    /// with a request under way lets later ones pass. A serial task (IKE
    /// SA rekey or delete, see `PendingKind::is_serial`) waits until
    /// nothing is outstanding, and nothing behind it starts before it.
    fn run_tasks(&mut self, h: u64, now: Instant) {
        self.flush_deferred(now, h);
        while let Some(task) = self.ep.sas.get_mut(&h).and_then(|sa| sa.next_task()) {
            self.start_task(now, h, task);
        }
    }

    fn start_task(&mut self, now: Instant, h: u64, task: Task) {
        match task {
            Task::NewChild | Task::RekeyChild(_) => self.child_task_start(h, task),
            Task::RekeyIke => self.rekey_ike_start(now, h),
            Task::DeleteChild(spi) => self.delete_child_start(now, h, spi),
            Task::DeleteIke => self.delete_ike_start(now, h),
            Task::Dpd => self.send_request(
                now,
                h,
                ExchangeType::INFORMATIONAL,
                Vec::new(),
                PendingKind::Dpd,
            ),
            Task::AnnounceWindow => {
                let size = self.cfg.window;
                let Some(n) = window::announcement(size) else {
                    return;
                };
                // From now on the peer may use it: accept that many.
                if let Some(sa) = self.ep.sas.get_mut(&h) {
                    sa.recv.set_size(size);
                }
                self.send_request(
                    now,
                    h,
                    ExchangeType::INFORMATIONAL,
                    vec![n],
                    PendingKind::AnnounceWindow,
                );
            }
        }
    }

    /// Deletes an IKE SA the polite way (DELETE exchange), or at once if it
    /// is not established.
    fn terminate(&mut self, now: Instant, h: u64) {
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        if sa.phase() == Phase::Established {
            sa.delete_next();
            self.after_input(h, now);
        } else {
            self.remove_sa(h, DownReason::Terminated);
        }
    }

    /// Forgets an IKE SA: its CHILD_SAs leave the kernel, events go out.
    fn remove_sa(&mut self, h: u64, reason: DownReason) {
        let Some(sa) = self.ep.sas.remove(&h) else {
            return;
        };
        let half_open = !sa.initiator && sa.phase() == Phase::Auth;
        self.ep.forget(h, &sa, half_open);
        if half_open {
            self.refresh_cookie_mode();
        }
        self.initial_contact.remove(&h);
        // Every end of an IKE SA passes here: its leases go back to the pool.
        let freed = self.cp.forget(h);
        if !freed.is_empty() {
            log::info!("IKE SA {h:#x}: released {freed:?}");
            self.out.events.push_back(Event::Lease {
                ike: IkeSaId(h),
                peer: sa.remote,
                addrs: freed,
                lent: false,
            });
        }
        // Inbound SPIs the kernel reserved for children that will now never
        // be: give them back, or larval SAs would pile up.
        let mut unused = Vec::new();
        if let Some(s) = sa.auth().and_then(|a| a.child_spi) {
            unused.push(s);
        }
        for k in sa.requests() {
            match k {
                PendingKind::Auth { child: Some(c) } | PendingKind::Child(c) => {
                    unused.push(c.spi_in)
                }
                _ => {}
            }
        }
        for spi in unused {
            self.out.kernel_out.push_back(KernelRequest::DeleteSa {
                protocol: crate::wire::consts::ProtocolId::ESP,
                spi,
                src: sa.remote.ip(),
                dst: sa.local.ip(),
            });
        }
        let was_up = matches!(
            sa.phase(),
            Phase::Established | Phase::Deleting | Phase::Rekeyed
        );
        for c in &sa.children {
            kernel::delete_child_requests(&mut self.out.kernel_out, &mut self.policy_refs, &sa, c);
            if !c.up {
                continue; // never reported up
            }
            self.out.events.push_back(Event::ChildDown {
                ike: IkeSaId(h),
                spi_in: c.spi_in,
                spi_out: c.spi_out,
                reason,
            });
        }
        if was_up {
            self.out.events.push_back(Event::IkeDown {
                ike: IkeSaId(h),
                policy: sa.policy.name.clone(),
                reason,
            });
        }
    }

    /// An unprotected error notify in answer to an IKE_SA_INIT request
    /// (RFC 7296 2.21.1); no state is kept.
    fn init_error(&mut self, local: SocketAddr, remote: SocketAddr, req: &Header, notify: Notify) {
        let header = codec::header(req.spi_i, 0, ExchangeType::IKE_SA_INIT, false, true, 0);
        let natt = local.port() == self.cfg.natt_port;
        let payloads = vec![Payload::Notify(notify)];
        msglog::message(true, remote, &header, &payloads);
        if let Some(b) = codec::plain(header, payloads, natt) {
            self.out.emit(local, remote, &[b]);
        }
    }
}

/// A status or error notify without SPI.
pub(crate) fn notify(t: NotifyType, data: Vec<u8>) -> Payload {
    Payload::Notify(Notify::new(t, data))
}

/// The notifies of a payload list.
pub(crate) fn notifies(payloads: &[Payload]) -> impl Iterator<Item = &Notify> {
    payloads.iter().filter_map(|p| match p {
        Payload::Notify(n) => Some(n),
        _ => None,
    })
}

pub(crate) fn find_notify(payloads: &[Payload], t: NotifyType) -> Option<&Notify> {
    notifies(payloads).find(|n| n.notify_type == t)
}

/// The first error notify, if the peer sent one.
pub(crate) fn error_notify(payloads: &[Payload]) -> Option<NotifyType> {
    notifies(payloads)
        .map(|n| n.notify_type)
        .find(|t| t.is_error())
}
