//! A CHILD_SA exists for the peer only once the kernel took it (issue 12):
//! the responder answers IKE_AUTH and CREATE_CHILD_SA after both SAs are
//! installed, answers with an error when the kernel refuses or stays
//! silent, and the initiator reports a child up only once both of its SAs
//! are in, deleting it with the peer when the kernel refuses.

mod engine_common;

use std::time::Duration;

use engine_common::*;
use ike_proto::engine::*;
use ike_proto::wire::NotifyType;

fn failed_with(events: &[Event], r: FailReason) -> bool {
    events
        .iter()
        .any(|e| matches!(e, Event::Failed { reason, .. } if *reason == r))
}

/// Datagrams `side` sent so far (the pair must trace).
fn sent_by(p: &Pair, side: Side) -> usize {
    let t = p.trace.as_ref().expect("tracing");
    t.iter().filter(|d| d.sent && d.side == side).count()
}

fn child_status(n: &Node) -> Vec<ChildStatus> {
    n.engine
        .sa_info()
        .iter()
        .flat_map(|s| s.children.iter().map(|c| c.status))
        .collect()
}

/// Pair with a short kernel timeout on both sides.
fn pair_with_timeout(t: Duration) -> Pair {
    let (pa, pb) = psk_policies(b"k", b"k");
    let (mut ca, mut cb) = (config(pa), config(pb));
    ca.kernel_timeout = t;
    cb.kernel_timeout = t;
    Pair::new(ca, cb, 41)
}

#[test]
fn responder_answers_ike_auth_only_once_both_sas_are_in() {
    let mut p = Pair::psk();
    p.trace = Some(Vec::new());
    p.b.kernel.hold = true;
    p.initiate();
    // Long enough for A to retransmit IKE_AUTH several times (0.5 s, 1 s, 2 s).
    p.run_for(Duration::from_secs(3));
    // B handed both SAs to the kernel, exactly once despite retransmissions.
    assert_eq!(p.b.kernel.held.len(), 2, "one UPDATE and one ADD");
    assert_eq!(p.b.kernel.installed().len(), 2);
    assert!(p.b.kernel.log.is_empty(), "{:?}", p.b.kernel.log);
    // Nobody is up: B has not answered IKE_AUTH (only IKE_SA_INIT).
    assert_eq!(sent_by(&p, Side::B), 1);
    assert_eq!(ike_up(&p.a.events) + ike_up(&p.b.events), 0);
    assert_eq!(child_up(&p.b.events), 0);
    assert_eq!(child_status(&p.b), [ChildStatus::Installing]);
    assert!(p.b.kernel.policies.is_empty(), "policies wait for the SAs");
    let retransmits = sent_by(&p, Side::A) - 2;
    assert!(retransmits >= 2, "A retransmitted {retransmits} times");

    p.release_kernel(Side::B);
    p.run_for(Duration::from_secs(2));
    assert_eq!(ike_up(&p.a.events), 1);
    assert_eq!(ike_up(&p.b.events), 1);
    assert_eq!(child_up(&p.a.events), 1);
    assert_eq!(child_up(&p.b.events), 1);
    // One answer to IKE_AUTH, sent once.
    assert_eq!(sent_by(&p, Side::B), 2);
    assert_eq!(child_status(&p.b), [ChildStatus::Installed]);
    assert_eq!(p.b.kernel.policies.len(), 2);
    assert_mirrored(&p);
}

#[test]
fn responder_refuses_the_child_the_kernel_refused_and_keeps_the_ike_sa() {
    let mut p = Pair::psk();
    // The inbound SA goes in, the outbound one is refused: the inbound
    // one must be removed again.
    p.b.kernel.refuse_out = true;
    p.initiate();
    p.run_for(Duration::from_secs(3));
    assert_eq!(ike_up(&p.a.events), 1, "{:?}", p.a.events);
    assert_eq!(ike_up(&p.b.events), 1, "{:?}", p.b.events);
    assert_eq!(child_up(&p.a.events) + child_up(&p.b.events), 0);
    assert!(failed_with(&p.b.events, FailReason::Kernel));
    // RFC 7296 2.21.3: NO_PROPOSAL_CHOSEN refuses only the child.
    assert!(
        failed_with(&p.a.events, FailReason::NoProposalChosen),
        "{:?}",
        p.a.events
    );
    assert!(
        !p.b.events
            .iter()
            .any(|e| matches!(e, Event::ChildDown { .. })),
        "a child never up is never reported down"
    );
    for n in [&p.a, &p.b] {
        let ike = n.engine.established();
        assert_eq!(ike.len(), 1);
        assert!(n.engine.children(ike[0]).is_empty());
        assert!(n.kernel.sas.is_empty(), "{:x?}", n.kernel.sas.keys());
        assert!(n.kernel.policies.is_empty());
    }
    // The IKE SA is usable: a child comes up once the kernel takes it.
    p.b.kernel.refuse_out = false;
    p.initiate();
    p.run_for(Duration::from_secs(3));
    assert_eq!(child_up(&p.a.events), 1);
    assert_eq!(child_up(&p.b.events), 1);
    assert_mirrored(&p);
}

#[test]
fn responder_gives_up_on_a_silent_kernel() {
    let mut p = pair_with_timeout(Duration::from_secs(2));
    p.b.kernel.hold = true;
    p.initiate();
    p.run_for(Duration::from_millis(1500));
    assert_eq!(ike_up(&p.a.events), 0, "no answer before the timeout");
    p.run_for(Duration::from_secs(2));
    assert_eq!(ike_up(&p.a.events), 1);
    assert_eq!(ike_up(&p.b.events), 1);
    assert_eq!(child_up(&p.a.events) + child_up(&p.b.events), 0);
    assert!(failed_with(&p.b.events, FailReason::Kernel));
    assert!(failed_with(&p.a.events, FailReason::NoProposalChosen));
    assert!(p.b.kernel.sas.is_empty(), "{:x?}", p.b.kernel.sas.keys());
    // The kernel's late answers change nothing.
    p.release_kernel(Side::B);
    p.run_for(Duration::from_secs(1));
    assert_eq!(child_up(&p.b.events), 0);
    assert!(p.b.kernel.policies.is_empty());
    let ike = p.b.engine.established();
    assert!(p.b.engine.children(ike[0]).is_empty());
}

#[test]
fn initiator_reports_the_child_up_only_once_both_sas_are_in() {
    let mut p = Pair::psk();
    p.a.kernel.hold = true;
    p.initiate();
    p.run_for(Duration::from_secs(2));
    assert_eq!(ike_up(&p.a.events), 1);
    assert_eq!(child_up(&p.b.events), 1);
    assert_eq!(child_up(&p.a.events), 0, "A's kernel has not confirmed");
    assert_eq!(child_status(&p.a), [ChildStatus::Installing]);
    assert!(p.a.kernel.policies.is_empty());
    p.release_kernel(Side::A);
    assert_eq!(child_up(&p.a.events), 1);
    assert_eq!(child_status(&p.a), [ChildStatus::Installed]);
    assert_eq!(p.a.kernel.policies.len(), 2);
    assert_mirrored(&p);
}

#[test]
fn initiator_deletes_the_child_its_kernel_refused() {
    let mut p = Pair::psk();
    p.a.kernel.refuse_out = true;
    p.initiate();
    p.run_for(Duration::from_secs(3));
    assert_eq!(ike_up(&p.a.events), 1);
    assert_eq!(ike_up(&p.b.events), 1);
    assert_eq!(child_up(&p.a.events), 0);
    assert!(failed_with(&p.a.events, FailReason::Kernel));
    // B had it up; A's DELETE took it down.
    assert_eq!(child_up(&p.b.events), 1);
    assert!(p.b.events.iter().any(|e| matches!(
        e,
        Event::ChildDown {
            reason: DownReason::DeletedByPeer,
            ..
        }
    )));
    for n in [&p.a, &p.b] {
        let ike = n.engine.established();
        assert_eq!(ike.len(), 1, "the IKE SA stays");
        assert!(n.engine.children(ike[0]).is_empty());
        assert!(n.kernel.sas.is_empty(), "{:x?}", n.kernel.sas.keys());
        assert!(n.kernel.policies.is_empty());
    }
}

#[test]
fn initiator_deletes_the_child_its_kernel_never_confirmed() {
    let mut p = pair_with_timeout(Duration::from_secs(2));
    p.a.kernel.hold = true;
    p.initiate();
    p.run_for(Duration::from_secs(4));
    assert!(failed_with(&p.a.events, FailReason::Kernel));
    assert_eq!(child_up(&p.a.events), 0);
    for n in [&p.a, &p.b] {
        let ike = n.engine.established();
        assert!(n.engine.children(ike[0]).is_empty());
        assert!(n.kernel.sas.is_empty(), "{:x?}", n.kernel.sas.keys());
    }
}

/// The child of an established pair, as (inbound, outbound) SPI on `s`.
fn only_child(p: &Pair, s: Side) -> (u32, u32) {
    let n = if s == Side::A { &p.a } else { &p.b };
    let ike = n.engine.established();
    let c = n.engine.children(ike[0]);
    assert_eq!(c.len(), 1, "one child: {c:x?}");
    c[0]
}

fn rekey(p: &mut Pair, by: Side) -> u32 {
    let (old, _) = only_child(p, by);
    let ike = p.node(by).engine.established()[0];
    p.rekey_child(by, ike, old);
    old
}

#[test]
fn rekey_responder_answers_once_the_new_sas_are_in() {
    let mut p = Pair::psk();
    p.trace = Some(Vec::new());
    establish(&mut p);
    let before = sent_by(&p, Side::B);
    p.b.kernel.hold = true;
    let old = rekey(&mut p, Side::A);
    p.run_for(Duration::from_secs(3));
    // One install despite A's retransmissions, no answer yet; only the
    // inbound SA (the outbound one waits for the old child's DELETE).
    assert_eq!(p.b.kernel.held.len(), 1);
    assert_eq!(sent_by(&p, Side::B), before);
    assert_eq!(only_child(&p, Side::A).0, old, "A still has the old child");
    p.b.kernel.hold = false;
    p.release_kernel(Side::B);
    p.run_for(Duration::from_secs(2));
    let (new_in, new_out) = only_child(&p, Side::A);
    assert_ne!(new_in, old);
    assert_eq!(only_child(&p, Side::B), (new_out, new_in));
    assert_eq!(
        count(&p.b.events, |e| matches!(e, Event::ChildRekeyed { .. })),
        1
    );
    assert_mirrored(&p);
}

#[test]
fn rekey_responder_refusal_keeps_the_old_child() {
    let mut p = Pair::psk();
    establish(&mut p);
    let (old_in, old_out) = only_child(&p, Side::A);
    p.b.kernel.refuse = true;
    rekey(&mut p, Side::A);
    p.run_for(Duration::from_secs(3));
    assert!(failed_with(&p.b.events, FailReason::Kernel));
    assert!(
        failed_with(
            &p.a.events,
            FailReason::PeerNotify(NotifyType::TEMPORARY_FAILURE)
        ),
        "{:?}",
        p.a.events
    );
    assert_eq!(only_child(&p, Side::A), (old_in, old_out));
    assert_eq!(only_child(&p, Side::B), (old_out, old_in));
    assert_eq!(child_status(&p.a), [ChildStatus::Installed]);
    assert_eq!(p.b.kernel.larval(), 0, "the new SPI was given back");
    assert_mirrored(&p);
    // A tries again later, and succeeds once B's kernel takes SAs again.
    p.b.kernel.refuse = false;
    p.run_for(Duration::from_secs(15));
    let (new_in, _) = only_child(&p, Side::A);
    assert_ne!(new_in, old_in);
    assert_mirrored(&p);
}

#[test]
fn rekey_initiator_refusal_deletes_the_new_child_and_keeps_the_old() {
    let mut p = Pair::psk();
    establish(&mut p);
    let (old_in, old_out) = only_child(&p, Side::A);
    p.a.kernel.refuse = true;
    rekey(&mut p, Side::A);
    p.run_for(Duration::from_secs(3));
    assert!(failed_with(&p.a.events, FailReason::Kernel));
    assert_eq!(only_child(&p, Side::A), (old_in, old_out));
    assert_eq!(only_child(&p, Side::B), (old_out, old_in));
    assert_eq!(child_status(&p.a), [ChildStatus::Installed]);
    assert_eq!(p.a.kernel.larval(), 0);
    // The old child keeps its place in both kernels.
    assert_mirrored(&p);
    assert_eq!(p.a.kernel.installed().len(), 2);
    assert_eq!(p.a.kernel.policies.len(), 2);
    assert_eq!(p.b.kernel.policies.len(), 2);
}

#[test]
fn rekey_initiator_deletes_the_old_child_only_once_the_new_one_is_in() {
    let mut p = Pair::psk();
    establish(&mut p);
    let (old_in, _) = only_child(&p, Side::A);
    p.a.kernel.hold = true;
    rekey(&mut p, Side::A);
    p.run_for(Duration::from_secs(2));
    let ike = p.a.engine.established()[0];
    let spis: Vec<u32> = p.a.engine.children(ike).iter().map(|c| c.0).collect();
    assert_eq!(spis.len(), 2, "old and new while the kernel works");
    assert!(spis.contains(&old_in));
    let ike_b = p.b.engine.established()[0];
    assert!(
        p.b.engine.children(ike_b).iter().any(|c| c.1 == old_in),
        "no DELETE sent yet"
    );
    p.a.kernel.hold = false;
    p.release_kernel(Side::A);
    p.run_for(Duration::from_secs(2));
    let (new_in, _) = only_child(&p, Side::A);
    assert_ne!(new_in, old_in);
    assert_mirrored(&p);
}

/// Delayed kernel answers on both sides, under loss: every run ends with
/// mirrored SAs, and no child is reported up before its SAs are in.
#[test]
fn slow_kernels_and_a_lossy_network() {
    let mut up = 0;
    for seed in 0..40 {
        let (pa, pb) = psk_policies(b"k", b"k");
        let mut p = Pair::new(config(pa), config(pb), seed);
        p.kernel_delay = Duration::from_millis(300);
        p.set_network(0.2, 0.1, 0.1);
        p.initiate();
        p.run_for(Duration::from_secs(6));
        if !p.a.engine.established().is_empty() {
            let ike = p.a.engine.established()[0];
            if let Some(&(spi, _)) = p.a.engine.children(ike).first() {
                p.rekey_child(Side::A, ike, spi);
            }
        }
        p.heal_and_run(Duration::from_secs(60));
        let (a, b) = (p.a.engine.established(), p.b.engine.established());
        assert_eq!(a.len(), b.len(), "seed {seed}");
        if a.len() == 1 {
            up += 1;
            assert_mirrored(&p);
            let ups = child_up(&p.a.events);
            assert!(ups >= 1 || p.a.engine.children(a[0]).is_empty());
        }
        assert_eq!(p.a.kernel.larval() + p.b.kernel.larval(), 0, "seed {seed}");
    }
    assert!(up > 20, "only {up} of 40 runs established");
}
