//! Stateful fuzz target: one responder `Engine` fed a sequence of inputs
//! derived from the fuzz data: IKE_SA_INITs and IKE_AUTHs (childless or
//! with a CHILD_SA) from scripted initiators holding real keys, authentic
//! protected messages with fuzzed inner payloads (whole or fragmented),
//! well-formed INFORMATIONAL and CREATE_CHILD_SA requests with fuzzed
//! fields, mutated and raw datagrams, time steps, kernel answers (accept
//! or refuse) and operator commands.
//!
//! Invariants checked after every input, besides "no panic":
//! - the half-open count is within the cap and agrees with the SA table
//!   and the admission counters;
//! - IKE SAs other than half-open ones stay bounded by the initiators
//!   that exist (a rekey may add one per initiator for a while);
//! - one input never makes more than 64 datagrams;
//! - kernel state is bounded by the children the configuration allows;
//!
//! and at the end, after the clock has run four days with no peer answering,
//! nothing is left: no IKE SA, no half-open SA, no kernel SA or policy.
#![no_main]

#[path = "../../ike-proto/tests/hostile_common/mod.rs"]
mod hostile_common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hostile_common::*;
use ike_proto::engine::*;
use ike_proto::wire::{
    self, Delete, EncrId, EncryptedKind, EsnId, ExchangeType, NotifyType, Payload, PayloadType,
    Proposal, ProtocolId, TsType,
};
use libfuzzer_sys::fuzz_target;

const MAX_INITIATORS: usize = 6;
const MAX_OPS: usize = 48;
const MAX_CHILDREN: usize = 3;

/// Reads the fuzz data front to back; zeros once it runs out.
struct Script<'a>(&'a [u8]);

impl Script<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = (self.byte() as usize).min(max).min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a.to_vec()
    }
    fn done(&self) -> bool {
        self.0.is_empty()
    }
}

/// A kernel that answers at once: SPIs, installs (or refusals on request).
#[derive(Default)]
struct Kernel {
    next_spi: u32,
    sas: BTreeMap<(IpAddr, u32), bool>,
    policies: BTreeSet<String>,
    refuse: bool,
    expirable: Vec<(IpAddr, u32)>,
}

impl Kernel {
    fn answer(&mut self, r: KernelRequest) -> Option<KernelEvent> {
        match r {
            KernelRequest::AllocateSpi { request, dst, .. } => {
                if self.refuse {
                    return Some(KernelEvent::SpiRefused { request });
                }
                self.next_spi += 1;
                self.sas.insert((dst, 0x1000 + self.next_spi), false);
                Some(KernelEvent::SpiAllocated {
                    request,
                    spi: 0x1000 + self.next_spi,
                })
            }
            KernelRequest::UpdateSa(p) | KernelRequest::AddSa(p) => {
                if self.refuse {
                    return Some(KernelEvent::Refused { request: p.request });
                }
                self.sas.insert((p.dst, p.spi), true);
                self.expirable.push((p.dst, p.spi));
                Some(KernelEvent::Installed { request: p.request })
            }
            KernelRequest::DeleteSa { spi, dst, .. } => {
                self.sas.remove(&(dst, spi));
                None
            }
            KernelRequest::AddPolicy(p) => {
                self.policies.insert(format!(
                    "{:?} {:?} {:?}",
                    p.direction, p.local_ts, p.remote_ts
                ));
                Some(KernelEvent::Installed { request: p.request })
            }
            KernelRequest::DeletePolicy {
                direction,
                local_ts,
                remote_ts,
            } => {
                self.policies
                    .remove(&format!("{direction:?} {local_ts:?} {remote_ts:?}"));
                None
            }
            // A NAT mapping change (issue 13): fire-and-forget, and these
            // scripted initiators do not move; nothing to model.
            KernelRequest::UpdateEncap { .. } => None,
            // MOBIKE moves (issue 13): fire-and-forget as well.
            KernelRequest::MoveSa { .. } | KernelRequest::MovePolicy { .. } => None,
        }
    }
}

struct World {
    r: Responder,
    kernel: Kernel,
    initiators: Vec<Initiator>,
    /// Message ID each initiator uses next, once keyed.
    next_id: Vec<u32>,
    cookie: Option<Vec<u8>>,
    created: usize,
    cap: usize,
}

impl World {
    /// Drains the engine after one input and checks the invariants.
    fn settle(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut out = Vec::new();
        loop {
            let mut work = false;
            while let Some(t) = self.r.engine.poll_transmit() {
                work = true;
                out.push((t.remote, t.bytes));
            }
            while let Some(k) = self.r.engine.poll_kernel_request() {
                work = true;
                if let Some(ev) = self.kernel.answer(k) {
                    self.r.engine.handle_kernel_event(self.r.now, ev);
                }
            }
            while let Some(e) = self.r.engine.poll_event() {
                self.r.events.push(e);
            }
            if !work {
                break;
            }
        }
        assert!(out.len() <= 64, "{} datagrams for one input", out.len());
        let e = &self.r.engine;
        let half = e.half_open_count();
        assert!(half <= self.cap, "{half} half-open over the cap");
        assert_eq!(e.admission_stats().half_open, half);
        let info = e.sa_info();
        assert_eq!(info.len(), e.ike_sa_count());
        // Half-open SAs are bounded by the cap (replayed or mutated
        // IKE_SA_INITs may open more than one per initiator); the others
        // by the initiators, with a rekey adding one for a while.
        assert!(
            e.ike_sa_count() - half <= 2 * self.created,
            "{} IKE SAs for {} initiators: {info:#?}",
            e.ike_sa_count(),
            self.created
        );
        let children: usize = info.iter().map(|s| e.child_sas(s.id).len()).sum();
        for s in &info {
            let n = e.child_sas(s.id).len();
            assert!(
                n <= 2 * MAX_CHILDREN + 2,
                "{n} CHILD_SAs on one IKE SA: {s:#?} {:#?}",
                e.child_sas(s.id)
            );
        }
        // Each child: one SA per direction, plus SPIs held for requests.
        assert!(
            self.kernel.sas.len() <= 4 * (children + e.ike_sa_count() + 1) + 8,
            "{} kernel SAs for {children} children",
            self.kernel.sas.len()
        );
        out
    }

    fn feed(&mut self, from: SocketAddr, bytes: &[u8]) -> Vec<(SocketAddr, Vec<u8>)> {
        let now = self.r.now;
        self.r
            .engine
            .handle_datagram(now, SocketAddr::new(ip(B_ADDR), 500), from, bytes);
        self.settle()
    }

    fn pick(&mut self, s: &mut Script) -> Option<usize> {
        if self.initiators.is_empty() {
            return None;
        }
        Some(s.byte() as usize % self.initiators.len())
    }

    /// The answer to `k`'s IKE_SA_INIT: keys, or a cookie to retry with.
    fn take_init_answer(&mut self, k: usize, out: &[(SocketAddr, Vec<u8>)]) {
        let me = self.initiators[k].addr;
        let Some((_, a)) = out.iter().find(|(to, _)| *to == me) else {
            return;
        };
        if wire::Message::parse(a).is_err() {
            return;
        }
        if let Err(p) = self.initiators[k].on_init_response(a) {
            if let Some(Payload::Notify(n)) = p.first() {
                if n.notify_type == NotifyType::COOKIE {
                    self.cookie = Some(n.data.clone());
                }
            }
        }
    }

    fn keyed(&self, k: usize) -> bool {
        self.initiators[k].tx.is_some()
    }

    fn id(&mut self, k: usize, s: &mut Script) -> u32 {
        // Mostly the next ID; sometimes a replay or a jump.
        match s.byte() % 8 {
            0 => s.byte() as u32,
            1 => self.next_id[k].saturating_sub(1),
            _ => {
                let id = self.next_id[k];
                self.next_id[k] += 1;
                id
            }
        }
    }
}

fn esp_proposal(spi: u32) -> Proposal {
    Proposal {
        num: 1,
        protocol: ProtocolId::ESP,
        spi: spi.to_be_bytes().to_vec(),
        transforms: vec![
            wire::Transform {
                ttype: wire::TransformType::ENCR,
                id: EncrId::AES_GCM_16.0,
                key_length: Some(256),
                other_attributes: Vec::new(),
            },
            wire::Transform {
                ttype: wire::TransformType::ESN,
                id: EsnId::NO_ESN.0,
                key_length: None,
                other_attributes: Vec::new(),
            },
        ],
    }
}

fn any_ts() -> Vec<wire::TrafficSelector> {
    vec![wire::TrafficSelector {
        ts_type: TsType::IPV4_ADDR_RANGE,
        ip_protocol: 0,
        start_port: 0,
        end_port: u16::MAX,
        start_addr: ip("0.0.0.0"),
        end_addr: ip("255.255.255.255"),
    }]
}

fn child_payloads(s: &mut Script) -> Vec<Payload> {
    let mut p = vec![Payload::Sa(vec![esp_proposal(s.u32())])];
    p.push(Payload::TsI(any_ts()));
    p.push(Payload::TsR(any_ts()));
    p
}

fn step(w: &mut World, s: &mut Script) {
    match s.byte() % 12 {
        // A new initiator's IKE_SA_INIT (with the last cookie, if asked).
        0 => {
            if w.initiators.len() >= MAX_INITIATORS {
                return;
            }
            let net = s.byte() % 4;
            let host = s.byte() % 4 + 1;
            let spi = 0x5eed_0000 + w.created as u64 + 1;
            let mut i = Initiator::new(&format!("203.0.{net}.{host}"), spi);
            let cookie = if s.byte().is_multiple_of(2) {
                w.cookie.clone()
            } else {
                None
            };
            let bytes = i.init(cookie.as_deref());
            w.initiators.push(i);
            w.next_id.push(1);
            w.created += 1;
            let k = w.initiators.len() - 1;
            let from = w.initiators[k].addr;
            let out = w.feed(from, &bytes);
            w.take_init_answer(k, &out);
        }
        // IKE_AUTH: childless or with a child, whole or fragmented.
        1 => {
            let Some(k) = w.pick(s) else { return };
            if !w.keyed(k) {
                return;
            }
            let mut p = w.initiators[k].auth_payloads();
            if s.byte().is_multiple_of(2) {
                p.extend(child_payloads(s));
            }
            let id = w.id(k, s);
            let frags = s.byte() % 4;
            let i = &mut w.initiators[k];
            let dgrams = if frags > 1 {
                let (first, inner) = wire::emit_inner_payloads(&p).unwrap();
                i.fragments(ExchangeType::IKE_AUTH, id, first, &inner, frags as u16)
            } else {
                vec![i.protected(ExchangeType::IKE_AUTH, id, &p)]
            };
            let from = i.addr;
            for d in dgrams {
                w.feed(from, &d);
            }
        }
        // An authentic message with fuzzed inner bytes, whole or in fragments.
        2 => {
            let Some(k) = w.pick(s) else { return };
            if !w.keyed(k) {
                return;
            }
            let exchange = ExchangeType(34 + s.byte() % 4);
            let first = PayloadType(s.byte());
            let id = w.id(k, s);
            let frags = (s.byte() % 3) as u16;
            let inner = s.bytes(512);
            let i = &mut w.initiators[k];
            let from = i.addr;
            let dgrams = if frags > 1 && inner.len() >= frags as usize {
                i.fragments(exchange, id, first, &inner, frags)
            } else {
                vec![i.seal(exchange, id, EncryptedKind::Sk, first, &inner)]
            };
            for d in dgrams {
                w.feed(from, &d);
            }
        }
        // INFORMATIONAL: delete (IKE, or ESP SPIs), a notify, or empty.
        3 => {
            let Some(k) = w.pick(s) else { return };
            if !w.keyed(k) {
                return;
            }
            let p = match s.byte() % 4 {
                0 => vec![Payload::Delete(Delete {
                    protocol: ProtocolId::IKE,
                    spi_size: 0,
                    spis: Vec::new(),
                })],
                1 => {
                    let spis = (0..s.byte() % 4)
                        .map(|_| (0x1000 + s.byte() as u32 % 16).to_be_bytes().to_vec())
                        .collect();
                    vec![Payload::Delete(Delete {
                        protocol: ProtocolId::ESP,
                        spi_size: 4,
                        spis,
                    })]
                }
                2 => {
                    let t = NotifyType(u16::from_be_bytes([s.byte(), s.byte()]));
                    vec![Payload::Notify(wire::Notify::new(t, s.bytes(16)))]
                }
                _ => Vec::new(),
            };
            let id = w.id(k, s);
            let i = &mut w.initiators[k];
            let d = i.protected(ExchangeType::INFORMATIONAL, id, &p);
            let from = i.addr;
            w.feed(from, &d);
        }
        // CREATE_CHILD_SA: new child, or rekey of a fuzzed SPI.
        4 => {
            let Some(k) = w.pick(s) else { return };
            if !w.keyed(k) {
                return;
            }
            let mut p = child_payloads(s);
            p.insert(1, Payload::Nonce(vec![s.byte(); 32]));
            if s.byte().is_multiple_of(2) {
                let mut n = wire::Notify::new(NotifyType::REKEY_SA, Vec::new());
                n.protocol = ProtocolId::ESP;
                n.spi = (0x1000 + s.byte() as u32 % 16).to_be_bytes().to_vec();
                p.insert(0, Payload::Notify(n));
            }
            let id = w.id(k, s);
            let i = &mut w.initiators[k];
            let d = i.protected(ExchangeType::CREATE_CHILD_SA, id, &p);
            let from = i.addr;
            w.feed(from, &d);
        }
        // A datagram of ours, one byte changed (at a fuzzed position).
        5 => {
            let Some(k) = w.pick(s) else { return };
            let mut d = w.initiators[k].init_request.clone();
            if d.is_empty() {
                return;
            }
            let at = (s.byte() as usize * 7 + s.byte() as usize) % d.len();
            d[at] ^= s.byte() | 1;
            let from = w.initiators[k].addr;
            w.feed(from, &d);
        }
        // Raw bytes from a fuzzed address (port 500 or 4500).
        6 => {
            let from = SocketAddr::new(
                IpAddr::from([198, 18, 0, s.byte()]),
                if s.byte().is_multiple_of(2) { 500 } else { 4500 },
            );
            let d = s.bytes(300);
            w.feed(from, &d);
        }
        // Time passes.
        7 => {
            let d = Duration::from_millis(100 * s.byte() as u64 + 1);
            w.r.now += d;
            let now = w.r.now;
            if w.r.engine.poll_timeout().is_some_and(|t| t <= now) {
                w.r.engine.handle_timeout(now);
            }
            w.settle();
        }
        // The kernel refuses (or accepts again) from now on.
        8 => w.kernel.refuse = s.byte().is_multiple_of(4),
        // A kernel EXPIRE for an installed SA.
        9 => {
            if w.kernel.expirable.is_empty() {
                return;
            }
            let (dst, spi) = w.kernel.expirable[s.byte() as usize % w.kernel.expirable.len()];
            let hard = s.byte().is_multiple_of(2);
            if hard {
                w.kernel.sas.remove(&(dst, spi));
            }
            let now = w.r.now;
            w.r.engine
                .handle_kernel_event(now, KernelEvent::Expire { spi, dst, hard });
            w.settle();
        }
        // An operator command on some IKE SA.
        10 => {
            let sas = w.r.engine.sa_info();
            let Some(sa) = sas.get(s.byte() as usize % sas.len().max(1)) else {
                return;
            };
            let ike = sa.id;
            let spi_in = w.r.engine.child_sas(ike).first().map_or(0, |c| c.spi_in);
            let c = match s.byte() % 5 {
                0 => Command::TerminateSa { ike },
                1 => Command::RekeyIke { ike },
                2 => Command::RekeyChild { ike, spi_in },
                3 => Command::DeleteChild { ike, spi_in },
                _ => Command::Dpd { ike },
            };
            let now = w.r.now;
            w.r.engine.handle_command(now, c);
            w.settle();
        }
        // A retransmission of the last IKE_SA_INIT of some initiator.
        _ => {
            let Some(k) = w.pick(s) else { return };
            let d = w.initiators[k].init_request.clone();
            if !d.is_empty() {
                let from = w.initiators[k].addr;
                w.feed(from, &d);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut cfg = responder_config();
    cfg.cookie_threshold = 2;
    cfg.max_half_open = 4;
    cfg.max_half_open_per_source = 2;
    cfg.max_half_open_per_prefix = 3;
    cfg.max_children = MAX_CHILDREN;
    cfg.fragment_mtu = 576;
    let cap = cfg.max_half_open;
    let mut w = World {
        r: Responder::new(cfg),
        kernel: Kernel::default(),
        initiators: Vec::new(),
        next_id: Vec::new(),
        cookie: None,
        created: 0,
        cap,
    };
    let mut s = Script(data);
    for _ in 0..MAX_OPS {
        if s.done() {
            break;
        }
        step(&mut w, &mut s);
    }
    // No peer answers from here on: four days later everything is gone.
    for _ in 0..(4 * 24 * 6) {
        w.r.now += Duration::from_secs(600);
        let now = w.r.now;
        while w.r.engine.poll_timeout().is_some_and(|t| t <= now) {
            w.r.engine.handle_timeout(now);
            w.settle();
        }
    }
    let e = &w.r.engine;
    assert_eq!(e.ike_sa_count(), 0, "IKE SAs left: {:?}", e.sa_info());
    assert_eq!(e.half_open_count(), 0);
    assert!(
        w.kernel.sas.is_empty(),
        "kernel SAs left: {:?}",
        w.kernel.sas
    );
    assert!(
        w.kernel.policies.is_empty(),
        "kernel policies left: {:?}",
        w.kernel.policies
    );
});
