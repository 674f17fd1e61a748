//! What each kernel refuses before it acts on a message: the structural
//! checks of its parser, applied to the raw bytes so that the simulator is
//! as strict as the kernel the daemon will meet (issue 11).
//!
//! Sources (read, not copied):
//! - OpenBSD `sys/net/pfkeyv2_parsemessage.c`, `pfkeyv2_parsemessage()` and
//!   its tables `sadb_exts_allowed_in` / `sadb_exts_required_in` (current
//!   tree, 64-bit bitmaps up to SADB_X_EXT_IFACE): header checks (length,
//!   reserved, type, pid equal to the sender's, errno 0), one bit per
//!   extension number, exact sizes, address and key checks, ADD/UPDATE
//!   state MATURE. Every failure there is EINVAL from write(): no message
//!   comes back (`pfkeyv2_dosend()` jumps past the reply for EINVAL).
//! - FreeBSD `sys/netipsec/key.c`: `key_parse()` (base header length must be
//!   the write size), `key_align()` (unknown and duplicate extensions,
//!   fixed extension sizes), `key_validate_ext()` (sockaddr length), and the
//!   handlers' mandatory extensions (`key_getspi`, `key_update`, `key_add`,
//!   `key_delete`, `key_get`, `key_spdadd`, `key_spddelete`,
//!   `key_spddelete2`, `key_spdget`), which answer through
//!   `key_senderror()`: the message comes back to the sender with errno.
//!   Summarised in docs/DIALECTS.md 2.6, 2.8 and 4.2.
//! - Linux af_key: the codec's own checks (`Message::parse`); a bad message
//!   gets a header-only EINVAL reply (DIALECTS.md 4.2), handled by the engine.

use crate::dialect::{openbsd as ob, Dialect, *};
use crate::wire::ext::ExtIter;
use crate::wire::message::MAX_MESSAGE_LEN;
use crate::wire::HeaderView;

/// How a kernel refuses a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// write() fails with this errno and nothing is delivered.
    Write(u8),
    /// The kernel answers with this errno (delivered the dialect's way).
    Reply(u8),
}

pub type Checked = Result<(), (Refusal, String)>;

fn bit(ext: u16) -> u64 {
    1u64.checked_shl(u32::from(ext)).unwrap_or(0)
}

const EINVAL: u8 = super::EINVAL;

/// Checks `bytes`, written by process `sender_pid` (when the transport
/// tells it), against dialect `d`'s parser.
pub fn check(d: Dialect, bytes: &[u8], sender_pid: Option<u32>) -> Checked {
    match d {
        Dialect::OpenBsd => openbsd(bytes, sender_pid).map_err(|why| (Refusal::Write(EINVAL), why)),
        Dialect::FreeBsd => freebsd(bytes),
        Dialect::Linux => Ok(()),
    }
}

// ---- OpenBSD -----------------------------------------------------------------

const SA: u64 = 1 << SADB_EXT_SA;
const LIFETIME: u64 = (1 << SADB_EXT_LIFETIME_CURRENT)
    | (1 << SADB_EXT_LIFETIME_HARD)
    | (1 << SADB_EXT_LIFETIME_SOFT);
const SRC: u64 = 1 << SADB_EXT_ADDRESS_SRC;
const DST: u64 = 1 << SADB_EXT_ADDRESS_DST;
const PROXY: u64 = 1 << SADB_EXT_ADDRESS_PROXY;
const KEY: u64 = (1 << SADB_EXT_KEY_AUTH) | (1 << SADB_EXT_KEY_ENCRYPT);
const IDENT: u64 = (1 << SADB_EXT_IDENTITY_SRC) | (1 << SADB_EXT_IDENTITY_DST);
const PROPOSAL: u64 = 1 << SADB_EXT_PROPOSAL;
const SPIRANGE: u64 = 1 << SADB_EXT_SPIRANGE;
const SRC_MASK: u64 = 1 << ob::SADB_X_EXT_SRC_MASK;
const DST_MASK: u64 = 1 << ob::SADB_X_EXT_DST_MASK;
const X_PROTOCOL: u64 = 1 << ob::SADB_X_EXT_PROTOCOL;
const FLOW_TYPE: u64 = 1 << ob::SADB_X_EXT_FLOW_TYPE;
const SRC_FLOW: u64 = 1 << ob::SADB_X_EXT_SRC_FLOW;
const DST_FLOW: u64 = 1 << ob::SADB_X_EXT_DST_FLOW;
/// `BITMAP_X_FLOW`: masks, flows, protocol and flow type.
const X_FLOW: u64 = SRC_MASK | DST_MASK | X_PROTOCOL | FLOW_TYPE | SRC_FLOW | DST_FLOW;
const X_SA2: u64 = 1 << ob::SADB_X_EXT_SA2;
const X_DST2: u64 = 1 << ob::SADB_X_EXT_DST2;
const X_POLICY: u64 = 1 << ob::SADB_X_EXT_POLICY;
const X_UDPENCAP: u64 = 1 << ob::SADB_X_EXT_UDPENCAP;
const X_LASTUSE: u64 = 1 << ob::SADB_X_EXT_LIFETIME_LASTUSE;
const X_TAG: u64 = 1 << ob::SADB_X_EXT_TAG;
const X_TAP: u64 = 1 << ob::SADB_X_EXT_TAP;
const X_SATYPE2: u64 = 1 << ob::SADB_X_EXT_SATYPE2;
const X_COUNTER: u64 = 1 << ob::SADB_X_EXT_COUNTER;
const X_RDOMAIN: u64 = 1 << ob::SADB_X_EXT_RDOMAIN;
const X_REPLAY: u64 = 1 << ob::SADB_X_EXT_REPLAY;
const X_IFACE: u64 = 1 << ob::SADB_X_EXT_IFACE;

/// `sadb_exts_allowed_in` and `sadb_exts_required_in`, by raw message type.
fn openbsd_exts(msg_type: u8) -> Option<(u64, u64)> {
    let sa_in = SA | LIFETIME | SRC | DST | KEY | IDENT | X_FLOW | X_UDPENCAP;
    let sa_x = X_TAG | X_TAP | X_RDOMAIN | X_COUNTER | X_REPLAY | X_IFACE;
    Some(match msg_type {
        SADB_GETSPI => (SRC | DST | SPIRANGE, SRC | DST | SPIRANGE),
        SADB_UPDATE => (sa_in | PROXY | sa_x, SA | SRC | DST),
        SADB_ADD => (sa_in | X_LASTUSE | sa_x, SA | DST),
        SADB_DELETE | SADB_GET => (SA | SRC | DST | X_RDOMAIN, SA | DST),
        SADB_ACQUIRE => (SRC | DST | IDENT | PROPOSAL, 0),
        SADB_REGISTER | SADB_FLUSH | SADB_DUMP | SADB_X_PROMISC => (0, 0),
        SADB_EXPIRE => (SA | SRC | DST, SA | SRC | DST),
        ob::SADB_X_ADDFLOW => (
            SRC | DST | IDENT | X_FLOW | X_RDOMAIN,
            SRC_MASK | DST_MASK | SRC_FLOW | DST_FLOW | FLOW_TYPE,
        ),
        ob::SADB_X_DELFLOW => (
            X_FLOW | X_RDOMAIN,
            SRC_MASK | DST_MASK | SRC_FLOW | DST_FLOW | FLOW_TYPE,
        ),
        ob::SADB_X_GRPSPIS => (
            SA | X_SA2 | X_DST2 | DST | X_SATYPE2 | X_RDOMAIN,
            SA | X_SA2 | X_DST2 | DST | X_SATYPE2,
        ),
        ob::SADB_X_ASKPOLICY => (X_POLICY, X_POLICY),
        _ => return None,
    })
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map(|s| u16::from_ne_bytes([s[0], s[1]]))
        .unwrap_or(0)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map(|s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
        .unwrap_or(0)
}

/// `pfkeyv2_parsemessage()`; the error text says which rule failed.
fn openbsd(bytes: &[u8], sender_pid: Option<u32>) -> Result<(), String> {
    let v = HeaderView::new_checked(bytes).map_err(|e| format!("header: {e}"))?;
    if v.reserved() != 0 {
        return Err("sadb_msg_reserved is not 0".into());
    }
    let t = v.msg_type();
    let (allowed, required) = openbsd_exts(t).ok_or(format!("message type {t}"))?;
    if let Some(pid) = sender_pid {
        if v.pid() != pid {
            return Err(format!(
                "sadb_msg_pid {} is not the sender's pid {pid}",
                v.pid()
            ));
        }
    }
    if v.errno() != 0 {
        return Err("sadb_msg_errno set by userland".into());
    }
    let mut seen = 0u64;
    let mut sa_state = None;
    for item in ExtIter::new(v.payload()) {
        let (ty, body) = item.map_err(|e| e.to_string())?;
        let b = bit(ty);
        if ty == 0 || ty > ob::SADB_X_EXT_IFACE || allowed & b == 0 {
            return Err(format!("extension {ty} not allowed in message type {t}"));
        }
        if seen & b != 0 {
            return Err(format!("duplicate extension {ty}"));
        }
        seen |= b;
        let len = body.len() + 4;
        let exact = |want: usize| {
            if len == want {
                Ok(())
            } else {
                Err(format!("extension {ty}: {len} bytes, must be {want}"))
            }
        };
        match ty {
            SADB_EXT_SA | ob::SADB_X_EXT_SA2 => {
                exact(16)?;
                // sadb_sa: spi(4) replay(1) state(1) auth(1) encrypt(1) flags(4)
                let replay = body.get(4).copied().unwrap_or(0);
                let state = body.get(5).copied().unwrap_or(0);
                // Above SADB_SASTATE_MAX, or DEAD, which userland may not set.
                if state >= SADB_SASTATE_DEAD {
                    return Err(format!("SA state {state}"));
                }
                if replay > 64 {
                    return Err(format!("replay window {replay} above 64"));
                }
                if ty == SADB_EXT_SA {
                    sa_state = Some(state);
                }
            }
            ob::SADB_X_EXT_PROTOCOL
            | ob::SADB_X_EXT_FLOW_TYPE
            | ob::SADB_X_EXT_SATYPE2
            | ob::SADB_X_EXT_POLICY => exact(8)?,
            SADB_EXT_LIFETIME_CURRENT
            | SADB_EXT_LIFETIME_HARD
            | SADB_EXT_LIFETIME_SOFT
            | ob::SADB_X_EXT_LIFETIME_LASTUSE => exact(32)?,
            SADB_EXT_SPIRANGE => {
                exact(16)?;
                if u32_at(body, 0) > u32_at(body, 4) {
                    return Err("SPI range min above max".into());
                }
            }
            SADB_EXT_ADDRESS_SRC
            | SADB_EXT_ADDRESS_DST
            | SADB_EXT_ADDRESS_PROXY
            | ob::SADB_X_EXT_SRC_MASK
            | ob::SADB_X_EXT_DST_MASK
            | ob::SADB_X_EXT_SRC_FLOW
            | ob::SADB_X_EXT_DST_FLOW
            | ob::SADB_X_EXT_DST2 => openbsd_address(ty, body)?,
            SADB_EXT_KEY_AUTH | SADB_EXT_KEY_ENCRYPT => {
                let bits = usize::from(u16_at(body, 0));
                if bits == 0 || u16_at(body, 2) != 0 || len != 8 + bits.div_ceil(64) * 8 {
                    return Err(format!("key extension {ty}: {bits} bits in {len} bytes"));
                }
            }
            _ => {}
        }
    }
    if seen & required != required {
        return Err(format!(
            "message type {t} lacks required extension(s) {:#x}",
            required & !seen
        ));
    }
    if (t == SADB_ADD || t == SADB_UPDATE) && sa_state != Some(SADB_SASTATE_MATURE) {
        return Err("ADD/UPDATE with an SA state other than MATURE".into());
    }
    Ok(())
}

/// The address checks of `pfkeyv2_parsemessage()`: reserved word 0, sa_len
/// 16 or 28 matching the extension's length, no port outside the flow and
/// mask extensions, sin_zero and sin6_flowinfo 0.
fn openbsd_address(ty: u16, body: &[u8]) -> Result<(), String> {
    if u32_at(body, 0) != 0 {
        return Err(format!("address extension {ty}: reserved word set"));
    }
    let sa = body.get(4..).unwrap_or(&[]);
    let sa_len = usize::from(sa.first().copied().unwrap_or(0));
    let family = u16::from(sa.get(1).copied().unwrap_or(0));
    let flowish = matches!(
        ty,
        ob::SADB_X_EXT_SRC_MASK
            | ob::SADB_X_EXT_DST_MASK
            | ob::SADB_X_EXT_SRC_FLOW
            | ob::SADB_X_EXT_DST_FLOW
    );
    let want = match family {
        AF_INET => 16,
        ob::AF_INET6 => 28,
        f => return Err(format!("address extension {ty}: family {f}")),
    };
    if sa_len != want || body.len() + 4 != 8 + want.div_ceil(8) * 8 {
        return Err(format!("address extension {ty}: sa_len {sa_len}"));
    }
    if !flowish && u16_at(sa, 2) != 0 {
        return Err(format!("address extension {ty}: port set"));
    }
    let pad_ok = if family == AF_INET {
        sa.get(8..16).is_some_and(|z| z.iter().all(|&b| b == 0))
    } else {
        u32_at(sa, 4) == 0
    };
    if !pad_ok {
        return Err(format!(
            "address extension {ty}: sin_zero/flowinfo not zero"
        ));
    }
    Ok(())
}

// ---- FreeBSD -----------------------------------------------------------------

/// Extensions the handler of each message type insists on (key.c's
/// `SADB_CHECKHDR` at the top of each handler), by raw type.
fn freebsd_required(msg_type: u8) -> &'static [u16] {
    use crate::dialect::kame_freebsd as fb;
    match msg_type {
        SADB_GETSPI => &[SADB_EXT_ADDRESS_SRC, SADB_EXT_ADDRESS_DST],
        SADB_UPDATE | SADB_ADD | SADB_GET => {
            &[SADB_EXT_SA, SADB_EXT_ADDRESS_SRC, SADB_EXT_ADDRESS_DST]
        }
        SADB_DELETE => &[SADB_EXT_ADDRESS_SRC, SADB_EXT_ADDRESS_DST],
        fb::SADB_X_SPDADD | fb::SADB_X_SPDUPDATE | fb::SADB_X_SPDDELETE => &[
            SADB_EXT_ADDRESS_SRC,
            SADB_EXT_ADDRESS_DST,
            fb::SADB_X_EXT_POLICY,
        ],
        fb::SADB_X_SPDDELETE2 | fb::SADB_X_SPDGET => &[fb::SADB_X_EXT_POLICY],
        _ => &[],
    }
}

/// `key_parse()` / `key_align()` / `key_validate_ext()` and the handlers'
/// mandatory extensions.
fn freebsd(bytes: &[u8]) -> Checked {
    use crate::dialect::kame_freebsd as fb;
    let write = |why: String| (Refusal::Write(EINVAL), why);
    let reply = |why: String| (Refusal::Reply(EINVAL), why);
    let v = HeaderView::new_checked(bytes).map_err(|e| write(format!("header: {e}")))?;
    if bytes.len() > MAX_MESSAGE_LEN {
        return Err(write("message too long".into()));
    }
    let t = v.msg_type();
    if t == 0 || Dialect::FreeBsd.msg_type(t).is_none() {
        return Err(reply(format!("message type {t}")));
    }
    let mut seen = 0u64;
    for item in ExtIter::new(v.payload()) {
        let (ty, body) = item.map_err(|e| reply(e.to_string()))?;
        if Dialect::FreeBsd.ext_kind(ty).is_none() {
            return Err(reply(format!("unknown extension {ty}")));
        }
        if seen & bit(ty) != 0 {
            return Err(reply(format!("duplicate extension {ty}")));
        }
        seen |= bit(ty);
        let len = body.len() + 4;
        let fixed = match ty {
            SADB_EXT_SA | SADB_EXT_SPIRANGE | fb::SADB_X_EXT_SA2 => Some(16),
            SADB_EXT_LIFETIME_CURRENT | SADB_EXT_LIFETIME_HARD | SADB_EXT_LIFETIME_SOFT => Some(32),
            fb::SADB_X_EXT_NAT_T_TYPE
            | fb::SADB_X_EXT_NAT_T_SPORT
            | fb::SADB_X_EXT_NAT_T_DPORT
            | fb::SADB_X_EXT_NAT_T_FRAG
            | fb::SADB_X_EXT_SA_REPLAY => Some(8),
            _ => None,
        };
        if fixed.is_some_and(|want| want != len) {
            return Err(reply(format!("extension {ty}: {len} bytes")));
        }
        if matches!(
            ty,
            SADB_EXT_ADDRESS_SRC | SADB_EXT_ADDRESS_DST | SADB_EXT_ADDRESS_PROXY
        ) {
            // sadb_address (8) + sockaddr of exactly sa_len, padded to 8.
            let sa_len = usize::from(body.get(4).copied().unwrap_or(0));
            if !matches!(sa_len, 16 | 28) || len != 8 + sa_len.div_ceil(8) * 8 {
                return Err(reply(format!("address extension {ty}: sa_len {sa_len}")));
            }
        }
    }
    for &ext in freebsd_required(t) {
        if seen & bit(ext) == 0 {
            return Err(reply(format!("message type {t} without extension {ext}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::raw_sa;
    use crate::wire::{Address, Ext, Header, Message, Protocol, SpiRange};
    use std::net::SocketAddr;

    fn host(s: &str) -> Address {
        Address {
            proto: 0,
            ..Address::host(s.parse().unwrap())
        }
    }

    fn getspi(with_range: bool) -> Message {
        let mut m = Message::new(Header::new(MsgType::GetSpi, SaType::Esp, 1, 77))
            .with(Ext::Address(ExtKind::AddressSrc, host("192.0.2.1")))
            .with(Ext::Address(ExtKind::AddressDst, host("192.0.2.2")));
        if with_range {
            m = m.with(Ext::SpiRange(SpiRange {
                min: 0x100,
                max: u32::MAX,
            }));
        }
        m
    }

    #[test]
    fn openbsd_requires_spirange_the_sender_pid_and_no_errno() {
        let d = Dialect::OpenBsd;
        let ok = getspi(true).emit(d).unwrap();
        assert_eq!(check(d, &ok, Some(77)), Ok(()));
        let (r, why) = check(d, &ok, Some(78)).unwrap_err();
        assert_eq!(r, Refusal::Write(EINVAL));
        assert!(why.contains("pid"), "{why}");
        assert!(check(d, &getspi(false).emit(d).unwrap(), Some(77)).is_err());
        let mut m = getspi(true);
        m.header.errno = 2;
        assert!(check(d, &m.emit(d).unwrap(), None).is_err());
    }

    #[test]
    fn openbsd_refuses_extensions_outside_the_message_bitmap() {
        let d = Dialect::OpenBsd;
        // ADD with an SPIRANGE: allowed on GETSPI only.
        let m = raw_sa(
            Header::new(MsgType::Add, SaType::Esp, 2, 77),
            0x1234,
            "192.0.2.1",
            "192.0.2.2",
            1,
        )
        .with(Ext::SpiRange(SpiRange { min: 1, max: 2 }));
        let (_, why) = check(d, &m.emit(d).unwrap(), None).unwrap_err();
        assert!(why.contains("not allowed"), "{why}");
        // A port on an SA address: only flows and masks may carry one.
        let mut m = getspi(true);
        m.exts[0] = Ext::Address(
            ExtKind::AddressSrc,
            Address {
                proto: 0,
                prefix_len: 0,
                addr: "192.0.2.1:500".parse::<SocketAddr>().unwrap(),
            },
        );
        let (_, why) = check(d, &m.emit(d).unwrap(), None).unwrap_err();
        assert!(why.contains("port"), "{why}");
        // DELFLOW without its flow type.
        let flow = |k, a: &str| {
            Ext::Address(
                k,
                Address {
                    proto: 0,
                    prefix_len: 0,
                    addr: format!("{a}:0").parse().unwrap(),
                },
            )
        };
        let del = Message::new(Header::new(MsgType::DelFlow, SaType::Esp, 3, 77))
            .with(flow(ExtKind::SrcFlow, "10.1.0.0"))
            .with(flow(ExtKind::SrcMask, "255.255.255.0"))
            .with(flow(ExtKind::DstFlow, "10.2.0.0"))
            .with(flow(ExtKind::DstMask, "255.255.255.0"));
        let (_, why) = check(d, &del.emit(d).unwrap(), None).unwrap_err();
        assert!(why.contains("required"), "{why}");
        let del = del.with(Ext::Protocol(
            ExtKind::FlowType,
            Protocol {
                proto: ob::SADB_X_FLOW_TYPE_REQUIRE,
                direction: ob::IPSP_DIRECTION_OUT,
                flags: 0,
            },
        ));
        assert_eq!(check(d, &del.emit(d).unwrap(), None), Ok(()));
    }

    #[test]
    fn freebsd_answers_missing_mandatory_extensions_with_einval() {
        let d = Dialect::FreeBsd;
        let mut m = getspi(false);
        assert_eq!(check(d, &m.emit(d).unwrap(), None), Ok(()));
        m.exts.remove(1);
        let (r, _) = check(d, &m.emit(d).unwrap(), None).unwrap_err();
        assert_eq!(r, Refusal::Reply(EINVAL));
        let mut bytes = getspi(false).emit(d).unwrap();
        bytes.extend_from_slice(&[0; 8]);
        let (r, _) = check(d, &bytes, None).unwrap_err();
        assert_eq!(r, Refusal::Write(EINVAL), "length not the write size");
    }
}
