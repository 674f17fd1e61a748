//! Requests and answers the engine cannot encode: the exchange is
//! abandoned visibly (a `Failed` event with `Unencodable`), what it stood
//! for is undone (SPIs given back, a rekey tried again later), and nothing
//! waits for an answer that will never come. Triggers are real
//! configurations: more selectors than a TS payload holds (its length is
//! 16 bits, RFC 7296 3.13), and a fragment MTU too small for any RFC 7383
//! fragment, set by a reload.

mod engine_common;

use std::time::Duration;

use engine_common::*;
use ike_proto::engine::*;

const K: &[u8] = b"correct horse battery staple";

fn unencodable(events: &[Event]) -> usize {
    count(events, |e| {
        matches!(
            e,
            Event::Failed {
                reason: FailReason::Unencodable,
                ..
            }
        )
    })
}

/// 4200 host selectors: 16 octets each, more than a TS payload's 16-bit
/// length allows.
fn many_selectors() -> Vec<TrafficSelector> {
    (0..4200u32)
        .map(|i| {
            let a = std::net::Ipv4Addr::from(0x0a01_0000 + i);
            TrafficSelector::prefix(std::net::IpAddr::V4(a), 32).unwrap()
        })
        .collect()
}

/// `cfg` with a fragment MTU too small for any fragment (RFC 7383 needs
/// room for the headers, IV and ICV around each piece).
fn tiny_mtu(mut cfg: Config) -> Config {
    cfg.fragment_mtu = 90;
    cfg
}

fn pair(childless: bool, seed: u64) -> (Pair, Policy, Policy) {
    let (mut pa, pb) = psk_policies(K, K);
    pa.childless = childless;
    let p = Pair::new(config(pa.clone()), config(pb.clone()), seed);
    (p, pa, pb)
}

#[test]
fn new_child_with_too_many_selectors_gives_its_spi_back() {
    let (mut pa, pb) = psk_policies(K, K);
    pa.childless = true;
    pa.local_ts = many_selectors();
    let mut p = Pair::new(config(pa), config(pb), 1);
    establish(&mut p);
    p.initiate(); // a CHILD_SA on the existing IKE SA
    p.run_for(Duration::from_secs(30));
    assert_eq!(unencodable(&p.a.events), 1, "{:?}", p.a.events);
    assert_eq!(p.a.kernel.larval(), 0, "the SPI went back to the kernel");
    assert!(p.a.kernel.sas.is_empty() && p.b.kernel.sas.is_empty());
    // The IKE SA is untouched and the peer saw nothing.
    assert_eq!(p.a.engine.established().len(), 1);
    assert_eq!(p.b.engine.established().len(), 1);
    assert_eq!(child_up(&p.a.events) + child_up(&p.b.events), 0);
}

#[test]
fn child_rekey_that_cannot_be_sent_is_retried_and_the_spi_given_back() {
    let (mut p, pa, _) = pair(false, 2);
    establish(&mut p);
    let now = p.now;
    p.a.engine.set_config(now, tiny_mtu(config(pa)));
    let ike = p.a.engine.established()[0];
    let (spi_in, _) = p.a.engine.children(ike)[0];
    p.rekey_child(Side::A, ike, spi_in);
    assert_eq!(unencodable(&p.a.events), 1, "{:?}", p.a.events);
    assert_eq!(p.a.kernel.larval(), 0, "the new child's SPI went back");
    assert_eq!(p.a.engine.children(ike).len(), 1, "the old child stays");
    // The child is marked for another attempt (which fails the same way).
    p.run_for(Duration::from_secs(25));
    assert!(unencodable(&p.a.events) >= 2, "{:?}", p.a.events);
    assert_eq!(p.a.kernel.larval(), 0);
    assert_eq!(p.a.engine.children(ike).len(), 1);
    assert_mirrored(&p);
}

#[test]
fn delete_that_cannot_be_sent_removes_the_child_here() {
    let (mut p, pa, _) = pair(false, 3);
    establish(&mut p);
    let now = p.now;
    // The DELETE itself is small: only with no room at all does it fail.
    let mut cfg = tiny_mtu(config(pa));
    cfg.fragment_mtu = 40;
    p.a.engine.set_config(now, cfg);
    let ike = p.a.engine.established()[0];
    let (spi_in, _) = p.a.engine.children(ike)[0];
    p.command(Side::A, Command::DeleteChild { ike, spi_in });
    p.run_for(Duration::from_secs(5));
    assert_eq!(unencodable(&p.a.events), 1, "{:?}", p.a.events);
    assert!(p.a.engine.children(ike).is_empty());
    assert!(p.a.kernel.sas.is_empty(), "{:?}", p.a.kernel.sas);
}

#[test]
fn answer_that_cannot_be_encoded_refuses_the_child_at_once() {
    let (mut p, _, pb) = pair(true, 4);
    establish(&mut p);
    let now = p.now;
    p.b.engine.set_config(now, tiny_mtu(config(pb)));
    let sent = p.sent.len();
    p.initiate();
    p.run_for(Duration::from_secs(30));
    // B could not encode its CREATE_CHILD_SA answer: A got
    // NO_PROPOSAL_CHOSEN instead of waiting and retransmitting.
    assert_eq!(unencodable(&p.b.events), 1, "{:?}", p.b.events);
    assert_eq!(p.sent.len() - sent, 2, "one request, one answer");
    assert!(p.a.events.iter().any(|e| matches!(
        e,
        Event::Failed {
            reason: FailReason::NoProposalChosen | FailReason::PeerNotify(_),
            ..
        }
    )));
    assert!(p.a.kernel.sas.is_empty() && p.b.kernel.sas.is_empty());
    assert_eq!(p.a.engine.established().len(), 1);
    assert_eq!(p.b.engine.established().len(), 1);
}

#[test]
fn ike_auth_answer_that_cannot_be_encoded_fails_both_sides() {
    let (pa, pb) = psk_policies(K, K);
    let mut p = Pair::new(config(pa), tiny_mtu(config(pb)), 5);
    p.initiate();
    p.run_for(Duration::from_secs(30));
    assert_eq!(unencodable(&p.b.events), 1, "{:?}", p.b.events);
    assert_eq!(p.a.engine.ike_sa_count() + p.b.engine.ike_sa_count(), 0);
    assert!(p.a.kernel.sas.is_empty() && p.b.kernel.sas.is_empty());
    assert!(p.a.kernel.policies.is_empty() && p.b.kernel.policies.is_empty());
}
