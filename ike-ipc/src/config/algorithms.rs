//! IKEv2 transforms by the names OpenIKED's iked.conf(5) uses, with their
//! IANA numbers ("IKEv2 Parameters" registry, Transform Types 1-5; RFC 7296
//! 3.3.2, RFC 5282, RFC 7634, RFC 8031). Which of these the daemon actually
//! negotiates is decided by the parser (`ike_parent::config::support`);
//! this module only names them.

use serde::{Deserialize, Serialize};

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($var:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $($var),+ }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            /// The iked.conf(5) spelling.
            pub fn name(self) -> &'static str {
                match self { $($name::$var => $text),+ }
            }

            /// Parse the iked.conf(5) spelling (exact, lower case).
            pub fn from_name(text: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.name() == text)
            }
        }
    };
}

named_enum! {
    /// Transform Type 1: encryption (and AEAD) algorithms.
    Encryption {
        TripleDes = "3des",
        Cast = "cast",
        Blowfish = "blowfish",
        Null = "null",
        Aes128Cbc = "aes-128",
        Aes192Cbc = "aes-192",
        Aes256Cbc = "aes-256",
        Aes128Ctr = "aes-128-ctr",
        Aes192Ctr = "aes-192-ctr",
        Aes256Ctr = "aes-256-ctr",
        Aes128Gcm16 = "aes-128-gcm",
        Aes192Gcm16 = "aes-192-gcm",
        Aes256Gcm16 = "aes-256-gcm",
        Aes128Gcm12 = "aes-128-gcm-12",
        Aes192Gcm12 = "aes-192-gcm-12",
        Aes256Gcm12 = "aes-256-gcm-12",
        Aes128Gmac = "aes-128-gmac",
        Aes192Gmac = "aes-192-gmac",
        Aes256Gmac = "aes-256-gmac",
        ChaCha20Poly1305 = "chacha20-poly1305",
    }
}

impl Encryption {
    /// The variant with this IANA Transform ID and key length (AES comes
    /// in three lengths under one ID), if the file can name it.
    pub fn from_transform(id: u16, key_bits: Option<u16>) -> Option<Encryption> {
        Self::ALL
            .iter()
            .copied()
            .find(|e| e.transform_id() == id && e.key_bits() == key_bits)
    }

    /// IANA Transform ID (Transform Type 1).
    pub fn transform_id(self) -> u16 {
        use Encryption::*;
        match self {
            TripleDes => 3,
            Cast => 6,
            Blowfish => 7,
            Null => 11,
            Aes128Cbc | Aes192Cbc | Aes256Cbc => 12,
            Aes128Ctr | Aes192Ctr | Aes256Ctr => 13,
            Aes128Gcm12 | Aes192Gcm12 | Aes256Gcm12 => 19,
            Aes128Gcm16 | Aes192Gcm16 | Aes256Gcm16 => 20,
            Aes128Gmac | Aes192Gmac | Aes256Gmac => 21,
            ChaCha20Poly1305 => 28,
        }
    }

    /// The Key Length attribute (RFC 7296 3.3.5), for ciphers that need one.
    pub fn key_bits(self) -> Option<u16> {
        use Encryption::*;
        match self {
            Aes128Cbc | Aes128Ctr | Aes128Gcm16 | Aes128Gcm12 | Aes128Gmac => Some(128),
            Aes192Cbc | Aes192Ctr | Aes192Gcm16 | Aes192Gcm12 | Aes192Gmac => Some(192),
            Aes256Cbc | Aes256Ctr | Aes256Gcm16 | Aes256Gcm12 | Aes256Gmac => Some(256),
            Blowfish | Cast => Some(128),
            TripleDes | Null | ChaCha20Poly1305 => None,
        }
    }

    /// AEAD ciphers carry their own integrity: a proposal with one must not
    /// also list an integrity transform (RFC 5282 8, RFC 7296 3.3).
    pub fn is_aead(self) -> bool {
        use Encryption::*;
        matches!(
            self,
            Aes128Gcm16
                | Aes192Gcm16
                | Aes256Gcm16
                | Aes128Gcm12
                | Aes192Gcm12
                | Aes256Gcm12
                | Aes128Gmac
                | Aes192Gmac
                | Aes256Gmac
                | ChaCha20Poly1305
        )
    }
}

named_enum! {
    /// Transform Type 2: pseudorandom functions.
    Prf {
        HmacMd5 = "hmac-md5",
        HmacSha1 = "hmac-sha1",
        HmacSha2_256 = "hmac-sha2-256",
        HmacSha2_384 = "hmac-sha2-384",
        HmacSha2_512 = "hmac-sha2-512",
    }
}

impl Prf {
    /// The variant with this IANA Transform ID, if the file can name it.
    pub fn from_transform_id(id: u16) -> Option<Prf> {
        Self::ALL.iter().copied().find(|v| v.transform_id() == id)
    }

    /// IANA Transform ID (Transform Type 2).
    pub fn transform_id(self) -> u16 {
        match self {
            Prf::HmacMd5 => 1,
            Prf::HmacSha1 => 2,
            Prf::HmacSha2_256 => 5,
            Prf::HmacSha2_384 => 6,
            Prf::HmacSha2_512 => 7,
        }
    }
}

named_enum! {
    /// Transform Type 3: integrity algorithms (named by their hash, as iked does;
    /// the truncation is the one RFC 4868 fixes for IPsec).
    Integrity {
        HmacMd5 = "hmac-md5",
        HmacSha1 = "hmac-sha1",
        HmacSha2_256 = "hmac-sha2-256",
        HmacSha2_384 = "hmac-sha2-384",
        HmacSha2_512 = "hmac-sha2-512",
    }
}

impl Integrity {
    /// The variant with this IANA Transform ID, if the file can name it.
    pub fn from_transform_id(id: u16) -> Option<Integrity> {
        Self::ALL.iter().copied().find(|v| v.transform_id() == id)
    }

    /// IANA Transform ID (Transform Type 3).
    pub fn transform_id(self) -> u16 {
        match self {
            Integrity::HmacMd5 => 1,       // AUTH_HMAC_MD5_96
            Integrity::HmacSha1 => 2,      // AUTH_HMAC_SHA1_96
            Integrity::HmacSha2_256 => 12, // AUTH_HMAC_SHA2_256_128
            Integrity::HmacSha2_384 => 13, // AUTH_HMAC_SHA2_384_192
            Integrity::HmacSha2_512 => 14, // AUTH_HMAC_SHA2_512_256
        }
    }
}

named_enum! {
    /// Transform Type 4: key exchange (Diffie-Hellman) groups.
    DhGroup {
        Modp768 = "modp768",
        Modp1024 = "modp1024",
        Modp1536 = "modp1536",
        Modp2048 = "modp2048",
        Modp3072 = "modp3072",
        Modp4096 = "modp4096",
        Modp6144 = "modp6144",
        Modp8192 = "modp8192",
        Ecp256 = "ecp256",
        Ecp384 = "ecp384",
        Ecp521 = "ecp521",
        Ecp192 = "ecp192",
        Ecp224 = "ecp224",
        Brainpool224 = "brainpool224",
        Brainpool256 = "brainpool256",
        Brainpool384 = "brainpool384",
        Brainpool512 = "brainpool512",
        Curve25519 = "curve25519",
    }
}

impl DhGroup {
    /// The variant with this IANA Transform ID, if the file can name it.
    pub fn from_transform_id(id: u16) -> Option<DhGroup> {
        Self::ALL.iter().copied().find(|v| v.transform_id() == id)
    }

    /// IANA Transform ID (Transform Type 4).
    pub fn transform_id(self) -> u16 {
        use DhGroup::*;
        match self {
            Modp768 => 1,
            Modp1024 => 2,
            Modp1536 => 5,
            Modp2048 => 14,
            Modp3072 => 15,
            Modp4096 => 16,
            Modp6144 => 17,
            Modp8192 => 18,
            Ecp256 => 19,
            Ecp384 => 20,
            Ecp521 => 21,
            Ecp192 => 25,
            Ecp224 => 26,
            Brainpool224 => 27,
            Brainpool256 => 28,
            Brainpool384 => 29,
            Brainpool512 => 30,
            Curve25519 => 31,
        }
    }

    /// iked also accepts `grpN` for group number N.
    pub fn from_name_or_number(text: &str) -> Option<DhGroup> {
        if let Some(number) = text.strip_prefix("grp") {
            let n: u16 = number.parse().ok()?;
            return Self::ALL.iter().copied().find(|g| g.transform_id() == n);
        }
        Self::from_name(text)
    }
}

/// Transform Type 5: extended sequence numbers (RFC 7296 3.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Esn {
    None,
    Extended,
}

impl Esn {
    pub fn transform_id(self) -> u16 {
        match self {
            Esn::None => 0,
            Esn::Extended => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for e in Encryption::ALL {
            assert_eq!(Encryption::from_name(e.name()), Some(*e));
        }
        for g in DhGroup::ALL {
            assert_eq!(DhGroup::from_name(g.name()), Some(*g));
            let alias = format!("grp{}", g.transform_id());
            assert_eq!(DhGroup::from_name_or_number(&alias), Some(*g));
        }
        assert_eq!(Encryption::from_name("aes-256-gcm-16"), None);
    }

    #[test]
    fn iana_numbers() {
        // IANA "IKEv2 Parameters", Transform Type 1/2/3/4.
        assert_eq!(Encryption::Aes256Gcm16.transform_id(), 20);
        assert_eq!(Encryption::Aes128Cbc.transform_id(), 12);
        assert_eq!(Encryption::ChaCha20Poly1305.transform_id(), 28);
        assert_eq!(Prf::HmacSha2_256.transform_id(), 5);
        assert_eq!(Integrity::HmacSha2_256.transform_id(), 12);
        assert_eq!(DhGroup::Curve25519.transform_id(), 31);
        assert_eq!(DhGroup::Modp2048.transform_id(), 14);
        assert!(Encryption::Aes128Gcm16.is_aead());
        assert!(!Encryption::Aes128Cbc.is_aead());
    }

    #[test]
    fn numbers_lead_back_to_the_one_name() {
        // The engine negotiates numbers; `ike-ctl show` and the broker
        // requests name them again through these, so every name must come
        // back from its own number (no two names share a number and length).
        for e in Encryption::ALL {
            assert_eq!(
                Encryption::from_transform(e.transform_id(), e.key_bits()),
                Some(*e)
            );
        }
        for p in Prf::ALL {
            assert_eq!(Prf::from_transform_id(p.transform_id()), Some(*p));
        }
        for i in Integrity::ALL {
            assert_eq!(Integrity::from_transform_id(i.transform_id()), Some(*i));
        }
        for g in DhGroup::ALL {
            assert_eq!(DhGroup::from_transform_id(g.transform_id()), Some(*g));
        }
        assert_eq!(Encryption::from_transform(12, Some(100)), None);
        assert_eq!(Integrity::from_transform_id(999), None);
    }
}
