//! OpenBSD numbers.
//!
//! Sources: `sys/net/pfkeyv2.h` v1.95 (message types, extensions, SA types,
//! algorithms, SA flags, flow types, identity types), `sys/sys/socket.h` (address
//! families). See `docs/DIALECTS.md` 3.

// Message types: 12..16 mean something else than on KAME.
pub const SADB_X_ADDFLOW: u8 = 12;
pub const SADB_X_DELFLOW: u8 = 13;
pub const SADB_X_GRPSPIS: u8 = 14;
pub const SADB_X_ASKPOLICY: u8 = 15;
/// Only produced by the `net.key` sysctl; EINVAL on the socket.
pub const SADB_X_SPDDUMP: u8 = 16;

// Extension types, pfkeyv2.h `SADB_X_EXT_*`.
pub const SADB_X_EXT_SRC_MASK: u16 = 17;
pub const SADB_X_EXT_DST_MASK: u16 = 18;
pub const SADB_X_EXT_PROTOCOL: u16 = 19;
pub const SADB_X_EXT_FLOW_TYPE: u16 = 20;
pub const SADB_X_EXT_SRC_FLOW: u16 = 21;
pub const SADB_X_EXT_DST_FLOW: u16 = 22;
pub const SADB_X_EXT_SA2: u16 = 23;
pub const SADB_X_EXT_DST2: u16 = 24;
pub const SADB_X_EXT_POLICY: u16 = 25;
pub const SADB_X_EXT_SUPPORTED_COMP: u16 = 30;
pub const SADB_X_EXT_UDPENCAP: u16 = 31;
pub const SADB_X_EXT_LIFETIME_LASTUSE: u16 = 32;
pub const SADB_X_EXT_TAG: u16 = 33;
pub const SADB_X_EXT_TAP: u16 = 34;
pub const SADB_X_EXT_SATYPE2: u16 = 35;
pub const SADB_X_EXT_COUNTER: u16 = 36;
pub const SADB_X_EXT_RDOMAIN: u16 = 37;
pub const SADB_X_EXT_MTU: u16 = 38;
pub const SADB_X_EXT_REPLAY: u16 = 39;
pub const SADB_X_EXT_IFACE: u16 = 40;

// SA types: renumbered against RFC 2367.
pub const SADB_SATYPE_AH: u8 = 1;
pub const SADB_SATYPE_ESP: u8 = 2;
pub const SADB_SATYPE_RSVP: u8 = 3;
pub const SADB_SATYPE_OSPFV2: u8 = 4;
pub const SADB_SATYPE_RIPV2: u8 = 5;
pub const SADB_SATYPE_MIP: u8 = 6;
pub const SADB_X_SATYPE_IPIP: u8 = 7;
pub const SADB_X_SATYPE_TCPSIGNATURE: u8 = 8;
pub const SADB_X_SATYPE_IPCOMP: u8 = 9;

// Authentication algorithms.
pub const SADB_AALG_MD5HMAC: u8 = 2;
pub const SADB_AALG_SHA1HMAC: u8 = 3;
pub const SADB_X_AALG_SHA2_256: u8 = 5;
pub const SADB_X_AALG_SHA2_384: u8 = 6;
pub const SADB_X_AALG_SHA2_512: u8 = 7;
pub const SADB_X_AALG_RIPEMD160HMAC: u8 = 8;
pub const SADB_X_AALG_AES128GMAC: u8 = 9;
pub const SADB_X_AALG_AES192GMAC: u8 = 10;
pub const SADB_X_AALG_AES256GMAC: u8 = 11;
pub const SADB_X_AALG_CHACHA20POLY1305: u8 = 12;

// Encryption algorithms.
pub const SADB_EALG_3DESCBC: u8 = 3;
pub const SADB_X_EALG_CAST: u8 = 6;
pub const SADB_X_EALG_BLF: u8 = 7;
pub const SADB_EALG_NULL: u8 = 11;
pub const SADB_X_EALG_AES: u8 = 12;
pub const SADB_X_EALG_AESCTR: u8 = 13;
pub const SADB_X_EALG_AESGCM8: u8 = 18;
pub const SADB_X_EALG_AESGCM12: u8 = 19;
pub const SADB_X_EALG_AESGCM16: u8 = 20;
/// 21 on OpenBSD, 23 on KAME.
pub const SADB_X_EALG_AESGMAC: u8 = 21;
/// 22 on OpenBSD (KAME's 22 is Camellia).
pub const SADB_X_EALG_CHACHA20POLY1305: u8 = 22;

// Compression algorithms.
pub const SADB_X_CALG_DEFLATE: u8 = 2;

// SA flags: OpenBSD marks mode and encapsulation with flags, not with SA2.
pub const SADB_X_SAFLAGS_TUNNEL: u32 = 0x004;
pub const SADB_X_SAFLAGS_CHAINDEL: u32 = 0x008;
pub const SADB_X_SAFLAGS_UDPENCAP: u32 = 0x200;
pub const SADB_X_SAFLAGS_ESN: u32 = 0x400;

// Flow types, the `proto` byte of SADB_X_EXT_FLOW_TYPE.
pub const SADB_X_FLOW_TYPE_USE: u8 = 1;
pub const SADB_X_FLOW_TYPE_ACQUIRE: u8 = 2;
pub const SADB_X_FLOW_TYPE_REQUIRE: u8 = 3;
pub const SADB_X_FLOW_TYPE_BYPASS: u8 = 4;
pub const SADB_X_FLOW_TYPE_DENY: u8 = 5;
pub const SADB_X_FLOW_TYPE_DONTACQ: u8 = 6;

// Flow directions, the `direction` byte of sadb_protocol.
pub const IPSP_DIRECTION_IN: u8 = 1;
pub const IPSP_DIRECTION_OUT: u8 = 2;

/// `SADB_X_POLICYFLAGS_POLICY`: a static policy flow.
pub const SADB_X_POLICYFLAGS_POLICY: u8 = 0x1;

/// `SADB_IDENTTYPE_ASN1_DN` (FreeBSD's 4 is X_ADDR).
pub const SADB_IDENTTYPE_ASN1_DN: u16 = 4;

/// `PF_KEY` (= `AF_KEY`) in `sys/sys/socket.h`; the libc crate does not
/// declare it for OpenBSD.
pub const PF_KEY: i32 = 30;

/// `AF_INET6` in `sys/sys/socket.h`.
pub const AF_INET6: u16 = 24;
