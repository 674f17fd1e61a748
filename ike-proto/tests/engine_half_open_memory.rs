//! Memory per half-open IKE SA on the responder, measured with a counting
//! allocator: N scripted initiators from distinct addresses each send one
//! IKE_SA_INIT and go away; the responder's growth in live heap bytes,
//! divided by N, is the figure `Config::max_half_open` is sized by
//! (docs/DESIGN.md, "Hostile input").
//!
//! `ENGINE_HALF_OPEN_SAS` sets N (default 2000). Run with `--nocapture`
//! to see the figure.

mod counting_alloc;

mod hostile_common;

use hostile_common::*;

#[test]
fn bytes_per_half_open_sa() {
    let n: u64 = std::env::var("ENGINE_HALF_OPEN_SAS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let mut cfg = responder_config();
    cfg.cookie_threshold = usize::MAX;
    cfg.max_half_open = usize::MAX;
    cfg.max_half_open_per_source = usize::MAX;
    cfg.max_half_open_per_prefix = usize::MAX;
    let mut r = Responder::new(cfg);
    let before = counting_alloc::live();
    for k in 0..n {
        let addr = format!("10.{}.{}.{}", (k >> 16) & 0xff, (k >> 8) & 0xff, k & 0xff);
        let mut i = Initiator::new(&addr, 0x1000 + k);
        let out = r.feed(i.addr, &i.init(None));
        assert_eq!(out.len(), 1);
    }
    let grown = counting_alloc::live() - before;
    assert_eq!(r.engine.half_open_count(), n as usize);
    let per = grown as f64 / n as f64;
    println!("{n} half-open IKE SAs: {per:.0} bytes each on the responder");
    // What the default cap is sized by (4096 x this); see docs/DESIGN.md.
    assert!(per < 6144.0, "{per} bytes per half-open SA");
}
