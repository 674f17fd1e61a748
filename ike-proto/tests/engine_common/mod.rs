//! Test driver for two engines: in-memory datagram delivery with loss,
//! duplication and reordering knobs, and a tiny kernel stand-in that
//! allocates SPIs and records SAs and policies (the quinn-proto `Pair`).
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ike_proto::engine::*;

/// What the kernel stand-in holds for one SA.
#[derive(Clone, Debug)]
pub struct KSa {
    pub params: Option<SaParams>,
}

/// A kernel that answers every request at once.
pub struct Kernel {
    next_spi: u32,
    /// (dst, spi) → SA (None while larval: GETSPI done, no UPDATE yet).
    pub sas: BTreeMap<(IpAddr, u32), Option<SaParams>>,
    pub policies: Vec<PolicyParams>,
    /// Refuse SA installs (to test the kernel-refused path).
    pub refuse: bool,
    /// Refuse only outbound SAs (ADD): the inbound one goes in.
    pub refuse_out: bool,
    /// Take SAs but keep the answers in `held` (a slow or silent broker).
    pub hold: bool,
    pub held: Vec<KernelEvent>,
    pub log: Vec<String>,
}

impl Kernel {
    pub fn new(first_spi: u32) -> Self {
        Kernel {
            next_spi: first_spi,
            sas: BTreeMap::new(),
            policies: Vec::new(),
            refuse: false,
            refuse_out: false,
            hold: false,
            held: Vec::new(),
            log: Vec::new(),
        }
    }

    pub fn process(&mut self, req: KernelRequest) -> Option<KernelEvent> {
        match req {
            KernelRequest::AllocateSpi { request, dst, .. } => {
                let spi = self.next_spi;
                self.next_spi += 1;
                self.sas.insert((dst, spi), None);
                Some(KernelEvent::SpiAllocated { request, spi })
            }
            KernelRequest::UpdateSa(p) => {
                let r = p.request;
                if self.refuse {
                    return Some(KernelEvent::Refused { request: r });
                }
                let slot = self.sas.get_mut(&(p.dst, p.spi));
                match slot {
                    Some(s) if s.is_none() => {
                        *s = Some(p);
                        self.answer(KernelEvent::Installed { request: r })
                    }
                    _ => {
                        self.log
                            .push(format!("UPDATE without larval SA {:x}", p.spi));
                        Some(KernelEvent::Refused { request: r })
                    }
                }
            }
            KernelRequest::AddSa(p) => {
                let r = p.request;
                if self.refuse || self.refuse_out {
                    return Some(KernelEvent::Refused { request: r });
                }
                if self.sas.contains_key(&(p.dst, p.spi)) {
                    self.log.push(format!("ADD of existing SA {:x}", p.spi));
                    return Some(KernelEvent::Refused { request: r });
                }
                self.sas.insert((p.dst, p.spi), Some(p));
                self.answer(KernelEvent::Installed { request: r })
            }
            KernelRequest::DeleteSa { spi, dst, .. } => {
                self.sas.remove(&(dst, spi));
                None
            }
            KernelRequest::AddPolicy(p) => {
                let r = p.request;
                if !self.policies.iter().any(|x| {
                    x.direction == p.direction
                        && x.local_ts == p.local_ts
                        && x.remote_ts == p.remote_ts
                }) {
                    self.policies.push(p);
                }
                Some(KernelEvent::Installed { request: r })
            }
            KernelRequest::DeletePolicy {
                direction,
                local_ts,
                remote_ts,
            } => {
                self.policies.retain(|x| {
                    !(x.direction == direction
                        && x.local_ts == local_ts
                        && x.remote_ts == remote_ts)
                });
                None
            }
            KernelRequest::UpdateEncap {
                spi,
                src,
                dst,
                encap,
                ..
            } => {
                // Like PF_KEY UPDATE of a mature SA: only an encapsulated SA
                // with these addresses moves.
                match self.sas.get_mut(&(dst, spi)) {
                    Some(Some(p)) if p.src == src && p.encap.is_some() => p.encap = Some(encap),
                    _ => self.log.push(format!("UPDATE encap of unknown SA {spi:x}")),
                }
                None
            }
            KernelRequest::MoveSa {
                spi,
                src,
                dst,
                to_src,
                to_dst,
                encap,
                ..
            } => {
                // As the broker does it: the SA again at the new addresses
                // (same SPI and keys), the old one gone.
                match self.sas.remove(&(dst, spi)) {
                    Some(Some(mut p)) if p.src == src => {
                        p.src = to_src;
                        p.dst = to_dst;
                        p.encap = encap;
                        self.sas.insert((to_dst, spi), Some(p));
                    }
                    other => {
                        if let Some(o) = other {
                            self.sas.insert((dst, spi), o);
                        }
                        self.log.push(format!("MOVE of unknown SA {spi:x}"));
                    }
                }
                None
            }
            KernelRequest::MovePolicy {
                direction,
                local_ts,
                remote_ts,
                local,
                remote,
            } => {
                match self.policies.iter_mut().find(|x| {
                    x.direction == direction && x.local_ts == local_ts && x.remote_ts == remote_ts
                }) {
                    Some(x) => {
                        x.local = local;
                        x.remote = remote;
                    }
                    None => self.log.push("MOVE of unknown policy".into()),
                }
                None
            }
        }
    }

    /// An SA install's answer, now or (with `hold`) later.
    fn answer(&mut self, ev: KernelEvent) -> Option<KernelEvent> {
        if self.hold {
            self.held.push(ev);
            return None;
        }
        Some(ev)
    }

    /// Installed (non-larval) SAs.
    pub fn installed(&self) -> Vec<&SaParams> {
        self.sas.values().flatten().collect()
    }

    pub fn larval(&self) -> usize {
        self.sas.values().filter(|v| v.is_none()).count()
    }
}

pub struct Node {
    pub engine: Engine,
    pub kernel: Kernel,
    pub addr: IpAddr,
    pub events: Vec<Event>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

struct InFlight {
    to: Side,
    t: Transmit,
}

/// Two engines and the network between them.
pub struct Pair {
    pub a: Node,
    pub b: Node,
    pub now: Instant,
    pub start: Instant,
    net: SeededRng,
    pub loss: f64,
    pub dup: f64,
    pub reorder: f64,
    pub latency: Duration,
    /// Keyed by (delivery time, sequence) for stable order.
    flight: BTreeMap<(Instant, u64), InFlight>,
    seq: u64,
    pub delivered: u64,
    /// Size of every datagram sent, in order.
    pub sent: Vec<usize>,
    /// Indices (into `sent`) of datagrams to corrupt (one byte flipped).
    pub corrupt: Vec<usize>,
    /// Rewrites the source of A's datagrams as a NAT would.
    pub nat_a: Option<SocketAddr>,
    nat_map: HashMap<SocketAddr, SocketAddr>,
    /// After `nat_rebind`: datagrams to a mapping the NAT forgot are lost.
    nat_strict: bool,
    /// When set, every datagram sent and delivered, in order.
    pub trace: Option<Vec<Traced>>,
    /// The kernels confirm SA installs this much later (0: at once).
    pub kernel_delay: Duration,
    /// Kernel answers due later, keyed like `flight`.
    kernel_later: BTreeMap<(Instant, u64), (Side, KernelEvent)>,
    /// Every kernel request, in order: when, by whom, what (see `kreq`).
    pub kernel_log: Vec<(Duration, Side, String)>,
}

/// A kernel request in short: "UPDATE 1234", "ADD 1234", "DELETE 1234",
/// "GETSPI", "SPDADD", "SPDDELETE" (SPIs in hex).
pub fn kreq(r: &KernelRequest) -> String {
    match r {
        KernelRequest::AllocateSpi { .. } => "GETSPI".into(),
        KernelRequest::UpdateSa(p) => format!("UPDATE {:x}", p.spi),
        KernelRequest::AddSa(p) => format!("ADD {:x}", p.spi),
        KernelRequest::DeleteSa { spi, .. } => format!("DELETE {spi:x}"),
        KernelRequest::AddPolicy(_) => "SPDADD".into(),
        KernelRequest::DeletePolicy { .. } => "SPDDELETE".into(),
        KernelRequest::UpdateEncap { spi, .. } => format!("ENCAP {spi:x}"),
        KernelRequest::MoveSa { spi, .. } => format!("MOVE {spi:x}"),
        KernelRequest::MovePolicy { .. } => "SPDMOVE".into(),
    }
}

/// One datagram on the simulated wire: sent by `side`, or delivered to it.
#[derive(Clone, Debug)]
pub struct Traced {
    pub sent: bool,
    pub side: Side,
    pub bytes: Vec<u8>,
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub const A_ADDR: &str = "192.0.2.1";
pub const B_ADDR: &str = "198.51.100.2";

/// A lifetime given in seconds: `rekey`, its `jitter`, `hard`.
pub fn lifetime_secs(rekey: u64, jitter: u64, hard: u64) -> RekeySchedule {
    RekeySchedule {
        rekey: Duration::from_secs(rekey),
        jitter: Duration::from_secs(jitter),
        hard: Duration::from_secs(hard),
    }
}

/// Policies for A (initiator) and B (responder) with PSK, X25519,
/// AES-GCM, tunnel 10.1.0.0/24 <-> 10.2.0.0/24.
pub fn psk_policies(psk_a: &[u8], psk_b: &[u8]) -> (Policy, Policy) {
    remember_psk("net", ip(A_ADDR), psk_a);
    remember_psk("net", ip(B_ADDR), psk_b);
    let mut pa = Policy::new("net", ip(A_ADDR), ip(B_ADDR));
    pa.local_id = Identity::fqdn("a.test");
    pa.peer_id = Identity::fqdn("b.test");
    pa.local_ts = vec![TrafficSelector::prefix(ip("10.1.0.0"), 24).unwrap()];
    pa.peer_ts = vec![TrafficSelector::prefix(ip("10.2.0.0"), 24).unwrap()];
    let mut pb = Policy::new("net", ip(B_ADDR), ip(A_ADDR));
    pb.local_id = Identity::fqdn("b.test");
    pb.peer_id = Identity::fqdn("a.test");
    pb.local_ts = vec![TrafficSelector::prefix(ip("10.2.0.0"), 24).unwrap()];
    pb.peer_ts = vec![TrafficSelector::prefix(ip("10.1.0.0"), 24).unwrap()];
    pb.start = StartAction::Passive;
    (pa, pb)
}

// The secrets the test policies were made with, until `config` puts them
// into the engine's credentials (issue 16: a policy holds no secret). Keyed
// by thread: each test sets up its engines on its own thread. (Not a
// thread_local!: clippy's const lint misfires on OpenBSD, docs/bsd.md.)
type Psks = Vec<(std::thread::ThreadId, String, IpAddr, Vec<u8>)>;
type Keys = Vec<(
    std::thread::ThreadId,
    ike_proto::crypto::VerifyingKey,
    Arc<ike_proto::crypto::SigningKey>,
)>;
static PSKS: std::sync::Mutex<Psks> = std::sync::Mutex::new(Vec::new());
static KEYS: std::sync::Mutex<Keys> = std::sync::Mutex::new(Vec::new());

fn me() -> std::thread::ThreadId {
    std::thread::current().id()
}

/// The PSK of policy `name` at local address `local`, for `credentials`.
pub fn remember_psk(name: &str, local: IpAddr, psk: &[u8]) {
    let mut m = PSKS.lock().unwrap();
    m.retain(|(t, n, a, _)| !(*t == me() && n == name && *a == local));
    m.push((me(), name.to_string(), local, psk.to_vec()));
}

/// A private key, found by its public half by `credentials`.
pub fn remember_key(key: Arc<ike_proto::crypto::SigningKey>) {
    KEYS.lock().unwrap().push((me(), key.verifying_key(), key));
}

/// The in-process credentials (the credential process's own code) for
/// `policies`, from the secrets remembered above.
pub fn credentials(policies: &[Arc<Policy>]) -> Arc<dyn Credentials> {
    let mut store = KeyStore::new();
    for p in policies {
        match p.local_auth.public_key() {
            None => {
                let psk = p.local_addr.and_then(|a| {
                    PSKS.lock()
                        .unwrap()
                        .iter()
                        .find(|(t, n, l, _)| *t == me() && *n == p.name && *l == a)
                        .map(|(_, _, _, k)| k.clone())
                });
                if let Some(psk) = psk {
                    store.add_psk(&p.name, &psk);
                }
            }
            Some(public) => {
                let key = KEYS
                    .lock()
                    .unwrap()
                    .iter()
                    .find(|(t, v, _)| *t == me() && v == public)
                    .map(|(_, _, s)| s.clone());
                if let Some(key) = key {
                    store.add_key(&p.name, key);
                }
            }
        }
    }
    Arc::new(store)
}

pub fn config(p: Policy) -> Config {
    let policies = vec![Arc::new(p)];
    Config {
        credentials: credentials(&policies),
        policies,
        retransmit: Retransmit {
            initial: Duration::from_millis(500),
            max_interval: Duration::from_secs(4),
            tries: 5,
        },
        ..Config::default()
    }
}

impl Pair {
    pub fn new(ca: Config, cb: Config, seed: u64) -> Pair {
        let now = Instant::now();
        let a = Node {
            engine: Engine::new(
                ca,
                Box::new(SeededRng::new(seed.wrapping_mul(3).wrapping_add(1))),
                now,
            ),
            kernel: Kernel::new(0xa000_0001),
            addr: ip(A_ADDR),
            events: Vec::new(),
        };
        let b = Node {
            engine: Engine::new(
                cb,
                Box::new(SeededRng::new(seed.wrapping_mul(5).wrapping_add(2))),
                now,
            ),
            kernel: Kernel::new(0xb000_0001),
            addr: ip(B_ADDR),
            events: Vec::new(),
        };
        Pair {
            a,
            b,
            now,
            start: now,
            net: SeededRng::new(seed ^ 0x5eed),
            loss: 0.0,
            dup: 0.0,
            reorder: 0.0,
            latency: Duration::from_millis(10),
            flight: BTreeMap::new(),
            seq: 0,
            delivered: 0,
            sent: Vec::new(),
            corrupt: Vec::new(),
            nat_a: None,
            nat_map: HashMap::new(),
            nat_strict: false,
            trace: None,
            kernel_delay: Duration::ZERO,
            kernel_later: BTreeMap::new(),
            kernel_log: Vec::new(),
        }
    }

    pub fn psk() -> Pair {
        let (pa, pb) = psk_policies(
            b"correct horse battery staple",
            b"correct horse battery staple",
        );
        Pair::new(config(pa), config(pb), 1)
    }

    pub fn node(&mut self, s: Side) -> &mut Node {
        match s {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.net.next_u64() as f64 / u64::MAX as f64) < p
    }

    fn send(&mut self, from: Side, mut t: Transmit) {
        if self.corrupt.contains(&self.sent.len()) {
            let n = t.bytes.len();
            t.bytes[n - 20] ^= 0x40;
        }
        self.sent.push(t.bytes.len());
        if let Some(tr) = self.trace.as_mut() {
            tr.push(Traced {
                sent: true,
                side: from,
                bytes: t.bytes.clone(),
            });
        }
        if from == Side::A {
            if let Some(public) = self.nat_a {
                // A NAT rewrites A's source address and port.
                let inner = t.local;
                let mapped = SocketAddr::new(public.ip(), public.port() + (t.local.port() % 7));
                self.nat_map.insert(mapped, inner);
                t.local = mapped;
            }
        }
        let to = if from == Side::A { Side::B } else { Side::A };
        if self.chance(self.loss) {
            return;
        }
        let copies = if self.chance(self.dup) { 2 } else { 1 };
        for _ in 0..copies {
            let mut at = self.now + self.latency;
            if self.chance(self.reorder) {
                at += Duration::from_millis(1 + self.net.next_u64() % 300);
            }
            self.seq += 1;
            self.flight
                .insert((at, self.seq), InFlight { to, t: t.clone() });
        }
    }

    /// Drains every output of both engines; kernel requests are answered
    /// at once.
    pub fn pump(&mut self) {
        loop {
            let mut work = false;
            for s in [Side::A, Side::B] {
                loop {
                    let n = self.node(s);
                    let Some(req) = n.engine.poll_kernel_request() else {
                        break;
                    };
                    work = true;
                    let line = kreq(&req);
                    let at = self.now - self.start;
                    self.kernel_log.push((at, s, line));
                    let n = self.node(s);
                    if let Some(ev) = n.kernel.process(req) {
                        let install = matches!(
                            ev,
                            KernelEvent::Installed { .. } | KernelEvent::Refused { .. }
                        );
                        if install && !self.kernel_delay.is_zero() {
                            self.seq += 1;
                            let at = self.now + self.kernel_delay;
                            self.kernel_later.insert((at, self.seq), (s, ev));
                            continue;
                        }
                        let now = self.now;
                        let n = self.node(s);
                        n.engine.handle_kernel_event(now, ev);
                    }
                }
                while let Some(t) = self.node(s).engine.poll_transmit() {
                    work = true;
                    self.send(s, t);
                }
                while let Some(e) = self.node(s).engine.poll_event() {
                    self.node(s).events.push(e);
                }
            }
            if !work {
                break;
            }
        }
    }

    fn deliver(&mut self, f: InFlight) {
        self.delivered += 1;
        if let Some(tr) = self.trace.as_mut() {
            tr.push(Traced {
                sent: false,
                side: f.to,
                bytes: f.t.bytes.clone(),
            });
        }
        let now = self.now;
        let mut remote = f.t.local;
        let mut local = f.t.remote;
        if f.to == Side::A {
            // Back through the NAT.
            if let Some(inner) = self.nat_map.get(&local) {
                local = *inner;
            } else if self.nat_strict {
                return;
            }
        }
        let _ = &mut remote;
        let n = self.node(f.to);
        n.engine.handle_datagram(now, local, remote, &f.t.bytes);
    }

    /// Runs until `until`: datagrams, kernel answers and timers.
    pub fn run_until(&mut self, until: Instant) {
        let mut guard = 0u64;
        loop {
            guard += 1;
            assert!(
                guard < 200_000,
                "runaway simulation at {:?}",
                self.now - self.start
            );
            self.pump();
            let next_flight = self.flight.keys().next().map(|k| k.0);
            let next_kernel = self.kernel_later.keys().next().map(|k| k.0);
            let ta = self.a.engine.poll_timeout();
            let tb = self.b.engine.poll_timeout();
            let next = [next_flight, next_kernel, ta, tb]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next else {
                self.now = self.now.max(until);
                return;
            };
            if next > until {
                self.now = until;
                return;
            }
            self.now = self.now.max(next);
            if next_kernel == Some(next) {
                self.kernel_answer_due();
                continue;
            }
            if next_flight == Some(next) {
                let k = *self.flight.keys().next().unwrap();
                let f = self.flight.remove(&k).unwrap();
                self.deliver(f);
                continue;
            }
            let now = self.now;
            if ta.is_some_and(|t| t <= now) {
                self.a.engine.handle_timeout(now);
            }
            if tb.is_some_and(|t| t <= now) {
                self.b.engine.handle_timeout(now);
            }
        }
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// Sets the network's loss, duplication and reordering chances at
    /// once (each 0.0 to 1.0).
    /// The NAT in front of A forgets its mappings and maps A's next
    /// datagrams from `public` (its port plus A's port modulo 7): what a
    /// NAT reboot or a conntrack flush does. Datagrams to the old mappings
    /// are lost from now on.
    pub fn nat_rebind(&mut self, public: SocketAddr) {
        self.nat_a = Some(public);
        self.nat_map.clear();
        self.nat_strict = true;
    }

    pub fn set_network(&mut self, loss: f64, dup: f64, reorder: f64) {
        self.loss = loss;
        self.dup = dup;
        self.reorder = reorder;
    }

    /// The network heals (no loss, duplication or reordering), then `d`
    /// passes: liveness checks and retransmissions sort out what the bad
    /// network left half done.
    pub fn heal_and_run(&mut self, d: Duration) {
        self.set_network(0.0, 0.0, 0.0);
        self.run_for(d);
    }

    /// Feeds the first delayed kernel answer to its engine.
    fn kernel_answer_due(&mut self) {
        let Some((k, (s, ev))) = self.kernel_later.pop_first() else {
            return;
        };
        self.now = self.now.max(k.0);
        let now = self.now;
        self.node(s).engine.handle_kernel_event(now, ev);
    }

    /// Feeds `s`'s held kernel answers (see `Kernel::hold`) to its engine.
    pub fn release_kernel(&mut self, s: Side) {
        let held = std::mem::take(&mut self.node(s).kernel.held);
        let now = self.now;
        for ev in held {
            self.node(s).engine.handle_kernel_event(now, ev);
        }
        self.pump();
    }

    /// Delivers what is in flight (and delayed kernel answers) without
    /// letting timers fire.
    pub fn settle(&mut self) {
        loop {
            self.pump();
            let kernel = self.kernel_later.keys().next().map(|k| k.0);
            let flight = self.flight.keys().next().map(|k| k.0);
            if kernel.is_some_and(|t| flight.is_none_or(|f| t <= f)) {
                self.kernel_answer_due();
                continue;
            }
            let Some(k) = self.flight.keys().next().copied() else {
                return;
            };
            self.now = self.now.max(k.0);
            let f = self.flight.remove(&k).unwrap();
            self.deliver(f);
        }
    }

    pub fn command(&mut self, s: Side, c: Command) {
        let now = self.now;
        self.node(s).engine.handle_command(now, c);
        self.pump();
    }

    /// `s` asks to rekey its child with inbound SPI `spi_in` on `ike`.
    pub fn rekey_child(&mut self, s: Side, ike: IkeSaId, spi_in: u32) {
        self.command(s, Command::RekeyChild { ike, spi_in });
    }

    pub fn initiate(&mut self) {
        self.command(
            Side::A,
            Command::Initiate {
                policy: "net".into(),
            },
        );
    }
}

/// Asserts that every SA one kernel sends with is the SA the other receives
/// with: same SPI, addresses, algorithms and keys; and that each side's SAs
/// are exactly the other's mirror.
pub fn assert_mirrored(p: &Pair) {
    mirrored(p, true)
}

/// Like [`assert_mirrored`] but matching SAs by SPI only (addresses differ
/// across a NAT).
pub fn assert_mirrored_keys(p: &Pair) {
    mirrored(p, false)
}

fn mirrored(p: &Pair, addresses: bool) {
    let a = p.a.kernel.installed();
    let b = p.b.kernel.installed();
    assert_eq!(
        a.len(),
        b.len(),
        "SA count differs: A {} B {}",
        a.len(),
        b.len()
    );
    for x in &a {
        let y = b
            .iter()
            .find(|y| y.spi == x.spi && (!addresses || y.dst == x.dst))
            .unwrap_or_else(|| panic!("SA {:x} to {} missing on B", x.spi, x.dst));
        assert_ne!(x.direction, y.direction);
        if addresses {
            assert_eq!(x.src, y.src);
        }
        assert_eq!(x.encr, y.encr);
        assert_eq!(x.integ, y.integ);
        assert_eq!(
            x.encr_key.as_bytes(),
            y.encr_key.as_bytes(),
            "encryption key of {:x}",
            x.spi
        );
        assert_eq!(
            x.integ_key.as_bytes(),
            y.integ_key.as_bytes(),
            "integrity key of {:x}",
            x.spi
        );
        assert_eq!(x.mode, y.mode);
        assert_eq!(x.esn, y.esn);
        assert_eq!(x.local_ts, y.remote_ts);
        assert_eq!(x.remote_ts, y.local_ts);
        assert!(!x.encr_key.is_empty());
    }
}

pub fn count<F: Fn(&Event) -> bool>(events: &[Event], f: F) -> usize {
    events.iter().filter(|e| f(e)).count()
}

pub fn ike_up(events: &[Event]) -> usize {
    count(events, |e| matches!(e, Event::IkeUp { .. }))
}

pub fn child_up(events: &[Event]) -> usize {
    count(events, |e| matches!(e, Event::ChildUp { .. }))
}

/// A fresh signing key of the given kind and its public half.
pub fn keypair(
    kind: &str,
) -> (
    Arc<ike_proto::crypto::SigningKey>,
    Arc<ike_proto::crypto::VerifyingKey>,
) {
    use ring::signature::{
        EcdsaKeyPair, Ed25519KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING,
        ECDSA_P384_SHA384_ASN1_SIGNING,
    };
    let rng = ring::rand::SystemRandom::new();
    let der = match kind {
        "p256" => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .unwrap()
            .as_ref()
            .to_vec(),
        "p384" => EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, &rng)
            .unwrap()
            .as_ref()
            .to_vec(),
        "ed25519" => Ed25519KeyPair::generate_pkcs8(&rng)
            .unwrap()
            .as_ref()
            .to_vec(),
        _ => panic!("unknown key kind"),
    };
    let k = ike_proto::crypto::SigningKey::from_pkcs8_der(&der, &rng).unwrap();
    let v = k.verifying_key();
    let k = Arc::new(k);
    remember_key(k.clone());
    (k, Arc::new(v))
}

/// Policies with signature authentication both ways.
pub fn sig_policies(kind_a: &str, kind_b: &str) -> (Policy, Policy) {
    let (mut pa, mut pb) = psk_policies(b"unused", b"unused");
    let (ka, va) = keypair(kind_a);
    let (kb, vb) = keypair(kind_b);
    pa.local_auth = LocalAuth::Signature(Arc::new(ka.verifying_key()));
    pa.peer_auth = PeerAuth::Signature(vb);
    pb.local_auth = LocalAuth::Signature(Arc::new(kb.verifying_key()));
    pb.peer_auth = PeerAuth::Signature(va);
    (pa, pb)
}

/// Runs a handshake to completion and checks both sides agree.
pub fn establish(p: &mut Pair) {
    p.initiate();
    p.run_for(Duration::from_secs(3));
    assert_eq!(ike_up(&p.a.events), 1, "A events: {:?}", p.a.events);
    assert_eq!(ike_up(&p.b.events), 1, "B events: {:?}", p.b.events);
    if p.nat_a.is_some() {
        assert_mirrored_keys(p);
    } else {
        assert_mirrored(p);
    }
}

pub fn gcm(bits: u16) -> Encr {
    Encr {
        id: ike_proto::wire::EncrId::AES_GCM_16,
        key_bits: Some(bits),
    }
}

pub fn cbc(bits: u16) -> Encr {
    Encr {
        id: ike_proto::wire::EncrId::AES_CBC,
        key_bits: Some(bits),
    }
}

pub fn chacha() -> Encr {
    Encr {
        id: ike_proto::wire::EncrId::CHACHA20_POLY1305,
        key_bits: None,
    }
}
