//! Two engines in one process: IKE_SA_INIT + IKE_AUTH with a CHILD_SA.

mod engine_common;

use std::time::Duration;

use engine_common::*;
use ike_proto::engine::*;

#[test]
fn psk_handshake_installs_mirrored_child() {
    let mut p = Pair::psk();
    p.initiate();
    p.run_for(Duration::from_secs(2));
    assert_eq!(ike_up(&p.a.events), 1, "A events: {:?}", p.a.events);
    assert_eq!(ike_up(&p.b.events), 1, "B events: {:?}", p.b.events);
    assert_eq!(child_up(&p.a.events), 1);
    assert_eq!(child_up(&p.b.events), 1);
    assert_eq!(p.a.kernel.installed().len(), 2);
    assert_mirrored(&p);
    assert_eq!(p.a.kernel.larval(), 0);
    assert_eq!(p.b.kernel.larval(), 0);
    // Policies: one pair of selectors, both directions, on each side.
    assert_eq!(p.a.kernel.policies.len(), 2);
    assert_eq!(p.b.kernel.policies.len(), 2);
    assert_eq!(p.b.engine.half_open_count(), 0);
    let (ia, ib) = (p.a.engine.established(), p.b.engine.established());
    assert_eq!(ia.len(), 1);
    assert_eq!(ib.len(), 1);
    // Each side's inbound SPI is the other's outbound SPI.
    let ca = p.a.engine.children(ia[0]);
    let cb = p.b.engine.children(ib[0]);
    assert_eq!(ca.len(), 1);
    assert_eq!(ca[0], (cb[0].1, cb[0].0));
    // TS agree: A's local is B's remote.
    let ts_a = p.a.events.iter().find_map(|e| match e {
        Event::ChildUp {
            local_ts,
            remote_ts,
            ..
        } => Some((local_ts.clone(), remote_ts.clone())),
        _ => None,
    });
    let ts_b = p.b.events.iter().find_map(|e| match e {
        Event::ChildUp {
            local_ts,
            remote_ts,
            ..
        } => Some((remote_ts.clone(), local_ts.clone())),
        _ => None,
    });
    assert_eq!(ts_a, ts_b);
}
