//! Install order of child rekeys (issue 20): outbound traffic moves to a
//! new SA only once the peer can receive on it, and an old inbound SA
//! stays until the peer stopped using it.
//!
//! - Responder of a rekey: new inbound SA at once; new outbound SA when
//!   the old child's DELETE arrives, or `OUTBOUND_SWITCH_DELAY` (5 s) after
//!   the answer, whichever comes first; the old SAs go with that DELETE.
//! - Initiator: both new SAs at once (the peer installed before it
//!   answered); the old inbound SA only once the peer confirmed the DELETE.
//! - IKE SA rekey: the children move, nothing changes in the kernel.

mod engine_common;

use std::time::Duration;

use engine_common::*;
use ike_proto::engine::*;

fn only_child(p: &Pair, s: Side) -> (u32, u32) {
    let n = if s == Side::A { &p.a } else { &p.b };
    let ike = n.engine.established();
    let c = n.engine.children(ike[0]);
    assert_eq!(c.len(), 1, "one child: {c:x?}");
    c[0]
}

/// When `side` made the kernel request `what` (the first such request
/// from `from` on in the log), if it did.
fn when(p: &Pair, side: Side, what: &str) -> Option<Duration> {
    p.kernel_log
        .iter()
        .find(|(_, s, w)| *s == side && w == what)
        .map(|(t, _, _)| *t)
}

fn established_pair() -> (Pair, u32, u32) {
    let mut p = Pair::psk();
    establish(&mut p);
    let (a_in, a_out) = only_child(&p, Side::A);
    p.kernel_log.clear();
    (p, a_in, a_out)
}

#[test]
fn responder_adds_the_new_outbound_sa_when_the_old_childs_delete_arrives() {
    let (mut p, a_in, a_out) = established_pair();
    let ike = p.a.engine.established()[0];
    p.rekey_child(Side::A, ike, a_in);
    p.run_for(Duration::from_secs(2));
    let (new_a_in, new_a_out) = only_child(&p, Side::A);
    assert_ne!(new_a_in, a_in);
    // B's view: inbound = A's outbound.
    let (b_new_in, b_new_out) = (new_a_out, new_a_in);
    let (b_old_in, b_old_out) = (a_out, a_in);
    let update = when(&p, Side::B, &format!("UPDATE {b_new_in:x}")).expect("new inbound");
    let add = when(&p, Side::B, &format!("ADD {b_new_out:x}")).expect("new outbound");
    let del_in = when(&p, Side::B, &format!("DELETE {b_old_in:x}")).expect("old inbound");
    let del_out = when(&p, Side::B, &format!("DELETE {b_old_out:x}")).expect("old outbound");
    // A deleted its old child once its own SAs were in.
    let a_add = when(&p, Side::A, &format!("ADD {new_a_out:x}")).unwrap();
    // The answer goes one way (10 ms), the DELETE the other (10 ms).
    assert!(
        add >= update + Duration::from_millis(20),
        "B switched outbound at {add:?}, before A could have: inbound at {update:?}"
    );
    assert!(add > a_add, "after A installed its inbound SA");
    assert_eq!(add, del_in, "with the DELETE");
    // Order within that step: the new outbound SA before the old SAs go.
    let pos = |w: &str| {
        p.kernel_log
            .iter()
            .position(|(_, s, x)| *s == Side::B && x == w)
            .unwrap()
    };
    assert!(pos(&format!("ADD {b_new_out:x}")) < pos(&format!("DELETE {b_old_out:x}")));
    assert!(del_out >= add);
    // No policy churn: the new child took the old one's.
    assert!(!p.kernel_log.iter().any(|(_, _, w)| w.starts_with("SPD")));
    assert_eq!(p.b.kernel.policies.len(), 2);
    assert_mirrored(&p);
}

#[test]
fn responder_switches_outbound_after_the_delay_without_a_delete() {
    let (mut p, a_in, a_out) = established_pair();
    let ike = p.a.engine.established()[0];
    // A's kernel holds its answers: A never gets to delete the old child.
    p.a.kernel.hold = true;
    p.rekey_child(Side::A, ike, a_in);
    p.run_for(Duration::from_secs(1));
    let ike_b = p.b.engine.established()[0];
    let b_children = p.b.engine.children(ike_b);
    assert_eq!(b_children.len(), 2, "old and new on B");
    let (b_new_in, b_new_out) = *b_children.iter().find(|c| c.0 != a_out).unwrap();
    let update = when(&p, Side::B, &format!("UPDATE {b_new_in:x}")).expect("inbound at once");
    assert_eq!(when(&p, Side::B, &format!("ADD {b_new_out:x}")), None);
    let status: Vec<ChildStatus> =
        p.b.engine
            .child_sas(ike_b)
            .iter()
            .map(|c| c.status)
            .collect();
    assert!(status.contains(&ChildStatus::Installing), "{status:?}");
    p.run_for(Duration::from_secs(6));
    let add = when(&p, Side::B, &format!("ADD {b_new_out:x}")).expect("switched after the delay");
    let delay = add - update;
    assert!(
        delay >= Duration::from_secs(5) && delay < Duration::from_secs(6),
        "{delay:?}"
    );
    // The old child is still there on B: its DELETE never came.
    assert!(p.b.engine.children(ike_b).iter().any(|c| c.0 == a_out));
    assert!(when(&p, Side::B, &format!("DELETE {a_out:x}")).is_none());
    // Once A's kernel answers, A deletes the old child on both sides.
    p.a.kernel.hold = false;
    p.release_kernel(Side::A);
    p.run_for(Duration::from_secs(2));
    assert!(when(&p, Side::B, &format!("DELETE {a_out:x}")).is_some());
    only_child(&p, Side::A);
    only_child(&p, Side::B);
    assert_mirrored(&p);
}

#[test]
fn initiator_installs_both_at_once_and_drops_the_old_inbound_only_when_the_peer_confirmed() {
    let (mut p, a_in, a_out) = established_pair();
    let ike = p.a.engine.established()[0];
    p.rekey_child(Side::A, ike, a_in);
    p.run_for(Duration::from_secs(2));
    let (new_in, new_out) = only_child(&p, Side::A);
    let update = when(&p, Side::A, &format!("UPDATE {new_in:x}")).unwrap();
    let add = when(&p, Side::A, &format!("ADD {new_out:x}")).unwrap();
    assert_eq!(update, add, "both new SAs at once");
    let del_in = when(&p, Side::A, &format!("DELETE {a_in:x}")).unwrap();
    let del_out = when(&p, Side::A, &format!("DELETE {a_out:x}")).unwrap();
    // A's DELETE went out once its SAs were in; the old SAs leave when
    // B's answer comes back, a round trip (2 x 10 ms) later.
    assert!(
        del_in >= add + Duration::from_millis(20),
        "{add:?} {del_in:?}"
    );
    assert_eq!(del_in, del_out);
    // B removed its old SAs on A's DELETE, before A did.
    let b_del = when(&p, Side::B, &format!("DELETE {a_out:x}")).unwrap();
    assert!(b_del < del_in);
    assert_mirrored(&p);
}

#[test]
fn ike_sa_rekey_moves_children_without_touching_the_kernel() {
    let (mut p, a_in, a_out) = established_pair();
    let ike = p.a.engine.established()[0];
    p.command(Side::A, Command::RekeyIke { ike });
    p.run_for(Duration::from_secs(2));
    assert_ne!(p.a.engine.established()[0], ike);
    assert_eq!(only_child(&p, Side::A), (a_in, a_out));
    assert!(
        p.kernel_log.is_empty(),
        "no kernel request: {:?}",
        p.kernel_log
    );
}

#[test]
fn responder_rekey_during_an_ike_sa_rekey_keeps_its_deferred_outbound() {
    // B answers A's child rekey, then A rekeys the IKE SA before deleting
    // the old child: the new child (outbound still deferred) moves to the
    // new IKE SA and switches when the DELETE comes there.
    let (mut p, a_in, _) = established_pair();
    let ike = p.a.engine.established()[0];
    p.rekey_child(Side::A, ike, a_in);
    p.command(Side::A, Command::RekeyIke { ike });
    p.run_for(Duration::from_secs(3));
    assert_ne!(p.a.engine.established()[0], ike, "IKE SA rekeyed");
    let (new_in, new_out) = only_child(&p, Side::A);
    assert_ne!(new_in, a_in);
    assert_eq!(only_child(&p, Side::B), (new_out, new_in));
    assert_mirrored(&p);
}

/// `ike-ctl rekey` on the side that responded to the IKE SA: a child rekey
/// and an IKE SA rekey at once, with a kernel that answers a little later
/// (as the broker does): both go through, nothing is refused.
#[test]
fn child_and_ike_sa_rekey_at_once_with_a_slow_kernel() {
    for delay_ms in [0, 1, 5, 30] {
        let mut p = Pair::psk();
        p.kernel_delay = Duration::from_millis(delay_ms);
        p.initiate();
        p.run_for(Duration::from_secs(3));
        // B, the IKE SA's responder, rekeys everything.
        let ike = p.b.engine.established()[0];
        let (b_in, _) = only_child(&p, Side::B);
        p.rekey_child(Side::B, ike, b_in);
        p.command(Side::B, Command::RekeyIke { ike });
        p.run_for(Duration::from_secs(8));
        let failed: Vec<&Event> =
            p.a.events
                .iter()
                .chain(&p.b.events)
                .filter(|e| matches!(e, Event::Failed { .. }))
                .collect();
        assert!(failed.is_empty(), "delay {delay_ms} ms: {failed:?}");
        assert_ne!(p.b.engine.established()[0], ike, "delay {delay_ms} ms");
        assert_ne!(only_child(&p, Side::B).0, b_in);
        assert_mirrored(&p);
    }
}

/// Replays the kernel log from `start` (A's inbound and outbound SPI of
/// the one child both sides hold): after every request, the SA each side
/// sends with is one the other side receives with. The SA a side sends
/// with is the most recently added outbound SA still present (Linux's
/// choice, docs/child-install.md); none at all would drop traffic too.
/// Requests take effect in the order the log holds them, so a DELETE of
/// the old outbound SA before the ADD of the new one fails as it would in
/// the kernel.
fn assert_outbound_always_received(p: &Pair, start: (u32, u32)) {
    let idx = |s: Side| usize::from(s == Side::B);
    let mut inbound = [vec![start.0], vec![start.1]];
    let mut outbound = [vec![start.1], vec![start.0]];
    for (t, s, what) in &p.kernel_log {
        let i = idx(*s);
        let mut words = what.split(' ');
        let (verb, spi) = (words.next(), words.next());
        let Some(spi) = spi.and_then(|x| u32::from_str_radix(x, 16).ok()) else {
            continue;
        };
        match verb {
            Some("UPDATE") => inbound[i].push(spi),
            Some("ADD") => outbound[i].push(spi),
            Some("DELETE") => {
                inbound[i].retain(|x| *x != spi);
                outbound[i].retain(|x| *x != spi);
            }
            _ => {}
        }
        for side in 0..2 {
            let sends = outbound[side].last();
            assert!(
                sends.is_some_and(|x| inbound[1 - side].contains(x)),
                "at {t:?}, after {s:?} {what}: side {side} sends with {sends:x?}, \
                 its peer receives with {:x?}\n{:x?}",
                inbound[1 - side],
                p.kernel_log
            );
        }
    }
}

#[test]
fn plain_rekeys_in_each_role_never_send_on_an_sa_the_peer_lacks() {
    for rekeyer in [Side::A, Side::B] {
        let (mut p, a_in, a_out) = established_pair();
        let ike = if rekeyer == Side::A {
            p.a.engine.established()[0]
        } else {
            p.b.engine.established()[0]
        };
        let spi = if rekeyer == Side::A { a_in } else { a_out };
        p.rekey_child(rekeyer, ike, spi);
        p.run_for(Duration::from_secs(7));
        assert_ne!(only_child(&p, Side::A).0, a_in, "rekeyed by {rekeyer:?}");
        assert_outbound_always_received(&p, (a_in, a_out));
        assert_mirrored(&p);
    }
}

/// RFC 7296 2.8.1: both sides rekey the same child at the same moment.
/// Over seeds (the nonces decide which exchange is redundant) each side
/// wins some: in every run one child remains, mirrored, and neither side
/// ever sends on an SA the other lacks, whichever role it had in each of
/// the two exchanges (initiator of one, responder of the other; winner or
/// loser).
#[test]
fn simultaneous_child_rekeys_never_send_on_an_sa_the_peer_lacks() {
    let mut survivors = std::collections::HashSet::new();
    for seed in 1..=16 {
        let (pa, pb) = psk_policies(b"simultaneous", b"simultaneous");
        let mut p = Pair::new(config(pa), config(pb), seed);
        establish(&mut p);
        let (a_in, a_out) = only_child(&p, Side::A);
        p.kernel_log.clear();
        let (ike_a, ike_b) = (p.a.engine.established()[0], p.b.engine.established()[0]);
        // Both requests leave before either arrives (10 ms each way).
        p.rekey_child(Side::A, ike_a, a_in);
        p.rekey_child(Side::B, ike_b, a_out);
        p.run_for(Duration::from_secs(7));
        let (new_in, new_out) = only_child(&p, Side::A);
        assert!(new_in != a_in && new_out != a_out, "seed {seed}: rekeyed");
        // Whose child survived: A's inbound SPI of its own rekey is the
        // one its first GETSPI gave, that of B's rekey the next one.
        survivors.insert(new_in);
        assert_outbound_always_received(&p, (a_in, a_out));
        assert_mirrored(&p);
    }
    assert_eq!(survivors.len(), 2, "both sides won some: {survivors:x?}");
}
