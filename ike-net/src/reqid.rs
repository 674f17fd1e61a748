//! One kernel reqid per CHILD_SA.
//!
//! A reqid ties a KAME policy (level UNIQUE) to the SAs carrying the same
//! reqid: without it (level REQUIRE, reqid 0) the kernel takes any SA between
//! the tunnel ends. Two clients behind one NAT share their outer address, so
//! with reqid 0 the kernel sent one client's packets through the other's SA
//! (issue 13). Linux af_key `parse_ipsecrequest()`: UNIQUE with a reqid up to
//! IPSEC_MANUAL_REQID_MAX (0x3fff) keeps it; FreeBSD likewise.
//!
//! A CHILD_SA's binding is (our address, the peer's address, our selector,
//! the peer's selector): a rekeyed CHILD_SA has the same one and so keeps its
//! reqid, which lets the kernel policies stay while the SAs change under them.
//! Numbers are handed out round-robin so that a freed reqid is not reused at
//! once while the kernel may still hold an SA of the old child.
//!
//! Trap policies (an active policy's selectors, kept in the kernel while no
//! CHILD_SA exists) are the exception: a CHILD_SA negotiated inside them
//! (narrowed) installs no policy of its own, so its SAs carry the trap
//! policy's reqid, or the trap would never find them.

use ike_proto::engine::TrafficSelector;
use std::collections::HashMap;
use std::net::IpAddr;

/// The largest reqid Linux and FreeBSD keep (IPSEC_MANUAL_REQID_MAX); above it
/// they silently pick their own and the policy no longer finds our SAs.
pub const MAX_REQID: u32 = 0x3fff;

/// At most this many GETSPI reqids remembered for UPDATE (see `larval`).
const MAX_LARVAL: usize = 1024;

/// (our address, peer address, our selector, peer selector).
pub type BindingKey = (IpAddr, IpAddr, TrafficSelector, TrafficSelector);

#[derive(Debug)]
pub struct Reqids {
    by_child: HashMap<BindingKey, u32>,
    /// The reqid a GETSPI used, by (our address, SPI): FreeBSD's UPDATE wants
    /// the larval SA's reqid back, so a new binding adopts it.
    larval: HashMap<(IpAddr, u32), u32>,
    /// The configured selectors of trap policies.
    traps: Vec<BindingKey>,
    next: u32,
    /// How many entries of `by_child` and `larval` hold each reqid, so that
    /// finding a free one does not walk every child (it did, twice per new
    /// CHILD_SA: 9 % of ike-net's time at 10,000 children, issue 12).
    held: HashMap<u32, u32>,
    /// Per (our address, peer address): how many `by_child` entries, and
    /// the sum of their reqids (the reqid itself when there is one), so that
    /// GETSPI does not walk every child (issue 12: with the full-reqid
    /// scan below, 0.25 instead of 0.10 ms per handshake at 20,000 children).
    pairs: HashMap<(IpAddr, IpAddr), (u32, u64)>,
}

impl Default for Reqids {
    fn default() -> Self {
        Reqids {
            by_child: HashMap::new(),
            larval: HashMap::new(),
            traps: Vec::new(),
            next: 1,
            held: HashMap::new(),
            pairs: HashMap::new(),
        }
    }
}

impl Reqids {
    fn in_use(&self, r: u32) -> bool {
        self.held.contains_key(&r)
    }

    fn hold(&mut self, r: u32) {
        *self.held.entry(r).or_insert(0) += 1;
    }

    fn unhold(&mut self, r: u32) {
        if let Some(n) = self.held.get_mut(&r) {
            *n -= 1;
            if *n == 0 {
                self.held.remove(&r);
            }
        }
    }

    /// `by_child[key] = r`, with the per-pair index.
    fn bind(&mut self, key: BindingKey, r: u32) {
        let e = self.pairs.entry((key.0, key.1)).or_insert((0, 0));
        e.0 += 1;
        e.1 += u64::from(r);
        if let Some(old) = self.by_child.insert(key, r) {
            self.unbound(&key, old);
        }
    }

    /// `key` (bound to `r`) left `by_child`: the per-pair index follows.
    fn unbound(&mut self, key: &BindingKey, r: u32) {
        if let Some(e) = self.pairs.get_mut(&(key.0, key.1)) {
            e.0 -= 1;
            e.1 -= u64::from(r);
            if e.0 == 0 {
                self.pairs.remove(&(key.0, key.1));
            }
        }
    }

    /// A number no binding holds, or 0 (no binding: level REQUIRE) if all
    /// 16383 are taken, which is logged.
    fn fresh(&mut self) -> u32 {
        // Every number held: say so at once instead of trying each of them
        // for every new child beyond the 16383rd.
        if self.held.len() >= MAX_REQID as usize {
            log::warn!("all {MAX_REQID} kernel reqids in use: this CHILD_SA gets no own binding");
            return 0;
        }
        for _ in 0..MAX_REQID {
            let r = self.next;
            self.next = if r >= MAX_REQID { 1 } else { r + 1 };
            if !self.in_use(r) {
                return r;
            }
        }
        log::warn!("all {MAX_REQID} kernel reqids in use: this CHILD_SA gets no own binding");
        0
    }

    /// The reqid of this CHILD_SA, allocated on first use. `larval` is the
    /// (our address, SPI) of an inbound SA whose GETSPI chose a reqid.
    pub fn of_child(&mut self, key: BindingKey, larval: Option<(IpAddr, u32)>) -> u32 {
        let adopted = larval.and_then(|l| self.larval.remove(&l));
        if let Some(r) = adopted {
            self.unhold(r);
        }
        if let Some(r) = self.by_child.get(&key) {
            return *r;
        }
        let trap = self.traps.iter().copied().find(|t| {
            *t != key
                && (t.0, t.1) == (key.0, key.1)
                && key.2.is_subset_of(&t.2)
                && key.3.is_subset_of(&t.3)
        });
        if let Some(t) = trap {
            return self.of_child(t, None);
        }
        let r = match adopted {
            Some(r) if r != 0 && !self.in_use(r) => r,
            _ => self.fresh(),
        };
        if r != 0 {
            self.bind(key, r);
            self.hold(r);
        }
        r
    }

    /// For GETSPI, which knows only the addresses: the reqid of the one
    /// child between them (a rekey), else a fresh one that the child's
    /// UPDATE adopts ([`Reqids::of_child`]).
    pub fn for_getspi(&mut self, local: IpAddr, peer: IpAddr) -> u32 {
        match self.pairs.get(&(local, peer)) {
            // One child: the sum of one reqid is that reqid (< 2^14).
            Some(&(1, sum)) => sum as u32,
            _ => self.fresh(),
        }
    }

    /// MOBIKE moved this CHILD_SA to new addresses (ours, the peer's): its
    /// reqid goes with it, since its kernel SAs and policies keep it.
    pub fn relocate(&mut self, old: BindingKey, to: (IpAddr, IpAddr)) {
        if let Some(r) = self.by_child.remove(&old) {
            self.unbound(&old, r);
            self.bind((to.0, to.1, old.2, old.3), r);
        }
    }

    /// The trap policies of the configuration (see the module comment).
    pub fn set_traps(&mut self, traps: Vec<BindingKey>) {
        self.traps = traps;
    }

    /// Remember which reqid the GETSPI that reserved `spi` used.
    pub fn getspi_done(&mut self, local: IpAddr, spi: u32, reqid: u32) {
        if self.larval.len() >= MAX_LARVAL {
            // Replies for SPIs never used (failed negotiations): forget them.
            for r in std::mem::take(&mut self.larval).into_values() {
                self.unhold(r);
            }
        }
        if reqid != 0 {
            if let Some(old) = self.larval.insert((local, spi), reqid) {
                self.unhold(old);
            }
            self.hold(reqid);
        }
    }

    /// The SA with this SPI went away before UPDATE.
    pub fn forget_larval(&mut self, local: IpAddr, spi: u32) {
        if let Some(r) = self.larval.remove(&(local, spi)) {
            self.unhold(r);
        }
    }

    /// The CHILD_SAs with these selectors left the kernel (both policies
    /// deleted): their reqids are free again.
    pub fn release(&mut self, local_ts: &TrafficSelector, remote_ts: &TrafficSelector) {
        let mut freed = Vec::new();
        self.by_child.retain(|k, r| {
            let keep = !(k.2 == *local_ts && k.3 == *remote_ts);
            if !keep {
                freed.push((*k, *r));
            }
            keep
        });
        for (k, r) in freed {
            self.unbound(&k, r);
            self.unhold(r);
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_child.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    fn key(peer: &str, remote: &str) -> BindingKey {
        (
            ip("192.0.2.1"),
            ip(peer),
            TrafficSelector::prefix(ip("10.2.0.0"), 24).unwrap(),
            TrafficSelector::prefix(ip(remote), 24).unwrap(),
        )
    }

    #[test]
    fn two_children_behind_one_nat_get_two_reqids() {
        let mut r = Reqids::default();
        // Same outer address (the NAT's), different inner networks.
        let a = r.of_child(key("198.51.100.7", "10.1.0.0"), None);
        let c = r.of_child(key("198.51.100.7", "10.3.0.0"), None);
        assert!(a != 0 && c != 0 && a != c, "{a} {c}");
        // A rekey of the first keeps its number.
        assert_eq!(r.of_child(key("198.51.100.7", "10.1.0.0"), None), a);
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn update_adopts_the_getspi_reqid_of_a_new_child() {
        let mut r = Reqids::default();
        let (local, peer) = (ip("192.0.2.1"), ip("198.51.100.7"));
        let g = r.for_getspi(local, peer);
        r.getspi_done(local, 0x1234, g);
        let child = r.of_child(key("198.51.100.7", "10.1.0.0"), Some((local, 0x1234)));
        assert_eq!(child, g);
        // The next GETSPI between these ends (a rekey) reuses it ...
        assert_eq!(r.for_getspi(local, peer), g);
        // ... but with two children between them it cannot tell: a fresh one.
        let other = r.of_child(key("198.51.100.7", "10.3.0.0"), None);
        let g2 = r.for_getspi(local, peer);
        assert!(g2 != g && g2 != other);
    }

    /// A CHILD_SA narrowed inside a trap policy's selectors carries the
    /// trap's reqid (it installs no policy of its own); one outside them, or
    /// between other ends, gets its own.
    #[test]
    fn narrowed_children_of_a_trap_policy_share_its_reqid() {
        let mut r = Reqids::default();
        let wide = (
            ip("192.0.2.1"),
            ip("198.51.100.7"),
            TrafficSelector::prefix(ip("10.2.0.0"), 16).unwrap(),
            TrafficSelector::prefix(ip("10.1.0.0"), 16).unwrap(),
        );
        r.set_traps(vec![wide]);
        let trap = r.of_child(wide, None);
        let mut narrow = wide;
        narrow.2 = TrafficSelector::prefix(ip("10.2.3.0"), 24).unwrap();
        narrow.3 = TrafficSelector::host(ip("10.1.0.9"));
        assert_eq!(r.of_child(narrow, None), trap);
        let mut outside = narrow;
        outside.3 = TrafficSelector::host(ip("10.9.0.9"));
        assert_ne!(r.of_child(outside, None), trap);
        let mut elsewhere = narrow;
        elsewhere.1 = ip("198.51.100.8");
        assert_ne!(r.of_child(elsewhere, None), trap);
    }

    /// The count of holders per reqid stays what walking both maps gives,
    /// through adoption, release, forgotten and cleared larval SPIs.
    #[test]
    fn the_held_index_matches_the_maps() {
        let mut r = Reqids::default();
        let local = ip("192.0.2.1");
        let check = |r: &Reqids| {
            let mut want: HashMap<u32, u32> = HashMap::new();
            for v in r.by_child.values().chain(r.larval.values()) {
                *want.entry(*v).or_insert(0) += 1;
            }
            assert_eq!(r.held, want);
            let mut pairs: HashMap<(IpAddr, IpAddr), (u32, u64)> = HashMap::new();
            for (k, v) in &r.by_child {
                let e = pairs.entry((k.0, k.1)).or_insert((0, 0));
                e.0 += 1;
                e.1 += u64::from(*v);
            }
            assert_eq!(r.pairs, pairs);
        };
        for n in 0..3000u32 {
            let peer = IpAddr::V4(std::net::Ipv4Addr::from(0xc633_6400 + n % 50));
            let g = r.for_getspi(local, peer);
            r.getspi_done(local, n, g);
            let mut k = key("198.51.100.7", "10.1.0.0");
            k.1 = peer;
            k.3 = TrafficSelector::host(IpAddr::V4(std::net::Ipv4Addr::from(n)));
            match n % 4 {
                0 => r.forget_larval(local, n),
                1 => {
                    r.of_child(k, Some((local, n)));
                }
                2 => {
                    r.of_child(k, Some((local, n)));
                    r.release(&k.2, &k.3);
                }
                _ => {}
            }
            if n % 97 == 0 {
                check(&r);
            }
        }
        check(&r);
    }

    #[test]
    fn released_numbers_are_not_reused_at_once_and_all_run_out() {
        let mut r = Reqids::default();
        let k = key("198.51.100.7", "10.1.0.0");
        let first = r.of_child(k, None);
        r.release(&k.2, &k.3);
        assert_eq!(r.len(), 0);
        let second = r.of_child(k, None);
        assert_ne!(first, second, "round-robin, not the freed one");
        for n in 0..MAX_REQID - 1 {
            let mut k = key("198.51.100.7", "10.1.0.0");
            k.1 = IpAddr::V4(std::net::Ipv4Addr::from(n));
            assert_ne!(r.of_child(k, None), 0, "{n}");
        }
        let extra = key("198.51.100.8", "10.9.0.0");
        assert_eq!(r.of_child(extra, None), 0, "16383 in use: no binding");
    }
}
