//! OpenBSD ACQUIRE and SADB_X_ASKPOLICY: a packet hits an outbound flow
//! without an SA, the kernel asks the key managers for one without naming
//! the selector, and they fetch it with ASKPOLICY.
//!
//! Modelled on OpenBSD (read, not copied): `ipsp_spd_lookup()` in
//! `sys/netinet/ip_spd.c` (REQUIRE and ACQUIRE flows acquire; the local
//! address is passed only when the flow has one, `signore ? NULL :
//! &ipo->ipo_src`), `pfkeyv2_acquire()` in `sys/net/pfkeyv2.c` (seq from
//! the global counter, pid 0, ADDRESS_SRC only with a local address,
//! ADDRESS_DST the gateway, one PROPOSAL comb from the ipsec defaults, to the
//! sockets registered for the SA type, ESRCH when there is none), and its
//! SADB_X_ASKPOLICY case (the pending acquire by seq, answered with the
//! flow, masks and flow type; ESRCH for an unknown seq).

use super::flows::SimFlow;
use super::{ConnId, Delivery, Outcome, SimKernel, EINVAL, ESRCH};
use crate::dialect::{
    openbsd as ob, Dialect, ExtKind, MsgType, SADB_SASTATE_DYING, SADB_SASTATE_MATURE,
};
use crate::wire::{Address, Comb, Ext, Header, Message, Proposal, Protocol};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// `net.inet.ip.ipsec-expire-acquire`: how long a pending acquire blocks a
/// second one for the same flow (30 s by default).
const ACQUIRE_LIFETIME: Duration = Duration::from_secs(30);

fn in_net(a: IpAddr, net: IpAddr, mask: IpAddr) -> bool {
    match (a, net, mask) {
        (IpAddr::V4(a), IpAddr::V4(n), IpAddr::V4(m)) => {
            u32::from(a) & u32::from(m) == u32::from(n)
        }
        (IpAddr::V6(a), IpAddr::V6(n), IpAddr::V6(m)) => {
            u128::from(a) & u128::from(m) == u128::from(n)
        }
        _ => false,
    }
}

fn addr(kind: ExtKind, ip: IpAddr, port: u16) -> Ext {
    Ext::Address(
        kind,
        Address {
            proto: 0,
            prefix_len: 0,
            addr: SocketAddr::new(ip, port),
        },
    )
}

impl SimKernel {
    /// `trigger` for OpenBSD: the packet `src -> dst` against the flows.
    pub(super) fn trigger_flows(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        now: Instant,
    ) -> Result<(String, Vec<Delivery>), String> {
        self.obsd_acquires.retain(|_, (_, until)| now < *until);
        let f = self
            .flows
            .iter()
            .find(|f| {
                f.direction == ob::IPSP_DIRECTION_OUT
                    && in_net(src, f.src, f.src_mask)
                    && in_net(dst, f.dst, f.dst_mask)
            })
            .cloned()
            .ok_or_else(|| format!("no outbound flow matches {src} -> {dst}"))?;
        if f.flow_type != ob::SADB_X_FLOW_TYPE_REQUIRE
            && f.flow_type != ob::SADB_X_FLOW_TYPE_ACQUIRE
        {
            return Ok(("the flow does not acquire".into(), Vec::new()));
        }
        let gw = f.peer.unwrap_or(dst);
        let have_sa = self.sas().any(|s| {
            s.satype == f.satype
                && s.dst.ip() == gw
                && (s.state == SADB_SASTATE_MATURE || s.state == SADB_SASTATE_DYING)
        });
        if have_sa {
            return Ok((format!("SA to {gw} present, no ACQUIRE"), Vec::new()));
        }
        if let Some((seq, _)) = self.obsd_acquires.iter().find(|(_, (o, _))| *o == f) {
            return Ok((format!("ACQUIRE {seq} still pending"), Vec::new()));
        }
        self.event_seq = self.event_seq.wrapping_add(1);
        let seq = self.event_seq;
        let mut m = Message::new(Header::new(MsgType::Acquire, f.satype, seq, 0));
        match f.local {
            Some(local) => m.exts.push(addr(ExtKind::AddressSrc, local, 0)),
            // As the kernel does (docs/bsd.md section 3): an ADDRESS_SRC
            // sized by the all-zero sockaddr's sa_len, that is the reserved
            // word and nothing else.
            None => {
                if let Some(raw) = Dialect::OpenBsd.ext_raw(ExtKind::AddressSrc) {
                    m.exts.push(Ext::Unknown(raw, vec![0; 4]));
                }
            }
        }
        m.exts.push(addr(ExtKind::AddressDst, gw, 0));
        // The ipsec defaults: AES (128..256), HMAC-SHA1, sysctl lifetimes.
        m.exts.push(Ext::Proposal(Proposal {
            replay: 0,
            combs: vec![Comb {
                auth: ob::SADB_AALG_SHA1HMAC,
                encrypt: ob::SADB_X_EALG_AES,
                auth_minbits: 160,
                auth_maxbits: 160,
                encrypt_minbits: 128,
                encrypt_maxbits: 256,
                soft_addtime: 80_000,
                hard_addtime: 86_400,
                ..Comb::default()
            }],
        }));
        let out = self.to_registered(Some(f.satype), &m);
        if out.is_empty() {
            return Ok(("no socket registered: ESRCH, no ACQUIRE".into(), out));
        }
        let what = format!(
            "ACQUIRE seq {seq} to {} socket(s){}",
            out.len(),
            if f.local.is_none() {
                " (no ADDRESS_SRC sockaddr: the flow has no local address)"
            } else {
                ""
            }
        );
        self.obsd_acquires.insert(seq, (f, now + ACQUIRE_LIFETIME));
        Ok((what, out))
    }

    /// SADB_X_ASKPOLICY: the flow of a pending acquire, to the asker.
    pub(super) fn ask_policy(&mut self, from: ConnId, msg: &Message) -> Outcome {
        let seq = msg
            .exts
            .iter()
            .find_map(|e| match e {
                Ext::ObsdPolicy(s) => Some(*s),
                _ => None,
            })
            .ok_or(EINVAL)?;
        let (f, _): &(SimFlow, Instant) = self.obsd_acquires.get(&seq).ok_or(ESRCH)?;
        let exts = vec![
            addr(ExtKind::SrcFlow, f.src, f.src_port),
            addr(ExtKind::DstFlow, f.dst, f.dst_port),
            addr(
                ExtKind::SrcMask,
                f.src_mask,
                if f.src_port != 0 { 0xffff } else { 0 },
            ),
            addr(
                ExtKind::DstMask,
                f.dst_mask,
                if f.dst_port != 0 { 0xffff } else { 0 },
            ),
            Ext::Protocol(
                ExtKind::FlowType,
                Protocol {
                    proto: f.proto,
                    direction: f.direction,
                    flags: 0,
                },
            ),
            Ext::ObsdPolicy(seq),
        ];
        Ok(self.reply(from, &msg.header, exts))
    }
}
