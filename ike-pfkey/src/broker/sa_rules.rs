//! What an SA of a configured policy may carry (issue 16).
//!
//! `allow` decides whether an SA lies between a configured policy's
//! addresses; this module decides whether its contents are that policy's:
//! a compromised ike-net that may install SAs at all must not be able to
//! install one with NULL encryption, a short key, no anti-replay, no expiry,
//! or UDP encapsulation to ports of its choosing. Each rule below says why.

use super::algs::{encryption_key_bits, integrity_key_bits};
use ike_ipc::config::{SaRules, Suite};
use ike_ipc::msg::pfkey::{BrokerSaParams, NatT, SaLifetime};
use std::net::IpAddr;

/// The NAT-T port when the parent names none (RFC 3948 2.1).
pub const DEFAULT_NATT_PORT: u16 = 4500;

/// Anti-replay windows below this are refused. RFC 4303 3.4.3 asks every
/// implementation to support 32 packets and recommends 64 (the engine's
/// fixed window); 0 turns anti-replay off, which a compromised worker would
/// want so that captured packets can be replayed into the tunnel.
pub const MIN_REPLAY_WINDOW: u32 = 32;

/// Lifetimes may exceed the configured ones by this fraction (10 %), never
/// more: ike-net sends the configured hard limit and 90 % of it as the soft
/// one; the margin leaves room for rounding and a later jitter, while an SA
/// that never expires keeps one set of keys in use without end.
pub const LIFETIME_MARGIN_DIVISOR: u64 = 10;

/// The configured limit plus the margin; a configured 0 counts as 1 so
/// that the limit itself is never "unlimited".
fn with_margin(configured: u64) -> u64 {
    let c = configured.max(1);
    c.saturating_add(c / LIFETIME_MARGIN_DIVISOR)
}

/// Soft and hard lifetime of one kind (seconds or bytes): both set (0 is
/// "no limit" in PF_KEY, RFC 2367 2.3.2), soft not after hard, hard
/// within the configured limit and its margin.
fn lifetime_ok(what: &str, soft: u64, hard: u64, configured: u64) -> Result<(), String> {
    let max = with_margin(configured);
    if hard == 0 || soft == 0 {
        return Err(format!(
            "{what} lifetime unlimited (soft {soft}, hard {hard})"
        ));
    }
    if soft > hard {
        return Err(format!("soft {what} lifetime {soft} after the hard {hard}"));
    }
    if hard > max {
        return Err(format!(
            "hard {what} lifetime {hard} above the configured {configured} plus 10 %"
        ));
    }
    Ok(())
}

fn lifetimes_ok(r: &SaRules, soft: &SaLifetime, hard: &SaLifetime) -> Result<(), String> {
    lifetime_ok("time", soft.seconds, hard.seconds, r.max_seconds)?;
    lifetime_ok("byte", soft.bytes, hard.bytes, r.max_bytes)
}

/// The key lengths the kernel gets must be the algorithm's: a shorter key
/// would weaken it, a longer one is not what was negotiated.
fn keys_ok(p: &BrokerSaParams) -> Result<(), String> {
    let enc_len = p
        .encryption
        .map_or(0, |e| usize::from(encryption_key_bits(e) / 8));
    if p.enc_key.len() != enc_len {
        return Err(format!(
            "encryption key of {} bytes, {:?} takes {enc_len}",
            p.enc_key.len(),
            p.encryption
        ));
    }
    let auth_len = p
        .integrity
        .map_or(0, |i| usize::from(integrity_key_bits(i) / 8));
    if p.auth_key.len() != auth_len {
        return Err(format!(
            "integrity key of {} bytes, {:?} takes {auth_len}",
            p.auth_key.len(),
            p.integrity
        ));
    }
    Ok(())
}

/// UDP encapsulation: our end must be our NAT-T port (the socket the parent
/// bound, which the kernel's ESP-in-UDP decapsulation sits on), the peer's
/// end any port but 0. The peer's port is what its NAT chose and only ike-net
/// saw it, so the broker cannot check it further (DESIGN.md 2).
/// `ours_is_src`/`ours_is_dst`: which end(s) the configured policy says is
/// local (both when the policy names no local address).
pub fn natt_ok(n: NatT, natt_port: u16, ours_is_src: bool, ours_is_dst: bool) -> bool {
    let ok_src = ours_is_src && n.sport == natt_port && n.dport != 0;
    let ok_dst = ours_is_dst && n.dport == natt_port && n.sport != 0;
    ok_src || ok_dst
}

/// Does `p` carry what `r` permits? `Err` says what it does not.
pub fn check(
    r: &SaRules,
    p: &BrokerSaParams,
    natt_port: u16,
    local_end: impl Fn(IpAddr) -> bool,
) -> Result<(), String> {
    let suite = Suite {
        encryption: p.encryption,
        integrity: p.integrity,
        esn: p.esn,
    };
    if !r.suites.contains(&suite) {
        return Err(format!(
            "{:?} / {:?} / esn {} is in none of the policy's child proposals",
            p.encryption, p.integrity, p.esn
        ));
    }
    keys_ok(p)?;
    if p.replay_window < MIN_REPLAY_WINDOW {
        return Err(format!(
            "replay window {} below {MIN_REPLAY_WINDOW}",
            p.replay_window
        ));
    }
    lifetimes_ok(r, &p.soft, &p.hard)?;
    if let Some(n) = p.natt {
        if !natt_ok(n, natt_port, local_end(p.id.src), local_end(p.id.dst)) {
            return Err(format!(
                "UDP encapsulation {} -> {}: our end must be port {natt_port}",
                n.sport, n.dport
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ike_ipc::config::{Encryption, Integrity};

    fn rules() -> SaRules {
        SaRules {
            suites: vec![
                Suite {
                    encryption: Some(Encryption::Aes128Cbc),
                    integrity: Some(Integrity::HmacSha1),
                    esn: false,
                },
                Suite {
                    encryption: Some(Encryption::Aes256Gcm16),
                    integrity: None,
                    esn: false,
                },
            ],
            max_seconds: 3600,
            max_bytes: 1 << 30,
        }
    }

    #[test]
    fn lifetimes_are_bounded_and_never_unlimited() {
        let r = rules();
        let lt = |s, b| SaLifetime {
            seconds: s,
            bytes: b,
            packets: 0,
        };
        assert!(lifetimes_ok(&r, &lt(3240, 900), &lt(3600, 1000)).is_ok());
        assert!(
            lifetimes_ok(&r, &lt(3240, 900), &lt(3960, 1000)).is_ok(),
            "margin"
        );
        assert!(lifetimes_ok(&r, &lt(3240, 900), &lt(3961, 1000)).is_err());
        assert!(lifetimes_ok(&r, &lt(0, 900), &lt(3600, 1000)).is_err());
        assert!(lifetimes_ok(&r, &lt(3240, 900), &lt(3600, 0)).is_err());
        assert!(lifetimes_ok(&r, &lt(3601, 900), &lt(3600, 1000)).is_err());
        assert!(lifetimes_ok(&r, &lt(3240, 900), &lt(3600, (1 << 30) * 2)).is_err());
    }

    #[test]
    fn natt_our_end_is_the_natt_port() {
        let n = |s, d| NatT { sport: s, dport: d };
        assert!(natt_ok(n(4500, 40000), 4500, true, false));
        assert!(natt_ok(n(40000, 4500), 4500, false, true));
        assert!(!natt_ok(n(40000, 4500), 4500, true, false), "ours is src");
        assert!(!natt_ok(n(4500, 0), 4500, true, false));
        assert!(!natt_ok(n(500, 4500), 4501, true, true));
        assert!(natt_ok(n(500, 4501), 4501, true, true));
    }
}
