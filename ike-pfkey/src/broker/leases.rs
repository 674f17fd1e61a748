//! Which virtual address is lent to which peer (issue 15): a policy whose
//! peer side lies in a `config address` pool is allowed only for an address
//! ike-net said it lent to that very peer (`NetToPfkey::Lease`).
//!
//! Why: a `from X to dynamic` policy's configured flow covers the whole
//! pool, so without this a compromised ike-net could point one client's
//! tunnel at another client's address (or at the whole pool) and receive
//! its traffic. With it, an address is tied to one peer at a time: lending
//! it again to another peer needs its release first, which ike-net sends
//! only when the IKE SA holding it ends. What remains: ike-net decides
//! which peer gets which address (it runs the negotiation).

use ike_ipc::config::IpNet;
use ike_ipc::msg::pfkey::{BrokerPolicyParams, PolicyDir};
use std::collections::HashMap;
use std::net::IpAddr;

/// At most this many addresses lent at once (kernel-independent memory
/// bound: a lease costs one map entry).
pub const MAX_LEASES: usize = 65_536;
/// At most this many addresses in one Lease message (one per family in
/// practice).
pub const MAX_ADDRS_PER_LEASE: usize = 4;

#[derive(Debug, Default)]
pub struct LeaseTable {
    /// Virtual address -> the peer (outer address) it is lent to.
    by_addr: HashMap<IpAddr, IpAddr>,
}

impl LeaseTable {
    /// ike-net lent (`lent`) or took back `addrs` for `peer`. Refused: an
    /// address outside every pool, one lent to another peer, or beyond the
    /// bounds. Taking back only removes what is lent to that peer.
    pub fn apply(
        &mut self,
        pools: &[IpNet],
        peer: IpAddr,
        addrs: &[IpAddr],
        lent: bool,
    ) -> Result<(), String> {
        if addrs.len() > MAX_ADDRS_PER_LEASE {
            return Err(format!("{} addresses in one lease", addrs.len()));
        }
        if !lent {
            for a in addrs {
                if self.by_addr.get(a) == Some(&peer) {
                    self.by_addr.remove(a);
                }
            }
            return Ok(());
        }
        for a in addrs {
            if !pools.iter().any(|p| p.contains(*a)) {
                return Err(format!("{a} is in no configured address pool"));
            }
            match self.by_addr.get(a) {
                Some(other) if *other != peer => {
                    return Err(format!("{a} is lent to {other} already"));
                }
                Some(_) => {}
                None if self.by_addr.len() >= MAX_LEASES => {
                    return Err(format!("{MAX_LEASES} addresses lent already"));
                }
                None => {}
            }
        }
        for a in addrs {
            self.by_addr.insert(*a, peer);
        }
        Ok(())
    }

    /// A policy whose peer-side selector lies in a pool must name one
    /// address lent to the peer at its tunnel's far end.
    pub fn check_policy(&self, pools: &[IpNet], p: &BrokerPolicyParams) -> Result<(), String> {
        let outbound = p.dir == PolicyDir::Out;
        let remote = if outbound { p.sel.dst } else { p.sel.src };
        let in_pool = pools.iter().any(|pool| pool.covers(&remote));
        if !in_pool {
            return Ok(());
        }
        let peer = p.tunnel.map(|(s, d)| if outbound { d } else { s });
        let lent_to = self.by_addr.get(&remote.addr);
        match (remote.is_host(), peer, lent_to) {
            (true, Some(peer), Some(to)) if *to == peer => Ok(()),
            (false, _, _) => Err(format!(
                "{remote} is (part of) an address pool: only one lent address is allowed"
            )),
            (_, None, _) => Err(format!("{remote} is in an address pool: tunnel mode only")),
            (_, Some(peer), Some(to)) => {
                Err(format!("{} is lent to {to}, not to {peer}", remote.addr))
            }
            (_, Some(peer), None) => {
                Err(format!("{} is lent to no one (peer {peer})", remote.addr))
            }
        }
    }

    /// MOBIKE moved the tunnel of installed policy `p` to `tunnel`: an
    /// address lent to the peer at the old far end is now lent to the peer
    /// at the new one. Why: the client is the same (the move was checked
    /// against its IKE SA and its installed policy), and ike-net names its
    /// current address when it gives the lease back; a lease left on the
    /// old address could never be given back, nor lent to anyone else.
    pub fn follow_move(&mut self, p: &BrokerPolicyParams, tunnel: (IpAddr, IpAddr)) {
        let outbound = p.dir == PolicyDir::Out;
        let remote = if outbound { p.sel.dst } else { p.sel.src };
        let far = |t: (IpAddr, IpAddr)| if outbound { t.1 } else { t.0 };
        let Some(old) = p.tunnel.map(far) else {
            return;
        };
        let new = far(tunnel);
        if !remote.is_host() || old == new {
            return;
        }
        if let Some(to) = self.by_addr.get_mut(&remote.addr) {
            if *to == old {
                *to = new;
                log::info!(
                    "lease: {} follows its peer from {old} to {new}",
                    remote.addr
                );
            }
        }
    }

    pub fn len(&self) -> usize {
        self.by_addr.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_addr.is_empty()
    }
}

/// A `NetToPfkey::Lease` from ike-net: recorded, or refused with a
/// warning (a refused lease leaves the table as it was, so the policies it
/// would have allowed are refused in turn).
pub fn record(
    allowed: &super::allow::AllowedSet,
    owned: &mut super::allow::Owned,
    peer: IpAddr,
    addrs: &[IpAddr],
    lent: bool,
) {
    match owned.leases.apply(&allowed.pools, peer, addrs, lent) {
        Ok(()) => log::info!(
            "lease: {addrs:?} {} {peer}",
            if lent { "lent to" } else { "given back by" }
        ),
        Err(why) => log::warn!("refused lease of {addrs:?} to {peer} from ike-net: {why}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{ip, policy};

    fn pools() -> Vec<IpNet> {
        vec![IpNet::new(ip("10.9.0.0"), 24).unwrap()]
    }

    #[test]
    fn an_address_is_lent_to_one_peer_at_a_time() {
        let mut t = LeaseTable::default();
        let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
        t.apply(&pools(), a, &[ip("10.9.0.1")], true).unwrap();
        assert!(t.apply(&pools(), b, &[ip("10.9.0.1")], true).is_err());
        assert!(t.apply(&pools(), a, &[ip("10.8.0.1")], true).is_err());
        // b cannot take back a's lease.
        t.apply(&pools(), b, &[ip("10.9.0.1")], false).unwrap();
        assert_eq!(t.len(), 1);
        t.apply(&pools(), a, &[ip("10.9.0.1")], false).unwrap();
        assert!(t.is_empty());
        t.apply(&pools(), b, &[ip("10.9.0.1")], true).unwrap();
    }

    #[test]
    fn policies_into_a_pool_need_the_lease_of_their_peer() {
        let mut t = LeaseTable::default();
        let ends = ("192.0.2.10", "192.0.2.1");
        let out = policy(PolicyDir::Out, "10.2.0.0/24", "10.9.0.1/32", ends);
        let inb = policy(
            PolicyDir::In,
            "10.9.0.1/32",
            "10.2.0.0/24",
            ("192.0.2.1", "192.0.2.10"),
        );
        assert!(t.check_policy(&pools(), &out).is_err());
        t.apply(&pools(), ip("192.0.2.1"), &[ip("10.9.0.1")], true)
            .unwrap();
        t.check_policy(&pools(), &out).unwrap();
        t.check_policy(&pools(), &inb).unwrap();
        // Toward another peer, or the whole pool: refused.
        let other = policy(
            PolicyDir::Out,
            "10.2.0.0/24",
            "10.9.0.1/32",
            ("192.0.2.10", "192.0.2.2"),
        );
        assert!(t.check_policy(&pools(), &other).is_err());
        let whole = policy(PolicyDir::Out, "10.2.0.0/24", "10.9.0.0/24", ends);
        assert!(t.check_policy(&pools(), &whole).is_err());
        // Outside the pools: not this module's business.
        let plain = policy(PolicyDir::Out, "10.2.0.0/24", "10.1.0.0/24", ends);
        t.check_policy(&pools(), &plain).unwrap();
    }

    #[test]
    fn a_lease_follows_its_client_when_mobike_moves_the_tunnel() {
        let mut t = LeaseTable::default();
        let out = policy(
            PolicyDir::Out,
            "10.2.0.0/24",
            "10.9.0.1/32",
            ("192.0.2.10", "192.0.2.1"),
        );
        t.apply(&pools(), ip("192.0.2.1"), &[ip("10.9.0.1")], true)
            .unwrap();
        t.follow_move(&out, (ip("192.0.2.10"), ip("198.51.100.7")));
        let mut moved = out;
        moved.tunnel = Some((ip("192.0.2.10"), ip("198.51.100.7")));
        t.check_policy(&pools(), &moved).unwrap();
        assert!(t.check_policy(&pools(), &out).is_err());
        // Given back from the new address, it is free again.
        t.apply(&pools(), ip("198.51.100.7"), &[ip("10.9.0.1")], false)
            .unwrap();
        assert!(t.is_empty());
        // A move of another client's policy does not take this lease.
        t.apply(&pools(), ip("192.0.2.1"), &[ip("10.9.0.1")], true)
            .unwrap();
        let other = policy(
            PolicyDir::Out,
            "10.2.0.0/24",
            "10.9.0.1/32",
            ("192.0.2.10", "192.0.2.2"),
        );
        t.follow_move(&other, (ip("192.0.2.10"), ip("198.51.100.8")));
        t.check_policy(&pools(), &out).unwrap();
    }
}
