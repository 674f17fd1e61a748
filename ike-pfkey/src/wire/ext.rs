//! One extension as a plain value, and the dispatch from a dialect's extension
//! number to the parser of its shape.

use super::bytes::{u16_at, Put};
use super::sockaddr::{emit_sockaddr, parse_sockaddr};
use super::values::*;
use super::{Address, Error, Policy, Result};
use crate::dialect::{Dialect, ExtKind};
use std::net::SocketAddr;

/// An extension. Variants that several extension types share carry the kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ext {
    /// SA or OpenBSD's X_SA2.
    Sa(ExtKind, Sa),
    /// LIFETIME_CURRENT/HARD/SOFT or OpenBSD's X_LIFETIME_LASTUSE.
    Lifetime(ExtKind, Lifetime),
    /// ADDRESS_SRC/DST/PROXY, NAT-T OA/OAR, FreeBSD NEW_ADDRESS_*, OpenBSD
    /// flows, masks and DST2.
    Address(ExtKind, Address),
    Key(ExtKind, Key),
    Identity(ExtKind, Identity),
    Sensitivity(Sensitivity),
    Proposal(Proposal),
    /// SUPPORTED_AUTH/ENCRYPT or OpenBSD's X_SUPPORTED_COMP.
    Supported(ExtKind, Vec<Alg>),
    SpiRange(SpiRange),
    /// KAME X_KMPRIVATE: opaque.
    KmPrivate(Vec<u8>),
    Policy(Policy),
    Sa2(Sa2),
    NatTType(u8),
    /// NAT_T_SPORT / NAT_T_DPORT (network byte order on the wire).
    NatTPort(ExtKind, u16),
    NatTFrag(u16),
    SaReplay(u32),
    SecCtx(SecCtx),
    /// Linux MIGRATE's two KM addresses.
    KmAddress(SocketAddr, SocketAddr),
    Filter(Filter),
    /// OpenBSD X_PROTOCOL, X_FLOW_TYPE, X_SATYPE2.
    Protocol(ExtKind, Protocol),
    /// OpenBSD X_POLICY: the sequence number of an ACQUIRE (for ASKPOLICY).
    ObsdPolicy(u32),
    /// OpenBSD X_UDPENCAP port (network order, as OpenIKED writes it).
    UdpEncap(u16),
    Tag(Vec<u8>),
    Tap(u32),
    Counter(Counter),
    Rdomain {
        dom1: u16,
        dom2: u16,
    },
    Mtu(u32),
    Replay(u64),
    Iface {
        unit: u32,
        direction: u8,
    },
    /// A number this dialect does not define (Linux ignores these, RFC 2367 says
    /// MUST ignore). Kept raw so that callers can log it.
    Unknown(u16, Vec<u8>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Sa,
    Lifetime,
    Address,
    Key,
    Identity,
    Supported,
    Port,
    Protocol,
    Other,
}

fn shape(k: ExtKind) -> Shape {
    use ExtKind::*;
    match k {
        Sa | ObsdSa2 => Shape::Sa,
        LifetimeCurrent | LifetimeHard | LifetimeSoft | LifetimeLastUse => Shape::Lifetime,
        AddressSrc | AddressDst | AddressProxy | NatTOa | NatTOar | NewAddressSrc
        | NewAddressDst | SrcMask | DstMask | SrcFlow | DstFlow | Dst2 => Shape::Address,
        KeyAuth | KeyEncrypt => Shape::Key,
        IdentitySrc | IdentityDst => Shape::Identity,
        SupportedAuth | SupportedEncrypt | SupportedComp => Shape::Supported,
        NatTSport | NatTDport => Shape::Port,
        Protocol | FlowType | Satype2 => Shape::Protocol,
        _ => Shape::Other,
    }
}

impl Ext {
    /// What kind of extension this is (`None` for `Unknown`).
    pub fn kind(&self) -> Option<ExtKind> {
        Some(match self {
            Ext::Sa(k, _)
            | Ext::Lifetime(k, _)
            | Ext::Address(k, _)
            | Ext::Key(k, _)
            | Ext::Identity(k, _)
            | Ext::Supported(k, _)
            | Ext::NatTPort(k, _)
            | Ext::Protocol(k, _) => *k,
            Ext::Sensitivity(_) => ExtKind::Sensitivity,
            Ext::Proposal(_) => ExtKind::Proposal,
            Ext::SpiRange(_) => ExtKind::SpiRange,
            Ext::KmPrivate(_) => ExtKind::KmPrivate,
            Ext::Policy(_) => ExtKind::Policy,
            Ext::Sa2(_) => ExtKind::Sa2,
            Ext::NatTType(_) => ExtKind::NatTType,
            Ext::NatTFrag(_) => ExtKind::NatTFrag,
            Ext::SaReplay(_) => ExtKind::SaReplay,
            Ext::SecCtx(_) => ExtKind::SecCtx,
            Ext::KmAddress(..) => ExtKind::KmAddress,
            Ext::Filter(_) => ExtKind::Filter,
            Ext::ObsdPolicy(_) => ExtKind::ObsdPolicy,
            Ext::UdpEncap(_) => ExtKind::UdpEncap,
            Ext::Tag(_) => ExtKind::Tag,
            Ext::Tap(_) => ExtKind::Tap,
            Ext::Counter(_) => ExtKind::Counter,
            Ext::Rdomain { .. } => ExtKind::Rdomain,
            Ext::Mtu(_) => ExtKind::Mtu,
            Ext::Replay(_) => ExtKind::Replay,
            Ext::Iface { .. } => ExtKind::Iface,
            Ext::Unknown(..) => return None,
        })
    }

    /// Decode the body (the bytes after the 4-byte ext header) of extension
    /// number `raw` in dialect `d`.
    pub fn parse(d: Dialect, raw: u16, body: &[u8]) -> Result<Ext> {
        let Some(kind) = d.ext_kind(raw) else {
            return Ok(Ext::Unknown(raw, body.to_vec()));
        };
        Ok(match shape(kind) {
            Shape::Sa => Ext::Sa(kind, Sa::parse(kind, body)?),
            Shape::Lifetime => Ext::Lifetime(kind, Lifetime::parse(kind, body)?),
            Shape::Address => Ext::Address(kind, Address::parse(d, body)?),
            Shape::Key => Ext::Key(kind, Key::parse(kind, body)?),
            Shape::Identity => Ext::Identity(kind, Identity::parse(kind, body)?),
            Shape::Supported => Ext::Supported(kind, parse_supported(kind, body)?),
            Shape::Port => Ext::NatTPort(kind, parse_port_ext(kind, body)?),
            Shape::Protocol => Ext::Protocol(kind, Protocol::parse(kind, body)?),
            Shape::Other => match kind {
                ExtKind::Sensitivity => Ext::Sensitivity(Sensitivity::parse(body)?),
                ExtKind::Proposal => Ext::Proposal(Proposal::parse(d, body)?),
                ExtKind::SpiRange => Ext::SpiRange(SpiRange::parse(body)?),
                ExtKind::KmPrivate => Ext::KmPrivate(body.to_vec()),
                ExtKind::Policy => Ext::Policy(Policy::parse(d, body)?),
                ExtKind::Sa2 => Ext::Sa2(Sa2::parse(body)?),
                ExtKind::NatTType => Ext::NatTType(parse_u8_ext(kind, body)?),
                ExtKind::NatTFrag => Ext::NatTFrag(parse_u16_ext(kind, body)?),
                ExtKind::SaReplay => Ext::SaReplay(parse_u32_ext(kind, body)?),
                ExtKind::SecCtx => Ext::SecCtx(SecCtx::parse(body)?),
                ExtKind::KmAddress => {
                    let addrs = body.get(4..).ok_or(Error::BadExtBody(kind))?;
                    let (a, n) = parse_sockaddr(d, addrs)?;
                    let (b, m) = parse_sockaddr(d, addrs.get(n..).ok_or(Error::BadExtBody(kind))?)?;
                    if super::align8(8 + n + m) != body.len() + 4 {
                        return Err(Error::BadExtBody(kind));
                    }
                    Ext::KmAddress(a, b)
                }
                ExtKind::Filter => Ext::Filter(Filter::parse(body)?),
                ExtKind::ObsdPolicy => Ext::ObsdPolicy(parse_u32_ext(kind, body)?),
                ExtKind::UdpEncap => Ext::UdpEncap(parse_port_ext(kind, body)?),
                ExtKind::Tag => Ext::Tag(parse_tag(body)?),
                ExtKind::Tap => Ext::Tap(parse_u32_ext(kind, body)?),
                ExtKind::Counter => Ext::Counter(Counter::parse(body)?),
                ExtKind::Rdomain => {
                    let (dom1, dom2) = parse_rdomain(body)?;
                    Ext::Rdomain { dom1, dom2 }
                }
                ExtKind::Mtu => Ext::Mtu(parse_u32_ext(kind, body)?),
                ExtKind::Replay => Ext::Replay(parse_obsd_replay(body)?),
                ExtKind::Iface => {
                    let (unit, direction) = parse_iface(body)?;
                    Ext::Iface { unit, direction }
                }
                // Every other kind has a shape above.
                _ => return Err(Error::BadExtBody(kind)),
            },
        })
    }

    /// The extension number in dialect `d`.
    pub fn raw_type(&self, d: Dialect) -> Result<u16> {
        match self {
            Ext::Unknown(raw, _) => Ok(*raw),
            e => {
                let kind = e.kind().ok_or(Error::NotInDialect("extension"))?;
                d.ext_raw(kind).ok_or(Error::NotInDialect(ext_name(kind)))
            }
        }
    }

    /// Append the whole extension, header and padding included.
    pub fn emit(&self, d: Dialect, out: &mut Vec<u8>) -> Result<()> {
        let raw = self.raw_type(d)?;
        if let Some(k) = self.kind() {
            let ok = match self {
                Ext::Sa(..) => shape(k) == Shape::Sa,
                Ext::Lifetime(..) => shape(k) == Shape::Lifetime,
                Ext::Address(..) => shape(k) == Shape::Address,
                Ext::Key(..) => shape(k) == Shape::Key,
                Ext::Identity(..) => shape(k) == Shape::Identity,
                Ext::Supported(..) => shape(k) == Shape::Supported,
                Ext::NatTPort(..) => shape(k) == Shape::Port,
                Ext::Protocol(..) => shape(k) == Shape::Protocol,
                _ => true,
            };
            if !ok {
                return Err(Error::BadExtBody(k));
            }
        }
        let start = out.len();
        out.put_u16(0); // length, patched below
        out.put_u16(raw);
        match self {
            Ext::Sa(_, v) => v.emit(out),
            Ext::Lifetime(_, v) => v.emit(out),
            Ext::Address(_, v) => v.emit(d, out),
            Ext::Key(_, v) => v.emit(out)?,
            Ext::Identity(_, v) => v.emit(out),
            Ext::Sensitivity(v) => v.emit(out)?,
            Ext::Proposal(v) => v.emit(d, out)?,
            Ext::Supported(_, v) => emit_supported(v, out),
            Ext::SpiRange(v) => v.emit(out),
            Ext::KmPrivate(v) => out.extend_from_slice(v),
            Ext::Policy(v) => v.emit(d, out)?,
            Ext::Sa2(v) => v.emit(out),
            Ext::NatTType(t) => {
                out.put_u8(*t);
                out.put_zeros(3);
            }
            Ext::NatTPort(_, p) | Ext::UdpEncap(p) => {
                out.put_u16be(*p);
                out.put_u16(0);
            }
            Ext::NatTFrag(v) => {
                out.put_u16(*v);
                out.put_u16(0);
            }
            Ext::SaReplay(v) | Ext::ObsdPolicy(v) | Ext::Tap(v) | Ext::Mtu(v) => out.put_u32(*v),
            Ext::SecCtx(v) => v.emit(out)?,
            Ext::KmAddress(a, b) => {
                out.put_u32(0);
                emit_sockaddr(d, a, out);
                emit_sockaddr(d, b, out);
            }
            Ext::Filter(v) => v.emit(out),
            Ext::Protocol(_, v) => v.emit(out),
            Ext::Tag(v) => emit_tag(v, out)?,
            Ext::Counter(v) => v.emit(out),
            Ext::Rdomain { dom1, dom2 } => {
                out.put_u16(*dom1);
                out.put_u16(*dom2);
            }
            Ext::Replay(v) => {
                out.put_u32(0);
                out.put_u64(*v);
            }
            Ext::Iface { unit, direction } => {
                out.put_u32(*unit);
                out.put_u8(*direction);
                out.put_zeros(7);
            }
            Ext::Unknown(_, data) => out.extend_from_slice(data),
        }
        out.pad8(start);
        let words = u16::try_from((out.len() - start) / 8).map_err(|_| Error::TooLong)?;
        if let Some(len) = out.get_mut(start..start + 2) {
            len.copy_from_slice(&words.to_ne_bytes());
        }
        Ok(())
    }
}

fn ext_name(k: ExtKind) -> &'static str {
    use ExtKind::*;
    match k {
        KmPrivate | Policy | Sa2 | NatTType | NatTSport | NatTDport | NatTOa => "KAME extension",
        NatTOar | NatTFrag | SaReplay | NewAddressSrc | NewAddressDst => "FreeBSD extension",
        SecCtx | KmAddress | Filter => "Linux extension",
        SrcMask | DstMask | Protocol | FlowType | SrcFlow | DstFlow | ObsdSa2 | Dst2
        | ObsdPolicy | SupportedComp | UdpEncap | LifetimeLastUse | Tag | Tap | Satype2
        | Counter | Rdomain | Mtu | Replay | Iface => "OpenBSD extension",
        _ => "extension",
    }
}

/// Iterate over (number, body) of the extensions after a base header, checking
/// each length (RFC 2367 2.2: in 64-bit words, header included, never zero).
pub struct ExtIter<'a> {
    rest: &'a [u8],
}

impl<'a> ExtIter<'a> {
    pub fn new(payload: &'a [u8]) -> ExtIter<'a> {
        ExtIter { rest: payload }
    }
}

impl<'a> Iterator for ExtIter<'a> {
    type Item = Result<(u16, &'a [u8])>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let r = (|| {
            let words = u16_at(self.rest, 0)?;
            let ty = u16_at(self.rest, 2)?;
            let len = usize::from(words) * 8;
            if len == 0 || len > self.rest.len() {
                return Err(Error::BadExtLength { ext: ty, len });
            }
            let (this, next) = self.rest.split_at(len);
            self.rest = next;
            Ok((ty, this.get(4..).unwrap_or(&[])))
        })();
        if r.is_err() {
            // Stop after the first error instead of looping on the same bytes.
            self.rest = &[];
        }
        Some(r)
    }
}
