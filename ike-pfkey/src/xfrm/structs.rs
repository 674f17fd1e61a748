//! The fixed structs of xfrm.h as plain values, with the offsets of the
//! 64-bit layout (checked with offsetof against linux-libc-dev's
//! /usr/include/linux/xfrm.h; see `consts.rs` for the sizes).
//!
//! Addresses stay raw 16-byte `xfrm_address_t` here: which family they are
//! is said by another field (`family` of the SA, selector or template), and
//! [`addr`] reads them once that is known.

use super::bytes::{
    addr_at, arr_at, u16_at, u16be_at, u32_at, u32be_at, u64_at, u8_at, Put, PutXfrm,
};
use super::consts::*;
use super::{Error, Result};
use std::net::IpAddr;

pub type RawAddr = [u8; 16];

/// Read a raw `xfrm_address_t` as `family`.
pub fn addr(raw: &RawAddr, family: u16) -> Result<IpAddr> {
    addr_at(raw, 0, family)
}

/// A raw address from an `IpAddr` (IPv4 in the first 4 bytes).
pub fn raw_addr(a: &IpAddr) -> RawAddr {
    let mut v = Vec::with_capacity(16);
    v.put_addr(Some(a));
    let mut r = [0u8; 16];
    r.copy_from_slice(&v);
    r
}

fn need(b: &[u8], len: usize, what: &'static str) -> Result<()> {
    if b.len() < len {
        Err(Error::BadAttr(what))
    } else {
        Ok(())
    }
}

/// `struct xfrm_selector` (56 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    pub daddr: RawAddr,
    pub saddr: RawAddr,
    pub dport: u16,
    pub dport_mask: u16,
    pub sport: u16,
    pub sport_mask: u16,
    pub family: u16,
    pub prefixlen_d: u8,
    pub prefixlen_s: u8,
    pub proto: u8,
    pub ifindex: i32,
    pub user: u32,
}

impl Selector {
    pub fn parse(b: &[u8]) -> Result<Selector> {
        need(b, XFRM_SELECTOR_LEN, "selector")?;
        Ok(Selector {
            daddr: arr_at(b, 0)?,
            saddr: arr_at(b, 16)?,
            dport: u16be_at(b, 32)?,
            dport_mask: u16be_at(b, 34)?,
            sport: u16be_at(b, 36)?,
            sport_mask: u16be_at(b, 38)?,
            family: u16_at(b, 40)?,
            prefixlen_d: u8_at(b, 42)?,
            prefixlen_s: u8_at(b, 43)?,
            proto: u8_at(b, 44)?,
            ifindex: super::bytes::i32_at(b, 48)?,
            user: u32_at(b, 52)?,
        })
    }
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.daddr);
        out.extend_from_slice(&self.saddr);
        out.put_u16be(self.dport);
        out.put_u16be(self.dport_mask);
        out.put_u16be(self.sport);
        out.put_u16be(self.sport_mask);
        out.put_u16(self.family);
        out.put_u8(self.prefixlen_d);
        out.put_u8(self.prefixlen_s);
        out.put_u8(self.proto);
        out.put_zeros(3);
        out.extend_from_slice(&self.ifindex.to_ne_bytes());
        out.put_u32(self.user);
    }
}

/// `struct xfrm_id` (24 bytes): destination, SPI (network order), protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XfrmId {
    pub daddr: RawAddr,
    pub spi: u32,
    pub proto: u8,
}

impl XfrmId {
    pub fn parse(b: &[u8]) -> Result<XfrmId> {
        need(b, XFRM_ID_LEN, "xfrm_id")?;
        Ok(XfrmId {
            daddr: arr_at(b, 0)?,
            spi: u32be_at(b, 16)?,
            proto: u8_at(b, 20)?,
        })
    }
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.daddr);
        out.put_u32be(self.spi);
        out.put_u8(self.proto);
        out.put_zeros(3);
    }
}

/// `struct xfrm_lifetime_cfg` (64 bytes); `XFRM_INF` = no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LifetimeCfg {
    pub soft_byte_limit: u64,
    pub hard_byte_limit: u64,
    pub soft_packet_limit: u64,
    pub hard_packet_limit: u64,
    pub soft_add_expires_seconds: u64,
    pub hard_add_expires_seconds: u64,
    pub soft_use_expires_seconds: u64,
    pub hard_use_expires_seconds: u64,
}

impl Default for LifetimeCfg {
    /// No limits: byte and packet counts at XFRM_INF, no timers (0).
    fn default() -> LifetimeCfg {
        LifetimeCfg {
            soft_byte_limit: XFRM_INF,
            hard_byte_limit: XFRM_INF,
            soft_packet_limit: XFRM_INF,
            hard_packet_limit: XFRM_INF,
            soft_add_expires_seconds: 0,
            hard_add_expires_seconds: 0,
            soft_use_expires_seconds: 0,
            hard_use_expires_seconds: 0,
        }
    }
}

impl LifetimeCfg {
    pub fn parse(b: &[u8]) -> Result<LifetimeCfg> {
        need(b, XFRM_LIFETIME_CFG_LEN, "lifetime")?;
        Ok(LifetimeCfg {
            soft_byte_limit: u64_at(b, 0)?,
            hard_byte_limit: u64_at(b, 8)?,
            soft_packet_limit: u64_at(b, 16)?,
            hard_packet_limit: u64_at(b, 24)?,
            soft_add_expires_seconds: u64_at(b, 32)?,
            hard_add_expires_seconds: u64_at(b, 40)?,
            soft_use_expires_seconds: u64_at(b, 48)?,
            hard_use_expires_seconds: u64_at(b, 56)?,
        })
    }
    pub fn emit(&self, out: &mut Vec<u8>) {
        for v in [
            self.soft_byte_limit,
            self.hard_byte_limit,
            self.soft_packet_limit,
            self.hard_packet_limit,
            self.soft_add_expires_seconds,
            self.hard_add_expires_seconds,
            self.soft_use_expires_seconds,
            self.hard_use_expires_seconds,
        ] {
            out.put_u64(v);
        }
    }
}

/// `struct xfrm_lifetime_cur` (32 bytes): usage so far; times in seconds
/// since the epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LifetimeCur {
    pub bytes: u64,
    pub packets: u64,
    pub add_time: u64,
    pub use_time: u64,
}

impl LifetimeCur {
    pub fn parse(b: &[u8]) -> Result<LifetimeCur> {
        need(b, XFRM_LIFETIME_CUR_LEN, "current lifetime")?;
        Ok(LifetimeCur {
            bytes: u64_at(b, 0)?,
            packets: u64_at(b, 8)?,
            add_time: u64_at(b, 16)?,
            use_time: u64_at(b, 24)?,
        })
    }
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u64(self.bytes);
        out.put_u64(self.packets);
        out.put_u64(self.add_time);
        out.put_u64(self.use_time);
    }
}

/// `struct xfrm_stats` (12 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub replay_window: u32,
    pub replay: u32,
    pub integrity_failed: u32,
}

/// `struct xfrm_usersa_info` (224 bytes): an SA.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UsersaInfo {
    pub sel: Selector,
    pub id: XfrmId,
    pub saddr: RawAddr,
    pub lft: LifetimeCfg,
    pub curlft: LifetimeCur,
    pub stats: Stats,
    /// The ACQUIRE's sequence number this SA answers (ALLOCSPI, NEWSA).
    pub seq: u32,
    pub reqid: u32,
    /// The family of `id.daddr` and `saddr`.
    pub family: u16,
    pub mode: u8,
    /// Legacy replay window (bits); 0 when XFRMA_REPLAY_ESN_VAL is used.
    pub replay_window: u8,
    pub flags: u8,
}

impl UsersaInfo {
    pub fn parse(b: &[u8]) -> Result<UsersaInfo> {
        need(b, XFRM_USERSA_INFO_LEN, "xfrm_usersa_info")?;
        Ok(UsersaInfo {
            sel: Selector::parse(b)?,
            id: XfrmId::parse(b.get(56..).ok_or(Error::Truncated)?)?,
            saddr: arr_at(b, 80)?,
            lft: LifetimeCfg::parse(b.get(96..).ok_or(Error::Truncated)?)?,
            curlft: LifetimeCur::parse(b.get(160..).ok_or(Error::Truncated)?)?,
            stats: Stats {
                replay_window: u32_at(b, 192)?,
                replay: u32_at(b, 196)?,
                integrity_failed: u32_at(b, 200)?,
            },
            seq: u32_at(b, 204)?,
            reqid: u32_at(b, 208)?,
            family: u16_at(b, 212)?,
            mode: u8_at(b, 214)?,
            replay_window: u8_at(b, 215)?,
            flags: u8_at(b, 216)?,
        })
    }
    pub fn emit(&self, out: &mut Vec<u8>) {
        self.sel.emit(out);
        self.id.emit(out);
        out.extend_from_slice(&self.saddr);
        self.lft.emit(out);
        self.curlft.emit(out);
        out.put_u32(self.stats.replay_window);
        out.put_u32(self.stats.replay);
        out.put_u32(self.stats.integrity_failed);
        out.put_u32(self.seq);
        out.put_u32(self.reqid);
        out.put_u16(self.family);
        out.put_u8(self.mode);
        out.put_u8(self.replay_window);
        out.put_u8(self.flags);
        out.put_zeros(7);
    }
    /// Source and destination of the SA.
    pub fn addrs(&self) -> Result<(IpAddr, IpAddr)> {
        Ok((
            addr(&self.saddr, self.family)?,
            addr(&self.id.daddr, self.family)?,
        ))
    }
}

/// `struct xfrm_usersa_id` (24 bytes): the key of an SA (DELSA, GETSA).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UsersaId {
    pub daddr: RawAddr,
    pub spi: u32,
    pub family: u16,
    pub proto: u8,
}

impl UsersaId {
    pub fn parse(b: &[u8]) -> Result<UsersaId> {
        need(b, XFRM_USERSA_ID_LEN, "xfrm_usersa_id")?;
        Ok(UsersaId {
            daddr: arr_at(b, 0)?,
            spi: u32be_at(b, 16)?,
            family: u16_at(b, 20)?,
            proto: u8_at(b, 22)?,
        })
    }
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.daddr);
        out.put_u32be(self.spi);
        out.put_u16(self.family);
        out.put_u8(self.proto);
        out.put_zeros(1);
    }
}

/// `struct xfrm_userspi_info` (232 bytes): ALLOCSPI's request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserspiInfo {
    pub info: UsersaInfo,
    pub min: u32,
    pub max: u32,
}

impl UserspiInfo {
    pub fn parse(b: &[u8]) -> Result<UserspiInfo> {
        need(b, XFRM_USERSPI_INFO_LEN, "xfrm_userspi_info")?;
        Ok(UserspiInfo {
            info: UsersaInfo::parse(b)?,
            min: u32_at(b, 224)?,
            max: u32_at(b, 228)?,
        })
    }
    pub fn emit(&self, out: &mut Vec<u8>) {
        self.info.emit(out);
        out.put_u32(self.min);
        out.put_u32(self.max);
    }
}

/// `struct xfrm_userpolicy_info` (168 bytes): a policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserpolicyInfo {
    pub sel: Selector,
    pub lft: LifetimeCfg,
    pub curlft: LifetimeCur,
    /// Lower wins.
    pub priority: u32,
    /// The kernel's policy index (0 in requests: the kernel picks one).
    pub index: u32,
    pub dir: u8,
    pub action: u8,
    pub flags: u8,
    pub share: u8,
}

impl UserpolicyInfo {
    pub fn parse(b: &[u8]) -> Result<UserpolicyInfo> {
        need(b, XFRM_USERPOLICY_INFO_LEN, "xfrm_userpolicy_info")?;
        Ok(UserpolicyInfo {
            sel: Selector::parse(b)?,
            lft: LifetimeCfg::parse(b.get(56..).ok_or(Error::Truncated)?)?,
            curlft: LifetimeCur::parse(b.get(120..).ok_or(Error::Truncated)?)?,
            priority: u32_at(b, 152)?,
            index: u32_at(b, 156)?,
            dir: u8_at(b, 160)?,
            action: u8_at(b, 161)?,
            flags: u8_at(b, 162)?,
            share: u8_at(b, 163)?,
        })
    }
    pub fn emit(&self, out: &mut Vec<u8>) {
        self.sel.emit(out);
        self.lft.emit(out);
        self.curlft.emit(out);
        out.put_u32(self.priority);
        out.put_u32(self.index);
        out.put_u8(self.dir);
        out.put_u8(self.action);
        out.put_u8(self.flags);
        out.put_u8(self.share);
        out.put_zeros(4);
    }
}

/// `struct xfrm_userpolicy_id` (64 bytes): the key of a policy (DELPOLICY).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserpolicyId {
    pub sel: Selector,
    pub index: u32,
    pub dir: u8,
}

impl UserpolicyId {
    pub fn parse(b: &[u8]) -> Result<UserpolicyId> {
        need(b, XFRM_USERPOLICY_ID_LEN, "xfrm_userpolicy_id")?;
        Ok(UserpolicyId {
            sel: Selector::parse(b)?,
            index: u32_at(b, 56)?,
            dir: u8_at(b, 60)?,
        })
    }
    pub fn emit(&self, out: &mut Vec<u8>) {
        self.sel.emit(out);
        out.put_u32(self.index);
        out.put_u8(self.dir);
        out.put_zeros(3);
    }
}

/// `struct xfrm_user_tmpl` (64 bytes): one IPsec transform a policy
/// requires, tied to SAs by `reqid`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserTmpl {
    /// Outer destination (tunnel), SPI 0 (any), protocol.
    pub id: XfrmId,
    pub family: u16,
    pub saddr: RawAddr,
    pub reqid: u32,
    pub mode: u8,
    pub share: u8,
    pub optional: u8,
    pub aalgos: u32,
    pub ealgos: u32,
    pub calgos: u32,
}

impl UserTmpl {
    pub fn parse(b: &[u8]) -> Result<UserTmpl> {
        need(b, XFRM_USER_TMPL_LEN, "template")?;
        Ok(UserTmpl {
            id: XfrmId::parse(b)?,
            family: u16_at(b, 24)?,
            saddr: arr_at(b, 28)?,
            reqid: u32_at(b, 44)?,
            mode: u8_at(b, 48)?,
            share: u8_at(b, 49)?,
            optional: u8_at(b, 50)?,
            aalgos: u32_at(b, 52)?,
            ealgos: u32_at(b, 56)?,
            calgos: u32_at(b, 60)?,
        })
    }
    pub fn emit(&self, out: &mut Vec<u8>) {
        self.id.emit(out);
        out.put_u16(self.family);
        out.put_zeros(2);
        out.extend_from_slice(&self.saddr);
        out.put_u32(self.reqid);
        out.put_u8(self.mode);
        out.put_u8(self.share);
        out.put_u8(self.optional);
        out.put_zeros(1);
        out.put_u32(self.aalgos);
        out.put_u32(self.ealgos);
        out.put_u32(self.calgos);
    }
}

/// `struct xfrm_user_acquire` (280 bytes): traffic hit a policy with no SA.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserAcquire {
    /// Outer destination and protocol of the SA wanted.
    pub id: XfrmId,
    /// Outer source.
    pub saddr: RawAddr,
    /// The packet's flow.
    pub sel: Selector,
    /// The policy that matched (its selector is the policy's).
    pub policy: UserpolicyInfo,
    pub aalgos: u32,
    pub ealgos: u32,
    pub calgos: u32,
    /// Echoed in ALLOCSPI/NEWSA (`xfrm_usersa_info.seq`) to complete the
    /// kernel's larval acquire state.
    pub seq: u32,
}

impl UserAcquire {
    pub fn parse(b: &[u8]) -> Result<UserAcquire> {
        need(b, XFRM_USER_ACQUIRE_LEN, "xfrm_user_acquire")?;
        Ok(UserAcquire {
            id: XfrmId::parse(b)?,
            saddr: arr_at(b, 24)?,
            sel: Selector::parse(b.get(40..).ok_or(Error::Truncated)?)?,
            policy: UserpolicyInfo::parse(b.get(96..).ok_or(Error::Truncated)?)?,
            aalgos: u32_at(b, 264)?,
            ealgos: u32_at(b, 268)?,
            calgos: u32_at(b, 272)?,
            seq: u32_at(b, 276)?,
        })
    }
    pub fn emit(&self, out: &mut Vec<u8>) {
        self.id.emit(out);
        out.extend_from_slice(&self.saddr);
        self.sel.emit(out);
        self.policy.emit(out);
        out.put_u32(self.aalgos);
        out.put_u32(self.ealgos);
        out.put_u32(self.calgos);
        out.put_u32(self.seq);
    }
}

/// `struct xfrm_user_expire` (232 bytes): an SA reached a soft or hard limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserExpire {
    pub state: UsersaInfo,
    pub hard: bool,
}

impl UserExpire {
    pub fn parse(b: &[u8]) -> Result<UserExpire> {
        need(b, XFRM_USER_EXPIRE_LEN, "xfrm_user_expire")?;
        Ok(UserExpire {
            state: UsersaInfo::parse(b)?,
            hard: u8_at(b, 224)? != 0,
        })
    }
    pub fn emit(&self, out: &mut Vec<u8>) {
        self.state.emit(out);
        out.put_u8(u8::from(self.hard));
        out.put_zeros(7);
    }
}

/// `struct xfrm_user_polexpire` (176 bytes): a policy reached a limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserPolexpire {
    pub pol: UserpolicyInfo,
    pub hard: bool,
}

impl UserPolexpire {
    pub fn parse(b: &[u8]) -> Result<UserPolexpire> {
        need(b, XFRM_USER_POLEXPIRE_LEN, "xfrm_user_polexpire")?;
        Ok(UserPolexpire {
            pol: UserpolicyInfo::parse(b)?,
            hard: u8_at(b, 168)? != 0,
        })
    }
    pub fn emit(&self, out: &mut Vec<u8>) {
        self.pol.emit(out);
        out.put_u8(u8::from(self.hard));
        out.put_zeros(7);
    }
}

/// `struct xfrm_user_mapping` (64 bytes): ESP-in-UDP for an SA came from
/// another address or port (the peer's NAT moved).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserMapping {
    pub id: UsersaId,
    pub reqid: u32,
    pub old_saddr: RawAddr,
    pub new_saddr: RawAddr,
    pub old_sport: u16,
    pub new_sport: u16,
}

impl UserMapping {
    pub fn parse(b: &[u8]) -> Result<UserMapping> {
        need(b, XFRM_USER_MAPPING_LEN, "xfrm_user_mapping")?;
        Ok(UserMapping {
            id: UsersaId::parse(b)?,
            reqid: u32_at(b, 24)?,
            old_saddr: arr_at(b, 28)?,
            new_saddr: arr_at(b, 44)?,
            old_sport: u16be_at(b, 60)?,
            new_sport: u16be_at(b, 62)?,
        })
    }
    pub fn emit(&self, out: &mut Vec<u8>) {
        self.id.emit(out);
        out.put_u32(self.reqid);
        out.extend_from_slice(&self.old_saddr);
        out.extend_from_slice(&self.new_saddr);
        out.put_u16be(self.old_sport);
        out.put_u16be(self.new_sport);
    }
}

/// `struct xfrm_encap_tmpl` (24 bytes): UDP encapsulation (XFRMA_ENCAP).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EncapTmpl {
    pub encap_type: u16,
    pub sport: u16,
    pub dport: u16,
    /// Original address (NAT-OA), unused for ESP tunnels.
    pub oa: RawAddr,
}

impl EncapTmpl {
    pub fn parse(b: &[u8]) -> Result<EncapTmpl> {
        need(b, XFRM_ENCAP_TMPL_LEN, "encapsulation")?;
        Ok(EncapTmpl {
            encap_type: u16_at(b, 0)?,
            sport: u16be_at(b, 2)?,
            dport: u16be_at(b, 4)?,
            oa: arr_at(b, 8)?,
        })
    }
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u16(self.encap_type);
        out.put_u16be(self.sport);
        out.put_u16be(self.dport);
        out.put_zeros(2);
        out.extend_from_slice(&self.oa);
    }
}
