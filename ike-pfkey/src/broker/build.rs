//! Kernel messages for ike-net's requests, in each dialect: KAME (FreeBSD,
//! Linux) SA2 / NAT-T extensions / SPD messages, or OpenBSD SA flags /
//! UDPENCAP / flows (DIALECTS.md 6, the cheat sheet).

use super::algs::{encryption_number, integrity_number};
use crate::dialect::{self as dl, openbsd as ob, Dialect, ExtKind, MsgType, SaType};
use crate::wire::{
    Address, Ext, Header, IpsecRequest, Key, Lifetime, Message, Policy, Protocol, Sa, Sa2, SpiRange,
};
use ike_ipc::config::{Encapsulation, IpNet, IpsecProtocol};
use ike_ipc::msg::pfkey::{
    BrokerPolicyParams, BrokerSaParams, PolicyDir, SaId, SaLifetime, Selectors,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

pub fn satype(p: IpsecProtocol) -> SaType {
    match p {
        IpsecProtocol::Esp => SaType::Esp,
        IpsecProtocol::Ah => SaType::Ah,
    }
}

pub fn proto_of(t: SaType) -> Option<IpsecProtocol> {
    match t {
        SaType::Esp => Some(IpsecProtocol::Esp),
        SaType::Ah => Some(IpsecProtocol::Ah),
        _ => None,
    }
}

fn ipproto(p: IpsecProtocol) -> u16 {
    match p {
        IpsecProtocol::Esp => dl::IPPROTO_ESP,
        IpsecProtocol::Ah => dl::IPPROTO_AH,
    }
}

fn kame_mode(m: Encapsulation) -> u8 {
    match m {
        Encapsulation::Tunnel => dl::IPSEC_MODE_TUNNEL,
        Encapsulation::Transport => dl::IPSEC_MODE_TRANSPORT,
    }
}

/// An SA endpoint: the whole address, no port, no protocol.
fn sa_addr(kind: ExtKind, ip: IpAddr) -> Ext {
    Ext::Address(
        kind,
        Address {
            proto: 0,
            ..Address::host(ip)
        },
    )
}

fn lifetime(l: &SaLifetime) -> Lifetime {
    Lifetime {
        allocations: l.packets,
        bytes: l.bytes,
        addtime: l.seconds,
        usetime: 0,
    }
}

pub fn header(t: MsgType, s: SaType, seq: u32, pid: u32) -> Message {
    Message::new(Header::new(t, s, seq, pid))
}

pub fn register(t: SaType, seq: u32, pid: u32) -> Message {
    header(MsgType::Register, t, seq, pid)
}

/// The report that negotiation for an ACQUIRE failed, if the kernel takes one.
///
/// KAME (RFC 2367 3.1.6): a header-only ACQUIRE with the ACQUIRE's seq and a
/// nonzero errno (ETIMEDOUT says why); the kernel does not answer it.
/// OpenBSD: none. `pfkeyv2_parsemessage` refuses any message from userland
/// with `sadb_msg_errno` set (EINVAL from write), and `pfkeyv2_send` does
/// nothing for an ACQUIRE from userland but echo it to every socket; the
/// pending acquire ends by its own timer (`ipsec-expire-acquire`, ip_spd.c).
pub fn acquire_failed(d: Dialect, seq: u32, proto: IpsecProtocol, pid: u32) -> Option<Message> {
    if d == Dialect::OpenBsd {
        return None;
    }
    let mut m = header(MsgType::Acquire, satype(proto), seq, pid);
    m.header.errno = u8::try_from(libc::ETIMEDOUT).unwrap_or(u8::MAX);
    Some(m)
}

/// GETSPI between `sa.src` and `sa.dst` (its `spi` is ignored).
pub fn getspi(
    d: Dialect,
    seq: u32,
    pid: u32,
    sa: &SaId,
    mode: Encapsulation,
    reqid: u32,
) -> Message {
    let mut m = header(MsgType::GetSpi, satype(sa.proto), seq, pid)
        .with(sa_addr(ExtKind::AddressSrc, sa.src))
        .with(sa_addr(ExtKind::AddressDst, sa.dst));
    if d.is_kame() {
        // Linux and FreeBSD default range; SA2 ties the larval SA to mode/reqid.
        m = m
            .with(Ext::Sa2(Sa2 {
                mode: kame_mode(mode),
                sequence: 0,
                reqid,
            }))
            .with(Ext::SpiRange(SpiRange {
                min: 0x100,
                max: 0x0fff_ffff,
            }));
    } else {
        // OpenBSD requires SPIRANGE; OpenIKED asks for 0x100..0xffffffff.
        m = m.with(Ext::SpiRange(SpiRange {
            min: 0x100,
            max: u32::MAX,
        }));
    }
    m
}

/// ADD or UPDATE of a complete SA.
pub fn add_update(
    d: Dialect,
    t: MsgType,
    seq: u32,
    pid: u32,
    p: &BrokerSaParams,
) -> Result<Message, String> {
    let encrypt = match (p.id.proto, p.encryption) {
        (IpsecProtocol::Esp, Some(e)) => encryption_number(d, e)?,
        (IpsecProtocol::Esp, None) => return Err("ESP without an encryption algorithm".into()),
        (IpsecProtocol::Ah, None) => dl::SADB_EALG_NONE,
        (IpsecProtocol::Ah, Some(_)) => return Err("AH does not encrypt".into()),
    };
    let auth = match p.integrity {
        Some(i) => integrity_number(d, i)?,
        None if p.encryption.is_some_and(|e| e.is_aead()) => dl::SADB_AALG_NONE,
        None => return Err("no integrity algorithm for a non-AEAD cipher".into()),
    };
    let w = p.replay_window;
    // The replay field's unit differs (DIALECTS.md 2.8, 5.3, 3.2).
    let replay = match d {
        Dialect::Linux => w.min(32),
        Dialect::FreeBsd => w.div_ceil(8).min(255),
        Dialect::OpenBsd => w.min(64),
    } as u8;
    let mut flags = 0;
    if p.esn {
        flags |= match d {
            Dialect::Linux => return Err("Linux af_key has no extended sequence numbers".into()),
            Dialect::FreeBsd => dl::kame_freebsd::SADB_X_SAFLAGS_ESN,
            Dialect::OpenBsd => ob::SADB_X_SAFLAGS_ESN,
        };
    }
    if d == Dialect::OpenBsd {
        // OpenBSD has no SA2: mode and encapsulation are SA flags.
        if p.mode == Encapsulation::Tunnel {
            flags |= ob::SADB_X_SAFLAGS_TUNNEL;
        }
        if p.natt.is_some() {
            flags |= ob::SADB_X_SAFLAGS_UDPENCAP;
        }
    }
    let mut m = header(t, satype(p.id.proto), seq, pid)
        .with(Ext::Sa(
            ExtKind::Sa,
            Sa {
                spi: p.id.spi,
                replay,
                state: dl::SADB_SASTATE_MATURE,
                auth,
                encrypt,
                flags,
            },
        ))
        .with(Ext::Lifetime(ExtKind::LifetimeHard, lifetime(&p.hard)))
        .with(Ext::Lifetime(ExtKind::LifetimeSoft, lifetime(&p.soft)))
        .with(sa_addr(ExtKind::AddressSrc, p.id.src))
        .with(sa_addr(ExtKind::AddressDst, p.id.dst));
    if auth != dl::SADB_AALG_NONE {
        let k = Key::new(p.auth_key.expose()).map_err(|e| e.to_string())?;
        m = m.with(Ext::Key(ExtKind::KeyAuth, k));
    }
    if !p.enc_key.is_empty() {
        let k = Key::new(p.enc_key.expose()).map_err(|e| e.to_string())?;
        m = m.with(Ext::Key(ExtKind::KeyEncrypt, k));
    }
    match (d, p.natt) {
        (Dialect::OpenBsd, Some(n)) => m = m.with(Ext::UdpEncap(n.dport)),
        (_, Some(n)) => {
            m = m
                .with(Ext::NatTType(dl::UDP_ENCAP_ESPINUDP))
                .with(Ext::NatTPort(ExtKind::NatTSport, n.sport))
                .with(Ext::NatTPort(ExtKind::NatTDport, n.dport))
        }
        (_, None) => {}
    }
    if d.is_kame() {
        m = m.with(Ext::Sa2(Sa2 {
            mode: kame_mode(p.mode),
            sequence: 0,
            reqid: p.reqid,
        }));
    }
    if d == Dialect::FreeBsd && w > 0 {
        // The window in packets; overrides the byte-unit field (DIALECTS.md 2.8).
        m = m.with(Ext::SaReplay(w));
    }
    Ok(m)
}

/// DELETE or GET of one SA.
pub fn sa_only(
    t: MsgType,
    seq: u32,
    pid: u32,
    proto: IpsecProtocol,
    spi: u32,
    src: IpAddr,
    dst: IpAddr,
) -> Message {
    header(t, satype(proto), seq, pid)
        .with(Ext::Sa(
            ExtKind::Sa,
            Sa {
                spi,
                state: dl::SADB_SASTATE_MATURE,
                ..Sa::default()
            },
        ))
        .with(sa_addr(ExtKind::AddressSrc, src))
        .with(sa_addr(ExtKind::AddressDst, dst))
}

fn selector(net: IpNet, port: Option<u16>, proto: Option<u8>) -> Address {
    Address {
        proto: proto.unwrap_or(dl::IPSEC_ULPROTO_ANY),
        prefix_len: net.prefix,
        addr: SocketAddr::new(net.addr, port.unwrap_or(0)),
    }
}

pub(crate) fn kame_dir(d: Dialect, dir: PolicyDir) -> Result<u8, String> {
    match (dir, d) {
        (PolicyDir::In, _) => Ok(dl::IPSEC_DIR_INBOUND),
        (PolicyDir::Out, _) => Ok(dl::IPSEC_DIR_OUTBOUND),
        (PolicyDir::Fwd, Dialect::Linux) => Ok(dl::linux::IPSEC_DIR_FWD),
        (PolicyDir::Fwd, _) => Err("only Linux has forward policies".into()),
    }
}

fn kame_policy(
    d: Dialect,
    p: &BrokerPolicyParams,
    id: u32,
    with_request: bool,
) -> Result<Policy, String> {
    // Linux and FreeBSD silently replace a larger reqid with one of their own,
    // and the policy would no longer find our SAs (DIALECTS.md 2.5).
    if p.reqid > dl::IPSEC_MANUAL_REQID_MAX {
        return Err(format!(
            "reqid {} above {:#x}",
            p.reqid,
            dl::IPSEC_MANUAL_REQID_MAX
        ));
    }
    let requests = if with_request {
        vec![IpsecRequest {
            proto: ipproto(p.proto),
            mode: kame_mode(p.mode),
            // UNIQUE binds the policy to SAs of this reqid (strongSwan does
            // the same); REQUIRE takes any SA between the endpoints.
            level: if p.reqid != 0 {
                dl::IPSEC_LEVEL_UNIQUE
            } else {
                dl::IPSEC_LEVEL_REQUIRE
            },
            reqid: p.reqid,
            tunnel: p
                .tunnel
                .map(|(s, t)| (SocketAddr::new(s, 0), SocketAddr::new(t, 0))),
        }]
    } else {
        Vec::new()
    };
    Ok(Policy {
        policy_type: dl::IPSEC_POLICY_IPSEC,
        dir: kame_dir(d, p.dir)?,
        scope: if d == Dialect::FreeBsd {
            dl::kame_freebsd::IPSEC_POLICYSCOPE_GLOBAL
        } else {
            0
        },
        id,
        priority: 0,
        requests,
    })
}

/// The policy's selectors as KAME's SRC and DST address extensions.
fn with_selectors(m: Message, p: &BrokerPolicyParams) -> Message {
    m.with(Ext::Address(
        ExtKind::AddressSrc,
        selector(p.sel.src, p.sel.src_port, p.sel.proto),
    ))
    .with(Ext::Address(
        ExtKind::AddressDst,
        selector(p.sel.dst, p.sel.dst_port, p.sel.proto),
    ))
}

/// KAME SPDADD / SPDUPDATE.
pub fn spd_add(
    d: Dialect,
    t: MsgType,
    seq: u32,
    pid: u32,
    p: &BrokerPolicyParams,
) -> Result<Message, String> {
    Ok(with_selectors(header(t, SaType::Unspec, seq, pid), p)
        .with(Ext::Policy(kame_policy(d, p, 0, true)?)))
}

/// KAME: SPDDELETE2 by id when the kernel told us one, else SPDDELETE by selector.
pub fn spd_delete(
    d: Dialect,
    seq: u32,
    pid: u32,
    p: &BrokerPolicyParams,
    kernel_id: u32,
) -> Result<Message, String> {
    if kernel_id != 0 {
        return Ok(header(MsgType::SpdDelete2, SaType::Unspec, seq, pid)
            .with(Ext::Policy(kame_policy(d, p, kernel_id, false)?)));
    }
    Ok(
        with_selectors(header(MsgType::SpdDelete, SaType::Unspec, seq, pid), p)
            .with(Ext::Policy(kame_policy(d, p, 0, false)?)),
    )
}

/// KAME SPDGET by policy id (ACQUIRE's selectors, DIALECTS.md 4.4).
pub fn spd_get(seq: u32, pid: u32, id: u32) -> Message {
    header(MsgType::SpdGet, SaType::Unspec, seq, pid).with(Ext::Policy(Policy {
        policy_type: dl::IPSEC_POLICY_IPSEC,
        dir: dl::IPSEC_DIR_OUTBOUND,
        scope: 0,
        id,
        priority: 0,
        requests: Vec::new(),
    }))
}

/// OpenBSD ASKPOLICY for an ACQUIRE's seq (DIALECTS.md 3.6).
pub fn ask_policy(seq: u32, pid: u32, acquire_seq: u32) -> Message {
    header(MsgType::AskPolicy, SaType::Unspec, seq, pid).with(Ext::ObsdPolicy(acquire_seq))
}

fn mask(net: IpNet, port: Option<u16>) -> SocketAddr {
    let bits = u32::from(net.prefix);
    let ip = match net.addr {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(
            u32::MAX.checked_shl(32 - bits.min(32)).unwrap_or(0),
        )),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(
            u128::MAX.checked_shl(128 - bits.min(128)).unwrap_or(0),
        )),
    };
    // A set port is matched exactly: port mask 0xffff (as OpenIKED does).
    SocketAddr::new(ip, if port.is_some() { 0xffff } else { 0 })
}

/// Our end of an OpenBSD flow: the tunnel's near end, or the local host.
pub fn flow_local(p: &BrokerPolicyParams) -> IpAddr {
    match (p.tunnel, p.dir) {
        (Some((s, _)), PolicyDir::Out) => s,
        (Some((_, d)), _) => d,
        (None, PolicyDir::Out) => p.sel.src.addr,
        (None, _) => p.sel.dst.addr,
    }
}

/// OpenBSD ADDFLOW / DELFLOW in OpenIKED's extension order (DIALECTS.md 3.6).
pub fn flow(t: MsgType, seq: u32, pid: u32, p: &BrokerPolicyParams) -> Result<Message, String> {
    let direction = match p.dir {
        PolicyDir::Out => ob::IPSP_DIRECTION_OUT,
        PolicyDir::In => ob::IPSP_DIRECTION_IN,
        PolicyDir::Fwd => return Err("OpenBSD has no forward flows".into()),
    };
    let ft = Protocol {
        proto: ob::SADB_X_FLOW_TYPE_REQUIRE,
        direction,
        flags: 0,
    };
    let mut m = header(t, satype(p.proto), seq, pid).with(Ext::Protocol(ExtKind::FlowType, ft));
    if t == MsgType::AddFlow {
        // ADDRESS_DST is the peer: the tunnel's far end, or the remote host.
        let peer = match (p.tunnel, p.dir) {
            (Some((_, d)), PolicyDir::Out) => d,
            (Some((s, _)), _) => s,
            (None, PolicyDir::Out) => p.sel.dst.addr,
            (None, _) => p.sel.src.addr,
        };
        // ADDRESS_SRC is our end. The kernel keeps it as the flow's local
        // address and names it in the ACQUIRE it sends for the flow; without
        // it the flow's local address is all zeros and the ACQUIRE carries
        // an empty ADDRESS_SRC (OpenBSD pfkeyv2.c ADDFLOW, ip_spd.c
        // ipsp_spd_lookup, pfkeyv2.c pfkeyv2_acquire; docs/bsd.md 3).
        m = m
            .with(sa_addr(ExtKind::AddressSrc, flow_local(p)))
            .with(sa_addr(ExtKind::AddressDst, peer));
    }
    let flow_addr = |net: IpNet, port: Option<u16>| Address {
        proto: 0,
        prefix_len: 0,
        addr: SocketAddr::new(net.addr, port.unwrap_or(0)),
    };
    let mask_addr = |net: IpNet, port: Option<u16>| Address {
        proto: 0,
        prefix_len: 0,
        addr: mask(net, port),
    };
    Ok(m.with(Ext::Address(
        ExtKind::SrcFlow,
        flow_addr(p.sel.src, p.sel.src_port),
    ))
    .with(Ext::Address(
        ExtKind::SrcMask,
        mask_addr(p.sel.src, p.sel.src_port),
    ))
    .with(Ext::Address(
        ExtKind::DstFlow,
        flow_addr(p.sel.dst, p.sel.dst_port),
    ))
    .with(Ext::Address(
        ExtKind::DstMask,
        mask_addr(p.sel.dst, p.sel.dst_port),
    ))
    .with(Ext::Protocol(
        ExtKind::Protocol,
        Protocol {
            proto: p.sel.proto.unwrap_or(0),
            direction: 0,
            flags: 0,
        },
    )))
}

/// Count the leading one bits of a mask (for OpenBSD's ASKPOLICY reply).
pub fn mask_prefix(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(a) => u32::from(a).leading_ones() as u8,
        IpAddr::V6(a) => u128::from(a).leading_ones() as u8,
    }
}

fn net_of(a: &Address, prefix: u8) -> Option<IpNet> {
    // Clear host bits the kernel might leave set; IpNet wants a clean prefix.
    let p = prefix;
    let addr = match a.ip() {
        IpAddr::V4(v) => IpAddr::V4(Ipv4Addr::from(
            u32::from(v) & u32::MAX.checked_shl(32 - u32::from(p.min(32))).unwrap_or(0),
        )),
        IpAddr::V6(v) => IpAddr::V6(Ipv6Addr::from(
            u128::from(v)
                & u128::MAX
                    .checked_shl(128 - u32::from(p.min(128)))
                    .unwrap_or(0),
        )),
    };
    IpNet::new(addr, p)
}

fn port(a: &Address) -> Option<u16> {
    Some(a.addr.port()).filter(|&p| p != 0)
}

/// Selectors from a KAME SPDGET reply.
pub fn selectors_from_spd(m: &Message) -> Option<Selectors> {
    let s = m.address(ExtKind::AddressSrc)?;
    let d = m.address(ExtKind::AddressDst)?;
    Some(Selectors {
        src: net_of(s, s.prefix_len)?,
        dst: net_of(d, d.prefix_len)?,
        proto: Some(s.proto).filter(|&p| p != dl::IPSEC_ULPROTO_ANY),
        src_port: port(s),
        dst_port: port(d),
    })
}

/// Selectors from an OpenBSD ASKPOLICY reply (flows and masks, SRC = local).
pub fn selectors_from_flows(m: &Message) -> Option<Selectors> {
    let sf = m.address(ExtKind::SrcFlow)?;
    let sm = m.address(ExtKind::SrcMask)?;
    let df = m.address(ExtKind::DstFlow)?;
    let dm = m.address(ExtKind::DstMask)?;
    let proto = m
        .protocol(ExtKind::FlowType)
        .map(|p| p.proto)
        .filter(|&p| p != 0);
    Some(Selectors {
        src: net_of(sf, mask_prefix(sm.ip()))?,
        dst: net_of(df, mask_prefix(dm.ip()))?,
        proto,
        src_port: port(sf),
        dst_port: port(df),
    })
}

/// Mode and reqid of the first request of a KAME policy.
pub fn policy_mode(m: &Message) -> (Option<Encapsulation>, u32) {
    let Some(r) = m.policy().and_then(|p| p.requests.first()) else {
        return (None, 0);
    };
    let mode = match r.mode {
        dl::IPSEC_MODE_TUNNEL => Some(Encapsulation::Tunnel),
        dl::IPSEC_MODE_TRANSPORT => Some(Encapsulation::Transport),
        _ => None,
    };
    (mode, r.reqid)
}
