//! Traffic selectors as the engine sees them, and narrowing (RFC 7296 2.9).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One traffic selector: an address range, an IP protocol (0 = any) and a
/// port range (0..=65535 = any). Both addresses have the same family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TrafficSelector {
    /// IP protocol number, 0 for any.
    pub protocol: u8,
    /// First port of the range.
    pub start_port: u16,
    /// Last port of the range (inclusive).
    pub end_port: u16,
    /// First address of the range.
    pub start: IpAddr,
    /// Last address of the range (inclusive).
    pub end: IpAddr,
}

impl TrafficSelector {
    /// All traffic of one address family between `start` and `end`.
    pub fn range(start: IpAddr, end: IpAddr) -> Self {
        TrafficSelector {
            protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start,
            end,
        }
    }

    /// The selector for one network prefix, all protocols and ports.
    /// `None` when the prefix length is too long for the address family.
    pub fn prefix(addr: IpAddr, len: u8) -> Option<Self> {
        match addr {
            IpAddr::V4(a) => {
                if len > 32 {
                    return None;
                }
                let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                let s = u32::from(a) & mask;
                let e = s | !mask;
                Some(Self::range(
                    Ipv4Addr::from(s).into(),
                    Ipv4Addr::from(e).into(),
                ))
            }
            IpAddr::V6(a) => {
                if len > 128 {
                    return None;
                }
                let mask = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - len)
                };
                let s = u128::from(a) & mask;
                let e = s | !mask;
                Some(Self::range(
                    Ipv6Addr::from(s).into(),
                    Ipv6Addr::from(e).into(),
                ))
            }
        }
    }

    /// One host, all protocols and ports.
    pub fn host(addr: IpAddr) -> Self {
        Self::range(addr, addr)
    }

    /// Whether the selector is well formed: same family, start <= end.
    pub fn is_valid(&self) -> bool {
        self.start_port <= self.end_port && addr_range(self.start, self.end).is_some()
    }

    /// The largest selector contained in both, if they overlap.
    pub fn intersect(&self, other: &TrafficSelector) -> Option<TrafficSelector> {
        let protocol = match (self.protocol, other.protocol) {
            (0, p) | (p, 0) => p,
            (a, b) if a == b => a,
            _ => return None,
        };
        let start_port = self.start_port.max(other.start_port);
        let end_port = self.end_port.min(other.end_port);
        if start_port > end_port {
            return None;
        }
        let (s1, e1) = addr_range(self.start, self.end)?;
        let (s2, e2) = addr_range(other.start, other.end)?;
        if s1.0 != s2.0 {
            return None; // different families
        }
        let s = s1.1.max(s2.1);
        let e = e1.1.min(e2.1);
        if s > e {
            return None;
        }
        Some(TrafficSelector {
            protocol,
            start_port,
            end_port,
            start: from_u128(s1.0, s),
            end: from_u128(s1.0, e),
        })
    }

    /// Whether every packet matching `self` also matches `outer`.
    pub fn is_subset_of(&self, outer: &TrafficSelector) -> bool {
        self.intersect(outer).as_ref() == Some(self)
    }

    /// Whether the packet address `addr` falls in the address range.
    pub fn contains_addr(&self, addr: IpAddr) -> bool {
        TrafficSelector::host(addr)
            .intersect(&TrafficSelector::range(self.start, self.end))
            .is_some()
    }
}

/// (family, value) for both ends, or `None` if families differ or start > end.
fn addr_range(start: IpAddr, end: IpAddr) -> Option<((u8, u128), (u8, u128))> {
    let (fs, s) = to_u128(start);
    let (fe, e) = to_u128(end);
    (fs == fe && s <= e).then_some(((fs, s), (fe, e)))
}

fn to_u128(a: IpAddr) -> (u8, u128) {
    match a {
        IpAddr::V4(v) => (4, u128::from(u32::from(v))),
        IpAddr::V6(v) => (6, u128::from(v)),
    }
}

fn from_u128(family: u8, v: u128) -> IpAddr {
    if family == 4 {
        // The value came from a u32 in `to_u128`; the min/max of two such
        // values still fits, so the fallback is never taken.
        Ipv4Addr::from(u32::try_from(v).unwrap_or(u32::MAX)).into()
    } else {
        Ipv6Addr::from(v).into()
    }
}

/// Narrowing by the responder (RFC 7296 2.9): every overlap between what the
/// peer proposed and what our policy allows. Empty means TS_UNACCEPTABLE.
pub fn narrow(proposed: &[TrafficSelector], allowed: &[TrafficSelector]) -> Vec<TrafficSelector> {
    let mut out: Vec<TrafficSelector> = Vec::new();
    for p in proposed.iter().filter(|p| p.is_valid()) {
        for a in allowed {
            if let Some(i) = p.intersect(a) {
                if !out.contains(&i) {
                    out.push(i);
                }
            }
        }
    }
    out
}

/// The initiator's check of the responder's answer: each returned selector
/// must lie within one we proposed (a responder may narrow, never widen).
pub fn within(returned: &[TrafficSelector], proposed: &[TrafficSelector]) -> bool {
    !returned.is_empty()
        && returned
            .iter()
            .all(|r| r.is_valid() && proposed.iter().any(|p| r.is_subset_of(p)))
}

/// Our selectors as TSi/TSr payload contents.
pub(crate) fn to_wire(list: &[TrafficSelector]) -> Vec<crate::wire::ts::TrafficSelector> {
    use crate::wire::consts::TsType;
    list.iter()
        .map(|t| crate::wire::ts::TrafficSelector {
            ts_type: if t.start.is_ipv4() {
                TsType::IPV4_ADDR_RANGE
            } else {
                TsType::IPV6_ADDR_RANGE
            },
            ip_protocol: t.protocol,
            start_port: t.start_port,
            end_port: t.end_port,
            start_addr: t.start,
            end_addr: t.end,
        })
        .collect()
}

/// The peer's TSi/TSr contents; selector types we cannot use (Fibre
/// Channel, security labels) are left out.
pub(crate) fn from_wire(list: &[crate::wire::ts::TrafficSelector]) -> Vec<TrafficSelector> {
    use crate::wire::consts::TsType;
    list.iter()
        .filter(|t| t.ts_type == TsType::IPV4_ADDR_RANGE || t.ts_type == TsType::IPV6_ADDR_RANGE)
        .map(|t| TrafficSelector {
            protocol: t.ip_protocol,
            start_port: t.start_port,
            end_port: t.end_port,
            start: t.start_addr,
            end: t.end_addr,
        })
        .filter(TrafficSelector::is_valid)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str, len: u8) -> TrafficSelector {
        TrafficSelector::prefix(s.parse().unwrap(), len).unwrap()
    }

    #[test]
    fn prefix_bounds() {
        let t = net("10.1.0.77", 24);
        assert_eq!(t.start, "10.1.0.0".parse::<IpAddr>().unwrap());
        assert_eq!(t.end, "10.1.0.255".parse::<IpAddr>().unwrap());
        let all = net("0.0.0.0", 0);
        assert_eq!(all.end, "255.255.255.255".parse::<IpAddr>().unwrap());
        assert!(TrafficSelector::prefix("10.0.0.0".parse().unwrap(), 33).is_none());
        let v6 = net("2001:db8::", 32);
        assert_eq!(
            v6.end,
            "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"
                .parse::<IpAddr>()
                .unwrap()
        );
    }

    #[test]
    fn narrowing_takes_the_overlap() {
        // Peer proposes 10.0.0.0/8, we allow 10.1.0.0/24: the answer is ours.
        let got = narrow(&[net("10.0.0.0", 8)], &[net("10.1.0.0", 24)]);
        assert_eq!(got, vec![net("10.1.0.0", 24)]);
        // Disjoint: nothing, i.e. TS_UNACCEPTABLE.
        assert!(narrow(&[net("10.2.0.0", 24)], &[net("10.1.0.0", 24)]).is_empty());
        // Families never mix.
        assert!(narrow(&[net("::", 0)], &[net("10.1.0.0", 24)]).is_empty());
    }

    #[test]
    fn protocol_and_ports_narrow_too() {
        let mut tcp80 = net("10.1.0.0", 24);
        tcp80.protocol = 6;
        tcp80.start_port = 80;
        tcp80.end_port = 80;
        let got = narrow(&[net("10.0.0.0", 8)], &[tcp80]);
        assert_eq!(got, vec![tcp80]);
        let mut udp = tcp80;
        udp.protocol = 17;
        assert!(tcp80.intersect(&udp).is_none());
    }

    #[test]
    fn initiator_refuses_widening() {
        let proposed = [net("10.1.0.0", 24)];
        assert!(within(&[net("10.1.0.0", 25)], &proposed));
        assert!(!within(&[net("10.1.0.0", 23)], &proposed));
        assert!(!within(&[], &proposed));
    }

    #[test]
    fn invalid_ranges_are_ignored() {
        let bad = TrafficSelector::range("10.0.0.9".parse().unwrap(), "10.0.0.1".parse().unwrap());
        assert!(!bad.is_valid());
        assert!(narrow(&[bad], &[net("0.0.0.0", 0)]).is_empty());
    }
}
