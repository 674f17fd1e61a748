//! The numbers of NETLINK_XFRM, each from the Linux uapi header named beside
//! it (`include/uapi/linux/netlink.h`, `include/uapi/linux/xfrm.h`; checked
//! against the copies in linux-libc-dev, Linux 6.x). The struct sizes are
//! those of 64-bit ABIs (x86_64, aarch64), where `__u64` is 8-byte aligned;
//! i386 packs `xfrm_usersa_info` to 220 bytes and needs the kernel's compat
//! layer, which this codec does not speak.

// ---- netlink.h ----
/// `NETLINK_XFRM`: the protocol number for `socket(AF_NETLINK, SOCK_RAW, 6)`.
pub const NETLINK_XFRM: i32 = 6;
/// `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;
/// `NLMSG_ALIGNTO` (also `NLA_ALIGNTO`).
pub const NLMSG_ALIGNTO: usize = 4;
pub const NLMSG_NOOP: u16 = 1;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLMSG_OVERRUN: u16 = 4;
pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_MULTI: u16 = 0x2;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP: u16 = 0x300;
/// In an NLMSG_ERROR: the echoed request was cut to its header.
pub const NLM_F_CAPPED: u16 = 0x100;
/// In an NLMSG_ERROR: extended-ack attributes follow.
pub const NLM_F_ACK_TLVS: u16 = 0x200;
/// `struct nlmsgerr`: `int error` then the request's `struct nlmsghdr`.
pub const NLMSGERR_LEN: usize = 20;
/// `struct nlattr`.
pub const NLA_HDRLEN: usize = 4;
/// `NLA_F_NESTED | NLA_F_NET_BYTEORDER`: flag bits of `nla_type`.
pub const NLA_TYPE_MASK: u16 = 0x3fff;
/// `SOL_NETLINK` socket options (`NETLINK_ADD_MEMBERSHIP` etc.).
pub const SOL_NETLINK: i32 = 270;
pub const NETLINK_ADD_MEMBERSHIP: i32 = 1;
pub const NETLINK_EXT_ACK: i32 = 11;
pub const NETLINK_CAP_ACK: i32 = 10;

// ---- xfrm.h: message types (enum starting at XFRM_MSG_BASE = 0x10) ----
pub const XFRM_MSG_NEWSA: u16 = 0x10;
pub const XFRM_MSG_DELSA: u16 = 0x11;
pub const XFRM_MSG_GETSA: u16 = 0x12;
pub const XFRM_MSG_NEWPOLICY: u16 = 0x13;
pub const XFRM_MSG_DELPOLICY: u16 = 0x14;
pub const XFRM_MSG_GETPOLICY: u16 = 0x15;
pub const XFRM_MSG_ALLOCSPI: u16 = 0x16;
pub const XFRM_MSG_ACQUIRE: u16 = 0x17;
pub const XFRM_MSG_EXPIRE: u16 = 0x18;
pub const XFRM_MSG_UPDPOLICY: u16 = 0x19;
pub const XFRM_MSG_UPDSA: u16 = 0x1a;
pub const XFRM_MSG_POLEXPIRE: u16 = 0x1b;
pub const XFRM_MSG_FLUSHSA: u16 = 0x1c;
pub const XFRM_MSG_FLUSHPOLICY: u16 = 0x1d;
pub const XFRM_MSG_NEWAE: u16 = 0x1e;
pub const XFRM_MSG_GETAE: u16 = 0x1f;
pub const XFRM_MSG_REPORT: u16 = 0x20;
pub const XFRM_MSG_MIGRATE: u16 = 0x21;
pub const XFRM_MSG_MAPPING: u16 = 0x26;

// ---- xfrm.h: enum xfrm_attr_type_t ----
pub const XFRMA_ALG_AUTH: u16 = 1;
pub const XFRMA_ALG_CRYPT: u16 = 2;
pub const XFRMA_ALG_COMP: u16 = 3;
pub const XFRMA_ENCAP: u16 = 4;
pub const XFRMA_TMPL: u16 = 5;
pub const XFRMA_SA: u16 = 6;
pub const XFRMA_POLICY: u16 = 7;
pub const XFRMA_SEC_CTX: u16 = 8;
pub const XFRMA_LTIME_VAL: u16 = 9;
pub const XFRMA_REPLAY_VAL: u16 = 10;
pub const XFRMA_REPLAY_THRESH: u16 = 11;
pub const XFRMA_ETIMER_THRESH: u16 = 12;
pub const XFRMA_SRCADDR: u16 = 13;
pub const XFRMA_COADDR: u16 = 14;
pub const XFRMA_LASTUSED: u16 = 15;
pub const XFRMA_POLICY_TYPE: u16 = 16;
pub const XFRMA_MIGRATE: u16 = 17;
pub const XFRMA_ALG_AEAD: u16 = 18;
pub const XFRMA_KMADDRESS: u16 = 19;
pub const XFRMA_ALG_AUTH_TRUNC: u16 = 20;
pub const XFRMA_MARK: u16 = 21;
pub const XFRMA_TFCPAD: u16 = 22;
pub const XFRMA_REPLAY_ESN_VAL: u16 = 23;
pub const XFRMA_SA_EXTRA_FLAGS: u16 = 24;
pub const XFRMA_PROTO: u16 = 25;
pub const XFRMA_ADDRESS_FILTER: u16 = 26;
pub const XFRMA_PAD: u16 = 27;
pub const XFRMA_OFFLOAD_DEV: u16 = 28;
pub const XFRMA_SET_MARK: u16 = 29;
pub const XFRMA_SET_MARK_MASK: u16 = 30;
pub const XFRMA_IF_ID: u16 = 31;
pub const XFRMA_MTIMER_THRESH: u16 = 32;

// ---- xfrm.h: enum xfrm_nlgroups (bind() takes 1 << (group - 1)) ----
pub const XFRMNLGRP_ACQUIRE: u32 = 1;
pub const XFRMNLGRP_EXPIRE: u32 = 2;
pub const XFRMNLGRP_SA: u32 = 3;
pub const XFRMNLGRP_POLICY: u32 = 4;
pub const XFRMNLGRP_MAPPING: u32 = 8;

/// The groups the broker listens to: ACQUIRE, EXPIRE (SA and policy expiry)
/// and MAPPING. Not SA or POLICY: those carry every daemon's changes, keys
/// included, and the broker needs none of them.
pub const BROKER_GROUPS: u32 =
    (1 << (XFRMNLGRP_ACQUIRE - 1)) | (1 << (XFRMNLGRP_EXPIRE - 1)) | (1 << (XFRMNLGRP_MAPPING - 1));

// ---- xfrm.h: modes, directions, actions, flags ----
pub const XFRM_MODE_TRANSPORT: u8 = 0;
pub const XFRM_MODE_TUNNEL: u8 = 1;
pub const XFRM_POLICY_IN: u8 = 0;
pub const XFRM_POLICY_OUT: u8 = 1;
pub const XFRM_POLICY_FWD: u8 = 2;
pub const XFRM_POLICY_ALLOW: u8 = 0;
pub const XFRM_POLICY_BLOCK: u8 = 1;
pub const XFRM_SHARE_ANY: u8 = 0;
/// `XFRM_INF`: no limit in `xfrm_lifetime_cfg`.
pub const XFRM_INF: u64 = u64::MAX;
pub const XFRM_STATE_NOECN: u8 = 1;
pub const XFRM_STATE_AF_UNSPEC: u8 = 32;
pub const XFRM_STATE_ESN: u8 = 128;
/// `XFRMA_REPLAY_ESN_MAX`: the largest ESN replay bitmap in bits.
pub const XFRMA_REPLAY_ESN_MAX: u32 = 4096;

/// `UDP_ENCAP_ESPINUDP` (include/uapi/linux/udp.h): RFC 3948 ESP-in-UDP.
pub const UDP_ENCAP_ESPINUDP: u16 = 2;

// ---- in.h / socket.h ----
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;
pub const IPPROTO_ESP: u8 = 50;
pub const IPPROTO_AH: u8 = 51;

// ---- struct sizes (xfrm.h; offsets in `structs.rs`) ----
pub const XFRM_SELECTOR_LEN: usize = 56;
pub const XFRM_ID_LEN: usize = 24;
pub const XFRM_LIFETIME_CFG_LEN: usize = 64;
pub const XFRM_LIFETIME_CUR_LEN: usize = 32;
pub const XFRM_USERSA_INFO_LEN: usize = 224;
pub const XFRM_USERSA_ID_LEN: usize = 24;
pub const XFRM_USERSPI_INFO_LEN: usize = 232;
pub const XFRM_USERPOLICY_INFO_LEN: usize = 168;
pub const XFRM_USERPOLICY_ID_LEN: usize = 64;
pub const XFRM_USER_TMPL_LEN: usize = 64;
pub const XFRM_USER_ACQUIRE_LEN: usize = 280;
pub const XFRM_USER_EXPIRE_LEN: usize = 232;
pub const XFRM_USER_POLEXPIRE_LEN: usize = 176;
pub const XFRM_USER_MAPPING_LEN: usize = 64;
pub const XFRM_ENCAP_TMPL_LEN: usize = 24;
/// `struct xfrm_algo`: 64-byte name, key length in bits, then the key.
pub const XFRM_ALGO_LEN: usize = 68;
/// `struct xfrm_algo_auth` / `xfrm_algo_aead`: one more u32 (truncation / ICV bits).
pub const XFRM_ALGO_AUTH_LEN: usize = 72;
pub const XFRM_ALG_NAME_LEN: usize = 64;
pub const XFRM_REPLAY_STATE_ESN_LEN: usize = 24;
pub const XFRM_REPLAY_STATE_LEN: usize = 12;
