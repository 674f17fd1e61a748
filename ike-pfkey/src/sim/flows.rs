//! OpenBSD's SPD: flows added and deleted with SADB_X_ADDFLOW and
//! SADB_X_DELFLOW instead of KAME's SPDADD family.
//!
//! Modelled on `pfkeyv2_dosend()` in OpenBSD's `sys/net/pfkeyv2.c` (the
//! SADB_X_ADDFLOW / SADB_X_DELFLOW case) and `import_flow()` in
//! `sys/net/pfkeyv2_convert.c`, read, not copied:
//! - the flow type's direction must be IN or OUT, its type 1..=6: EINVAL;
//! - satype 0 means ESP;
//! - a flow is identified by its selector (flows, masks, transport
//!   protocol, direction): an ADDFLOW for an existing one updates it in
//!   place, a DELFLOW for a missing one is ESRCH;
//! - the flow and mask families must agree: EINVAL;
//! - ADDRESS_DST is the peer, ADDRESS_SRC the local gateway (both optional).

use super::EINVAL;
use crate::dialect::{openbsd as ob, ExtKind, SaType};
use crate::wire::{Address, Message};
use std::net::IpAddr;

pub const ESRCH: u8 = super::ESRCH;

/// One flow, as the kernel keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimFlow {
    pub direction: u8,
    pub flow_type: u8,
    pub satype: SaType,
    /// Transport protocol, 0 = any.
    pub proto: u8,
    pub src: IpAddr,
    pub src_mask: IpAddr,
    pub src_port: u16,
    pub dst: IpAddr,
    pub dst_mask: IpAddr,
    pub dst_port: u16,
    pub peer: Option<IpAddr>,
    pub local: Option<IpAddr>,
}

impl SimFlow {
    /// Same selector: the kernel's "identical entry" test.
    fn same_selector(&self, o: &SimFlow) -> bool {
        (
            self.direction,
            self.proto,
            self.src,
            self.src_mask,
            self.src_port,
            self.dst,
            self.dst_mask,
            self.dst_port,
        ) == (
            o.direction,
            o.proto,
            o.src,
            o.src_mask,
            o.src_port,
            o.dst,
            o.dst_mask,
            o.dst_port,
        )
    }
}

fn masked(a: IpAddr, m: IpAddr) -> IpAddr {
    match (a, m) {
        (IpAddr::V4(a), IpAddr::V4(m)) => IpAddr::V4((u32::from(a) & u32::from(m)).into()),
        (IpAddr::V6(a), IpAddr::V6(m)) => IpAddr::V6((u128::from(a) & u128::from(m)).into()),
        (a, _) => a,
    }
}

/// The prefix length of a contiguous mask (for printing).
pub fn mask_len(m: IpAddr) -> u32 {
    match m {
        IpAddr::V4(a) => u32::from(a).leading_ones(),
        IpAddr::V6(a) => u128::from(a).leading_ones(),
    }
}

/// The flow a request describes, or the errno the kernel answers.
pub fn from_message(msg: &Message) -> Result<SimFlow, u8> {
    let ft = msg.protocol(ExtKind::FlowType).ok_or(EINVAL)?;
    if ft.direction != ob::IPSP_DIRECTION_IN && ft.direction != ob::IPSP_DIRECTION_OUT {
        return Err(EINVAL);
    }
    if !(ob::SADB_X_FLOW_TYPE_USE..=ob::SADB_X_FLOW_TYPE_DONTACQ).contains(&ft.proto) {
        return Err(EINVAL);
    }
    let get = |k| msg.address(k).map(|a: &Address| a.addr).ok_or(EINVAL);
    let (sf, sm, df, dm) = (
        get(ExtKind::SrcFlow)?,
        get(ExtKind::SrcMask)?,
        get(ExtKind::DstFlow)?,
        get(ExtKind::DstMask)?,
    );
    let v4 = sf.is_ipv4();
    if [sm, df, dm].iter().any(|a| a.is_ipv4() != v4) {
        return Err(EINVAL);
    }
    let satype = match msg.header.satype {
        SaType::Unspec => SaType::Esp,
        t => t,
    };
    Ok(SimFlow {
        direction: ft.direction,
        flow_type: ft.proto,
        satype,
        proto: msg.protocol(ExtKind::Protocol).map_or(0, |p| p.proto),
        src: masked(sf.ip(), sm.ip()),
        src_mask: sm.ip(),
        src_port: sf.port() & sm.port(),
        dst: masked(df.ip(), dm.ip()),
        dst_mask: dm.ip(),
        dst_port: df.port() & dm.port(),
        peer: msg.address(ExtKind::AddressDst).map(|a| a.ip()),
        local: msg.address(ExtKind::AddressSrc).map(|a| a.ip()),
    })
}

/// ADDFLOW: insert, or update the flow with the same selector.
pub fn add(flows: &mut Vec<SimFlow>, f: SimFlow) {
    match flows.iter_mut().find(|o| o.same_selector(&f)) {
        Some(slot) => *slot = f,
        None => flows.push(f),
    }
}

/// DELFLOW: remove the flow with this selector, ESRCH if there is none.
pub fn delete(flows: &mut Vec<SimFlow>, f: &SimFlow) -> Result<(), u8> {
    let i = flows.iter().position(|o| o.same_selector(f)).ok_or(ESRCH)?;
    flows.remove(i);
    Ok(())
}
