//! Issue 12 end to end: many child SAs between two complete daemons, each
//! over its own pfkey-sim. The daemon used to die within about 10 s once a
//! few hundred child SAs existed (every child SA's counters were polled
//! every 10 s over the non-blocking broker channel, and what did not fit
//! was dropped, until ike-pfkey gave up). Here 1,000 tunnels
//! (`IKE_SCALE_TUNNELS` to change it) come up and stay up past several of
//! those 10 s rounds, `show sa` lists every one with the kernel's counters,
//! and both simulated kernels hold every SA.

mod common;
#[macro_use]
mod e2e_util;

use e2e_util::{Daemon, ALICE, BOB};
use std::time::{Duration, Instant};

const PSK: &str = "scale test pre-shared key";

fn tunnels() -> u32 {
    std::env::var("IKE_SCALE_TUNNELS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

/// Policy `i`: its own pair of host subnets between the two daemons.
fn conf(me: &str, peer: &str, active: bool, alice: bool, n: u32) -> String {
    let mut s = String::new();
    for i in 0..n {
        let (a, b) = (i >> 8, i & 0xff);
        // Policies between the same two addresses are told apart by
        // their identities.
        let (ours, theirs, srcid, dstid) = if alice {
            (
                format!("10.1.{a}.{b}/32"),
                format!("10.2.{a}.{b}/32"),
                format!("a{i}.example"),
                format!("b{i}.example"),
            )
        } else {
            (
                format!("10.2.{a}.{b}/32"),
                format!("10.1.{a}.{b}/32"),
                format!("b{i}.example"),
                format!("a{i}.example"),
            )
        };
        s.push_str(&format!(
            "ikev2 \"t{i}\" {} esp tunnel from {ours} to {theirs} local {me} peer {peer} \
             ikesa enc aes-256-gcm prf hmac-sha2-256 group curve25519 \
             childsa enc aes-256 auth hmac-sha2-512 \
             srcid \"{srcid}\" dstid \"{dstid}\" psk \"{PSK}\"\n",
            if active { "active" } else { "passive" },
        ));
    }
    s
}

fn stats(d: &Daemon) -> serde_json::Value {
    serde_json::from_str(&d.ctl(&["show", "stats", "--json"])).unwrap()
}

#[test]
fn a_thousand_tunnels_come_up_and_stay_up() {
    require_root!();
    let n = tunnels();
    let ports = common::free_ports();
    let mut bob = Daemon::start("scale-bob", BOB, &conf(BOB, ALICE, false, false, n), ports);
    let mut alice = Daemon::start(
        "scale-alice",
        ALICE,
        &conf(ALICE, BOB, true, true, n),
        ports,
    );
    let t0 = Instant::now();
    let limit = Duration::from_secs(20 + u64::from(n) / 10);
    loop {
        let (a, b) = (stats(&alice), stats(&bob));
        if a["child_sas"] == n && b["child_sas"] == n {
            break;
        }
        assert!(
            t0.elapsed() < limit,
            "after {:?}: alice {a}, bob {b}\n{}",
            t0.elapsed(),
            alice.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let up = t0.elapsed();
    eprintln!("{n} tunnels up in {up:?}");
    // Two of the old 10 s polling rounds.
    std::thread::sleep(Duration::from_secs(22));
    for d in [&mut alice, &mut bob] {
        let st = stats(d);
        assert_eq!(st["child_sas"], n, "{}: {st}", d.name);
        assert_eq!(st["ike_sas"], n, "{}: {st}", d.name);
        let sa = d.show_sa();
        let list = sa["ike_sas"].as_array().unwrap();
        assert_eq!(list.len(), n as usize);
        for ike in list {
            let c = &ike["children"][0];
            assert!(
                c["bytes_in"].is_u64() && c["bytes_out"].is_u64(),
                "{}: no counters: {ike}",
                d.name
            );
        }
        let kernel = d.kernel();
        let sad = kernel["sad"].as_array().map_or(0, Vec::len);
        assert_eq!(sad, 2 * n as usize, "{}: SAD of {sad}", d.name);
        let log = d.log();
        for bad in [
            "temporarily unavailable",
            "fail closed",
            "closed by",
            "refused request",
            "kernel refused an SA",
            "did not all arrive",
        ] {
            assert!(!log.contains(bad), "{}: '{bad}' in the log", d.name);
        }
        assert!(d.parent.as_mut().unwrap().try_wait().unwrap().is_none());
    }
    assert_eq!(alice.sigterm().code(), Some(0));
    assert_eq!(bob.sigterm().code(), Some(0));
}
