//! The Configuration payload in IKE_AUTH (RFC 7296 2.19, 3.15): the
//! responder lends a virtual address from the policy's pool and answers
//! with DNS / NBNS / DHCP servers and protected subnets; the initiator
//! asks for an address (`request address any`) and records what it got.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use crate::wire::consts::{CfgType, IdType};
use crate::wire::{CfgValue, Configuration, Payload};

use super::config::{Identity, Policy};
use super::pool::{Leases, PoolSpec};
use super::ts::TrafficSelector;

/// What a policy hands out or asks for by configuration payload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpPolicy {
    /// Responder: `config address` (static or pool), IPv4 and/or IPv6;
    /// the first of each family serves that family's requests.
    pub pools: Vec<PoolSpec>,
    /// `config netmask`, sent with an IPv4 address.
    pub netmask: Option<Ipv4Addr>,
    /// `config name-server`.
    pub dns: Vec<IpAddr>,
    /// `config netbios-server`.
    pub nbns: Vec<Ipv4Addr>,
    /// `config dhcp-server`.
    pub dhcp: Vec<Ipv4Addr>,
    /// `config protected-subnet`: address and prefix length.
    pub subnets: Vec<(IpAddr, u8)>,
    /// `set stickyaddress`.
    pub sticky: bool,
    /// `from X to dynamic`: the peer's side of every CHILD_SA is the
    /// address it was lent, nothing else.
    pub dynamic_peer: bool,
    /// Initiator, `request address any`: ask for an IPv4 address.
    pub request_v4: bool,
    /// Initiator: ask for an IPv6 address (no iked.conf keyword sets it
    /// yet; the engine supports it).
    pub request_v6: bool,
}

impl CpPolicy {
    pub fn is_empty(&self) -> bool {
        *self == CpPolicy::default()
    }
}

/// Per-engine configuration-payload state.
#[derive(Debug, Default)]
pub struct CpState {
    /// Responder: the pools and their leases.
    pub leases: Leases,
    /// Initiator: the addresses each IKE SA received (CFG_REPLY).
    pub received: HashMap<u64, Vec<IpAddr>>,
}

impl CpState {
    /// The IKE SA is gone: its leases return to their pools.
    pub fn forget(&mut self, h: u64) -> Vec<IpAddr> {
        self.received.remove(&h);
        self.leases.release(h)
    }

    pub fn rehome(&mut self, old: u64, new: u64) {
        self.leases.rehome(old, new);
        if let Some(v) = self.received.remove(&old) {
            self.received.insert(new, v);
        }
    }

    /// Virtual addresses of IKE SA `h`: lent to the peer, or received.
    pub fn of_sa(&self, h: u64) -> Vec<IpAddr> {
        let mut v = self.leases.of_sa(h);
        v.extend(self.received.get(&h).into_iter().flatten());
        v
    }
}

/// The outcome of a peer's CFG_REQUEST.
#[derive(Debug, Default)]
pub struct Answered {
    /// The CP payload to put in the IKE_AUTH answer.
    pub reply: Option<Payload>,
    /// Addresses lent.
    pub lent: Vec<IpAddr>,
    /// An address was asked for and the pool had none left.
    pub failed: bool,
}

/// Responder: answers the CFG_REQUEST among `payloads` (if any) for IKE SA
/// `h` of peer `id` under `policy`. Malformed attributes (wrong lengths)
/// make the request ignored, with a log line: the SA still comes up, the
/// peer just gets no configuration.
pub fn answer_request(
    state: &mut CpState,
    policy: &Policy,
    h: u64,
    id: &Identity,
    payloads: &[Payload],
) -> Answered {
    let mut out = Answered::default();
    let Some(req) = payloads.iter().find_map(|p| match p {
        Payload::Cp(c) if c.cfg_type == CfgType::REQUEST => Some(c),
        _ => None,
    }) else {
        return out;
    };
    let cp = &policy.cp;
    if cp.is_empty() {
        log::info!(
            "policy {}: configuration request ignored (no `config` in the policy)",
            policy.name
        );
        return out;
    }
    let values = match req.values() {
        Ok(v) => v,
        Err(e) => {
            log::warn!("policy {}: malformed CFG_REQUEST ignored: {e}", policy.name);
            return out;
        }
    };
    let wants = |v4: bool| {
        values.iter().any(|v| match v {
            CfgValue::Ip4Address(_) => v4,
            CfgValue::Ip6Address(_) => !v4,
            _ => false,
        })
    };
    let mut attrs = Vec::new();
    for v4 in [true, false] {
        if !wants(v4) {
            continue;
        }
        let Some(spec) = cp.pools.iter().find(|s| s.addr.is_ipv4() == v4) else {
            continue;
        };
        match state.leases.lease(&policy.name, *spec, cp.sticky, h, id) {
            Ok(a) => {
                log::info!("policy {}: lent {a} to {}", policy.name, id_text(id));
                out.lent.push(a);
                attrs.push(match a {
                    IpAddr::V4(a) => CfgValue::Ip4Address(Some(a)),
                    // RFC 7296 3.15.1: the prefix of the network the address is in.
                    IpAddr::V6(a) => CfgValue::Ip6Address(Some((a, spec.prefix))),
                });
                if let (IpAddr::V4(_), Some(m)) = (a, cp.netmask) {
                    attrs.push(CfgValue::Ip4Netmask(Some(m)));
                }
            }
            Err(e) => {
                log::warn!(
                    "policy {}: no address for {} ({e:?}, pool {}/{}): INTERNAL_ADDRESS_FAILURE",
                    policy.name,
                    id_text(id),
                    spec.addr,
                    spec.prefix
                );
                out.failed = true;
            }
        }
    }
    for d in &cp.dns {
        attrs.push(match d {
            IpAddr::V4(a) => CfgValue::Ip4Dns(Some(*a)),
            IpAddr::V6(a) => CfgValue::Ip6Dns(Some(*a)),
        });
    }
    attrs.extend(cp.nbns.iter().map(|a| CfgValue::Ip4Nbns(Some(*a))));
    attrs.extend(cp.dhcp.iter().map(|a| CfgValue::Ip4Dhcp(Some(*a))));
    for (a, len) in &cp.subnets {
        attrs.push(match a {
            IpAddr::V4(a) => CfgValue::Ip4Subnet(Some((*a, prefix_mask(*len)))),
            IpAddr::V6(a) => CfgValue::Ip6Subnet(Some((*a, *len))),
        });
    }
    out.reply = Some(Payload::Cp(Configuration {
        cfg_type: CfgType::REPLY,
        attributes: attrs.iter().filter_map(CfgValue::encode).collect(),
    }));
    out
}

/// The policy as it applies to one peer: for `to dynamic`, the peer's
/// selectors become its lent addresses (none lent: none at all, so the
/// child is refused rather than opened to the whole pool).
pub fn for_peer(policy: &Policy, lent: &[IpAddr]) -> Option<Policy> {
    if !policy.cp.dynamic_peer {
        return None;
    }
    let mut p = policy.clone();
    p.peer_ts = lent.iter().map(|a| TrafficSelector::host(*a)).collect();
    Some(p)
}

/// Initiator: the CFG_REQUEST for `policy`, if it asks for an address.
pub fn request(policy: &Policy) -> Option<Payload> {
    let cp = &policy.cp;
    let mut attrs = Vec::new();
    if cp.request_v4 {
        attrs.push(CfgValue::Ip4Address(None));
        attrs.push(CfgValue::Ip4Dns(None));
    }
    if cp.request_v6 {
        attrs.push(CfgValue::Ip6Address(None));
        attrs.push(CfgValue::Ip6Dns(None));
    }
    if attrs.is_empty() {
        return None;
    }
    Some(Payload::Cp(Configuration {
        cfg_type: CfgType::REQUEST,
        attributes: attrs.iter().filter_map(CfgValue::encode).collect(),
    }))
}

/// Initiator: the addresses (and servers, logged) in the peer's CFG_REPLY.
pub fn received(policy: &Policy, payloads: &[Payload]) -> Vec<IpAddr> {
    let Some(reply) = payloads.iter().find_map(|p| match p {
        Payload::Cp(c) if c.cfg_type == CfgType::REPLY => Some(c),
        _ => None,
    }) else {
        return Vec::new();
    };
    let values = match reply.values() {
        Ok(v) => v,
        Err(e) => {
            log::warn!("policy {}: malformed CFG_REPLY ignored: {e}", policy.name);
            return Vec::new();
        }
    };
    let mut addrs = Vec::new();
    for v in values {
        match v {
            CfgValue::Ip4Address(Some(a)) => addrs.push(IpAddr::V4(a)),
            CfgValue::Ip6Address(Some((a, _))) => addrs.push(IpAddr::V6(a)),
            CfgValue::Ip4Dns(Some(a)) => log::info!("policy {}: DNS server {a}", policy.name),
            CfgValue::Ip6Dns(Some(a)) => log::info!("policy {}: DNS server {a}", policy.name),
            _ => {}
        }
    }
    if !addrs.is_empty() {
        log::info!("policy {}: virtual address {addrs:?}", policy.name);
    }
    addrs
}

fn prefix_mask(len: u8) -> Ipv4Addr {
    let len = u32::from(len.min(32));
    Ipv4Addr::from(u32::MAX.checked_shl(32 - len).unwrap_or(0))
}

/// The identity for a log line: names as text, addresses as addresses.
fn id_text(id: &Identity) -> String {
    match (id.kind, id.data.len()) {
        (IdType::IPV4_ADDR, 4) => {
            IpAddr::from([id.data[0], id.data[1], id.data[2], id.data[3]]).to_string()
        }
        (IdType::FQDN | IdType::RFC822_ADDR, _) => String::from_utf8_lossy(&id.data).into_owned(),
        _ => format!("{:?} identity", id.kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(prefix_mask(24), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(prefix_mask(0), Ipv4Addr::UNSPECIFIED);
        assert_eq!(prefix_mask(32), Ipv4Addr::BROADCAST);
    }
}
