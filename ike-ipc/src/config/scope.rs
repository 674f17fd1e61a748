//! A policy seen from the kernel: what its CHILD_SAs and kernel policies may
//! touch. The broker checks every request of ike-net against these
//! (`ike_pfkey::broker::allow`, `sa_rules`), and ike-net can check its own
//! against the same values before sending (DESIGN.md 3, "Configuration
//! model").
//!
//! A projection of [`Policy`] on purpose: the broker holds only what it
//! checks (no identities, no keys, no proposals beyond their algorithms), so
//! what it does not hold it cannot be made to misuse or leak.

use super::algorithms::{Encryption, Esn, Integrity};
use super::policy::{ChildProposal, Encapsulation, Flow, IpNet, IpsecProtocol, Policy};
use std::net::IpAddr;

/// One configured policy, reduced to what the kernel requests may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildScope {
    /// Our address; `None` = any local address.
    pub local: Option<IpAddr>,
    /// The peer's address or prefix; `None` = any peer.
    pub peer: Option<IpNet>,
    pub protocol: IpsecProtocol,
    pub mode: Encapsulation,
    /// Traffic selectors, `src` being our side.
    pub flows: Vec<Flow>,
    /// What its SAs may carry: algorithms, lifetimes (issue 16).
    pub sa: SaRules,
}

impl ChildScope {
    /// `ip` may be our end: the policy names it or names no local address.
    pub fn allows_local(&self, ip: IpAddr) -> bool {
        self.local.is_none_or(|l| l == ip)
    }

    /// `ip` may be the peer's end: inside the configured peer prefix, or
    /// the policy names no peer.
    pub fn allows_peer(&self, ip: IpAddr) -> bool {
        self.peer.is_none_or(|p| p.contains(ip))
    }
}

impl Policy {
    /// This policy's [`ChildScope`].
    pub fn child_scope(&self) -> ChildScope {
        ChildScope {
            local: self.local,
            peer: self.peer,
            protocol: self.protocol,
            mode: self.encapsulation,
            flows: self.flows.clone(),
            sa: SaRules::from_policy(self),
        }
    }
}

/// One algorithm combination a child proposal permits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suite {
    /// `None` for AH.
    pub encryption: Option<Encryption>,
    /// `None` with an AEAD cipher.
    pub integrity: Option<Integrity>,
    pub esn: bool,
}

/// What the SAs of one configured policy may carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaRules {
    pub suites: Vec<Suite>,
    /// Configured hard limits (`lifetime T bytes B`).
    pub max_seconds: u64,
    pub max_bytes: u64,
}

impl SaRules {
    /// From a policy's `childsa` proposals and `lifetime`.
    pub fn from_policy(p: &Policy) -> SaRules {
        SaRules {
            suites: p
                .child_proposals
                .iter()
                .flat_map(|c| suites(p.protocol, c))
                .collect(),
            max_seconds: p.lifetime.seconds,
            max_bytes: p.lifetime.bytes,
        }
    }
}

/// Every (encryption, integrity, ESN) one proposal permits. An AEAD cipher
/// goes without integrity, any other ESP cipher with one of the listed
/// integrity algorithms (never without: RFC 4303 3.2 leaves ESP without
/// integrity open to cut-and-paste attacks); AH has no cipher.
fn suites(proto: IpsecProtocol, c: &ChildProposal) -> Vec<Suite> {
    let esns: Vec<bool> = if c.esn.is_empty() {
        vec![false]
    } else {
        c.esn.iter().map(|e| *e == Esn::Extended).collect()
    };
    let mut out = Vec::new();
    let pairs: Vec<(Option<Encryption>, Option<Integrity>)> = match proto {
        IpsecProtocol::Ah => c.integrity.iter().map(|i| (None, Some(*i))).collect(),
        IpsecProtocol::Esp => c
            .encryption
            .iter()
            .flat_map(|e| {
                if e.is_aead() {
                    vec![(Some(*e), None)]
                } else {
                    c.integrity.iter().map(|i| (Some(*e), Some(*i))).collect()
                }
            })
            .collect(),
    };
    for (encryption, integrity) in pairs {
        for esn in &esns {
            out.push(Suite {
                encryption,
                integrity,
                esn: *esn,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proposals_expand_to_suites() {
        let c = ChildProposal {
            encryption: vec![Encryption::Aes256Gcm16, Encryption::Aes128Cbc],
            integrity: vec![Integrity::HmacSha2_256, Integrity::HmacSha1],
            groups: vec![],
            esn: vec![Esn::Extended, Esn::None],
        };
        let s = suites(IpsecProtocol::Esp, &c);
        // GCM alone, CBC with each integrity; each with and without ESN.
        assert_eq!(s.len(), (1 + 2) * 2);
        assert!(s.iter().all(|x| x.encryption.is_some()));
        assert!(!s.contains(&Suite {
            encryption: Some(Encryption::Aes128Cbc),
            integrity: None,
            esn: false
        }));
        let ah = suites(IpsecProtocol::Ah, &c);
        assert_eq!(ah.len(), 4);
        assert!(ah.iter().all(|x| x.encryption.is_none()));
    }

    #[test]
    fn the_scope_keeps_the_ends_and_what_the_sas_may_carry() {
        let mut p = Policy::new("t");
        p.local = Some("192.0.2.1".parse().unwrap());
        p.peer = IpNet::new("198.51.100.0".parse().unwrap(), 24);
        p.encapsulation = Encapsulation::Transport;
        p.child_proposals.push(ChildProposal {
            encryption: vec![Encryption::Aes256Gcm16],
            integrity: vec![],
            groups: vec![],
            esn: vec![],
        });
        let s = p.child_scope();
        assert_eq!(s.mode, Encapsulation::Transport);
        assert!(s.allows_local("192.0.2.1".parse().unwrap()));
        assert!(!s.allows_local("192.0.2.2".parse().unwrap()));
        assert!(s.allows_peer("198.51.100.77".parse().unwrap()));
        assert!(!s.allows_peer("198.51.101.1".parse().unwrap()));
        assert_eq!(s.sa.suites.len(), 1);
        assert_eq!(s.sa.max_seconds, p.lifetime.seconds);
        let any = Policy::new("any").child_scope();
        assert!(any.allows_local("2001:db8::1".parse().unwrap()));
        assert!(any.allows_peer("2001:db8::2".parse().unwrap()));
    }
}
