//! FreeBSD (KAME) numbers.
//!
//! Sources: `sys/net/pfkeyv2.h` (message types, extensions, SA types, algorithms,
//! flags), `sys/netipsec/ipsec.h` (modes, directions, levels, policy scope),
//! `sys/sys/socket.h` (address families). See `docs/DIALECTS.md` 2.

// Message types, pfkeyv2.h `SADB_X_*` (12..22 are the same numbers as Linux).
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

// Extension types, pfkeyv2.h `SADB_X_EXT_*`.
pub const SADB_X_EXT_KMPRIVATE: u16 = 17;
pub const SADB_X_EXT_POLICY: u16 = 18;
pub const SADB_X_EXT_SA2: u16 = 19;
pub const SADB_X_EXT_NAT_T_TYPE: u16 = 20;
pub const SADB_X_EXT_NAT_T_SPORT: u16 = 21;
pub const SADB_X_EXT_NAT_T_DPORT: u16 = 22;
/// Called `SADB_X_EXT_NAT_T_OA` in older headers.
pub const SADB_X_EXT_NAT_T_OAI: u16 = 23;
pub const SADB_X_EXT_NAT_T_OAR: u16 = 24;
pub const SADB_X_EXT_NAT_T_FRAG: u16 = 25;
pub const SADB_X_EXT_SA_REPLAY: u16 = 26;
pub const SADB_X_EXT_NEW_ADDRESS_SRC: u16 = 27;
pub const SADB_X_EXT_NEW_ADDRESS_DST: u16 = 28;

// SA types, pfkeyv2.h `SADB_SATYPE_*` (RFC values).
pub const SADB_SATYPE_AH: u8 = 2;
pub const SADB_SATYPE_ESP: u8 = 3;
pub const SADB_SATYPE_RSVP: u8 = 5;
pub const SADB_SATYPE_OSPFV2: u8 = 6;
pub const SADB_SATYPE_RIPV2: u8 = 7;
pub const SADB_SATYPE_MIP: u8 = 8;
pub const SADB_X_SATYPE_IPCOMP: u8 = 9;
pub const SADB_X_SATYPE_TCPSIGNATURE: u8 = 11;

// Authentication algorithms, pfkeyv2.h.
pub const SADB_AALG_MD5HMAC: u8 = 2;
pub const SADB_AALG_SHA1HMAC: u8 = 3;
pub const SADB_X_AALG_SHA2_256: u8 = 5;
pub const SADB_X_AALG_SHA2_384: u8 = 6;
pub const SADB_X_AALG_SHA2_512: u8 = 7;
pub const SADB_X_AALG_RIPEMD160HMAC: u8 = 8;
pub const SADB_X_AALG_AES_XCBC_MAC: u8 = 9;
pub const SADB_X_AALG_AES128GMAC: u8 = 11;
pub const SADB_X_AALG_AES192GMAC: u8 = 12;
pub const SADB_X_AALG_AES256GMAC: u8 = 13;
pub const SADB_X_AALG_CHACHA20POLY1305: u8 = 14;
pub const SADB_X_AALG_NULL: u8 = 251;
pub const SADB_X_AALG_TCP_MD5: u8 = 252;

// Encryption algorithms, pfkeyv2.h.
pub const SADB_EALG_DESCBC: u8 = 2;
pub const SADB_EALG_3DESCBC: u8 = 3;
pub const SADB_X_EALG_CAST128CBC: u8 = 6;
pub const SADB_X_EALG_BLOWFISHCBC: u8 = 7;
pub const SADB_EALG_NULL: u8 = 11;
/// Also `SADB_X_EALG_AES` and `SADB_X_EALG_RIJNDAELCBC`.
pub const SADB_X_EALG_AESCBC: u8 = 12;
pub const SADB_X_EALG_AESCTR: u8 = 13;
pub const SADB_X_EALG_CHACHA20POLY1305: u8 = 15;
pub const SADB_X_EALG_AESGCM8: u8 = 18;
pub const SADB_X_EALG_AESGCM12: u8 = 19;
/// The only GCM ICV length FreeBSD accepts.
pub const SADB_X_EALG_AESGCM16: u8 = 20;
pub const SADB_X_EALG_CAMELLIACBC: u8 = 22;
pub const SADB_X_EALG_AESGMAC: u8 = 23;

// SA flags, pfkeyv2.h (must fit in 0x0fff on FreeBSD).
pub const SADB_X_SAFLAGS_ESN: u32 = 0x400;

// Policy scope (the 5th byte of sadb_x_policy), ipsec.h `IPSEC_POLICYSCOPE_*`.
pub const IPSEC_POLICYSCOPE_ANY: u8 = 0;
pub const IPSEC_POLICYSCOPE_GLOBAL: u8 = 1;
pub const IPSEC_POLICYSCOPE_IFNET: u8 = 2;
pub const IPSEC_POLICYSCOPE_PCB: u8 = 4;

/// ipsec.h `IPSEC_MODE_TCPMD5`.
pub const IPSEC_MODE_TCPMD5: u8 = 3;

/// `PF_KEY` (= `pseudo_AF_KEY`) in `sys/sys/socket.h`; the libc crate does
/// not declare it for FreeBSD.
pub const PF_KEY: i32 = 27;

/// `AF_INET6` in `sys/sys/socket.h`.
pub const AF_INET6: u16 = 28;

/// `sizeof(struct sadb_x_ipsecrequest)`: u16 reqid, no trailing words.
pub const IPSECREQUEST_LEN: usize = 8;
