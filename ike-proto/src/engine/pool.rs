//! Virtual-address pools and their leases (road-warrior gateway, RFC 7296
//! 2.19 and 3.15). Sans-IO: the engine calls it with SA handles and
//! identities; nothing here sends or sleeps.
//!
//! Rules, and why:
//! - a lease belongs to one IKE SA and goes with it (`release`): every way
//!   an SA ends (delete, expiry, DPD, failed authentication) passes
//!   through `Engine::remove_sa`, which calls `release`, so no path can
//!   leak an address;
//! - one address per peer identity and pool at a time: a client that
//!   reconnects under the same identity takes its address over from its
//!   older SA instead of draining the pool;
//! - memory is bounded: leases are at most one per IKE SA and family, the
//!   sticky memory holds at most `STICKY_MAX` identities, and no pool is
//!   ever enumerated (a free address is found within `leased + 1`
//!   candidates from a cursor).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use super::config::Identity;

/// Identities remembered for `set stickyaddress`, per pool.
pub const STICKY_MAX: usize = 4096;

/// `config address A` (one address) or `config address A/prefix` (a pool).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolSpec {
    pub addr: IpAddr,
    /// Host prefix (32 or 128) for a static address.
    pub prefix: u8,
}

impl PoolSpec {
    fn bits(&self) -> u8 {
        if self.addr.is_ipv4() {
            32
        } else {
            128
        }
    }

    fn base(&self) -> u128 {
        let host_bits = u32::from(self.bits() - self.prefix.min(self.bits()));
        let v = to_u128(self.addr);
        if host_bits >= 128 {
            0
        } else {
            v >> host_bits << host_bits
        }
    }

    /// The first lendable offset and how many there are. A static address
    /// is itself; in an IPv4 pool of more than two addresses the network
    /// and broadcast addresses are not lent (they are not host addresses);
    /// in an IPv6 pool the all-zero one is skipped (subnet-router anycast,
    /// RFC 4291 2.6.1).
    fn range(&self) -> (u128, u128) {
        if self.prefix >= self.bits() {
            return (to_u128(self.addr) - self.base(), 1);
        }
        let host_bits = u32::from(self.bits() - self.prefix);
        let size = if host_bits >= 128 {
            u128::MAX
        } else {
            1u128 << host_bits
        };
        match (self.addr.is_ipv4(), host_bits) {
            (true, 1) => (0, 2),
            (true, _) => (1, size - 2),
            (false, _) => (1, size - 1),
        }
    }

    pub fn contains(&self, a: IpAddr) -> bool {
        if a.is_ipv4() != self.addr.is_ipv4() {
            return false;
        }
        let (first, n) = self.range();
        let off = to_u128(a).wrapping_sub(self.base());
        to_u128(a) >= self.base() && off >= first && off - first < n
    }

    fn at(&self, offset: u128) -> IpAddr {
        from_u128(self.addr.is_ipv4(), self.base() + offset)
    }

    /// Number of addresses this spec lends.
    pub fn size(&self) -> u128 {
        self.range().1
    }
}

fn to_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(v4: bool, v: u128) -> IpAddr {
    if v4 {
        IpAddr::V4((v as u32).into())
    } else {
        IpAddr::V6(v.into())
    }
}

/// One address pool with its leases.
#[derive(Debug)]
struct Pool {
    spec: PoolSpec,
    /// Leased address -> (IKE SA handle, peer identity).
    leased: HashMap<IpAddr, (u64, Identity)>,
    /// Next candidate offset (relative to the first lendable one).
    cursor: u128,
    /// Identity -> the address it had last (`set stickyaddress`), FIFO
    /// bounded by `STICKY_MAX`.
    sticky: HashMap<Identity, IpAddr>,
    sticky_order: VecDeque<Identity>,
}

/// Why no address was lent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseError {
    /// Every address of the pool is leased.
    Exhausted,
}

/// Every pool of the engine, keyed by (policy name, spec).
#[derive(Debug, Default)]
pub struct Leases {
    pools: HashMap<(String, PoolSpec), Pool>,
    /// IKE SA handle -> the pools it holds an address of.
    by_sa: HashMap<u64, Vec<(String, PoolSpec)>>,
    /// Lease requests refused because a pool was empty.
    pub failures: u64,
}

impl Leases {
    /// Leases an address of `spec` (pool of policy `policy`) to IKE SA
    /// `sa` of peer `id`. The same SA asking again gets the same address.
    pub fn lease(
        &mut self,
        policy: &str,
        spec: PoolSpec,
        sticky: bool,
        sa: u64,
        id: &Identity,
    ) -> Result<IpAddr, LeaseError> {
        let key = (policy.to_string(), spec);
        let pool = self.pools.entry(key.clone()).or_insert_with(|| Pool {
            spec,
            leased: HashMap::new(),
            cursor: 0,
            sticky: HashMap::new(),
            sticky_order: VecDeque::new(),
        });
        // One address per identity: one it holds already (on this SA or an
        // older one of the same peer) is the one it gets.
        let held = pool
            .leased
            .iter()
            .find(|(_, (_, i))| i == id)
            .map(|(a, (h, _))| (*a, *h));
        let addr = if let Some((a, old)) = held {
            if old != sa {
                log::info!(
                    "pool {policy}: {a} moves from IKE SA {old:#x} to {sa:#x} (same peer identity)"
                );
                if let Some(v) = self.by_sa.get_mut(&old) {
                    v.retain(|k| *k != key);
                }
            }
            a
        } else {
            let remembered = sticky
                .then(|| pool.sticky.get(id).copied())
                .flatten()
                .filter(|a| spec.contains(*a) && !pool.leased.contains_key(a));
            match remembered.or_else(|| pool.next_free()) {
                Some(a) => a,
                None => {
                    self.failures += 1;
                    return Err(LeaseError::Exhausted);
                }
            }
        };
        pool.leased.insert(addr, (sa, id.clone()));
        if sticky {
            pool.remember(id, addr);
        }
        let held_by = self.by_sa.entry(sa).or_default();
        if !held_by.contains(&key) {
            held_by.push(key);
        }
        Ok(addr)
    }

    /// Gives back every address IKE SA `sa` holds.
    pub fn release(&mut self, sa: u64) -> Vec<IpAddr> {
        let mut freed = Vec::new();
        for key in self.by_sa.remove(&sa).unwrap_or_default() {
            if let Some(pool) = self.pools.get_mut(&key) {
                pool.leased.retain(|a, (h, _)| {
                    let mine = *h == sa;
                    if mine {
                        freed.push(*a);
                    }
                    !mine
                });
            }
        }
        freed
    }

    /// An IKE SA rekeyed (RFC 7296 2.18): its successor keeps the leases.
    pub fn rehome(&mut self, old: u64, new: u64) {
        let Some(keys) = self.by_sa.remove(&old) else {
            return;
        };
        for key in &keys {
            if let Some(pool) = self.pools.get_mut(key) {
                for (h, _) in pool.leased.values_mut() {
                    if *h == old {
                        *h = new;
                    }
                }
            }
        }
        self.by_sa.entry(new).or_default().extend(keys);
    }

    /// The addresses IKE SA `sa` holds.
    pub fn of_sa(&self, sa: u64) -> Vec<IpAddr> {
        let mut v: Vec<IpAddr> = self
            .by_sa
            .get(&sa)
            .into_iter()
            .flatten()
            .filter_map(|k| self.pools.get(k))
            .flat_map(|p| p.leased.iter().filter(|(_, (h, _))| *h == sa))
            .map(|(a, _)| *a)
            .collect();
        v.sort();
        v
    }

    /// Addresses leased now, over all pools.
    pub fn count(&self) -> usize {
        self.pools.values().map(|p| p.leased.len()).sum()
    }
}

impl Pool {
    fn next_free(&mut self) -> Option<IpAddr> {
        let (first, n) = self.spec.range();
        // At most `leased` candidates are taken, so one of the next
        // `leased + 1` is free if the pool is not full.
        let tries = (self.leased.len() as u128).saturating_add(1).min(n);
        for i in 0..tries {
            let off = (self.cursor.wrapping_add(i)) % n;
            let a = self.spec.at(first + off);
            if !self.leased.contains_key(&a) {
                self.cursor = off.wrapping_add(1) % n;
                return Some(a);
            }
        }
        None
    }

    fn remember(&mut self, id: &Identity, a: IpAddr) {
        if self.sticky.insert(id.clone(), a).is_none() {
            self.sticky_order.push_back(id.clone());
            if self.sticky_order.len() > STICKY_MAX {
                if let Some(old) = self.sticky_order.pop_front() {
                    self.sticky.remove(&old);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> PoolSpec {
        let (a, p) = s.split_once('/').unwrap();
        PoolSpec {
            addr: a.parse().unwrap(),
            prefix: p.parse().unwrap(),
        }
    }

    fn id(n: &str) -> Identity {
        Identity::fqdn(n)
    }

    #[test]
    fn a_pool_lends_host_addresses_until_full() {
        let s = spec("10.9.0.0/30"); // .1 and .2
        let mut l = Leases::default();
        let a = l.lease("p", s, false, 1, &id("a")).unwrap();
        let b = l.lease("p", s, false, 2, &id("b")).unwrap();
        assert_ne!(a, b);
        for x in [a, b] {
            assert!(["10.9.0.1", "10.9.0.2"].contains(&x.to_string().as_str()));
        }
        assert_eq!(
            l.lease("p", s, false, 3, &id("c")),
            Err(LeaseError::Exhausted)
        );
        assert_eq!(l.failures, 1);
        assert_eq!(l.release(1), vec![a]);
        assert_eq!(l.lease("p", s, false, 3, &id("c")), Ok(a));
        assert_eq!(l.count(), 2);
    }

    #[test]
    fn one_address_per_identity_moves_to_its_newer_sa() {
        let s = spec("10.9.0.0/24");
        let mut l = Leases::default();
        let a = l.lease("p", s, false, 1, &id("a")).unwrap();
        assert_eq!(l.lease("p", s, false, 1, &id("a")), Ok(a));
        assert_eq!(l.lease("p", s, false, 2, &id("a")), Ok(a));
        assert_eq!(l.count(), 1);
        // The old SA ending does not take the address from the new one.
        assert!(l.release(1).is_empty());
        assert_eq!(l.of_sa(2), vec![a]);
    }

    #[test]
    fn sticky_gives_the_same_address_back_when_free() {
        let s = spec("10.9.0.0/24");
        let mut l = Leases::default();
        let a = l.lease("p", s, true, 1, &id("a")).unwrap();
        l.release(1);
        let _b = l.lease("p", s, true, 2, &id("b")).unwrap();
        assert_eq!(l.lease("p", s, true, 3, &id("a")), Ok(a));
        // Without sticky the cursor moves on.
        let mut l = Leases::default();
        let a = l.lease("p", s, false, 1, &id("a")).unwrap();
        l.release(1);
        assert_ne!(l.lease("p", s, false, 2, &id("a")), Ok(a));
    }

    #[test]
    fn static_ipv6_and_rehome() {
        let st = spec("10.9.0.7/32");
        assert_eq!(st.size(), 1);
        let mut l = Leases::default();
        assert_eq!(
            l.lease("p", st, false, 1, &id("a")).unwrap().to_string(),
            "10.9.0.7"
        );
        assert!(l.lease("p", st, false, 2, &id("b")).is_err());
        let v6 = spec("fd00::/64");
        let a6 = l.lease("p", v6, false, 1, &id("a")).unwrap();
        assert_eq!(a6.to_string(), "fd00::1");
        assert!(v6.contains(a6) && !v6.contains("fd00::".parse().unwrap()));
        l.rehome(1, 9);
        assert!(l.of_sa(1).is_empty());
        assert_eq!(l.of_sa(9).len(), 2);
        assert_eq!(l.release(9).len(), 2);
        assert_eq!(l.count(), 0);
    }

    #[test]
    fn many_cycles_leak_nothing_and_sticky_memory_is_bounded() {
        let s = spec("10.9.0.0/29"); // 6 addresses
        let mut l = Leases::default();
        for i in 0..1000u64 {
            l.lease("p", s, true, i, &id(&format!("c{i}"))).unwrap();
            l.release(i);
        }
        assert_eq!(l.count(), 0);
        let pool = l.pools.values().next().unwrap();
        assert!(pool.sticky.len() <= STICKY_MAX && pool.sticky_order.len() <= STICKY_MAX);
        assert!(l.by_sa.is_empty());
    }
}
