//! The XFRM back end of the broker, without a kernel: requests checked by
//! the allow-list before encoding, answers matched by seq, events filtered
//! to our own SAs, clean-up at exit. The kernel's side is built with the
//! codec (the captured real answers are checked in tests/xfrm_kat.rs).

use super::XfrmBroker;
use crate::dialect::Dialect;
use crate::test_support::*;
use crate::xfrm::consts::*;
use crate::xfrm::message::parse_datagram;
use crate::xfrm::nl;
use crate::xfrm::structs::*;
use ike_ipc::config::{Encapsulation, Encryption};
use ike_ipc::msg::pfkey::{
    BrokerEvent, BrokerRequest, ExpireKind, KernelError, KernelReply, NetToPfkey, PfkeyToNet,
    PolicyDir,
};
use std::time::{Duration, Instant};

fn broker(now: Instant) -> XfrmBroker {
    // The tunnel also allows AES-128-GCM-16 with ESN, which only XFRM
    // installs (the broker checks each SA's suite against the policy).
    let mut allowed = allowed_tunnel();
    allowed.children[0].sa.suites.push(ike_ipc::config::Suite {
        encryption: Some(Encryption::Aes128Gcm16),
        integrity: None,
        esn: true,
    });
    let mut b = XfrmBroker::new(broker_config(Dialect::Linux, allowed), now);
    match b.poll_net() {
        Some(PfkeyToNet::Ready(s)) => {
            assert!(s.fwd_policies);
            assert!(s.encryption.contains(&Encryption::Aes256Gcm16));
            assert!(s.encryption.contains(&Encryption::ChaCha20Poly1305));
            // What af_key lacks and ike-net would otherwise leave out.
            assert!(s
                .integrity
                .contains(&ike_ipc::config::Integrity::HmacSha2_256));
            assert!(s.esn);
        }
        other => panic!("Ready first, got {other:?}"),
    }
    b
}

fn request(b: &mut XfrmBroker, id: u64, req: BrokerRequest, now: Instant) {
    b.handle_net(NetToPfkey::Request { id, req }, now);
}

/// The one message written, decoded: its header and the whole bytes.
fn written(b: &mut XfrmBroker, now: Instant) -> (nl::NlHeader, Vec<u8>) {
    let bytes = b
        .poll_kernel_transmit_at(now)
        .expect("a message for the kernel");
    let m = nl::messages(&bytes).next().unwrap().unwrap();
    (m.header, bytes.clone())
}

/// The kernel's NLMSG_ERROR for the request `req` (errno 0: an ACK).
fn answer(req: &[u8], errno: i32) -> Vec<u8> {
    let mut b = nl::begin(NLMSG_ERROR, 0, 0);
    b.extend_from_slice(&(-errno).to_ne_bytes());
    b.extend_from_slice(&req[..16]);
    nl::finish(b).unwrap()
}

fn reply(b: &mut XfrmBroker) -> (u64, Result<KernelReply, KernelError>) {
    match b.poll_net() {
        Some(PfkeyToNet::Reply { id, result }) => (id, result),
        other => panic!("a reply, got {other:?}"),
    }
}

#[test]
fn refused_requests_never_reach_the_kernel() {
    let now = Instant::now();
    let mut b = broker(now);
    // An SA to a peer outside the configuration.
    let p = sa_params(0x1234, "192.0.2.1", "198.51.100.9", Encapsulation::Tunnel);
    request(&mut b, 1, BrokerRequest::AddSa(Box::new(p)), now);
    request(&mut b, 2, BrokerRequest::Flush, now);
    request(&mut b, 3, BrokerRequest::Dump, now);
    for want in [1, 2, 3] {
        let (id, r) = reply(&mut b);
        assert_eq!(id, want);
        assert!(matches!(r, Err(KernelError::Refused(_))), "{r:?}");
    }
    assert!(b.poll_kernel_transmit_at(now).is_none());
    assert!(b.is_idle());
}

#[test]
fn add_update_policy_delete_through_acks() {
    let now = Instant::now();
    let mut b = broker(now);
    // ALLOCSPI answered by a NEWSA with the SPI.
    request(
        &mut b,
        1,
        getspi("192.0.2.2", "192.0.2.1", Encapsulation::Tunnel),
        now,
    );
    let (h, _) = written(&mut b, now);
    assert_eq!(h.ty, XFRM_MSG_ALLOCSPI);
    let info = UsersaInfo {
        id: XfrmId {
            daddr: raw_addr(&ip("192.0.2.1")),
            spi: 0xc0ffee,
            proto: IPPROTO_ESP,
        },
        saddr: raw_addr(&ip("192.0.2.2")),
        family: AF_INET,
        ..Default::default()
    };
    let mut m = nl::begin(XFRM_MSG_NEWSA, 0, h.seq);
    info.emit(&mut m);
    b.handle_kernel(&nl::finish(m).unwrap(), now);
    assert_eq!(reply(&mut b), (1, Ok(KernelReply::Spi(0xc0ffee))));
    assert!(b
        .owned()
        .sas
        .values()
        .any(|s| s.larval && s.id.spi == 0xc0ffee));

    // UPDSA of that SA with AES-GCM, then the outbound NEWSA refused by the kernel.
    let mut p = sa_params(0xc0ffee, "192.0.2.2", "192.0.2.1", Encapsulation::Tunnel);
    p.encryption = Some(Encryption::Aes128Gcm16);
    p.enc_key = ike_ipc::config::Secret::new(vec![1; 20]);
    p.integrity = None;
    p.auth_key = ike_ipc::config::Secret::new(Vec::new());
    p.esn = true;
    request(&mut b, 2, BrokerRequest::UpdateSa(Box::new(p)), now);
    let out = sa_params(0x77, "192.0.2.1", "192.0.2.2", Encapsulation::Tunnel);
    request(&mut b, 3, BrokerRequest::AddSa(Box::new(out)), now);
    let (h2, upd) = written(&mut b, now);
    let (h3, add) = written(&mut b, now);
    assert_eq!((h2.ty, h3.ty), (XFRM_MSG_UPDSA, XFRM_MSG_NEWSA));
    assert_eq!(b.kernel_in_flight(), 2);
    // Answers in any order find their request by seq.
    b.handle_kernel(&answer(&add, 17), now);
    b.handle_kernel(&answer(&upd, 0), now);
    assert_eq!(reply(&mut b), (3, Err(KernelError::Kernel(17))));
    assert_eq!(reply(&mut b), (2, Ok(KernelReply::Done)));
    assert_eq!(b.kernel_in_flight(), 0);
    assert!(b
        .owned()
        .sas
        .values()
        .any(|s| !s.larval && s.id.spi == 0xc0ffee));
    assert!(!b.owned().sas.values().any(|s| s.id.spi == 0x77));

    // A policy is sent as UPDPOLICY (create or replace) with the reqid.
    request(
        &mut b,
        4,
        BrokerRequest::AddPolicy(tunnel_policy(PolicyDir::Fwd)),
        now,
    );
    let (h, pol) = written(&mut b, now);
    assert_eq!(h.ty, XFRM_MSG_UPDPOLICY);
    b.handle_kernel(&answer(&pol, 0), now);
    assert_eq!(reply(&mut b), (4, Ok(KernelReply::Done)));
    assert_eq!(b.owned().policies.len(), 1);

    // Shutdown deletes what we own: the policy and the SA.
    b.shutdown(now);
    let mut types = Vec::new();
    while let Some(bytes) = b.poll_kernel_transmit_at(now) {
        let m = nl::messages(&bytes).next().unwrap().unwrap();
        types.push(m.header.ty);
        b.handle_kernel(&answer(&bytes, 0), now);
    }
    assert_eq!(types, [XFRM_MSG_DELPOLICY, XFRM_MSG_DELSA]);
    assert!(b.is_idle());
    assert!(b.owned().sas.is_empty() && b.owned().policies.is_empty());
}

#[test]
fn events_only_for_our_sas_and_timeouts() {
    let now = Instant::now();
    let mut b = broker(now);
    let p = sa_params(0x55, "192.0.2.1", "192.0.2.2", Encapsulation::Tunnel);
    request(&mut b, 1, BrokerRequest::AddSa(Box::new(p)), now);
    let (_, add) = written(&mut b, now);
    b.handle_kernel(&answer(&add, 0), now);
    assert_eq!(reply(&mut b), (1, Ok(KernelReply::Done)));
    // No answer: a timeout error.
    request(
        &mut b,
        2,
        BrokerRequest::GetSa(esp_id(0x55, "192.0.2.1", "192.0.2.2")),
        now,
    );
    let (h, _) = written(&mut b, now);
    assert_eq!(h.ty, XFRM_MSG_GETSA);
    let later = now + Duration::from_secs(6);
    assert!(b.poll_timeout().is_some_and(|t| t <= later));
    b.handle_timeout(later);
    assert_eq!(reply(&mut b), (2, Err(KernelError::Timeout)));
    let expire = |spi: u32, hard: bool| {
        let state = UsersaInfo {
            id: XfrmId {
                daddr: raw_addr(&ip("192.0.2.2")),
                spi,
                proto: IPPROTO_ESP,
            },
            saddr: raw_addr(&ip("192.0.2.1")),
            family: AF_INET,
            ..Default::default()
        };
        let mut m = nl::begin(XFRM_MSG_EXPIRE, 0, 0);
        UserExpire { state, hard }.emit(&mut m);
        nl::finish(m).unwrap()
    };
    // Another daemon's SA: nothing for ike-net.
    b.handle_kernel(&expire(0x99, true), now);
    assert!(b.poll_net().is_none());
    b.handle_kernel(&expire(0x55, false), now);
    assert!(matches!(
        b.poll_net(),
        Some(PfkeyToNet::Event(BrokerEvent::Expire { kind: ExpireKind::Soft, sa })) if sa.spi == 0x55
    ));
    b.handle_kernel(&expire(0x55, true), now);
    assert!(matches!(
        b.poll_net(),
        Some(PfkeyToNet::Event(BrokerEvent::Expire {
            kind: ExpireKind::Hard,
            ..
        }))
    ));
    assert!(b.owned().sas.is_empty(), "the kernel deleted it");
    // Garbage from the kernel is logged, not fatal.
    b.handle_kernel(&[1, 2, 3], now);
    assert!(parse_datagram(&[1, 2, 3])[0].is_err());
}

#[test]
fn acquire_passes_the_packet_only_inside_the_policy() {
    let now = Instant::now();
    let mut b = broker(now);
    // The kernel's ACQUIRE: the policy 10.1.0.0/16 -> 10.2.0.0/16 (ICMP
    // only), the packet's flow as __xfrm4_init_tempsel fills it.
    let acquire = |seq: u32, src: &str, dst: &str| {
        let policy_sel = Selector {
            saddr: raw_addr(&ip("10.1.0.0")),
            daddr: raw_addr(&ip("10.2.0.0")),
            family: AF_INET,
            prefixlen_s: 16,
            prefixlen_d: 16,
            proto: 1,
            ..Default::default()
        };
        let flow = Selector {
            saddr: raw_addr(&ip(src)),
            daddr: raw_addr(&ip(dst)),
            family: AF_INET,
            prefixlen_s: 32,
            prefixlen_d: 32,
            proto: 1,
            sport: 8,
            sport_mask: 0xffff,
            dport_mask: 0xffff,
            ifindex: 2,
            ..Default::default()
        };
        let a = UserAcquire {
            id: XfrmId {
                daddr: raw_addr(&ip("192.0.2.2")),
                spi: 0,
                proto: IPPROTO_ESP,
            },
            saddr: raw_addr(&ip("192.0.2.1")),
            sel: flow,
            policy: UserpolicyInfo {
                sel: policy_sel,
                ..Default::default()
            },
            seq,
            ..Default::default()
        };
        let mut m = nl::begin(XFRM_MSG_ACQUIRE, 0, 0);
        a.emit(&mut m);
        nl::finish(m).unwrap()
    };
    b.handle_kernel(&acquire(7, "10.1.0.9", "10.2.0.1"), now);
    match b.poll_net() {
        Some(PfkeyToNet::Event(BrokerEvent::Acquire {
            seq: 7,
            packet: Some(p),
            ..
        })) => {
            assert_eq!((p.src, p.dst), (net("10.1.0.9/32"), net("10.2.0.1/32")));
            // The policy names ICMP, no ports: ICMP's type/code stay out.
            assert_eq!((p.proto, p.src_port, p.dst_port), (Some(1), None, None));
        }
        other => panic!("an ACQUIRE with the packet, got {other:?}"),
    }
    // A flow outside the policy (a kernel or decoder fault): the ACQUIRE
    // still goes to ike-net, without the packet.
    b.handle_kernel(&acquire(8, "10.9.0.9", "10.2.0.1"), now);
    assert!(matches!(
        b.poll_net(),
        Some(PfkeyToNet::Event(BrokerEvent::Acquire {
            seq: 8,
            packet: None,
            policy: Some(_),
            ..
        }))
    ));
}
