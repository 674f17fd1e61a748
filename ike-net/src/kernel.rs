//! The engine's kernel requests as broker messages, and the broker's
//! replies and events as engine kernel events.
//!
//! The engine speaks in IKE terms (transform IDs, traffic-selector ranges,
//! its own request ids, fire-and-forget deletes); the broker speaks in
//! PF_KEY terms (configuration algorithm names, prefixes, one reply per
//! request). This module keeps the small amount of state the translation
//! needs:
//!
//! - which broker request answers which engine request;
//! - the exact policies it asked for, so that a delete names the very
//!   entry the broker installed (the broker only removes its own);
//! - the sequence number of a pending ACQUIRE, echoed in GETSPI so Linux
//!   reuses its acquire state.

use crate::reqid::Reqids;
use ike_ipc::config::{Encapsulation, Encryption, Integrity, IpNet, IpsecProtocol, Secret};
use ike_ipc::msg::pfkey::{
    self as pk, KernelError, KernelReply, NatT, NetToPfkey, PfkeyToNet, PolicyDir, SaId,
    SaLifetime, Selectors,
};
use ike_proto::engine::{
    Direction, KernelEvent, KernelRequest, RequestId, SaParams, TrafficSelector,
};
use ike_proto::wire::consts::ProtocolId;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What a broker reply means to the engine.
#[derive(Debug, Clone, Copy)]
enum Waiting {
    /// Answer to `AllocateSpi`: our address and the reqid the GETSPI used.
    Spi(RequestId, IpAddr, u32),
    /// Answer to an SA or policy install.
    Install(RequestId),
    /// A delete or an extra policy (Linux `fwd`): only a failure is logged.
    Quiet(&'static str),
    /// Current byte and packet counts of an SA, for `show sa`.
    Counters,
    /// A NAT mapping change moved an SA's encapsulation: a failure leaves
    /// the SA on the old port, which the operator must hear of.
    Encap(u32),
    /// A MOBIKE move of an SA or policy (the broker answers each of its
    /// steps; the first answer is the one that counts here).
    Move(&'static str, u32),
}

/// Traffic through one SA as the kernel last reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    pub bytes: u64,
    pub packets: u32,
}

/// Key of a policy as the engine names it in `DeletePolicy`.
type PolicyKey = (bool, TrafficSelector, TrafficSelector);

#[derive(Debug, Default)]
pub struct KernelMap {
    next_id: u64,
    waiting: HashMap<u64, Waiting>,
    /// Policies sent for each (outbound?, local TS, remote TS).
    policies: HashMap<PolicyKey, Vec<pk::BrokerPolicyParams>>,
    /// Kernel counters by (destination, SPI), read on demand for `show sa`
    /// (`start_counters`, `request_counters`): never polled (issue 12).
    counters: HashMap<(IpAddr, u32), Counters>,
    /// GETs for counters sent and not yet answered.
    counters_outstanding: usize,
    /// ACQUIRE sequence numbers by (our address, peer address).
    acquires: HashMap<(IpAddr, IpAddr), u32>,
    /// Byte limits of child SAs by (our address, peer address), from the
    /// configuration (`lifetime T bytes B`): the engine counts time only.
    pub byte_limits: HashMap<(IpAddr, IpAddr), u64>,
    /// The same for policies whose peer is a prefix or any (`peer` absent),
    /// in configuration order: (our address or any, the peer's prefix or
    /// any, bytes). The broker refuses an SA without a byte limit (issue 16).
    pub byte_limit_nets: Vec<(Option<IpAddr>, Option<ike_ipc::config::IpNet>, u64)>,
    /// Mode per (our address, peer address), for GETSPI (the engine does
    /// not say; the broker checks it against the configuration).
    pub modes: HashMap<(IpAddr, IpAddr), Encapsulation>,
    /// Which reqid the SAs and policies of each CHILD_SA carry.
    pub reqids: Reqids,
    /// Add a Linux `fwd` policy beside each inbound tunnel policy: Linux
    /// checks forwarded (tunnelled-to-another-host) traffic against it.
    /// Set from the broker's `Ready` (`Supported::fwd_policies`).
    pub linux_fwd: bool,
}

/// The triggering packet's selectors for an ACQUIRE, as far as the kernel
/// tells them (RFC 7296 2.9 wants them first in TSi/TSr).
///
/// XFRM's ACQUIRE carries the packet (`packet`: its addresses, with the
/// protocol and ports where the policy has them; the broker checked it
/// lies inside the policy): those go first as they are. PF_KEY ACQUIRE carries the SA's endpoints, not the packet's addresses
/// (Linux af_key sends the template's addresses; FreeBSD and OpenBSD
/// those of the SA index), and the policy's selectors only by SPDGET or
/// ASKPOLICY. So the packet is known only where the two coincide: in
/// transport mode the endpoints are the packet's addresses, and a policy
/// naming one address on each side names the packet's. Anything else
/// would only repeat the policy's selectors, which go after it anyway.
/// Protocol and ports come from the policy when it has them.
fn packet_selectors(
    local: IpAddr,
    peer: IpAddr,
    policy: Option<Selectors>,
    packet: Option<Selectors>,
    transport: bool,
) -> (Option<TrafficSelector>, Option<TrafficSelector>) {
    if let Some(p) = packet {
        return (
            Some(TrafficSelector::from_flow_side(&p.src, p.proto, p.src_port)),
            Some(TrafficSelector::from_flow_side(&p.dst, p.proto, p.dst_port)),
        );
    }
    let (proto, sport, dport) =
        policy.map_or((None, None, None), |s| (s.proto, s.src_port, s.dst_port));
    let (src, dst) = match policy {
        _ if transport => (IpNet::host(local), IpNet::host(peer)),
        Some(s) if s.src.is_host() && s.dst.is_host() => (s.src, s.dst),
        _ => return (None, None),
    };
    (
        Some(TrafficSelector::from_flow_side(&src, proto, sport)),
        Some(TrafficSelector::from_flow_side(&dst, proto, dport)),
    )
}

/// Something the engine asked for that cannot be expressed to the kernel.
fn unsupported(what: &str) -> String {
    format!("kernel request not expressible in PF_KEY: {what}")
}

impl KernelMap {
    pub fn new() -> KernelMap {
        KernelMap {
            next_id: 1,
            // The broker says in Ready (`Supported::fwd_policies`). Until
            // then ask: a refused fwd request costs a log line, a missing
            // one on Linux drops forwarded tunnel traffic.
            linux_fwd: true,
            ..KernelMap::default()
        }
    }

    fn send(&mut self, out: &mut Vec<NetToPfkey>, req: pk::BrokerRequest, w: Waiting) {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.waiting.insert(id, w);
        out.push(NetToPfkey::Request { id, req });
    }

    /// Translates one engine request. Requests that cannot be expressed
    /// are answered at once with a refusal (returned as engine events).
    pub fn request(
        &mut self,
        req: KernelRequest,
        out: &mut Vec<NetToPfkey>,
        refused: &mut Vec<KernelEvent>,
    ) {
        match req {
            KernelRequest::AllocateSpi {
                request,
                protocol,
                src,
                dst,
            } => {
                let Some(proto) = ipsec_proto(protocol) else {
                    log::warn!("{}", unsupported("SPI for a non-ESP/AH protocol"));
                    refused.push(KernelEvent::SpiRefused { request });
                    return;
                };
                // src is the peer, dst is us.
                let mode = self.mode_for(dst, src);
                let acquire_seq = self.acquires.remove(&(dst, src)).unwrap_or(0);
                let reqid = self.reqids.for_getspi(dst, src);
                let r = pk::BrokerRequest::GetSpi {
                    proto,
                    src,
                    dst,
                    mode,
                    reqid,
                    acquire_seq,
                };
                self.send(out, r, Waiting::Spi(request, dst, reqid));
            }
            KernelRequest::UpdateSa(p) | KernelRequest::AddSa(p)
                if ipsec_proto(p.protocol).is_none() =>
            {
                log::warn!("{}", unsupported("SA of a non-ESP/AH protocol"));
                refused.push(KernelEvent::Refused { request: p.request });
            }
            KernelRequest::UpdateSa(p) => {
                let request = p.request;
                match self.sa_params(&p) {
                    Ok(sa) => self.send(
                        out,
                        pk::BrokerRequest::UpdateSa(Box::new(sa)),
                        Waiting::Install(request),
                    ),
                    Err(e) => {
                        log::warn!("{e}");
                        refused.push(KernelEvent::Refused { request });
                    }
                }
            }
            KernelRequest::AddSa(p) => {
                let request = p.request;
                match self.sa_params(&p) {
                    Ok(sa) => self.send(
                        out,
                        pk::BrokerRequest::AddSa(Box::new(sa)),
                        Waiting::Install(request),
                    ),
                    Err(e) => {
                        log::warn!("{e}");
                        refused.push(KernelEvent::Refused { request });
                    }
                }
            }
            KernelRequest::DeleteSa {
                protocol,
                spi,
                src,
                dst,
            } => {
                let Some(id) = sa_id(protocol, spi, src, dst) else {
                    return;
                };
                self.reqids.forget_larval(dst, spi);
                self.send(
                    out,
                    pk::BrokerRequest::DeleteSa(id),
                    Waiting::Quiet("DELETE"),
                );
            }
            KernelRequest::AddPolicy(p) => {
                let request = p.request;
                let outbound = p.direction == Direction::Outbound;
                let (Some(local), Some(remote)) = (prefix_of(&p.local_ts), prefix_of(&p.remote_ts))
                else {
                    log::warn!(
                        "{}",
                        unsupported("a traffic selector that is not one prefix and one port")
                    );
                    refused.push(KernelEvent::Refused { request });
                    return;
                };
                let (src, dst) = if outbound {
                    (local, remote)
                } else {
                    (remote, local)
                };
                let tunnel = match p.mode {
                    Encapsulation::Tunnel if outbound => Some((p.local, p.remote)),
                    Encapsulation::Tunnel => Some((p.remote, p.local)),
                    Encapsulation::Transport => None,
                };
                let base = pk::BrokerPolicyParams {
                    dir: if outbound {
                        PolicyDir::Out
                    } else {
                        PolicyDir::In
                    },
                    sel: Selectors {
                        src: src.0,
                        dst: dst.0,
                        proto: proto_of(&p.local_ts),
                        src_port: src.1,
                        dst_port: dst.1,
                    },
                    proto: IpsecProtocol::Esp,
                    mode: p.mode,
                    tunnel,
                    reqid: self
                        .reqids
                        .of_child((p.local, p.remote, p.local_ts, p.remote_ts), None),
                };
                let mut sent = vec![base];
                self.send(
                    out,
                    pk::BrokerRequest::AddPolicy(base),
                    Waiting::Install(request),
                );
                if !outbound && p.mode == Encapsulation::Tunnel && self.linux_fwd {
                    let fwd = pk::BrokerPolicyParams {
                        dir: PolicyDir::Fwd,
                        ..base
                    };
                    sent.push(fwd);
                    self.send(
                        out,
                        pk::BrokerRequest::AddPolicy(fwd),
                        Waiting::Quiet("SPDADD fwd"),
                    );
                }
                self.policies
                    .insert((outbound, p.local_ts, p.remote_ts), sent);
            }
            KernelRequest::UpdateEncap {
                protocol,
                spi,
                src,
                dst,
                encap: (sport, dport),
            } => {
                let Some(id) = sa_id(protocol, spi, src, dst) else {
                    return;
                };
                self.send(
                    out,
                    pk::BrokerRequest::UpdateEncap {
                        id,
                        natt: NatT { sport, dport },
                    },
                    Waiting::Encap(spi),
                );
            }
            KernelRequest::MoveSa {
                protocol,
                spi,
                src,
                dst,
                to_src,
                to_dst,
                encap,
            } => {
                let Some(id) = sa_id(protocol, spi, src, dst) else {
                    return;
                };
                // What GETSPI of a later rekey looks up by (ours, peer).
                for (old, new) in [
                    ((src, dst), (to_src, to_dst)),
                    ((dst, src), (to_dst, to_src)),
                ] {
                    if let Some(m) = self.modes.get(&old).copied() {
                        self.modes.entry(new).or_insert(m);
                    }
                    if let Some(b) = self.byte_limits.get(&old).copied() {
                        self.byte_limits.entry(new).or_insert(b);
                    }
                }
                self.send(
                    out,
                    pk::BrokerRequest::MoveSa {
                        id,
                        src: to_src,
                        dst: to_dst,
                        natt: encap.map(|(sport, dport)| NatT { sport, dport }),
                    },
                    Waiting::Move("SA", spi),
                );
            }
            KernelRequest::MovePolicy {
                direction,
                local_ts,
                remote_ts,
                local,
                remote,
            } => {
                let key = (direction == Direction::Outbound, local_ts, remote_ts);
                let Some(sent) = self.policies.get_mut(&key) else {
                    return;
                };
                let mut moves = Vec::new();
                let mut old_ends = None;
                for pol in sent.iter_mut() {
                    let Some((s, d)) = pol.tunnel else { continue };
                    let to = if pol.dir == PolicyDir::Out {
                        old_ends = Some((s, d));
                        (local, remote)
                    } else {
                        old_ends = Some((d, s));
                        (remote, local)
                    };
                    moves.push(pk::BrokerRequest::MovePolicy {
                        p: *pol,
                        tunnel: to,
                    });
                    pol.tunnel = Some(to);
                }
                // The child keeps its reqid at the new addresses (a rekey
                // there must find the policies' reqid).
                if let Some((ol, or)) = old_ends {
                    self.reqids
                        .relocate((ol, or, local_ts, remote_ts), (local, remote));
                }
                for m in moves {
                    self.send(out, m, Waiting::Move("policy", 0));
                }
            }
            KernelRequest::DeletePolicy {
                direction,
                local_ts,
                remote_ts,
            } => {
                let key = (direction == Direction::Outbound, local_ts, remote_ts);
                for pol in self.policies.remove(&key).unwrap_or_default() {
                    self.send(
                        out,
                        pk::BrokerRequest::DeletePolicy(pol),
                        Waiting::Quiet("SPDDELETE"),
                    );
                }
                // Both directions gone: the CHILD_SA has left the kernel.
                if !self.policies.contains_key(&(!key.0, local_ts, remote_ts)) {
                    self.reqids.release(&local_ts, &remote_ts);
                }
            }
        }
    }

    /// Starts a counter read for `show sa`: forgets the counters of SAs no
    /// longer listed (src, dst, SPI). The GETs go out with
    /// [`Self::request_counters`], a window at a time.
    pub fn start_counters(&mut self, sas: &[(IpAddr, IpAddr, u32)]) {
        let live: std::collections::HashSet<(IpAddr, u32)> =
            sas.iter().map(|(_, d, s)| (*d, *s)).collect();
        self.counters.retain(|k, _| live.contains(k));
    }

    /// GETs not yet answered.
    pub fn counters_outstanding(&self) -> usize {
        self.counters_outstanding
    }

    /// Asks the kernel for the counters of these SAs (src, dst, SPI).
    pub fn request_counters(&mut self, sas: &[(IpAddr, IpAddr, u32)], out: &mut Vec<NetToPfkey>) {
        for (src, dst, spi) in sas {
            let id = SaId {
                proto: IpsecProtocol::Esp,
                spi: *spi,
                src: *src,
                dst: *dst,
            };
            self.send(out, pk::BrokerRequest::GetSa(id), Waiting::Counters);
            self.counters_outstanding += 1;
        }
    }

    /// The last counters of the SA (destination, SPI), if known.
    pub fn counters(&self, dst: IpAddr, spi: u32) -> Option<Counters> {
        self.counters.get(&(dst, spi)).copied()
    }

    fn mode_for(&self, local: IpAddr, peer: IpAddr) -> Encapsulation {
        self.modes
            .get(&(local, peer))
            .copied()
            .unwrap_or(Encapsulation::Tunnel)
    }

    fn sa_params(&mut self, p: &SaParams) -> Result<pk::BrokerSaParams, String> {
        let proto = ipsec_proto(p.protocol).ok_or_else(|| unsupported("protocol"))?;
        let encryption =
            Encryption::from_transform(p.encr.id.0, p.encr.key_bits).ok_or_else(|| {
                unsupported(&format!(
                    "cipher {} ({:?} bits)",
                    p.encr.id, p.encr.key_bits
                ))
            })?;
        let integrity = match p.integ {
            None => None,
            Some(i) => Some(
                Integrity::from_transform_id(i.0)
                    .ok_or_else(|| unsupported(&format!("integrity {i}")))?,
            ),
        };
        // Outbound SAs go from us to the peer, inbound ones the other way.
        let (local, peer) = match p.direction {
            Direction::Outbound => (p.src, p.dst),
            Direction::Inbound => (p.dst, p.src),
        };
        let bytes = self
            .byte_limits
            .get(&(local, peer))
            .copied()
            .or_else(|| {
                self.byte_limit_nets
                    .iter()
                    .find(|(l, p, _)| {
                        l.is_none_or(|l| l == local) && p.is_none_or(|p| p.contains(peer))
                    })
                    .map(|(_, _, b)| *b)
            })
            .unwrap_or(ike_ipc::config::policy::DEFAULT_CHILD_BYTES)
            .max(1);
        let acquire_seq = if p.direction == Direction::Outbound {
            self.acquires.remove(&(local, peer)).unwrap_or(0)
        } else {
            0
        };
        Ok(pk::BrokerSaParams {
            id: SaId {
                proto,
                spi: p.spi,
                src: p.src,
                dst: p.dst,
            },
            mode: p.mode,
            reqid: self.reqids.of_child(
                (local, peer, p.local_ts, p.remote_ts),
                (p.direction == Direction::Inbound).then_some((p.dst, p.spi)),
            ),
            encryption: Some(encryption),
            enc_key: Secret::new(p.encr_key.as_bytes().to_vec()),
            integrity,
            auth_key: Secret::new(p.integ_key.as_bytes().to_vec()),
            replay_window: p.replay_window,
            esn: p.esn,
            // Soft at 90 % of the byte limit, like the time limits.
            // Never 0 ("no limit" to the kernel; the broker refuses it).
            soft: SaLifetime {
                bytes: (bytes / 10 * 9).max(1),
                seconds: p.soft_lifetime.as_secs().max(1),
                packets: 0,
            },
            hard: SaLifetime {
                bytes,
                seconds: p.hard_lifetime.as_secs().max(1),
                packets: 0,
            },
            natt: p.encap.map(|(sport, dport)| NatT { sport, dport }),
            acquire_seq,
        })
    }

    /// A message from the broker, as engine events (none for most replies
    /// the engine does not wait for). `Ready` is handled by the caller.
    pub fn reply(&mut self, msg: PfkeyToNet) -> Vec<KernelEvent> {
        match msg {
            PfkeyToNet::Ready(_) => Vec::new(),
            PfkeyToNet::Reply { id, result } => {
                let Some(w) = self.waiting.remove(&id) else {
                    log::debug!("broker reply {id} that nobody waits for");
                    return Vec::new();
                };
                match (w, result) {
                    (Waiting::Spi(request, local, reqid), Ok(KernelReply::Spi(spi))) => {
                        self.reqids.getspi_done(local, spi, reqid);
                        vec![KernelEvent::SpiAllocated { request, spi }]
                    }
                    (Waiting::Spi(request, ..), other) => {
                        log::warn!("GETSPI failed: {}", describe(&other));
                        vec![KernelEvent::SpiRefused { request }]
                    }
                    (Waiting::Install(request), Ok(_)) => vec![KernelEvent::Installed { request }],
                    (Waiting::Install(request), Err(e)) => {
                        log::warn!("kernel refused an SA or policy: {}", error_text(&e));
                        vec![KernelEvent::Refused { request }]
                    }
                    (Waiting::Counters, Ok(KernelReply::Sa(info))) => {
                        self.counters_outstanding = self.counters_outstanding.saturating_sub(1);
                        self.counters.insert(
                            (info.id.dst, info.id.spi),
                            Counters {
                                bytes: info.bytes,
                                packets: info.packets,
                            },
                        );
                        Vec::new()
                    }
                    (Waiting::Counters, other) => {
                        self.counters_outstanding = self.counters_outstanding.saturating_sub(1);
                        // Gone meanwhile (expired, deleted): not an error.
                        log::debug!("GET of an SA failed: {}", describe(&other));
                        Vec::new()
                    }
                    (Waiting::Encap(_), Ok(_)) => Vec::new(),
                    (Waiting::Encap(spi), Err(e)) => {
                        log::warn!(
                            "SA {spi:#x} stays on the peer's old NAT port: {}",
                            error_text(&e)
                        );
                        Vec::new()
                    }
                    (Waiting::Move(..), Ok(_)) => Vec::new(),
                    (Waiting::Move(what, spi), Err(e)) => {
                        log::warn!(
                            "MOBIKE: the {what} {spi:#x} did not move to the new addresses: {}",
                            error_text(&e)
                        );
                        Vec::new()
                    }
                    (Waiting::Quiet(_), Ok(_)) => Vec::new(),
                    (Waiting::Quiet(what), Err(e)) => {
                        // ENOENT for an SA that expired meanwhile is normal.
                        log::debug!("{what} failed: {}", error_text(&e));
                        Vec::new()
                    }
                }
            }
            PfkeyToNet::Event(pk::BrokerEvent::Acquire {
                seq,
                src,
                dst,
                policy,
                packet,
                mode,
                ..
            }) => {
                // The kernel's src/dst are the tunnel ends: ours, the peer's.
                self.acquires.insert((src, dst), seq);
                let transport = match mode {
                    Some(m) => m == Encapsulation::Transport,
                    None => self.mode_for(src, dst) == Encapsulation::Transport,
                };
                let (packet_src, packet_dst) =
                    packet_selectors(src, dst, policy, packet, transport);
                log::info!(
                    "kernel: ACQUIRE {seq} for {src} -> {dst}, packet {}",
                    match packet {
                        Some(p) => format!("{} -> {}", p.src, p.dst),
                        None => "not told".into(),
                    }
                );
                vec![KernelEvent::Acquire {
                    local: src,
                    remote: dst,
                    packet_src,
                    packet_dst,
                }]
            }
            PfkeyToNet::Event(pk::BrokerEvent::NatMapping { sa, old, new }) => {
                log::info!(
                    "kernel: ESP for SA {:#x} now arrives from {new} (was {old})",
                    sa.spi
                );
                vec![KernelEvent::NatMapping {
                    spi: sa.spi,
                    dst: sa.dst,
                    from: new,
                }]
            }
            PfkeyToNet::Event(pk::BrokerEvent::Expire { kind, sa }) => {
                vec![KernelEvent::Expire {
                    spi: sa.spi,
                    dst: sa.dst,
                    hard: kind == pk::ExpireKind::Hard,
                }]
            }
        }
    }
}

fn describe(r: &Result<KernelReply, KernelError>) -> String {
    match r {
        Ok(other) => format!("unexpected answer {other:?}"),
        Err(e) => error_text(e),
    }
}

pub fn error_text(e: &KernelError) -> String {
    match e {
        KernelError::Refused(why) => format!("refused by the broker: {why}"),
        KernelError::Kernel(errno) => format!(
            "kernel error {}",
            nix::errno::Errno::from_raw(*errno).desc()
        ),
        KernelError::Unsupported(why) => format!("not supported by the kernel: {why}"),
        KernelError::Timeout => "no answer from the kernel".into(),
        KernelError::Protocol(why) => format!("kernel answer not understood: {why}"),
    }
}

/// The broker's name of an ESP or AH SA (none for another protocol).
fn sa_id(protocol: ProtocolId, spi: u32, src: IpAddr, dst: IpAddr) -> Option<SaId> {
    Some(SaId {
        proto: ipsec_proto(protocol)?,
        spi,
        src,
        dst,
    })
}

fn ipsec_proto(p: ProtocolId) -> Option<IpsecProtocol> {
    match p {
        ProtocolId::ESP => Some(IpsecProtocol::Esp),
        ProtocolId::AH => Some(IpsecProtocol::Ah),
        _ => None,
    }
}

/// A selector as one prefix and at most one port, if it is exactly that.
fn prefix_of(ts: &TrafficSelector) -> Option<(IpNet, Option<u16>)> {
    let port = match (ts.start_port, ts.end_port) {
        (0, u16::MAX) => None,
        (a, b) if a == b => Some(a),
        _ => return None,
    };
    let (s, e, bits) = match (ts.start, ts.end) {
        (IpAddr::V4(s), IpAddr::V4(e)) => {
            (u128::from(u32::from(s)), u128::from(u32::from(e)), 32u32)
        }
        (IpAddr::V6(s), IpAddr::V6(e)) => (u128::from(s), u128::from(e), 128u32),
        _ => return None,
    };
    // A prefix: start..=end spans a power of two aligned on itself.
    let span = e.checked_sub(s)?.checked_add(1);
    let host_bits = match span {
        // The whole IPv6 space overflows u128 by one.
        None => 128,
        Some(n) if n.is_power_of_two() => n.trailing_zeros(),
        Some(_) => return None,
    };
    if host_bits > bits || (host_bits < 128 && s & ((1u128 << host_bits) - 1) != 0) {
        return None;
    }
    let prefix = u8::try_from(bits - host_bits).ok()?;
    let addr = match ts.start {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(u32::try_from(s).ok()?)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(s)),
    };
    Some((IpNet::new(addr, prefix)?, port))
}

fn proto_of(ts: &TrafficSelector) -> Option<u8> {
    (ts.protocol != 0).then_some(ts.protocol)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ike_proto::crypto::Secret as EngineSecret;
    use ike_proto::engine::{Encr, PolicyParams};
    use ike_proto::wire::consts::EncrId;
    use std::time::Duration;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// The engine's AddPolicy of a tunnel 127.0.0.1 <-> 127.0.0.2 for `l` <-> `r`.
    fn tunnel_policy(
        k: &mut KernelMap,
        request: RequestId,
        direction: Direction,
        (l, r): (TrafficSelector, TrafficSelector),
        out: &mut Vec<NetToPfkey>,
        refused: &mut Vec<KernelEvent>,
    ) {
        k.request(
            KernelRequest::AddPolicy(PolicyParams {
                request,
                direction,
                local_ts: l,
                remote_ts: r,
                mode: Encapsulation::Tunnel,
                local: ip("127.0.0.1"),
                remote: ip("127.0.0.2"),
            }),
            out,
            refused,
        );
    }

    #[test]
    fn prefixes_round_trip_and_odd_ranges_are_refused() {
        let ts = TrafficSelector::prefix(ip("10.1.0.0"), 16).unwrap();
        let (net, port) = prefix_of(&ts).unwrap();
        assert_eq!(net, IpNet::new(ip("10.1.0.0"), 16).unwrap());
        assert_eq!(port, None);
        let all4 = TrafficSelector::prefix(ip("0.0.0.0"), 0).unwrap();
        assert_eq!(prefix_of(&all4).unwrap().0, IpNet::any(false));
        let all6 = TrafficSelector::prefix(ip("::"), 0).unwrap();
        assert_eq!(prefix_of(&all6).unwrap().0, IpNet::any(true));
        let host = TrafficSelector::host(ip("2001:db8::1"));
        assert_eq!(prefix_of(&host).unwrap().0.prefix, 128);
        let odd = TrafficSelector::range(ip("10.0.0.1"), ip("10.0.0.6"));
        assert!(prefix_of(&odd).is_none());
        let unaligned = TrafficSelector::range(ip("10.0.0.1"), ip("10.0.0.2"));
        assert!(prefix_of(&unaligned).is_none());
        let mut ports = TrafficSelector::host(ip("10.0.0.1"));
        ports.start_port = 80;
        ports.end_port = 81;
        assert!(prefix_of(&ports).is_none());
        ports.end_port = 80;
        assert_eq!(prefix_of(&ports).unwrap().1, Some(80));
    }

    #[test]
    fn any_selector_maps_to_an_exact_prefix_or_none_without_panicking() {
        // Selectors come from the peer (narrowed by the engine): try many,
        // including mixed families and reversed ranges.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for i in 0..20_000 {
            let a = next();
            let b = next();
            let v4 = |n: u64| IpAddr::V4(Ipv4Addr::from((n >> 32) as u32));
            let v6 =
                |n: u64, m: u64| IpAddr::V6(Ipv6Addr::from(u128::from(n) << 64 | u128::from(m)));
            let (start, end) = match i % 4 {
                0 => (v4(a), v4(b)),
                1 => (v6(a, b), v6(b, a)),
                2 => (v4(a), v6(a, b)),
                _ => {
                    // An aligned prefix: must map back exactly.
                    let len = (a % 33) as u8;
                    let ts = TrafficSelector::prefix(v4(b), len).unwrap();
                    let (net, _) = prefix_of(&ts).expect("an aligned prefix");
                    assert_eq!(net.prefix, len);
                    assert_eq!(net.range(), (ts.start, ts.end));
                    continue;
                }
            };
            let mut ts = TrafficSelector::range(start, end);
            ts.start_port = (a & 0xffff) as u16;
            ts.end_port = (b & 0xffff) as u16;
            if let Some((net, _)) = prefix_of(&ts) {
                assert_eq!(net.range(), (ts.start, ts.end));
            }
        }
    }

    fn sa(direction: Direction, request: u64) -> SaParams {
        let (src, dst) = match direction {
            Direction::Outbound => (ip("127.0.0.1"), ip("127.0.0.2")),
            Direction::Inbound => (ip("127.0.0.2"), ip("127.0.0.1")),
        };
        SaParams {
            request: RequestId(request),
            direction,
            protocol: ProtocolId::ESP,
            spi: 0x1000 + request as u32,
            src,
            dst,
            mode: Encapsulation::Tunnel,
            encr: Encr {
                id: EncrId::AES_GCM_16,
                key_bits: Some(128),
            },
            encr_key: EngineSecret::from_slice(&[7; 20]),
            integ: None,
            integ_key: EngineSecret::from_slice(&[]),
            esn: false,
            replay_window: 64,
            soft_lifetime: Duration::from_secs(90),
            hard_lifetime: Duration::from_secs(100),
            encap: None,
            local_ts: TrafficSelector::host(ip("127.0.0.1")),
            remote_ts: TrafficSelector::host(ip("127.0.0.2")),
        }
    }

    /// The broker refuses an SA without limits (issue 16): every SA gets a
    /// byte limit, from a policy with a host peer, one with a prefix or any
    /// peer, or the default; and a soft time limit of at least 1 s.
    #[test]
    fn every_sa_gets_byte_and_time_limits() {
        let limits = |k: &mut KernelMap, p: &SaParams| {
            let s = k.sa_params(p).unwrap();
            (s.soft.bytes, s.hard.bytes, s.soft.seconds, s.hard.seconds)
        };
        let mut k = KernelMap::new();
        let out = sa(Direction::Outbound, 1);
        assert_eq!(
            limits(&mut k, &out).1,
            ike_ipc::config::policy::DEFAULT_CHILD_BYTES
        );
        k.byte_limit_nets.push((
            None,
            Some(ike_ipc::config::IpNet::new(ip("127.0.0.0"), 8).unwrap()),
            1000,
        ));
        assert_eq!(limits(&mut k, &out), (900, 1000, 90, 100));
        k.byte_limits.insert((ip("127.0.0.1"), ip("127.0.0.2")), 5);
        let mut short = sa(Direction::Outbound, 2);
        short.soft_lifetime = Duration::from_millis(900);
        assert_eq!(limits(&mut k, &short), (1, 5, 1, 100));
    }

    #[test]
    fn spi_and_install_replies_reach_the_right_engine_request() {
        let mut k = KernelMap::new();
        let mut out = Vec::new();
        let mut refused = Vec::new();
        k.modes
            .insert((ip("127.0.0.1"), ip("127.0.0.2")), Encapsulation::Transport);
        k.request(
            KernelRequest::AllocateSpi {
                request: RequestId(5),
                protocol: ProtocolId::ESP,
                src: ip("127.0.0.2"),
                dst: ip("127.0.0.1"),
            },
            &mut out,
            &mut refused,
        );
        k.request(
            KernelRequest::AddSa(sa(Direction::Outbound, 6)),
            &mut out,
            &mut refused,
        );
        assert!(refused.is_empty());
        assert_eq!(out.len(), 2);
        let NetToPfkey::Request { id: spi_id, req } = &out[0] else {
            panic!("{:?}", out[0])
        };
        match req {
            pk::BrokerRequest::GetSpi { mode, src, .. } => {
                assert_eq!(*mode, Encapsulation::Transport);
                assert_eq!(*src, ip("127.0.0.2"));
            }
            other => panic!("{other:?}"),
        }
        let NetToPfkey::Request { id: add_id, req } = &out[1] else {
            panic!("{:?}", out[1])
        };
        match req {
            pk::BrokerRequest::AddSa(p) => {
                assert_eq!(p.encryption, Some(Encryption::Aes128Gcm16));
                assert_eq!(p.enc_key.expose(), &[7; 20]);
                assert_eq!(p.id.spi, 0x1006);
                assert_eq!((p.soft.seconds, p.hard.seconds), (90, 100));
            }
            other => panic!("{other:?}"),
        }
        // Answers in the other order.
        let ev = k.reply(PfkeyToNet::Reply {
            id: *add_id,
            result: Err(KernelError::Kernel(17)),
        });
        assert_eq!(
            ev,
            vec![KernelEvent::Refused {
                request: RequestId(6)
            }]
        );
        let ev = k.reply(PfkeyToNet::Reply {
            id: *spi_id,
            result: Ok(KernelReply::Spi(0xabcd)),
        });
        assert_eq!(
            ev,
            vec![KernelEvent::SpiAllocated {
                request: RequestId(5),
                spi: 0xabcd
            }]
        );
        // A duplicate or unknown reply changes nothing.
        assert!(k
            .reply(PfkeyToNet::Reply {
                id: *spi_id,
                result: Ok(KernelReply::Spi(1))
            })
            .is_empty());
    }

    #[test]
    fn policies_are_deleted_exactly_as_added_with_linux_fwd() {
        let mut k = KernelMap::new();
        k.linux_fwd = true;
        let l = TrafficSelector::prefix(ip("10.1.0.0"), 16).unwrap();
        let r = TrafficSelector::prefix(ip("10.2.0.0"), 16).unwrap();
        let mut out = Vec::new();
        let mut refused = Vec::new();
        for (i, direction) in [Direction::Outbound, Direction::Inbound]
            .into_iter()
            .enumerate()
        {
            tunnel_policy(
                &mut k,
                RequestId(i as u64),
                direction,
                (l, r),
                &mut out,
                &mut refused,
            );
        }
        let added: Vec<pk::BrokerPolicyParams> = out
            .iter()
            .map(|m| match m {
                NetToPfkey::Request {
                    req: pk::BrokerRequest::AddPolicy(p),
                    ..
                } => *p,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(added.len(), 3, "out, in, fwd");
        assert_eq!(added[0].dir, PolicyDir::Out);
        assert_eq!(added[0].sel.src, IpNet::new(ip("10.1.0.0"), 16).unwrap());
        assert_eq!(added[0].tunnel, Some((ip("127.0.0.1"), ip("127.0.0.2"))));
        assert_eq!(added[1].dir, PolicyDir::In);
        assert_eq!(added[1].sel.src, IpNet::new(ip("10.2.0.0"), 16).unwrap());
        assert_eq!(added[1].tunnel, Some((ip("127.0.0.2"), ip("127.0.0.1"))));
        assert_eq!(added[2].dir, PolicyDir::Fwd);
        out.clear();
        for direction in [Direction::Outbound, Direction::Inbound] {
            k.request(
                KernelRequest::DeletePolicy {
                    direction,
                    local_ts: l,
                    remote_ts: r,
                },
                &mut out,
                &mut refused,
            );
        }
        let deleted: Vec<pk::BrokerPolicyParams> = out
            .iter()
            .map(|m| match m {
                NetToPfkey::Request {
                    req: pk::BrokerRequest::DeletePolicy(p),
                    ..
                } => *p,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(deleted, added);
        assert!(refused.is_empty());
    }

    /// MOBIKE (issue 13): a policy move names each installed entry (out,
    /// in, Linux fwd) exactly as added, with the new tunnel ends oriented
    /// like it; the child keeps its reqid at the new addresses, and a later
    /// delete names the moved entries.
    #[test]
    fn a_policy_move_names_every_entry_and_keeps_the_reqid() {
        let mut k = KernelMap::new();
        k.linux_fwd = true;
        let l = TrafficSelector::prefix(ip("10.1.0.0"), 16).unwrap();
        let r = TrafficSelector::prefix(ip("10.2.0.0"), 16).unwrap();
        let (mut out, mut refused) = (Vec::new(), Vec::new());
        for direction in [Direction::Outbound, Direction::Inbound] {
            tunnel_policy(
                &mut k,
                RequestId(1),
                direction,
                (l, r),
                &mut out,
                &mut refused,
            );
        }
        let reqid = match &out[0] {
            NetToPfkey::Request {
                req: pk::BrokerRequest::AddPolicy(p),
                ..
            } => p.reqid,
            other => panic!("{other:?}"),
        };
        out.clear();
        for direction in [Direction::Outbound, Direction::Inbound] {
            k.request(
                KernelRequest::MovePolicy {
                    direction,
                    local_ts: l,
                    remote_ts: r,
                    local: ip("127.0.0.1"),
                    remote: ip("127.0.0.9"),
                },
                &mut out,
                &mut refused,
            );
        }
        let moved: Vec<_> = out
            .iter()
            .map(|m| match m {
                NetToPfkey::Request {
                    req: pk::BrokerRequest::MovePolicy { p, tunnel },
                    ..
                } => (p.dir, p.tunnel, *tunnel),
                other => panic!("{other:?}"),
            })
            .collect();
        let (a, b, c) = (ip("127.0.0.1"), ip("127.0.0.2"), ip("127.0.0.9"));
        assert_eq!(
            moved,
            [
                (PolicyDir::Out, Some((a, b)), (a, c)),
                (PolicyDir::In, Some((b, a)), (c, a)),
                (PolicyDir::Fwd, Some((b, a)), (c, a)),
            ]
        );
        // A rekey at the new addresses finds the child's reqid.
        assert_eq!(k.reqids.of_child((a, c, l, r), None), reqid);
        out.clear();
        k.request(
            KernelRequest::DeletePolicy {
                direction: Direction::Inbound,
                local_ts: l,
                remote_ts: r,
            },
            &mut out,
            &mut refused,
        );
        for m in &out {
            match m {
                NetToPfkey::Request {
                    req: pk::BrokerRequest::DeletePolicy(p),
                    ..
                } => assert_eq!(p.tunnel, Some((c, a))),
                other => panic!("{other:?}"),
            }
        }
        assert!(refused.is_empty());
    }

    /// Issue 13: two CHILD_SAs with the same outer addresses (two clients
    /// behind one NAT, `peer any`) get different reqids, and each CHILD_SA's
    /// SAs and policies carry the same one; the inbound SA adopts its
    /// GETSPI's reqid.
    #[test]
    fn each_child_sa_has_its_own_reqid_in_sas_and_policies() {
        let mut k = KernelMap::new();
        let mut answers = Vec::new();
        let child = |k: &mut KernelMap, remote: &str, spi: u32| -> Vec<u32> {
            let mut out = Vec::new();
            let mut answers = Vec::new();
            k.request(
                KernelRequest::AllocateSpi {
                    request: RequestId(1),
                    protocol: ProtocolId::ESP,
                    src: ip("127.0.0.2"),
                    dst: ip("127.0.0.1"),
                },
                &mut out,
                &mut answers,
            );
            let NetToPfkey::Request { id, req } = &out[0] else {
                panic!("{:?}", out[0])
            };
            let pk::BrokerRequest::GetSpi { reqid: g, .. } = req else {
                panic!("{req:?}")
            };
            let g = *g;
            k.reply(PfkeyToNet::Reply {
                id: *id,
                result: Ok(KernelReply::Spi(spi)),
            });
            let mut inb = sa(Direction::Inbound, 1);
            inb.spi = spi;
            inb.local_ts = TrafficSelector::prefix(ip("10.1.0.0"), 16).unwrap();
            inb.remote_ts = TrafficSelector::prefix(ip(remote), 24).unwrap();
            let mut outb = sa(Direction::Outbound, 2);
            outb.spi = spi + 1;
            outb.local_ts = inb.local_ts;
            outb.remote_ts = inb.remote_ts;
            k.request(KernelRequest::UpdateSa(inb.clone()), &mut out, &mut answers);
            k.request(KernelRequest::AddSa(outb), &mut out, &mut answers);
            for direction in [Direction::Outbound, Direction::Inbound] {
                k.request(
                    KernelRequest::AddPolicy(PolicyParams {
                        request: RequestId(2),
                        direction,
                        local_ts: inb.local_ts,
                        remote_ts: inb.remote_ts,
                        mode: Encapsulation::Tunnel,
                        local: ip("127.0.0.1"),
                        remote: ip("127.0.0.2"),
                    }),
                    &mut out,
                    &mut answers,
                );
            }
            let mut r = vec![g];
            r.extend(out[1..].iter().map(|m| match m {
                NetToPfkey::Request { req, .. } => match req {
                    pk::BrokerRequest::UpdateSa(p) | pk::BrokerRequest::AddSa(p) => p.reqid,
                    pk::BrokerRequest::AddPolicy(p) => p.reqid,
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            }));
            r
        };
        let a = child(&mut k, "10.2.0.0", 0x100);
        let c = child(&mut k, "10.3.0.0", 0x200);
        // GETSPI, UPDATE, ADD, SPDADD out, in, fwd: all one number.
        assert_eq!(a.len(), 6);
        assert!(a.iter().all(|r| *r == a[0] && *r != 0), "{a:?}");
        // The second child's GETSPI cannot tell it from a rekey of the first
        // (same ends) and reuses its reqid; Linux replaces the larval SA whole
        // at UPDATE, which carries the child's own.
        assert_eq!(c[0], a[0]);
        assert!(c[1..].iter().all(|r| *r == c[1] && *r != 0), "{c:?}");
        assert_ne!(a[0], c[1]);
        // Deleting both policies of the first child frees its number.
        for direction in [Direction::Outbound, Direction::Inbound] {
            k.request(
                KernelRequest::DeletePolicy {
                    direction,
                    local_ts: TrafficSelector::prefix(ip("10.1.0.0"), 16).unwrap(),
                    remote_ts: TrafficSelector::prefix(ip("10.2.0.0"), 24).unwrap(),
                },
                &mut Vec::new(),
                &mut answers,
            );
        }
        assert_eq!(k.reqids.len(), 1);
    }

    #[test]
    fn counters_are_asked_for_kept_and_forgotten() {
        let mut k = KernelMap::new();
        let mut out = Vec::new();
        let a = (ip("127.0.0.2"), ip("127.0.0.1"), 0x10);
        let b = (ip("127.0.0.1"), ip("127.0.0.2"), 0x20);
        k.start_counters(&[a, b]);
        k.request_counters(&[a, b], &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(k.counters_outstanding(), 2);
        let NetToPfkey::Request { id, req } = &out[0] else {
            panic!("{:?}", out[0])
        };
        let pk::BrokerRequest::GetSa(sa) = req else {
            panic!("{req:?}")
        };
        assert_eq!((sa.src, sa.dst, sa.spi), a);
        let ev = k.reply(PfkeyToNet::Reply {
            id: *id,
            result: Ok(KernelReply::Sa(pk::SaInfo {
                id: *sa,
                bytes: 1500,
                packets: 3,
                add_time: 0,
                use_time: 0,
            })),
        });
        assert!(ev.is_empty());
        assert_eq!(k.counters_outstanding(), 1);
        assert_eq!(
            k.counters(a.1, a.2),
            Some(Counters {
                bytes: 1500,
                packets: 3
            })
        );
        assert_eq!(k.counters(b.1, b.2), None);
        // A failed GET (SA gone meanwhile) is answered too.
        let NetToPfkey::Request { id, .. } = &out[1] else {
            panic!("{:?}", out[1])
        };
        k.reply(PfkeyToNet::Reply {
            id: *id,
            result: Err(KernelError::Kernel(2)),
        });
        assert_eq!(k.counters_outstanding(), 0);
        // The SA is gone: its counters too.
        k.start_counters(&[b]);
        assert_eq!(k.counters(a.1, a.2), None);
    }

    #[test]
    fn acquire_packet_selectors_only_where_the_kernel_names_the_packet() {
        let sel = |src: IpNet, dst: IpNet| Selectors {
            src,
            dst,
            proto: Some(6),
            src_port: None,
            dst_port: Some(443),
        };
        let (l, p) = (ip("192.0.2.1"), ip("192.0.2.2"));
        let subnet = IpNet::new(ip("10.1.0.0"), 16).unwrap();
        let host = IpNet::host(ip("10.2.0.1"));
        // Tunnel, subnet: unknown.
        assert_eq!(
            packet_selectors(l, p, Some(sel(subnet, host)), None, false),
            (None, None)
        );
        // Tunnel, one address each side: those, with protocol and port.
        let (s, d) = packet_selectors(
            l,
            p,
            Some(sel(IpNet::host(ip("10.1.0.7")), host)),
            None,
            false,
        );
        let (s, d) = (s.unwrap(), d.unwrap());
        assert_eq!(
            (s.start, s.end, s.protocol),
            (ip("10.1.0.7"), ip("10.1.0.7"), 6)
        );
        assert_eq!(
            (d.start, d.start_port, d.end_port),
            (ip("10.2.0.1"), 443, 443)
        );
        // Transport: the endpoints are the packet's addresses.
        let (s, d) = packet_selectors(l, p, Some(sel(subnet, host)), None, true);
        let (s, d) = (s.unwrap(), d.unwrap());
        assert_eq!((s.start, s.end), (l, l));
        assert_eq!((d.start, d.end, d.start_port), (p, p, 443));
        let (s, _) = packet_selectors(l, p, None, None, true);
        assert_eq!(s.unwrap().protocol, 0);
        // XFRM named the packet: its selectors, as they are, in any mode.
        let pkt = sel(IpNet::host(ip("10.1.0.9")), host);
        for transport in [false, true] {
            let (s, d) = packet_selectors(l, p, Some(sel(subnet, host)), Some(pkt), transport);
            let (s, d) = (s.unwrap(), d.unwrap());
            assert_eq!(
                (s.start, s.end, s.protocol, s.start_port, s.end_port),
                (ip("10.1.0.9"), ip("10.1.0.9"), 6, 0, 65535)
            );
            assert_eq!(
                (d.start, d.end, d.start_port, d.end_port),
                (ip("10.2.0.1"), ip("10.2.0.1"), 443, 443)
            );
        }
    }

    #[test]
    fn acquire_becomes_an_engine_acquire_and_its_seq_is_echoed() {
        let mut k = KernelMap::new();
        let ev = k.reply(PfkeyToNet::Event(pk::BrokerEvent::Acquire {
            seq: 77,
            proto: IpsecProtocol::Esp,
            src: ip("127.0.0.1"),
            dst: ip("127.0.0.2"),
            policy: Some(Selectors {
                src: IpNet::new(ip("10.1.0.0"), 16).unwrap(),
                dst: IpNet::host(ip("10.2.0.1")),
                proto: None,
                src_port: None,
                dst_port: None,
            }),
            packet: None,
            mode: None,
            reqid: 0,
        }));
        // A tunnel policy with a subnet: the packet's addresses are not
        // known, and the policy's selectors are not passed off as them.
        match &ev[..] {
            [KernelEvent::Acquire {
                local,
                remote,
                packet_src: None,
                packet_dst: None,
            }] => {
                assert_eq!((*local, *remote), (ip("127.0.0.1"), ip("127.0.0.2")));
            }
            other => panic!("{other:?}"),
        }
        let mut out = Vec::new();
        k.request(
            KernelRequest::AllocateSpi {
                request: RequestId(1),
                protocol: ProtocolId::ESP,
                src: ip("127.0.0.2"),
                dst: ip("127.0.0.1"),
            },
            &mut out,
            &mut Vec::new(),
        );
        match &out[0] {
            NetToPfkey::Request {
                req: pk::BrokerRequest::GetSpi { acquire_seq, .. },
                ..
            } => assert_eq!(*acquire_seq, 77),
            other => panic!("{other:?}"),
        }
    }
}
