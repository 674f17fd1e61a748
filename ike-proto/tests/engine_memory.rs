//! Memory per established IKE SA with one CHILD_SA, measured with a
//! counting allocator on the responder: N initiators (one fresh engine
//! each, dropped afterwards) each set up one IKE SA with one child; the
//! responder's growth in live heap bytes, divided by N, is the figure.
//!
//! `ENGINE_MEM_SAS` sets N (default 2000; the note quotes a release run
//! with 100000). Run with `--nocapture` to see the figure.

mod counting_alloc;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use ike_proto::engine::*;

fn ts(net: &str) -> TrafficSelector {
    TrafficSelector::prefix(net.parse().unwrap(), 24).unwrap()
}

/// Answers kernel requests at once; keeps nothing.
fn kernel(e: &mut Engine, now: Instant, next_spi: &mut u32) {
    while let Some(r) = e.poll_kernel_request() {
        let ev = match r {
            KernelRequest::AllocateSpi { request, .. } => {
                *next_spi += 1;
                Some(KernelEvent::SpiAllocated {
                    request,
                    spi: *next_spi,
                })
            }
            KernelRequest::UpdateSa(p) | KernelRequest::AddSa(p) => {
                Some(KernelEvent::Installed { request: p.request })
            }
            KernelRequest::AddPolicy(p) => Some(KernelEvent::Installed { request: p.request }),
            _ => None,
        };
        if let Some(ev) = ev {
            e.handle_kernel_event(now, ev);
        }
    }
}

#[test]
fn memory_per_established_ike_sa() {
    let n: u32 = std::env::var("ENGINE_MEM_SAS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let b_addr: IpAddr = "198.51.100.2".parse().unwrap();
    let mut pb = Policy::new("many", b_addr, b_addr);
    pb.peer_addr = None; // any initiator
    pb.local_id = Identity::fqdn("b.test");
    pb.peer_id = Identity::fqdn("a.test");
    pb.local_ts = vec![ts("10.2.0.0")];
    pb.peer_ts = vec![ts("10.1.0.0")];
    pb.start = StartAction::Passive;
    let now = Instant::now();
    let cfg = Config {
        policies: vec![Arc::new(pb)],
        credentials: Arc::new(KeyStore::new().with_psk("many", b"psk for the memory test")),
        cookie_threshold: usize::MAX,
        ..Config::default()
    };
    let mut b = Engine::new(cfg, Box::new(SeededRng::new(1)), now);
    let mut spi_b = 0xb000_0000u32;
    let one: Arc<dyn Credentials> =
        Arc::new(KeyStore::new().with_psk("one", b"psk for the memory test"));
    let before = counting_alloc::live();
    let sizes_before = counting_alloc::live_by_size();
    let t0 = Instant::now();
    for i in 0..n {
        let a_addr = IpAddr::V4(Ipv4Addr::from(0x0a00_0000u32 + i));
        let mut pa = Policy::new("one", a_addr, b_addr);
        pa.local_id = Identity::fqdn("a.test");
        pa.peer_id = Identity::fqdn("b.test");
        pa.local_ts = vec![ts("10.1.0.0")];
        pa.peer_ts = vec![ts("10.2.0.0")];
        // Distinct peers with one identity: no INITIAL_CONTACT, or each
        // new SA would replace the previous one.
        pa.initial_contact = false;
        let cfg = Config {
            policies: vec![Arc::new(pa)],
            credentials: one.clone(),
            ..Config::default()
        };
        let mut a = Engine::new(cfg, Box::new(SeededRng::new(u64::from(i) + 7)), now);
        let mut spi_a = 0xa000_0000u32;
        a.handle_command(
            now,
            Command::Initiate {
                policy: "one".into(),
            },
        );
        for _ in 0..8 {
            kernel(&mut a, now, &mut spi_a);
            while let Some(t) = a.poll_transmit() {
                b.handle_datagram(now, t.remote, t.local, &t.bytes);
            }
            kernel(&mut b, now, &mut spi_b);
            while let Some(t) = b.poll_transmit() {
                a.handle_datagram(now, t.remote, t.local, &t.bytes);
            }
        }
        assert_eq!(a.established().len(), 1, "handshake {i}");
        while b.poll_event().is_some() {}
        drop(a);
    }
    let elapsed = t0.elapsed();
    assert_eq!(b.established().len() as u32, n);
    assert_eq!(b.half_open_count(), 0);
    let after = counting_alloc::live();
    let per_sa = (after - before) as f64 / f64::from(n);
    // Heap profile: the allocation sizes that grew with the SAs, largest
    // share first (the note's "where the bytes go").
    let mut grown: Vec<(usize, f64)> = counting_alloc::live_by_size()
        .iter()
        .zip(&sizes_before)
        .enumerate()
        .map(|(size, (a, b))| (size, (a - b) as f64 / f64::from(n)))
        .filter(|(_, per)| *per >= 0.05)
        .collect();
    grown.sort_by(|x, y| (y.0 as f64 * y.1).total_cmp(&(x.0 as f64 * x.1)));
    for (size, per) in grown.iter().take(16) {
        eprintln!(
            "  {size:>5} B x {per:.2} per SA = {:.0} B",
            *size as f64 * per
        );
    }
    eprintln!(
        "{n} IKE SAs with one child each: {:.0} bytes per SA on the responder; {:.1} µs per full handshake (both sides, this build)",
        per_sa,
        elapsed.as_secs_f64() * 1e6 / f64::from(n)
    );
    // Issue 12's goal is 2 KiB of RSS per IKE SA; the engine's own share,
    // with a child, was 3.5 kB and is 1.5 kB since the keys are kept raw
    // (rfc/engine-notes.md): stay under the goal.
    assert!(per_sa < 2048.0, "{per_sa} bytes per IKE SA");
    // Everything goes away with the SAs.
    let names: Vec<IkeSaId> = b.established();
    for ike in names {
        b.handle_command(now, Command::TerminateSa { ike });
    }
    assert_eq!(
        b.ike_sa_count() as u32,
        n,
        "deletes wait for the peers' answers"
    );
}
