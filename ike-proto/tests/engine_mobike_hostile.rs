//! MOBIKE (RFC 4555, issue 13) against a scripted initiator, which can send
//! what a correct engine would not: an update on an SA without MOBIKE, an
//! update that a NAT rewrote despite NO_NATS_ALLOWED, an update to an
//! address the policy does not allow. None of them moves the IKE SA.

mod hostile_common;

use std::net::SocketAddr;

use hostile_common::*;
use ike_proto::engine::*;
use ike_proto::wire::{ExchangeType, NotifyType, Payload};

const NEW: &str = "203.0.113.5:500";

fn sock(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Feeds one datagram from `from`; returns (destination, bytes) of what
/// the responder sent.
fn feed_from(r: &mut Responder, from: SocketAddr, bytes: &[u8]) -> Vec<(SocketAddr, Vec<u8>)> {
    r.engine
        .handle_datagram(r.now, responder_addr(), from, bytes);
    let mut out = Vec::new();
    while let Some(t) = r.engine.poll_transmit() {
        out.push((t.remote, t.bytes));
    }
    while r.engine.poll_kernel_request().is_some() {}
    while let Some(e) = r.engine.poll_event() {
        r.events.push(e);
    }
    out
}

/// An established (childless) IKE SA with the scripted initiator at
/// 192.0.2.10, MOBIKE announced by it if `mobike`.
fn established(cfg: Config, mobike: bool) -> (Responder, Initiator, IkeSaId) {
    let mut r = Responder::new(cfg);
    let mut i = Initiator::new("192.0.2.10", 0x4242);
    i.handshake_init(&mut r);
    let mut auth = i.auth_payloads();
    if mobike {
        auth.push(notify(NotifyType::MOBIKE_SUPPORTED, Vec::new()));
    }
    let m = i.protected(ExchangeType::IKE_AUTH, 1, &auth);
    let out = r.feed(i.addr, &m);
    let answer = i.open(&out[0]);
    assert_eq!(
        notifies(&answer).contains(&NotifyType::MOBIKE_SUPPORTED),
        mobike,
        "the responder announces MOBIKE only when the initiator did"
    );
    let ike = r.engine.established()[0];
    (r, i, ike)
}

fn update(extra: Vec<Payload>) -> Vec<Payload> {
    let mut p = vec![notify(NotifyType::UPDATE_SA_ADDRESSES, Vec::new())];
    p.extend(extra);
    p
}

#[test]
fn an_update_without_mobike_negotiated_moves_nothing() {
    let (mut r, mut i, ike) = established(responder_config(), false);
    assert!(r.engine.mobike_of(ike).is_none());
    let m = i.protected(ExchangeType::INFORMATIONAL, 2, &update(Vec::new()));
    let out = feed_from(&mut r, sock(NEW), &m);
    assert_eq!(out.len(), 1, "answered");
    assert!(notifies(&i.open(&out[0].1)).is_empty());
    assert_eq!(r.engine.peer_of(ike), Some(i.addr), "not moved");
}

#[test]
fn no_nats_allowed_through_a_nat_is_refused() {
    let (mut r, mut i, ike) = established(responder_config(), true);
    assert_eq!(r.engine.mobike_of(ike), Some(Vec::new()));
    // The initiator says it sent from 192.0.2.10:500 to the responder; it
    // arrives from NEW: a NAT rewrote it.
    let mut data = vec![192, 0, 2, 10];
    data.extend_from_slice(&[198, 51, 100, 2]);
    data.extend_from_slice(&500u16.to_be_bytes());
    data.extend_from_slice(&500u16.to_be_bytes());
    let m = i.protected(
        ExchangeType::INFORMATIONAL,
        2,
        &update(vec![
            notify(NotifyType::NO_NATS_ALLOWED, data),
            notify(NotifyType::COOKIE2, vec![7; 8]),
        ]),
    );
    let out = feed_from(&mut r, sock(NEW), &m);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, sock(NEW), "answered where it came from");
    let answer = i.open(&out[0].1);
    let n = notifies(&answer);
    assert!(n.contains(&NotifyType::UNEXPECTED_NAT_DETECTED), "{n:?}");
    assert!(n.contains(&NotifyType::COOKIE2), "{n:?}");
    assert_eq!(r.engine.peer_of(ike), Some(i.addr), "not moved");
}

#[test]
fn an_update_to_an_address_the_policy_does_not_allow_is_refused() {
    let mut cfg = responder_config();
    let mut p = (*cfg.policies[0]).clone();
    p.peer_addr = Some(ip("192.0.2.10"));
    cfg.policies[0] = std::sync::Arc::new(p);
    let (mut r, mut i, ike) = established(cfg, true);
    let m = i.protected(ExchangeType::INFORMATIONAL, 2, &update(Vec::new()));
    let out = feed_from(&mut r, sock(NEW), &m);
    assert_eq!(out.len(), 1);
    let n = notifies(&i.open(&out[0].1));
    assert!(n.contains(&NotifyType::UNACCEPTABLE_ADDRESSES), "{n:?}");
    assert_eq!(r.engine.peer_of(ike), Some(i.addr), "not moved");
}

/// An accepted update: the answer carries NAT detection for the new path
/// and our COOKIE2 check goes to the new address; the additional
/// addresses the initiator announced are recorded.
#[test]
fn an_accepted_update_is_checked_at_the_new_address() {
    let (mut r, mut i, ike) = established(responder_config(), true);
    let m = i.protected(
        ExchangeType::INFORMATIONAL,
        2,
        &update(vec![notify(
            NotifyType::ADDITIONAL_IP4_ADDRESS,
            vec![192, 0, 2, 99],
        )]),
    );
    let out = feed_from(&mut r, sock(NEW), &m);
    assert_eq!(out.len(), 2, "the answer and the return routability check");
    assert!(out.iter().all(|(to, _)| *to == sock(NEW)));
    let answer = notifies(&i.open(&out[0].1));
    assert!(
        answer.contains(&NotifyType::NAT_DETECTION_SOURCE_IP)
            && answer.contains(&NotifyType::NAT_DETECTION_DESTINATION_IP),
        "{answer:?}"
    );
    let check = notifies(&i.open(&out[1].1));
    assert_eq!(check, [NotifyType::COOKIE2]);
    assert_eq!(r.engine.peer_of(ike), Some(sock(NEW)));
    assert_eq!(r.engine.mobike_of(ike), Some(vec![ip("192.0.2.99")]));
}

/// strongSwan checks the new path before it updates (an empty INFORMATIONAL
/// from the new address): the answer goes there, nothing moves.
#[test]
fn a_path_check_from_a_new_address_is_answered_there_and_moves_nothing() {
    let (mut r, mut i, ike) = established(responder_config(), true);
    let m = i.protected(ExchangeType::INFORMATIONAL, 2, &[]);
    let out = feed_from(&mut r, sock(NEW), &m);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, sock(NEW));
    assert!(notifies(&i.open(&out[0].1)).is_empty());
    assert_eq!(r.engine.peer_of(ike), Some(i.addr), "not moved");
}
