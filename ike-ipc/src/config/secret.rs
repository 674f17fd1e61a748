//! Secrets in the configuration: pre-shared keys and private keys.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Re-exported so the parser can keep its intermediate copies zeroized
/// without a dependency of its own.
pub use zeroize::Zeroizing;

/// Secret bytes: wiped from memory on drop, never shown by `Debug`.
///
/// Serialization writes the bytes (they must reach ike-net); the IPC buffer
/// that carries them is the framing layer's to wipe.
#[derive(Clone, Default, Zeroize, ZeroizeOnDrop)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(bytes)
    }

    /// The empty secret that stands in for a removed one (`broker_view`).
    pub fn redacted() -> Self {
        Secret(Vec::new())
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<redacted, {} bytes>)", self.0.len())
    }
}

/// Constant-time in the contents (lengths are not secret): comparing
/// configurations on reload must not become a timing oracle for a PSK.
impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        if self.0.len() != other.0.len() {
            return false;
        }
        let diff = self
            .0
            .iter()
            .zip(&other.0)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        diff == 0
    }
}

impl Eq for Secret {}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("secret bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Secret, E> {
                Ok(Secret(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Secret, E> {
                Ok(Secret(v))
            }
        }
        d.deserialize_bytes(V)
    }
}

/// The effective uid of this process: files holding secrets must belong to
/// root or to it (the parser's permission checks).
#[cfg(feature = "os")]
pub fn effective_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// How the DER bytes of a key file are to be read (from its PEM label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyFormat {
    /// `PRIVATE KEY`: PKCS#8 (RFC 5208), RSA or EC.
    Pkcs8,
    /// `EC PRIVATE KEY`: SEC 1 (RFC 5915).
    Sec1,
    /// `RSA PRIVATE KEY`: PKCS#1 (RFC 8017 A.1.2).
    Pkcs1,
    /// `PUBLIC KEY`: SubjectPublicKeyInfo (RFC 5280 4.1).
    Spki,
    /// `RSA PUBLIC KEY`: PKCS#1 (RFC 8017 A.1.1).
    Pkcs1Public,
}

/// A key file's contents, PEM armour removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyMaterial {
    pub format: KeyFormat,
    /// Secret for private keys; public keys use the same type for simplicity.
    pub der: Secret,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_is_by_content() {
        assert_eq!(Secret::new(b"abc".to_vec()), Secret::new(b"abc".to_vec()));
        assert_ne!(Secret::new(b"abc".to_vec()), Secret::new(b"abd".to_vec()));
        assert_ne!(Secret::new(b"abc".to_vec()), Secret::new(b"ab".to_vec()));
    }

    #[test]
    fn debug_shows_length_only() {
        let s = Secret::new(b"hunter2".to_vec());
        assert_eq!(format!("{s:?}"), "Secret(<redacted, 7 bytes>)");
    }
}
