//! Our long-term secrets behind a narrow interface (issue 16).
//!
//! The engine never holds a PSK or a private key: it asks a [`Credentials`]
//! for the three things it needs them for, naming the key by the policy it
//! belongs to. In the daemon the answer comes from the credential process
//! (`ike-cred`) over a socketpair; in tests, fuzzing and `ike-load` from a
//! [`KeyStore`] in the same process. The credential process itself answers
//! with a [`KeyStore`] too: the checks below are the ones it makes, not a
//! stand-in for them.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::crypto::{psk_auth, verify_psk_auth, PrfAlg, Secret, SignatureScheme, SigningKey};

/// How to sign our AUTH octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignHow {
    /// RFC 7427 (auth method 14) with this scheme; the answer is the bare
    /// signature (the engine adds the AlgorithmIdentifier).
    Rfc7427(SignatureScheme),
    /// RFC 4754 (auth method 9 or 10 by the key's curve): r | s.
    Rfc4754,
}

/// Computes and checks AUTH values with secrets the caller never sees.
/// Every call names the policy whose key is meant; an unknown policy, a
/// policy of the other kind or a malformed octet string is an error (the
/// negotiation then fails), never a panic.
pub trait Credentials: Send + Sync + fmt::Debug {
    /// Our PSK AUTH value: prf(prf(PSK, "Key Pad for IKEv2"), octets).
    fn psk_auth(&self, policy: &str, prf: PrfAlg, octets: &[u8]) -> Result<Vec<u8>, String>;
    /// Whether the peer's PSK AUTH value over `octets` is right (compared
    /// in constant time where the PSK is).
    fn psk_verify(
        &self,
        policy: &str,
        prf: PrfAlg,
        octets: &[u8],
        value: &[u8],
    ) -> Result<bool, String>;
    /// Our signature over `octets` with the policy's private key (`prf`,
    /// the IKE SA's, fixes the length of the octets' last part).
    fn sign(
        &self,
        policy: &str,
        how: SignHow,
        prf: PrfAlg,
        octets: &[u8],
    ) -> Result<Vec<u8>, String>;
}

/// Longest IKE_SA_INIT message we sign over: the largest UDP payload
/// (IKE_SA_INIT is never fragmented, RFC 7383 2.5).
pub const MAX_INIT_MESSAGE: usize = 65_535;
/// RFC 7296 3.9: nonces are 16 to 256 octets.
const NONCE_MIN: usize = 16;
const NONCE_MAX: usize = 256;
/// IKE header length (RFC 7296 3.1).
const IKE_HEADER: usize = 28;
/// RFC 7296 3.1: exchange type of IKE_SA_INIT, flags I and R.
const IKE_SA_INIT: u8 = 34;
const FLAG_INITIATOR: u8 = 0x08;
const FLAG_RESPONSE: u8 = 0x20;

/// Checks that `octets` is what an AUTH payload signs (RFC 7296 2.15):
/// an IKE_SA_INIT message (our request as initiator, our response as
/// responder: message ID 0, version 2.0, its own length in its header),
/// then the peer's nonce, then prf(SK_p, ID'), whose length the PRF fixes.
/// So a compromised ike-net can make the credential process sign or MAC
/// only strings of that shape, never a TLS handshake or an arbitrary
/// document with the same key.
pub fn check_signed_octets(prf: PrfAlg, octets: &[u8]) -> Result<(), String> {
    let bad = |why: &str| Err(format!("not an IKE AUTH octet string: {why}"));
    if octets.len() > MAX_INIT_MESSAGE + NONCE_MAX + prf.output_len() {
        return bad("too long");
    }
    if octets.len() < IKE_HEADER {
        return bad("shorter than an IKE header");
    }
    let spi_i = &octets[0..8];
    let spi_r = &octets[8..16];
    let (version, exchange, flags) = (octets[17], octets[18], octets[19]);
    let message_id = &octets[20..24];
    let length = u32::from_be_bytes([octets[24], octets[25], octets[26], octets[27]]) as usize;
    if version != 0x20 {
        return bad("IKE version is not 2.0");
    }
    if exchange != IKE_SA_INIT {
        return bad("the message is not IKE_SA_INIT");
    }
    if message_id != [0u8; 4] {
        return bad("IKE_SA_INIT with a message ID other than 0");
    }
    if spi_i == [0u8; 8] {
        return bad("initiator SPI 0");
    }
    // The initiator signs its request, the responder its response.
    let request = flags & (FLAG_INITIATOR | FLAG_RESPONSE) == FLAG_INITIATOR;
    let response = flags & (FLAG_INITIATOR | FLAG_RESPONSE) == FLAG_RESPONSE;
    if !(request && spi_r == [0u8; 8] || response && spi_r != [0u8; 8]) {
        return bad("neither an initiator's request nor a responder's answer");
    }
    if !(IKE_HEADER..=MAX_INIT_MESSAGE).contains(&length) || length > octets.len() {
        return bad("the header's length does not fit");
    }
    let nonce = (octets.len() - length).checked_sub(prf.output_len());
    if !nonce.is_some_and(|n| (NONCE_MIN..=NONCE_MAX).contains(&n)) {
        return bad("no nonce and prf(SK_p, ID') after the message");
    }
    Ok(())
}

/// The secrets of one configuration, by policy name: the credential
/// process's store, and the in-process [`Credentials`] of tests and tools.
/// PSKs are `Secret`s (wiped on drop); private keys are ring key pairs.
pub struct KeyStore {
    psks: HashMap<String, Secret>,
    keys: HashMap<String, Arc<SigningKey>>,
    rng: ring::rand::SystemRandom,
}

impl fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "KeyStore({} PSKs, {} key references, [redacted])",
            self.psks.len(),
            self.keys.len()
        )
    }
}

impl Default for KeyStore {
    fn default() -> Self {
        KeyStore {
            psks: HashMap::new(),
            keys: HashMap::new(),
            rng: ring::rand::SystemRandom::new(),
        }
    }
}

impl KeyStore {
    /// An empty store: every request is refused.
    pub fn new() -> KeyStore {
        KeyStore::default()
    }

    /// `policy` authenticates both ways with `psk`.
    pub fn add_psk(&mut self, policy: &str, psk: &[u8]) {
        self.psks
            .insert(policy.to_string(), Secret::from_slice(psk));
    }

    /// `policy` signs with `key`.
    pub fn add_key(&mut self, policy: &str, key: Arc<SigningKey>) {
        self.keys.insert(policy.to_string(), key);
    }

    /// Builder form of [`KeyStore::add_psk`].
    pub fn with_psk(mut self, policy: &str, psk: &[u8]) -> KeyStore {
        self.add_psk(policy, psk);
        self
    }

    /// Builder form of [`KeyStore::add_key`].
    pub fn with_key(mut self, policy: &str, key: Arc<SigningKey>) -> KeyStore {
        self.add_key(policy, key);
        self
    }

    /// How many policies have a secret here.
    pub fn len(&self) -> usize {
        self.psks.len() + self.keys.len()
    }

    /// No secret at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn psk(&self, policy: &str) -> Result<&Secret, String> {
        self.psks
            .get(policy)
            .ok_or_else(|| format!("no pre-shared key for policy {policy:?}"))
    }
}

impl Credentials for KeyStore {
    fn psk_auth(&self, policy: &str, prf: PrfAlg, octets: &[u8]) -> Result<Vec<u8>, String> {
        let psk = self.psk(policy)?;
        check_signed_octets(prf, octets)?;
        Ok(psk_auth(prf, psk.as_bytes(), octets))
    }

    fn psk_verify(
        &self,
        policy: &str,
        prf: PrfAlg,
        octets: &[u8],
        value: &[u8],
    ) -> Result<bool, String> {
        let psk = self.psk(policy)?;
        check_signed_octets(prf, octets)?;
        // verify_psk_auth compares in constant time (Secret::ct_eq).
        Ok(verify_psk_auth(prf, psk.as_bytes(), octets, value).is_ok())
    }

    fn sign(
        &self,
        policy: &str,
        how: SignHow,
        prf: PrfAlg,
        octets: &[u8],
    ) -> Result<Vec<u8>, String> {
        let key = self
            .keys
            .get(policy)
            .ok_or_else(|| format!("no private key for policy {policy:?}"))?;
        check_signed_octets(prf, octets)?;
        match how {
            SignHow::Rfc7427(scheme) => key
                .sign_with(scheme, &self.rng, octets)
                .map_err(|e| format!("signing failed: {e}")),
            SignHow::Rfc4754 => key
                .sign_rfc4754(&self.rng, octets)
                .map(|(_, sig)| sig)
                .map_err(|e| format!("RFC 4754 needs an ECDSA P-256/P-384 key: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IKE_SA_INIT header of `len` bytes total, padded, then a nonce and
    /// a PRF output.
    fn octets(flags: u8, spi_r: u8, exchange: u8, nonce: usize, prf: PrfAlg) -> Vec<u8> {
        let len = 60usize;
        let mut m = vec![0u8; len];
        m[0..8].copy_from_slice(&[1; 8]);
        m[8..16].copy_from_slice(&[spi_r; 8]);
        m[17] = 0x20;
        m[18] = exchange;
        m[19] = flags;
        m[24..28].copy_from_slice(&(len as u32).to_be_bytes());
        m.extend(vec![7u8; nonce]);
        m.extend(vec![9u8; prf.output_len()]);
        m
    }

    #[test]
    fn only_ike_auth_octet_strings_are_signed_or_maced() {
        let prf = PrfAlg::HmacSha256;
        let request = octets(FLAG_INITIATOR, 0, IKE_SA_INIT, 32, prf);
        let response = octets(FLAG_RESPONSE, 2, IKE_SA_INIT, 32, prf);
        assert_eq!(check_signed_octets(prf, &request), Ok(()));
        assert_eq!(check_signed_octets(prf, &response), Ok(()));
        for bad in [
            octets(FLAG_INITIATOR, 0, 35, 32, prf),           // IKE_AUTH
            octets(FLAG_INITIATOR, 2, IKE_SA_INIT, 32, prf),  // request with SPIr
            octets(FLAG_RESPONSE, 0, IKE_SA_INIT, 32, prf),   // response without
            octets(FLAG_INITIATOR, 0, IKE_SA_INIT, 8, prf),   // nonce too short
            octets(FLAG_INITIATOR, 0, IKE_SA_INIT, 300, prf), // nonce too long
            b"GET / HTTP/1.1\r\n\r\n and then some more bytes to sign".to_vec(),
            vec![0u8; MAX_INIT_MESSAGE + 400],
        ] {
            assert!(check_signed_octets(prf, &bad).is_err(), "{bad:?}");
        }
        let mut id = request.clone();
        id[23] = 1; // message ID 1
        assert!(check_signed_octets(prf, &id).is_err());
    }

    #[test]
    fn the_store_answers_only_for_its_policies_and_kinds() {
        let prf = PrfAlg::HmacSha256;
        let m = octets(FLAG_INITIATOR, 0, IKE_SA_INIT, 32, prf);
        let store = KeyStore::new().with_psk("a", b"the key");
        let mac = store.psk_auth("a", prf, &m).unwrap();
        assert_eq!(mac, psk_auth(prf, b"the key", &m));
        assert_eq!(store.psk_verify("a", prf, &m, &mac), Ok(true));
        let mut wrong = mac.clone();
        wrong[0] ^= 1;
        assert_eq!(store.psk_verify("a", prf, &m, &wrong), Ok(false));
        assert!(store.psk_auth("b", prf, &m).is_err());
        assert!(store.sign("a", SignHow::Rfc4754, prf, &m).is_err());
        assert!(store.psk_auth("a", prf, b"arbitrary").is_err());

        let rng = ring::rand::SystemRandom::new();
        let der = ring::signature::EcdsaKeyPair::generate_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &rng,
        )
        .unwrap();
        let key = Arc::new(SigningKey::from_pkcs8_der(der.as_ref(), &rng).unwrap());
        let public = key.verifying_key();
        let store = store.with_key("k", key);
        let sig = store.sign("k", SignHow::Rfc4754, prf, &m).unwrap();
        assert_eq!(public.verify_rfc4754(9, &m, &sig), Ok(()));
        let sig = store
            .sign("k", SignHow::Rfc7427(SignatureScheme::EcdsaSha256), prf, &m)
            .unwrap();
        assert_eq!(
            public.verify(SignatureScheme::EcdsaSha256, &m, &sig),
            Ok(())
        );
        assert!(store
            .sign("k", SignHow::Rfc4754, prf, b"a TLS transcript")
            .is_err());
        assert!(store.psk_auth("k", prf, &m).is_err());
        // The public half travels as SPKI (parent -> ike-net) and back.
        let spki = public.to_spki_der();
        assert_eq!(
            crate::crypto::VerifyingKey::from_spki_der(&spki),
            Ok(public)
        );
    }
}
