//! Typed values of the Configuration payload's attributes (RFC 7296
//! 3.15.1), with the length each type allows.
//!
//! [`super::cp::Configuration`] keeps attributes as raw type/value pairs
//! so that unknown ones round-trip; this module gives the ones we act on
//! a type. RFC 7296 3.15.1 fixes each attribute's length: 0 (a request
//! for a value) or the one size its layout has. Anything else is refused
//! here, so no reader of a `CfgValue` indexes a short buffer.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::consts::{CfgAttributeType as T, PayloadType};
use super::cp::CfgAttribute;
use super::error::{Error, Result};

/// One configuration attribute, decoded. `None` in a variant is the
/// empty value, which asks for one (CFG_REQUEST) or acknowledges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CfgValue {
    Ip4Address(Option<Ipv4Addr>),
    Ip4Netmask(Option<Ipv4Addr>),
    Ip4Dns(Option<Ipv4Addr>),
    Ip4Nbns(Option<Ipv4Addr>),
    Ip4Dhcp(Option<Ipv4Addr>),
    /// Address and netmask (RFC 7296 3.15.1: 8 octets).
    Ip4Subnet(Option<(Ipv4Addr, Ipv4Addr)>),
    /// Address and prefix length (17 octets).
    Ip6Address(Option<(Ipv6Addr, u8)>),
    Ip6Dns(Option<Ipv6Addr>),
    /// Address and prefix length (17 octets).
    Ip6Subnet(Option<(Ipv6Addr, u8)>),
    /// A type we do not act on: RFC 7296 3.15.1 lets a responder ignore
    /// what it does not support; the raw attribute stays in the payload.
    Other(T),
}

fn v4(b: &[u8]) -> Ipv4Addr {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    Ipv4Addr::from(a)
}

fn v6(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    Ipv6Addr::from(a)
}

/// `Some(value)` if the length is `n`, `None` if 0, an error otherwise.
fn sized<V>(value: &[u8], n: usize, f: impl FnOnce(&[u8]) -> Result<V>) -> Result<Option<V>> {
    match value.len() {
        0 => Ok(None),
        l if l == n => f(value).map(Some),
        _ => Err(Error::BadPayload(PayloadType::CP)),
    }
}

fn prefix6(b: &[u8]) -> Result<(Ipv6Addr, u8)> {
    let len = b[16];
    if len > 128 {
        return Err(Error::BadPayload(PayloadType::CP));
    }
    Ok((v6(b), len))
}

impl CfgValue {
    /// Decodes `a` with the length its type demands.
    pub fn decode(a: &CfgAttribute) -> Result<CfgValue> {
        let b = a.value.as_slice();
        let ok4 = |b: &[u8]| Ok(v4(b));
        Ok(match a.attr_type {
            T::INTERNAL_IP4_ADDRESS => CfgValue::Ip4Address(sized(b, 4, ok4)?),
            T::INTERNAL_IP4_NETMASK => CfgValue::Ip4Netmask(sized(b, 4, ok4)?),
            T::INTERNAL_IP4_DNS => CfgValue::Ip4Dns(sized(b, 4, ok4)?),
            T::INTERNAL_IP4_NBNS => CfgValue::Ip4Nbns(sized(b, 4, ok4)?),
            T::INTERNAL_IP4_DHCP => CfgValue::Ip4Dhcp(sized(b, 4, ok4)?),
            T::INTERNAL_IP4_SUBNET => {
                CfgValue::Ip4Subnet(sized(b, 8, |b| Ok((v4(b), v4(&b[4..]))))?)
            }
            T::INTERNAL_IP6_ADDRESS => CfgValue::Ip6Address(sized(b, 17, prefix6)?),
            T::INTERNAL_IP6_DNS => CfgValue::Ip6Dns(sized(b, 16, |b| Ok(v6(b)))?),
            T::INTERNAL_IP6_SUBNET => CfgValue::Ip6Subnet(sized(b, 17, prefix6)?),
            other => CfgValue::Other(other),
        })
    }

    /// The raw attribute; `None` for `Other`, which has no value of ours.
    pub fn encode(&self) -> Option<CfgAttribute> {
        fn a(t: T, value: Vec<u8>) -> Option<CfgAttribute> {
            Some(CfgAttribute {
                attr_type: t,
                value,
            })
        }
        let o4 = |x: &Option<Ipv4Addr>| x.map(|x| x.octets().to_vec()).unwrap_or_default();
        let p6 = |x: &Option<(Ipv6Addr, u8)>| {
            x.map(|(x, l)| {
                let mut v = x.octets().to_vec();
                v.push(l);
                v
            })
            .unwrap_or_default()
        };
        match self {
            CfgValue::Ip4Address(x) => a(T::INTERNAL_IP4_ADDRESS, o4(x)),
            CfgValue::Ip4Netmask(x) => a(T::INTERNAL_IP4_NETMASK, o4(x)),
            CfgValue::Ip4Dns(x) => a(T::INTERNAL_IP4_DNS, o4(x)),
            CfgValue::Ip4Nbns(x) => a(T::INTERNAL_IP4_NBNS, o4(x)),
            CfgValue::Ip4Dhcp(x) => a(T::INTERNAL_IP4_DHCP, o4(x)),
            CfgValue::Ip4Subnet(x) => a(
                T::INTERNAL_IP4_SUBNET,
                x.map(|(n, m)| [n.octets(), m.octets()].concat())
                    .unwrap_or_default(),
            ),
            CfgValue::Ip6Address(x) => a(T::INTERNAL_IP6_ADDRESS, p6(x)),
            CfgValue::Ip6Dns(x) => a(
                T::INTERNAL_IP6_DNS,
                x.map(|x| x.octets().to_vec()).unwrap_or_default(),
            ),
            CfgValue::Ip6Subnet(x) => a(T::INTERNAL_IP6_SUBNET, p6(x)),
            CfgValue::Other(_) => None,
        }
    }
}

impl super::cp::Configuration {
    /// Every attribute decoded; the first one with a wrong length fails
    /// the whole payload (a peer that sends it is broken or hostile).
    pub fn values(&self) -> Result<Vec<CfgValue>> {
        self.attributes.iter().map(CfgValue::decode).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(t: T, value: &[u8]) -> CfgAttribute {
        CfgAttribute {
            attr_type: t,
            value: value.to_vec(),
        }
    }

    #[test]
    fn each_type_takes_zero_or_its_one_length() {
        for (t, n) in [
            (T::INTERNAL_IP4_ADDRESS, 4),
            (T::INTERNAL_IP4_NETMASK, 4),
            (T::INTERNAL_IP4_DNS, 4),
            (T::INTERNAL_IP4_NBNS, 4),
            (T::INTERNAL_IP4_DHCP, 4),
            (T::INTERNAL_IP4_SUBNET, 8),
            (T::INTERNAL_IP6_ADDRESS, 17),
            (T::INTERNAL_IP6_DNS, 16),
            (T::INTERNAL_IP6_SUBNET, 17),
        ] {
            let empty = CfgValue::decode(&attr(t, &[])).unwrap();
            assert_eq!(empty.encode().unwrap(), attr(t, &[]));
            for len in 1..40 {
                let r = CfgValue::decode(&attr(t, &vec![1; len]));
                assert_eq!(r.is_ok(), len == n, "{t:?} length {len}");
                if let Ok(v) = r {
                    assert_eq!(v.encode().unwrap(), attr(t, &vec![1; len]));
                }
            }
        }
    }

    #[test]
    fn ip6_prefix_above_128_is_refused() {
        let mut b = [0u8; 17];
        b[16] = 129;
        assert!(CfgValue::decode(&attr(T::INTERNAL_IP6_ADDRESS, &b)).is_err());
        b[16] = 64;
        assert_eq!(
            CfgValue::decode(&attr(T::INTERNAL_IP6_SUBNET, &b)).unwrap(),
            CfgValue::Ip6Subnet(Some((Ipv6Addr::UNSPECIFIED, 64)))
        );
    }

    #[test]
    fn unknown_types_are_kept_as_other() {
        let v = CfgValue::decode(&attr(T(0x4000), &[1, 2, 3])).unwrap();
        assert_eq!(v, CfgValue::Other(T(0x4000)));
        assert!(v.encode().is_none());
        // APPLICATION_VERSION is any length: not ours to check.
        assert!(CfgValue::decode(&attr(T::APPLICATION_VERSION, b"x")).is_ok());
    }

    #[test]
    fn a_reply_decodes_to_its_values() {
        let c = crate::wire::Configuration {
            cfg_type: crate::wire::CfgType::REPLY,
            attributes: vec![
                attr(T::INTERNAL_IP4_ADDRESS, &[10, 9, 0, 2]),
                attr(T::INTERNAL_IP4_DNS, &[10, 9, 0, 1]),
            ],
        };
        assert_eq!(
            c.values().unwrap(),
            vec![
                CfgValue::Ip4Address(Some(Ipv4Addr::new(10, 9, 0, 2))),
                CfgValue::Ip4Dns(Some(Ipv4Addr::new(10, 9, 0, 1))),
            ]
        );
    }
}
