//! A reqid belongs to one CHILD_SA (issue 13).
//!
//! A KAME policy of level UNIQUE takes only the SAs with its reqid (Linux
//! af_key `parse_ipsecrequest()`, DIALECTS.md 2.5). If a compromised or buggy
//! ike-net gave one CHILD_SA's reqid to another child's SA or policy, the
//! kernel would send one peer's traffic through another peer's SA; with two
//! clients behind one NAT the outer addresses alone cannot tell them apart.
//! So the broker binds each nonzero reqid, at its first SA or policy, to:
//!
//! - the tunnel ends (transport: the two hosts), which every SA and policy
//!   with that reqid must have;
//! - our selector and the peer's, which every policy with that reqid must
//!   have (in, out and Linux's fwd share them).
//!
//! The binding lasts while an SA or policy of ours carries the reqid. reqid 0
//! (level REQUIRE) binds nothing; GETSPI is not bound (Linux replaces the
//! larval SA whole at UPDATE, and the reserved SPI carries no traffic).

use super::allow::{sa_key, SaKey};
use ike_ipc::config::IpNet;
use ike_ipc::msg::pfkey::{BrokerPolicyParams, BrokerRequest, BrokerSaParams, PolicyDir};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Lower address first, so that both directions' SAs compare equal.
    pub ends: (IpAddr, IpAddr),
    /// (ours, the peer's), once a policy named them.
    pub sel: Option<(IpNet, IpNet)>,
    /// The SAs and policies carrying the reqid (installed or in flight).
    sas: BTreeSet<SaKey>,
    policies: Vec<BrokerPolicyParams>,
}

#[derive(Debug, Default)]
pub struct Bindings {
    by_reqid: BTreeMap<u32, Binding>,
    /// Which reqid each SA carries: releasing an SA is a lookup, not a walk
    /// over every binding (issue 12).
    sa_reqid: BTreeMap<SaKey, u32>,
}

fn ordered(a: IpAddr, b: IpAddr) -> (IpAddr, IpAddr) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

fn sa_ends(p: &BrokerSaParams) -> (IpAddr, IpAddr) {
    ordered(p.id.src, p.id.dst)
}

/// Ends and (ours, theirs) selectors of a policy.
fn policy_view(p: &BrokerPolicyParams) -> ((IpAddr, IpAddr), (IpNet, IpNet)) {
    let sel = if p.dir == PolicyDir::Out {
        (p.sel.src, p.sel.dst)
    } else {
        (p.sel.dst, p.sel.src)
    };
    let ends = match p.tunnel {
        Some((s, d)) => ordered(s, d),
        None => ordered(p.sel.src.addr, p.sel.dst.addr),
    };
    (ends, sel)
}

impl Bindings {
    pub fn get(&self, reqid: u32) -> Option<&Binding> {
        self.by_reqid.get(&reqid)
    }

    /// Does `req` keep every reqid to one CHILD_SA? `Err` says why not.
    pub fn check(&self, req: &BrokerRequest) -> Result<(), String> {
        match req {
            BrokerRequest::AddSa(p) | BrokerRequest::UpdateSa(p) if p.reqid != 0 => {
                match self.by_reqid.get(&p.reqid) {
                    Some(b) if b.ends != sa_ends(p) => Err(format!(
                        "reqid {} belongs to the CHILD_SA between {} and {}, not to an SA \
                         between {} and {}",
                        p.reqid, b.ends.0, b.ends.1, p.id.src, p.id.dst
                    )),
                    _ => Ok(()),
                }
            }
            BrokerRequest::AddPolicy(p) if p.reqid != 0 => {
                let (ends, sel) = policy_view(p);
                match self.by_reqid.get(&p.reqid) {
                    Some(b) if b.ends != ends || b.sel.is_some_and(|s| s != sel) => Err(format!(
                        "reqid {} belongs to another CHILD_SA (ends {:?}, selectors \
                             {:?}), not to this policy",
                        p.reqid, b.ends, b.sel
                    )),
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// Record a request that passed [`Bindings::check`] and goes to the kernel.
    pub fn claim(&mut self, req: &BrokerRequest) {
        match req {
            BrokerRequest::AddSa(p) | BrokerRequest::UpdateSa(p) => {
                let key = sa_key(&p.id);
                // An UPDATE may move an SA from its GETSPI's reqid to its own.
                self.release_sa(&key);
                if p.reqid == 0 {
                    return;
                }
                let b = self.by_reqid.entry(p.reqid).or_insert_with(|| Binding {
                    ends: sa_ends(p),
                    sel: None,
                    sas: BTreeSet::new(),
                    policies: Vec::new(),
                });
                b.sas.insert(key);
                self.sa_reqid.insert(key, p.reqid);
            }
            BrokerRequest::AddPolicy(p) if p.reqid != 0 => {
                let (ends, sel) = policy_view(p);
                let b = self.by_reqid.entry(p.reqid).or_insert_with(|| Binding {
                    ends,
                    sel: None,
                    sas: BTreeSet::new(),
                    policies: Vec::new(),
                });
                b.sel = Some(sel);
                if !b.policies.iter().any(|q| q.dir == p.dir && q.sel == p.sel) {
                    b.policies.push(*p);
                }
            }
            _ => {}
        }
    }

    /// MOBIKE: the CHILD_SA of `reqid` moves from the tunnel ends `from`
    /// to `to` (`mobility.rs`). Allowed only for the binding's own ends
    /// (or where an earlier step of the same move put it already).
    pub fn relocate(
        &mut self,
        reqid: u32,
        from: (IpAddr, IpAddr),
        to: (IpAddr, IpAddr),
    ) -> Result<(), String> {
        let (from, to) = (ordered(from.0, from.1), ordered(to.0, to.1));
        match self.by_reqid.get_mut(&reqid) {
            Some(b) if b.ends == to => Ok(()),
            Some(b) if b.ends == from => {
                b.ends = to;
                Ok(())
            }
            Some(b) => Err(format!(
                "reqid {reqid} belongs to the CHILD_SA between {} and {}, not {} and {}",
                b.ends.0, b.ends.1, from.0, from.1
            )),
            None => Ok(()),
        }
    }

    /// The SA left the kernel (or was never installed).
    pub fn release_sa(&mut self, key: &SaKey) {
        let Some(reqid) = self.sa_reqid.remove(key) else {
            return;
        };
        if let Some(b) = self.by_reqid.get_mut(&reqid) {
            b.sas.remove(key);
        }
        self.prune(reqid);
    }

    /// The policy left the kernel (or was never installed).
    pub fn release_policy(&mut self, p: &BrokerPolicyParams) {
        if let Some(b) = self.by_reqid.get_mut(&p.reqid) {
            b.policies.retain(|q| !(q.dir == p.dir && q.sel == p.sel));
        }
        self.prune(p.reqid);
    }

    /// The binding of `reqid` goes once nothing carries it.
    fn prune(&mut self, reqid: u32) {
        if self
            .by_reqid
            .get(&reqid)
            .is_some_and(|b| b.sas.is_empty() && b.policies.is_empty())
        {
            self.by_reqid.remove(&reqid);
        }
    }

    pub fn len(&self) -> usize {
        self.by_reqid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_reqid.is_empty()
    }
}
