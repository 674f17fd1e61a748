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

/// B's kernel SAs: (inbound encap, outbound encap) of its one child.
fn b_encaps(p: &Pair) -> Vec<Option<(u16, u16)>> {
    let mut v: Vec<_> =
        p.b.kernel
            .installed()
            .iter()
            .map(|s| (s.direction == Direction::Outbound, s.encap))
            .collect();
    v.sort();
    v.into_iter().map(|(_, e)| e).collect()
}

const FIRST: &str = "203.0.113.9:40006";
const SECOND: &str = "203.0.113.9:41006";

fn sock(s: &str) -> std::net::SocketAddr {
    s.parse().unwrap()
}

/// RFC 7296 2.23: an authenticated IKE message from A's new mapping moves
/// B's IKE SA and both kernel SAs of every child to the new port; B's own
/// next request (a rekey) then reaches A through the new mapping.
#[test]
fn an_authenticated_message_from_a_new_port_moves_ike_and_child_sas() {
    let mut p = natted_pair(Some(Duration::from_secs(20)));
    let ib = p.b.engine.established()[0];
    assert_eq!(p.b.engine.peer_of(ib), Some(sock(FIRST)));
    assert_eq!(b_encaps(&p), [Some((40006, 4500)), Some((4500, 40006))]);
    p.nat_rebind(sock("203.0.113.9:41000"));
    let ia = p.a.engine.established()[0];
    p.command(Side::A, Command::Dpd { ike: ia });
    p.run_for(Duration::from_secs(2));
    assert_eq!(p.b.engine.peer_of(ib), Some(sock(SECOND)));
    assert_eq!(b_encaps(&p), [Some((41006, 4500)), Some((4500, 41006))]);
    assert!(p.b.kernel.log.is_empty(), "{:?}", p.b.kernel.log);
    // B's own rekey goes to the new mapping and succeeds.
    let (spi_in, _) = p.b.engine.children(ib)[0];
    p.rekey_child(Side::B, ib, spi_in);
    p.run_for(Duration::from_secs(3));
    assert_eq!(p.b.engine.established(), [ib]);
    assert_eq!(child_up(&p.b.events), 2, "{:?}", p.b.events);
    assert_eq!(b_encaps(&p), [Some((41006, 4500)), Some((4500, 41006))]);
}

/// A datagram from the new port that fails authentication moves nothing;
/// the retransmission that authenticates does.
#[test]
fn an_unauthenticated_datagram_from_a_new_port_moves_nothing() {
    let mut p = natted_pair(Some(Duration::from_secs(20)));
    let ib = p.b.engine.established()[0];
    p.nat_rebind(sock("203.0.113.9:41000"));
    let ia = p.a.engine.established()[0];
    // A's next datagram (its DPD request) arrives with a flipped bit.
    p.corrupt.push(p.sent.len());
    p.command(Side::A, Command::Dpd { ike: ia });
    p.run_for(Duration::from_millis(300));
    assert_eq!(p.b.engine.peer_of(ib), Some(sock(FIRST)), "forged: no move");
    assert_eq!(b_encaps(&p), [Some((40006, 4500)), Some((4500, 40006))]);
    // The retransmission is intact.
    p.run_for(Duration::from_secs(2));
    assert_eq!(p.b.engine.peer_of(ib), Some(sock(SECOND)));
    assert_eq!(b_encaps(&p), [Some((41006, 4500)), Some((4500, 41006))]);
}

/// The kernel's mapping event for one of B's inbound SAs moves the child
/// SAs and the IKE SA to the new port and starts a liveness check there,
/// which A answers. Events for other addresses or other SAs move nothing.
#[test]
fn the_kernels_mapping_event_moves_the_sas_of_that_peer_only() {
    let mut p = natted_pair(Some(Duration::from_secs(20)));
    let ib = p.b.engine.established()[0];
    let (spi_in, _) = p.b.engine.children(ib)[0];
    let b_addr = ip(B_ADDR);
    p.nat_rebind(sock("203.0.113.9:41000"));
    // A's ESP (the kernel's, not simulated) has created the mapping 41006.
    p.nat_a = Some(sock("203.0.113.9:41000"));
    let now = p.now;
    // Another address: refused (MOBIKE's business), nothing moves.
    p.b.engine.handle_kernel_event(
        now,
        KernelEvent::NatMapping {
            spi: spi_in,
            dst: b_addr,
            from: sock("198.18.0.7:41006"),
        },
    );
    // An SPI that is not ours: ignored.
    p.b.engine.handle_kernel_event(
        now,
        KernelEvent::NatMapping {
            spi: spi_in ^ 0xffff,
            dst: b_addr,
            from: sock(SECOND),
        },
    );
    p.run_for(Duration::from_millis(100));
    assert_eq!(p.b.engine.peer_of(ib), Some(sock(FIRST)));
    assert_eq!(b_encaps(&p), [Some((40006, 4500)), Some((4500, 40006))]);
    // The real thing. A's answer to the DPD must come through the NAT:
    // A sends from 4500, which the NAT maps to 41006 again.
    let now = p.now;
    p.b.engine.handle_kernel_event(
        now,
        KernelEvent::NatMapping {
            spi: spi_in,
            dst: b_addr,
            from: sock(SECOND),
        },
    );
    p.run_for(Duration::from_secs(2));
    assert_eq!(p.b.engine.peer_of(ib), Some(sock(SECOND)));
    assert_eq!(b_encaps(&p), [Some((41006, 4500)), Some((4500, 41006))]);
    assert_eq!(p.b.engine.established(), [ib], "the DPD was answered");
}
