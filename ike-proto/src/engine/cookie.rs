//! Stateless responder cookies (RFC 7296 2.6).
//!
//! When too many IKE SAs are half open, the responder answers an
//! IKE_SA_INIT without a valid cookie with only a COOKIE notify and keeps no
//! state at all. The cookie is `version | HMAC-SHA256(secret_version, Ni | IPi | SPIi)`:
//! the responder can recompute it from the retried request alone, and an
//! attacker who does not see our replies (spoofed source) cannot produce it.
//! The secret rotates so a captured cookie stops working after a while; the
//! previous secret is still accepted so that a cookie issued just before a
//! rotation works for its retry.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ring::hmac;

use super::rng::Rng;

/// Cookie length: one version byte plus the full HMAC-SHA256 output.
pub(crate) const COOKIE_LEN: usize = 1 + 32;

struct Secret {
    version: u8,
    key: hmac::Key,
}

impl Secret {
    fn new(version: u8, rng: &mut dyn Rng) -> Self {
        let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
        rng.fill(&mut bytes[..]);
        // ring keeps its own copy of the key; ours is wiped on drop.
        Secret {
            version,
            key: hmac::Key::new(hmac::HMAC_SHA256, &bytes[..]),
        }
    }

    fn input(ni: &[u8], ip: IpAddr, spi_i: u64) -> Vec<u8> {
        let mut v = Vec::with_capacity(ni.len() + 16 + 8);
        v.extend_from_slice(ni);
        match ip {
            IpAddr::V4(a) => v.extend_from_slice(&a.octets()),
            IpAddr::V6(a) => v.extend_from_slice(&a.octets()),
        }
        v.extend_from_slice(&spi_i.to_be_bytes());
        v
    }
}

/// The responder's cookie secrets: the current one and its predecessor.
pub(crate) struct CookieJar {
    current: Secret,
    previous: Option<Secret>,
    rotated_at: Instant,
    interval: Duration,
}

impl CookieJar {
    pub(crate) fn new(now: Instant, interval: Duration, rng: &mut dyn Rng) -> Self {
        CookieJar {
            current: Secret::new(0, rng),
            previous: None,
            rotated_at: now,
            interval,
        }
    }

    /// Replaces the secret once `interval` has passed since the last rotation.
    pub(crate) fn maybe_rotate(&mut self, now: Instant, rng: &mut dyn Rng) {
        if now.saturating_duration_since(self.rotated_at) < self.interval {
            return;
        }
        let version = self.current.version.wrapping_add(1);
        let old = std::mem::replace(&mut self.current, Secret::new(version, rng));
        self.previous = Some(old);
        self.rotated_at = now;
    }

    /// The cookie for an IKE_SA_INIT with nonce `ni` and SPIi from `ip`.
    pub(crate) fn make(&self, ni: &[u8], ip: IpAddr, spi_i: u64) -> Vec<u8> {
        let tag = hmac::sign(&self.current.key, &Secret::input(ni, ip, spi_i));
        let mut c = Vec::with_capacity(COOKIE_LEN);
        c.push(self.current.version);
        c.extend_from_slice(tag.as_ref());
        c
    }

    /// Whether `cookie` was issued by us (current or previous secret) for
    /// exactly this nonce, address and SPI. Constant time in the tag.
    pub(crate) fn verify(&self, cookie: &[u8], ni: &[u8], ip: IpAddr, spi_i: u64) -> bool {
        let Some((&version, tag)) = cookie.split_first() else {
            return false;
        };
        let secret = if version == self.current.version {
            &self.current
        } else {
            match &self.previous {
                Some(p) if p.version == version => p,
                _ => return false,
            }
        };
        hmac::verify(&secret.key, &Secret::input(ni, ip, spi_i), tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::SeededRng;

    #[test]
    fn cookie_binds_nonce_address_and_spi() {
        let mut rng = SeededRng::new(3);
        let t0 = Instant::now();
        let jar = CookieJar::new(t0, Duration::from_secs(60), &mut rng);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let c = jar.make(b"nonce-nonce-nonce", ip, 42);
        assert_eq!(c.len(), COOKIE_LEN);
        assert!(jar.verify(&c, b"nonce-nonce-nonce", ip, 42));
        assert!(!jar.verify(&c, b"nonce-nonce-noncf", ip, 42));
        assert!(!jar.verify(&c, b"nonce-nonce-nonce", "192.0.2.2".parse().unwrap(), 42));
        assert!(!jar.verify(&c, b"nonce-nonce-nonce", ip, 43));
        assert!(!jar.verify(&[], b"nonce-nonce-nonce", ip, 42));
        let mut bad = c.clone();
        bad[10] ^= 1;
        assert!(!jar.verify(&bad, b"nonce-nonce-nonce", ip, 42));
    }

    #[test]
    fn rotation_keeps_one_previous_secret() {
        let mut rng = SeededRng::new(4);
        let t0 = Instant::now();
        let iv = Duration::from_secs(60);
        let mut jar = CookieJar::new(t0, iv, &mut rng);
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        let c0 = jar.make(b"n", ip, 1);
        jar.maybe_rotate(t0 + Duration::from_secs(10), &mut rng);
        assert_eq!(jar.make(b"n", ip, 1), c0, "no rotation before the interval");
        jar.maybe_rotate(t0 + iv, &mut rng);
        let c1 = jar.make(b"n", ip, 1);
        assert_ne!(c1, c0);
        assert!(
            jar.verify(&c0, b"n", ip, 1),
            "previous secret still accepted"
        );
        jar.maybe_rotate(t0 + iv * 2, &mut rng);
        assert!(!jar.verify(&c0, b"n", ip, 1), "two rotations old: refused");
        assert!(jar.verify(&c1, b"n", ip, 1));
    }
}
