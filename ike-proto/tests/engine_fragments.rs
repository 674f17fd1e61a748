//! RFC 7383 fragments with a message window above one (RFC 7296 2.3):
//! several fragmented messages in flight at once, their fragments
//! interleaved on the wire, each reassembled on its own without any
//! retransmission.

mod engine_common;

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::Instant;

use engine_common::*;
use ike_proto::engine::*;
use ike_proto::wire::Header;

const K: &[u8] = b"correct horse battery staple";

/// 60 host selectors: a CREATE_CHILD_SA of about 1.2 kB each way, three
/// fragments at a 576-byte MTU.
fn hosts(net: u32) -> Vec<TrafficSelector> {
    (1..=60u32)
        .map(|i| {
            let a = std::net::Ipv4Addr::from(net + i);
            TrafficSelector::prefix(IpAddr::V4(a), 32).unwrap()
        })
        .collect()
}

fn fragmenting_pair(seed: u64) -> Pair {
    let (mut pa, mut pb) = psk_policies(K, K);
    pa.childless = true;
    pa.local_ts = hosts(0x0a01_0000);
    pb.peer_ts = vec![TrafficSelector::prefix(ip("10.1.0.0"), 16).unwrap()];
    let (mut ca, mut cb) = (config(pa), config(pb));
    for c in [&mut ca, &mut cb] {
        c.window = 4;
        c.fragment_mtu = 576;
    }
    let mut p = Pair::new(ca, cb, seed);
    establish(&mut p);
    p
}

/// Everything a node has to say right now; kernel requests answered.
fn drain(n: &mut Node, now: Instant) -> Vec<Transmit> {
    let mut out = Vec::new();
    loop {
        let mut work = false;
        while let Some(req) = n.engine.poll_kernel_request() {
            work = true;
            if let Some(ev) = n.kernel.process(req) {
                n.engine.handle_kernel_event(now, ev);
            }
        }
        while let Some(t) = n.engine.poll_transmit() {
            work = true;
            out.push(t);
        }
        while let Some(e) = n.engine.poll_event() {
            n.events.push(e);
        }
        if !work {
            return out;
        }
    }
}

/// Reorders datagrams so that the fragments of different messages
/// alternate: first datagram of each message, then the second of each, ...
/// Returns the order and how many messages came in more than one datagram.
fn interleave(out: Vec<Transmit>) -> (Vec<Transmit>, usize) {
    let mut groups: Vec<((u32, bool), Vec<Transmit>)> = Vec::new();
    for t in out {
        let h = Header::parse_bytes(&t.bytes).unwrap();
        let key = (h.message_id, h.flags.response);
        match groups.iter_mut().find(|g| g.0 == key) {
            Some(g) => g.1.push(t),
            None => groups.push((key, vec![t])),
        }
    }
    let fragmented = groups.iter().filter(|g| g.1.len() > 1).count();
    let mut order = Vec::new();
    let mut i = 0;
    loop {
        let before = order.len();
        for g in &groups {
            if let Some(t) = g.1.get(i) {
                order.push(t.clone());
            }
        }
        if order.len() == before {
            return (order, fragmented);
        }
        i += 1;
    }
}

/// Exchanges datagrams with the clock stopped (so no retransmission can
/// help) until both sides are quiet. Returns the most fragmented messages
/// interleaved in one flight.
fn exchange_interleaved(p: &mut Pair) -> usize {
    let now = p.now;
    let mut seen = HashSet::new();
    let mut most = 0;
    for _ in 0..50 {
        let out_a = drain(&mut p.a, now);
        let out_b = drain(&mut p.b, now);
        if out_a.is_empty() && out_b.is_empty() {
            return most;
        }
        for (out, to) in [(out_a, Side::B), (out_b, Side::A)] {
            let (order, fragmented) = interleave(out);
            most = most.max(fragmented);
            for t in order {
                assert!(seen.insert(t.bytes.clone()), "a datagram was sent twice");
                p.node(to)
                    .engine
                    .handle_datagram(now, t.remote, t.local, &t.bytes);
            }
        }
    }
    panic!("no quiet after 50 flights");
}

/// A is told to create `n` more children; nothing is sent yet (the
/// test's own delivery loop does that).
fn start_children(p: &mut Pair, n: usize) {
    for _ in 0..n {
        let now = p.now;
        p.a.engine.handle_command(
            now,
            Command::Initiate {
                policy: "net".into(),
            },
        );
    }
}

#[test]
fn interleaved_fragments_of_four_child_creations_all_complete() {
    let mut p = fragmenting_pair(21);
    start_children(&mut p, 4);
    let most = exchange_interleaved(&mut p);
    assert!(most >= 2, "fragments of {most} messages interleaved");
    assert_eq!(child_up(&p.a.events), 4, "{:?}", p.a.events);
    assert_eq!(child_up(&p.b.events), 4, "{:?}", p.b.events);
    assert_mirrored(&p);
}

#[test]
fn interleaved_fragments_of_colliding_rekeys_from_both_sides() {
    let mut p = fragmenting_pair(22);
    start_children(&mut p, 3);
    exchange_interleaved(&mut p);
    assert_eq!(child_up(&p.a.events), 3);
    // Both sides rekey every child at once: six fragmented requests and
    // six fragmented answers cross, interleaved.
    let now = p.now;
    for s in [Side::A, Side::B] {
        let n = p.node(s);
        let ike = n.engine.established()[0];
        for (spi_in, _) in n.engine.children(ike) {
            n.engine
                .handle_command(now, Command::RekeyChild { ike, spi_in });
        }
    }
    let most = exchange_interleaved(&mut p);
    assert!(most >= 2, "fragments of {most} messages interleaved");
    let rekeyed = |e: &[Event]| count(e, |e| matches!(e, Event::ChildRekeyed { .. }));
    assert!(rekeyed(&p.a.events) >= 3, "{:?}", p.a.events);
    assert!(rekeyed(&p.b.events) >= 3, "{:?}", p.b.events);
    assert_eq!(p.a.engine.children(p.a.engine.established()[0]).len(), 3);
    assert_mirrored(&p);
}
