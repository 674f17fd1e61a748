//! The message window larger than one (RFC 7296 2.3): concurrent
//! CREATE_CHILD_SA exchanges within the peer's announced window, cached
//! answers for duplicates, silence for replays whose answer is forgotten,
//! and a peer that announces nothing (window one).

mod engine_common;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use engine_common::*;
use ike_proto::engine::*;
use ike_proto::wire::{ExchangeType, Header};

const K: &[u8] = b"correct horse battery staple";

/// A childless IKE SA (children come later, several at once) between A
/// with window `wa` and B with window `wb`, the wire recorded.
fn windowed(wa: u32, wb: u32, seed: u64) -> Pair {
    let (mut pa, pb) = psk_policies(K, K);
    pa.childless = true;
    let (mut ca, mut cb) = (config(pa), config(pb));
    ca.window = wa;
    cb.window = wb;
    let mut p = Pair::new(ca, cb, seed);
    p.trace = Some(Vec::new());
    establish(&mut p);
    p
}

/// Replays the wire from `side`'s point of view. Each request it sends with
/// message ID X must come after it received the answers to all its requests
/// up to X - w (RFC 7296 2.3), where w is 1 on an IKE SA until `side` has
/// heard the peer's window, and `n` after: in IKE_AUTH, or, on an IKE SA
/// made by a rekey, in the peer's first request there (an INFORMATIONAL
/// with SET_WINDOW_SIZE, see `windows_are_announced_again_after_an_ike_rekey`).
/// Returns the most requests it had outstanding at once on one IKE SA.
fn check_window(p: &Pair, side: Side, n: u32) -> usize {
    let mut outstanding: HashMap<(u64, u64), BTreeSet<u32>> = HashMap::new();
    let mut announced: HashSet<(u64, u64)> = HashSet::new();
    let mut peak = 0;
    for t in p.trace.as_ref().expect("trace on") {
        let h = Header::parse_bytes(&t.bytes).unwrap();
        if h.exchange == ExchangeType::IKE_SA_INIT || t.side != side {
            continue;
        }
        let key = (h.spi_i, h.spi_r);
        let out = outstanding.entry(key).or_default();
        if t.sent && !h.flags.response {
            let w = if announced.contains(&key) { n } else { 1 };
            for id in out.iter() {
                assert!(
                    id + w > h.message_id,
                    "{side:?} sent request {} while {id} was unanswered (window {w})",
                    h.message_id
                );
            }
            out.insert(h.message_id);
            peak = peak.max(out.len());
        } else if !t.sent {
            if h.exchange == ExchangeType::IKE_AUTH
                || (!h.flags.response
                    && h.message_id == 0
                    && h.exchange == ExchangeType::INFORMATIONAL)
            {
                announced.insert(key);
            }
            if h.flags.response {
                out.remove(&h.message_id);
            }
        }
    }
    peak
}

/// (message ID, exchange, bytes) of the datagrams `side` sent, requests or
/// responses.
fn sent_by(p: &Pair, side: Side, response: bool) -> Vec<(u32, ExchangeType, Vec<u8>)> {
    p.trace
        .as_ref()
        .unwrap()
        .iter()
        .filter(|t| t.sent && t.side == side)
        .filter_map(|t| {
            let h = Header::parse_bytes(&t.bytes).unwrap();
            (h.flags.response == response).then(|| (h.message_id, h.exchange, t.bytes.clone()))
        })
        .collect()
}

fn initiate_children(p: &mut Pair, n: usize) {
    for _ in 0..n {
        // Children appear only when the answers come back: each command
        // starts one more CREATE_CHILD_SA.
        p.initiate();
    }
}

fn children(p: &Pair, s: Side) -> Vec<(u32, u32)> {
    let n = match s {
        Side::A => &p.a,
        Side::B => &p.b,
    };
    let ike = n.engine.established();
    assert_eq!(ike.len(), 1, "{s:?}: {ike:?}");
    n.engine.children(ike[0])
}

/// Both sides rekey every child of `kids` (A's SPIs) at the same moment,
/// so that the rekeys collide pairwise (RFC 7296 2.8.1).
fn rekey_from_both(p: &mut Pair, kids: &[(u32, u32)]) {
    let (ia, ib) = (p.a.engine.established()[0], p.b.engine.established()[0]);
    for (spi_in, spi_out) in kids {
        p.rekey_child(Side::A, ia, *spi_in);
        // B's inbound SPI of the same pair is A's outbound one.
        p.rekey_child(Side::B, ib, *spi_out);
    }
}

#[test]
fn window_4_runs_child_creations_and_rekeys_concurrently() {
    let mut p = windowed(4, 4, 11);
    initiate_children(&mut p, 4);
    p.run_for(Duration::from_secs(5));
    let ca = children(&p, Side::A);
    assert_eq!(ca.len(), 4, "{ca:x?}");
    assert_eq!(child_up(&p.a.events), 4);
    assert_eq!(child_up(&p.b.events), 4);
    assert_mirrored(&p);
    // All four CREATE_CHILD_SA requests were on the wire at once.
    assert_eq!(check_window(&p, Side::A, 4), 4);

    // Both sides rekey every child at the same moment: four rekeys from
    // each side, colliding pairwise (RFC 7296 2.8.1), then the deletes.
    let before: Vec<u32> = ca.iter().map(|c| c.0).collect();
    rekey_from_both(&mut p, &ca);
    p.run_for(Duration::from_secs(10));
    let (ca, cb) = (children(&p, Side::A), children(&p, Side::B));
    assert_eq!(ca.len(), 4, "{ca:x?}");
    assert_eq!(cb.len(), 4, "{cb:x?}");
    for (i, o) in &ca {
        assert!(!before.contains(i), "child {i:x} was not rekeyed");
        assert!(cb.contains(&(*o, *i)));
    }
    assert_mirrored(&p);
    assert_eq!(p.a.kernel.installed().len(), 8);
    assert_eq!(p.a.kernel.larval() + p.b.kernel.larval(), 0);
    assert!(check_window(&p, Side::A, 4) <= 4);
    assert!(check_window(&p, Side::B, 4) <= 4);
    // The rekeys ran side by side too.
    assert_eq!(check_window(&p, Side::B, 4), 4);
}

#[test]
fn windows_are_announced_again_after_an_ike_rekey() {
    let mut p = windowed(4, 4, 12);
    initiate_children(&mut p, 3);
    p.run_for(Duration::from_secs(5));
    let ia = p.a.engine.established()[0];
    let old_spis = {
        let i = &p.a.engine.sa_info()[0];
        (i.spi_i, i.spi_r)
    };
    p.command(Side::A, Command::RekeyIke { ike: ia });
    p.run_for(Duration::from_secs(5));
    let ia2 = p.a.engine.established()[0];
    assert_ne!(ia, ia2);
    assert_eq!(p.a.engine.ike_sa_count(), 1);
    // RFC 7296 2.3: the new IKE SA starts with a window of one; each side's
    // first request on it is an INFORMATIONAL with SET_WINDOW_SIZE.
    for side in [Side::A, Side::B] {
        let first_new = p
            .trace
            .as_ref()
            .unwrap()
            .iter()
            .filter(|t| t.sent && t.side == side)
            .map(|t| Header::parse_bytes(&t.bytes).unwrap())
            .find(|h| {
                !h.flags.response
                    && (h.spi_i, h.spi_r) != old_spis
                    && h.exchange != ExchangeType::IKE_SA_INIT
            })
            .unwrap();
        assert_eq!(first_new.exchange, ExchangeType::INFORMATIONAL, "{side:?}");
        assert_eq!(first_new.message_id, 0, "{side:?}");
    }
    for (spi_in, _) in children(&p, Side::A) {
        p.rekey_child(Side::A, ia2, spi_in);
    }
    p.run_for(Duration::from_secs(5));
    assert_eq!(children(&p, Side::A).len(), 3);
    assert_mirrored(&p);
    // With the windows announced again, the three rekeys went out together.
    assert_eq!(check_window(&p, Side::A, 4), 3);
}

#[test]
fn before_the_new_announcement_a_rekeyed_ike_sa_sends_one_at_a_time() {
    // B keeps a window of 4 but A's is 1 from the start on the new SA
    // until B's announcement arrives: the child rekeys A starts right
    // after the IKE rekey (queued behind it) go out one by one at first.
    let mut p = windowed(4, 4, 18);
    initiate_children(&mut p, 3);
    p.run_for(Duration::from_secs(5));
    let ia = p.a.engine.established()[0];
    let kids = children(&p, Side::A);
    p.command(Side::A, Command::RekeyIke { ike: ia });
    for (spi_in, _) in &kids {
        p.rekey_child(Side::A, ia, *spi_in);
    }
    p.run_for(Duration::from_secs(10));
    assert_eq!(p.a.engine.ike_sa_count(), 1);
    assert_eq!(children(&p, Side::A).len(), 3);
    assert_mirrored(&p);
    // Never beyond the window in force at the time: one on the new SA
    // until B's announcement arrived, four after.
    assert!(check_window(&p, Side::A, 4) <= 4);
    assert!(check_window(&p, Side::B, 4) <= 4);
    assert_eq!(p.a.kernel.larval() + p.b.kernel.larval(), 0);
}

#[test]
fn ike_rekey_waits_for_outstanding_child_requests() {
    let mut p = windowed(4, 4, 13);
    initiate_children(&mut p, 2);
    // Queued behind the two creations: it may start only when they are done.
    let ia = p.a.engine.established()[0];
    p.command(Side::A, Command::RekeyIke { ike: ia });
    p.run_for(Duration::from_secs(5));
    let reqs = sent_by(&p, Side::A, false);
    let ccs: Vec<u32> = reqs
        .iter()
        .filter(|r| r.1 == ExchangeType::CREATE_CHILD_SA)
        .map(|r| r.0)
        .collect();
    // Two creations (IDs 2, 3) on the old SA, then the rekey alone (ID 4).
    assert_eq!(ccs, vec![2, 3, 4], "{reqs:?}");
    assert_eq!(children(&p, Side::A).len(), 2);
    assert_eq!(p.a.engine.ike_sa_count(), 1);
    assert_mirrored(&p);
    // No rejection: B never had to refuse the rekey (TEMPORARY_FAILURE).
    assert!(!p.a.events.iter().any(|e| matches!(e, Event::Failed { .. })));
}

#[test]
fn peer_announcing_nothing_gets_one_request_at_a_time() {
    // A could hold 4, B holds 1 (and announces nothing): A sends serially;
    // B, told A's window of 4, is still bound by its own window of 1.
    let mut p = windowed(4, 1, 14);
    initiate_children(&mut p, 4);
    p.run_for(Duration::from_secs(5));
    // Only one CREATE_CHILD_SA may be queued while another runs.
    let ca = children(&p, Side::A);
    assert!(!ca.is_empty());
    rekey_from_both(&mut p, &ca);
    p.run_for(Duration::from_secs(20));
    assert_eq!(check_window(&p, Side::A, 1), 1);
    assert_eq!(check_window(&p, Side::B, 1), 1);
    assert_eq!(children(&p, Side::A).len(), ca.len());
    assert_mirrored(&p);
}

#[test]
fn duplicate_within_the_window_gets_the_cached_answer_byte_for_byte() {
    let mut p = windowed(4, 4, 15);
    initiate_children(&mut p, 4);
    p.run_for(Duration::from_secs(5));
    let reqs = sent_by(&p, Side::A, false);
    let answers = sent_by(&p, Side::B, true);
    let b_addr = std::net::SocketAddr::new(ip(B_ADDR), 500);
    let a_addr = std::net::SocketAddr::new(ip(A_ADDR), 500);
    let info_before = format!("{:?}", p.b.engine.sa_info());
    let kernel_before = p.b.kernel.sas.len();
    // IDs 2..=5 were the four creations; all four answers are cached.
    for id in 2..=5u32 {
        let (_, ex, req) = reqs.iter().find(|r| r.0 == id).unwrap();
        assert_eq!(*ex, ExchangeType::CREATE_CHILD_SA);
        let (_, _, answer) = answers.iter().find(|r| r.0 == id).unwrap();
        let now = p.now;
        p.b.engine.handle_datagram(now, b_addr, a_addr, req);
        let t = p.b.engine.poll_transmit().expect("the cached answer");
        assert_eq!(&t.bytes, answer, "answer to {id} differs");
        assert!(p.b.engine.poll_transmit().is_none());
        assert!(p.b.engine.poll_kernel_request().is_none());
        assert!(p.b.engine.poll_event().is_none());
    }
    assert_eq!(format!("{:?}", p.b.engine.sa_info()), info_before);
    assert_eq!(p.b.kernel.sas.len(), kernel_before);
}

#[test]
fn replay_after_its_cache_slot_is_gone_is_dropped() {
    let mut p = windowed(4, 4, 16);
    initiate_children(&mut p, 4);
    p.run_for(Duration::from_secs(5));
    // Four more requests (IDs 6..=9): liveness checks, one at a time.
    let ia = p.a.engine.established()[0];
    for _ in 0..4 {
        p.command(Side::A, Command::Dpd { ike: ia });
        p.run_for(Duration::from_secs(1));
    }
    let reqs = sent_by(&p, Side::A, false);
    assert!(reqs.iter().any(|r| r.0 == 9), "{reqs:?}");
    let b_addr = std::net::SocketAddr::new(ip(B_ADDR), 500);
    let a_addr = std::net::SocketAddr::new(ip(A_ADDR), 500);
    let info_before = format!("{:?}", p.b.engine.sa_info());
    let kernel_before = format!("{:?}", p.b.kernel.sas.keys().collect::<Vec<_>>());
    let up_before = p.b.engine.established();
    // Answers to 2..=5 are forgotten (A has sent 9, so it had them); a
    // replay of any of them is dropped without an answer or any change.
    for id in 2..=5u32 {
        let (_, _, req) = reqs.iter().find(|r| r.0 == id).unwrap();
        let now = p.now;
        p.b.engine.handle_datagram(now, b_addr, a_addr, req);
        assert!(p.b.engine.poll_transmit().is_none(), "answered replay {id}");
        assert!(p.b.engine.poll_kernel_request().is_none());
        assert!(p.b.engine.poll_event().is_none());
    }
    // 6..=9 are still cached.
    let (_, _, req) = reqs.iter().find(|r| r.0 == 6).unwrap();
    let now = p.now;
    p.b.engine.handle_datagram(now, b_addr, a_addr, req);
    assert!(p.b.engine.poll_transmit().is_some());
    assert_eq!(format!("{:?}", p.b.engine.sa_info()), info_before);
    assert_eq!(
        format!("{:?}", p.b.kernel.sas.keys().collect::<Vec<_>>()),
        kernel_before
    );
    assert_eq!(p.b.engine.established(), up_before);
    // And the SA still works.
    p.command(Side::A, Command::Dpd { ike: ia });
    p.run_for(Duration::from_secs(1));
    assert_eq!(sent_by(&p, Side::B, true).last().unwrap().0, 10);
}

#[test]
fn lost_answers_are_retransmitted_per_request_and_give_up_deletes_the_sa() {
    let mut p = windowed(4, 4, 17);
    initiate_children(&mut p, 4);
    p.run_for(Duration::from_secs(5));
    assert_eq!(children(&p, Side::A).len(), 4);
    // The network dies while A rekeys all four children at once.
    let ia = p.a.engine.established()[0];
    p.loss = 1.0;
    for (spi_in, _) in children(&p, Side::A) {
        p.rekey_child(Side::A, ia, spi_in);
    }
    p.run_for(Duration::from_secs(120));
    // Each of the four was retransmitted on its own timer until A gave up.
    let reqs = sent_by(&p, Side::A, false);
    for id in 6..=9u32 {
        let n = reqs.iter().filter(|r| r.0 == id).count();
        assert_eq!(n, 6, "request {id} sent {n} times");
    }
    assert_eq!(p.a.engine.ike_sa_count(), 0);
    assert!(p.a.kernel.installed().is_empty());
    assert_eq!(p.a.kernel.larval(), 0, "SPIs of the unanswered rekeys");
    assert!(p.a.kernel.policies.is_empty());
}
