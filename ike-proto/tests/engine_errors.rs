//! Error paths between two engines: each ends with the right event, the
//! right notify, and no state left behind.

mod engine_common;

use std::time::Duration;

use engine_common::*;
use ike_proto::engine::*;
use ike_proto::wire::{DhGroup, IntegId, Message, NotifyType, Payload, PrfId};

fn nothing_left(p: &Pair) {
    assert_eq!(p.a.engine.ike_sa_count(), 0, "A still has IKE SAs");
    assert_eq!(p.b.engine.ike_sa_count(), 0, "B still has IKE SAs");
    assert!(
        p.a.kernel.sas.is_empty(),
        "A kernel: {:?}",
        p.a.kernel.sas.keys()
    );
    assert!(
        p.b.kernel.sas.is_empty(),
        "B kernel: {:?}",
        p.b.kernel.sas.keys()
    );
    assert!(p.a.kernel.policies.is_empty() && p.b.kernel.policies.is_empty());
    assert_eq!(p.b.engine.half_open_count(), 0);
}

fn failed_with(events: &[Event], r: FailReason) -> bool {
    events
        .iter()
        .any(|e| matches!(e, Event::Failed { reason, .. } if *reason == r))
}

#[test]
fn wrong_psk() {
    let (pa, pb) = psk_policies(b"one secret", b"another secret");
    let mut p = Pair::new(config(pa), config(pb), 21);
    p.initiate();
    p.run_for(Duration::from_secs(5));
    assert_eq!(ike_up(&p.a.events) + ike_up(&p.b.events), 0);
    assert!(failed_with(&p.b.events, FailReason::AuthenticationFailed));
    assert!(
        failed_with(&p.a.events, FailReason::AuthenticationFailed),
        "A learns it from B's notify"
    );
    nothing_left(&p);
}

#[test]
fn no_common_proposal() {
    let (mut pa, pb) = psk_policies(b"k", b"k");
    pa.ike_proposals = vec![IkeProposal {
        encr: vec![cbc(128)],
        prf: vec![PrfId::HMAC_SHA2_256],
        integ: vec![IntegId::HMAC_SHA2_256_128],
        dh: vec![DhGroup::ECP_256],
    }];
    let mut p = Pair::new(config(pa), config(pb), 22);
    p.initiate();
    p.run_for(Duration::from_secs(5));
    assert!(failed_with(&p.a.events, FailReason::NoProposalChosen));
    // Two datagrams in all: the request and the stateless refusal.
    assert_eq!(p.sent.len(), 2);
    nothing_left(&p);
}

#[test]
fn ts_unacceptable_keeps_the_ike_sa() {
    let (mut pa, pb) = psk_policies(b"k", b"k");
    pa.local_ts = vec![TrafficSelector::prefix(ip("172.16.0.0"), 12).unwrap()];
    let mut p = Pair::new(config(pa), config(pb), 23);
    p.initiate();
    p.run_for(Duration::from_secs(3));
    assert_eq!(ike_up(&p.a.events), 1);
    assert_eq!(ike_up(&p.b.events), 1);
    assert_eq!(child_up(&p.a.events) + child_up(&p.b.events), 0);
    assert!(failed_with(&p.a.events, FailReason::TsUnacceptable));
    assert!(p.a.kernel.sas.is_empty() && p.b.kernel.sas.is_empty());
}

#[test]
fn invalid_ke_payload_retry() {
    let (mut pa, mut pb) = psk_policies(b"k", b"k");
    pa.ike_proposals[0].dh = vec![DhGroup::CURVE25519, DhGroup::ECP_256];
    pb.ike_proposals[0].dh = vec![DhGroup::ECP_256];
    let mut p = Pair::new(config(pa), config(pb), 24);
    establish(&mut p);
    let dh = p.a.events.iter().find_map(|e| {
        if let Event::IkeUp { suite, .. } = e {
            Some(suite.dh)
        } else {
            None
        }
    });
    assert_eq!(dh, Some(DhGroup::ECP_256));
    // INIT, INVALID_KE, INIT again, INIT response, AUTH, AUTH response.
    assert_eq!(p.sent.len(), 6, "{:?}", p.sent);
}

#[test]
fn invalid_ke_for_a_group_we_did_not_offer_fails() {
    let (mut pa, mut pb) = psk_policies(b"k", b"k");
    pa.ike_proposals[0].dh = vec![DhGroup::CURVE25519];
    pb.ike_proposals[0].dh = vec![DhGroup::ECP_256];
    let mut p = Pair::new(config(pa), config(pb), 25);
    p.initiate();
    p.run_for(Duration::from_secs(5));
    // B chooses nothing (A offered only X25519): NO_PROPOSAL_CHOSEN.
    assert!(failed_with(&p.a.events, FailReason::NoProposalChosen));
    nothing_left(&p);
}

#[test]
fn cookie_round_trip_without_responder_state() {
    let (pa, pb) = psk_policies(b"k", b"k");
    let mut cb = config(pb);
    cb.cookie_threshold = 0; // always demand a cookie
    let mut p = Pair::new(config(pa), cb, 26);
    let now = p.now;
    p.a.engine.handle_command(
        now,
        Command::Initiate {
            policy: "net".into(),
        },
    );
    // Deliver A's first IKE_SA_INIT only.
    let t = p.a.engine.poll_transmit().expect("IKE_SA_INIT");
    p.b.engine.handle_datagram(now, t.remote, t.local, &t.bytes);
    assert_eq!(p.b.engine.ike_sa_count(), 0, "no state before the cookie");
    let reply = p.b.engine.poll_transmit().expect("COOKIE reply");
    let m = Message::parse(&reply.bytes).unwrap();
    assert!(matches!(&m.payloads[..], [Payload::Notify(n)] if n.notify_type == NotifyType::COOKIE));
    // A forged retry with a wrong cookie creates no state either.
    let mut forged = Message::parse(&t.bytes).unwrap();
    forged.payloads.insert(
        0,
        Payload::Notify(ike_proto::wire::Notify::new(
            NotifyType::COOKIE,
            vec![0u8; 33],
        )),
    );
    p.b.engine
        .handle_datagram(now, t.remote, t.local, &forged.to_bytes().unwrap());
    assert_eq!(p.b.engine.ike_sa_count(), 0);
    while p.b.engine.poll_transmit().is_some() {}
    // The real exchange: A gets the cookie and retries.
    p.a.engine
        .handle_datagram(now, reply.remote, reply.local, &reply.bytes);
    p.run_for(Duration::from_secs(3));
    assert_eq!(ike_up(&p.a.events), 1, "{:?}", p.a.events);
    assert_eq!(ike_up(&p.b.events), 1);
    assert_mirrored(&p);
}

#[test]
fn dpd_timeout_kills_both_sides() {
    let mut p = Pair::psk();
    establish(&mut p);
    p.loss = 1.0; // the link dies
    p.run_for(Duration::from_secs(120));
    for n in [&p.a, &p.b] {
        assert!(
            n.events.iter().any(|e| matches!(
                e,
                Event::IkeDown {
                    reason: DownReason::PeerDead,
                    ..
                }
            )),
            "{:?}",
            n.events
        );
    }
    nothing_left(&p);
}

#[test]
fn dpd_keeps_a_live_sa() {
    let mut p = Pair::psk();
    establish(&mut p);
    p.run_for(Duration::from_secs(300));
    assert_eq!(p.a.engine.established().len(), 1);
    assert_eq!(p.b.engine.established().len(), 1);
    assert!(p.sent.len() > 10, "liveness checks were sent");
    assert_mirrored(&p);
}

#[test]
fn initial_contact_replaces_stale_sas() {
    let mut p = Pair::psk();
    establish(&mut p);
    let old_b = p.b.engine.established()[0];
    // A "reboots": a fresh engine and an empty kernel, same policy.
    let (pa, _) = psk_policies(b"correct horse battery staple", b"");
    p.a.engine = Engine::new(config(pa), Box::new(SeededRng::new(99)), p.now);
    p.a.kernel = Kernel::new(0xa100_0001);
    p.a.events.clear();
    p.initiate();
    p.run_for(Duration::from_secs(3));
    assert_eq!(ike_up(&p.a.events), 1);
    let now_b = p.b.engine.established();
    assert_eq!(now_b.len(), 1);
    assert_ne!(now_b[0], old_b);
    assert!(p.b.events.iter().any(|e| matches!(e, Event::IkeDown { ike, reason: DownReason::InitialContact, .. } if *ike == old_b)));
    assert_mirrored(&p);
}

#[test]
fn corrupted_auth_is_dropped_and_retransmission_recovers() {
    let mut p = Pair::psk();
    // Datagram 2 is A's IKE_AUTH (0: INIT, 1: INIT reply).
    p.corrupt = vec![2];
    p.initiate();
    p.run_for(Duration::from_millis(300));
    assert_eq!(
        p.sent.len(),
        3,
        "B answered nothing to the corrupted message"
    );
    assert_eq!(p.b.engine.half_open_count(), 1);
    p.run_for(Duration::from_secs(3));
    assert_eq!(ike_up(&p.a.events), 1);
    assert_mirrored(&p);
}

#[test]
fn duplicate_request_gets_the_cached_response() {
    let mut p = Pair::psk();
    p.dup = 1.0; // every datagram twice
    establish(&mut p);
    assert_eq!(ike_up(&p.b.events), 1);
    assert_eq!(
        child_up(&p.b.events),
        1,
        "a duplicated IKE_AUTH is not processed twice"
    );
}

#[test]
fn garbage_never_creates_state() {
    let mut p = Pair::psk();
    let mut r = SeededRng::new(5);
    let now = p.now;
    for i in 0..2000 {
        let mut b = vec![0u8; (i % 300) + 1];
        r.fill(&mut b);
        if i % 3 == 0 && b.len() > 28 {
            // Valid-looking header: IKEv2, IKE_SA_INIT request.
            b[17] = 0x20;
            b[18] = 34;
            b[19] = 0x08;
            let n = b.len() as u32;
            b[24..28].copy_from_slice(&n.to_be_bytes());
        }
        p.b.engine.handle_datagram(
            now,
            "198.51.100.2:500".parse().unwrap(),
            "192.0.2.1:500".parse().unwrap(),
            &b,
        );
        p.b.engine.handle_datagram(
            now,
            "198.51.100.2:4500".parse().unwrap(),
            "192.0.2.1:4500".parse().unwrap(),
            &b,
        );
    }
    assert_eq!(p.b.engine.ike_sa_count(), 0);
    assert!(p.b.engine.poll_kernel_request().is_none());
}

#[test]
fn kernel_refusal_refuses_the_child_not_the_ike_sa() {
    let mut p = Pair::psk();
    p.b.kernel.refuse = true;
    p.initiate();
    p.run_for(Duration::from_secs(3));
    assert_eq!(ike_up(&p.a.events), 1);
    assert_eq!(ike_up(&p.b.events), 1);
    // B never announced the child: A never had it.
    assert_eq!(child_up(&p.a.events) + child_up(&p.b.events), 0);
    assert!(failed_with(&p.b.events, FailReason::Kernel));
    assert!(failed_with(&p.a.events, FailReason::NoProposalChosen));
    assert!(p.a.kernel.sas.is_empty(), "{:?}", p.a.kernel.sas.keys());
    assert!(p.b.kernel.sas.is_empty(), "{:?}", p.b.kernel.sas.keys());
    assert!(p.a.engine.children(p.a.engine.established()[0]).is_empty());
}

#[test]
fn terminate_cleans_up_everything() {
    let mut p = Pair::psk();
    establish(&mut p);
    p.command(
        Side::A,
        Command::Terminate {
            policy: "net".into(),
        },
    );
    p.run_for(Duration::from_secs(2));
    assert!(p.a.events.iter().any(|e| matches!(
        e,
        Event::IkeDown {
            reason: DownReason::Terminated,
            ..
        }
    )));
    assert!(p.b.events.iter().any(|e| matches!(
        e,
        Event::IkeDown {
            reason: DownReason::DeletedByPeer,
            ..
        }
    )));
    nothing_left(&p);
}

#[test]
fn silent_peer_gives_up_cleanly() {
    let mut p = Pair::psk();
    p.loss = 1.0;
    p.initiate();
    p.run_for(Duration::from_secs(120));
    assert!(failed_with(&p.a.events, FailReason::Timeout));
    nothing_left(&p);
}

#[test]
fn child_cap_refuses_with_no_additional_sas() {
    let (mut pa, pb) = psk_policies(b"k", b"k");
    pa.childless = true;
    let mut cb = config(pb);
    cb.max_children = 0;
    let mut p = Pair::new(config(pa), cb, 27);
    establish(&mut p);
    p.command(
        Side::A,
        Command::Initiate {
            policy: "net".into(),
        },
    );
    p.run_for(Duration::from_secs(2));
    assert!(failed_with(
        &p.a.events,
        FailReason::PeerNotify(NotifyType::NO_ADDITIONAL_SAS)
    ));
    assert!(p.a.kernel.sas.is_empty() && p.b.kernel.sas.is_empty());
    assert_eq!(p.a.engine.established().len(), 1, "the IKE SA stays");
}
