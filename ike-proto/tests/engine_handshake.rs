//! Two engines in one process: IKE_SA_INIT + IKE_AUTH with a CHILD_SA,
//! across authentication methods, suites, modes, NAT and fragmentation.

mod engine_common;

use std::time::Duration;

use engine_common::*;
use ike_proto::engine::*;
use ike_proto::wire::{DhGroup, IntegId, PrfId};

#[test]
fn psk_handshake_installs_mirrored_child() {
    let mut p = Pair::psk();
    p.initiate();
    p.run_for(Duration::from_secs(2));
    assert_eq!(ike_up(&p.a.events), 1, "A events: {:?}", p.a.events);
    assert_eq!(ike_up(&p.b.events), 1, "B events: {:?}", p.b.events);
    assert_eq!(child_up(&p.a.events), 1);
    assert_eq!(child_up(&p.b.events), 1);
    assert_eq!(p.a.kernel.installed().len(), 2);
    assert_mirrored(&p);
    assert_eq!(p.a.kernel.larval(), 0);
    assert_eq!(p.b.kernel.larval(), 0);
    // Policies: one pair of selectors, both directions, on each side.
    assert_eq!(p.a.kernel.policies.len(), 2);
    assert_eq!(p.b.kernel.policies.len(), 2);
    assert_eq!(p.b.engine.half_open_count(), 0);
    let (ia, ib) = (p.a.engine.established(), p.b.engine.established());
    assert_eq!(ia.len(), 1);
    assert_eq!(ib.len(), 1);
    // Each side's inbound SPI is the other's outbound SPI.
    let ca = p.a.engine.children(ia[0]);
    let cb = p.b.engine.children(ib[0]);
    assert_eq!(ca.len(), 1);
    assert_eq!(ca[0], (cb[0].1, cb[0].0));
    // The kernel chose the inbound SPIs: A's from A's range, B's from B's.
    assert_eq!(ca[0].0 >> 28, 0xa);
    assert_eq!(cb[0].0 >> 28, 0xb);
    // TS agree: A's local is B's remote.
    let ts_a = p.a.events.iter().find_map(|e| match e {
        Event::ChildUp {
            local_ts,
            remote_ts,
            ..
        } => Some((local_ts.clone(), remote_ts.clone())),
        _ => None,
    });
    let ts_b = p.b.events.iter().find_map(|e| match e {
        Event::ChildUp {
            local_ts,
            remote_ts,
            ..
        } => Some((remote_ts.clone(), local_ts.clone())),
        _ => None,
    });
    assert!(ts_a.is_some());
    assert_eq!(ts_a, ts_b);
    // No NAT between them: ESP is not encapsulated, IKE stayed on 500.
    assert!(p.a.kernel.installed().iter().all(|s| s.encap.is_none()));
    assert!(
        p.b.kernel.installed().iter().all(|s| s.encap.is_none()),
        "the responder sees no NAT either"
    );
    let ib = p.b.engine.established()[0];
    assert_eq!(p.b.engine.peer_of(ib).unwrap().port(), 500);
    assert_eq!(p.a.engine.peer_of(ia[0]).unwrap().port(), 500);
}

fn sig_handshake(ka: &str, kb: &str) {
    let (pa, pb) = sig_policies(ka, kb);
    let mut p = Pair::new(config(pa), config(pb), 7);
    establish(&mut p);
    assert_eq!(child_up(&p.a.events), 1);
}

#[test]
fn ecdsa_p256_handshake() {
    sig_handshake("p256", "p256");
}

#[test]
fn ed25519_handshake() {
    sig_handshake("ed25519", "ed25519");
}

#[test]
fn mixed_signature_kinds() {
    sig_handshake("p384", "ed25519");
}

#[test]
fn initiator_refusing_the_responders_auth_tears_both_down() {
    let (mut pa, pb) = sig_policies("ed25519", "ed25519");
    let (_, other) = keypair("ed25519");
    pa.peer_auth = PeerAuth::Signature(other);
    let mut p = Pair::new(config(pa), config(pb), 12);
    p.initiate();
    p.run_for(Duration::from_secs(3));
    // B accepted A and came up, then A refused B's AUTH and said so.
    assert_eq!(ike_up(&p.b.events), 1);
    assert!(p.a.events.iter().any(|e| matches!(
        e,
        Event::Failed {
            reason: FailReason::AuthenticationFailed,
            ..
        }
    )));
    assert!(p.b.events.iter().any(|e| matches!(
        e,
        Event::Failed {
            reason: FailReason::AuthenticationFailed,
            ..
        }
    )));
    assert_eq!(p.a.engine.ike_sa_count() + p.b.engine.ike_sa_count(), 0);
    assert!(p.a.kernel.sas.is_empty() && p.b.kernel.sas.is_empty());
    assert!(p.a.kernel.policies.is_empty() && p.b.kernel.policies.is_empty());
}

#[test]
fn wrong_signature_key_fails_auth() {
    let (pa, mut pb) = sig_policies("p256", "p256");
    let (_, other) = keypair("p256");
    pb.peer_auth = PeerAuth::Signature(other);
    let mut p = Pair::new(config(pa), config(pb), 8);
    p.initiate();
    p.run_for(Duration::from_secs(3));
    assert_eq!(ike_up(&p.a.events), 0);
    assert_eq!(ike_up(&p.b.events), 0);
    assert!(p.b.events.iter().any(|e| matches!(
        e,
        Event::Failed {
            reason: FailReason::AuthenticationFailed,
            ..
        }
    )));
    assert!(p.a.events.iter().any(|e| matches!(
        e,
        Event::Failed {
            reason: FailReason::AuthenticationFailed,
            ..
        }
    )));
    assert_eq!(p.a.engine.ike_sa_count() + p.b.engine.ike_sa_count(), 0);
    assert!(
        p.a.kernel.sas.is_empty() && p.b.kernel.sas.is_empty(),
        "no SA (not even larval) left"
    );
}

fn suite_handshake(ike: IkeProposal, child: ChildProposal) {
    let (mut pa, mut pb) = psk_policies(b"k", b"k");
    pa.ike_proposals = vec![ike.clone()];
    pb.ike_proposals = vec![ike];
    pa.child_proposals = vec![child.clone()];
    pb.child_proposals = vec![child];
    let mut p = Pair::new(config(pa), config(pb), 3);
    establish(&mut p);
}

#[test]
fn aes_cbc_hmac_ecp256_suite() {
    suite_handshake(
        IkeProposal {
            encr: vec![cbc(128)],
            prf: vec![PrfId::HMAC_SHA2_256],
            integ: vec![IntegId::HMAC_SHA2_256_128],
            dh: vec![DhGroup::ECP_256],
        },
        ChildProposal {
            encr: vec![cbc(256)],
            integ: vec![IntegId::HMAC_SHA2_512_256],
            dh: vec![],
            esn: true,
        },
    );
}

#[test]
fn chacha_p384_suite() {
    suite_handshake(
        IkeProposal {
            encr: vec![chacha()],
            prf: vec![PrfId::HMAC_SHA2_384],
            integ: vec![],
            dh: vec![DhGroup::ECP_384],
        },
        ChildProposal {
            encr: vec![chacha()],
            integ: vec![],
            dh: vec![],
            esn: false,
        },
    );
}

#[test]
fn modp2048_sha512_suite() {
    suite_handshake(
        IkeProposal {
            encr: vec![gcm(128)],
            prf: vec![PrfId::HMAC_SHA2_512],
            integ: vec![],
            dh: vec![DhGroup::MODP_2048],
        },
        ChildProposal {
            encr: vec![gcm(128)],
            integ: vec![],
            dh: vec![],
            esn: false,
        },
    );
}

#[test]
fn responder_prefers_the_group_of_the_ke_payload() {
    // A offers two groups, sends KE for the first; B accepts both: no
    // INVALID_KE round trip, the group of A's KE is used.
    let (mut pa, mut pb) = psk_policies(b"k", b"k");
    pa.ike_proposals[0].dh = vec![DhGroup::CURVE25519, DhGroup::ECP_256];
    pb.ike_proposals[0].dh = vec![DhGroup::ECP_256, DhGroup::CURVE25519];
    let mut p = Pair::new(config(pa), config(pb), 4);
    establish(&mut p);
    let dh = p.b.events.iter().find_map(|e| {
        if let Event::IkeUp { suite, .. } = e {
            Some(suite.dh)
        } else {
            None
        }
    });
    assert_eq!(dh, Some(DhGroup::CURVE25519));
}

#[test]
fn transport_mode() {
    let (mut pa, mut pb) = psk_policies(b"k", b"k");
    pa.mode = Encapsulation::Transport;
    pb.mode = Encapsulation::Transport;
    pa.local_ts = vec![TrafficSelector::host(ip(A_ADDR))];
    pa.peer_ts = vec![TrafficSelector::host(ip(B_ADDR))];
    pb.local_ts = vec![TrafficSelector::host(ip(B_ADDR))];
    pb.peer_ts = vec![TrafficSelector::host(ip(A_ADDR))];
    let mut p = Pair::new(config(pa), config(pb), 5);
    establish(&mut p);
    assert!(p
        .a
        .kernel
        .installed()
        .iter()
        .all(|s| s.mode == Encapsulation::Transport));
    assert!(p
        .b
        .kernel
        .installed()
        .iter()
        .all(|s| s.mode == Encapsulation::Transport));
}

#[test]
fn transport_mode_refused_by_tunnel_responder() {
    let (mut pa, pb) = psk_policies(b"k", b"k");
    pa.mode = Encapsulation::Transport;
    let mut p = Pair::new(config(pa), config(pb), 5);
    p.initiate();
    p.run_for(Duration::from_secs(3));
    // The IKE SA stands, the child is refused (RFC 7296 1.2).
    assert_eq!(ike_up(&p.a.events), 1);
    assert_eq!(child_up(&p.a.events), 0);
    assert!(p.a.events.iter().any(|e| matches!(
        e,
        Event::Failed {
            reason: FailReason::NoProposalChosen,
            ..
        }
    )));
    assert!(
        p.a.kernel.sas.is_empty(),
        "the allocated SPI was given back"
    );
}

#[test]
fn childless_ike_sa() {
    let (mut pa, pb) = psk_policies(b"k", b"k");
    pa.childless = true;
    let mut p = Pair::new(config(pa), config(pb), 6);
    establish(&mut p);
    assert_eq!(child_up(&p.a.events) + child_up(&p.b.events), 0);
    assert!(p.a.kernel.sas.is_empty() && p.b.kernel.sas.is_empty());
    // A child can be added later with CREATE_CHILD_SA: on command ...
    p.command(
        Side::A,
        Command::Initiate {
            policy: "net".into(),
        },
    );
    p.run_for(Duration::from_secs(2));
    assert_eq!(child_up(&p.a.events), 1);
    assert_mirrored(&p);
    // ... or when the kernel reports traffic after that child is gone.
    let ike = p.a.engine.established()[0];
    let (spi_in, _) = p.a.engine.children(ike)[0];
    p.command(Side::A, Command::DeleteChild { ike, spi_in });
    p.run_for(Duration::from_secs(2));
    assert!(p.a.kernel.sas.is_empty());
    let now = p.now;
    p.a.engine.handle_kernel_event(
        now,
        KernelEvent::Acquire {
            local: ip(A_ADDR),
            remote: ip(B_ADDR),
            packet_src: None,
            packet_dst: None,
        },
    );
    p.run_for(Duration::from_secs(2));
    assert_eq!(child_up(&p.a.events), 2);
    assert_mirrored(&p);
}

#[test]
fn narrowing_to_the_responders_selectors() {
    let (mut pa, pb) = psk_policies(b"k", b"k");
    // A asks for 10.0.0.0/8 <-> 10.0.0.0/8; B allows only its /24s.
    pa.local_ts = vec![TrafficSelector::prefix(ip("10.0.0.0"), 8).unwrap()];
    pa.peer_ts = vec![TrafficSelector::prefix(ip("10.0.0.0"), 8).unwrap()];
    let mut p = Pair::new(config(pa), config(pb), 9);
    establish(&mut p);
    let got = p.a.events.iter().find_map(|e| match e {
        Event::ChildUp {
            local_ts,
            remote_ts,
            ..
        } => Some((local_ts.clone(), remote_ts.clone())),
        _ => None,
    });
    assert_eq!(
        got,
        Some((
            vec![TrafficSelector::prefix(ip("10.1.0.0"), 24).unwrap()],
            vec![TrafficSelector::prefix(ip("10.2.0.0"), 24).unwrap()]
        ))
    );
}

#[test]
fn nat_moves_to_4500_and_encapsulates() {
    let (pa, mut pb) = psk_policies(b"k", b"k");
    // Behind a NAT, the responder cannot know the peer's public address.
    pb.peer_addr = None;
    let mut p = Pair::new(config(pa), config(pb), 11);
    p.nat_a = Some("203.0.113.9:40000".parse().unwrap());
    establish(&mut p);
    let ib = p.b.engine.established()[0];
    // The NAT maps A's port 4500 to 40000 + 4500 % 7; B follows it.
    assert_eq!(
        p.b.engine.peer_of(ib),
        Some("203.0.113.9:40006".parse().unwrap())
    );
    let ia = p.a.engine.established()[0];
    assert_eq!(p.a.engine.peer_of(ia).unwrap().port(), 4500);
    for s in p.a.kernel.installed() {
        assert!(s.encap.is_some(), "ESP in UDP behind a NAT");
    }
    assert!(p.b.kernel.installed().iter().all(|s| s.encap.is_some()));
}

#[test]
fn fragmentation_of_large_messages() {
    // Many selectors and a small MTU make IKE_AUTH exceed one datagram.
    let (mut pa, mut pb) = sig_policies("p384", "p384");
    let many: Vec<TrafficSelector> = (0..40u8)
        .map(|i| TrafficSelector::prefix(ip(&format!("10.1.{i}.0")), 24).unwrap())
        .collect();
    pa.local_ts = many.clone();
    pb.peer_ts = many;
    let mut ca = config(pa);
    let mut cb = config(pb);
    ca.fragment_mtu = 576;
    cb.fragment_mtu = 576;
    let mut p = Pair::new(ca, cb, 10);
    p.initiate();
    p.run_for(Duration::from_secs(3));
    assert_eq!(ike_up(&p.a.events), 1, "{:?}", p.a.events);
    assert_mirrored(&p);
    // IKE_SA_INIT (2) + IKE_AUTH request and response: more datagrams than
    // messages, none above the MTU.
    assert!(
        p.sent.len() >= 6,
        "IKE_AUTH went out in fragments: {:?}",
        p.sent
    );
    assert!(p.sent.iter().all(|&n| n <= 576), "{:?}", p.sent);
}

#[test]
fn sa_info_snapshot_agrees_between_peers() {
    let mut p = Pair::psk();
    establish(&mut p);
    let (a, b) = (p.a.engine.sa_info(), p.b.engine.sa_info());
    assert_eq!((a.len(), b.len()), (1, 1));
    let (a, b) = (&a[0], &b[0]);
    assert_eq!(a.status, IkeStatus::Established);
    assert_eq!(b.status, IkeStatus::Established);
    assert!(a.initiator && !b.initiator);
    assert_eq!((a.spi_i, a.spi_r), (b.spi_i, b.spi_r));
    assert_eq!(a.id.0, a.spi_i);
    assert_eq!(b.id.0, b.spi_r);
    assert_eq!(a.peer_id.as_ref(), Some(&b.local_id));
    assert_eq!(b.peer_id.as_ref(), Some(&a.local_id));
    assert_eq!(a.suite, b.suite);
    assert!(a.rekey_at.is_some() && a.hard_at.is_some() && !a.nat);
    assert_eq!(a.children.len(), 1);
    let (ca, cb) = (&a.children[0], &b.children[0]);
    assert_eq!((ca.spi_in, ca.spi_out), (cb.spi_out, cb.spi_in));
    assert_eq!(ca.status, ChildStatus::Installed);
    assert_eq!(ca.local_ts, cb.remote_ts);
    assert_eq!(ca.suite, cb.suite);
}

#[test]
fn set_config_initiates_only_new_active_policies() {
    let mut p = Pair::psk();
    p.a.engine.start(p.now);
    p.pump();
    p.run_for(Duration::from_secs(3));
    assert_eq!(
        ike_up(&p.a.events),
        1,
        "start() initiated the Active policy"
    );
    // Reload: the same policy (a new Arc) plus a new Active one.
    let (same, _) = psk_policies(b"correct horse battery staple", b"");
    let mut extra = same.clone();
    extra.name = "extra".into();
    extra.peer_addr = Some(ip("203.0.113.77"));
    let mut cfg = config(same);
    cfg.policies.push(std::sync::Arc::new(extra));
    let now = p.now;
    p.a.engine.set_config(now, cfg);
    p.pump();
    let info = p.a.engine.sa_info();
    assert_eq!(
        info.iter().filter(|i| i.policy == "net").count(),
        1,
        "no second SA for the unchanged policy"
    );
    let extra = info
        .iter()
        .find(|i| i.policy == "extra")
        .expect("the new policy was initiated");
    assert_eq!(extra.status, IkeStatus::Connecting);
    assert_eq!(p.a.engine.established().len(), 1);
}
