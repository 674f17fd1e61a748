//! The kernel broker's logic, without I/O (the `ike-pfkey` binary drives it).
//!
//! Inputs: bytes read from the PF_KEY socket ([`Broker::handle_kernel`]),
//! requests from ike-net ([`Broker::handle_net`]), the clock
//! ([`Broker::handle_timeout`]). Outputs: PF_KEY messages to write
//! ([`Broker::poll_kernel_transmit`]) and messages for ike-net
//! ([`Broker::poll_net`]).
//!
//! - Start: optional FLUSH (off by default: it wipes other daemons' state too),
//!   then REGISTER for ESP and AH; the algorithms of the replies go to ike-net
//!   in `PfkeyToNet::Ready`.
//! - Every request from ike-net passes [`allow::check`] first.
//! - A nonzero reqid belongs to one CHILD_SA ([`binding`]): SAs and policies
//!   that would give one child's reqid to another are refused.
//! - Requests are pipelined: each gets its own `seq`, and replies are matched
//!   on (pid, seq, message type). Dumps are matched on (pid, type) and end at
//!   seq 0, whether the kernel counts up (Linux) or down (FreeBSD).
//! - Requests for one SA or one policy run one at a time, in the order ike-net
//!   sent them: a later one waits in `held` until the earlier one is answered.
//!   The kernel handles one socket's messages in order, but the broker itself
//!   may resend a request (SPDADD refused with EEXIST becomes SPDUPDATE), and
//!   a DELETE already written behind it would otherwise run first.
//! - Messages from other PF_KEY users (another pid) are ignored, logged at debug.
//! - ACQUIRE: the policy's selectors are fetched (KAME SPDGET of the policy id,
//!   OpenBSD ASKPOLICY) before ike-net hears of it. EXPIRE of our SAs becomes
//!   a rekey (soft) or delete (hard) event.
//! - SPDEXPIRE (FreeBSD) is logged; the IPC has no message for it. An
//!   expired policy of ours is forgotten (the kernel removed it).
//! - NAT_T_NEW_MAPPING (Linux) of one of our UDP-encapsulated SAs goes to
//!   ike-net as `BrokerEvent::NatMapping`; ike-net answers with
//!   `UpdateEncap` requests, which move only the peer's port of SAs we own.
//! - Shutdown: the SAs and policies this broker installed are deleted
//!   (configurable).

pub mod algs;
pub mod allow;
pub mod binding;
pub mod blocking;
pub mod build;
pub mod leases;
pub mod mobility;
pub mod sa_rules;
// The kernel-interface seam (PF_KEY or XFRM) and the XFRM back end (issue 18).
pub mod backend;
pub mod xfrm;

use crate::dialect::{Dialect, ExtKind, MsgType, SaType};
use crate::wire::{Alg, Message, NatTNewMapping, SpdExpire};
use allow::SaKey;
use allow::{policy_key, sa_key, AllowedSet, InstalledPolicy, Owned, OwnedSa, PolicyKey};
use ike_ipc::config::{Config, IpsecProtocol};
use ike_ipc::msg::pfkey::{
    BrokerEvent, BrokerPolicyParams, BrokerRequest, BrokerRequestId, BrokerSaParams, ExpireKind,
    KernelError, KernelReply, NatT, NetToPfkey, PfkeyToNet, PolicyDir, SaId, SaInfo, Selectors,
    Supported,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// errno values the broker reacts to; the numbers are the same on all three
/// platforms (ESRCH 3, EEXIST 17; ENOENT 2).
const ENOENT: u8 = 2;
const EEXIST: u8 = 17;

/// How often the broker forgets larval SAs the kernel has dropped.
const LARVAL_SWEEP: Duration = Duration::from_secs(1);

/// How long REGISTER (and the start-up FLUSH) may take; see `Broker::send`.
pub const REGISTER_TIMEOUT: Duration = Duration::from_secs(30);

/// At most this many requests wait behind an earlier one for the same SA or
/// policy: a compromised worker must not grow the broker's memory without end
/// by repeating requests for a busy object.
pub const MAX_HELD: usize = 1024;

#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub dialect: Dialect,
    /// Put in `sadb_msg_pid`; replies carry it back. OpenBSD insists on the real pid.
    pub pid: u32,
    pub flush_on_start: bool,
    pub delete_on_exit: bool,
    pub allowed: AllowedSet,
    /// How long to wait for a kernel reply.
    pub timeout: Duration,
}

impl BrokerConfig {
    pub fn from_config(cfg: &Config, pid: u32) -> BrokerConfig {
        BrokerConfig {
            dialect: Dialect::native(),
            pid,
            flush_on_start: cfg.global.flush_on_start,
            delete_on_exit: cfg.global.delete_on_exit,
            allowed: AllowedSet::from_config(cfg),
            timeout: Duration::from_secs(5),
        }
    }
}

/// What a pending kernel request was for.
#[derive(Debug, Clone)]
enum Op {
    Flush,
    Register(SaType),
    Net {
        id: BrokerRequestId,
        req: NetOp,
    },
    /// SPDGET/ASKPOLICY for an ACQUIRE we are about to pass on.
    AcquireLookup(Box<BrokerEvent>),
    Cleanup,
}

#[derive(Debug, Clone)]
enum NetOp {
    GetSpi(SaId),
    Add(Box<BrokerSaParams>),
    Update(Box<BrokerSaParams>),
    /// A NAT mapping change: the SA re-sent with these ports.
    UpdateEncap(SaId, NatT),
    Delete(SaId),
    Get(SaId),
    /// `retried`: already resent as SPDUPDATE after EEXIST.
    AddPolicy {
        p: BrokerPolicyParams,
        retried: bool,
    },
    DeletePolicy(BrokerPolicyParams),
}

/// The kernel object a request changes or reads; requests for the same
/// object are sent one at a time (see the module comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Object {
    Sa(SaKey),
    /// A KAME policy is identified by its selectors and direction.
    Policy(PolicyKey),
}

impl Object {
    fn of_request(req: &BrokerRequest) -> Option<Object> {
        match req {
            BrokerRequest::AddSa(p) | BrokerRequest::UpdateSa(p) => Some(Object::Sa(sa_key(&p.id))),
            BrokerRequest::DeleteSa(s)
            | BrokerRequest::GetSa(s)
            | BrokerRequest::UpdateEncap { id: s, .. } => Some(Object::Sa(sa_key(s))),
            BrokerRequest::AddPolicy(p) | BrokerRequest::DeletePolicy(p) => {
                Some(Object::Policy(policy_key(p.dir, &p.sel)))
            }
            // GETSPI creates a new SPI; ACQUIRE failures and the refused
            // requests touch no single object.
            _ => None,
        }
    }

    fn of_op(op: &Op) -> Option<Object> {
        match op {
            Op::Net { req, .. } => match req {
                NetOp::Add(p) | NetOp::Update(p) => Some(Object::Sa(sa_key(&p.id))),
                NetOp::Delete(s) | NetOp::Get(s) | NetOp::UpdateEncap(s, _) => {
                    Some(Object::Sa(sa_key(s)))
                }
                NetOp::AddPolicy { p, .. } | NetOp::DeletePolicy(p) => {
                    Some(Object::Policy(policy_key(p.dir, &p.sel)))
                }
                NetOp::GetSpi(_) => None,
            },
            _ => None,
        }
    }
}

/// A request from ike-net waiting for an earlier one on the same object.
#[derive(Debug)]
struct Held {
    id: BrokerRequestId,
    req: BrokerRequest,
    object: Object,
}

#[derive(Debug)]
struct Pending {
    op: Op,
    msg_type: MsgType,
    deadline: Instant,
    /// Handed out for writing (counted in `Broker::in_kernel`).
    written: bool,
}

/// A DUMP or SPDDUMP in progress (for operators and the kernel lab, never for ike-net).
#[derive(Debug)]
struct Dump {
    msg_type: MsgType,
    parts: Vec<Message>,
    deadline: Instant,
}

/// Results of the broker's own operator requests (`dump`).
#[derive(Debug)]
pub enum AdminResult {
    Dump(Result<Vec<Message>, KernelError>),
}

pub struct Broker {
    cfg: BrokerConfig,
    seq: u32,
    pending: BTreeMap<u32, Pending>,
    /// `pending` by deadline, so that the next timeout is found without a
    /// walk over every request in flight (issue 12).
    deadlines: BTreeSet<(Instant, u32)>,
    /// How many pending requests change or read each object: `busy` is a
    /// lookup, not a walk over `pending` per request (issue 12).
    pending_objects: HashMap<Object, usize>,
    /// How many held requests wait for each object.
    held_objects: HashMap<Object, usize>,
    dump: Option<Dump>,
    /// Bytes to write, with the seq of the pending request they carry.
    to_kernel: VecDeque<(Option<u32>, Vec<u8>)>,
    /// Requests waiting for an earlier request on the same object, in arrival order.
    held: VecDeque<Held>,
    to_net: VecDeque<PfkeyToNet>,
    admin: VecDeque<AdminResult>,
    /// Pending requests already written (see `kernel_in_flight`).
    in_kernel: usize,
    /// When `sweep_larval` may walk the SAs again.
    next_larval_sweep: Option<Instant>,
    owned: Owned,
    auth: Vec<Alg>,
    encrypt: Vec<Alg>,
    ready: bool,
    shutting_down: bool,
}

impl Broker {
    /// Queues the start-up messages (FLUSH if configured, REGISTER ESP and AH).
    pub fn new(cfg: BrokerConfig, now: Instant) -> Broker {
        let mut b = Broker {
            cfg,
            seq: 0,
            pending: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            pending_objects: HashMap::new(),
            held_objects: HashMap::new(),
            dump: None,
            to_kernel: VecDeque::new(),
            held: VecDeque::new(),
            to_net: VecDeque::new(),
            admin: VecDeque::new(),
            in_kernel: 0,
            next_larval_sweep: None,
            owned: Owned::default(),
            auth: Vec::new(),
            encrypt: Vec::new(),
            ready: false,
            shutting_down: false,
        };
        if b.cfg.flush_on_start {
            log::info!("flushing the kernel's SAD and SPD (flush-on-start)");
            let seq = b.next_seq();
            let m = build::header(MsgType::Flush, SaType::Unspec, seq, b.cfg.pid);
            b.send(m, Op::Flush, now);
            // KAME keeps the SPD through FLUSH; OpenBSD's FLUSH already
            // removed every flow (DIALECTS.md 3.3).
            if b.cfg.dialect.is_kame() {
                let seq = b.next_seq();
                let m = build::header(MsgType::SpdFlush, SaType::Unspec, seq, b.cfg.pid);
                b.send(m, Op::Flush, now);
            }
        }
        for t in [SaType::Esp, SaType::Ah] {
            let seq = b.next_seq();
            b.send(build::register(t, seq, b.cfg.pid), Op::Register(t), now);
        }
        b
    }

    pub fn dialect(&self) -> Dialect {
        self.cfg.dialect
    }

    /// A new allowed set after a configuration reload. SAs and policies
    /// installed before stay ours (they are deleted as they expire or at exit).
    pub fn set_allowed(&mut self, allowed: AllowedSet) {
        self.cfg.allowed = allowed;
    }

    /// `set sa-limit` (0: keep the current limit).
    pub fn set_sa_limit(&mut self, sa_limit: u32) {
        self.owned.set_limit(sa_limit);
    }

    /// What this broker installed (for tests and the operator).
    pub fn owned(&self) -> &Owned {
        &self.owned
    }

    fn next_seq(&mut self) -> u32 {
        // 0 marks the end of a dump: never use it for a request.
        loop {
            self.seq = self.seq.wrapping_add(1);
            if self.seq != 0 && !self.pending.contains_key(&self.seq) {
                return self.seq;
            }
        }
    }

    fn wait_for(&self, op: &Op) -> Duration {
        // The first REGISTER makes Linux probe (and load) every crypto
        // module: a minute under emulation, so wait longer.
        match op {
            Op::Register(_) | Op::Flush => self.cfg.timeout.max(REGISTER_TIMEOUT),
            _ => self.cfg.timeout,
        }
    }

    fn send(&mut self, m: Message, op: Op, now: Instant) {
        self.send_at(m, op, now, false)
    }

    /// `first`: write it before everything queued (a resent request keeps the
    /// place of the one it replaces).
    fn send_at(&mut self, m: Message, op: Op, now: Instant, first: bool) {
        let seq = m.header.seq;
        match m.emit(self.cfg.dialect) {
            Ok(bytes) => {
                if first {
                    self.to_kernel.push_front((Some(seq), bytes));
                } else {
                    self.to_kernel.push_back((Some(seq), bytes));
                }
                let deadline = now + self.wait_for(&op);
                if is_getspi(&op) {
                    self.owned.getspi_in_flight += 1;
                }
                self.put_pending(
                    seq,
                    Pending {
                        op,
                        msg_type: m.header.msg_type,
                        deadline,
                        written: false,
                    },
                );
            }
            Err(e) => self.fail(
                op,
                KernelError::Unsupported(format!("cannot encode: {e}")),
                now,
            ),
        }
    }

    /// The next message to write; its reply deadline counts from when it was queued.
    pub fn poll_kernel_transmit(&mut self) -> Option<Vec<u8>> {
        let (seq, bytes) = self.to_kernel.pop_front()?;
        if let Some(seq) = seq {
            self.mark_written(seq);
        }
        Some(bytes)
    }

    /// Requests written to the kernel and not yet answered. The kernel
    /// drops replies to a socket whose receive buffer is full (af_key
    /// `pfkey_broadcast_one`; pfkey-sim alike), so the broker's loop keeps
    /// this below a window instead of writing a burst of thousands
    /// (issue 12).
    pub fn kernel_in_flight(&self) -> usize {
        self.in_kernel
    }

    /// Forgets the larval SAs the kernel has dropped by now, at most once
    /// per [`LARVAL_SWEEP`]: the sweep walks every SA we own, which per
    /// request cost O(SAs) at 100,000 SAs (issue 12); a larval SA
    /// forgotten up to a second late changes nothing.
    fn sweep_larval(&mut self, now: Instant) {
        if self.next_larval_sweep.is_some_and(|t| now < t) {
            return;
        }
        self.owned.forget_stale_larval(now);
        self.next_larval_sweep = Some(now + LARVAL_SWEEP);
    }

    fn mark_written(&mut self, seq: u32) {
        if let Some(p) = self.pending.get_mut(&seq) {
            if !p.written {
                p.written = true;
                self.in_kernel += 1;
            }
        }
    }

    /// A pending request left the table (answered or timed out).
    fn unpend(&mut self, p: &Pending) {
        if p.written {
            self.in_kernel = self.in_kernel.saturating_sub(1);
        }
    }

    /// The next message to write, about to be written at `now`: its reply
    /// deadline counts from `now`. Use this where writes can block: af_key
    /// handles a request inside the write, and a first REGISTER may take a
    /// minute, which must not eat the time of the requests queued behind it.
    pub fn poll_kernel_transmit_at(&mut self, now: Instant) -> Option<Vec<u8>> {
        let (seq, bytes) = self.to_kernel.pop_front()?;
        if let Some(seq) = seq {
            self.mark_written(seq);
            let wait = self.pending.get(&seq).map(|p| self.wait_for(&p.op));
            if let (Some(w), Some(p)) = (wait, self.pending.get_mut(&seq)) {
                self.deadlines.remove(&(p.deadline, seq));
                p.deadline = now + w;
                self.deadlines.insert((p.deadline, seq));
            }
        }
        if self.dump.is_some() && self.to_kernel.is_empty() {
            if let Some(d) = self.dump.as_mut() {
                d.deadline = d.deadline.max(now + self.cfg.timeout);
            }
        }
        Some(bytes)
    }

    pub fn poll_net(&mut self) -> Option<PfkeyToNet> {
        self.to_net.pop_front()
    }

    pub fn poll_admin(&mut self) -> Option<AdminResult> {
        self.admin.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let p = self.deadlines.first().map(|(t, _)| *t);
        let d = self.dump.as_ref().map(|d| d.deadline);
        match (p, d) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// True when nothing is in flight (used to finish a shutdown).
    pub fn is_idle(&self) -> bool {
        self.pending.is_empty()
            && self.to_kernel.is_empty()
            && self.held.is_empty()
            && self.dump.is_none()
    }

    fn reply(&mut self, id: BrokerRequestId, result: Result<KernelReply, KernelError>) {
        self.to_net.push_back(PfkeyToNet::Reply { id, result });
    }

    /// A pending request left the table (answered or timed out).
    fn answered(&mut self, op: &Op) {
        if is_getspi(op) {
            self.owned.getspi_in_flight = self.owned.getspi_in_flight.saturating_sub(1);
        }
    }

    fn fail(&mut self, op: Op, e: KernelError, now: Instant) {
        match op {
            Op::Net { id, req } => {
                self.unclaim_failed(&req);
                self.reply(id, Err(e))
            }
            Op::AcquireLookup(mut ev) => {
                // No selectors, but ike-net may still answer (or fail) it,
                // if its addresses are a configured policy's (issue 16).
                log::info!("the kernel would not tell an ACQUIRE's policy ({e:?})");
                if !self.acquire_local(&mut ev, None) || !self.acquire_ends_ok(&ev) {
                    return;
                }
                if let BrokerEvent::Acquire { seq, .. } = ev.as_ref() {
                    self.owned.note_acquire(*seq, now);
                }
                self.to_net.push_back(PfkeyToNet::Event(*ev));
            }
            Op::Register(t) => {
                log::warn!("REGISTER {t:?} failed: {e:?}");
                self.maybe_ready();
            }
            Op::Flush | Op::Cleanup => log::warn!("kernel request failed: {e:?}"),
        }
    }

    /// A request the kernel refused installed nothing: its reqid claim goes,
    /// unless the object was there before (an UPDATE of an installed SA).
    fn unclaim_failed(&mut self, req: &NetOp) {
        match req {
            NetOp::Add(p) | NetOp::Update(p) => {
                let key = sa_key(&p.id);
                if self.owned.sas.get(&key).is_none_or(|o| o.larval) {
                    self.owned.bindings.release_sa(&key);
                }
            }
            NetOp::AddPolicy { p, .. } if self.owned.policy(p).is_none() => {
                self.owned.bindings.release_policy(p)
            }
            _ => {}
        }
    }

    // ---- requests from ike-net -------------------------------------------------

    pub fn handle_net(&mut self, msg: NetToPfkey, now: Instant) {
        let (id, req) = match msg {
            NetToPfkey::Request { id, req } => (id, req),
            NetToPfkey::Lease { peer, addrs, lent } => {
                leases::record(&self.cfg.allowed, &mut self.owned, peer, &addrs, lent);
                return;
            }
        };
        if self.shutting_down {
            self.reply(id, Err(KernelError::Refused("shutting down".into())));
            return;
        }
        // MOBIKE: checked and split into ordinary steps (`broker/mobility.rs`).
        if self.handle_move(id, &req, now) {
            return;
        }
        if let Some(object) = Object::of_request(&req) {
            if self.busy(&object) {
                // Checked when it is sent, not now: the request ahead may
                // create what this one needs (a DELETE behind the ADD of the
                // same SA was refused as "not ours" and the SA stayed in
                // the kernel; found by tests/soak, issue 12).
                if self.held.len() >= MAX_HELD {
                    log::warn!("refused request {id} from ike-net: {MAX_HELD} requests waiting");
                    self.reply(
                        id,
                        Err(KernelError::Refused(format!("{MAX_HELD} requests waiting"))),
                    );
                } else {
                    log::debug!("request {id} waits for the earlier one on {object:?}");
                    *self.held_objects.entry(object).or_default() += 1;
                    self.held.push_back(Held { id, req, object });
                }
                return;
            }
        }
        self.dispatch(id, req, now);
    }

    /// Is a request for `object` in flight, or waiting?
    fn busy(&self, object: &Object) -> bool {
        self.in_flight(object) || self.held_objects.contains_key(object)
    }

    /// Is a request for `object` in flight (written or queued for the kernel)?
    fn in_flight(&self, object: &Object) -> bool {
        self.pending_objects.contains_key(object)
    }

    /// Add a pending request with its indexes (`deadlines`, `pending_objects`).
    fn put_pending(&mut self, seq: u32, p: Pending) {
        self.deadlines.insert((p.deadline, seq));
        if let Some(o) = Object::of_op(&p.op) {
            *self.pending_objects.entry(o).or_default() += 1;
        }
        self.pending.insert(seq, p);
    }

    /// Remove a pending request and its index entries.
    fn take_pending(&mut self, seq: u32) -> Option<Pending> {
        let p = self.pending.remove(&seq)?;
        self.deadlines.remove(&(p.deadline, seq));
        if let Some(o) = Object::of_op(&p.op) {
            count_down(&mut self.pending_objects, &o);
        }
        Some(p)
    }

    /// A pending request left the table: its object may be free now for
    /// the requests waiting on it, or, during shutdown, for its DELETE.
    fn after_answer(&mut self, now: Instant) {
        self.release_held(now);
        if self.shutting_down && self.cfg.delete_on_exit {
            self.remove_owned(now);
        }
    }

    /// Send the held requests whose object is free now, oldest first: one
    /// pass over the held requests (at most [`MAX_HELD`]), with the objects
    /// of those still waiting ahead in a set.
    fn release_held(&mut self, now: Instant) {
        if self.held.is_empty() {
            return;
        }
        let mut waiting = std::collections::HashSet::new();
        let mut i = 0;
        while i < self.held.len() {
            let free = self
                .held
                .get(i)
                .is_some_and(|h| !self.in_flight(&h.object) && !waiting.contains(&h.object));
            if !free {
                if let Some(h) = self.held.get(i) {
                    waiting.insert(h.object);
                }
                i += 1;
                continue;
            }
            if let Some(h) = self.held.remove(i) {
                count_down(&mut self.held_objects, &h.object);
                self.dispatch(h.id, h.req, now);
            }
        }
    }

    /// Check a request against the allow-list and write it.
    fn dispatch(&mut self, id: BrokerRequestId, req: BrokerRequest, now: Instant) {
        self.sweep_larval(now);
        if let Err(why) = allow::check(&self.cfg.allowed, &self.owned, &req) {
            log::warn!("refused request {id} from ike-net: {why}");
            self.reply(id, Err(KernelError::Refused(why)));
            return;
        }
        // Claimed now, not when the kernel answers: a second request with
        // the same reqid in flight is checked against this one.
        self.owned.bindings.claim(&req);
        let d = self.cfg.dialect;
        let pid = self.cfg.pid;
        let seq = self.next_seq();
        let built: Result<(Message, NetOp), String> = match &req {
            BrokerRequest::GetSpi {
                proto,
                src,
                dst,
                mode,
                reqid,
                acquire_seq,
            } => {
                // Echo the ACQUIRE's seq so Linux reuses its acquire state
                // (DIALECTS.md 1.2, 5.3), unless that seq is busy here.
                let seq = if *acquire_seq != 0 && !self.pending.contains_key(acquire_seq) {
                    *acquire_seq
                } else {
                    seq
                };
                let sa = SaId {
                    proto: *proto,
                    spi: 0,
                    src: *src,
                    dst: *dst,
                };
                Ok((
                    build::getspi(d, seq, pid, &sa, *mode, *reqid),
                    NetOp::GetSpi(sa),
                ))
            }
            BrokerRequest::AddSa(p) => {
                build::add_update(d, MsgType::Add, seq, pid, p).map(|m| (m, NetOp::Add(p.clone())))
            }
            BrokerRequest::UpdateSa(p) => build::add_update(d, MsgType::Update, seq, pid, p)
                .map(|m| (m, NetOp::Update(p.clone()))),
            BrokerRequest::UpdateEncap { id: sa, natt } => {
                // PF_KEY UPDATE has no partial form: the SA as installed, with
                // the new ports. Linux then changes the encapsulation (and
                // lifetimes, unchanged here) of the mature SA in place
                // (xfrm_state_update); keys and addresses stay.
                match self
                    .owned
                    .sas
                    .get(&sa_key(sa))
                    .and_then(|o| o.params.as_ref())
                {
                    Some(p) => {
                        let mut moved = p.as_ref().clone();
                        moved.natt = Some(*natt);
                        moved.acquire_seq = 0;
                        build::add_update(d, MsgType::Update, seq, pid, &moved)
                            .map(|m| (m, NetOp::UpdateEncap(*sa, *natt)))
                    }
                    None => Err("the SA's parameters are not known".into()),
                }
            }
            BrokerRequest::DeleteSa(s) => Ok((
                build::sa_only(MsgType::Delete, seq, pid, s.proto, s.spi, s.src, s.dst),
                NetOp::Delete(*s),
            )),
            BrokerRequest::GetSa(s) => Ok((
                build::sa_only(MsgType::Get, seq, pid, s.proto, s.spi, s.src, s.dst),
                NetOp::Get(*s),
            )),
            BrokerRequest::AddPolicy(p) => {
                let m = if d.is_kame() {
                    build::spd_add(d, MsgType::SpdAdd, seq, pid, p)
                } else {
                    build::flow(MsgType::AddFlow, seq, pid, p)
                };
                m.map(|m| {
                    (
                        m,
                        NetOp::AddPolicy {
                            p: *p,
                            retried: false,
                        },
                    )
                })
            }
            BrokerRequest::DeletePolicy(p) => {
                let kernel_id = self.owned.policy(p).map_or(0, |i| i.kernel_id);
                let m = if d.is_kame() {
                    build::spd_delete(d, seq, pid, p, kernel_id)
                } else {
                    build::flow(MsgType::DelFlow, seq, pid, p)
                };
                m.map(|m| (m, NetOp::DeletePolicy(*p)))
            }
            BrokerRequest::AcquireFailed { seq: aseq, proto } => {
                let Some(m) = build::acquire_failed(d, *aseq, *proto, pid) else {
                    // Nothing to tell this kernel: its acquire times out.
                    self.owned.forget_acquire(*aseq);
                    self.reply(id, Ok(KernelReply::Done));
                    return;
                };
                match m.emit(d) {
                    Ok(bytes) => {
                        self.to_kernel.push_back((None, bytes));
                        self.owned.forget_acquire(*aseq);
                        self.reply(id, Ok(KernelReply::Done));
                    }
                    Err(e) => self.reply(id, Err(KernelError::Unsupported(e.to_string()))),
                }
                return;
            }
            // allow::check refused these above; this arm only keeps the match total.
            BrokerRequest::Flush
            | BrokerRequest::Dump
            | BrokerRequest::SpdFlush
            | BrokerRequest::SpdDump => Err("never performed for ike-net".into()),
            // Split into AddSa/DeleteSa/AddPolicy steps before (`broker/mobility.rs`).
            BrokerRequest::MoveSa { .. } | BrokerRequest::MovePolicy { .. } => {
                Err("a move is performed in steps".into())
            }
        };
        match built {
            Ok((m, op)) => self.send(m, Op::Net { id, req: op }, now),
            Err(why) => {
                log::info!("request {id} cannot be done on {d:?}: {why}");
                self.reply(id, Err(KernelError::Unsupported(why)));
            }
        }
    }

    // ---- operator requests ------------------------------------------------------

    /// Start a DUMP (`spd` false) or SPDDUMP (KAME only); the result arrives
    /// through [`Broker::poll_admin`]. Never reachable from ike-net.
    pub fn admin_dump(&mut self, spd: bool, now: Instant) {
        let t = if spd { MsgType::SpdDump } else { MsgType::Dump };
        if self.dump.is_some() {
            self.admin
                .push_back(AdminResult::Dump(Err(KernelError::Refused(
                    "a dump is running".into(),
                ))));
            return;
        }
        let seq = self.next_seq();
        match build::header(t, SaType::Unspec, seq, self.cfg.pid).emit(self.cfg.dialect) {
            Ok(bytes) => {
                self.to_kernel.push_back((None, bytes));
                self.dump = Some(Dump {
                    msg_type: t,
                    parts: Vec::new(),
                    deadline: now + self.cfg.timeout,
                });
            }
            Err(e) => self
                .admin
                .push_back(AdminResult::Dump(Err(KernelError::Unsupported(
                    e.to_string(),
                )))),
        }
    }

    // ---- messages from the kernel ----------------------------------------------

    pub fn handle_kernel(&mut self, bytes: &[u8], now: Instant) {
        let msg = match Message::parse(self.cfg.dialect, bytes) {
            Ok(m) => m,
            Err(e) => {
                log::warn!("undecodable PF_KEY message ({} bytes): {e}", bytes.len());
                return;
            }
        };
        let h = msg.header;
        if h.pid == self.cfg.pid {
            if self.dump.as_ref().is_some_and(|d| d.msg_type == h.msg_type) {
                self.dump_part(msg);
                return;
            }
            match self.take_pending(h.seq) {
                Some(p) if p.msg_type == h.msg_type => {
                    self.unpend(&p);
                    self.answered(&p.op);
                    self.complete(p.op, msg, now);
                    self.after_answer(now);
                }
                Some(p) => {
                    log::debug!(
                        "reply type {:?} for seq {} does not match {:?}",
                        h.msg_type,
                        h.seq,
                        p.msg_type
                    );
                    self.put_pending(h.seq, p);
                }
                // Linux also broadcasts our own changes back to us: harmless.
                None => log::debug!(
                    "PF_KEY {:?} seq {} with our pid and nothing pending",
                    h.msg_type,
                    h.seq
                ),
            }
            return;
        }
        if h.pid != 0 {
            log::debug!(
                "ignored PF_KEY {:?} from another process (pid {})",
                h.msg_type,
                h.pid
            );
            return;
        }
        match h.msg_type {
            MsgType::Acquire => self.on_acquire(&msg, now),
            MsgType::Expire => self.on_expire(&msg),
            MsgType::SpdExpire => self.on_spd_expire(&msg),
            MsgType::NatTNewMapping => self.on_new_mapping(&msg),
            t => log::debug!("ignored kernel PF_KEY {t:?}"),
        }
    }

    fn dump_part(&mut self, msg: Message) {
        let Some(mut d) = self.dump.take() else {
            return;
        };
        let h = msg.header;
        if h.errno != 0 {
            // An empty table is an ENOENT reply on FreeBSD and Linux.
            let r = if h.errno == ENOENT && d.parts.is_empty() {
                Ok(Vec::new())
            } else {
                Err(KernelError::Kernel(i32::from(h.errno)))
            };
            self.admin.push_back(AdminResult::Dump(r));
            return;
        }
        d.parts.push(msg);
        if h.seq == 0 {
            self.admin.push_back(AdminResult::Dump(Ok(d.parts)));
        } else {
            self.dump = Some(d);
        }
    }

    fn complete(&mut self, op: Op, msg: Message, now: Instant) {
        let errno = msg.header.errno;
        if errno != 0 {
            // SPDADD of a selector that exists: replace it (as strongSwan does);
            // our allowed set permits this selector either way.
            if let Op::Net {
                id,
                req: NetOp::AddPolicy { p, retried: false },
            } = &op
            {
                // Not while shutting down: the clean-up deletes are queued
                // already and must stay last.
                if errno == EEXIST && self.cfg.dialect.is_kame() && !self.shutting_down {
                    let (id, p) = (*id, *p);
                    // Only a policy this broker installed is replaced: one
                    // that another daemon or the operator put there is not
                    // ike-net's to take over (and delete at exit) (issue 16).
                    if self.owned.policy(&p).is_none() {
                        let why = format!(
                            "AddPolicy: the kernel holds a policy for {:?} {:?} that this \
                             broker did not install; not adopted",
                            p.dir, p.sel
                        );
                        log::warn!("refused request {id} from ike-net: {why}");
                        self.owned.bindings.release_policy(&p);
                        self.reply(id, Err(KernelError::Refused(why)));
                        return;
                    }
                    let seq = self.next_seq();
                    match build::spd_add(
                        self.cfg.dialect,
                        MsgType::SpdUpdate,
                        seq,
                        self.cfg.pid,
                        &p,
                    ) {
                        // First in the queue: it stands for the SPDADD
                        // ike-net asked for, so it keeps that one's place.
                        Ok(m) => self.send_at(
                            m,
                            Op::Net {
                                id,
                                req: NetOp::AddPolicy { p, retried: true },
                            },
                            now,
                            true,
                        ),
                        Err(e) => self.reply(id, Err(KernelError::Unsupported(e))),
                    }
                    return;
                }
            }
            self.fail(op, KernelError::Kernel(i32::from(errno)), now);
            return;
        }
        match op {
            Op::Flush => log::info!("SAD flushed"),
            Op::Register(t) => {
                for a in msg.supported(ExtKind::SupportedAuth).unwrap_or(&[]) {
                    if !self.auth.contains(a) {
                        self.auth.push(*a);
                    }
                }
                for a in msg.supported(ExtKind::SupportedEncrypt).unwrap_or(&[]) {
                    if !self.encrypt.contains(a) {
                        self.encrypt.push(*a);
                    }
                }
                log::info!("registered for {t:?}");
                self.maybe_ready();
            }
            Op::Cleanup => {}
            Op::AcquireLookup(mut ev) => {
                let sel = if self.cfg.dialect.is_kame() {
                    build::selectors_from_spd(&msg)
                } else {
                    build::selectors_from_flows(&msg)
                };
                if let BrokerEvent::Acquire { policy, seq, .. } = ev.as_mut() {
                    if let Some(s) = &sel {
                        if !allow::acquire_configured(&self.cfg.allowed, s) {
                            log::debug!(
                                "ACQUIRE {seq} for selectors outside the configuration: ignored"
                            );
                            return;
                        }
                    }
                    *policy = sel;
                }
                if !self.acquire_local(&mut ev, sel.as_ref()) || !self.acquire_ends_ok(&ev) {
                    return;
                }
                if let BrokerEvent::Acquire {
                    mode, reqid, seq, ..
                } = ev.as_mut()
                {
                    if self.cfg.dialect.is_kame() {
                        let (m, r) = build::policy_mode(&msg);
                        *mode = m.or(*mode);
                        if *reqid == 0 {
                            *reqid = r;
                        }
                    }
                    self.owned.note_acquire(*seq, now);
                }
                self.to_net.push_back(PfkeyToNet::Event(*ev));
            }
            Op::Net { id, req } => self.complete_net(id, req, &msg, now),
        }
    }

    fn complete_net(&mut self, id: BrokerRequestId, req: NetOp, msg: &Message, now: Instant) {
        let result = match req {
            NetOp::GetSpi(mut sa) => match msg.sa() {
                Some(s) => {
                    sa.spi = s.spi;
                    self.owned.insert_sa(OwnedSa {
                        id: sa,
                        larval: true,
                        since: now,
                        params: None,
                    });
                    Ok(KernelReply::Spi(s.spi))
                }
                None => Err(KernelError::Protocol("GETSPI reply without an SA".into())),
            },
            NetOp::Add(p) | NetOp::Update(p) => {
                self.owned.sa_installed(p, now);
                Ok(KernelReply::Done)
            }
            NetOp::UpdateEncap(sa, natt) => {
                self.owned.encap_updated(&sa, natt);
                Ok(KernelReply::Done)
            }
            NetOp::Delete(sa) => {
                self.owned.sa_deleted(&sa);
                Ok(KernelReply::Done)
            }
            NetOp::Get(sa) => {
                let cur = msg
                    .lifetime(ExtKind::LifetimeCurrent)
                    .copied()
                    .unwrap_or_default();
                Ok(KernelReply::Sa(SaInfo {
                    id: sa,
                    bytes: cur.bytes,
                    packets: cur.allocations,
                    add_time: cur.addtime,
                    use_time: cur.usetime,
                }))
            }
            NetOp::AddPolicy { p, .. } => {
                let kernel_id = msg.policy().map_or(0, |x| x.id);
                self.owned.insert_policy(InstalledPolicy {
                    params: p,
                    kernel_id,
                });
                Ok(KernelReply::Done)
            }
            NetOp::DeletePolicy(p) => {
                self.owned.remove_policy(&p);
                self.owned.bindings.release_policy(&p);
                Ok(KernelReply::Done)
            }
        };
        self.reply(id, result);
    }

    fn maybe_ready(&mut self) {
        let registering = self
            .pending
            .values()
            .any(|p| matches!(p.op, Op::Register(_) | Op::Flush));
        if !self.ready && !registering {
            self.ready = true;
            let s: Supported = algs::supported(self.cfg.dialect, &self.auth, &self.encrypt);
            log::info!("kernel supports {:?} / {:?}", s.encryption, s.integrity);
            self.to_net.push_back(PfkeyToNet::Ready(s));
        }
    }

    /// An OpenBSD ACQUIRE without ADDRESS_SRC: take our end from the one
    /// outbound flow of ours towards its gateway (with its selectors when
    /// ASKPOLICY gave them). False, with a log line, when there is no such
    /// flow or more than one local address fits: the ACQUIRE is dropped.
    fn acquire_local(&self, ev: &mut BrokerEvent, sel: Option<&Selectors>) -> bool {
        let BrokerEvent::Acquire { seq, src, dst, .. } = ev else {
            return true;
        };
        if !src.is_unspecified() {
            return true;
        }
        let mut locals = self
            .owned
            .policies
            .values()
            .map(|i| &i.params)
            .filter(|p| p.dir == PolicyDir::Out)
            .filter(|p| p.tunnel.map_or(p.sel.dst.addr, |t| t.1) == *dst)
            .filter(|p| sel.is_none_or(|s| s.src == p.sel.src && s.dst == p.sel.dst))
            .map(build::flow_local);
        let first = locals.next();
        match first {
            Some(l) if locals.all(|o| o == l) => {
                log::info!("ACQUIRE {seq} without a source: our end of the flow is {l}");
                *src = l;
                true
            }
            _ => {
                log::warn!(
                    "ACQUIRE {seq} to {dst} without a source, no single flow of ours: ignored"
                );
                false
            }
        }
    }

    /// The ACQUIRE's protocol and outer addresses are a configured policy's
    /// (ours the source); false, with a log line, when they are not.
    fn acquire_ends_ok(&self, ev: &BrokerEvent) -> bool {
        let BrokerEvent::Acquire {
            seq,
            proto,
            src,
            dst,
            ..
        } = ev
        else {
            return true;
        };
        let ok = allow::acquire_ends_configured(&self.cfg.allowed, *proto, *src, *dst);
        if !ok {
            log::info!(
                "ACQUIRE {seq} for {proto:?} {src} -> {dst}, outside the configuration: ignored"
            );
        }
        ok
    }

    fn on_acquire(&mut self, msg: &Message, now: Instant) {
        let h = msg.header;
        let Some(proto) = build::proto_of(h.satype) else {
            log::debug!("ACQUIRE for {:?} ignored", h.satype);
            return;
        };
        let Some(dst) = msg.address(ExtKind::AddressDst).map(|a| a.ip()) else {
            log::warn!("ACQUIRE {} without a destination ignored", h.seq);
            return;
        };
        let src = match msg.address(ExtKind::AddressSrc) {
            Some(a) => a.ip(),
            // OpenBSD leaves ADDRESS_SRC out when the flow was added without
            // a local address (ip_spd.c ipsp_spd_lookup, pfkeyv2_acquire).
            // Ours carry one, but take such an ACQUIRE anyway: the address
            // is unspecified until the flow is known (acquire_local).
            None if !self.cfg.dialect.is_kame() => match dst {
                std::net::IpAddr::V4(_) => std::net::Ipv4Addr::UNSPECIFIED.into(),
                std::net::IpAddr::V6(_) => std::net::Ipv6Addr::UNSPECIFIED.into(),
            },
            None => {
                log::warn!("ACQUIRE {} without a source ignored", h.seq);
                return;
            }
        };
        let reqid = msg.sa2().map_or(0, |s| s.reqid);
        let ev = BrokerEvent::Acquire {
            seq: h.seq,
            proto,
            src,
            dst,
            policy: None,
            // PF_KEY's ACQUIRE carries the SA's ends, not the packet
            // (docs/child-install.md, "ACQUIRE selectors").
            packet: None,
            mode: None,
            reqid,
        };
        let seq = self.next_seq();
        let lookup = if self.cfg.dialect.is_kame() {
            match msg.policy() {
                Some(p) if p.id != 0 => Some(build::spd_get(seq, self.cfg.pid, p.id)),
                _ => None,
            }
        } else {
            Some(build::ask_policy(seq, self.cfg.pid, h.seq))
        };
        match lookup {
            Some(m) => self.send(m, Op::AcquireLookup(Box::new(ev)), now),
            None => {
                // No policy id to look up: addresses only (issue 16).
                if !self.acquire_ends_ok(&ev) {
                    return;
                }
                self.owned.note_acquire(h.seq, now);
                self.to_net.push_back(PfkeyToNet::Event(ev));
            }
        }
    }

    fn on_expire(&mut self, msg: &Message) {
        let (Some(sa), Some(src), Some(dst)) = (
            msg.sa(),
            msg.address(ExtKind::AddressSrc),
            msg.address(ExtKind::AddressDst),
        ) else {
            log::warn!("EXPIRE without SA or addresses ignored");
            return;
        };
        let Some(proto) = build::proto_of(msg.header.satype) else {
            return;
        };
        let id = SaId {
            proto,
            spi: sa.spi,
            src: src.ip(),
            dst: dst.ip(),
        };
        if !self.owned.sas.contains_key(&sa_key(&id)) {
            log::debug!(
                "EXPIRE of an SA that is not ours (spi {:#x}) ignored",
                sa.spi
            );
            return;
        }
        let kind = if msg.lifetime(ExtKind::LifetimeHard).is_some() {
            ExpireKind::Hard
        } else {
            ExpireKind::Soft
        };
        if kind == ExpireKind::Hard {
            // The kernel has deleted it already.
            self.owned.remove_sa(&sa_key(&id));
            self.owned.bindings.release_sa(&sa_key(&id));
        }
        self.to_net
            .push_back(PfkeyToNet::Event(BrokerEvent::Expire { kind, sa: id }));
    }

    /// FreeBSD removed a policy whose lifetime ended (DIALECTS.md 2.6). The
    /// broker sets no policy lifetimes, so this is another daemon's policy or
    /// an operator's `setkey`; if it was ours, forget it so that shutdown does
    /// not try to delete it and ike-net may install it again.
    fn on_spd_expire(&mut self, msg: &Message) {
        let Some(ev) = decoded(SpdExpire::from_message(msg), "SPDEXPIRE") else {
            return;
        };
        let d = self.cfg.dialect;
        let sel = build::selectors_from_spd(msg);
        // By the kernel's id; by direction and selectors where the id was not
        // in the SPDADD reply.
        // A walk over our policies, but only for this rare kernel event.
        let ours = self.owned.policies.iter().find(|(_, p)| {
            p.kernel_id == ev.policy_id
                || (p.kernel_id == 0
                    && build::kame_dir(d, p.params.dir) == Ok(ev.dir)
                    && sel.as_ref() == Some(&p.params.sel))
        });
        match ours
            .map(|(k, _)| *k)
            .and_then(|k| self.owned.policies.remove(&k))
        {
            Some(p) => {
                self.owned.bindings.release_policy(&p.params);
                log::warn!(
                    "kernel: our {ev} and removed it (reqid {}); ike-net is not told, \
                     the IPC has no message for an expired policy",
                    p.params.reqid
                );
            }
            None => log::info!("kernel: {ev} (not a policy of ours)"),
        }
    }

    /// Linux saw ESP-in-UDP for an inbound SA from a new address or port
    /// (the peer's NAT changed its mapping, DIALECTS.md 5.3), after the packet
    /// passed the SA's integrity check. The kernel keeps sending to the old
    /// mapping until told otherwise: ike-net hears of it (for our own
    /// encapsulated SAs only) and moves the IKE SA's SAs with UpdateEncap.
    fn on_new_mapping(&mut self, msg: &Message) {
        let Some(ev) = decoded(NatTNewMapping::from_message(msg), "NAT_T_NEW_MAPPING") else {
            return;
        };
        let ours = self.owned.sas.values().find(|s| {
            s.id.proto == IpsecProtocol::Esp
                && s.id.spi == ev.spi
                && s.id.src == ev.old.ip()
                && !s.larval
                && s.params.as_ref().is_some_and(|p| p.natt.is_some())
        });
        match ours {
            Some(s) => {
                log::info!("kernel: {ev}; telling ike-net");
                self.to_net
                    .push_back(PfkeyToNet::Event(BrokerEvent::NatMapping {
                        sa: s.id,
                        old: ev.old,
                        new: ev.new,
                    }));
            }
            None => log::info!("kernel: {ev} (not an encapsulated SA of ours: ignored)"),
        }
    }

    // ---- time and shutdown ---------------------------------------------------------

    pub fn handle_timeout(&mut self, now: Instant) {
        let expired: Vec<u32> = self
            .deadlines
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, s)| *s)
            .collect();
        for seq in expired {
            if let Some(p) = self.take_pending(seq) {
                self.unpend(&p);
                log::warn!("no kernel reply to {:?} seq {seq}", p.msg_type);
                self.answered(&p.op);
                self.fail(p.op, KernelError::Timeout, now);
            }
        }
        self.after_answer(now);
        if self.dump.as_ref().is_some_and(|d| d.deadline <= now) {
            if let Some(d) = self.dump.take() {
                // OpenBSD sends nothing at all for an empty table (DIALECTS.md 4.3).
                let r = if d.parts.is_empty() && self.cfg.dialect == Dialect::OpenBsd {
                    Ok(Vec::new())
                } else {
                    Err(KernelError::Timeout)
                };
                self.admin.push_back(AdminResult::Dump(r));
            }
        }
    }

    /// Refuse new requests and, if configured, delete what we installed.
    pub fn shutdown(&mut self, now: Instant) {
        self.shutting_down = true;
        // Requests still waiting were never written: refuse them like new ones.
        while let Some(h) = self.held.pop_front() {
            self.reply(h.id, Err(KernelError::Refused("shutting down".into())));
        }
        self.held_objects.clear();
        if self.cfg.delete_on_exit {
            self.remove_owned(now);
        }
    }

    /// Queue the deletion of what we own and forget it: at shutdown, and
    /// again as each request that was in flight then is answered. An object
    /// with a request in flight waits for its answer (which may install it
    /// or remove it), so that its DELETE is written once, after that request.
    fn remove_owned(&mut self, now: Instant) {
        let d = self.cfg.dialect;
        let pid = self.cfg.pid;
        let (busy, free): (BTreeMap<_, _>, BTreeMap<_, _>) =
            std::mem::take(&mut self.owned.policies)
                .into_iter()
                .partition(|(key, _)| self.in_flight(&Object::Policy(*key)));
        self.owned.policies = busy;
        for p in free.into_values() {
            let seq = self.next_seq();
            let m = if d.is_kame() {
                build::spd_delete(d, seq, pid, &p.params, p.kernel_id)
            } else {
                build::flow(MsgType::DelFlow, seq, pid, &p.params)
            };
            match m {
                Ok(m) => self.send(m, Op::Cleanup, now),
                Err(e) => log::warn!("cannot remove policy {:?}: {e}", p.params),
            }
        }
        let (busy, free): (BTreeMap<_, _>, BTreeMap<_, _>) = self
            .owned
            .take_sas()
            .into_iter()
            .partition(|(key, _)| self.in_flight(&Object::Sa(*key)));
        for sa in busy.into_values() {
            self.owned.insert_sa(sa);
        }
        for sa in free.values() {
            let seq = self.next_seq();
            let m = build::sa_only(
                MsgType::Delete,
                seq,
                pid,
                sa.id.proto,
                sa.id.spi,
                sa.id.src,
                sa.id.dst,
            );
            self.send(m, Op::Cleanup, now);
        }
    }
}

/// A decoded kernel event, or `None` once the reason it is malformed is logged.
fn decoded<T>(r: Result<T, crate::wire::Error>, what: &str) -> Option<T> {
    r.map_err(|e| log::warn!("malformed {what} from the kernel ignored: {e}"))
        .ok()
}

/// One fewer request for `o`; the entry goes at zero.
fn count_down(counts: &mut HashMap<Object, usize>, o: &Object) {
    if let Some(n) = counts.get_mut(o) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            counts.remove(o);
        }
    }
}

fn is_getspi(op: &Op) -> bool {
    matches!(
        op,
        Op::Net {
            req: NetOp::GetSpi(_),
            ..
        }
    )
}

#[cfg(test)]
mod tests;
