//! MOBIKE moves (RFC 4555, issue 13): an SA or tunnel policy of ours goes
//! to new outer addresses.
//!
//! What ike-net may move, and why each rule:
//!
//! - Only an SA this broker installed (ADD/UPDATE, not larval) and whose
//!   parameters it kept, or a policy it installed, named exactly as it is
//!   in the kernel: ike-net can never move another daemon's state.
//! - One end stays: a move follows the peer (its end changes) or us (ours
//!   changes), never both at once, and never to an unspecified address or
//!   a 0 encapsulation port, nor across address families.
//! - The configuration allows the new ends, and by the same configured
//!   policy that allows the old ones (a `peer any` or `peer PREFIX`
//!   policy): a compromised worker cannot use a move to reach a peer or
//!   local address that no policy of the old SA permits.
//! - The reqid binding (`binding.rs`) goes with the move: a reqid bound to
//!   other tunnel ends (another CHILD_SA, e.g. another client behind the
//!   same NAT) refuses it. So all SAs and policies moved with one reqid
//!   belong to one CHILD_SA and go to the same new ends.
//!
//! How (PF_KEY, all three kernels): an SA's addresses are part of its
//! identity (Linux af_key `pfkey_add`/`pfkey_update` locate the state by
//! destination, SPI and protocol, and `xfrm_state_update` copies only
//! encapsulation, care-of address and lifetimes into a mature SA; FreeBSD
//! `key_update` and OpenBSD `pfkeyv2_update` look the SA up by the same
//! key and keep its addresses). So a move is a new ADD with the same SPI
//! and keys (kept, zeroized, since the install) at the new addresses, and
//! a DELETE of the old SA: ADD first when the kernel key changes (the SA
//! whose destination moved), DELETE first when it does not (our inbound SA
//! when only the peer moved: an ADD would collide, EEXIST), and always on
//! FreeBSD, whose SAD has one SPI namespace since 12.0 (`key_add` refuses
//! an SPI in use towards any host: docs/DIALECTS.md 2, pfkey-sim models
//! it). Between the two steps of a DELETE-first move the SA's packets are
//! dropped (no SA), never sent in clear (the policy still demands one).
//! The second step waits in `held` behind the first and is checked again
//! when sent.
//! Linux's SADB_X_MIGRATE (af_key `pfkey_migrate`, CONFIG_NET_KEY_MIGRATE)
//! would do this in place, but FreeBSD and OpenBSD have no such message.
//! A policy gets its new tunnel endpoints by SPDADD, which the broker
//! turns into SPDUPDATE on EEXIST (OpenBSD: ADDFLOW replaces a flow): the
//! entry is replaced in one step, so traffic never meets a gap in the SPD
//! and leaves in clear (a DELETE + ADD would open one).
//!
//! Each step is an ordinary request (AddSa, DeleteSa, AddPolicy) under
//! the original request id, checked by `allow::check` like any other, so
//! ike-net gets one reply per step.

use super::allow::{sa_key, AllowedSet, Owned};
use super::{Broker, Held, Object};
use ike_ipc::config::{Encapsulation, IpsecProtocol};
use ike_ipc::msg::pfkey::{
    BrokerRequest, BrokerRequestId, KernelError, NatT, NetToPfkey, PolicyDir, SaId,
};
use std::net::IpAddr;
use std::time::Instant;

/// One configured policy allows both the old and the new (ours, peer's).
fn same_child(
    allowed: &AllowedSet,
    proto: IpsecProtocol,
    mode: Encapsulation,
    old: (IpAddr, IpAddr),
    new: (IpAddr, IpAddr),
) -> bool {
    allowed.children.iter().any(|c| {
        c.protocol == proto
            && c.mode == mode
            && c.allows_local(old.0)
            && c.allows_peer(old.1)
            && c.allows_local(new.0)
            && c.allows_peer(new.1)
    })
}

/// A plausible new end: same family, a unicast address.
fn end_ok(old: IpAddr, new: IpAddr) -> bool {
    old.is_ipv4() == new.is_ipv4() && !new.is_unspecified() && !new.is_multicast()
}

/// The steps of a move, or why it is refused. `owned` gets the reqid
/// binding relocated when the move is accepted. `global_spis`: the kernel
/// keeps one SPI namespace (FreeBSD), so the old SA must go first.
pub fn plan(
    allowed: &AllowedSet,
    owned: &mut Owned,
    req: &BrokerRequest,
    global_spis: bool,
) -> Result<Vec<BrokerRequest>, String> {
    match req {
        BrokerRequest::MoveSa { id, src, dst, natt } => {
            let p = owned
                .sas
                .get(&sa_key(id))
                .filter(|o| o.id.src == id.src && !o.larval)
                .and_then(|o| o.params.as_ref())
                .ok_or_else(|| format!("MoveSa: {id:?} is not an installed SA of ours"))?;
            if *src != id.src && *dst != id.dst {
                return Err(format!(
                    "MoveSa: both ends of {:#x} would change ({} -> {} to {src} -> {dst})",
                    id.spi, id.src, id.dst
                ));
            }
            if !end_ok(id.src, *src) || !end_ok(id.dst, *dst) {
                return Err(format!("MoveSa: {src} -> {dst} is no valid pair of ends"));
            }
            if natt.is_some_and(|n: NatT| n.sport == 0 || n.dport == 0) {
                return Err("MoveSa: an encapsulation port of 0".into());
            }
            // Either orientation: our end is the source (outbound SA) or
            // the destination (inbound SA).
            let fits = same_child(allowed, id.proto, p.mode, (id.src, id.dst), (*src, *dst))
                || same_child(allowed, id.proto, p.mode, (id.dst, id.src), (*dst, *src));
            if !fits {
                return Err(format!(
                    "MoveSa: no configured policy allows both {} <-> {} and {src} <-> {dst}",
                    id.src, id.dst
                ));
            }
            let mut moved = p.as_ref().clone();
            moved.id.src = *src;
            moved.id.dst = *dst;
            moved.natt = *natt;
            moved.acquire_seq = 0;
            if moved.reqid != 0 {
                owned
                    .bindings
                    .relocate(moved.reqid, (id.src, id.dst), (*src, *dst))
                    .map_err(|why| format!("MoveSa: {why}"))?;
            }
            let add = BrokerRequest::AddSa(Box::new(moved));
            let del = BrokerRequest::DeleteSa(*id);
            let same_key = sa_key(id)
                == sa_key(&SaId {
                    src: *src,
                    dst: *dst,
                    ..*id
                });
            Ok(if same_key || global_spis {
                vec![del, add]
            } else {
                vec![add, del]
            })
        }
        BrokerRequest::MovePolicy { p, tunnel } => {
            let installed = owned.policy(p).is_some_and(|i| i.params == *p);
            if !installed {
                return Err(format!("MovePolicy: {p:?} is not a policy of ours"));
            }
            let Some(old) = p.tunnel.filter(|_| p.mode == Encapsulation::Tunnel) else {
                return Err("MovePolicy: not a tunnel-mode policy".into());
            };
            if tunnel.0 != old.0 && tunnel.1 != old.1 {
                return Err("MovePolicy: both tunnel ends would change".into());
            }
            if !end_ok(old.0, tunnel.0) || !end_ok(old.1, tunnel.1) {
                return Err("MovePolicy: no valid pair of tunnel ends".into());
            }
            // (ours, peer's) of the tunnel, as the policy's direction says.
            let orient = |t: (IpAddr, IpAddr)| {
                if p.dir == PolicyDir::Out {
                    t
                } else {
                    (t.1, t.0)
                }
            };
            if !same_child(allowed, p.proto, p.mode, orient(old), orient(*tunnel)) {
                return Err(format!(
                    "MovePolicy: no configured policy allows both tunnel ends {old:?} and \
                     {tunnel:?}"
                ));
            }
            if p.reqid != 0 {
                owned
                    .bindings
                    .relocate(p.reqid, old, *tunnel)
                    .map_err(|why| format!("MovePolicy: {why}"))?;
            }
            owned.leases.follow_move(p, *tunnel);
            let mut moved = *p;
            moved.tunnel = Some(*tunnel);
            Ok(vec![BrokerRequest::AddPolicy(moved)])
        }
        _ => Err("not a move".into()),
    }
}

impl Broker {
    /// A MOBIKE move from ike-net: checked here, then performed as its
    /// steps. False if `req` is no move (the caller goes on).
    pub(super) fn handle_move(
        &mut self,
        id: BrokerRequestId,
        req: &BrokerRequest,
        now: Instant,
    ) -> bool {
        if !matches!(
            req,
            BrokerRequest::MoveSa { .. } | BrokerRequest::MovePolicy { .. }
        ) {
            return false;
        }
        let global_spis = self.cfg.dialect == crate::dialect::Dialect::FreeBsd;
        let steps = match plan(&self.cfg.allowed, &mut self.owned, req, global_spis) {
            Ok(s) => s,
            Err(why) => {
                log::warn!("refused request {id} from ike-net: {why}");
                self.reply(id, Err(KernelError::Refused(why)));
                return true;
            }
        };
        log::info!("request {id}: {req:?} in {} step(s)", steps.len());
        let mut first: Option<Object> = None;
        for step in steps {
            let object = Object::of_request(&step);
            match (&first, object) {
                // Behind the first step on the same SA: it must not be
                // checked before that one is done (the ADD would find the
                // old SA still ours), so it waits unchecked and is checked
                // when released (`dispatch`).
                (Some(f), Some(o)) if *f == o => self.held.push_back(Held {
                    id,
                    req: step,
                    object: o,
                }),
                (_, o) => {
                    if first.is_none() {
                        first = o;
                    }
                    self.handle_net(NetToPfkey::Request { id, req: step }, now);
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::allow::OwnedSa;
    use crate::test_support::{allowed_tunnel, ip, policy, sa_params};
    use ike_ipc::config::IpNet;

    fn owned_with(p: ike_ipc::msg::pfkey::BrokerSaParams) -> Owned {
        let mut o = Owned::default();
        let req = BrokerRequest::AddSa(Box::new(p.clone()));
        o.bindings.claim(&req);
        o.insert_sa(OwnedSa {
            id: p.id,
            larval: false,
            since: Instant::now(),
            params: Some(Box::new(p)),
        });
        o
    }

    /// A `peer any` policy (the responder of roaming clients).
    fn any_peer() -> AllowedSet {
        let mut a = allowed_tunnel();
        for c in &mut a.children {
            c.peer = None;
        }
        a
    }

    #[test]
    fn an_owned_sa_moves_by_add_then_delete_or_delete_then_add() {
        let a = any_peer();
        let mut sa = sa_params(0x1000, "192.0.2.1", "192.0.2.2", Encapsulation::Tunnel);
        sa.reqid = 7;
        let mut o = owned_with(sa.clone());
        // Outbound: the destination (peer) moves, a new kernel key: ADD first.
        let req = BrokerRequest::MoveSa {
            id: sa.id,
            src: sa.id.src,
            dst: ip("198.51.100.9"),
            natt: Some(NatT {
                sport: 4500,
                dport: 40001,
            }),
        };
        let steps = plan(&a, &mut o, &req, false).unwrap();
        match &steps[..] {
            [BrokerRequest::AddSa(p), BrokerRequest::DeleteSa(d)] => {
                assert_eq!(p.id.dst, ip("198.51.100.9"));
                assert_eq!(p.enc_key, sa.enc_key);
                assert_eq!(p.natt.map(|n| n.dport), Some(40001));
                assert_eq!(*d, sa.id);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            o.bindings.get(7).unwrap().ends,
            (ip("192.0.2.1"), ip("198.51.100.9"))
        );
        // Inbound: only the source (peer) moves, same kernel key: DELETE first.
        let mut inb = sa_params(0x2000, "192.0.2.2", "192.0.2.1", Encapsulation::Tunnel);
        inb.reqid = 8;
        let mut o = owned_with(inb.clone());
        let req = BrokerRequest::MoveSa {
            id: inb.id,
            src: ip("198.51.100.9"),
            dst: inb.id.dst,
            natt: None,
        };
        let steps = plan(&a, &mut o, &req, false).unwrap();
        assert!(matches!(
            &steps[..],
            [BrokerRequest::DeleteSa(_), BrokerRequest::AddSa(_)]
        ));
    }

    #[test]
    fn moves_outside_ownership_configuration_or_binding_are_refused() {
        let sa = sa_params(0x1000, "192.0.2.1", "192.0.2.2", Encapsulation::Tunnel);
        let to = |dst: &str| BrokerRequest::MoveSa {
            id: sa.id,
            src: sa.id.src,
            dst: ip(dst),
            natt: None,
        };
        // Not ours.
        let mut empty = Owned::default();
        assert!(plan(&any_peer(), &mut empty, &to("198.51.100.9"), false).is_err());
        // Ours, but the configuration names the peer 192.0.2.2 only.
        let mut o = owned_with(sa.clone());
        let e = plan(&allowed_tunnel(), &mut o, &to("198.51.100.9"), false).unwrap_err();
        assert!(e.contains("no configured policy"), "{e}");
        // A peer prefix allows a move inside it only.
        let mut pre = allowed_tunnel();
        for c in &mut pre.children {
            c.peer = Some(IpNet::new(ip("192.0.2.0"), 24).unwrap());
        }
        assert!(plan(&pre, &mut o, &to("192.0.2.77"), false).is_ok());
        let mut o = owned_with(sa.clone());
        assert!(plan(&pre, &mut o, &to("203.0.113.1"), false).is_err());
        // Both ends at once, or to nowhere.
        let both = BrokerRequest::MoveSa {
            id: sa.id,
            src: ip("192.0.2.50"),
            dst: ip("198.51.100.9"),
            natt: None,
        };
        assert!(plan(&any_peer(), &mut o, &both, false).is_err());
        assert!(plan(&any_peer(), &mut o, &to("0.0.0.0"), false).is_err());
        assert!(plan(&any_peer(), &mut o, &to("2001:db8::1"), false).is_err());
        let zero = BrokerRequest::MoveSa {
            id: sa.id,
            src: sa.id.src,
            dst: ip("198.51.100.9"),
            natt: Some(NatT {
                sport: 4500,
                dport: 0,
            }),
        };
        assert!(plan(&any_peer(), &mut o, &zero, false).is_err());
        // The reqid is bound to another CHILD_SA's ends: refused.
        let mut bound = sa.clone();
        bound.reqid = 9;
        let mut o = owned_with(bound.clone());
        let other = sa_params(0x3000, "192.0.2.1", "192.0.2.3", Encapsulation::Tunnel);
        let mut other = other;
        other.reqid = 9;
        o.bindings.release_sa(&sa_key(&bound.id));
        o.bindings.claim(&BrokerRequest::AddSa(Box::new(other)));
        let e = plan(&any_peer(), &mut o, &to("198.51.100.9"), false).unwrap_err();
        assert!(e.contains("reqid 9"), "{e}");
    }

    #[test]
    fn a_tunnel_policy_moves_by_replacing_it() {
        let a = any_peer();
        let mut p = policy(
            PolicyDir::In,
            "10.2.0.0/16",
            "10.1.0.0/16",
            ("192.0.2.2", "192.0.2.1"),
        );
        p.reqid = 0;
        let mut o = Owned::default();
        let req = BrokerRequest::MovePolicy {
            p,
            tunnel: (ip("198.51.100.9"), ip("192.0.2.1")),
        };
        // Not installed by us.
        assert!(plan(&a, &mut o, &req, false).is_err());
        o.insert_policy(crate::broker::allow::InstalledPolicy {
            params: p,
            kernel_id: 1,
        });
        match &plan(&a, &mut o, &req, false).unwrap()[..] {
            [BrokerRequest::AddPolicy(n)] => {
                assert_eq!(n.tunnel, Some((ip("198.51.100.9"), ip("192.0.2.1"))));
                assert_eq!(n.sel, p.sel);
            }
            other => panic!("{other:?}"),
        }
        // Our own end may not jump to an address no policy names.
        let mut fixed_local = a.clone();
        for c in &mut fixed_local.children {
            c.local = Some(ip("192.0.2.1"));
        }
        let ours = BrokerRequest::MovePolicy {
            p,
            tunnel: (ip("192.0.2.2"), ip("192.0.2.99")),
        };
        assert!(plan(&fixed_local, &mut o, &ours, false).is_err());
    }
}
