//! The broker's XFRM back end: the same decisions as [`super::Broker`]
//! (the allow-list [`super::allow::check`] on the IPC request before any
//! kernel encoding, reqid bindings, what we own, clean-up at exit), with
//! the requests encoded as NETLINK_XFRM messages ([`crate::xfrm::request`])
//! and the kernel's answers and events decoded back into the same IPC
//! replies and events ([`crate::xfrm::event`]).
//!
//! Differences from PF_KEY, and why the loop is simpler:
//! - No REGISTER: XFRM has no algorithm list. `Ready` goes out at once with
//!   the transforms XFRM can name (AEADs, HMAC-SHA2-256-128, ESN).
//! - Requests carry NLM_F_ACK; every answer (ACK, errno, or the NEWSA of
//!   ALLOCSPI/GETSA) echoes our seq, which finds the pending request.
//! - AddPolicy is sent as UPDPOLICY (create or replace), where PF_KEY sends
//!   SPDADD and resends SPDUPDATE on EEXIST. With no resend, every request
//!   is written once in the order ike-net sent it, and xfrm_user handles
//!   one socket's messages in order inside sendmsg: no request needs to
//!   wait behind another for the same object.
//! - Multicast events come from the groups the parent bound the socket to
//!   (ACQUIRE, EXPIRE, MAPPING; `xfrm::consts::BROKER_GROUPS`), with pid 0
//!   and seq 0; the SA and POLICY groups (every daemon's changes) are not
//!   joined.

use super::allow::{self, sa_key, InstalledPolicy, Owned, OwnedSa};
use super::{AdminResult, BrokerConfig};
use crate::xfrm::event;
use crate::xfrm::message::{parse_datagram, Body, KernelMsg};
use crate::xfrm::request::{self, Flush};
use ike_ipc::config::IpsecProtocol;
use ike_ipc::msg::pfkey::{
    BrokerEvent, BrokerPolicyParams, BrokerRequest, BrokerRequestId, BrokerSaParams, KernelError,
    KernelReply, NatT, NetToPfkey, PfkeyToNet, SaId,
};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

const LARVAL_SWEEP: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
enum NetOp {
    GetSpi(SaId),
    Add(Box<BrokerSaParams>),
    Update(Box<BrokerSaParams>),
    UpdateEncap(SaId, NatT),
    Delete(SaId),
    Get(SaId),
    AddPolicy(BrokerPolicyParams),
    DeletePolicy(BrokerPolicyParams),
}

#[derive(Debug, Clone)]
enum Op {
    Net { id: BrokerRequestId, req: NetOp },
    Flush,
    Cleanup,
}

#[derive(Debug)]
struct Pending {
    op: Op,
    deadline: Instant,
    written: bool,
}

pub struct XfrmBroker {
    cfg: BrokerConfig,
    seq: u32,
    pending: BTreeMap<u32, Pending>,
    to_kernel: VecDeque<(u32, Vec<u8>)>,
    to_net: VecDeque<PfkeyToNet>,
    in_kernel: usize,
    next_larval_sweep: Option<Instant>,
    owned: Owned,
    shutting_down: bool,
}

impl XfrmBroker {
    /// Queues the start-up flush if configured; ike-net hears `Ready` at once.
    pub fn new(cfg: BrokerConfig, now: Instant) -> XfrmBroker {
        let mut b = XfrmBroker {
            cfg,
            seq: 0,
            pending: BTreeMap::new(),
            to_kernel: VecDeque::new(),
            to_net: VecDeque::new(),
            in_kernel: 0,
            next_larval_sweep: None,
            owned: Owned::default(),
            shutting_down: false,
        };
        if b.cfg.flush_on_start {
            log::info!("flushing the kernel's SAD and SPD (flush-on-start)");
            for what in [
                Flush::Sa(IpsecProtocol::Esp),
                Flush::Sa(IpsecProtocol::Ah),
                Flush::Policies,
            ] {
                let seq = b.next_seq();
                b.send(seq, request::flush(seq, what), Op::Flush, now);
            }
        }
        let s = event::supported();
        log::info!("XFRM: offering {:?} / {:?}", s.encryption, s.integrity);
        b.to_net.push_back(PfkeyToNet::Ready(s));
        b
    }

    pub fn set_allowed(&mut self, allowed: allow::AllowedSet) {
        self.cfg.allowed = allowed;
    }

    pub fn set_sa_limit(&mut self, sa_limit: u32) {
        self.owned.set_limit(sa_limit);
    }

    pub fn owned(&self) -> &Owned {
        &self.owned
    }

    fn next_seq(&mut self) -> u32 {
        loop {
            self.seq = self.seq.wrapping_add(1);
            if self.seq != 0 && !self.pending.contains_key(&self.seq) {
                return self.seq;
            }
        }
    }

    fn send(&mut self, seq: u32, bytes: crate::xfrm::Result<Vec<u8>>, op: Op, now: Instant) {
        match bytes {
            Ok(b) => {
                if matches!(
                    op,
                    Op::Net {
                        req: NetOp::GetSpi(_),
                        ..
                    }
                ) {
                    self.owned.getspi_in_flight += 1;
                }
                self.to_kernel.push_back((seq, b));
                self.pending.insert(
                    seq,
                    Pending {
                        op,
                        deadline: now + self.cfg.timeout,
                        written: false,
                    },
                );
            }
            Err(e) => self.fail(op, KernelError::Unsupported(format!("cannot encode: {e}"))),
        }
    }

    pub fn kernel_in_flight(&self) -> usize {
        self.in_kernel
    }

    /// The next message to write, about to be written at `now` (its reply
    /// deadline counts from then).
    pub fn poll_kernel_transmit_at(&mut self, now: Instant) -> Option<Vec<u8>> {
        let (seq, bytes) = self.to_kernel.pop_front()?;
        let wait = self.cfg.timeout;
        if let Some(p) = self.pending.get_mut(&seq) {
            if !p.written {
                p.written = true;
                self.in_kernel += 1;
            }
            p.deadline = now + wait;
        }
        Some(bytes)
    }

    pub fn poll_net(&mut self) -> Option<PfkeyToNet> {
        self.to_net.pop_front()
    }

    /// No admin dump through XFRM: PF_KEY's (`Broker::admin_dump`) serves
    /// the lab's pfkey-probe only, never ike-ctl; operators read the kernel
    /// with `ip xfrm state/policy`, and `show sa` counters come by GETSA
    /// (`NetOp::Get`) on both interfaces.
    pub fn poll_admin(&mut self) -> Option<AdminResult> {
        None
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.deadline).min()
    }

    pub fn is_idle(&self) -> bool {
        self.pending.is_empty() && self.to_kernel.is_empty()
    }

    fn reply(&mut self, id: BrokerRequestId, result: Result<KernelReply, KernelError>) {
        self.to_net.push_back(PfkeyToNet::Reply { id, result });
    }

    fn take_pending(&mut self, seq: u32) -> Option<Op> {
        let p = self.pending.remove(&seq)?;
        if p.written {
            self.in_kernel = self.in_kernel.saturating_sub(1);
        }
        if matches!(
            p.op,
            Op::Net {
                req: NetOp::GetSpi(_),
                ..
            }
        ) {
            self.owned.getspi_in_flight = self.owned.getspi_in_flight.saturating_sub(1);
        }
        Some(p.op)
    }

    fn fail(&mut self, op: Op, e: KernelError) {
        match op {
            Op::Net { id, req } => {
                // A refused request installed nothing: its reqid claim goes,
                // unless the SA or policy was there before.
                match &req {
                    NetOp::Add(p) | NetOp::Update(p) => {
                        let key = sa_key(&p.id);
                        if self.owned.sas.get(&key).is_none_or(|o| o.larval) {
                            self.owned.bindings.release_sa(&key);
                        }
                    }
                    NetOp::AddPolicy(p) if self.owned.policy(p).is_none() => {
                        self.owned.bindings.release_policy(p)
                    }
                    _ => {}
                }
                self.reply(id, Err(e))
            }
            Op::Flush | Op::Cleanup => log::warn!("XFRM request failed: {e:?}"),
        }
    }

    // ---- requests from ike-net -------------------------------------------------

    pub fn handle_net(&mut self, msg: NetToPfkey, now: Instant) {
        let (id, req) = match msg {
            NetToPfkey::Request { id, req } => (id, req),
            NetToPfkey::Lease { peer, addrs, lent } => {
                super::leases::record(&self.cfg.allowed, &mut self.owned, peer, &addrs, lent);
                return;
            }
        };
        if self.shutting_down {
            self.reply(id, Err(KernelError::Refused("shutting down".into())));
            return;
        }
        if self.next_larval_sweep.is_none_or(|t| now >= t) {
            self.owned.forget_stale_larval(now);
            self.next_larval_sweep = Some(now + LARVAL_SWEEP);
        }
        // MOBIKE: the move is checked as a whole (`mobility::plan`: an SA or
        // policy of ours, exactly as installed, to ends a configured policy
        // allows, reqid binding moved), then its steps are sent in order, one
        // reply each. They are not checked one by one: the second step of an
        // SA move would be judged before the kernel has done the first, and
        // they carry the parameters this broker installed. Linux keys SAs by
        // destination, so no global SPI namespace (`false`).
        if matches!(
            req,
            BrokerRequest::MoveSa { .. } | BrokerRequest::MovePolicy { .. }
        ) {
            match super::mobility::plan(&self.cfg.allowed, &mut self.owned, &req, false) {
                Ok(steps) => {
                    log::info!("request {id}: {req:?} in {} step(s)", steps.len());
                    for step in steps {
                        self.submit(id, step, now);
                    }
                }
                Err(why) => {
                    log::warn!("refused request {id} from ike-net: {why}");
                    self.reply(id, Err(KernelError::Refused(why)));
                }
            }
            return;
        }
        // The same allow-list as PF_KEY, on the IPC request, before encoding.
        if let Err(why) = allow::check(&self.cfg.allowed, &self.owned, &req) {
            log::warn!("refused request {id} from ike-net: {why}");
            self.reply(id, Err(KernelError::Refused(why)));
            return;
        }
        self.submit(id, req, now);
    }

    /// Encode and send a request that passed the checks.
    fn submit(&mut self, id: BrokerRequestId, req: BrokerRequest, now: Instant) {
        self.owned.bindings.claim(&req);
        let seq = self.next_seq();
        let (bytes, op) = match &req {
            BrokerRequest::GetSpi {
                proto,
                src,
                dst,
                mode,
                reqid,
                acquire_seq,
            } => {
                let sa = SaId {
                    proto: *proto,
                    spi: 0,
                    src: *src,
                    dst: *dst,
                };
                (
                    request::allocspi(seq, *proto, src, dst, *mode, *reqid, *acquire_seq),
                    NetOp::GetSpi(sa),
                )
            }
            BrokerRequest::AddSa(p) => (request::sa(seq, p, false), NetOp::Add(p.clone())),
            BrokerRequest::UpdateSa(p) => (request::sa(seq, p, true), NetOp::Update(p.clone())),
            BrokerRequest::UpdateEncap { id: sa, natt } => {
                // UPDSA of the SA as installed with the new ports: the kernel
                // changes the encapsulation of a mature SA in place
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
                        (
                            request::sa(seq, &moved, true),
                            NetOp::UpdateEncap(*sa, *natt),
                        )
                    }
                    None => {
                        self.reply(
                            id,
                            Err(KernelError::Unsupported(
                                "the SA's parameters are not known".into(),
                            )),
                        );
                        return;
                    }
                }
            }
            BrokerRequest::DeleteSa(s) => (request::sa_id(seq, s, false), NetOp::Delete(*s)),
            BrokerRequest::GetSa(s) => (request::sa_id(seq, s, true), NetOp::Get(*s)),
            BrokerRequest::AddPolicy(p) => (request::policy(seq, p, true), NetOp::AddPolicy(*p)),
            BrokerRequest::DeletePolicy(p) => {
                (request::delete_policy(seq, p), NetOp::DeletePolicy(*p))
            }
            BrokerRequest::AcquireFailed { seq: aseq, .. } => {
                // XFRM has no message for it: the kernel's acquire state
                // times out by itself (net.core.xfrm_acq_expires).
                self.owned.forget_acquire(*aseq);
                self.reply(id, Ok(KernelReply::Done));
                return;
            }
            // allow::check refused these above; this arm keeps the match total.
            BrokerRequest::Flush
            | BrokerRequest::Dump
            | BrokerRequest::SpdFlush
            | BrokerRequest::SpdDump
            | BrokerRequest::MoveSa { .. }
            | BrokerRequest::MovePolicy { .. } => {
                self.reply(id, Err(KernelError::Refused("never for ike-net".into())));
                return;
            }
        };
        self.send(seq, bytes, Op::Net { id, req: op }, now);
    }

    // ---- messages from the kernel ----------------------------------------------

    /// One datagram read from the NETLINK_XFRM socket (one or more messages).
    pub fn handle_kernel(&mut self, bytes: &[u8], now: Instant) {
        for m in parse_datagram(bytes) {
            match m {
                Ok(m) => self.on_message(m, now),
                Err(e) => log::warn!("undecodable XFRM message ({} bytes): {e}", bytes.len()),
            }
        }
        if self.shutting_down && self.cfg.delete_on_exit {
            self.remove_owned(now);
        }
    }

    fn on_message(&mut self, m: KernelMsg, now: Instant) {
        match &m.body {
            Body::Ack(req) | Body::Failed { request: req, .. } => {
                let Some(op) = self.take_pending(req.seq) else {
                    log::debug!("XFRM answer for seq {} with nothing pending", req.seq);
                    return;
                };
                match m.body {
                    Body::Failed { errno, .. } => self.fail(op, KernelError::Kernel(errno)),
                    _ => self.acked(op, now),
                }
            }
            Body::Sa(info, attrs) if m.header.seq != 0 => {
                let Some(op) = self.take_pending(m.header.seq) else {
                    log::debug!("XFRM NEWSA seq {} with nothing pending", m.header.seq);
                    return;
                };
                match op {
                    Op::Net {
                        id,
                        req: NetOp::GetSpi(mut sa),
                    } => {
                        sa.spi = info.id.spi;
                        self.owned.insert_sa(OwnedSa {
                            id: sa,
                            larval: true,
                            since: now,
                            params: None,
                        });
                        self.reply(id, Ok(KernelReply::Spi(sa.spi)));
                    }
                    Op::Net {
                        id,
                        req: NetOp::Get(sa),
                    } => {
                        let r = event::sa_info(info, attrs)
                            .map(|mut s| {
                                s.id = sa;
                                KernelReply::Sa(s)
                            })
                            .map_err(|e| KernelError::Protocol(e.to_string()));
                        self.reply(id, r);
                    }
                    other => self.fail(
                        other,
                        KernelError::Protocol("an SA where an ACK was expected".into()),
                    ),
                }
            }
            Body::Acquire(..) | Body::Expire(..) | Body::Mapping(_) => self.on_event(&m, now),
            Body::PolExpire(pe, _) => {
                // The broker sets no policy lifetimes: another daemon's or
                // an operator's policy, logged like FreeBSD's SPDEXPIRE.
                log::info!(
                    "kernel: policy index {} dir {} expired ({})",
                    pe.pol.index,
                    pe.pol.dir,
                    if pe.hard { "hard" } else { "soft" }
                );
            }
            b => log::debug!("ignored XFRM message {b:?}"),
        }
    }

    fn acked(&mut self, op: Op, now: Instant) {
        let Op::Net { id, req } = op else {
            return;
        };
        let r = match req {
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
            NetOp::AddPolicy(p) => {
                let ip = InstalledPolicy {
                    params: p,
                    kernel_id: 0,
                };
                // UPDPOLICY: one record per (direction, selectors), replaced.
                self.owned.insert_policy(ip);
                Ok(KernelReply::Done)
            }
            NetOp::DeletePolicy(p) => {
                self.owned.remove_policy(&p);
                self.owned.bindings.release_policy(&p);
                Ok(KernelReply::Done)
            }
            NetOp::GetSpi(_) | NetOp::Get(_) => Err(KernelError::Protocol(
                "an ACK where an SA was expected".into(),
            )),
        };
        self.reply(id, r);
    }

    fn on_event(&mut self, m: &KernelMsg, now: Instant) {
        let mut ev = match event::to_event(m) {
            Ok(Some(ev)) => ev,
            Ok(None) => return,
            Err(e) => {
                log::warn!("malformed XFRM event from the kernel ignored: {e}");
                return;
            }
        };
        match ev {
            BrokerEvent::Acquire {
                seq,
                ref policy,
                ref mut packet,
                ..
            } => {
                if let Some(s) = policy {
                    if !allow::acquire_configured(&self.cfg.allowed, s) {
                        log::debug!("ACQUIRE {seq} for selectors outside the configuration");
                        return;
                    }
                }
                // The packet's selectors go to the peer first (RFC 7296
                // 2.9): never anything the policy does not cover.
                let inside = match (packet.as_ref(), policy) {
                    (Some(p), Some(pol)) => allow::packet_within(p, pol),
                    _ => true,
                };
                if !inside || (packet.is_some() && policy.is_none()) {
                    log::warn!(
                        "ACQUIRE {seq}: packet selectors {:?} outside the policy's {:?}, dropped",
                        packet,
                        policy
                    );
                    *packet = None;
                }
                self.owned.note_acquire(seq, now);
                self.to_net.push_back(PfkeyToNet::Event(ev));
            }
            BrokerEvent::Expire { kind, sa } => {
                let key = sa_key(&sa);
                if !self.owned.sas.contains_key(&key) {
                    log::debug!("EXPIRE of an SA that is not ours (spi {:#x})", sa.spi);
                    return;
                }
                if kind == ike_ipc::msg::pfkey::ExpireKind::Hard {
                    self.owned.remove_sa(&key);
                    self.owned.bindings.release_sa(&key);
                }
                self.to_net.push_back(PfkeyToNet::Event(ev));
            }
            BrokerEvent::NatMapping { sa, old, new } => {
                let ours = self.owned.sas.values().find(|s| {
                    s.id.proto == sa.proto
                        && s.id.spi == sa.spi
                        && s.id.src == old.ip()
                        && !s.larval
                        && s.params.as_ref().is_some_and(|p| p.natt.is_some())
                });
                match ours {
                    Some(s) => {
                        let ev = BrokerEvent::NatMapping { sa: s.id, old, new };
                        log::info!("kernel: SA {:#x} mapping {old} -> {new}", sa.spi);
                        self.to_net.push_back(PfkeyToNet::Event(ev));
                    }
                    None => log::info!("kernel: mapping of SA {:#x}, not ours: ignored", sa.spi),
                }
            }
        }
    }

    // ---- time and shutdown ---------------------------------------------------------

    pub fn handle_timeout(&mut self, now: Instant) {
        let expired: Vec<u32> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(s, _)| *s)
            .collect();
        for seq in expired {
            if let Some(op) = self.take_pending(seq) {
                log::warn!("no XFRM answer to seq {seq}");
                self.fail(op, KernelError::Timeout);
            }
        }
    }

    pub fn shutdown(&mut self, now: Instant) {
        self.shutting_down = true;
        if self.cfg.delete_on_exit {
            self.remove_owned(now);
        }
    }

    /// Queue the deletion of what we own and forget it. Requests still in
    /// flight were written before these, and the kernel handles them in
    /// order; what one of them installs is deleted when its ACK arrives
    /// (handle_kernel calls this again while shutting down).
    fn remove_owned(&mut self, now: Instant) {
        for p in std::mem::take(&mut self.owned.policies).into_values() {
            let seq = self.next_seq();
            self.send(
                seq,
                request::delete_policy(seq, &p.params),
                Op::Cleanup,
                now,
            );
        }
        for sa in std::mem::take(&mut self.owned.sas).into_values() {
            let seq = self.next_seq();
            self.send(seq, request::sa_id(seq, &sa.id, false), Op::Cleanup, now);
        }
    }
}

#[cfg(test)]
#[path = "xfrm_tests.rs"]
mod tests;
