//! A small reader for classic pcap files (not pcapng): finds the UDP
//! datagrams to or from ports 500 and 4500 and returns their payloads.
//!
//! Formats from the pcap file format description and the tcpdump link-type
//! list: global header of 24 bytes, records of 16 bytes + data; link types
//! Ethernet (1), BSD loopback (0), raw IP (101, 228, 229), Linux cooked
//! v1 (113) and v2 (276).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// One UDP datagram of interest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedDatagram<'a> {
    /// 1-based frame number in the file.
    pub frame: usize,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub payload: &'a [u8],
}

const IKE_PORT: u16 = 500;
const NATT_PORT: u16 = 4500;

const LINKTYPE_NULL: u32 = 0;
const LINKTYPE_ETHERNET: u32 = 1;
const LINKTYPE_RAW: u32 = 101;
const LINKTYPE_LINUX_SLL: u32 = 113;
const LINKTYPE_IPV4: u32 = 228;
const LINKTYPE_IPV6: u32 = 229;
const LINKTYPE_LINUX_SLL2: u32 = 276;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const IPPROTO_UDP: u8 = 17;

/// True if `data` starts with a classic pcap magic number (either byte
/// order, micro- or nanosecond timestamps).
pub fn is_pcap(data: &[u8]) -> bool {
    matches!(
        data.get(..4),
        Some([0xa1, 0xb2, 0xc3, 0xd4])
            | Some([0xd4, 0xc3, 0xb2, 0xa1])
            | Some([0xa1, 0xb2, 0x3c, 0x4d])
            | Some([0x4d, 0x3c, 0xb2, 0xa1])
    )
}

/// Reads every UDP/500 and UDP/4500 datagram. Frames of other protocols,
/// IP fragments and truncated frames are skipped; a broken file header or
/// record header is an error.
pub fn read(data: &[u8]) -> Result<Vec<CapturedDatagram<'_>>, String> {
    let big_endian = match data.get(..4) {
        Some([0xa1, 0xb2, _, _]) => true,
        Some([_, _, 0xb2, 0xa1]) => false,
        _ => return Err("not a classic pcap file".into()),
    };
    let u32_at = |b: &[u8], at: usize| -> Option<u32> {
        let s: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if big_endian {
            u32::from_be_bytes(s)
        } else {
            u32::from_le_bytes(s)
        })
    };
    let linktype = u32_at(data, 20).ok_or("pcap file header truncated")? & 0x0fff_ffff;
    let mut out = Vec::new();
    let mut at = 24;
    let mut frame = 0;
    while at < data.len() {
        frame += 1;
        let incl = u32_at(data, at + 8).ok_or(format!("record {frame}: header truncated"))?;
        let start = at + 16;
        let end = usize::try_from(incl)
            .ok()
            .and_then(|l| start.checked_add(l))
            .filter(|&e| e <= data.len())
            .ok_or(format!("record {frame}: data truncated"))?;
        if let Some(d) = link_payload(linktype, &data[start..end]).and_then(ip_udp) {
            out.push(CapturedDatagram { frame, ..d });
        }
        at = end;
    }
    Ok(out)
}

/// The IP packet inside a link-layer frame.
fn link_payload(linktype: u32, f: &[u8]) -> Option<&[u8]> {
    match linktype {
        LINKTYPE_ETHERNET => {
            let mut ethertype = be16(f, 12)?;
            let mut at = 14;
            if ethertype == ETHERTYPE_VLAN {
                ethertype = be16(f, 16)?;
                at = 18;
            }
            ip_by_ethertype(ethertype, f.get(at..)?)
        }
        LINKTYPE_LINUX_SLL => ip_by_ethertype(be16(f, 14)?, f.get(16..)?),
        LINKTYPE_LINUX_SLL2 => ip_by_ethertype(be16(f, 0)?, f.get(20..)?),
        LINKTYPE_NULL => f.get(4..),
        LINKTYPE_RAW | LINKTYPE_IPV4 | LINKTYPE_IPV6 => Some(f),
        _ => None,
    }
}

fn ip_by_ethertype(ethertype: u16, p: &[u8]) -> Option<&[u8]> {
    matches!(ethertype, ETHERTYPE_IPV4 | ETHERTYPE_IPV6).then_some(p)
}

/// The UDP datagram inside an IPv4 or IPv6 packet, if it is to or from
/// the IKE ports. `frame` is filled in by the caller.
fn ip_udp(p: &[u8]) -> Option<CapturedDatagram<'_>> {
    let (src, dst, udp) = match p.first()? >> 4 {
        4 => {
            let ihl = usize::from(p.first()? & 0x0f) * 4;
            let total = usize::from(be16(p, 2)?);
            let frag = be16(p, 6)?;
            // Skip fragments: more-fragments set or a non-zero offset.
            if frag & 0x3fff != 0 || *p.get(9)? != IPPROTO_UDP || ihl < 20 {
                return None;
            }
            let src: [u8; 4] = p.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = p.get(16..20)?.try_into().ok()?;
            (
                IpAddr::V4(Ipv4Addr::from(src)),
                IpAddr::V4(Ipv4Addr::from(dst)),
                p.get(ihl..total)?,
            )
        }
        6 => {
            let payload_len = usize::from(be16(p, 4)?);
            let src: [u8; 16] = p.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = p.get(24..40)?.try_into().ok()?;
            let mut next = *p.get(6)?;
            let mut at = 40;
            // Hop-by-hop, routing and destination options headers: skip.
            while matches!(next, 0 | 43 | 60) {
                let len = (usize::from(*p.get(at + 1)?) + 1) * 8;
                next = *p.get(at)?;
                at += len;
            }
            if next != IPPROTO_UDP {
                return None;
            }
            (
                IpAddr::V6(Ipv6Addr::from(src)),
                IpAddr::V6(Ipv6Addr::from(dst)),
                p.get(at..40 + payload_len)?,
            )
        }
        _ => return None,
    };
    let sport = be16(udp, 0)?;
    let dport = be16(udp, 2)?;
    let ulen = usize::from(be16(udp, 4)?);
    let ike = |port| port == IKE_PORT || port == NATT_PORT;
    if !(ike(sport) || ike(dport)) || ulen < 8 {
        return None;
    }
    Some(CapturedDatagram {
        frame: 0,
        src: SocketAddr::new(src, sport),
        dst: SocketAddr::new(dst, dport),
        payload: udp.get(8..ulen)?,
    })
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcap(linktype: u32, frames: &[Vec<u8>]) -> Vec<u8> {
        let mut f = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&65535u32.to_le_bytes());
        f.extend_from_slice(&linktype.to_le_bytes());
        for fr in frames {
            f.extend_from_slice(&[0; 8]);
            f.extend_from_slice(&(fr.len() as u32).to_le_bytes());
            f.extend_from_slice(&(fr.len() as u32).to_le_bytes());
            f.extend_from_slice(fr);
        }
        f
    }

    fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut u = Vec::new();
        u.extend_from_slice(&sport.to_be_bytes());
        u.extend_from_slice(&dport.to_be_bytes());
        u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend_from_slice(payload);
        u
    }

    fn ipv4(udp: &[u8]) -> Vec<u8> {
        let mut p = vec![0x45, 0];
        p.extend_from_slice(&((20 + udp.len()) as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        p.extend_from_slice(udp);
        p
    }

    fn ipv6(udp: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&(udp.len() as u16).to_be_bytes());
        p.extend_from_slice(&[17, 64]);
        p.extend_from_slice(&[0xfe; 16]);
        p.extend_from_slice(&[0xfd; 16]);
        p.extend_from_slice(udp);
        p
    }

    #[test]
    fn link_types() {
        let u = udp(500, 500, b"ike!");
        let mut eth = vec![0; 12];
        eth.extend_from_slice(&[0x08, 0x00]);
        eth.extend_from_slice(&ipv4(&u));
        let mut sll = vec![0; 14];
        sll.extend_from_slice(&[0x86, 0xdd]);
        sll.extend_from_slice(&ipv6(&u));
        for (lt, frame) in [(1, eth), (113, sll), (101, ipv4(&u)), (101, ipv6(&u))] {
            let file = pcap(lt, &[frame]);
            assert!(is_pcap(&file));
            let d = read(&file).unwrap();
            assert_eq!(d.len(), 1, "linktype {lt}");
            assert_eq!(d[0].payload, b"ike!");
            assert_eq!(d[0].frame, 1);
        }
    }

    #[test]
    fn skips_other_traffic_and_rejects_truncation() {
        let other = ipv4(&udp(53, 53, b"dns"));
        let ike = ipv4(&udp(4500, 4500, b"\0\0\0\0x"));
        let file = pcap(101, &[other, ike]);
        let d = read(&file).unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].frame, 2);
        assert_eq!(d[0].src.port(), 4500);
        assert!(read(&file[..file.len() - 1]).is_err());
        assert!(read(b"not a pcap").is_err());
    }
}
