//! Arbitrary bytes from a PF_KEY client into the simulated key engine (the
//! three dialects it speaks, each with its parser rules), then a trigger and
//! the clock: no panic.
#![no_main]

use ike_pfkey::dialect::Dialect;
use ike_pfkey::sim::{SimKernel, SimConfig};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    for d in [Dialect::Linux, Dialect::FreeBsd, Dialect::OpenBsd] {
        let mut e = SimKernel::new(SimConfig::for_dialect(d), now);
        let c = e.connect();
        let mut rest = data;
        while rest.len() >= 16 {
            let words = usize::from(u16::from_ne_bytes([rest[4], rest[5]])).max(2);
            let n = (words * 8).min(rest.len());
            let _ = e.handle_as(c, Some(500), &rest[..n], now);
            rest = &rest[n..];
        }
        let _ = e.trigger(
            "10.1.0.1".parse().unwrap(),
            "10.2.0.1".parse().unwrap(),
            now,
        );
        let _ = e.next_deadline();
        let _ = e.tick(now + Duration::from_secs(100_000));
        let _ = e.show_sad(now);
        let _ = e.show_spd();
        let _ = e.show_json(now);
    }
});
