//! Policy enforcement: what ike-net may ask of the kernel.
//!
//! The broker trusts the network worker with nothing (DESIGN.md "Processes and
//! trust"). In the manner of OpenSSH's monitor, one table names every request
//! ike-net can send and the single rule that permits it; a request is checked
//! against the rule before any byte goes to the kernel, and a refusal is logged.
//! The rules look at two things only:
//!
//! - the allowed set the parent pushed, derived from the configuration: which
//!   local and peer addresses, traffic selectors, protocol and mode each policy
//!   permits ([`AllowedSet`]);
//! - what this broker itself created in the kernel ([`Owned`]): the SPIs it
//!   reserved (GETSPI) or installed (ADD/UPDATE), the policies it added, and the
//!   ACQUIREs it passed on. A compromised worker therefore cannot update,
//!   read or delete another daemon's SA, nor remove a policy it did not add.
//!
//! FLUSH, DUMP, SPDFLUSH and SPDDUMP are never performed for ike-net: they
//! touch every daemon's state (and DUMP would hand out every key).

use super::sa_rules::{self, DEFAULT_NATT_PORT};
use ike_ipc::config::{ChildScope, Config, Encapsulation, IpNet, IpsecProtocol, Policy};
use ike_ipc::msg::pfkey::{
    BrokerPolicyParams, BrokerRequest, BrokerSaParams, NatT, PolicyDir, SaId, Selectors,
};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Everything ike-net may install, as pushed by the parent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AllowedSet {
    pub children: Vec<ChildScope>,
    /// Our NAT-T port (the parent's `--natt-port`); 0 = [`DEFAULT_NATT_PORT`].
    pub natt_port: u16,
    /// The `config address` pools of `to dynamic` policies: a policy into
    /// one needs a lease (`leases.rs`).
    pub pools: Vec<IpNet>,
}

impl AllowedSet {
    pub fn from_config(cfg: &Config) -> AllowedSet {
        AllowedSet {
            children: cfg.policies.iter().map(Policy::child_scope).collect(),
            natt_port: DEFAULT_NATT_PORT,
            pools: cfg
                .policies
                .iter()
                .filter(|p| p.cp.dynamic_peer)
                .flat_map(|p| p.cp.addresses.iter().copied())
                .collect(),
        }
    }

    /// The NAT-T port UDP-encapsulated SAs must use at our end.
    pub fn natt_port(&self) -> u16 {
        if self.natt_port == 0 {
            DEFAULT_NATT_PORT
        } else {
            self.natt_port
        }
    }
}

/// The largest reqid Linux and FreeBSD keep: both replace a larger one in a
/// policy with one of their own choosing (Linux af_key
/// `parse_ipsecrequest()`, FreeBSD key.c `key_msg2sp()`), after which the
/// policy no longer finds our SAs. OpenBSD flows carry no reqid.
pub const MAX_REQID: u32 = crate::dialect::IPSEC_MANUAL_REQID_MAX;

/// A KAME policy's identity in the SPD: direction and selectors, as a key
/// that orders and hashes (the IPC types do neither).
pub type PolicyKey = (
    u8,
    IpAddr,
    u8,
    IpAddr,
    u8,
    Option<u8>,
    Option<u16>,
    Option<u16>,
);

pub fn policy_key(dir: PolicyDir, sel: &Selectors) -> PolicyKey {
    let d = match dir {
        PolicyDir::In => 0,
        PolicyDir::Out => 1,
        PolicyDir::Fwd => 2,
    };
    (
        d,
        sel.src.addr,
        sel.src.prefix,
        sel.dst.addr,
        sel.dst.prefix,
        sel.proto,
        sel.src_port,
        sel.dst_port,
    )
}

/// Kernel key of an SA: (IKE protocol id, destination, SPI).
pub type SaKey = (u8, IpAddr, u32);

pub fn sa_key(id: &SaId) -> SaKey {
    (id.proto.protocol_id(), id.dst, id.spi)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedSa {
    pub id: SaId,
    /// Reserved by GETSPI, not yet completed by UPDATE.
    pub larval: bool,
    /// When the kernel confirmed it (larval SAs vanish from the kernel after
    /// a while: FreeBSD 30 s, Linux's acquire timer).
    pub since: Instant,
    /// What it was installed with (keys included, zeroized when dropped):
    /// a NAT mapping change re-sends it with new ports (PF_KEY UPDATE has
    /// no partial form). `None` while larval.
    pub params: Option<Box<BrokerSaParams>>,
}

/// At most this many SPIs reserved and not yet completed: GETSPI creates
/// kernel state, and a compromised worker must not be able to fill the
/// kernel's SPI space or memory with it.
/// The default; `set sa-limit` raises it to an eighth of the SA limit
/// ([`Owned::set_limit`]): a thousand tunnels started at once reserve a
/// thousand SPIs, and 256 refused the rest (issue 12).
pub const MAX_LARVAL: usize = 256;

/// The default of [`Owned::max_sas`] until the configuration sets one
/// (`set sa-limit`, sized from memory by ike-parent when absent: issue 12).
/// SAs and policies installed through this broker are kernel memory, and a
/// compromised worker must not be able to exhaust it with endless
/// configured-looking SAs (requests in flight are not counted, so the bound
/// is approximate by the pipeline's depth).
pub const MAX_SAS: usize = ike_ipc::config::FALLBACK_SA_LIMIT as usize;
pub const MAX_POLICIES: usize = MAX_SAS * ike_ipc::config::POLICIES_PER_SA as usize;

/// A larval SA older than this is gone from the kernel: forget it.
pub const LARVAL_FORGET: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledPolicy {
    pub params: BrokerPolicyParams,
    /// The kernel's policy id (KAME), 0 if unknown (OpenBSD flows).
    pub kernel_id: u32,
}

/// At most this many ACQUIREs remembered for ike-net's answer: each is a
/// kernel event ike-net may echo (GETSPI `acquire_seq`, AcquireFailed), and
/// traffic into a trap policy raises them at the kernel's pace. Beyond it the
/// oldest is forgotten (its answer is then refused; the kernel's own acquire
/// state times out by itself).
pub const MAX_ACQUIRES: usize = 4096;

/// An ACQUIRE older than this is forgotten: Linux drops its acquire state
/// after 30 s (XFRM_ACQ_EXPIRES), FreeBSD's larval acquire lives as long
/// (`net.key.blockacq_lifetime` 20 s, `larval_lifetime` 30 s); four times
/// that leaves a slow negotiation its answer.
pub const ACQUIRE_FORGET: Duration = Duration::from_secs(120);

/// What this broker created in the kernel. Every table is indexed by the key
/// requests name it by, so that checking a request costs O(log n) at
/// 100,000 SAs (issue 12), never a walk over all of them.
#[derive(Debug)]
pub struct Owned {
    pub sas: BTreeMap<SaKey, OwnedSa>,
    /// The larval ones among `sas`, so that counting and expiring them does
    /// not walk every SA.
    larval: BTreeSet<SaKey>,
    pub policies: BTreeMap<PolicyKey, InstalledPolicy>,
    /// Sequence numbers of ACQUIREs passed on to ike-net, and when.
    acquires: BTreeMap<u32, Instant>,
    /// GETSPI requests sent and not yet answered.
    pub getspi_in_flight: usize,
    /// Which CHILD_SA each reqid belongs to (see `binding`).
    pub bindings: super::binding::Bindings,
    /// The most SAs and policies this broker installs, and SPIs it keeps
    /// reserved ([`Owned::set_limit`]).
    pub max_sas: usize,
    pub max_policies: usize,
    pub max_larval: usize,
    /// Virtual addresses ike-net lent, and to which peer (issue 15).
    pub leases: super::leases::LeaseTable,
}

impl Default for Owned {
    fn default() -> Self {
        Owned {
            sas: BTreeMap::new(),
            larval: BTreeSet::new(),
            policies: BTreeMap::new(),
            acquires: BTreeMap::new(),
            getspi_in_flight: 0,
            bindings: Default::default(),
            max_sas: MAX_SAS,
            max_policies: MAX_POLICIES,
            max_larval: MAX_LARVAL,
            leases: Default::default(),
        }
    }
}

impl Owned {
    /// `set sa-limit N`: N SAs, [`ike_ipc::config::POLICIES_PER_SA`] times
    /// as many policies, N/8 (at least [`MAX_LARVAL`]) reserved SPIs; 0
    /// keeps the defaults.
    pub fn set_limit(&mut self, sa_limit: u32) {
        if sa_limit == 0 {
            return;
        }
        self.max_sas = sa_limit as usize;
        self.max_larval = (sa_limit as usize / 8).max(MAX_LARVAL);
        self.max_policies =
            (sa_limit as usize).saturating_mul(ike_ipc::config::POLICIES_PER_SA as usize);
    }

    fn sa(&self, id: &SaId) -> Option<&OwnedSa> {
        self.sas.get(&sa_key(id)).filter(|o| o.id.src == id.src)
    }

    /// Record an SA the kernel confirmed (larval or complete).
    pub fn insert_sa(&mut self, sa: OwnedSa) {
        let key = sa_key(&sa.id);
        if sa.larval {
            self.larval.insert(key);
        } else {
            self.larval.remove(&key);
        }
        self.sas.insert(key, sa);
    }

    /// The kernel confirmed an AddSa/UpdateSa of ours: the SA is complete,
    /// with the parameters (keys included) a later move or encapsulation
    /// update re-sends. Both kernel back ends record it here.
    pub fn sa_installed(&mut self, p: Box<BrokerSaParams>, now: Instant) {
        self.insert_sa(OwnedSa {
            id: p.id,
            larval: false,
            since: now,
            params: Some(p),
        });
    }

    /// The kernel confirmed new encapsulation ports of an SA of ours.
    pub fn encap_updated(&mut self, sa: &SaId, natt: NatT) {
        if let Some(p) = self
            .sas
            .get_mut(&sa_key(sa))
            .and_then(|o| o.params.as_mut())
        {
            p.natt = Some(natt);
        }
        log::info!(
            "SA {:#x} ({} -> {}) now encapsulated with ports {} -> {}",
            sa.spi,
            sa.src,
            sa.dst,
            natt.sport,
            natt.dport
        );
    }

    /// The kernel confirmed the DELETE of an SA of ours; its reqid claim goes.
    pub fn sa_deleted(&mut self, sa: &SaId) {
        self.remove_sa(&sa_key(sa));
        self.bindings.release_sa(&sa_key(sa));
    }

    pub fn remove_sa(&mut self, key: &SaKey) -> Option<OwnedSa> {
        self.larval.remove(key);
        self.sas.remove(key)
    }

    /// Take every SA (shutdown).
    pub fn take_sas(&mut self) -> BTreeMap<SaKey, OwnedSa> {
        self.larval.clear();
        std::mem::take(&mut self.sas)
    }

    pub fn larval_count(&self) -> usize {
        self.larval.len() + self.getspi_in_flight
    }

    /// Drop the larval SAs the kernel has dropped by now, and ACQUIREs too
    /// old to be answered.
    pub fn forget_stale_larval(&mut self, now: Instant) {
        let stale: Vec<SaKey> = self
            .larval
            .iter()
            .filter(|k| {
                self.sas
                    .get(k)
                    .is_none_or(|s| now.saturating_duration_since(s.since) >= LARVAL_FORGET)
            })
            .copied()
            .collect();
        for k in stale {
            self.remove_sa(&k);
        }
        self.acquires
            .retain(|_, t| now.saturating_duration_since(*t) < ACQUIRE_FORGET);
    }

    pub fn policy(&self, p: &BrokerPolicyParams) -> Option<&InstalledPolicy> {
        self.policies.get(&policy_key(p.dir, &p.sel))
    }

    pub fn insert_policy(&mut self, p: InstalledPolicy) {
        self.policies
            .insert(policy_key(p.params.dir, &p.params.sel), p);
    }

    pub fn remove_policy(&mut self, p: &BrokerPolicyParams) -> Option<InstalledPolicy> {
        self.policies.remove(&policy_key(p.dir, &p.sel))
    }

    /// An ACQUIRE passed on to ike-net at `now`. At [`MAX_ACQUIRES`] the
    /// oldest goes (a walk over at most that many, only when full).
    pub fn note_acquire(&mut self, seq: u32, now: Instant) {
        if self.acquires.len() >= MAX_ACQUIRES && !self.acquires.contains_key(&seq) {
            let oldest = self
                .acquires
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(s, _)| *s);
            if let Some(s) = oldest {
                log::warn!("{MAX_ACQUIRES} ACQUIREs unanswered: forgetting ACQUIRE {s}");
                self.acquires.remove(&s);
            }
        }
        self.acquires.insert(seq, now);
    }

    pub fn acquire_known(&self, seq: u32) -> bool {
        self.acquires.contains_key(&seq)
    }

    pub fn forget_acquire(&mut self, seq: u32) {
        self.acquires.remove(&seq);
    }

    pub fn acquire_count(&self) -> usize {
        self.acquires.len()
    }
}

/// The rules a request can be permitted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Addresses, protocol and mode of a configured policy.
    ConfiguredSa,
    /// An SA this broker reserved (GETSPI) or installed, still inside the
    /// configuration (UPDATE completes a larval SA or changes lifetimes).
    OwnConfiguredSa,
    /// An SA this broker reserved or installed.
    OwnSa,
    /// Selectors, tunnel endpoints, protocol and mode of a configured policy.
    ConfiguredPolicy,
    /// A policy this broker installed.
    OwnPolicy,
    /// An ACQUIRE this broker passed on.
    OwnAcquire,
    /// A UDP-encapsulated SA this broker installed, to new ports of the same
    /// peer: only one of the two ports changes (the peer's), addresses stay.
    OwnEncapsulatedSa,
    /// Not for ike-net, whatever it says.
    Never,
}

/// The table: every request ike-net can send, and what permits it.
const TABLE: [(&str, Rule); 13] = [
    ("GetSpi", Rule::ConfiguredSa),
    ("AddSa", Rule::ConfiguredSa),
    ("UpdateSa", Rule::OwnConfiguredSa),
    ("DeleteSa", Rule::OwnSa),
    ("GetSa", Rule::OwnSa),
    ("AddPolicy", Rule::ConfiguredPolicy),
    ("DeletePolicy", Rule::OwnPolicy),
    ("AcquireFailed", Rule::OwnAcquire),
    ("Flush", Rule::Never),
    ("Dump", Rule::Never),
    ("SpdFlush", Rule::Never),
    ("SpdDump", Rule::Never),
    ("UpdateEncap", Rule::OwnEncapsulatedSa),
];

pub fn request_name(req: &BrokerRequest) -> &'static str {
    match req {
        BrokerRequest::GetSpi { .. } => "GetSpi",
        BrokerRequest::AddSa(_) => "AddSa",
        BrokerRequest::UpdateSa(_) => "UpdateSa",
        BrokerRequest::DeleteSa(_) => "DeleteSa",
        BrokerRequest::GetSa(_) => "GetSa",
        BrokerRequest::AddPolicy(_) => "AddPolicy",
        BrokerRequest::DeletePolicy(_) => "DeletePolicy",
        BrokerRequest::AcquireFailed { .. } => "AcquireFailed",
        BrokerRequest::Flush => "Flush",
        BrokerRequest::Dump => "Dump",
        BrokerRequest::SpdFlush => "SpdFlush",
        BrokerRequest::SpdDump => "SpdDump",
        BrokerRequest::UpdateEncap { .. } => "UpdateEncap",
        // Checked by broker/mobility.rs, then performed as AddSa/DeleteSa/AddPolicy.
        BrokerRequest::MoveSa { .. } => "MoveSa",
        BrokerRequest::MovePolicy { .. } => "MovePolicy",
    }
}

/// Permit `req` or say why not.
pub fn check(allowed: &AllowedSet, owned: &Owned, req: &BrokerRequest) -> Result<(), String> {
    let name = request_name(req);
    // A name missing from the table is refused like `Never`.
    let rule = TABLE
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(Rule::Never, |(_, r)| *r);
    let ok = match (rule, req) {
        (Rule::Never, _) => return Err(format!("{name} is never performed for ike-net")),
        (
            Rule::ConfiguredSa,
            BrokerRequest::GetSpi {
                proto,
                src,
                dst,
                mode,
                reqid,
                acquire_seq,
            },
        ) => {
            reqid_ok(*reqid).map_err(|why| format!("{name}: {why}"))?;
            // The seq is echoed to the kernel as the ACQUIRE's (Linux reuses
            // its acquire state): only one this broker passed on.
            if *acquire_seq != 0 && !owned.acquire_known(*acquire_seq) {
                return Err(format!(
                    "{name}: acquire_seq {acquire_seq} is no ACQUIRE this broker passed on"
                ));
            }
            if owned.larval_count() >= owned.max_larval {
                return Err(format!(
                    "{name}: {} SPIs already reserved and not completed (set sa-limit)",
                    owned.max_larval
                ));
            }
            sa_configured(allowed, *proto, *mode, *src, *dst)
        }
        (Rule::ConfiguredSa, BrokerRequest::AddSa(p)) => {
            if owned.sas.len() >= owned.max_sas {
                return Err(format!(
                    "{name}: {} SAs installed already (set sa-limit)",
                    owned.max_sas
                ));
            }
            // An SA we already hold is changed with UPDATE, not replaced.
            if owned.sas.contains_key(&sa_key(&p.id)) {
                false
            } else {
                sa_of_policy(allowed, owned, p).map_err(|why| format!("{name}: {why}"))?
            }
        }
        (Rule::OwnConfiguredSa, BrokerRequest::UpdateSa(p)) => {
            if owned.sa(&p.id).is_none() {
                false
            } else {
                sa_of_policy(allowed, owned, p).map_err(|why| format!("{name}: {why}"))?
            }
        }
        (Rule::OwnSa, BrokerRequest::DeleteSa(id) | BrokerRequest::GetSa(id)) => {
            owned.sa(id).is_some()
        }
        (Rule::ConfiguredPolicy, BrokerRequest::AddPolicy(p)) => {
            reqid_ok(p.reqid).map_err(|why| format!("{name}: {why}"))?;
            if owned.policies.len() >= owned.max_policies && owned.policy(p).is_none() {
                return Err(format!(
                    "{name}: {} policies installed already (set sa-limit)",
                    owned.max_policies
                ));
            }
            // Into a pool: only the address lent to this peer (issue 15).
            if let Err(why) = owned.leases.check_policy(&allowed.pools, p) {
                return Err(format!("{name}: {why}"));
            }
            policy_configured(allowed, p)
        }
        (Rule::OwnPolicy, BrokerRequest::DeletePolicy(p)) => owned.policy(p).is_some(),
        (Rule::OwnAcquire, BrokerRequest::AcquireFailed { seq, .. }) => owned.acquire_known(*seq),
        (Rule::OwnEncapsulatedSa, BrokerRequest::UpdateEncap { id, natt }) => {
            let sa = owned.sa(id).and_then(|o| o.params.as_deref());
            match sa.and_then(|p| p.natt.map(|n| (p, n))) {
                Some((p, old)) => {
                    // Our end stays on the NAT-T port whichever port moves.
                    let ours = |ip| {
                        sa_children(allowed, p.id.proto, p.mode, p.id.src, p.id.dst)
                            .any(|c| c.allows_local(ip))
                    };
                    peer_port_move(old, *natt)
                        && sa_rules::natt_ok(
                            *natt,
                            allowed.natt_port(),
                            ours(p.id.src),
                            ours(p.id.dst),
                        )
                }
                None => {
                    return Err(format!(
                        "{name}: {id:?} is not a UDP-encapsulated SA of ours"
                    ))
                }
            }
        }
        // The table and the request disagree: refuse.
        _ => false,
    };
    if ok {
        // Inside the configuration, and the reqid stays with one CHILD_SA.
        owned
            .bindings
            .check(req)
            .map_err(|why| format!("{name}: {why}"))
    } else {
        Err(format!(
            "{name} outside the configuration or not ours: {req:?}"
        ))
    }
}

/// A NAT mapping change moves the peer's port only: one of the two ports
/// stays as it was (ours), and neither becomes 0.
fn peer_port_move(old: NatT, new: NatT) -> bool {
    new.sport != 0 && new.dport != 0 && (old.sport == new.sport || old.dport == new.dport)
}

/// The configured policies an SA between `a` and `b` (either way) may belong to.
fn sa_children(
    allowed: &AllowedSet,
    proto: IpsecProtocol,
    mode: Encapsulation,
    a: IpAddr,
    b: IpAddr,
) -> impl Iterator<Item = &ChildScope> {
    allowed.children.iter().filter(move |c| {
        c.protocol == proto
            && c.mode == mode
            && ((c.allows_local(a) && c.allows_peer(b)) || (c.allows_peer(a) && c.allows_local(b)))
    })
}

/// An SA between a configured local address and a configured peer, either way.
pub fn sa_configured(
    allowed: &AllowedSet,
    proto: IpsecProtocol,
    mode: Encapsulation,
    a: IpAddr,
    b: IpAddr,
) -> bool {
    sa_children(allowed, proto, mode, a, b).next().is_some()
}

/// A reqid the kernel keeps as given ([`MAX_REQID`]); 0 binds nothing.
fn reqid_ok(reqid: u32) -> Result<(), String> {
    if reqid > MAX_REQID {
        return Err(format!(
            "reqid {reqid} above {MAX_REQID:#x}: Linux and FreeBSD would replace it"
        ));
    }
    Ok(())
}

/// `Ok(true)` when the SA `p` belongs to a configured policy and carries
/// what that policy permits ([`sa_rules::check`]); `Ok(false)` when no
/// policy has its addresses, protocol and mode; `Err` with the reason when
/// some do but none permits its contents. "Belongs to": the addresses, and
/// once a policy of ours named the reqid's selectors (`binding`), a policy
/// whose flows hold them, so that one policy's SA cannot borrow another's
/// weaker algorithms or longer lifetime by sharing its addresses.
fn sa_of_policy(allowed: &AllowedSet, owned: &Owned, p: &BrokerSaParams) -> Result<bool, String> {
    reqid_ok(p.reqid)?;
    let sel = owned.bindings.get(p.reqid).and_then(|b| b.sel);
    let mut first_err = None;
    let mut any = false;
    for c in sa_children(allowed, p.id.proto, p.mode, p.id.src, p.id.dst) {
        if let Some((ours, theirs)) = sel {
            if !c
                .flows
                .iter()
                .any(|f| f.src.covers(&ours) && f.dst.covers(&theirs))
            {
                continue;
            }
        }
        any = true;
        let local_end = |ip| c.allows_local(ip);
        match sa_rules::check(&c.sa, p, allowed.natt_port(), local_end) {
            Ok(()) => return Ok(true),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        Some(e) if any => Err(e),
        _ => Ok(false),
    }
}

fn port_ok(allowed: Option<u16>, asked: Option<u16>) -> bool {
    allowed.is_none_or(|p| asked == Some(p))
}

/// A policy whose selectors lie inside a configured flow, with the configured
/// protocol, mode and tunnel endpoints.
pub fn policy_configured(allowed: &AllowedSet, p: &BrokerPolicyParams) -> bool {
    // Orient everything as (ours, theirs).
    let outbound = p.dir == PolicyDir::Out;
    let (local, remote, lport, rport) = if outbound {
        (p.sel.src, p.sel.dst, p.sel.src_port, p.sel.dst_port)
    } else {
        (p.sel.dst, p.sel.src, p.sel.dst_port, p.sel.src_port)
    };
    allowed.children.iter().any(|c| {
        let ends_ok = match (c.mode, p.tunnel) {
            (Encapsulation::Tunnel, Some((s, d))) => {
                if outbound {
                    c.allows_local(s) && c.allows_peer(d)
                } else {
                    c.allows_peer(s) && c.allows_local(d)
                }
            }
            (Encapsulation::Transport, None) => {
                // Transport mode protects the hosts themselves.
                local.is_host()
                    && remote.is_host()
                    && c.allows_local(local.addr)
                    && c.allows_peer(remote.addr)
            }
            _ => false,
        };
        c.protocol == p.proto
            && c.mode == p.mode
            && ends_ok
            && c.flows.iter().any(|f| {
                f.src.covers(&local)
                    && f.dst.covers(&remote)
                    && f.proto.is_none_or(|x| p.sel.proto == Some(x))
                    && port_ok(f.src_port, lport)
                    && port_ok(f.dst_port, rport)
            })
    })
}

/// An ACQUIRE whose policy selectors the kernel would not tell (SPDGET or
/// ASKPOLICY failed) is still checked: its protocol and outer addresses must
/// be those of a configured policy, ours as the source.
pub fn acquire_ends_configured(
    allowed: &AllowedSet,
    proto: IpsecProtocol,
    src: IpAddr,
    dst: IpAddr,
) -> bool {
    allowed
        .children
        .iter()
        .any(|c| c.protocol == proto && c.allows_local(src) && c.allows_peer(dst))
}

/// ACQUIREs for traffic outside the configuration are not ike-net's business.
pub fn acquire_configured(allowed: &AllowedSet, sel: &ike_ipc::msg::pfkey::Selectors) -> bool {
    allowed.children.iter().any(|c| {
        c.flows
            .iter()
            .any(|f| f.src.covers(&sel.src) && f.dst.covers(&sel.dst))
    })
}

/// A triggering packet's selectors lie inside the policy's: both
/// addresses within its nets, and the protocol and each port equal where
/// the policy names one. ike-net sends them to the peer as the first
/// TSi/TSr pair, so they must not claim more than the policy protects
/// (a kernel or decoder fault would otherwise widen what we ask for).
pub fn packet_within(
    packet: &ike_ipc::msg::pfkey::Selectors,
    policy: &ike_ipc::msg::pfkey::Selectors,
) -> bool {
    fn same<T: PartialEq>(policy: Option<T>, packet: Option<T>) -> bool {
        policy.is_none() || policy == packet
    }
    policy.src.covers(&packet.src)
        && policy.dst.covers(&packet.dst)
        && same(policy.proto, packet.proto)
        && same(policy.src_port, packet.src_port)
        && same(policy.dst_port, packet.dst_port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{allowed_tunnel as allowed, esp_id, ip, policy as pol, sa_params};

    #[test]
    fn sas_between_configured_ends_only() {
        let a = allowed();
        let esp = IpsecProtocol::Esp;
        let t = Encapsulation::Tunnel;
        assert!(sa_configured(&a, esp, t, ip("192.0.2.1"), ip("192.0.2.2")));
        assert!(sa_configured(&a, esp, t, ip("192.0.2.2"), ip("192.0.2.1")));
        assert!(!sa_configured(&a, esp, t, ip("192.0.2.1"), ip("192.0.2.3")));
        assert!(!sa_configured(
            &a,
            IpsecProtocol::Ah,
            t,
            ip("192.0.2.1"),
            ip("192.0.2.2")
        ));
        assert!(!sa_configured(
            &a,
            esp,
            Encapsulation::Transport,
            ip("192.0.2.1"),
            ip("192.0.2.2")
        ));
    }

    #[test]
    fn policies_inside_configured_flows_only() {
        let a = allowed();
        let ends = ("192.0.2.1", "192.0.2.2");
        let back = ("192.0.2.2", "192.0.2.1");
        assert!(policy_configured(
            &a,
            &pol(PolicyDir::Out, "10.1.0.0/16", "10.2.0.0/16", ends)
        ));
        assert!(policy_configured(
            &a,
            &pol(PolicyDir::In, "10.2.0.0/16", "10.1.0.0/16", back)
        ));
        assert!(
            policy_configured(&a, &pol(PolicyDir::Fwd, "10.2.3.0/24", "10.1.0.0/16", back)),
            "narrower is fine"
        );
        assert!(
            !policy_configured(&a, &pol(PolicyDir::Out, "10.0.0.0/8", "10.2.0.0/16", ends)),
            "wider is not"
        );
        assert!(
            !policy_configured(&a, &pol(PolicyDir::In, "10.1.0.0/16", "10.2.0.0/16", back)),
            "wrong way round"
        );
        assert!(!policy_configured(
            &a,
            &pol(
                PolicyDir::Out,
                "10.1.0.0/16",
                "10.2.0.0/16",
                ("192.0.2.1", "198.51.100.1")
            )
        ));
        let mut transport = pol(PolicyDir::Out, "10.1.0.0/16", "10.2.0.0/16", ends);
        transport.tunnel = None;
        assert!(!policy_configured(&a, &transport));
    }

    #[test]
    fn never_rules_hold_whatever_the_state() {
        let a = AllowedSet {
            children: vec![ChildScope {
                local: None,
                peer: None,
                ..allowed().children[0].clone()
            }],
            natt_port: 0,
            pools: Vec::new(),
        };
        let o = Owned::default();
        for r in [
            BrokerRequest::Flush,
            BrokerRequest::Dump,
            BrokerRequest::SpdFlush,
            BrokerRequest::SpdDump,
        ] {
            assert!(check(&a, &o, &r).unwrap_err().contains("never"));
        }
    }

    #[test]
    fn reserved_spis_are_capped_and_forgotten() {
        let a = allowed();
        let mut o = Owned::default();
        // The configured limit, not a constant: 4,096 was too few (issue 12).
        assert!(o.max_sas > 4096);
        o.set_limit(300);
        assert_eq!(o.max_larval, MAX_LARVAL);
        let mut big = Owned::default();
        big.set_limit(80_000);
        assert_eq!(big.max_larval, 10_000);
        let t0 = Instant::now();
        let get = BrokerRequest::GetSpi {
            proto: IpsecProtocol::Esp,
            src: ip("192.0.2.2"),
            dst: ip("192.0.2.1"),
            mode: Encapsulation::Tunnel,
            reqid: 0,
            acquire_seq: 0,
        };
        for spi in 0..MAX_LARVAL as u32 - 1 {
            let id = esp_id(0x1000 + spi, "192.0.2.2", "192.0.2.1");
            o.insert_sa(OwnedSa {
                id,
                larval: true,
                since: t0,
                params: None,
            });
        }
        assert!(check(&a, &o, &get).is_ok());
        o.getspi_in_flight = 1;
        assert!(check(&a, &o, &get)
            .unwrap_err()
            .contains("already reserved"));
        o.forget_stale_larval(t0 + LARVAL_FORGET);
        o.getspi_in_flight = 0;
        assert_eq!(o.larval_count(), 0);
        assert!(check(&a, &o, &get).is_ok());
    }

    #[test]
    fn installed_sas_and_policies_are_capped() {
        let a = allowed();
        let mut o = Owned::default();
        // The configured limit, not a constant: 4,096 was too few (issue 12).
        assert!(o.max_sas > 4096);
        o.set_limit(300);
        assert_eq!(o.max_larval, MAX_LARVAL);
        let mut big = Owned::default();
        big.set_limit(80_000);
        assert_eq!(big.max_larval, 10_000);
        let t0 = Instant::now();
        let mk = |spi| esp_id(spi, "192.0.2.1", "192.0.2.2");
        let add = |spi| {
            BrokerRequest::AddSa(Box::new(sa_params(
                spi,
                "192.0.2.1",
                "192.0.2.2",
                Encapsulation::Tunnel,
            )))
        };
        for spi in 0..300u32 {
            o.insert_sa(OwnedSa {
                id: mk(0x10_0000 + spi),
                larval: false,
                since: t0,
                params: None,
            });
        }
        assert!(check(&a, &o, &add(0x500))
            .unwrap_err()
            .contains("installed already"));
        o.take_sas();
        assert!(check(&a, &o, &add(0x500)).is_ok());
        let ends = ("192.0.2.1", "192.0.2.2");
        let p = pol(PolicyDir::Out, "10.1.0.0/16", "10.2.0.0/16", ends);
        for i in 0..600 {
            let mut q = pol(PolicyDir::Out, "10.1.0.0/16", "10.2.0.0/16", ends);
            q.sel.src_port = Some(i as u16 + 1);
            o.insert_policy(InstalledPolicy {
                params: q,
                kernel_id: 0,
            });
        }
        assert!(check(&a, &o, &BrokerRequest::AddPolicy(p))
            .unwrap_err()
            .contains("installed already"));
        // Re-adding one we hold (SPDUPDATE after a restart) is still fine.
        let mut held = p;
        held.sel.src_port = Some(1);
        assert!(check(&a, &o, &BrokerRequest::AddPolicy(held)).is_ok());
    }

    #[test]
    fn the_table_names_every_request_once() {
        for (i, (n, _)) in TABLE.iter().enumerate() {
            assert!(TABLE[i + 1..].iter().all(|(m, _)| m != n));
        }
        assert_eq!(TABLE.len(), 13);
    }
    #[test]
    fn packet_selectors_must_lie_inside_the_policy() {
        use ike_ipc::config::IpNet;
        use ike_ipc::msg::pfkey::Selectors;
        let sel = |src: &str, sp: u8, dst: &str, proto, dport| Selectors {
            src: IpNet::new(ip(src), sp).unwrap(),
            dst: IpNet::host(ip(dst)),
            proto,
            src_port: None,
            dst_port: dport,
        };
        let policy = sel("10.1.0.0", 16, "10.2.3.4", Some(6), Some(443));
        assert!(packet_within(
            &sel("10.1.7.9", 32, "10.2.3.4", Some(6), Some(443)),
            &policy
        ));
        // Outside the policy's source net, another destination, protocol
        // or port: not the policy's traffic.
        assert!(!packet_within(
            &sel("10.9.7.9", 32, "10.2.3.4", Some(6), Some(443)),
            &policy
        ));
        assert!(!packet_within(
            &sel("10.1.7.9", 32, "10.2.3.5", Some(6), Some(443)),
            &policy
        ));
        assert!(!packet_within(
            &sel("10.1.7.9", 32, "10.2.3.4", Some(17), Some(443)),
            &policy
        ));
        assert!(!packet_within(
            &sel("10.1.7.9", 32, "10.2.3.4", Some(6), Some(80)),
            &policy
        ));
        // Wider than the policy (a whole net where it names one host).
        assert!(!packet_within(
            &sel("10.0.0.0", 8, "10.2.3.4", Some(6), Some(443)),
            &policy
        ));
        // A policy without protocol or ports takes any.
        let any = sel("10.1.0.0", 16, "10.2.3.4", None, None);
        assert!(packet_within(
            &sel("10.1.7.9", 32, "10.2.3.4", Some(1), None),
            &any
        ));
    }
}
