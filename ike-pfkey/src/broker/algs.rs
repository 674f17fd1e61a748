//! Configuration algorithm names <-> each kernel's numbers (DIALECTS.md 2.9),
//! and what the REGISTER replies say the kernel supports.

use crate::dialect::{kame_freebsd as fb, linux as lx, openbsd as ob, Dialect};
use crate::wire::Alg;
use ike_ipc::config::{Encryption, Integrity};
use ike_ipc::msg::pfkey::Supported;

/// `sadb_sa_encrypt` for `e`, or why this kernel cannot do it.
pub fn encryption_number(d: Dialect, e: Encryption) -> Result<u8, String> {
    use Encryption::*;
    let n = match (e, d) {
        (TripleDes, _) => fb::SADB_EALG_3DESCBC,
        (Cast, _) => fb::SADB_X_EALG_CAST128CBC,
        (Blowfish, _) => fb::SADB_X_EALG_BLOWFISHCBC,
        (Null, _) => fb::SADB_EALG_NULL,
        (Aes128Cbc | Aes192Cbc | Aes256Cbc, _) => fb::SADB_X_EALG_AESCBC,
        (Aes128Ctr | Aes192Ctr | Aes256Ctr, _) => fb::SADB_X_EALG_AESCTR,
        (Aes128Gcm16 | Aes192Gcm16 | Aes256Gcm16, _) => fb::SADB_X_EALG_AESGCM16,
        // FreeBSD accepts only the 16-byte ICV (DIALECTS.md 2.9).
        (Aes128Gcm12 | Aes192Gcm12 | Aes256Gcm12, Dialect::FreeBsd) => {
            return Err("FreeBSD accepts only AES-GCM with a 16-byte ICV".into())
        }
        (Aes128Gcm12 | Aes192Gcm12 | Aes256Gcm12, _) => lx::SADB_X_EALG_AES_GCM_ICV12,
        (Aes128Gmac | Aes192Gmac | Aes256Gmac, Dialect::OpenBsd) => ob::SADB_X_EALG_AESGMAC,
        (Aes128Gmac | Aes192Gmac | Aes256Gmac, _) => fb::SADB_X_EALG_AESGMAC,
        (ChaCha20Poly1305, Dialect::FreeBsd) => fb::SADB_X_EALG_CHACHA20POLY1305,
        (ChaCha20Poly1305, Dialect::OpenBsd) => ob::SADB_X_EALG_CHACHA20POLY1305,
        // Never given a number in af_key (DIALECTS.md 5.4).
        (ChaCha20Poly1305, Dialect::Linux) => {
            return Err("Linux af_key has no ChaCha20-Poly1305".into())
        }
    };
    Ok(n)
}

/// `sadb_sa_auth` for `i`, or why this kernel cannot do it right.
pub fn integrity_number(d: Dialect, i: Integrity) -> Result<u8, String> {
    Ok(match i {
        Integrity::HmacMd5 => fb::SADB_AALG_MD5HMAC,
        Integrity::HmacSha1 => fb::SADB_AALG_SHA1HMAC,
        // af_key truncates HMAC-SHA2-256 to 96 bits, RFC 4868 peers use 128:
        // installing it would fail every packet (DIALECTS.md 5.4).
        Integrity::HmacSha2_256 if d == Dialect::Linux => {
            return Err(
                "HMAC-SHA2-256 through Linux af_key uses a 96-bit ICV, not RFC 4868's 128".into(),
            )
        }
        Integrity::HmacSha2_256 => fb::SADB_X_AALG_SHA2_256,
        Integrity::HmacSha2_384 => fb::SADB_X_AALG_SHA2_384,
        Integrity::HmacSha2_512 => fb::SADB_X_AALG_SHA2_512,
    })
}

/// Bits the kernel sees for the encryption key: counter and AEAD modes carry a
/// 4-byte salt or nonce after the key (DIALECTS.md 2.10).
pub fn encryption_key_bits(e: Encryption) -> u16 {
    use Encryption::*;
    match e {
        Null => 0,
        TripleDes => 192,
        ChaCha20Poly1305 => 256 + 32,
        Aes128Ctr | Aes192Ctr | Aes256Ctr | Aes128Gcm16 | Aes192Gcm16 | Aes256Gcm16
        | Aes128Gcm12 | Aes192Gcm12 | Aes256Gcm12 | Aes128Gmac | Aes192Gmac | Aes256Gmac => {
            e.key_bits().unwrap_or(0) + 32
        }
        _ => e.key_bits().unwrap_or(0),
    }
}

/// Bits of the integrity key (RFC 2104 HMAC keys of the hash's output size,
/// RFC 4868 2.1.1).
pub fn integrity_key_bits(i: Integrity) -> u16 {
    match i {
        Integrity::HmacMd5 => 128,
        Integrity::HmacSha1 => 160,
        Integrity::HmacSha2_256 => 256,
        Integrity::HmacSha2_384 => 384,
        Integrity::HmacSha2_512 => 512,
    }
}

fn offered(list: &[Alg], id: u8, bits: u16) -> bool {
    list.iter()
        .any(|a| a.id == id && (a.maxbits == 0 || (a.minbits..=a.maxbits).contains(&bits)))
}

/// The algorithms ike-net may negotiate: those the kernel listed in its
/// REGISTER reply, at a key size it accepts, minus those we refuse above.
/// OpenBSD leaves its AEADs out of the list although it accepts them
/// (DIALECTS.md 4.6), so there they are added.
pub fn supported(d: Dialect, auth: &[Alg], encrypt: &[Alg]) -> Supported {
    let encryption = Encryption::ALL
        .iter()
        .copied()
        .filter(|&e| match encryption_number(d, e) {
            Ok(n) => {
                offered(encrypt, n, encryption_key_bits(e))
                    || (d == Dialect::OpenBsd && e.is_aead())
            }
            Err(_) => false,
        })
        .collect();
    let integrity = Integrity::ALL
        .iter()
        .copied()
        .filter(|&i| integrity_number(d, i).is_ok_and(|n| offered(auth, n, integrity_key_bits(i))))
        .collect();
    Supported {
        encryption,
        integrity,
        // SADB_X_SAFLAGS_ESN exists in the BSD dialects only; af_key has no
        // ESN (DIALECTS.md 5.4).
        esn: d != Dialect::Linux,
        fwd_policies: d == Dialect::Linux,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::SimConfig;

    #[test]
    fn linux_register_list_maps_to_config_names() {
        let c = SimConfig::default(); // the captured Linux reply
        let s = supported(Dialect::Linux, &c.auth, &c.encrypt);
        use Encryption::*;
        assert_eq!(
            s.encryption,
            [
                TripleDes, Cast, Blowfish, Null, Aes128Cbc, Aes192Cbc, Aes256Cbc, Aes128Ctr,
                Aes192Ctr, Aes256Ctr
            ]
        );
        // SHA2-256 is listed by the kernel but refused: 96-bit ICV.
        assert_eq!(
            s.integrity,
            [
                Integrity::HmacMd5,
                Integrity::HmacSha1,
                Integrity::HmacSha2_384,
                Integrity::HmacSha2_512
            ]
        );
        // af_key has no ESN flag; the BSD dialects have SADB_X_SAFLAGS_ESN.
        assert!(!s.esn);
        assert!(supported(Dialect::FreeBsd, &c.auth, &c.encrypt).esn);
        assert!(supported(Dialect::OpenBsd, &c.auth, &c.encrypt).esn);
    }

    #[test]
    fn numbers_differ_where_the_platforms_do() {
        assert_eq!(
            encryption_number(Dialect::OpenBsd, Encryption::ChaCha20Poly1305),
            Ok(22)
        );
        assert_eq!(
            encryption_number(Dialect::FreeBsd, Encryption::ChaCha20Poly1305),
            Ok(15)
        );
        assert!(encryption_number(Dialect::Linux, Encryption::ChaCha20Poly1305).is_err());
        assert_eq!(
            encryption_number(Dialect::OpenBsd, Encryption::Aes128Gmac),
            Ok(21)
        );
        assert_eq!(
            encryption_number(Dialect::Linux, Encryption::Aes128Gmac),
            Ok(23)
        );
        assert!(encryption_number(Dialect::FreeBsd, Encryption::Aes128Gcm12).is_err());
        assert_eq!(
            integrity_number(Dialect::FreeBsd, Integrity::HmacSha2_256),
            Ok(5)
        );
        assert!(integrity_number(Dialect::Linux, Integrity::HmacSha2_256).is_err());
        assert_eq!(encryption_key_bits(Encryption::Aes256Gcm16), 288);
    }
}
