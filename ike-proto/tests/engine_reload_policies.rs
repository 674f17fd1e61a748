//! Kernel policies across a reload that turns a policy with a live
//! CHILD_SA into a trap (and back): the kernel ends up with exactly the
//! policies the new configuration needs, whatever order the old SA's
//! DELETE exchange and the new trap arrive in.

mod engine_common;

use std::time::Duration;

use engine_common::*;
use ike_proto::engine::*;

/// What ike-net does on reload for a changed policy: terminate its SAs,
/// set_config without it, then with its new version, and initiate it if
/// it is active (`Active`).
fn reload_changed(p: &mut Pair, new: Policy) {
    p.command(
        Side::A,
        Command::Terminate {
            policy: "net".into(),
        },
    );
    let now = p.now;
    let active = new.start == StartAction::Active;
    let mut without = config(new.clone());
    without.policies.clear();
    p.a.engine.set_config(now, without);
    p.a.engine.set_config(now, config(new));
    if active {
        p.command(
            Side::A,
            Command::Initiate {
                policy: "net".into(),
            },
        );
    }
}

#[test]
fn a_policy_that_becomes_a_trap_keeps_its_kernel_policies_after_the_old_sa_goes() {
    // The e2e reload test's race, made deterministic: the new trap is
    // installed while the old (non-trap) child still holds the same
    // selectors; the old SA's DELETE completes afterwards and must not take
    // the trap's policies with it.
    let (mut pa, pb) = psk_policies(b"k", b"k");
    pa.trap = false;
    let mut p = Pair::new(config(pa.clone()), config(pb), 61);
    p.a.engine.start(p.now);
    establish(&mut p);
    assert_eq!(p.a.kernel.policies.len(), 2);

    pa.trap = true;
    pa.child_lifetime.hard += Duration::from_secs(60); // "changed"
    reload_changed(&mut p, pa.clone());
    p.run_for(Duration::from_secs(5));
    assert_eq!(p.a.engine.established().len(), 1, "{:?}", p.a.events);
    assert_eq!(p.a.kernel.policies.len(), 2, "{:?}", p.a.kernel.policies);
    assert_eq!(p.b.kernel.policies.len(), 2, "{:?}", p.b.kernel.policies);
    assert_mirrored(&p);

    // The trap goes with its policy, taking the policies along (its
    // reference is the last one: nothing leaks).
    pa.trap = false;
    pa.start = StartAction::Passive;
    reload_changed(&mut p, pa);
    p.run_for(Duration::from_secs(5));
    assert!(p.a.engine.established().is_empty(), "{:?}", p.a.events);
    assert!(p.a.kernel.policies.is_empty(), "{:?}", p.a.kernel.policies);
    assert!(p.b.kernel.policies.is_empty(), "{:?}", p.b.kernel.policies);
    assert!(p.a.kernel.installed().is_empty() && p.b.kernel.installed().is_empty());
}

#[test]
fn a_trap_over_a_live_child_replaces_the_kernel_entry_with_its_own_settings() {
    // The trap's AddPolicy is sent even though a child installed the same
    // selectors: the kernel entry takes the trap's settings (the broker
    // replaces an existing entry), instead of keeping the old child's.
    let (mut pa, pb) = psk_policies(b"k", b"k");
    pa.trap = false;
    let mut p = Pair::new(config(pa.clone()), config(pb), 62);
    p.a.engine.start(p.now);
    establish(&mut p);
    let before = p.a.kernel.policies.len();
    let mut adds = 0;
    let now = p.now;
    pa.trap = true;
    p.a.engine.set_config(now, config(pa));
    while let Some(r) = p.a.engine.poll_kernel_request() {
        match r {
            KernelRequest::AddPolicy(_) => adds += 1,
            KernelRequest::DeletePolicy { .. } => panic!("a live child's policies deleted"),
            _ => {}
        }
    }
    assert_eq!((before, adds), (2, 2));
}
