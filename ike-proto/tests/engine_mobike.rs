//! MOBIKE (RFC 4555, issue 13): negotiation, the original initiator's
//! UPDATE_SA_ADDRESSES, the responder's return routability check before
//! any CHILD_SA moves, and the rules that move nothing.

mod engine_common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use engine_common::*;
use ike_proto::engine::*;

/// A's new address after its move.
const A_NEW: &str = "192.0.2.77";

fn sock(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A (initiator) and B (responder, `peer any`), MOBIKE as given.
fn pair(mobike_a: bool, mobike_b: bool, seed: u64) -> Pair {
    let (mut pa, mut pb) = psk_policies(b"k", b"k");
    pb.peer_addr = None;
    pa.mobike = mobike_a;
    pb.mobike = mobike_b;
    pa.dpd_interval = None;
    pb.dpd_interval = None;
    let mut p = Pair::new(config(pa), config(pb), seed);
    establish(&mut p);
    p
}

/// (src, dst, encap) of one kernel SA.
type SaEnds = (IpAddr, IpAddr, Option<(u16, u16)>);

/// (src, dst, encap) of every installed SA of one side, sorted.
fn sas(k: &Kernel) -> Vec<SaEnds> {
    let mut v: Vec<_> = k
        .installed()
        .iter()
        .map(|s| (s.src, s.dst, s.encap))
        .collect();
    v.sort();
    v
}

/// (local, remote) tunnel ends of every policy of one side.
fn policy_ends(k: &Kernel) -> Vec<(IpAddr, IpAddr)> {
    k.policies.iter().map(|p| (p.local, p.remote)).collect()
}

fn moves(p: &Pair, s: Side) -> usize {
    p.kernel_log
        .iter()
        .filter(|(_, side, l)| *side == s && (l.starts_with("MOVE") || l == "SPDMOVE"))
        .count()
}

#[test]
fn mobike_is_negotiated_only_when_both_sides_want_it() {
    for (a, b, on) in [
        (true, true, true),
        (true, false, false),
        (false, true, false),
    ] {
        let p = pair(a, b, 40);
        let ia = p.a.engine.established()[0];
        let ib = p.b.engine.established()[0];
        assert_eq!(p.a.engine.mobike_of(ia).is_some(), on, "{a} {b}");
        assert_eq!(p.b.engine.mobike_of(ib).is_some(), on, "{a} {b}");
    }
}

/// A moves; its UPDATE_SA_ADDRESSES moves B's IKE SA at once, B checks the
/// new address with COOKIE2, and only then both kernels' SAs (same SPIs and
/// keys) and B's tunnel policies go to the new address. A rekey started by
/// B afterwards reaches A there.
#[test]
fn the_responder_follows_an_update_after_the_return_routability_check() {
    let mut p = pair(true, true, 41);
    let ia = p.a.engine.established()[0];
    let ib = p.b.engine.established()[0];
    let (a_old, b_addr, a_new) = (ip(A_ADDR), ip(B_ADDR), ip(A_NEW));
    let keys_before: Vec<_> = {
        let mut v: Vec<_> =
            p.b.kernel
                .installed()
                .iter()
                .map(|s| (s.spi, s.encr_key.as_bytes().to_vec()))
                .collect();
        v.sort();
        v
    };
    assert_eq!(
        sas(&p.b.kernel),
        [(a_old, b_addr, None), (b_addr, a_old, None)]
    );
    p.command(
        Side::A,
        Command::MoveLocal {
            ike: ia,
            local: a_new,
        },
    );
    // One round trip later B's IKE SA has moved, its CHILD_SAs not yet:
    // the return routability check is still out.
    p.run_for(p.latency + Duration::from_millis(1));
    assert_eq!(p.b.engine.peer_of(ib), Some(SocketAddr::new(a_new, 4500)));
    assert_eq!(moves(&p, Side::B), 0, "no CHILD_SA moves before the check");
    assert_eq!(
        sas(&p.b.kernel),
        [(a_old, b_addr, None), (b_addr, a_old, None)]
    );
    p.run_for(Duration::from_secs(2));
    assert_eq!(
        sas(&p.b.kernel),
        [(a_new, b_addr, None), (b_addr, a_new, None)]
    );
    assert_eq!(
        sas(&p.a.kernel),
        [(a_new, b_addr, None), (b_addr, a_new, None)]
    );
    assert!(policy_ends(&p.b.kernel)
        .iter()
        .all(|e| *e == (b_addr, a_new)));
    assert!(policy_ends(&p.a.kernel)
        .iter()
        .all(|e| *e == (a_new, b_addr)));
    let keys_after: Vec<_> = {
        let mut v: Vec<_> =
            p.b.kernel
                .installed()
                .iter()
                .map(|s| (s.spi, s.encr_key.as_bytes().to_vec()))
                .collect();
        v.sort();
        v
    };
    assert_eq!(keys_before, keys_after, "same SPIs and keys");
    assert!(p.a.kernel.log.is_empty(), "{:?}", p.a.kernel.log);
    assert!(p.b.kernel.log.is_empty(), "{:?}", p.b.kernel.log);
    assert_mirrored(&p);
    // B's rekey goes to A's new address and succeeds there.
    let (spi_in, _) = p.b.engine.children(ib)[0];
    p.rekey_child(Side::B, ib, spi_in);
    p.run_for(Duration::from_secs(3));
    assert_eq!(child_up(&p.b.events), 2, "{:?}", p.b.events);
    assert_eq!(
        sas(&p.b.kernel),
        [(a_new, b_addr, None), (b_addr, a_new, None)]
    );
    assert_mirrored(&p);
}

/// A forged UPDATE_SA_ADDRESSES (it fails the integrity check) moves
/// nothing; the retransmission that authenticates does.
#[test]
fn an_unauthenticated_update_moves_nothing() {
    let mut p = pair(true, true, 42);
    let ia = p.a.engine.established()[0];
    let ib = p.b.engine.established()[0];
    p.corrupt.push(p.sent.len());
    p.command(
        Side::A,
        Command::MoveLocal {
            ike: ia,
            local: ip(A_NEW),
        },
    );
    p.run_for(Duration::from_millis(300));
    assert_eq!(p.b.engine.peer_of(ib), Some(sock("192.0.2.1:500")));
    assert_eq!(moves(&p, Side::B), 0);
    p.run_for(Duration::from_secs(3));
    assert_eq!(
        p.b.engine.peer_of(ib),
        Some(SocketAddr::new(ip(A_NEW), 4500))
    );
    assert_eq!(moves(&p, Side::B), 4, "two SAs, two policies");
}

/// The return routability check is never answered (every datagram from B
/// after the update arrives corrupted): B's CHILD_SAs never move, and when
/// B gives the peer up they are deleted where they really are.
#[test]
fn a_failed_return_routability_check_moves_no_child_sa() {
    let mut p = pair(true, true, 43);
    let ia = p.a.engine.established()[0];
    let ib = p.b.engine.established()[0];
    let (a_old, b_addr) = (ip(A_ADDR), ip(B_ADDR));
    let n = p.sent.len();
    // A's UPDATE (n) gets through; B's answer and check (n+1 ...) do not.
    p.corrupt.extend(n + 1..n + 200);
    p.command(
        Side::A,
        Command::MoveLocal {
            ike: ia,
            local: ip(A_NEW),
        },
    );
    p.run_for(Duration::from_secs(5));
    assert_eq!(
        p.b.engine.peer_of(ib),
        Some(SocketAddr::new(ip(A_NEW), 4500))
    );
    assert_eq!(moves(&p, Side::B), 0);
    assert_eq!(
        sas(&p.b.kernel),
        [(a_old, b_addr, None), (b_addr, a_old, None)]
    );
    // Retransmissions run out: B declares A dead and deletes the children
    // at their real (old) addresses.
    p.run_for(Duration::from_secs(120));
    assert!(p.b.engine.established().is_empty());
    assert!(p.b.kernel.installed().is_empty(), "{:?}", sas(&p.b.kernel));
    assert_eq!(moves(&p, Side::B), 0);
}

/// `set nomobike` on B: MOBIKE is not negotiated, so A does not send an
/// update for its move, and nothing moves anywhere.
#[test]
fn without_mobike_a_move_is_not_signalled_and_nothing_moves() {
    let mut p = pair(true, false, 44);
    let ia = p.a.engine.established()[0];
    let ib = p.b.engine.established()[0];
    let sent = p.sent.len();
    p.command(
        Side::A,
        Command::MoveLocal {
            ike: ia,
            local: ip(A_NEW),
        },
    );
    p.run_for(Duration::from_secs(2));
    assert_eq!(p.sent.len(), sent, "no UPDATE_SA_ADDRESSES");
    assert_eq!(p.b.engine.peer_of(ib), Some(sock("192.0.2.1:500")));
    assert_eq!(moves(&p, Side::A) + moves(&p, Side::B), 0);
}

/// Only the original initiator moves the SA (RFC 4555 3.2): the responder
/// cannot be told to move by a command either.
#[test]
fn the_responder_does_not_start_a_move() {
    let mut p = pair(true, true, 45);
    let ib = p.b.engine.established()[0];
    let sent = p.sent.len();
    p.command(
        Side::B,
        Command::MoveLocal {
            ike: ib,
            local: ip("198.51.100.99"),
        },
    );
    p.run_for(Duration::from_secs(2));
    assert_eq!(p.sent.len(), sent);
    assert_eq!(moves(&p, Side::B), 0);
}

/// Without MOBIKE, A's NAT gives it a new public address: B's IKE SA follows
/// an authenticated message there (RFC 7296 2.23) but its CHILD_SAs cannot
/// (nothing checked the new address), and when A deletes the IKE SA, B
/// deletes the CHILD_SAs where the kernel really has them.
#[test]
fn without_mobike_children_left_behind_are_deleted_where_they_are() {
    let (mut pa, mut pb) = psk_policies(b"k", b"k");
    pb.peer_addr = None;
    pa.mobike = false;
    pa.dpd_interval = None;
    pb.dpd_interval = None;
    let mut p = Pair::new(config(pa), config(pb), 46);
    p.nat_a = Some(sock("203.0.113.9:40000"));
    establish(&mut p);
    let ia = p.a.engine.established()[0];
    let ib = p.b.engine.established()[0];
    let old_peer = ip("203.0.113.9");
    assert_eq!(p.b.kernel.installed().len(), 2);
    p.nat_rebind(sock("203.0.113.10:41000"));
    p.command(Side::A, Command::Dpd { ike: ia });
    p.run_for(Duration::from_secs(2));
    assert_eq!(
        p.b.engine.peer_of(ib).map(|s| s.ip()),
        Some(ip("203.0.113.10"))
    );
    assert_eq!(moves(&p, Side::B), 0, "no MOBIKE: the children stay");
    assert!(sas(&p.b.kernel)
        .iter()
        .all(|(s, d, _)| *s == old_peer || *d == old_peer));
    p.command(Side::A, Command::TerminateSa { ike: ia });
    p.run_for(Duration::from_secs(3));
    assert!(p.b.engine.established().is_empty());
    assert!(p.b.kernel.installed().is_empty(), "{:?}", sas(&p.b.kernel));
}

/// The seeded simulation with a MOBIKE move: A moves mid-life on a lossy,
/// duplicating, reordering network (liveness checks every 10 s, odd seeds
/// rekey B's child during the move). After the network heals, either both
/// sides are up with every kernel SA and policy of B at A's new address,
/// keys mirrored, or both are down with empty kernels; nothing is ever
/// deleted or moved where it is not.
#[test]
fn lossy_network_with_a_mobike_move() {
    let n = 40;
    let (mut up, mut moved) = (0, 0);
    let (b_addr, a_new) = (ip(B_ADDR), ip(A_NEW));
    for seed in 0..n {
        let (mut pa, mut pb) = psk_policies(b"k", b"k");
        pb.peer_addr = None;
        pa.dpd_interval = Some(Duration::from_secs(10));
        pb.dpd_interval = Some(Duration::from_secs(10));
        let mut p = Pair::new(config(pa), config(pb), 90_000 + seed);
        p.set_network(0.3, 0.3, 0.3);
        p.initiate();
        p.run_for(Duration::from_secs(30));
        if let Some(&ia) = p.a.engine.established().first() {
            p.command(
                Side::A,
                Command::MoveLocal {
                    ike: ia,
                    local: a_new,
                },
            );
        }
        if let Some(&ib) = p.b.engine.established().first() {
            if let Some(&(spi_in, _)) = p.b.engine.children(ib).first() {
                if seed % 2 == 1 {
                    p.rekey_child(Side::B, ib, spi_in);
                }
            }
        }
        p.run_for(Duration::from_secs(30));
        p.heal_and_run(Duration::from_secs(300));
        let (ea, eb) = (p.a.engine.established(), p.b.engine.established());
        assert!(
            p.a.kernel.log.is_empty(),
            "seed {seed}: {:?}",
            p.a.kernel.log
        );
        assert!(
            p.b.kernel.log.is_empty(),
            "seed {seed}: {:?}",
            p.b.kernel.log
        );
        if ea.is_empty() || eb.is_empty() {
            assert!(
                ea.is_empty() && eb.is_empty(),
                "seed {seed}: one side up alone"
            );
            assert!(
                p.a.kernel.installed().is_empty() && p.b.kernel.installed().is_empty(),
                "seed {seed}: A {:?} B {:?}",
                sas(&p.a.kernel),
                sas(&p.b.kernel)
            );
            continue;
        }
        assert_mirrored_keys(&p);
        up += 1;
        // Wherever B's IKE SA ended (A's new address, or the old one when
        // A had not moved: not up in time, or its update gave up), B's
        // kernel SAs and policies are there too.
        let peer = p.b.engine.peer_of(eb[0]).map(|s| s.ip()).unwrap();
        if peer == a_new {
            moved += 1;
        }
        for (s, d, _) in sas(&p.b.kernel) {
            assert!(
                (s, d) == (peer, b_addr) || (s, d) == (b_addr, peer),
                "seed {seed}: peer {peer}, B's SAs {:?}",
                sas(&p.b.kernel)
            );
        }
        assert!(
            policy_ends(&p.b.kernel)
                .iter()
                .all(|e| *e == (b_addr, peer)),
            "seed {seed}"
        );
    }
    assert!(up * 2 > n, "only {up} of {n} up");
    assert!(moved * 4 > n, "only {moved} of {n} moved");
}
