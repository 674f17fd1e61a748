//! Kernel messages of NETLINK_XFRM turned into the IPC's values, the same
//! ones the PF_KEY path produces: ike-net cannot tell which interface
//! installed its SAs.

use super::attr::AttrSet;
use super::consts::*;
use super::message::{Body, KernelMsg};
use super::structs::*;
use super::{Error, Result};
use ike_ipc::config::{Encapsulation, Encryption, Integrity, IpNet, IpsecProtocol};
use ike_ipc::msg::pfkey::{BrokerEvent, ExpireKind, SaId, SaInfo, Selectors, Supported};
use std::net::SocketAddr;

fn proto_of(n: u8) -> Result<IpsecProtocol> {
    match n {
        IPPROTO_ESP => Ok(IpsecProtocol::Esp),
        IPPROTO_AH => Ok(IpsecProtocol::Ah),
        _ => Err(Error::BadMessage("not an ESP or AH SA")),
    }
}

fn mode_of(n: u8) -> Option<Encapsulation> {
    match n {
        XFRM_MODE_TUNNEL => Some(Encapsulation::Tunnel),
        XFRM_MODE_TRANSPORT => Some(Encapsulation::Transport),
        _ => None,
    }
}

/// The IPC's selectors of a kernel selector; `None` if the kernel's has
/// what the IPC cannot say (port ranges, an interface, a bad prefix).
pub fn selectors(s: &Selector) -> Option<Selectors> {
    let src = addr(&s.saddr, s.family).ok()?;
    let dst = addr(&s.daddr, s.family).ok()?;
    let port = |p: u16, mask: u16| match mask {
        0 => Some(None),
        0xffff => Some(Some(p)),
        _ => None,
    };
    if s.ifindex != 0 {
        return None;
    }
    Some(Selectors {
        src: IpNet::new(src, s.prefixlen_s)?,
        dst: IpNet::new(dst, s.prefixlen_d)?,
        proto: (s.proto != 0).then_some(s.proto),
        src_port: port(s.sport, s.sport_mask)?,
        dst_port: port(s.dport, s.dport_mask)?,
    })
}

/// An SA's id from `xfrm_usersa_info`.
pub fn sa_id(info: &UsersaInfo) -> Result<SaId> {
    let (src, dst) = info.addrs()?;
    Ok(SaId {
        proto: proto_of(info.id.proto)?,
        spi: info.id.spi,
        src,
        dst,
    })
}

/// What GETSA reports: the counters (keys in the reply are dropped with it).
pub fn sa_info(info: &UsersaInfo, attrs: &AttrSet) -> Result<SaInfo> {
    let cur = attrs.ltime.unwrap_or(info.curlft);
    Ok(SaInfo {
        id: sa_id(info)?,
        bytes: cur.bytes,
        packets: u32::try_from(cur.packets).unwrap_or(u32::MAX),
        add_time: cur.add_time,
        use_time: cur.use_time,
    })
}

/// The triggering packet of an ACQUIRE from its `sel`, narrowed to what
/// the policy `pol` names: protocol only if the policy has one, each port
/// only if the policy's is exact. Linux fills `sel` from the packet's flow
/// (net/xfrm/xfrm_state.c, `xfrm_init_tempstate` -> `__xfrm4_init_tempsel`
/// / `__xfrm6_init_tempsel`: both addresses with a full prefix, the ports
/// always masked 0xffff, ICMP type and code in them, and the output
/// interface in `ifindex`), so the ports of a policy without ports, and the
/// interface, say nothing the peer should see. `None` when the family
/// differs from the policy's or an address does not decode. The broker
/// checks that the result lies inside the policy.
pub fn packet_selectors(sel: &Selector, pol: &Selector) -> Option<Selectors> {
    if sel.family != pol.family {
        return None;
    }
    let src = addr(&sel.saddr, sel.family).ok()?;
    let dst = addr(&sel.daddr, sel.family).ok()?;
    let exact = |port: u16, mask: u16| (mask == 0xffff).then_some(port);
    Some(Selectors {
        src: IpNet::host(src),
        dst: IpNet::host(dst),
        proto: (pol.proto != 0).then_some(sel.proto),
        src_port: exact(sel.sport, pol.sport_mask),
        dst_port: exact(sel.dport, pol.dport_mask),
    })
}

/// ACQUIRE: the outer addresses and mode from the template of the policy
/// (`build_acquire` appends the policy's templates), the policy's selector
/// for the IPC's `policy`, the packet's flow (`sel`) for `packet`.
fn acquire(a: &UserAcquire, attrs: &AttrSet) -> Result<BrokerEvent> {
    let proto = proto_of(a.id.proto)?;
    let tmpl = attrs.tmpls.iter().find(|t| t.id.proto == a.id.proto);
    let family = match tmpl {
        Some(t) if t.mode == XFRM_MODE_TUNNEL => t.family,
        _ => a.policy.sel.family,
    };
    Ok(BrokerEvent::Acquire {
        seq: a.seq,
        proto,
        src: addr(&a.saddr, family)?,
        dst: addr(&a.id.daddr, family)?,
        policy: selectors(&a.policy.sel),
        packet: packet_selectors(&a.sel, &a.policy.sel),
        mode: tmpl.and_then(|t| mode_of(t.mode)),
        reqid: tmpl.map_or(0, |t| t.reqid),
    })
}

/// The IPC event of a multicast message; `Ok(None)` for messages the IPC
/// has no event for (POLEXPIRE is logged by the caller, as FreeBSD's
/// SPDEXPIRE is).
pub fn to_event(m: &KernelMsg) -> Result<Option<BrokerEvent>> {
    Ok(match &m.body {
        Body::Acquire(a, attrs) => Some(acquire(a, attrs)?),
        Body::Expire(e, _) => Some(BrokerEvent::Expire {
            kind: if e.hard {
                ExpireKind::Hard
            } else {
                ExpireKind::Soft
            },
            sa: sa_id(&e.state)?,
        }),
        Body::Mapping(mp) => {
            // `build_mapping`: id is the SA (its destination is us), the
            // old address/port the SA's peer, the new ones where the packet
            // came from.
            let fam = mp.id.family;
            let old_ip = addr(&mp.old_saddr, fam)?;
            Some(BrokerEvent::NatMapping {
                sa: SaId {
                    proto: proto_of(mp.id.proto)?,
                    spi: mp.id.spi,
                    src: old_ip,
                    dst: addr(&mp.id.daddr, fam)?,
                },
                old: SocketAddr::new(old_ip, mp.old_sport),
                new: SocketAddr::new(addr(&mp.new_saddr, fam)?, mp.new_sport),
            })
        }
        _ => None,
    })
}

/// What ike-net may negotiate through XFRM. XFRM has no REGISTER: the
/// kernel loads a crypto module when an SA names it, so every transform
/// with a kernel name is offered, AEADs, HMAC-SHA2-256-128 and ESN
/// (XFRMA_REPLAY_ESN_VAL) included; an algorithm whose module is missing fails its NEWSA
/// (ENOSYS/ENOENT), which ike-net sees as a failed child.
pub fn supported() -> Supported {
    Supported {
        encryption: Encryption::ALL.to_vec(),
        integrity: Integrity::ALL.to_vec(),
        esn: true,
        fwd_policies: true,
    }
}
