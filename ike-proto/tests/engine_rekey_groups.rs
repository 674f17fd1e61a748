//! INVALID_KE_PAYLOAD in CREATE_CHILD_SA between two engines (RFC 7296
//! 1.3.1): the responder names the PFS group it wants, the initiator tries
//! once more with it. The IKE SA rekey case and groups we do not allow need
//! a peer that behaves differently from ours: see `engine_vectors.rs`.

mod engine_common;

use std::time::Duration;

use engine_common::*;
use ike_proto::engine::*;
use ike_proto::wire::{DhGroup, ExchangeType, Header};

const K: &[u8] = b"correct horse battery staple";

/// A offers PFS with X25519 first, ECP-256 second; B takes only ECP-256.
fn pfs_pair(childless: bool) -> Pair {
    let (mut pa, mut pb) = psk_policies(K, K);
    pa.childless = childless;
    pa.child_proposals[0].dh = vec![DhGroup::CURVE25519, DhGroup::ECP_256];
    pb.child_proposals[0].dh = vec![DhGroup::ECP_256];
    let mut p = Pair::new(config(pa), config(pb), 21);
    p.trace = Some(Vec::new());
    establish(&mut p);
    p
}

/// Message IDs of A's CREATE_CHILD_SA requests, each once.
fn a_create_child_ids(p: &Pair) -> Vec<u32> {
    let mut v: Vec<u32> = p
        .trace
        .as_ref()
        .unwrap()
        .iter()
        .filter(|t| t.sent && t.side == Side::A)
        .map(|t| Header::parse_bytes(&t.bytes).unwrap())
        .filter(|h| !h.flags.response && h.exchange == ExchangeType::CREATE_CHILD_SA)
        .map(|h| h.message_id)
        .collect();
    v.dedup();
    v
}

fn last_child_group(events: &[Event]) -> Option<DhGroup> {
    events.iter().rev().find_map(|e| match e {
        Event::ChildUp { suite, .. } => Some(suite.dh),
        _ => None,
    })?
}

#[test]
fn child_rekey_retries_once_with_the_group_the_responder_names() {
    let mut p = pfs_pair(false);
    let ia = p.a.engine.established()[0];
    let (old, _) = p.a.engine.children(ia)[0];
    p.rekey_child(Side::A, ia, old);
    p.run_for(Duration::from_secs(5));
    // ID 2 with X25519 got INVALID_KE_PAYLOAD(ECP-256); ID 3 with ECP-256
    // made the child; ID 4 deleted the old one.
    assert_eq!(a_create_child_ids(&p), vec![2, 3]);
    let ca = p.a.engine.children(ia);
    assert_eq!(ca.len(), 1);
    assert_ne!(ca[0].0, old);
    assert_eq!(last_child_group(&p.a.events), Some(DhGroup::ECP_256));
    assert_eq!(last_child_group(&p.b.events), Some(DhGroup::ECP_256));
    assert!(!p.a.events.iter().any(|e| matches!(e, Event::Failed { .. })));
    assert_mirrored(&p);
    assert_eq!(p.a.kernel.larval() + p.b.kernel.larval(), 0);
}

#[test]
fn new_child_with_pfs_retries_with_the_group_the_responder_names() {
    let mut p = pfs_pair(true);
    p.initiate();
    p.run_for(Duration::from_secs(5));
    assert_eq!(a_create_child_ids(&p), vec![2, 3]);
    let ia = p.a.engine.established()[0];
    assert_eq!(p.a.engine.children(ia).len(), 1);
    assert_eq!(last_child_group(&p.a.events), Some(DhGroup::ECP_256));
    assert_mirrored(&p);
}

#[test]
fn a_group_neither_side_can_agree_on_ends_the_child_rekey_cleanly() {
    // B wants ECP-384, which A does not offer: B answers NO_PROPOSAL_CHOSEN
    // (it only names groups the offer contains); A keeps the old child.
    let (mut pa, mut pb) = psk_policies(K, K);
    pa.child_proposals[0].dh = vec![DhGroup::CURVE25519, DhGroup::ECP_256];
    pb.child_proposals[0].dh = vec![DhGroup::ECP_384];
    // IKE_AUTH carries no KE: the first child comes up without PFS.
    let mut p = Pair::new(config(pa), config(pb), 22);
    p.trace = Some(Vec::new());
    establish(&mut p);
    let ia = p.a.engine.established()[0];
    let (old, _) = p.a.engine.children(ia)[0];
    p.rekey_child(Side::A, ia, old);
    p.run_for(Duration::from_secs(2));
    assert_eq!(a_create_child_ids(&p), vec![2], "no retry");
    assert!(p.a.events.iter().any(|e| matches!(
        e,
        Event::Failed {
            reason: FailReason::NoProposalChosen,
            ..
        }
    )));
    assert_eq!(
        p.a.engine.children(ia),
        vec![(old, p.a.engine.children(ia)[0].1)]
    );
    assert_mirrored(&p);
    assert_eq!(p.a.kernel.larval(), 0, "the rekey's SPI is given back");
}
