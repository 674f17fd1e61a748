//! NAT traversal rules of the engine (issue 13): keepalives from the side
//! behind the NAT only (RFC 3948 2.3), forced encapsulation (`natt`), and
//! the other side ignoring keepalives.

mod engine_common;

use std::time::Duration;

use engine_common::*;
use ike_proto::engine::*;

/// (from A, from B): the 1-octet 0xFF datagrams each side sent.
fn keepalives(p: &Pair) -> (usize, usize) {
    let t = p.trace.as_ref().expect("trace on");
    let n = |s: Side| {
        t.iter()
            .filter(|d| d.sent && d.side == s && d.bytes == [0xff])
            .count()
    };
    (n(Side::A), n(Side::B))
}

fn natted_pair(keepalive: Option<Duration>) -> Pair {
    let (mut pa, mut pb) = psk_policies(b"k", b"k");
    pb.peer_addr = None;
    pa.natt_keepalive = keepalive;
    pb.natt_keepalive = keepalive;
    // No DPD: only keepalives would be sent while idle.
    pa.dpd_interval = None;
    pb.dpd_interval = None;
    let mut p = Pair::new(config(pa), config(pb), 3);
    p.nat_a = Some("203.0.113.9:40000".parse().unwrap());
    p.trace = Some(Vec::new());
    establish(&mut p);
    p
}

#[test]
fn the_side_behind_the_nat_sends_keepalives_at_the_interval() {
    let mut p = natted_pair(Some(Duration::from_secs(20)));
    assert_eq!(keepalives(&p), (0, 0), "none before the interval");
    p.run_for(Duration::from_secs(65));
    // At 20, 40 and 60 s after IKE_AUTH; B is not behind a NAT.
    assert_eq!(keepalives(&p), (3, 0));
    // Sent on the NAT-T port, to the peer's NAT-T port.
    let t = p.trace.as_ref().unwrap();
    assert!(t
        .iter()
        .any(|d| d.bytes == [0xff] && !d.sent && d.side == Side::B));
    // B took them without harm: both SAs are still up, nothing failed.
    assert_eq!(p.b.engine.established().len(), 1);
    assert_eq!(p.a.engine.established().len(), 1);
    assert!(p
        .b
        .events
        .iter()
        .all(|e| !matches!(e, Event::Failed { .. })));
}

#[test]
fn no_keepalives_when_switched_off_or_without_a_nat() {
    let mut p = natted_pair(None);
    p.run_for(Duration::from_secs(65));
    assert_eq!(keepalives(&p), (0, 0), "natt_keepalive 0");

    let (mut pa, mut pb) = psk_policies(b"k", b"k");
    pa.dpd_interval = None;
    pb.dpd_interval = None;
    let mut p = Pair::new(config(pa), config(pb), 4);
    p.trace = Some(Vec::new());
    establish(&mut p);
    p.run_for(Duration::from_secs(65));
    assert_eq!(keepalives(&p), (0, 0), "no NAT in the path");
}

#[test]
fn natt_forces_udp_encapsulation_without_a_nat() {
    let (mut pa, pb) = psk_policies(b"k", b"k");
    pa.force_natt = true;
    pa.dpd_interval = None;
    let mut p = Pair::new(config(pa), config(pb), 5);
    p.trace = Some(Vec::new());
    establish(&mut p);
    // Both sides moved to 4500 and encapsulate, though no NAT is there.
    let ia = p.a.engine.established()[0];
    let ib = p.b.engine.established()[0];
    assert_eq!(p.a.engine.peer_of(ia).unwrap().port(), 4500);
    assert_eq!(p.b.engine.peer_of(ib).unwrap().port(), 4500);
    for s in
        p.a.kernel
            .installed()
            .into_iter()
            .chain(p.b.kernel.installed())
    {
        assert_eq!(s.encap, Some((4500, 4500)), "{s:?}");
    }
    // A keeps the (maybe unseen) NAT's mapping alive.
    p.run_for(Duration::from_secs(25));
    assert_eq!(keepalives(&p), (1, 0));
}
