//! Kernel notifications that only some KAME dialects send, decoded from a
//! parsed [`Message`] into plain values that name their parts:
//!
//! - `SADB_X_SPDEXPIRE` (FreeBSD, type 21): a policy's lifetime ended and the
//!   kernel removed it. FreeBSD `key_spdexpire` sends LIFETIME_CURRENT,
//!   LIFETIME_HARD, ADDRESS_SRC, ADDRESS_DST and X_POLICY, satype UNSPEC, to
//!   registered sockets (DIALECTS.md 2.6). Linux defines the number but
//!   af_key never sends it (DIALECTS.md 2.1); the decoder accepts it there
//!   too, the check being the same.
//! - `SADB_X_NAT_T_NEW_MAPPING` (Linux only, type 23): an ESP-in-UDP packet
//!   for an SA arrived from another address or port than the SA has (the
//!   peer's NAT changed its mapping). af_key `pfkey_send_new_mapping` sends
//!   SA (the SPI), ADDRESS_SRC and NAT_T_SPORT (what the SA has),
//!   ADDRESS_DST and NAT_T_DPORT (where the packet came from), satype ESP
//!   (DIALECTS.md 5.3). The kernel does not change the SA itself.
//!
//! Both come from the kernel, so everything the consumer needs must be present
//! and consistent; anything else is an [`Error`], never a panic.

use super::{Address, Error, Lifetime, Message, Result};
use crate::dialect::{ExtKind, MsgType, SaType, IPSEC_DIR_INBOUND, IPSEC_DIR_OUTBOUND};
use std::fmt;
use std::net::SocketAddr;

/// A policy the kernel removed because its lifetime ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpdExpire {
    /// The kernel's policy id (`sadb_x_policy_id`), never 0.
    pub policy_id: u32,
    /// `IPSEC_DIR_*`.
    pub dir: u8,
    pub src: Address,
    pub dst: Address,
    /// Usage when it expired, if the kernel said.
    pub current: Option<Lifetime>,
    /// The limit that was reached, if the kernel said.
    pub hard: Option<Lifetime>,
}

/// The peer of a NAT-T SA now sends from another address or port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NatTNewMapping {
    pub spi: u32,
    /// The peer's address and UDP port as the SA has them.
    pub old: SocketAddr,
    /// Where the peer's packets now come from.
    pub new: SocketAddr,
}

fn required<T>(v: Option<T>, kind: ExtKind) -> Result<T> {
    v.ok_or(Error::MissingExt(kind))
}

/// The message type and SA type an event must have, each with the error
/// that says it has not. Kernel-originated messages carry no errno either
/// (RFC 2367 2.3.1; an errno would make this the echo of a failed request,
/// not an event).
fn expect_header(
    m: &Message,
    msg_type: (MsgType, &'static str),
    satype: (SaType, &'static str),
) -> Result<()> {
    if m.header.msg_type != msg_type.0 {
        return Err(Error::BadEvent(msg_type.1));
    }
    if m.header.errno != 0 {
        return Err(Error::BadEvent("kernel event with an errno"));
    }
    if m.header.satype != satype.0 {
        return Err(Error::BadEvent(satype.1));
    }
    Ok(())
}

fn same_family(a: &SocketAddr, b: &SocketAddr) -> Result<()> {
    if a.is_ipv4() == b.is_ipv4() {
        Ok(())
    } else {
        Err(Error::BadEvent(
            "source and destination of different families",
        ))
    }
}

impl SpdExpire {
    pub fn from_message(m: &Message) -> Result<SpdExpire> {
        // Policy messages are satype UNSPEC on KAME (DIALECTS.md 2.1).
        expect_header(
            m,
            (MsgType::SpdExpire, "not an SPDEXPIRE"),
            (SaType::Unspec, "SPDEXPIRE with an SA type"),
        )?;
        let policy = required(m.policy(), ExtKind::Policy)?;
        if policy.id == 0 {
            return Err(Error::BadEvent("SPDEXPIRE of policy id 0"));
        }
        let src = *required(m.address(ExtKind::AddressSrc), ExtKind::AddressSrc)?;
        let dst = *required(m.address(ExtKind::AddressDst), ExtKind::AddressDst)?;
        same_family(&src.addr, &dst.addr)?;
        Ok(SpdExpire {
            policy_id: policy.id,
            dir: policy.dir,
            src,
            dst,
            current: m.lifetime(ExtKind::LifetimeCurrent).copied(),
            hard: m.lifetime(ExtKind::LifetimeHard).copied(),
        })
    }
}

fn dir_name(dir: u8) -> &'static str {
    match dir {
        IPSEC_DIR_INBOUND => "in",
        IPSEC_DIR_OUTBOUND => "out",
        // Linux's IPSEC_DIR_FWD; FreeBSD has no 3.
        crate::dialect::linux::IPSEC_DIR_FWD => "fwd",
        _ => "dir?",
    }
}

impl fmt::Display for SpdExpire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "policy id {} {} {}/{} -> {}/{} expired",
            self.policy_id,
            dir_name(self.dir),
            self.src.ip(),
            self.src.prefix_len,
            self.dst.ip(),
            self.dst.prefix_len
        )?;
        if let Some(h) = &self.hard {
            write!(
                f,
                " (hard addtime {} s, usetime {} s)",
                h.addtime, h.usetime
            )?;
        }
        Ok(())
    }
}

impl NatTNewMapping {
    pub fn from_message(m: &Message) -> Result<NatTNewMapping> {
        // UDP encapsulation exists for ESP only (RFC 3948).
        expect_header(
            m,
            (MsgType::NatTNewMapping, "not a NAT_T_NEW_MAPPING"),
            (
                SaType::Esp,
                "NAT_T_NEW_MAPPING for an SA type other than ESP",
            ),
        )?;
        let sa = required(m.sa(), ExtKind::Sa)?;
        let src = required(m.address(ExtKind::AddressSrc), ExtKind::AddressSrc)?;
        let sport = required(m.nat_t_port(ExtKind::NatTSport), ExtKind::NatTSport)?;
        let dst = required(m.address(ExtKind::AddressDst), ExtKind::AddressDst)?;
        let dport = required(m.nat_t_port(ExtKind::NatTDport), ExtKind::NatTDport)?;
        let old = SocketAddr::new(src.ip(), sport);
        let new = SocketAddr::new(dst.ip(), dport);
        same_family(&old, &new)?;
        Ok(NatTNewMapping {
            spi: sa.spi,
            old,
            new,
        })
    }
}

impl fmt::Display for NatTNewMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "NAT mapping of ESP SA spi {:#010x} changed: peer {} now sends from {}",
            self.spi, self.old, self.new
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::Dialect;
    use crate::test_support::spi_message;
    use crate::wire::{Ext, Header};

    /// Linux NAT_T_NEW_MAPPING, built by hand after af_key's
    /// `pfkey_send_new_mapping` (little-endian host, no sa_len): SPI
    /// 0xc0ffee01, old peer 198.51.100.1:4500, new 203.0.113.1:12345.
    static LINUX_NEW_MAPPING: [u8; 96] = [
        // sadb_msg: v2, type 23, errno 0, satype ESP 3, 12 words, seq 7, pid 0
        0x02, 0x17, 0x00, 0x03, 0x0c, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, //
        // SA: 2 words, ext 1, spi (network order), replay/state/auth/encrypt, flags
        0x02, 0x00, 0x01, 0x00, 0xc0, 0xff, 0xee, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, //
        // ADDRESS_SRC: 3 words, ext 5, proto 0, prefix 32; sockaddr_in AF_INET 2, port 0
        0x03, 0x00, 0x05, 0x00, 0x00, 0x20, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 198, 51, 100, 1, 0,
        0, 0, 0, 0, 0, 0, 0, //
        // NAT_T_SPORT: 1 word, ext 21, port 4500 in network order
        0x01, 0x00, 0x15, 0x00, 0x11, 0x94, 0x00, 0x00, //
        // ADDRESS_DST: the new address
        0x03, 0x00, 0x06, 0x00, 0x00, 0x20, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 203, 0, 113, 1, 0,
        0, 0, 0, 0, 0, 0, 0, //
        // NAT_T_DPORT: 1 word, ext 22, port 12345 in network order
        0x01, 0x00, 0x16, 0x00, 0x30, 0x39, 0x00, 0x00,
    ];

    /// FreeBSD SPDEXPIRE, built by hand after `key_spdexpire` (sockaddrs
    /// with sa_len): policy id 42, out, 10.1.0.0/16 -> 10.2.0.0/16, hard
    /// addtime 3600 s.
    static FREEBSD_SPDEXPIRE: [u8; 144] = [
        // sadb_msg: v2, type 21, errno 0, satype UNSPEC, 18 words, seq 0, pid 0
        0x02, 0x15, 0x00, 0x00, 0x12, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, //
        // LIFETIME_CURRENT: 4 words, ext 2; allocations, bytes 4096, addtime 1000, usetime 0
        0x04, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0xe8, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, //
        // LIFETIME_HARD: 4 words, ext 3; addtime 3600
        0x04, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x10, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, //
        // ADDRESS_SRC: 3 words, ext 5, proto any 255, prefix 16; sa_len 16, AF_INET
        0x03, 0x00, 0x05, 0x00, 0xff, 0x10, 0x00, 0x00, 0x10, 0x02, 0x00, 0x00, 10, 1, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, //
        // ADDRESS_DST
        0x03, 0x00, 0x06, 0x00, 0xff, 0x10, 0x00, 0x00, 0x10, 0x02, 0x00, 0x00, 10, 2, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, //
        // X_POLICY: 2 words, ext 18, type IPSEC 2, dir out 2, scope global 1, id 42, priority 0
        0x02, 0x00, 0x12, 0x00, 0x02, 0x00, 0x02, 0x01, 0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00,
    ];

    fn parse(d: Dialect, b: &[u8]) -> Message {
        Message::parse(d, b).unwrap()
    }

    #[test]
    fn linux_new_mapping_decodes() {
        let m = parse(Dialect::Linux, &LINUX_NEW_MAPPING);
        let ev = NatTNewMapping::from_message(&m).unwrap();
        assert_eq!(
            ev,
            NatTNewMapping {
                spi: 0xc0ff_ee01,
                old: "198.51.100.1:4500".parse().unwrap(),
                new: "203.0.113.1:12345".parse().unwrap(),
            }
        );
        assert_eq!(
            ev.to_string(),
            "NAT mapping of ESP SA spi 0xc0ffee01 changed: peer 198.51.100.1:4500 now sends from 203.0.113.1:12345"
        );
        // Our encoder writes the same bytes back.
        assert_eq!(m.emit(Dialect::Linux).unwrap(), LINUX_NEW_MAPPING);
    }

    #[test]
    fn freebsd_spdexpire_decodes() {
        let m = parse(Dialect::FreeBsd, &FREEBSD_SPDEXPIRE);
        let ev = SpdExpire::from_message(&m).unwrap();
        assert_eq!(ev.policy_id, 42);
        assert_eq!(ev.dir, IPSEC_DIR_OUTBOUND);
        assert_eq!(
            (ev.src.addr, ev.src.prefix_len, ev.src.proto),
            ("10.1.0.0:0".parse().unwrap(), 16, 255)
        );
        assert_eq!(ev.dst.addr, "10.2.0.0:0".parse().unwrap());
        assert_eq!(ev.hard.map(|h| h.addtime), Some(3600));
        assert_eq!(ev.current.map(|c| (c.bytes, c.addtime)), Some((4096, 1000)));
        assert_eq!(
            ev.to_string(),
            "policy id 42 out 10.1.0.0/16 -> 10.2.0.0/16 expired (hard addtime 3600 s, usetime 0 s)"
        );
        assert_eq!(m.emit(Dialect::FreeBsd).unwrap(), FREEBSD_SPDEXPIRE);
    }

    #[test]
    fn each_dialect_knows_only_its_own_numbers() {
        // Type 23 does not exist on FreeBSD; 21 and 23 not on OpenBSD (flows).
        assert_eq!(
            Message::parse(Dialect::FreeBsd, &LINUX_NEW_MAPPING),
            Err(Error::UnknownMsgType(23))
        );
        assert_eq!(
            Message::parse(Dialect::OpenBsd, &LINUX_NEW_MAPPING),
            Err(Error::UnknownMsgType(23))
        );
        assert_eq!(
            Message::parse(Dialect::OpenBsd, &FREEBSD_SPDEXPIRE),
            Err(Error::UnknownMsgType(21))
        );
        // FreeBSD's sockaddrs read as Linux ones have family 0x0210: refused.
        assert!(Message::parse(Dialect::Linux, &FREEBSD_SPDEXPIRE).is_err());
    }

    #[test]
    fn a_missing_part_is_an_error() {
        let full = parse(Dialect::Linux, &LINUX_NEW_MAPPING);
        for kind in [
            ExtKind::Sa,
            ExtKind::AddressSrc,
            ExtKind::NatTSport,
            ExtKind::AddressDst,
            ExtKind::NatTDport,
        ] {
            let mut m = full.clone();
            m.exts.retain(|e| e.kind() != Some(kind));
            assert_eq!(
                NatTNewMapping::from_message(&m),
                Err(Error::MissingExt(kind))
            );
        }
        let full = parse(Dialect::FreeBsd, &FREEBSD_SPDEXPIRE);
        for kind in [ExtKind::Policy, ExtKind::AddressSrc, ExtKind::AddressDst] {
            let mut m = full.clone();
            m.exts.retain(|e| e.kind() != Some(kind));
            assert_eq!(SpdExpire::from_message(&m), Err(Error::MissingExt(kind)));
        }
        // Lifetimes are reported when present, not required.
        let mut m = full.clone();
        m.exts.retain(|e| !matches!(e, Ext::Lifetime(..)));
        let ev = SpdExpire::from_message(&m).unwrap();
        assert_eq!((ev.current, ev.hard), (None, None));
        assert_eq!(
            ev.to_string(),
            "policy id 42 out 10.1.0.0/16 -> 10.2.0.0/16 expired"
        );
    }

    fn bad_event<T: fmt::Debug>(r: Result<T>) {
        assert!(matches!(r, Err(Error::BadEvent(_))), "{r:?}");
    }

    /// `m` with `f` applied to its header and to each extension.
    fn changed(m: &Message, f: impl Fn(&mut Header), g: impl Fn(&mut Ext)) -> Message {
        let mut m = m.clone();
        f(&mut m.header);
        m.exts.iter_mut().for_each(g);
        m
    }

    #[test]
    fn inconsistent_headers_and_values_are_errors() {
        let nm = parse(Dialect::Linux, &LINUX_NEW_MAPPING);
        let se = parse(Dialect::FreeBsd, &FREEBSD_SPDEXPIRE);
        // Each decoder takes only its own type.
        bad_event(NatTNewMapping::from_message(&se));
        bad_event(SpdExpire::from_message(&nm));
        let keep = |_: &mut Ext| {};
        bad_event(NatTNewMapping::from_message(&changed(
            &nm,
            |h| h.errno = 22,
            keep,
        )));
        bad_event(NatTNewMapping::from_message(&changed(
            &nm,
            |h| h.satype = SaType::Ah,
            keep,
        )));
        let v6_dst = |e: &mut Ext| {
            if let Ext::Address(ExtKind::AddressDst, a) = e {
                a.addr = "[2001:db8::1]:0".parse().unwrap();
            }
        };
        bad_event(NatTNewMapping::from_message(&changed(&nm, |_| {}, v6_dst)));
        bad_event(SpdExpire::from_message(&changed(
            &se,
            |h| h.satype = SaType::Esp,
            keep,
        )));
        let id_zero = |e: &mut Ext| {
            if let Ext::Policy(p) = e {
                p.id = 0;
            }
        };
        bad_event(SpdExpire::from_message(&changed(&se, |_| {}, id_zero)));
        bad_event(SpdExpire::from_message(&changed(
            &se,
            |h| h.errno = 1,
            keep,
        )));
    }

    #[test]
    fn truncated_and_mutated_bytes_never_panic() {
        for (d, bytes) in [
            (Dialect::Linux, &LINUX_NEW_MAPPING[..]),
            (Dialect::FreeBsd, &FREEBSD_SPDEXPIRE[..]),
        ] {
            for cut in 0..bytes.len() {
                // A cut message disagrees with its header's length.
                assert!(Message::parse(d, &bytes[..cut]).is_err(), "{d:?} {cut}");
            }
            for i in 0..bytes.len() {
                for v in [0x00, 0x01, 0x7f, 0xff] {
                    let mut b = bytes.to_vec();
                    b[i] = v;
                    if let Ok(m) = Message::parse(d, &b) {
                        let _ = NatTNewMapping::from_message(&m);
                        let _ = SpdExpire::from_message(&m);
                    }
                }
            }
        }
    }

    #[test]
    fn new_mapping_ipv6_round_trip() {
        let m = spi_message(
            Header::new(MsgType::NatTNewMapping, SaType::Esp, 1, 0),
            0x1234,
        )
        .with(Ext::Address(
            ExtKind::AddressSrc,
            Address::host("2001:db8::2".parse().unwrap()),
        ))
        .with(Ext::NatTPort(ExtKind::NatTSport, 4500))
        .with(Ext::Address(
            ExtKind::AddressDst,
            Address::host("2001:db8::99".parse().unwrap()),
        ))
        .with(Ext::NatTPort(ExtKind::NatTDport, 40000));
        let back = parse(Dialect::Linux, &m.emit(Dialect::Linux).unwrap());
        let ev = NatTNewMapping::from_message(&back).unwrap();
        assert_eq!(ev.old, "[2001:db8::2]:4500".parse().unwrap());
        assert_eq!(ev.new, "[2001:db8::99]:40000".parse().unwrap());
    }
}
