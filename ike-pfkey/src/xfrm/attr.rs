//! `struct nlattr` (include/uapi/linux/netlink.h) and the XFRMA_*
//! attributes of xfrm.h as plain values.
//!
//! Each attribute body is checked to have at least the struct its type
//! names (the kernel's `xfrma_policy` table in net/xfrm/xfrm_user.c asks
//! the same of requests); variable parts are bounded by the bytes present.

use super::bytes::{arr_at, slice_at, u16_at, u32_at, u64_at, u8_at, Put, PutXfrm};
use super::consts::*;
use super::nl::Records;
use super::structs::{EncapTmpl, LifetimeCur, UserTmpl};
use super::{align4, Error, Result};
use zeroize::Zeroizing;

/// Walk the attributes in `b` (after a message's fixed struct).
pub fn walk(b: &[u8]) -> Attrs<'_> {
    Records::new(b, take_attr)
}

/// One raw attribute: its type (flag bits removed) and its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawAttr<'a> {
    pub ty: u16,
    pub body: &'a [u8],
}

/// The attributes of one message, in order (stops after the first malformed).
pub type Attrs<'a> = Records<'a, RawAttr<'a>>;

fn take_attr(b: &[u8]) -> Result<(RawAttr<'_>, usize)> {
    let len = usize::from(u16_at(b, 0)?);
    let ty = u16_at(b, 2)? & NLA_TYPE_MASK;
    if len < NLA_HDRLEN || len > b.len() {
        return Err(Error::BadAttrLength { ty, len });
    }
    let body = slice_at(b, NLA_HDRLEN, len - NLA_HDRLEN)?;
    let next = align4(len).min(b.len());
    Ok((RawAttr { ty, body }, next))
}

/// Append one attribute; `body` writes its bytes, the length is fixed after.
pub fn put(out: &mut Vec<u8>, ty: u16, body: impl FnOnce(&mut Vec<u8>)) -> Result<()> {
    out.pad4();
    let start = out.len();
    out.put_u16(0);
    out.put_u16(ty);
    body(out);
    let len = u16::try_from(out.len() - start).map_err(|_| Error::ValueRange("attribute"))?;
    if let Some(f) = out.get_mut(start..start + 2) {
        f.copy_from_slice(&len.to_ne_bytes());
    }
    out.pad4();
    Ok(())
}

/// Which of the three algorithm attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlgKind {
    /// XFRMA_ALG_CRYPT, `struct xfrm_algo`.
    Crypt,
    /// XFRMA_ALG_AUTH, `struct xfrm_algo` (the kernel's default truncation).
    Auth,
    /// XFRMA_ALG_AUTH_TRUNC, `struct xfrm_algo_auth`: explicit truncation.
    AuthTrunc,
    /// XFRMA_ALG_AEAD, `struct xfrm_algo_aead`: explicit ICV length.
    Aead,
}

impl AlgKind {
    pub fn attr(self) -> u16 {
        match self {
            AlgKind::Crypt => XFRMA_ALG_CRYPT,
            AlgKind::Auth => XFRMA_ALG_AUTH,
            AlgKind::AuthTrunc => XFRMA_ALG_AUTH_TRUNC,
            AlgKind::Aead => XFRMA_ALG_AEAD,
        }
    }
    fn fixed_len(self) -> usize {
        match self {
            AlgKind::Crypt | AlgKind::Auth => XFRM_ALGO_LEN,
            AlgKind::AuthTrunc | AlgKind::Aead => XFRM_ALGO_AUTH_LEN,
        }
    }
}

/// An algorithm with its key. The key is zeroized on drop and never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Algo {
    pub kind: AlgKind,
    /// The kernel crypto API name, e.g. `rfc4106(gcm(aes))`.
    pub name: String,
    /// `alg_trunc_len` (AuthTrunc) or `alg_icv_len` (Aead) in bits; 0 otherwise.
    pub icv_bits: u32,
    pub key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Algo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Algo")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("icv_bits", &self.icv_bits)
            .field("key_len", &self.key.len())
            .finish()
    }
}

impl Algo {
    pub fn parse(kind: AlgKind, b: &[u8]) -> Result<Algo> {
        let fixed = kind.fixed_len();
        if b.len() < fixed {
            return Err(Error::BadAttr("algorithm"));
        }
        let raw: [u8; XFRM_ALG_NAME_LEN] = arr_at(b, 0)?;
        let nul = raw.iter().position(|&c| c == 0).ok_or(Error::BadAlgName)?;
        let name_bytes = raw.get(..nul).ok_or(Error::BadAlgName)?;
        if !name_bytes.iter().all(|c| c.is_ascii_graphic()) {
            return Err(Error::BadAlgName);
        }
        let name = String::from_utf8(name_bytes.to_vec()).map_err(|_| Error::BadAlgName)?;
        let key_bits = u32_at(b, XFRM_ALG_NAME_LEN)?;
        let icv_bits = if fixed == XFRM_ALGO_AUTH_LEN {
            u32_at(b, XFRM_ALG_NAME_LEN + 4)?
        } else {
            0
        };
        // The key is (key_bits + 7) / 8 bytes (xfrm_alg_len); it must be
        // there, and the length is bounded by the attribute, not by the
        // declared bit count.
        let key_len = usize::try_from(key_bits.div_ceil(8)).map_err(|_| Error::BadAttr("key"))?;
        let key = slice_at(b, fixed, key_len).map_err(|_| Error::BadAttr("algorithm key"))?;
        Ok(Algo {
            kind,
            name,
            icv_bits,
            key: Zeroizing::new(key.to_vec()),
        })
    }

    pub fn emit(&self, out: &mut Vec<u8>) -> Result<()> {
        let name = self.name.as_bytes();
        if name.len() >= XFRM_ALG_NAME_LEN {
            return Err(Error::ValueRange("algorithm name"));
        }
        let key_bits = u32::try_from(self.key.len())
            .ok()
            .and_then(|n| n.checked_mul(8))
            .ok_or(Error::ValueRange("key length"))?;
        put(out, self.kind.attr(), |o| {
            o.extend_from_slice(name);
            o.put_zeros(XFRM_ALG_NAME_LEN - name.len());
            o.put_u32(key_bits);
            if self.kind.fixed_len() == XFRM_ALGO_AUTH_LEN {
                o.put_u32(self.icv_bits);
            }
            o.extend_from_slice(&self.key);
        })
    }
}

/// `struct xfrm_replay_state_esn` without its bitmap (the broker never
/// reads or sets the window's bits, only the counters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayEsn {
    /// Bitmap length in 32-bit words.
    pub bmp_len: u32,
    pub oseq: u32,
    pub seq: u32,
    pub oseq_hi: u32,
    pub seq_hi: u32,
    pub replay_window: u32,
}

impl ReplayEsn {
    pub fn parse(b: &[u8]) -> Result<ReplayEsn> {
        if b.len() < XFRM_REPLAY_STATE_ESN_LEN {
            return Err(Error::BadAttr("replay ESN"));
        }
        let r = ReplayEsn {
            bmp_len: u32_at(b, 0)?,
            oseq: u32_at(b, 4)?,
            seq: u32_at(b, 8)?,
            oseq_hi: u32_at(b, 12)?,
            seq_hi: u32_at(b, 16)?,
            replay_window: u32_at(b, 20)?,
        };
        // The kernel's own bound (verify_replay: bmp_len at most
        // XFRMA_REPLAY_ESN_MAX bits) and the bitmap must be present.
        if r.bmp_len > XFRMA_REPLAY_ESN_MAX / 32 {
            return Err(Error::BadAttr("replay ESN bitmap length"));
        }
        let bmp = usize::try_from(r.bmp_len).map_err(|_| Error::BadAttr("replay ESN"))? * 4;
        if b.len() < XFRM_REPLAY_STATE_ESN_LEN + bmp {
            return Err(Error::BadAttr("replay ESN bitmap"));
        }
        Ok(r)
    }

    /// The 64-bit outbound sequence number.
    pub fn oseq64(&self) -> u64 {
        (u64::from(self.oseq_hi) << 32) | u64::from(self.oseq)
    }

    /// The attribute with an all-zero bitmap of `bmp_len` words.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<()> {
        if self.bmp_len > XFRMA_REPLAY_ESN_MAX / 32 {
            return Err(Error::ValueRange("replay window"));
        }
        put(out, XFRMA_REPLAY_ESN_VAL, |o| {
            o.put_u32(self.bmp_len);
            o.put_u32(self.oseq);
            o.put_u32(self.seq);
            o.put_u32(self.oseq_hi);
            o.put_u32(self.seq_hi);
            o.put_u32(self.replay_window);
            o.put_zeros(self.bmp_len as usize * 4);
        })
    }
}

/// `struct xfrm_replay_state` (XFRMA_REPLAY_VAL, the non-ESN counters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayState {
    pub oseq: u32,
    pub seq: u32,
    pub bitmap: u32,
}

/// The attributes of an SA, policy or event message the broker reads. Any
/// other attribute is skipped (the kernel adds new ones over time).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttrSet {
    pub crypt: Option<Algo>,
    pub auth: Option<Algo>,
    pub aead: Option<Algo>,
    pub encap: Option<EncapTmpl>,
    pub tmpls: Vec<UserTmpl>,
    pub ltime: Option<LifetimeCur>,
    pub replay: Option<ReplayState>,
    pub replay_esn: Option<ReplayEsn>,
    /// XFRMA_SRCADDR raw (its family is the message's).
    pub srcaddr: Option<[u8; 16]>,
    pub lastused: Option<u64>,
    pub mark: Option<(u32, u32)>,
    pub extra_flags: Option<u32>,
    pub policy_type: Option<u8>,
    pub if_id: Option<u32>,
    /// Types seen, to refuse duplicates of the ones above.
    seen: u64,
}

impl AttrSet {
    pub fn parse(b: &[u8]) -> Result<AttrSet> {
        let mut s = AttrSet::default();
        for a in walk(b) {
            let a = a?;
            if (1..64).contains(&a.ty) && a.ty != XFRMA_PAD {
                let bit = 1u64 << a.ty;
                if s.seen & bit != 0 {
                    return Err(Error::DuplicateAttr(a.ty));
                }
                s.seen |= bit;
            }
            let body = a.body;
            match a.ty {
                XFRMA_ALG_CRYPT => s.crypt = Some(Algo::parse(AlgKind::Crypt, body)?),
                // The kernel sends both AUTH and AUTH_TRUNC for one
                // algorithm; the truncated form says more, so it wins.
                XFRMA_ALG_AUTH if s.auth.is_none() => {
                    s.auth = Some(Algo::parse(AlgKind::Auth, body)?)
                }
                XFRMA_ALG_AUTH_TRUNC => s.auth = Some(Algo::parse(AlgKind::AuthTrunc, body)?),
                XFRMA_ALG_AEAD => s.aead = Some(Algo::parse(AlgKind::Aead, body)?),
                XFRMA_ENCAP => s.encap = Some(EncapTmpl::parse(body)?),
                XFRMA_TMPL => {
                    if body.len() % XFRM_USER_TMPL_LEN != 0 {
                        return Err(Error::BadAttr("template"));
                    }
                    s.tmpls = body
                        .chunks_exact(XFRM_USER_TMPL_LEN)
                        .map(UserTmpl::parse)
                        .collect::<Result<Vec<_>>>()?;
                }
                XFRMA_LTIME_VAL => s.ltime = Some(LifetimeCur::parse(body)?),
                XFRMA_REPLAY_VAL => {
                    if body.len() < XFRM_REPLAY_STATE_LEN {
                        return Err(Error::BadAttr("replay"));
                    }
                    s.replay = Some(ReplayState {
                        oseq: u32_at(body, 0)?,
                        seq: u32_at(body, 4)?,
                        bitmap: u32_at(body, 8)?,
                    })
                }
                XFRMA_REPLAY_ESN_VAL => s.replay_esn = Some(ReplayEsn::parse(body)?),
                XFRMA_SRCADDR => {
                    s.srcaddr = Some(arr_at(body, 0).map_err(|_| Error::BadAttr("source address"))?)
                }
                XFRMA_LASTUSED => {
                    s.lastused = Some(u64_at(body, 0).map_err(|_| Error::BadAttr("last used"))?)
                }
                XFRMA_MARK => {
                    let v = u32_at(body, 0).map_err(|_| Error::BadAttr("mark"))?;
                    let m = u32_at(body, 4).map_err(|_| Error::BadAttr("mark"))?;
                    s.mark = Some((v, m))
                }
                XFRMA_SA_EXTRA_FLAGS => {
                    s.extra_flags = Some(u32_at(body, 0).map_err(|_| Error::BadAttr("flags"))?)
                }
                XFRMA_POLICY_TYPE => {
                    s.policy_type = Some(u8_at(body, 0).map_err(|_| Error::BadAttr("policy type"))?)
                }
                XFRMA_IF_ID => {
                    s.if_id = Some(u32_at(body, 0).map_err(|_| Error::BadAttr("if_id"))?)
                }
                _ => {}
            }
        }
        Ok(s)
    }
}
