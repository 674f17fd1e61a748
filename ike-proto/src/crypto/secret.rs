//! Secret bytes: zeroized on drop, never printed.

use core::fmt;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Key material (SKEYSEED, SK_*, g^ir, KEYMAT, PSK-derived values).
///
/// The bytes are wiped when the value is dropped; `Debug` shows only the
/// length, so a stray `{:?}` in a log line cannot leak a key.
#[derive(Clone, Default, Zeroize, ZeroizeOnDrop)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Takes ownership of `bytes`; the caller's vector is moved, not copied.
    pub fn new(bytes: Vec<u8>) -> Secret {
        Secret(bytes)
    }

    /// Copies `bytes` into a new secret.
    pub fn from_slice(bytes: &[u8]) -> Secret {
        Secret(bytes.to_vec())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Constant-time equality, so comparing an AUTH value or a key does not
    /// leak through timing how many leading bytes matched.
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        self.0.as_slice().ct_eq(other).into()
    }

    pub(crate) fn as_mut_bytes(&mut self) -> &mut [u8] {
        &mut self.0
    }

    /// Shortens to `len` bytes, wiping the removed tail first.
    pub(crate) fn truncate(&mut self, len: usize) {
        if len < self.0.len() {
            self.0[len..].zeroize();
            self.0.truncate(len);
        }
    }

    /// Splits off the first `n` bytes into a new secret (used to cut
    /// `prf+` output into keys). Returns `None` if there are fewer than `n`.
    pub(crate) fn take_front(&mut self, n: usize) -> Option<Secret> {
        if n > self.0.len() {
            return None;
        }
        let front = self.0[..n].to_vec();
        // Shift the remainder down in place so no second copy of it is left
        // behind in freed memory; the tail is wiped before truncating.
        self.0.copy_within(n.., 0);
        let keep = self.0.len() - n;
        self.0[keep..].zeroize();
        self.0.truncate(keep);
        Some(Secret(front))
    }
}

impl AsRef<[u8]> for Secret {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for Secret {
    fn from(v: Vec<u8>) -> Secret {
        Secret(v)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret([redacted; {} bytes])", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        let shown = format!("{s:?}");
        assert_eq!(shown, "Secret([redacted; 4 bytes])");
        assert!(!shown.to_lowercase().contains("de"));
    }

    #[test]
    fn take_front_splits() {
        let mut s = Secret::from_slice(&[1, 2, 3, 4, 5]);
        let a = s.take_front(2).unwrap();
        assert_eq!(a.as_bytes(), &[1, 2]);
        assert_eq!(s.as_bytes(), &[3, 4, 5]);
        assert!(s.take_front(4).is_none());
        assert_eq!(s.take_front(3).unwrap().as_bytes(), &[3, 4, 5]);
        assert!(s.is_empty());
    }

    #[test]
    fn ct_eq_compares_content_and_length() {
        let s = Secret::from_slice(b"abc");
        assert!(s.ct_eq(b"abc"));
        assert!(!s.ct_eq(b"abd"));
        assert!(!s.ct_eq(b"ab"));
    }
}
