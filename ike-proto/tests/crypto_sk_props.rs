//! Property tests of the SK payload protection (RFC 7296 3.14): for every
//! cipher suite, encrypt then decrypt is the identity; any single flipped
//! bit in the authenticated bytes (associated data, IV, ciphertext, ICV)
//! makes decryption fail; arbitrary bodies never panic.

use ike_proto::crypto::{
    EncrAlg, Error, Group, HashAlgorithm, IntegAlg, KeyExchange, SignatureScheme, SkCipher,
    VerifyingKey,
};
use proptest::prelude::*;

const SUITES: [(EncrAlg, IntegAlg); 7] = [
    (EncrAlg::AesGcm16_128, IntegAlg::None),
    (EncrAlg::AesGcm16_256, IntegAlg::None),
    (EncrAlg::ChaCha20Poly1305, IntegAlg::None),
    (EncrAlg::AesCbc128, IntegAlg::HmacSha256_128),
    (EncrAlg::AesCbc256, IntegAlg::HmacSha256_128),
    (EncrAlg::AesCbc256, IntegAlg::HmacSha384_192),
    (EncrAlg::AesCbc256, IntegAlg::HmacSha512_256),
];

fn cipher(suite: usize, seed: u8) -> SkCipher {
    let (e, i) = SUITES[suite];
    let ek: Vec<u8> = (0..e.key_len())
        .map(|n| seed.wrapping_add(n as u8))
        .collect();
    let ik: Vec<u8> = (0..i.key_len()).map(|n| seed ^ (n as u8)).collect();
    SkCipher::new(e, i, &ek, &ik).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn encrypt_decrypt_identity(
        suite in 0..SUITES.len(),
        seed in any::<u8>(),
        assoc in proptest::collection::vec(any::<u8>(), 28..64),
        plain in proptest::collection::vec(any::<u8>(), 0..600),
        iv_seed in any::<u64>(),
    ) {
        let c = cipher(suite, seed);
        let iv: Vec<u8> = iv_seed.to_be_bytes().iter().cycle().take(c.iv_len()).copied().collect();
        let body = c.encrypt(&assoc, &plain, &iv).unwrap();
        prop_assert_eq!(body.len(), c.sealed_len(plain.len()));
        prop_assert_eq!((body.len() - c.iv_len() - c.icv_len()) % c.block_size(), 0);
        prop_assert_eq!(&body[..c.iv_len()], iv.as_slice());
        prop_assert_eq!(c.decrypt(&assoc, &body).unwrap(), plain);
    }

    #[test]
    fn any_flipped_bit_fails(
        suite in 0..SUITES.len(),
        assoc in proptest::collection::vec(any::<u8>(), 28..40),
        plain in proptest::collection::vec(any::<u8>(), 0..100),
        pos in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let c = cipher(suite, 7);
        let iv = vec![0x42; c.iv_len()];
        let body = c.encrypt(&assoc, &plain, &iv).unwrap();
        // Pick one bit anywhere in associated data | body.
        let total = assoc.len() + body.len();
        let at = pos.index(total);
        let (mut a, mut b) = (assoc.clone(), body.clone());
        if at < a.len() { a[at] ^= 1 << bit } else { b[at - a.len()] ^= 1 << bit }
        prop_assert_eq!(c.decrypt(&a, &b), Err(Error::IntegrityCheckFailed));
    }

    #[test]
    fn arbitrary_bodies_never_panic(
        suite in 0..SUITES.len(),
        assoc in proptest::collection::vec(any::<u8>(), 0..40),
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let c = cipher(suite, 1);
        prop_assert!(c.decrypt(&assoc, &body).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Decoders of peer- or file-supplied bytes return errors, never panic.
    #[test]
    fn other_decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = VerifyingKey::from_spki_der(&data);
        let _ = VerifyingKey::from_pem(&data);
        let _ = SignatureScheme::decode_auth_data(&data);
        let _ = HashAlgorithm::decode_list(&data);
    }

    /// Random peer KE values of the right length for X25519 / P-256: either
    /// a shared secret of the right size or `InvalidPeerValue`.
    #[test]
    fn random_peer_values(data in proptest::collection::vec(any::<u8>(), 64)) {
        let rng = ring::rand::SystemRandom::new();
        for (g, n) in [(Group::Curve25519, 32), (Group::Ecp256, 64)] {
            let kx = KeyExchange::new(g, &rng).unwrap();
            match kx.compute_shared(&data[..n]) {
                Ok(s) => prop_assert_eq!(s.len(), g.shared_len()),
                Err(e) => prop_assert_eq!(e, Error::InvalidPeerValue),
            }
        }
    }
}

/// Truncation at every length is an error, never a panic.
#[test]
fn every_truncation_is_rejected() {
    for suite in 0..SUITES.len() {
        let c = cipher(suite, 3);
        let iv = vec![9; c.iv_len()];
        let body = c.encrypt(b"header", b"inner payloads", &iv).unwrap();
        for n in 0..body.len() {
            assert!(
                c.decrypt(b"header", &body[..n]).is_err(),
                "suite {suite} len {n}"
            );
        }
        assert!(c.decrypt(b"header", &body).is_ok());
    }
}

/// Keys of the wrong length, AEAD with an integrity algorithm, CBC without
/// one and IVs of the wrong length are refused.
#[test]
fn misuse_is_refused() {
    assert!(SkCipher::new(EncrAlg::AesGcm16_256, IntegAlg::None, &[0; 32], &[]).is_err());
    assert!(SkCipher::new(
        EncrAlg::AesGcm16_256,
        IntegAlg::HmacSha256_128,
        &[0; 36],
        &[0; 32]
    )
    .is_err());
    assert!(SkCipher::new(EncrAlg::AesCbc128, IntegAlg::None, &[0; 16], &[]).is_err());
    assert!(SkCipher::new(
        EncrAlg::AesCbc128,
        IntegAlg::HmacSha256_128,
        &[0; 16],
        &[0; 31]
    )
    .is_err());
    let c = cipher(0, 0);
    assert_eq!(c.encrypt(b"", b"x", &[0; 7]), Err(Error::InvalidLength));
    let c = cipher(3, 0);
    assert_eq!(c.encrypt(b"", b"x", &[0; 8]), Err(Error::InvalidLength));
}

/// A Pad Length octet larger than the decrypted data is refused even when
/// the tag is valid (a peer holding the keys could send it). The body is
/// sealed with ring directly, as such a peer would, since our encrypt never
/// produces it.
#[test]
fn oversized_pad_length_is_refused() {
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
    let key = [0x11u8; 32];
    let salt = [1, 2, 3, 4];
    let iv = [9u8; 8];
    let c = SkCipher::new(
        EncrAlg::ChaCha20Poly1305,
        IntegAlg::None,
        &[&key[..], &salt].concat(),
        &[],
    )
    .unwrap();
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(&salt);
    nonce[4..].copy_from_slice(&iv);
    let ring_key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &key).unwrap());
    for (plain, expect) in [
        (&b"ab\xff"[..], Err(Error::BadPadding)),
        (&b"ab\x03"[..], Err(Error::BadPadding)),
        (&b"ab\x02"[..], Ok(Vec::new())),
        (&b"ab\x01"[..], Ok(b"a".to_vec())),
        (&b"ab\x00"[..], Ok(b"ab".to_vec())),
    ] {
        let mut buf = plain.to_vec();
        let tag = ring_key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(b"hdr"),
                &mut buf,
            )
            .unwrap();
        let body = [&iv[..], &buf, tag.as_ref()].concat();
        assert_eq!(c.decrypt(b"hdr", &body), expect, "{plain:?}");
    }
}
