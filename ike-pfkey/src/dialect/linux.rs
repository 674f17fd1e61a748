//! Linux af_key numbers.
//!
//! Sources: `include/uapi/linux/pfkeyv2.h` (message types, extensions, SA types,
//! algorithms, flags), `include/uapi/linux/ipsec.h` (modes, directions, levels),
//! `include/linux/socket.h` (address families). See `docs/DIALECTS.md` 2 and 5.

// Message types, pfkeyv2.h `SADB_*`. 0..=11 are RFC 2367 values shared by all dialects.
pub const SADB_X_PCHANGE: u8 = 12;
pub const SADB_X_SPDUPDATE: u8 = 13;
pub const SADB_X_SPDADD: u8 = 14;
pub const SADB_X_SPDDELETE: u8 = 15;
pub const SADB_X_SPDGET: u8 = 16;
pub const SADB_X_SPDACQUIRE: u8 = 17;
pub const SADB_X_SPDDUMP: u8 = 18;
pub const SADB_X_SPDFLUSH: u8 = 19;
pub const SADB_X_SPDSETIDX: u8 = 20;
pub const SADB_X_SPDEXPIRE: u8 = 21;
pub const SADB_X_SPDDELETE2: u8 = 22;
pub const SADB_X_NAT_T_NEW_MAPPING: u8 = 23;
pub const SADB_X_MIGRATE: u8 = 24;

// Extension types, pfkeyv2.h `SADB_X_EXT_*` (17 and up differ per platform).
pub const SADB_X_EXT_KMPRIVATE: u16 = 17;
pub const SADB_X_EXT_POLICY: u16 = 18;
pub const SADB_X_EXT_SA2: u16 = 19;
pub const SADB_X_EXT_NAT_T_TYPE: u16 = 20;
pub const SADB_X_EXT_NAT_T_SPORT: u16 = 21;
pub const SADB_X_EXT_NAT_T_DPORT: u16 = 22;
pub const SADB_X_EXT_NAT_T_OA: u16 = 23;
pub const SADB_X_EXT_SEC_CTX: u16 = 24;
pub const SADB_X_EXT_KMADDRESS: u16 = 25;
pub const SADB_X_EXT_FILTER: u16 = 26;

// SA types, pfkeyv2.h `SADB_SATYPE_*` (RFC values).
pub const SADB_SATYPE_AH: u8 = 2;
pub const SADB_SATYPE_ESP: u8 = 3;
pub const SADB_SATYPE_RSVP: u8 = 5;
pub const SADB_SATYPE_OSPFV2: u8 = 6;
pub const SADB_SATYPE_RIPV2: u8 = 7;
pub const SADB_SATYPE_MIP: u8 = 8;
pub const SADB_X_SATYPE_IPCOMP: u8 = 9;

// Authentication algorithms, pfkeyv2.h `SADB_AALG_*` / `SADB_X_AALG_*`.
pub const SADB_AALG_MD5HMAC: u8 = 2;
pub const SADB_AALG_SHA1HMAC: u8 = 3;
/// ICV truncated to 96 bits through PF_KEY (pre-RFC 4868), DIALECTS.md 5.4.
pub const SADB_X_AALG_SHA2_256HMAC: u8 = 5;
pub const SADB_X_AALG_SHA2_384HMAC: u8 = 6;
pub const SADB_X_AALG_SHA2_512HMAC: u8 = 7;
pub const SADB_X_AALG_RIPEMD160HMAC: u8 = 8;
pub const SADB_X_AALG_AES_XCBC_MAC: u8 = 9;
pub const SADB_X_AALG_SM3_256HMAC: u8 = 10;
pub const SADB_X_AALG_NULL: u8 = 251;

// Encryption algorithms, pfkeyv2.h `SADB_EALG_*` / `SADB_X_EALG_*`.
pub const SADB_EALG_DESCBC: u8 = 2;
pub const SADB_EALG_3DESCBC: u8 = 3;
pub const SADB_X_EALG_CASTCBC: u8 = 6;
pub const SADB_X_EALG_BLOWFISHCBC: u8 = 7;
pub const SADB_EALG_NULL: u8 = 11;
pub const SADB_X_EALG_AESCBC: u8 = 12;
pub const SADB_X_EALG_AESCTR: u8 = 13;
pub const SADB_X_EALG_AES_CCM_ICV8: u8 = 14;
pub const SADB_X_EALG_AES_CCM_ICV12: u8 = 15;
pub const SADB_X_EALG_AES_CCM_ICV16: u8 = 16;
pub const SADB_X_EALG_AES_GCM_ICV8: u8 = 18;
pub const SADB_X_EALG_AES_GCM_ICV12: u8 = 19;
pub const SADB_X_EALG_AES_GCM_ICV16: u8 = 20;
pub const SADB_X_EALG_CAMELLIACBC: u8 = 22;
pub const SADB_X_EALG_NULL_AES_GMAC: u8 = 23;
pub const SADB_X_EALG_SM4CBC: u8 = 24;
pub const SADB_X_EALG_SERPENTCBC: u8 = 252;
pub const SADB_X_EALG_TWOFISHCBC: u8 = 253;

// SA flags, pfkeyv2.h `SADB_SAFLAGS_*`.
pub const SADB_SAFLAGS_NOPMTUDISC: u32 = 0x2000_0000;
pub const SADB_SAFLAGS_DECAP_DSCP: u32 = 0x4000_0000;
pub const SADB_SAFLAGS_NOECN: u32 = 0x8000_0000;

/// `PF_KEY` (= `AF_KEY`) in `include/linux/socket.h`.
pub const PF_KEY: i32 = 15;

/// `AF_INET6` in `include/linux/socket.h`.
pub const AF_INET6: u16 = 10;

/// ipsec.h `IPSEC_MODE_BEET`.
pub const IPSEC_MODE_BEET: u8 = 3;
/// ipsec.h `IPSEC_DIR_FWD`.
pub const IPSEC_DIR_FWD: u8 = 3;

/// `sizeof(struct sadb_x_ipsecrequest)` in pfkeyv2.h: u32 reqid and a trailing reserved word.
pub const IPSECREQUEST_LEN: usize = 16;

/// `sizeof(struct sockaddr_in)` / `sizeof(struct sockaddr_in6)` on Linux (no sa_len).
pub const SOCKADDR_IN_LEN: usize = 16;
pub const SOCKADDR_IN6_LEN: usize = 28;
