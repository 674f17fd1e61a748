//! The requests the broker sends on NETLINK_XFRM, built from the IPC's
//! values (the same `BrokerRequest`s the PF_KEY path encodes), after the
//! broker's allow-list passed them.
//!
//! Every request carries `NLM_F_REQUEST`; those that have no reply of their
//! own (NEWSA, UPDSA, DELSA, NEWPOLICY, DELPOLICY) also `NLM_F_ACK`, so the
//! kernel answers each with an NLMSG_ERROR whose error is 0 or an errno and
//! whose echoed header carries our seq: that is how replies find their
//! request when many are in flight. ALLOCSPI and GETSA answer with a NEWSA
//! (same seq) or an NLMSG_ERROR.

use super::attr::{AlgKind, Algo, ReplayEsn};
use super::bytes::{family_of, Put, PutXfrm};
use super::consts::*;
use super::nl;
use super::structs::*;
use super::{attr, Error, Result};
use ike_ipc::config::{Encapsulation, Encryption, Integrity, IpsecProtocol};
use ike_ipc::msg::pfkey::{
    BrokerPolicyParams, BrokerSaParams, PolicyDir, SaId, SaLifetime, Selectors,
};
use std::net::IpAddr;
use zeroize::Zeroizing;

/// SPIs ALLOCSPI may pick: 1-255 are reserved by IANA (RFC 4303 2.1).
pub const SPI_MIN: u32 = 0x100;
pub const SPI_MAX: u32 = u32::MAX;

/// The kernel crypto API name, attribute and ICV (bits) of an encryption
/// transform. AEADs go in XFRMA_ALG_AEAD with their ICV; the rest in
/// XFRMA_ALG_CRYPT. Names: the templates of crypto/ (rfc4106, rfc4543,
/// rfc3686, rfc7539esp) as net/xfrm/xfrm_algo.c lists them.
pub fn encryption_alg(e: Encryption) -> (AlgKind, &'static str, u32) {
    use Encryption::*;
    match e {
        TripleDes => (AlgKind::Crypt, "cbc(des3_ede)", 0),
        Cast => (AlgKind::Crypt, "cbc(cast5)", 0),
        Blowfish => (AlgKind::Crypt, "cbc(blowfish)", 0),
        Null => (AlgKind::Crypt, "ecb(cipher_null)", 0),
        Aes128Cbc | Aes192Cbc | Aes256Cbc => (AlgKind::Crypt, "cbc(aes)", 0),
        Aes128Ctr | Aes192Ctr | Aes256Ctr => (AlgKind::Crypt, "rfc3686(ctr(aes))", 0),
        Aes128Gcm16 | Aes192Gcm16 | Aes256Gcm16 => (AlgKind::Aead, "rfc4106(gcm(aes))", 128),
        Aes128Gcm12 | Aes192Gcm12 | Aes256Gcm12 => (AlgKind::Aead, "rfc4106(gcm(aes))", 96),
        Aes128Gmac | Aes192Gmac | Aes256Gmac => (AlgKind::Aead, "rfc4543(gcm(aes))", 128),
        ChaCha20Poly1305 => (AlgKind::Aead, "rfc7539esp(chacha20,poly1305)", 128),
    }
}

/// HMAC name and the truncation RFC 4868 / RFC 2404 / RFC 2403 fix for
/// IPsec: sent as XFRMA_ALG_AUTH_TRUNC so that SHA2-256 gets its 128 bits
/// (af_key can only say 96, DIALECTS.md 5.4).
pub fn integrity_alg(i: Integrity) -> (&'static str, u32) {
    match i {
        Integrity::HmacMd5 => ("hmac(md5)", 96),
        Integrity::HmacSha1 => ("hmac(sha1)", 96),
        Integrity::HmacSha2_256 => ("hmac(sha256)", 128),
        Integrity::HmacSha2_384 => ("hmac(sha384)", 192),
        Integrity::HmacSha2_512 => ("hmac(sha512)", 256),
    }
}

fn proto_number(p: IpsecProtocol) -> u8 {
    match p {
        IpsecProtocol::Esp => IPPROTO_ESP,
        IpsecProtocol::Ah => IPPROTO_AH,
    }
}

fn mode_number(m: Encapsulation) -> u8 {
    match m {
        Encapsulation::Tunnel => XFRM_MODE_TUNNEL,
        Encapsulation::Transport => XFRM_MODE_TRANSPORT,
    }
}

fn same_family(a: &IpAddr, b: &IpAddr) -> Result<u16> {
    if a.is_ipv4() != b.is_ipv4() {
        return Err(Error::BadMessage(
            "source and destination of different families",
        ));
    }
    Ok(family_of(a))
}

/// 0 (no limit) becomes XFRM_INF for counts; a zero timer is no timer.
fn lifetimes(soft: &SaLifetime, hard: &SaLifetime) -> LifetimeCfg {
    let lim = |v: u64| if v == 0 { XFRM_INF } else { v };
    LifetimeCfg {
        soft_byte_limit: lim(soft.bytes),
        hard_byte_limit: lim(hard.bytes),
        soft_packet_limit: lim(u64::from(soft.packets)),
        hard_packet_limit: lim(u64::from(hard.packets)),
        soft_add_expires_seconds: soft.seconds,
        hard_add_expires_seconds: hard.seconds,
        soft_use_expires_seconds: 0,
        hard_use_expires_seconds: 0,
    }
}

/// The SA's own selector: the two hosts in transport mode (the kernel
/// checks transport traffic against it); any inner traffic (AF_UNSPEC,
/// prefix 0) in tunnel mode, where the policies select what goes in.
fn sa_selector(mode: Encapsulation, src: &IpAddr, dst: &IpAddr, family: u16) -> Selector {
    match mode {
        Encapsulation::Transport => {
            let plen = if family == AF_INET { 32 } else { 128 };
            Selector {
                daddr: raw_addr(dst),
                saddr: raw_addr(src),
                family,
                prefixlen_d: plen,
                prefixlen_s: plen,
                ..Selector::default()
            }
        }
        Encapsulation::Tunnel => Selector::default(),
    }
}

/// XFRM_MSG_ALLOCSPI: reserve an inbound SPI (a larval SA from `src` to
/// `dst`). `acquire_seq` ties it to the kernel's ACQUIRE state.
pub fn allocspi(
    seq: u32,
    proto: IpsecProtocol,
    src: &IpAddr,
    dst: &IpAddr,
    mode: Encapsulation,
    reqid: u32,
    acquire_seq: u32,
) -> Result<Vec<u8>> {
    let family = same_family(src, dst)?;
    let info = UsersaInfo {
        sel: sa_selector(mode, src, dst, family),
        id: XfrmId {
            daddr: raw_addr(dst),
            spi: 0,
            proto: proto_number(proto),
        },
        saddr: raw_addr(src),
        lft: LifetimeCfg::default(),
        seq: acquire_seq,
        reqid,
        family,
        mode: mode_number(mode),
        ..UsersaInfo::default()
    };
    let mut out = nl::begin(XFRM_MSG_ALLOCSPI, NLM_F_REQUEST, seq);
    UserspiInfo {
        info,
        min: SPI_MIN,
        max: SPI_MAX,
    }
    .emit(&mut out);
    nl::finish(out)
}

/// XFRM_MSG_NEWSA (`update` false: outbound SA with the peer's SPI) or
/// XFRM_MSG_UPDSA (`update` true: completes the larval SA of ALLOCSPI, or
/// changes the encapsulation and lifetimes of a mature one).
pub fn sa(seq: u32, p: &BrokerSaParams, update: bool) -> Result<Vec<u8>> {
    let family = same_family(&p.id.src, &p.id.dst)?;
    let mut flags = 0u8;
    // ESN, or a window wider than the legacy u8 field: the window goes in
    // XFRMA_REPLAY_ESN_VAL and `replay_window` must be 0 (xfrm_user.c
    // verify_replay). An ESN SA needs a window of at least 1 where the
    // kernel checks replay (xfrm_init_replay).
    let esn_attr = if p.esn || p.replay_window > u32::from(u8::MAX) {
        let window = if p.esn {
            p.replay_window.max(1)
        } else {
            p.replay_window
        };
        if window > XFRMA_REPLAY_ESN_MAX {
            return Err(Error::ValueRange("replay window"));
        }
        if p.esn {
            flags |= XFRM_STATE_ESN;
        }
        Some(ReplayEsn {
            bmp_len: window.div_ceil(32),
            replay_window: window,
            ..ReplayEsn::default()
        })
    } else {
        None
    };
    let legacy_window = if esn_attr.is_some() {
        0
    } else {
        u8::try_from(p.replay_window).map_err(|_| Error::ValueRange("replay window"))?
    };
    if p.mode == Encapsulation::Tunnel {
        // Inner traffic of either family (the selector is AF_UNSPEC).
        flags |= XFRM_STATE_AF_UNSPEC;
    }
    let info = UsersaInfo {
        sel: sa_selector(p.mode, &p.id.src, &p.id.dst, family),
        id: XfrmId {
            daddr: raw_addr(&p.id.dst),
            spi: p.id.spi,
            proto: proto_number(p.id.proto),
        },
        saddr: raw_addr(&p.id.src),
        lft: lifetimes(&p.soft, &p.hard),
        seq: p.acquire_seq,
        reqid: p.reqid,
        family,
        mode: mode_number(p.mode),
        replay_window: legacy_window,
        flags,
        ..UsersaInfo::default()
    };
    let ty = if update {
        XFRM_MSG_UPDSA
    } else {
        XFRM_MSG_NEWSA
    };
    let mut out = nl::begin(ty, NLM_F_REQUEST | NLM_F_ACK, seq);
    info.emit(&mut out);
    if let Some(e) = p.encryption {
        let (kind, name, icv_bits) = encryption_alg(e);
        let want = usize::from(crate::broker::algs::encryption_key_bits(e) / 8);
        if p.enc_key.len() != want {
            return Err(Error::ValueRange("encryption key length"));
        }
        Algo {
            kind,
            name: name.into(),
            icv_bits,
            key: Zeroizing::new(p.enc_key.expose().to_vec()),
        }
        .emit(&mut out)?;
    }
    if let Some(i) = p.integrity {
        let (name, trunc) = integrity_alg(i);
        Algo {
            kind: AlgKind::AuthTrunc,
            name: name.into(),
            icv_bits: trunc,
            key: Zeroizing::new(p.auth_key.expose().to_vec()),
        }
        .emit(&mut out)?;
    }
    if let Some(n) = p.natt {
        attr::put(&mut out, XFRMA_ENCAP, |o| {
            EncapTmpl {
                encap_type: UDP_ENCAP_ESPINUDP,
                sport: n.sport,
                dport: n.dport,
                oa: [0; 16],
            }
            .emit(o)
        })?;
    }
    if let Some(r) = esn_attr {
        r.emit(&mut out)?;
    }
    // Like the PF_KEY ADD message, these bytes hold the keys until written.
    nl::finish(out)
}

fn usersa_id(s: &SaId) -> UsersaId {
    UsersaId {
        daddr: raw_addr(&s.dst),
        spi: s.spi,
        family: family_of(&s.dst),
        proto: proto_number(s.proto),
    }
}

/// XFRM_MSG_DELSA (`get` false) or XFRM_MSG_GETSA (`get` true) of one SA,
/// with XFRMA_SRCADDR so that only the SA between these two hosts matches.
pub fn sa_id(seq: u32, s: &SaId, get: bool) -> Result<Vec<u8>> {
    same_family(&s.src, &s.dst)?;
    let (ty, flags) = if get {
        (XFRM_MSG_GETSA, NLM_F_REQUEST)
    } else {
        (XFRM_MSG_DELSA, NLM_F_REQUEST | NLM_F_ACK)
    };
    let mut out = nl::begin(ty, flags, seq);
    usersa_id(s).emit(&mut out);
    attr::put(&mut out, XFRMA_SRCADDR, |o| o.put_addr(Some(&s.src)))?;
    nl::finish(out)
}

fn dir_number(d: PolicyDir) -> u8 {
    match d {
        PolicyDir::In => XFRM_POLICY_IN,
        PolicyDir::Out => XFRM_POLICY_OUT,
        PolicyDir::Fwd => XFRM_POLICY_FWD,
    }
}

/// `xfrm_selector` of the IPC's selectors (oriented like the policy).
pub fn selector(s: &Selectors) -> Result<Selector> {
    let family = same_family(&s.src.addr, &s.dst.addr)?;
    let port = |p: Option<u16>| p.map_or((0, 0), |p| (p, 0xffff));
    let (sport, sport_mask) = port(s.src_port);
    let (dport, dport_mask) = port(s.dst_port);
    Ok(Selector {
        daddr: raw_addr(&s.dst.addr),
        saddr: raw_addr(&s.src.addr),
        dport,
        dport_mask,
        sport,
        sport_mask,
        family,
        prefixlen_d: s.dst.prefix,
        prefixlen_s: s.src.prefix,
        proto: s.proto.unwrap_or(0),
        ifindex: 0,
        user: 0,
    })
}

/// Lower wins on Linux: more specific selectors get lower numbers, so a
/// host policy beats a subnet policy that covers it. Base and scale are
/// ours (no other daemon's numbers are assumed).
pub fn priority(s: &Selectors) -> u32 {
    let prefixes = u32::from(s.src.prefix) + u32::from(s.dst.prefix); // at most 256
    let wild = u32::from(s.proto.is_none()) * 4
        + u32::from(s.src_port.is_none()) * 2
        + u32::from(s.dst_port.is_none());
    0x1000 + (256u32.saturating_sub(prefixes)) * 8 + wild
}

/// XFRM_MSG_NEWPOLICY (or UPDPOLICY when `update`: replace one that
/// exists) with one template carrying the reqid that ties it to its SAs.
pub fn policy(seq: u32, p: &BrokerPolicyParams, update: bool) -> Result<Vec<u8>> {
    let sel = selector(&p.sel)?;
    let info = UserpolicyInfo {
        sel,
        lft: LifetimeCfg::default(),
        priority: priority(&p.sel),
        dir: dir_number(p.dir),
        action: XFRM_POLICY_ALLOW,
        share: XFRM_SHARE_ANY,
        ..UserpolicyInfo::default()
    };
    let (family, saddr, daddr) = match (p.mode, p.tunnel) {
        (Encapsulation::Tunnel, Some((s, d))) => (same_family(&s, &d)?, raw_addr(&s), raw_addr(&d)),
        (Encapsulation::Tunnel, None) => {
            return Err(Error::BadMessage("tunnel policy without tunnel addresses"))
        }
        // Transport: the packet's own addresses are the SA's.
        (Encapsulation::Transport, _) => (sel.family, [0; 16], [0; 16]),
    };
    let tmpl = UserTmpl {
        id: XfrmId {
            daddr,
            spi: 0,
            proto: proto_number(p.proto),
        },
        family,
        saddr,
        reqid: p.reqid,
        mode: mode_number(p.mode),
        share: XFRM_SHARE_ANY,
        optional: 0,
        aalgos: u32::MAX,
        ealgos: u32::MAX,
        calgos: u32::MAX,
    };
    let ty = if update {
        XFRM_MSG_UPDPOLICY
    } else {
        XFRM_MSG_NEWPOLICY
    };
    let mut out = nl::begin(ty, NLM_F_REQUEST | NLM_F_ACK, seq);
    info.emit(&mut out);
    attr::put(&mut out, XFRMA_TMPL, |o| tmpl.emit(o))?;
    nl::finish(out)
}

/// XFRM_MSG_DELPOLICY by selector and direction.
pub fn delete_policy(seq: u32, p: &BrokerPolicyParams) -> Result<Vec<u8>> {
    let mut out = nl::begin(XFRM_MSG_DELPOLICY, NLM_F_REQUEST | NLM_F_ACK, seq);
    UserpolicyId {
        sel: selector(&p.sel)?,
        index: 0,
        dir: dir_number(p.dir),
    }
    .emit(&mut out);
    nl::finish(out)
}

/// XFRM_MSG_FLUSHSA of every ESP and AH SA (`flush-on-start`; never for
/// ike-net), then XFRM_MSG_FLUSHPOLICY: `xfrm_usersa_flush` names one
/// protocol, so one message per protocol.
pub fn flush(seq: u32, what: Flush) -> Result<Vec<u8>> {
    let ty = match what {
        Flush::Sa(_) => XFRM_MSG_FLUSHSA,
        Flush::Policies => XFRM_MSG_FLUSHPOLICY,
    };
    let mut out = nl::begin(ty, NLM_F_REQUEST | NLM_F_ACK, seq);
    if let Flush::Sa(p) = what {
        out.put_u8(proto_number(p));
        out.pad4();
    }
    nl::finish(out)
}

/// What [`flush`] removes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flush {
    Sa(IpsecProtocol),
    Policies,
}
