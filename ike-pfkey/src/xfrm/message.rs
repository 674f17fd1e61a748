//! One message from the kernel on a NETLINK_XFRM socket, decoded: replies
//! (ACK/error, the NEWSA of ALLOCSPI and GETSA, the end of a dump) and the
//! multicast events of the groups the broker joins (ACQUIRE, EXPIRE,
//! POLEXPIRE, MAPPING).
//!
//! Which messages the kernel sends with which fixed struct is from
//! net/xfrm/xfrm_user.c (`xfrm_state_netlink`/`copy_to_user_state_extra`
//! for NEWSA, `build_acquire`, `build_expire`, `build_polexpire`,
//! `build_mapping`) and the struct comments of xfrm.h.

use super::attr::AttrSet;
use super::consts::*;
use super::nl::{self, NlError, NlHeader, NlMsg};
use super::structs::*;
use super::{Error, Result};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// NLMSG_ERROR with error 0: the request with this header succeeded.
    Ack(NlHeader),
    /// NLMSG_ERROR with an errno: the request with this header failed.
    Failed {
        errno: i32,
        request: NlHeader,
    },
    /// NLMSG_DONE: the end of a multipart dump.
    Done,
    /// XFRM_MSG_NEWSA (the reply to ALLOCSPI and GETSA, one part of a dump)
    /// or XFRM_MSG_UPDSA.
    Sa(Box<UsersaInfo>, Box<AttrSet>),
    /// XFRM_MSG_NEWPOLICY/UPDPOLICY (GETPOLICY reply, dump part).
    Policy(Box<UserpolicyInfo>, Box<AttrSet>),
    Acquire(Box<UserAcquire>, Box<AttrSet>),
    Expire(Box<UserExpire>, Box<AttrSet>),
    PolExpire(Box<UserPolexpire>, Box<AttrSet>),
    Mapping(UserMapping),
    /// DELSA/DELPOLICY notifications and the like: nothing the broker reads,
    /// kept by type for the log.
    Other(u16),
}

/// A decoded kernel message: the netlink header and its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelMsg {
    pub header: NlHeader,
    pub body: Body,
}

/// The attributes after a fixed struct of `fixed` bytes, aligned to 4
/// (NLMSG_ALIGN of the struct, as nlmsg_attrdata does).
fn attrs_after(payload: &[u8], fixed: usize) -> Result<Box<AttrSet>> {
    let start = super::align4(fixed);
    let rest = payload.get(start..).unwrap_or(&[]);
    AttrSet::parse(rest).map(Box::new)
}

impl KernelMsg {
    pub fn parse(m: &NlMsg<'_>) -> Result<KernelMsg> {
        let p = m.payload;
        let body = match m.header.ty {
            NLMSG_ERROR => {
                let e = NlError::parse(p)?;
                if e.errno == 0 {
                    Body::Ack(e.request)
                } else {
                    Body::Failed {
                        errno: e.errno,
                        request: e.request,
                    }
                }
            }
            NLMSG_DONE => Body::Done,
            NLMSG_NOOP => Body::Other(NLMSG_NOOP),
            NLMSG_OVERRUN => return Err(Error::BadMessage("NLMSG_OVERRUN")),
            XFRM_MSG_NEWSA | XFRM_MSG_UPDSA => Body::Sa(
                Box::new(UsersaInfo::parse(p)?),
                attrs_after(p, XFRM_USERSA_INFO_LEN)?,
            ),
            XFRM_MSG_NEWPOLICY | XFRM_MSG_UPDPOLICY => Body::Policy(
                Box::new(UserpolicyInfo::parse(p)?),
                attrs_after(p, XFRM_USERPOLICY_INFO_LEN)?,
            ),
            XFRM_MSG_ACQUIRE => Body::Acquire(
                Box::new(UserAcquire::parse(p)?),
                attrs_after(p, XFRM_USER_ACQUIRE_LEN)?,
            ),
            XFRM_MSG_EXPIRE => Body::Expire(
                Box::new(UserExpire::parse(p)?),
                attrs_after(p, XFRM_USER_EXPIRE_LEN)?,
            ),
            XFRM_MSG_POLEXPIRE => Body::PolExpire(
                Box::new(UserPolexpire::parse(p)?),
                attrs_after(p, XFRM_USER_POLEXPIRE_LEN)?,
            ),
            XFRM_MSG_MAPPING => Body::Mapping(UserMapping::parse(p)?),
            t @ (XFRM_MSG_DELSA | XFRM_MSG_DELPOLICY | XFRM_MSG_FLUSHSA | XFRM_MSG_FLUSHPOLICY
            | XFRM_MSG_NEWAE | XFRM_MSG_REPORT | XFRM_MSG_MIGRATE) => Body::Other(t),
            t => return Err(Error::UnknownMsgType(t)),
        };
        Ok(KernelMsg {
            header: m.header,
            body,
        })
    }
}

/// Decode every message of one datagram. A malformed message ends the
/// datagram (see [`nl::Messages`]); the ones before it are kept, each
/// with its own result, so one bad part does not hide a good reply.
pub fn parse_datagram(datagram: &[u8]) -> Vec<Result<KernelMsg>> {
    nl::messages(datagram)
        .map(|m| m.and_then(|m| KernelMsg::parse(&m)))
        .collect()
}
