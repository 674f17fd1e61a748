//! The Traffic Selector payloads TSi and TSr (RFC 7296 3.13).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::be;
use super::consts::{PayloadType, TsType};
use super::error::{Error, Result};
use super::sa::put_u16;

/// Payload body header.
mod field {
    use core::ops::Range;
    pub const NUM_TS: usize = 0;
    pub const RESERVED: Range<usize> = 1..4;
    pub const SELECTORS: usize = 4;
}

/// One selector (RFC 7296 3.13.1).
mod selector_field {
    use core::ops::Range;
    pub const TS_TYPE: usize = 0;
    pub const IP_PROTOCOL: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const START_PORT: Range<usize> = 4..6;
    pub const END_PORT: Range<usize> = 6..8;
    pub const ADDRESSES: usize = 8;
}

const V4_SELECTOR_LEN: usize = 8 + 2 * 4;
const V6_SELECTOR_LEN: usize = 8 + 2 * 16;

/// One traffic selector: an address range, a port range and an IP protocol
/// (0 = any).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrafficSelector {
    pub ts_type: TsType,
    pub ip_protocol: u8,
    pub start_port: u16,
    pub end_port: u16,
    pub start_addr: IpAddr,
    pub end_addr: IpAddr,
}

impl TrafficSelector {
    /// Ports 65535..0 mean "OPAQUE" (RFC 7296 3.13.1), the one allowed
    /// range with start > end.
    pub fn is_opaque_ports(&self) -> bool {
        self.start_port == u16::MAX && self.end_port == 0
    }

    /// The type must match the address family; start <= end for addresses,
    /// and for ports unless they are OPAQUE.
    pub fn validate(&self) -> Result<()> {
        let family_ok = match (self.ts_type, self.start_addr, self.end_addr) {
            (TsType::IPV4_ADDR_RANGE, IpAddr::V4(_), IpAddr::V4(_)) => true,
            (TsType::IPV6_ADDR_RANGE, IpAddr::V6(_), IpAddr::V6(_)) => true,
            (TsType::IPV4_ADDR_RANGE, _, _) | (TsType::IPV6_ADDR_RANGE, _, _) => false,
            (t, _, _) => return Err(Error::UnsupportedTsType(t)),
        };
        let ports_ok = self.start_port <= self.end_port || self.is_opaque_ports();
        if family_ok && ports_ok && self.start_addr <= self.end_addr {
            Ok(())
        } else {
            Err(Error::BadTrafficSelector)
        }
    }

    fn buffer_len(&self) -> usize {
        match self.start_addr {
            IpAddr::V4(_) => V4_SELECTOR_LEN,
            IpAddr::V6(_) => V6_SELECTOR_LEN,
        }
    }

    /// Parses one selector; `b` is exactly its Selector Length.
    fn parse(b: &[u8]) -> Result<TrafficSelector> {
        let ts_type = TsType(*b.get(selector_field::TS_TYPE).ok_or(Error::Truncated)?);
        let addr_len = match ts_type {
            TsType::IPV4_ADDR_RANGE => 4,
            TsType::IPV6_ADDR_RANGE => 16,
            t => return Err(Error::UnsupportedTsType(t)),
        };
        if b.len() != selector_field::ADDRESSES + 2 * addr_len {
            return Err(Error::BadTrafficSelector);
        }
        let start = &b[selector_field::ADDRESSES..selector_field::ADDRESSES + addr_len];
        let end = &b[selector_field::ADDRESSES + addr_len..];
        let ts = TrafficSelector {
            ts_type,
            ip_protocol: b[selector_field::IP_PROTOCOL],
            start_port: be::u16(&b[selector_field::START_PORT]),
            end_port: be::u16(&b[selector_field::END_PORT]),
            start_addr: ip_from(start),
            end_addr: ip_from(end),
        };
        ts.validate()?;
        Ok(ts)
    }

    fn emit(&self, buf: &mut [u8]) {
        buf[selector_field::TS_TYPE] = self.ts_type.0;
        buf[selector_field::IP_PROTOCOL] = self.ip_protocol;
        let len = buf.len() as u16;
        put_u16(&mut buf[selector_field::LENGTH], len);
        put_u16(&mut buf[selector_field::START_PORT], self.start_port);
        put_u16(&mut buf[selector_field::END_PORT], self.end_port);
        let mut at = selector_field::ADDRESSES;
        for a in [self.start_addr, self.end_addr] {
            match a {
                IpAddr::V4(v4) => {
                    buf[at..at + 4].copy_from_slice(&v4.octets());
                    at += 4;
                }
                IpAddr::V6(v6) => {
                    buf[at..at + 16].copy_from_slice(&v6.octets());
                    at += 16;
                }
            }
        }
    }
}

fn ip_from(b: &[u8]) -> IpAddr {
    if let Ok(v4) = <[u8; 4]>::try_from(b) {
        IpAddr::V4(Ipv4Addr::from(v4))
    } else {
        let mut v6 = [0u8; 16];
        for (d, s) in v6.iter_mut().zip(b) {
            *d = *s;
        }
        IpAddr::V6(Ipv6Addr::from(v6))
    }
}

/// Parses a TSi/TSr body.
pub fn parse_ts(body: &[u8], ptype: PayloadType) -> Result<Vec<TrafficSelector>> {
    let num = usize::from(*body.get(field::NUM_TS).ok_or(Error::BadPayload(ptype))?);
    let mut rest = body
        .get(field::SELECTORS..)
        .ok_or(Error::BadPayload(ptype))?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let len_bytes = rest
            .get(selector_field::LENGTH)
            .ok_or(Error::BadTrafficSelector)?;
        let len = usize::from(be::u16(len_bytes));
        if len > rest.len() {
            return Err(Error::BadTrafficSelector);
        }
        let (this, after) = rest.split_at(len);
        out.push(TrafficSelector::parse(this)?);
        rest = after;
    }
    if out.len() != num {
        return Err(Error::BadPayload(ptype));
    }
    Ok(out)
}

pub fn validate_ts(selectors: &[TrafficSelector]) -> Result<()> {
    if selectors.len() > usize::from(u8::MAX) {
        return Err(Error::TooLarge);
    }
    selectors.iter().try_for_each(TrafficSelector::validate)
}

pub fn ts_buffer_len(selectors: &[TrafficSelector]) -> usize {
    selectors
        .iter()
        .map(TrafficSelector::buffer_len)
        .fold(field::SELECTORS, usize::saturating_add)
}

/// `buf` is `ts_buffer_len()` long and `validate_ts()` passed.
pub fn emit_ts(selectors: &[TrafficSelector], buf: &mut [u8]) {
    buf[field::NUM_TS] = selectors.len() as u8;
    buf[field::RESERVED].fill(0);
    let mut at = field::SELECTORS;
    for ts in selectors {
        let len = ts.buffer_len();
        ts.emit(&mut buf[at..at + len]);
        at += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // TSi body from the strongSwan vectors: 10.1.0.0-10.1.0.255, any proto/port.
    static TS_BODY: [u8; 20] = [
        1, 0, 0, 0, 7, 0, 0, 16, 0, 0, 0xff, 0xff, 10, 1, 0, 0, 10, 1, 0, 255,
    ];

    #[test]
    fn parse_emit() {
        let ts = parse_ts(&TS_BODY, PayloadType::TSI).unwrap();
        assert_eq!(ts.len(), 1);
        assert_eq!(ts[0].start_addr, IpAddr::V4(Ipv4Addr::new(10, 1, 0, 0)));
        assert_eq!(ts[0].end_addr, IpAddr::V4(Ipv4Addr::new(10, 1, 0, 255)));
        assert_eq!((ts[0].start_port, ts[0].end_port), (0, 65535));
        let mut out = vec![0; ts_buffer_len(&ts)];
        emit_ts(&ts, &mut out);
        assert_eq!(out, TS_BODY);
    }

    #[test]
    fn rejects() {
        let mut b = TS_BODY;
        b[0] = 2; // count says two
        assert!(parse_ts(&b, PayloadType::TSI).is_err());
        let mut b = TS_BODY;
        b[4] = 8; // IPv6 type with IPv4 length
        assert_eq!(
            parse_ts(&b, PayloadType::TSI),
            Err(Error::BadTrafficSelector)
        );
        let mut b = TS_BODY;
        b[15] = 1; // start 10.1.0.1 > end? no: make start > end
        b[19] = 0;
        assert_eq!(
            parse_ts(&b, PayloadType::TSI),
            Err(Error::BadTrafficSelector)
        );
        let mut b = TS_BODY;
        b[8] = 0x01; // start port 256 > end port 65535? no, still fine
        assert!(parse_ts(&b, PayloadType::TSI).is_ok());
        b[10] = 0;
        b[11] = 0; // start 256 > end 0: not OPAQUE
        assert_eq!(
            parse_ts(&b, PayloadType::TSI),
            Err(Error::BadTrafficSelector)
        );
        b[8] = 0xff;
        b[9] = 0xff; // 65535..0 is OPAQUE
        assert!(parse_ts(&b, PayloadType::TSI).is_ok());
        let mut b = TS_BODY;
        b[4] = 10;
        assert_eq!(
            parse_ts(&b, PayloadType::TSI),
            Err(Error::UnsupportedTsType(TsType::SECLABEL))
        );
        let mut b = TS_BODY;
        b[7] = 200; // selector length beyond payload
        assert!(parse_ts(&b, PayloadType::TSI).is_err());
    }
}
