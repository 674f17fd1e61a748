//! Extension bodies as plain values. Each `parse` takes the bytes after the 4-byte
//! extension header (padding included) and checks the size rules the kernels
//! enforce: fixed-size extensions exactly, variable ones as ALIGN8 of their content
//! (DIALECTS.md 2.8 "fixed-size exts must be exact", 3.2).

use super::bytes::{arr_at, slice_at, u16_at, u16be_at, u32_at, u32be_at, u64_at, u8_at, Put};
use super::{align8, Error, Result};
use crate::dialect::{Dialect, ExtKind};
use serde::{Deserialize, Serialize};
use std::fmt;
use zeroize::Zeroizing;

/// Bail out unless the body has exactly `total - 4` bytes.
fn exact(kind: ExtKind, body: &[u8], total: usize) -> Result<()> {
    if body.len() + 4 == total {
        Ok(())
    } else {
        Err(Error::BadExtBody(kind))
    }
}

/// `sadb_sa` (16 bytes): the SPI is in network byte order (RFC 2367 2.3.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sa {
    pub spi: u32,
    pub replay: u8,
    pub state: u8,
    pub auth: u8,
    pub encrypt: u8,
    pub flags: u32,
}

impl Sa {
    pub const LEN: usize = 16;
    pub fn parse(kind: ExtKind, body: &[u8]) -> Result<Sa> {
        exact(kind, body, Self::LEN)?;
        Ok(Sa {
            spi: u32be_at(body, 0)?,
            replay: u8_at(body, 4)?,
            state: u8_at(body, 5)?,
            auth: u8_at(body, 6)?,
            encrypt: u8_at(body, 7)?,
            flags: u32_at(body, 8)?,
        })
    }
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u32be(self.spi);
        out.put_u8(self.replay);
        out.put_u8(self.state);
        out.put_u8(self.auth);
        out.put_u8(self.encrypt);
        out.put_u32(self.flags);
    }
}

/// `sadb_lifetime` (32 bytes). HARD/SOFT: limits, 0 = none; CURRENT: usage so far
/// and absolute times (RFC 2367 2.3.2, DIALECTS.md 1.9).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifetime {
    pub allocations: u32,
    pub bytes: u64,
    pub addtime: u64,
    pub usetime: u64,
}

impl Lifetime {
    pub const LEN: usize = 32;
    pub fn parse(kind: ExtKind, body: &[u8]) -> Result<Lifetime> {
        exact(kind, body, Self::LEN)?;
        Ok(Lifetime {
            allocations: u32_at(body, 0)?,
            bytes: u64_at(body, 4)?,
            addtime: u64_at(body, 12)?,
            usetime: u64_at(body, 20)?,
        })
    }
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u32(self.allocations);
        out.put_u64(self.bytes);
        out.put_u64(self.addtime);
        out.put_u64(self.usetime);
    }
    pub fn is_zero(&self) -> bool {
        *self == Lifetime::default()
    }
}

/// `sadb_key`: key material, zeroized on drop and never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    pub bits: u16,
    pub data: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key {{ bits: {}, data: <redacted> }}", self.bits)
    }
}

impl Key {
    pub fn new(data: &[u8]) -> Result<Key> {
        let bits = data
            .len()
            .checked_mul(8)
            .and_then(|b| u16::try_from(b).ok());
        let bits = bits.ok_or(Error::ValueRange("key length"))?;
        Ok(Key {
            bits,
            data: Zeroizing::new(data.to_vec()),
        })
    }
    pub fn parse(kind: ExtKind, body: &[u8]) -> Result<Key> {
        let bits = u16_at(body, 0)?;
        let nbytes = usize::from(bits).div_ceil(8);
        // OpenBSD: total must be exactly 8 + ALIGN8(key bytes) (DIALECTS.md 1.7).
        if align8(8 + nbytes) != body.len() + 4 {
            return Err(Error::BadExtBody(kind));
        }
        let data = slice_at(body, 4, nbytes)?;
        Ok(Key {
            bits,
            data: Zeroizing::new(data.to_vec()),
        })
    }
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<()> {
        if usize::from(self.bits).div_ceil(8) != self.data.len() {
            return Err(Error::ValueRange("key bits"));
        }
        out.put_u16(self.bits);
        out.put_u16(0);
        out.extend_from_slice(&self.data);
        Ok(())
    }
}

/// `sadb_ident`: type, numeric id, then an optional NUL-terminated string.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub ident_type: u16,
    pub id: u64,
    /// The string without its NUL terminator and padding.
    pub data: Vec<u8>,
}

impl Identity {
    pub fn parse(kind: ExtKind, body: &[u8]) -> Result<Identity> {
        let ident_type = u16_at(body, 0)?;
        let id = u64_at(body, 4)?;
        let rest = body.get(12..).ok_or(Error::BadExtBody(kind))?;
        if (rest.len() + 16) % 8 != 0 {
            return Err(Error::BadExtBody(kind));
        }
        let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
        let data = rest.get(..end).unwrap_or(&[]).to_vec();
        Ok(Identity {
            ident_type,
            id,
            data,
        })
    }
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u16(self.ident_type);
        out.put_u16(0);
        out.put_u64(self.id);
        if !self.data.is_empty() {
            out.extend_from_slice(&self.data);
            out.put_u8(0);
        }
    }
}

/// `sadb_sens` with its two bitmaps (lengths in 64-bit words).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sensitivity {
    pub dpd: u32,
    pub sens_level: u8,
    pub integ_level: u8,
    pub sens_bitmap: Vec<u64>,
    pub integ_bitmap: Vec<u64>,
}

impl Sensitivity {
    pub fn parse(body: &[u8]) -> Result<Sensitivity> {
        let bad = Error::BadExtBody(ExtKind::Sensitivity);
        let sens_len = usize::from(u8_at(body, 5)?);
        let integ_len = usize::from(u8_at(body, 7)?);
        if 12 + (sens_len + integ_len) * 8 != body.len() {
            return Err(bad);
        }
        let words = |from: usize, n: usize| -> Result<Vec<u64>> {
            (0..n).map(|i| u64_at(body, from + i * 8)).collect()
        };
        Ok(Sensitivity {
            dpd: u32_at(body, 0)?,
            sens_level: u8_at(body, 4)?,
            integ_level: u8_at(body, 6)?,
            sens_bitmap: words(12, sens_len)?,
            integ_bitmap: words(12 + sens_len * 8, integ_len)?,
        })
    }
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<()> {
        let sl =
            u8::try_from(self.sens_bitmap.len()).map_err(|_| Error::ValueRange("sens bitmap"))?;
        let il =
            u8::try_from(self.integ_bitmap.len()).map_err(|_| Error::ValueRange("integ bitmap"))?;
        out.put_u32(self.dpd);
        out.put_u8(self.sens_level);
        out.put_u8(sl);
        out.put_u8(self.integ_level);
        out.put_u8(il);
        out.put_u32(0);
        for w in self.sens_bitmap.iter().chain(self.integ_bitmap.iter()) {
            out.put_u64(*w);
        }
        Ok(())
    }
}

/// `sadb_comb` (72 bytes): one acceptable algorithm combination in a PROPOSAL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comb {
    pub auth: u8,
    pub encrypt: u8,
    pub flags: u16,
    pub auth_minbits: u16,
    pub auth_maxbits: u16,
    pub encrypt_minbits: u16,
    pub encrypt_maxbits: u16,
    pub soft_allocations: u32,
    pub hard_allocations: u32,
    pub soft_bytes: u64,
    pub hard_bytes: u64,
    pub soft_addtime: u64,
    pub hard_addtime: u64,
    pub soft_usetime: u64,
    pub hard_usetime: u64,
}

impl Comb {
    pub const LEN: usize = 72;
    fn parse(b: &[u8]) -> Result<Comb> {
        Ok(Comb {
            auth: u8_at(b, 0)?,
            encrypt: u8_at(b, 1)?,
            flags: u16_at(b, 2)?,
            auth_minbits: u16_at(b, 4)?,
            auth_maxbits: u16_at(b, 6)?,
            encrypt_minbits: u16_at(b, 8)?,
            encrypt_maxbits: u16_at(b, 10)?,
            soft_allocations: u32_at(b, 16)?,
            hard_allocations: u32_at(b, 20)?,
            soft_bytes: u64_at(b, 24)?,
            hard_bytes: u64_at(b, 32)?,
            soft_addtime: u64_at(b, 40)?,
            hard_addtime: u64_at(b, 48)?,
            soft_usetime: u64_at(b, 56)?,
            hard_usetime: u64_at(b, 64)?,
        })
    }
    fn emit(&self, out: &mut Vec<u8>) {
        out.put_u8(self.auth);
        out.put_u8(self.encrypt);
        out.put_u16(self.flags);
        out.put_u16(self.auth_minbits);
        out.put_u16(self.auth_maxbits);
        out.put_u16(self.encrypt_minbits);
        out.put_u16(self.encrypt_maxbits);
        out.put_u32(0);
        out.put_u32(self.soft_allocations);
        out.put_u32(self.hard_allocations);
        for v in [
            self.soft_bytes,
            self.hard_bytes,
            self.soft_addtime,
            self.hard_addtime,
            self.soft_usetime,
            self.hard_usetime,
        ] {
            out.put_u64(v);
        }
    }
}

/// `sadb_prop`: KAME {u8 replay, 3 reserved}; OpenBSD {u8 num, u8 replay, u16 reserved}.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub replay: u8,
    pub combs: Vec<Comb>,
}

impl Proposal {
    pub fn parse(d: Dialect, body: &[u8]) -> Result<Proposal> {
        let replay = u8_at(body, if d == Dialect::OpenBsd { 1 } else { 0 })?;
        let rest = body.get(4..).ok_or(Error::Truncated)?;
        if rest.len() % Comb::LEN != 0 {
            return Err(Error::BadExtBody(ExtKind::Proposal));
        }
        let combs: Vec<Comb> = rest
            .chunks_exact(Comb::LEN)
            .map(Comb::parse)
            .collect::<Result<_>>()?;
        // OpenBSD's count byte must agree with the combinations present.
        if d == Dialect::OpenBsd && usize::from(u8_at(body, 0)?) != combs.len() {
            return Err(Error::BadExtBody(ExtKind::Proposal));
        }
        Ok(Proposal { replay, combs })
    }
    pub fn emit(&self, d: Dialect, out: &mut Vec<u8>) -> Result<()> {
        if d == Dialect::OpenBsd {
            let n =
                u8::try_from(self.combs.len()).map_err(|_| Error::ValueRange("proposal count"))?;
            out.put_u8(n);
            out.put_u8(self.replay);
            out.put_u16(0);
        } else {
            out.put_u8(self.replay);
            out.put_zeros(3);
        }
        for c in &self.combs {
            c.emit(out);
        }
        Ok(())
    }
}

/// `sadb_alg` (8 bytes), one entry of a SUPPORTED extension.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alg {
    pub id: u8,
    /// Bits on OpenBSD, bytes on FreeBSD: informational only (DIALECTS.md 1.4).
    pub ivlen: u8,
    pub minbits: u16,
    pub maxbits: u16,
}

pub fn parse_supported(kind: ExtKind, body: &[u8]) -> Result<Vec<Alg>> {
    let rest = body.get(4..).ok_or(Error::BadExtBody(kind))?;
    if rest.len() % 8 != 0 {
        return Err(Error::BadExtBody(kind));
    }
    rest.chunks_exact(8)
        .map(|c| {
            Ok(Alg {
                id: u8_at(c, 0)?,
                ivlen: u8_at(c, 1)?,
                minbits: u16_at(c, 2)?,
                maxbits: u16_at(c, 4)?,
            })
        })
        .collect()
}

pub fn emit_supported(algs: &[Alg], out: &mut Vec<u8>) {
    out.put_u32(0);
    for a in algs {
        out.put_u8(a.id);
        out.put_u8(a.ivlen);
        out.put_u16(a.minbits);
        out.put_u16(a.maxbits);
        out.put_u16(0);
    }
}

/// `sadb_spirange` (16 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpiRange {
    pub min: u32,
    pub max: u32,
}

impl SpiRange {
    pub fn parse(body: &[u8]) -> Result<SpiRange> {
        exact(ExtKind::SpiRange, body, 16)?;
        Ok(SpiRange {
            min: u32_at(body, 0)?,
            max: u32_at(body, 4)?,
        })
    }
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u32(self.min);
        out.put_u32(self.max);
        out.put_u32(0);
    }
}

/// KAME `sadb_x_sa2` (16 bytes): mode and reqid (DIALECTS.md 2.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sa2 {
    pub mode: u8,
    /// FreeBSD reports the replay counter here in GET/DUMP/EXPIRE.
    pub sequence: u32,
    pub reqid: u32,
}

impl Sa2 {
    pub fn parse(body: &[u8]) -> Result<Sa2> {
        exact(ExtKind::Sa2, body, 16)?;
        Ok(Sa2 {
            mode: u8_at(body, 0)?,
            sequence: u32_at(body, 4)?,
            reqid: u32_at(body, 8)?,
        })
    }
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u8(self.mode);
        out.put_u8(0);
        out.put_u16(0);
        out.put_u32(self.sequence);
        out.put_u32(self.reqid);
    }
}

/// Linux `sadb_x_sec_ctx`: an SELinux label.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecCtx {
    pub alg: u8,
    pub doi: u8,
    pub ctx: Vec<u8>,
}

impl SecCtx {
    pub fn parse(body: &[u8]) -> Result<SecCtx> {
        let len = usize::from(u16_at(body, 2)?);
        if align8(8 + len) != body.len() + 4 {
            return Err(Error::BadExtBody(ExtKind::SecCtx));
        }
        Ok(SecCtx {
            alg: u8_at(body, 0)?,
            doi: u8_at(body, 1)?,
            ctx: slice_at(body, 4, len)?.to_vec(),
        })
    }
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<()> {
        let len = u16::try_from(self.ctx.len()).map_err(|_| Error::ValueRange("sec ctx"))?;
        out.put_u8(self.alg);
        out.put_u8(self.doi);
        out.put_u16(len);
        out.extend_from_slice(&self.ctx);
        Ok(())
    }
}

/// Linux `sadb_x_filter` (40 bytes): narrows a DUMP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// Raw address bytes (IPv4 in the first 4).
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    pub family: u16,
    pub splen: u8,
    pub dplen: u8,
}

impl Filter {
    pub fn parse(body: &[u8]) -> Result<Filter> {
        exact(ExtKind::Filter, body, 40)?;
        Ok(Filter {
            saddr: arr_at(body, 0)?,
            daddr: arr_at(body, 16)?,
            family: u16_at(body, 32)?,
            splen: u8_at(body, 34)?,
            dplen: u8_at(body, 35)?,
        })
    }
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.saddr);
        out.extend_from_slice(&self.daddr);
        out.put_u16(self.family);
        out.put_u8(self.splen);
        out.put_u8(self.dplen);
    }
}

/// OpenBSD `sadb_protocol` (8 bytes): X_PROTOCOL, X_FLOW_TYPE, X_SATYPE2.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Protocol {
    /// Transport protocol, flow type, or SA type depending on the extension.
    pub proto: u8,
    pub direction: u8,
    pub flags: u8,
}

impl Protocol {
    pub fn parse(kind: ExtKind, body: &[u8]) -> Result<Protocol> {
        exact(kind, body, 8)?;
        Ok(Protocol {
            proto: u8_at(body, 0)?,
            direction: u8_at(body, 1)?,
            flags: u8_at(body, 2)?,
        })
    }
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u8(self.proto);
        out.put_u8(self.direction);
        out.put_u8(self.flags);
        out.put_u8(0);
    }
}

/// OpenBSD `sadb_x_counter` (72 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    pub ipackets: u64,
    pub opackets: u64,
    pub ibytes: u64,
    pub obytes: u64,
    pub idrops: u64,
    pub odrops: u64,
    pub idecompbytes: u64,
    pub ouncompbytes: u64,
}

impl Counter {
    pub fn parse(body: &[u8]) -> Result<Counter> {
        exact(ExtKind::Counter, body, 72)?;
        let w = |i: usize| u64_at(body, 4 + i * 8);
        Ok(Counter {
            ipackets: w(0)?,
            opackets: w(1)?,
            ibytes: w(2)?,
            obytes: w(3)?,
            idrops: w(4)?,
            odrops: w(5)?,
            idecompbytes: w(6)?,
            ouncompbytes: w(7)?,
        })
    }
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u32(0);
        for v in [
            self.ipackets,
            self.opackets,
            self.ibytes,
            self.obytes,
            self.idrops,
            self.odrops,
            self.idecompbytes,
            self.ouncompbytes,
        ] {
            out.put_u64(v);
        }
    }
}

/// Helpers for the one-field extensions (8 bytes total, value in the first bytes).
pub(crate) fn parse_u32_ext(kind: ExtKind, body: &[u8]) -> Result<u32> {
    exact(kind, body, 8)?;
    u32_at(body, 0)
}
pub(crate) fn parse_port_ext(kind: ExtKind, body: &[u8]) -> Result<u16> {
    exact(kind, body, 8)?;
    u16be_at(body, 0)
}
pub(crate) fn parse_u16_ext(kind: ExtKind, body: &[u8]) -> Result<u16> {
    exact(kind, body, 8)?;
    u16_at(body, 0)
}
pub(crate) fn parse_u8_ext(kind: ExtKind, body: &[u8]) -> Result<u8> {
    exact(kind, body, 8)?;
    u8_at(body, 0)
}
pub(crate) fn parse_rdomain(body: &[u8]) -> Result<(u16, u16)> {
    exact(ExtKind::Rdomain, body, 8)?;
    Ok((u16_at(body, 0)?, u16_at(body, 2)?))
}
pub(crate) fn parse_obsd_replay(body: &[u8]) -> Result<u64> {
    exact(ExtKind::Replay, body, 16)?;
    u64_at(body, 4)
}
pub(crate) fn parse_iface(body: &[u8]) -> Result<(u32, u8)> {
    exact(ExtKind::Iface, body, 16)?;
    Ok((u32_at(body, 0)?, u8_at(body, 4)?))
}
/// OpenBSD X_TAG: u32 taglen (strlen + 1) then the NUL-terminated name.
pub(crate) fn parse_tag(body: &[u8]) -> Result<Vec<u8>> {
    let bad = Error::BadExtBody(ExtKind::Tag);
    let taglen = usize::try_from(u32_at(body, 0)?).map_err(|_| bad.clone())?;
    if taglen == 0 || align8(8usize.saturating_add(taglen)) != body.len() + 4 {
        return Err(bad);
    }
    let s = slice_at(body, 4, taglen)?;
    match s.split_last() {
        Some((0, name)) if !name.contains(&0) => Ok(name.to_vec()),
        _ => Err(bad),
    }
}
pub(crate) fn emit_tag(name: &[u8], out: &mut Vec<u8>) -> Result<()> {
    if name.contains(&0) {
        return Err(Error::ValueRange("tag"));
    }
    let len = u32::try_from(name.len() + 1).map_err(|_| Error::ValueRange("tag"))?;
    out.put_u32(len);
    out.extend_from_slice(name);
    out.put_u8(0);
    Ok(())
}
