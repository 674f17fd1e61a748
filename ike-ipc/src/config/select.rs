//! Which policy applies to a peer: OpenIKED's rules (iked.conf(5)).
//!
//! Policies are tried in file order and the LAST one that matches wins,
//! like pf(4) rules; a matching `quick` policy ends the search at once.
//! If nothing matches, the policy marked `default` (if any) applies.

use super::identity::Identity;
use super::policy::{IpNet, Policy};
use super::Config;
use std::net::IpAddr;

/// What is known about the other side when a policy must be chosen. A
/// responder knows the addresses after IKE_SA_INIT and the peer's ID after
/// IKE_AUTH; a kernel ACQUIRE gives the traffic instead.
#[derive(Debug, Clone, Default)]
pub struct PolicyQuery<'a> {
    pub local: Option<IpAddr>,
    pub peer: Option<IpAddr>,
    /// The peer's IDi/IDr, compared with the policy's `dstid`.
    pub peer_id: Option<&'a Identity>,
    /// Traffic (source, destination, protocol) that must lie inside one flow.
    pub traffic: Option<(IpAddr, IpAddr, Option<u8>)>,
}

/// The policy for `query`, by last match / `quick` / `default`.
pub fn select_policy<'c>(config: &'c Config, query: &PolicyQuery<'_>) -> Option<&'c Policy> {
    let mut chosen = None;
    for policy in &config.policies {
        if policy.default || !matches(policy, query) {
            continue;
        }
        chosen = Some(policy);
        if policy.quick {
            break;
        }
    }
    chosen.or_else(|| {
        config
            .policies
            .iter()
            .rev()
            .find(|p| p.default && matches(p, query))
    })
}

fn matches(policy: &Policy, query: &PolicyQuery<'_>) -> bool {
    if let (Some(want), Some(local)) = (policy.local, query.local) {
        if want != local {
            return false;
        }
    }
    if let (Some(want), Some(peer)) = (policy.peer, query.peer) {
        if !want.contains(peer) {
            return false;
        }
    }
    if let (Some(want), Some(id)) = (&policy.dstid, query.peer_id) {
        if want != id {
            return false;
        }
    }
    if let Some((src, dst, proto)) = query.traffic {
        let inside = |net: &IpNet, addr| net.contains(addr);
        let any_flow = policy.flows.iter().any(|f| {
            inside(&f.src, src) && inside(&f.dst, dst) && (f.proto.is_none() || f.proto == proto)
        });
        if !any_flow {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::super::policy::Flow;
    use super::*;

    fn policy(name: &str, peer: Option<&str>) -> Policy {
        let mut p = Policy::new(name);
        p.peer = peer.map(|s| {
            let (a, l) = s.split_once('/').unwrap();
            IpNet::new(a.parse().unwrap(), l.parse().unwrap()).unwrap()
        });
        p.flows.push(Flow {
            proto: None,
            src: IpNet::any(false),
            src_port: None,
            dst: IpNet::any(false),
            dst_port: None,
        });
        p
    }

    fn pick<'c>(config: &'c Config, peer: &str) -> Option<&'c str> {
        let q = PolicyQuery {
            peer: Some(peer.parse().unwrap()),
            ..Default::default()
        };
        select_policy(config, &q).map(|p| p.name.as_str())
    }

    #[test]
    fn last_match_quick_and_default() {
        let mut config = Config::default();
        config.policies.push(policy("wide", Some("10.0.0.0/8")));
        config.policies.push(policy("narrow", Some("10.1.0.0/16")));
        assert_eq!(pick(&config, "10.1.2.3"), Some("narrow"));
        assert_eq!(pick(&config, "10.2.2.3"), Some("wide"));
        assert_eq!(pick(&config, "192.0.2.1"), None);

        config.policies[0].quick = true;
        assert_eq!(pick(&config, "10.1.2.3"), Some("wide"));

        let mut fallback = policy("fallback", None);
        fallback.default = true;
        config.policies.insert(0, fallback);
        assert_eq!(pick(&config, "192.0.2.1"), Some("fallback"));
        assert_eq!(pick(&config, "10.1.2.3"), Some("wide"));
    }

    #[test]
    fn identity_must_match_dstid() {
        let mut config = Config::default();
        let mut a = policy("a", None);
        a.dstid = Some(Identity::Fqdn("a.example".into()));
        let mut b = policy("b", None);
        b.dstid = Some(Identity::Fqdn("b.example".into()));
        config.policies.extend([a, b]);
        let id = Identity::Fqdn("a.example".into());
        let q = PolicyQuery {
            peer_id: Some(&id),
            ..Default::default()
        };
        assert_eq!(
            select_policy(&config, &q).map(|p| p.name.as_str()),
            Some("a")
        );
        let other = Identity::Fqdn("c.example".into());
        let q = PolicyQuery {
            peer_id: Some(&other),
            ..Default::default()
        };
        assert!(select_policy(&config, &q).is_none());
    }
}
