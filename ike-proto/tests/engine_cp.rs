//! Road-warrior gateway in the engine: CP(CFG_REQUEST) in IKE_AUTH gets a
//! CFG_REPLY with a leased address, the child is narrowed to it, the lease
//! lives exactly as long as the IKE SA (RFC 7296 2.19, 3.15).

mod engine_common;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use engine_common::*;
use ike_proto::engine::*;

fn any4() -> TrafficSelector {
    TrafficSelector::prefix(ip("0.0.0.0"), 0).unwrap()
}

fn pool(s: &str, prefix: u8) -> PoolSpec {
    PoolSpec {
        addr: ip(s),
        prefix,
    }
}

/// A: client asking for an address (`from dynamic to 10.2.0.0/24`,
/// `request address any`), one policy per identity in `ids`. B: gateway
/// `from 10.2.0.0/24 to dynamic`, `peer any` without dstid, pool `pools`.
fn road_warrior(ids: &[&str], pools: Vec<PoolSpec>, psk_b: &[u8]) -> Pair {
    let psk = b"correct horse battery staple";
    let (_, mut pb) = psk_policies(psk, psk_b);
    pb.peer_addr = None;
    pb.any_peer_id = true;
    pb.peer_id = Identity::fqdn("nobody.test");
    pb.peer_ts = pools
        .iter()
        .map(|p| TrafficSelector::prefix(p.addr, p.prefix).unwrap())
        .collect();
    pb.trap = false;
    pb.cp = CpPolicy {
        pools,
        netmask: Some("255.255.255.0".parse().unwrap()),
        dns: vec![ip("10.2.0.53")],
        nbns: vec!["10.2.0.54".parse().unwrap()],
        subnets: vec![(ip("10.2.0.0"), 24)],
        dynamic_peer: true,
        ..CpPolicy::default()
    };
    let mut ca = config(pb.clone());
    ca.policies.clear();
    for (i, id) in ids.iter().enumerate() {
        let (mut pa, _) = psk_policies(psk, psk);
        pa.name = if i == 0 {
            "net".into()
        } else {
            format!("net{i}")
        };
        pa.local_id = Identity::fqdn(id);
        pa.local_ts = vec![any4()];
        pa.cp.request_v4 = true;
        pa.start = StartAction::Passive;
        // Each client policy authenticates with its own key reference
        // (issue 16: the PSK is found by policy name in the credentials).
        remember_psk(&pa.name, ip(A_ADDR), psk);
        ca.policies.push(Arc::new(pa));
    }
    ca.credentials = credentials(&ca.policies);
    // psk_policies() above also remembered B's key; B keeps `psk_b`.
    remember_psk(&pb.name, ip(B_ADDR), psk_b);
    Pair::new(ca, config(pb), 7)
}

fn vips(p: &Pair, s: Side) -> Vec<Vec<IpAddr>> {
    let e = match s {
        Side::A => &p.a.engine,
        Side::B => &p.b.engine,
    };
    e.sa_info()
        .into_iter()
        .filter(|i| i.status == IkeStatus::Established)
        .map(|i| i.virtual_ips)
        .collect()
}

fn lease_events(events: &[Event], lent: bool) -> Vec<Vec<IpAddr>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Lease { addrs, lent: l, .. } if *l == lent => Some(addrs.clone()),
            _ => None,
        })
        .collect()
}

/// Two client identities (policies "net" and "net1") connect one after
/// the other to a gateway with pool `pool`.
fn two_clients(pool: PoolSpec) -> Pair {
    let mut p = road_warrior(
        &["a.test", "c.test"],
        vec![pool],
        b"correct horse battery staple",
    );
    p.initiate();
    p.run_for(Duration::from_secs(2));
    p.command(
        Side::A,
        Command::Initiate {
            policy: "net1".into(),
        },
    );
    p.run_for(Duration::from_secs(2));
    p
}

#[test]
fn a_client_gets_an_address_and_a_child_for_it_only() {
    let mut p = road_warrior(
        &["a.test"],
        vec![pool("10.9.0.0", 24)],
        b"correct horse battery staple",
    );
    p.initiate();
    p.run_for(Duration::from_secs(2));
    assert_eq!(child_up(&p.a.events), 1, "A: {:?}", p.a.events);
    assert_eq!(child_up(&p.b.events), 1, "B: {:?}", p.b.events);
    let lease = ip("10.9.0.1");
    assert_eq!(vips(&p, Side::B), vec![vec![lease]]);
    assert_eq!(vips(&p, Side::A), vec![vec![lease]]);
    assert_eq!(lease_events(&p.b.events, true), vec![vec![lease]]);
    // The child is narrowed to the lease on the client's side, both ends.
    let host = TrafficSelector::host(lease);
    for ev in &p.a.events {
        if let Event::ChildUp { local_ts, .. } = ev {
            assert_eq!(local_ts, &vec![host]);
        }
    }
    for ev in &p.b.events {
        if let Event::ChildUp { remote_ts, .. } = ev {
            assert_eq!(remote_ts, &vec![host]);
        }
    }
    assert_eq!(p.b.engine.lease_stats(), (1, 0));
    // Deleting the IKE SA gives the address back.
    let ike = p.a.engine.established()[0];
    p.command(Side::A, Command::TerminateSa { ike });
    p.run_for(Duration::from_secs(2));
    assert_eq!(p.b.engine.lease_stats(), (0, 0));
    assert_eq!(lease_events(&p.b.events, false), vec![vec![lease]]);
}

#[test]
fn two_identities_get_two_addresses_then_the_pool_is_empty() {
    // A static one-address pool: the second identity gets none.
    let p = two_clients(pool("10.9.0.7", 32));
    // Both IKE SAs stand (RFC 7296 3.15.4); only the first has a child.
    assert_eq!(ike_up(&p.b.events), 2, "B: {:?}", p.b.events);
    assert_eq!(child_up(&p.b.events), 1);
    assert_eq!(p.b.engine.lease_stats(), (1, 1));
    assert!(p
        .a
        .events
        .iter()
        .any(|e| matches!(e, Event::Failed { reason: FailReason::PeerNotify(n), .. } if *n == ike_proto::wire::NotifyType::INTERNAL_ADDRESS_FAILURE)),
        "A: {:?}", p.a.events);
}

#[test]
fn two_identities_from_a_pool_get_distinct_addresses() {
    let p = two_clients(pool("10.9.0.0", 29));
    assert_eq!(child_up(&p.b.events), 2, "B: {:?}", p.b.events);
    let mut got: Vec<IpAddr> = vips(&p, Side::B).into_iter().flatten().collect();
    got.sort();
    assert_eq!(got, vec![ip("10.9.0.1"), ip("10.9.0.2")]);
}

#[test]
fn failed_authentication_leases_nothing() {
    let mut p = road_warrior(&["a.test"], vec![pool("10.9.0.0", 24)], b"wrong");
    p.initiate();
    p.run_for(Duration::from_secs(2));
    assert_eq!(ike_up(&p.b.events), 0);
    assert_eq!(p.b.engine.lease_stats(), (0, 0));
    assert!(lease_events(&p.b.events, true).is_empty());
}

#[test]
fn cycles_leak_no_lease_and_ike_rekey_keeps_it() {
    // Two addresses; 20 cycles of one client, then a rekey.
    let mut p = road_warrior(
        &["a.test"],
        vec![pool("10.9.0.0", 30)],
        b"correct horse battery staple",
    );
    for _ in 0..20 {
        p.initiate();
        p.run_for(Duration::from_secs(2));
        assert_eq!(p.b.engine.lease_stats().0, 1);
        let ike = p.a.engine.established()[0];
        p.command(Side::A, Command::TerminateSa { ike });
        p.run_for(Duration::from_secs(2));
        assert_eq!(p.b.engine.lease_stats(), (0, 0));
    }
    p.initiate();
    p.run_for(Duration::from_secs(2));
    let before = vips(&p, Side::B);
    let ike = p.a.engine.established()[0];
    p.command(Side::A, Command::RekeyIke { ike });
    p.run_for(Duration::from_secs(5));
    assert_eq!(p.b.engine.established().len(), 1);
    assert_eq!(vips(&p, Side::B), before);
    assert_eq!(p.b.engine.lease_stats().0, 1);
}
