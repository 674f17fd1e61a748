//! CREATE_CHILD_SA and INFORMATIONAL between two engines: child and IKE
//! rekeys (alone and simultaneous), deletes, lifetimes, kernel EXPIREs.

mod engine_common;

use std::time::Duration;

use engine_common::*;
use ike_proto::engine::*;
use ike_proto::wire::DhGroup;

fn rekeyed(events: &[Event]) -> usize {
    count(events, |e| matches!(e, Event::ChildRekeyed { .. }))
}

fn only_child(p: &Pair, s: Side) -> (u32, u32) {
    let n = if s == Side::A { &p.a } else { &p.b };
    let ike = n.engine.established();
    assert_eq!(ike.len(), 1, "one IKE SA");
    let c = n.engine.children(ike[0]);
    assert_eq!(c.len(), 1, "one child: {c:x?}");
    c[0]
}

fn child_rekey(pfs: bool, by: Side) {
    let (mut pa, mut pb) = psk_policies(b"k", b"k");
    if pfs {
        pa.child_proposals[0].dh = vec![DhGroup::CURVE25519];
        pb.child_proposals[0].dh = vec![DhGroup::CURVE25519];
    }
    let mut p = Pair::new(config(pa), config(pb), 31);
    establish(&mut p);
    let (old_in, _) = only_child(&p, by);
    let ike = p.node(by).engine.established()[0];
    p.command(
        by,
        Command::RekeyChild {
            ike,
            spi_in: old_in,
        },
    );
    p.run_for(Duration::from_secs(3));
    let (new_in, new_out) = only_child(&p, by);
    assert_ne!(new_in, old_in);
    assert_eq!(
        only_child(&p, if by == Side::A { Side::B } else { Side::A }),
        (new_out, new_in)
    );
    assert_eq!(rekeyed(&p.a.events), 1);
    assert_eq!(rekeyed(&p.b.events), 1);
    // Old SAs gone, new ones mirrored, policies untouched.
    assert_eq!(p.a.kernel.installed().len(), 2);
    assert_mirrored(&p);
    assert_eq!(p.a.kernel.policies.len(), 2);
    assert_eq!(p.b.kernel.policies.len(), 2);
    assert_eq!(p.a.kernel.larval() + p.b.kernel.larval(), 0);
}

/// A gets `a` and B gets `b` at the same instant, both before anything
/// is sent (so that the exchanges cross, RFC 7296 2.8.1).
fn at_once(p: &mut Pair, a: Command, b: Command) {
    let now = p.now;
    p.a.engine.handle_command(now, a);
    p.b.engine.handle_command(now, b);
}

#[test]
fn child_rekey_without_pfs() {
    child_rekey(false, Side::A);
}

#[test]
fn child_rekey_with_pfs() {
    child_rekey(true, Side::A);
}

#[test]
fn child_rekey_by_the_responder() {
    child_rekey(true, Side::B);
}

#[test]
fn ike_rekey_keeps_children() {
    let mut p = Pair::psk();
    establish(&mut p);
    let before_a = only_child(&p, Side::A);
    let old = p.a.engine.established()[0];
    p.command(Side::A, Command::RekeyIke { ike: old });
    p.run_for(Duration::from_secs(3));
    let new = p.a.engine.established();
    assert_eq!(new.len(), 1);
    assert_ne!(new[0], old);
    assert_eq!(p.b.engine.established().len(), 1);
    assert_eq!(p.a.engine.ike_sa_count(), 1, "old IKE SA deleted");
    assert_eq!(p.b.engine.ike_sa_count(), 1);
    assert_eq!(
        only_child(&p, Side::A),
        before_a,
        "the child moved to the new IKE SA"
    );
    assert_mirrored(&p);
    // The new IKE SA works: rekey the child over it, from B.
    let ike_b = p.b.engine.established()[0];
    let (b_in, _) = only_child(&p, Side::B);
    p.rekey_child(Side::B, ike_b, b_in);
    p.run_for(Duration::from_secs(3));
    assert_eq!(rekeyed(&p.a.events), 1);
    assert_mirrored(&p);
}

#[test]
fn simultaneous_child_rekey_converges() {
    for seed in 0..20 {
        let (mut pa, mut pb) = psk_policies(b"k", b"k");
        if matches!(seed % 2, 0) {
            pa.child_proposals[0].dh = vec![DhGroup::CURVE25519];
            pb.child_proposals[0].dh = vec![DhGroup::CURVE25519];
        }
        let mut p = Pair::new(config(pa), config(pb), 100 + seed);
        establish(&mut p);
        let (a_in, _) = only_child(&p, Side::A);
        let (b_in, _) = only_child(&p, Side::B);
        let (ia, ib) = (p.a.engine.established()[0], p.b.engine.established()[0]);
        // Both sides start at the same instant (RFC 7296 2.8.1).
        let a_rekey = Command::RekeyChild {
            ike: ia,
            spi_in: a_in,
        };
        let b_rekey = Command::RekeyChild {
            ike: ib,
            spi_in: b_in,
        };
        at_once(&mut p, a_rekey, b_rekey);
        p.run_for(Duration::from_secs(10));
        let (x, y) = only_child(&p, Side::A);
        assert_ne!(x, a_in, "seed {seed}: rekeyed");
        assert_eq!(only_child(&p, Side::B), (y, x));
        assert_eq!(
            p.a.kernel.installed().len(),
            2,
            "seed {seed}: redundant SAs deleted"
        );
        assert_mirrored(&p);
        assert_eq!(p.a.kernel.larval() + p.b.kernel.larval(), 0);
    }
}

#[test]
fn simultaneous_ike_rekey_converges() {
    for seed in 0..20 {
        let mut p = Pair::new(
            config(psk_policies(b"k", b"k").0),
            config(psk_policies(b"k", b"k").1),
            200 + seed,
        );
        establish(&mut p);
        let child = only_child(&p, Side::A);
        let (ia, ib) = (p.a.engine.established()[0], p.b.engine.established()[0]);
        let now = p.now;
        p.a.engine
            .handle_command(now, Command::RekeyIke { ike: ia });
        p.b.engine
            .handle_command(now, Command::RekeyIke { ike: ib });
        p.run_for(Duration::from_secs(10));
        assert_eq!(
            p.a.engine.ike_sa_count(),
            1,
            "seed {seed}: A {:?}",
            p.a.events
        );
        assert_eq!(p.b.engine.ike_sa_count(), 1, "seed {seed}");
        let (na, nb) = (p.a.engine.established()[0], p.b.engine.established()[0]);
        assert_ne!(na, ia);
        assert_eq!(only_child(&p, Side::A), child, "seed {seed}: child kept");
        assert_mirrored(&p);
        // The survivor is the same SA on both sides: DPD over it works.
        p.command(Side::A, Command::Dpd { ike: na });
        p.run_for(Duration::from_secs(30));
        assert_eq!(p.a.engine.established(), vec![na]);
        assert_eq!(p.b.engine.established(), vec![nb]);
    }
}

#[test]
fn rekey_of_both_children_and_ike_at_once() {
    let mut p = Pair::psk();
    establish(&mut p);
    let (a_in, _) = only_child(&p, Side::A);
    let ib = p.b.engine.established()[0];
    let ia = p.a.engine.established()[0];
    let a_rekey = Command::RekeyChild {
        ike: ia,
        spi_in: a_in,
    };
    at_once(&mut p, a_rekey, Command::RekeyIke { ike: ib });
    p.run_for(Duration::from_secs(60));
    assert_eq!(p.a.engine.ike_sa_count(), 1);
    assert_eq!(p.b.engine.ike_sa_count(), 1);
    only_child(&p, Side::A);
    assert_mirrored(&p);
}

#[test]
fn delete_child_on_command() {
    let mut p = Pair::psk();
    establish(&mut p);
    let (a_in, _) = only_child(&p, Side::A);
    let ia = p.a.engine.established()[0];
    p.command(
        Side::A,
        Command::DeleteChild {
            ike: ia,
            spi_in: a_in,
        },
    );
    p.run_for(Duration::from_secs(2));
    assert!(p.a.engine.children(ia).is_empty());
    assert!(p.b.engine.children(p.b.engine.established()[0]).is_empty());
    assert!(p.a.kernel.sas.is_empty() && p.b.kernel.sas.is_empty());
    assert!(p.a.kernel.policies.is_empty() && p.b.kernel.policies.is_empty());
}

#[test]
fn lifetimes_rekey_everything_for_hours() {
    let (mut pa, mut pb) = psk_policies(b"k", b"k");
    let ike = lifetime_secs(600, 60, 900);
    let child = lifetime_secs(240, 30, 400);
    for pol in [&mut pa, &mut pb] {
        pol.ike_lifetime = ike;
        pol.child_lifetime = child;
    }
    let mut p = Pair::new(config(pa), config(pb), 41);
    establish(&mut p);
    p.run_for(Duration::from_secs(3 * 3600));
    assert_eq!(p.a.engine.ike_sa_count(), 1);
    assert_eq!(p.b.engine.ike_sa_count(), 1);
    only_child(&p, Side::A);
    assert_mirrored(&p);
    assert!(
        rekeyed(&p.a.events) >= 3 * 3600 / 400,
        "children were rekeyed: {}",
        rekeyed(&p.a.events)
    );
    let ike_rekeys = count(&p.a.events, |e| matches!(e, Event::IkeRekeyed { .. }));
    assert!(
        ike_rekeys >= 3 * 3600 / 900,
        "IKE SA rekeyed {ike_rekeys} times"
    );
    assert!(
        !p.a.events.iter().any(|e| matches!(
            e,
            Event::IkeDown {
                reason: DownReason::Expired | DownReason::PeerDead,
                ..
            }
        )),
        "{:#?}",
        p.a.events
            .iter()
            .filter(|e| matches!(
                e,
                Event::IkeDown { .. } | Event::IkeRekeyed { .. } | Event::IkeUp { .. }
            ))
            .collect::<Vec<_>>()
    );
    assert_eq!(p.a.kernel.larval() + p.b.kernel.larval(), 0);
}

#[test]
fn kernel_soft_expire_rekeys_and_hard_expire_deletes() {
    let mut p = Pair::psk();
    establish(&mut p);
    let (a_in, _) = only_child(&p, Side::A);
    let now = p.now;
    p.a.engine.handle_kernel_event(
        now,
        KernelEvent::Expire {
            spi: a_in,
            dst: ip(A_ADDR),
            hard: false,
        },
    );
    p.run_for(Duration::from_secs(3));
    let (n_in, _) = only_child(&p, Side::A);
    assert_ne!(n_in, a_in);
    assert_mirrored(&p);
    let now = p.now;
    p.a.engine.handle_kernel_event(
        now,
        KernelEvent::Expire {
            spi: n_in,
            dst: ip(A_ADDR),
            hard: true,
        },
    );
    p.run_for(Duration::from_secs(3));
    assert!(p.a.engine.children(p.a.engine.established()[0]).is_empty());
    assert!(p.b.engine.children(p.b.engine.established()[0]).is_empty());
    assert!(p.b.kernel.sas.is_empty());
}

#[test]
fn hard_lifetime_without_answer_deletes() {
    let (mut pa, mut pb) = psk_policies(b"k", b"k");
    let l = lifetime_secs(100, 0, 110);
    pa.ike_lifetime = l;
    pb.ike_lifetime = l;
    pa.dpd_interval = None;
    pb.dpd_interval = None;
    let mut p = Pair::new(config(pa), config(pb), 43);
    establish(&mut p);
    p.loss = 1.0;
    p.run_for(Duration::from_secs(200));
    assert_eq!(p.a.engine.ike_sa_count(), 0);
    assert_eq!(p.b.engine.ike_sa_count(), 0);
    assert!(p.a.kernel.sas.is_empty() && p.b.kernel.sas.is_empty());
}

#[test]
fn trap_policies_fail_closed_and_bring_the_sa_back() {
    let (mut pa, pb) = psk_policies(b"k", b"k");
    pa.trap = true;
    pa.start = StartAction::OnDemand;
    let mut p = Pair::new(config(pa), config(pb), 44);
    let now = p.now;
    p.a.engine.start(now);
    p.pump();
    // The traps are in, no SA yet.
    assert_eq!(p.a.kernel.policies.len(), 2);
    assert!(p.a.kernel.sas.is_empty());
    assert_eq!(p.a.engine.ike_sa_count(), 0);
    let acquire = KernelEvent::Acquire {
        local: ip(A_ADDR),
        remote: ip(B_ADDR),
        packet_src: Some(TrafficSelector::host(ip("10.1.0.5"))),
        packet_dst: Some(TrafficSelector::host(ip("10.2.0.9"))),
    };
    let now = p.now;
    p.a.engine.handle_kernel_event(now, acquire.clone());
    p.run_for(Duration::from_secs(3));
    assert_eq!(ike_up(&p.a.events), 1);
    assert_eq!(
        p.a.kernel.policies.len(),
        2,
        "no extra policies for the child"
    );
    assert_mirrored(&p);
    // The peer dies: A's SAs go, its traps stay; B (no trap) cleans up.
    p.loss = 1.0;
    p.run_for(Duration::from_secs(120));
    assert_eq!(p.a.engine.ike_sa_count(), 0);
    assert!(p.a.kernel.sas.is_empty());
    assert_eq!(p.a.kernel.policies.len(), 2, "traffic stays held back");
    assert!(p.b.kernel.policies.is_empty() && p.b.kernel.sas.is_empty());
    // Traffic again: ACQUIRE brings the SA back.
    p.loss = 0.0;
    let now = p.now;
    p.a.engine.handle_kernel_event(now, acquire);
    p.run_for(Duration::from_secs(3));
    assert_eq!(ike_up(&p.a.events), 2);
    assert_mirrored(&p);
    // An operator terminate leaves the trap (it is configuration).
    p.command(
        Side::A,
        Command::Terminate {
            policy: "net".into(),
        },
    );
    p.run_for(Duration::from_secs(2));
    assert!(p.a.kernel.sas.is_empty());
    assert_eq!(p.a.kernel.policies.len(), 2);
    // Removing the policy from the configuration removes the trap.
    let now = p.now;
    let mut other = psk_policies(b"k", b"k").0;
    other.name = "other".into();
    p.a.engine.set_config(now, config(other));
    p.pump();
    assert!(p.a.kernel.policies.is_empty());
}

#[test]
fn duplicate_ike_sas_share_kernel_policies() {
    // Both sides Active and started at once: two IKE SAs, each with a child
    // for the same selectors (RFC 7296 allows it).
    let (pa, mut pb) = psk_policies(b"k", b"k");
    pb.start = StartAction::Active;
    let mut p = Pair::new(config(pa), config(pb), 45);
    let now = p.now;
    p.a.engine.start(now);
    p.b.engine.start(now);
    p.run_for(Duration::from_secs(3));
    let ids = p.a.engine.established();
    assert_eq!(ids.len(), 2, "{:?}", p.a.events);
    assert_eq!(p.a.kernel.installed().len(), 4);
    assert_eq!(
        p.a.kernel.policies.len(),
        2,
        "one policy pair for both children"
    );
    assert_mirrored(&p);
    // One IKE SA goes: the other child still needs the policies.
    p.command(Side::A, Command::TerminateSa { ike: ids[0] });
    p.run_for(Duration::from_secs(2));
    assert_eq!(p.a.engine.established().len(), 1);
    assert_eq!(p.a.kernel.policies.len(), 2);
    assert_eq!(p.b.kernel.policies.len(), 2);
    assert_mirrored(&p);
    // The last one takes them along.
    p.command(Side::A, Command::TerminateSa { ike: ids[1] });
    p.run_for(Duration::from_secs(2));
    assert!(p.a.kernel.policies.is_empty() && p.b.kernel.policies.is_empty());
    assert!(p.a.kernel.sas.is_empty() && p.b.kernel.sas.is_empty());
}

#[test]
fn reload_installs_and_replaces_traps_of_changed_policies() {
    let (mut pa, pb) = psk_policies(b"k", b"k");
    pa.start = StartAction::Passive;
    let mut p = Pair::new(config(pa.clone()), config(pb), 46);
    let now = p.now;
    p.a.engine.start(now);
    p.pump();
    assert!(p.a.kernel.policies.is_empty());
    // Same name, now a trap: its policies come in.
    pa.trap = true;
    pa.start = StartAction::OnDemand;
    let now = p.now;
    p.a.engine.set_config(now, config(pa.clone()));
    p.pump();
    assert_eq!(p.a.kernel.policies.len(), 2);
    // Same name, other selectors: the old trap goes, the new one comes.
    pa.local_ts = vec![TrafficSelector::prefix(ip("10.9.0.0"), 24).unwrap()];
    p.a.engine.set_config(now, config(pa.clone()));
    p.pump();
    assert_eq!(p.a.kernel.policies.len(), 2);
    assert!(p
        .a
        .kernel
        .policies
        .iter()
        .all(|x| x.local_ts == pa.local_ts[0]));
    // Unchanged: nothing happens.
    let before = p.a.kernel.policies.clone();
    p.a.engine.set_config(now, config(pa.clone()));
    p.pump();
    assert_eq!(p.a.kernel.policies, before);
    // No longer a trap: the policies go.
    pa.trap = false;
    p.a.engine.set_config(now, config(pa));
    p.pump();
    assert!(p.a.kernel.policies.is_empty());
}

#[test]
fn reload_of_a_changed_trap_policy_with_a_live_sa() {
    // As ike-net reloads a changed policy: terminate its SAs, set_config
    // without it, set_config with its new version, and it comes back up.
    let (mut pa, pb) = psk_policies(b"k", b"k");
    pa.trap = true;
    let mut p = Pair::new(config(pa.clone()), config(pb), 47);
    let now = p.now;
    p.a.engine.start(now);
    p.run_for(Duration::from_secs(3));
    assert_eq!(ike_up(&p.a.events), 1);
    assert_eq!(p.a.kernel.policies.len(), 2);
    p.command(
        Side::A,
        Command::Terminate {
            policy: "net".into(),
        },
    );
    let now = p.now;
    let mut without = config(pa.clone());
    without.policies.clear();
    p.a.engine.set_config(now, without);
    pa.child_lifetime.hard += Duration::from_secs(60); // "changed"
    p.a.engine.set_config(now, config(pa));
    p.run_for(Duration::from_secs(5));
    assert_eq!(p.a.engine.established().len(), 1, "{:?}", p.a.events);
    assert_eq!(p.a.kernel.policies.len(), 2, "{:?}", p.a.kernel.policies);
    assert_mirrored(&p);
}
