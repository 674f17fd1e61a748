//! RFC 7427 digital-signature authentication: keys from PEM, signatures
//! made by OpenSSL verified by us (an independent implementation), our own
//! signatures round-tripped, and the AUTH data framing.

mod data_util;

use data_util::data_file;
use ike_proto::crypto::{Error, HashAlgorithm, SignatureScheme, SigningKey, VerifyingKey};
use ring::rand::SystemRandom;

fn file(name: &str) -> Vec<u8> {
    data_file("kat/sig", name)
}

fn public(name: &str) -> VerifyingKey {
    VerifyingKey::from_pem(&file(&format!("{name}.pub.pem"))).unwrap()
}

fn private(name: &str) -> SigningKey {
    SigningKey::from_pem(&file(&format!("{name}.key.pem")), &SystemRandom::new()).unwrap()
}

/// Signatures made by OpenSSL (see data/kat/sig/README.md) verify.
#[test]
fn openssl_signatures_verify() {
    let msg = file("message.bin");
    let cases = [
        ("p256", SignatureScheme::EcdsaSha256, "p256-sha256.sig"),
        ("p256", SignatureScheme::EcdsaSha384, "p256-sha384.sig"),
        ("p384", SignatureScheme::EcdsaSha384, "p384-sha384.sig"),
        ("p384", SignatureScheme::EcdsaSha256, "p384-sha256.sig"),
        ("ed25519", SignatureScheme::Ed25519, "ed25519.sig"),
        (
            "rsa2048",
            SignatureScheme::RsaPssSha256,
            "rsa2048-pss-sha256.sig",
        ),
    ];
    for (key, scheme, sig) in cases {
        let pk = public(key);
        let sig = file(sig);
        assert_eq!(pk.verify(scheme, &msg, &sig), Ok(()), "{key} {scheme:?}");
        // One changed message byte, or one changed signature byte, fails.
        let mut m2 = msg.clone();
        m2[0] ^= 1;
        assert_eq!(
            pk.verify(scheme, &m2, &sig),
            Err(Error::AuthenticationFailed)
        );
        let mut s2 = sig.clone();
        let mid = s2.len() / 2;
        s2[mid] ^= 0x10;
        assert_eq!(
            pk.verify(scheme, &msg, &s2),
            Err(Error::AuthenticationFailed)
        );
    }
}

/// A scheme that does not fit the key type is refused, not tried.
#[test]
fn scheme_must_match_key_type() {
    let msg = file("message.bin");
    let ed_sig = file("ed25519.sig");
    assert!(public("p256")
        .verify(SignatureScheme::Ed25519, &msg, &ed_sig)
        .is_err());
    assert!(public("rsa2048")
        .verify(SignatureScheme::EcdsaSha256, &msg, &file("p256-sha256.sig"))
        .is_err());
    // The right signature under a different key of the same type fails.
    assert!(public("p384")
        .verify(SignatureScheme::EcdsaSha256, &msg, &file("p256-sha256.sig"))
        .is_err());
}

/// Our signatures verify with the public key read from the PEM file, and
/// with the key derived from the private key.
#[test]
fn sign_then_verify_each_key_type() {
    let rng = SystemRandom::new();
    let msg = b"InitiatorSignedOctets";
    for (name, scheme) in [
        ("p256", SignatureScheme::EcdsaSha256),
        ("p384", SignatureScheme::EcdsaSha384),
        ("ed25519", SignatureScheme::Ed25519),
        // RSA keys sign sha256WithRSAEncryption by default (what OpenIKED
        // and strongSwan expect); PSS is checked below with sign_with.
        ("rsa2048", SignatureScheme::RsaPkcs1Sha256),
    ] {
        let sk = private(name);
        assert_eq!(sk.scheme(), scheme);
        let sig = sk.sign(&rng, msg).unwrap();
        let pk = public(name);
        assert_eq!(pk, sk.verifying_key(), "{name}: PEM public key = derived");
        assert_eq!(pk.verify(scheme, msg, &sig), Ok(()));
        assert!(pk.verify(scheme, b"other octets", &sig).is_err());
        // The AUTH payload framing round-trips (RFC 7427 3).
        let data = scheme.encode_auth_data(&sig);
        let (s2, sig2) = SignatureScheme::decode_auth_data(&data).unwrap();
        assert_eq!((s2, sig2), (scheme, sig.as_slice()));
        assert_eq!(pk.verify(s2, msg, sig2), Ok(()));
    }
    // Every scheme an RSA key offers signs and verifies; a scheme of
    // another key type is refused.
    let sk = private("rsa2048");
    let pk = public("rsa2048");
    for &scheme in sk.schemes() {
        let sig = sk.sign_with(scheme, &rng, msg).unwrap();
        assert_eq!(pk.verify(scheme, msg, &sig), Ok(()), "{scheme:?}");
        // The same signature under another RSA scheme does not verify.
        let other = if scheme == SignatureScheme::RsaPkcs1Sha256 {
            SignatureScheme::RsaPkcs1Sha384
        } else {
            SignatureScheme::RsaPkcs1Sha256
        };
        assert!(pk.verify(other, msg, &sig).is_err());
    }
    assert_eq!(
        sk.sign_with(SignatureScheme::EcdsaSha256, &rng, msg),
        Err(Error::Unsupported)
    );
}

/// The four AlgorithmIdentifier encodings, byte for byte (RFC 7427 appendix
/// A lists the same; the bytes were also checked against certificates that
/// OpenSSL signed, see data/kat/sig/README.md).
#[test]
fn algorithm_identifier_bytes() {
    let hex = |s: SignatureScheme| {
        s.algorithm_identifier()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert_eq!(
        hex(SignatureScheme::EcdsaSha256),
        "300a06082a8648ce3d040302"
    );
    assert_eq!(
        hex(SignatureScheme::EcdsaSha384),
        "300a06082a8648ce3d040303"
    );
    assert_eq!(hex(SignatureScheme::Ed25519), "300506032b6570");
    assert_eq!(
        hex(SignatureScheme::RsaPssSha256),
        "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a\
         06092a864886f70d010108300d06096086480165030402010500a203020120"
    );
    // sha256WithRSAEncryption with NULL parameters (RFC 7427 appendix A.1).
    assert_eq!(
        hex(SignatureScheme::RsaPkcs1Sha256),
        "300d06092a864886f70d01010b0500"
    );
    assert_eq!(
        SignatureScheme::RsaPkcs1Sha512.hash(),
        HashAlgorithm::Sha512
    );
    assert_eq!(SignatureScheme::Ed25519.hash(), HashAlgorithm::Identity);
    assert_eq!(SignatureScheme::RsaPssSha256.hash(), HashAlgorithm::Sha256);
}

/// Unknown AlgorithmIdentifiers and truncated AUTH data are errors.
#[test]
fn auth_data_rejects_unknown_and_truncated() {
    // sha1WithRSAEncryption: not accepted.
    let mut data = vec![0x0f];
    data.extend_from_slice(&[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
    ]);
    data.extend_from_slice(&[1, 2, 3]);
    assert_eq!(
        SignatureScheme::decode_auth_data(&data).unwrap_err(),
        Error::Unsupported
    );
    assert_eq!(
        SignatureScheme::decode_auth_data(&[0x40, 0x30]).unwrap_err(),
        Error::InvalidLength
    );
    assert!(SignatureScheme::decode_auth_data(&[]).is_err());
}

/// Key files of the wrong kind or garbage are errors, not panics.
#[test]
fn bad_key_files() {
    let rng = SystemRandom::new();
    assert!(VerifyingKey::from_pem(&file("p256.key.pem")).is_err());
    assert!(SigningKey::from_pem(&file("p256.pub.pem"), &rng).is_err());
    assert!(VerifyingKey::from_pem(b"not pem").is_err());
    let pem = String::from_utf8(file("p256.pub.pem")).unwrap();
    // Corrupt the base64 body so the DER is truncated.
    let short: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der_b64 = &short[..short.len() - 8];
    let broken = format!("-----BEGIN PUBLIC KEY-----\n{der_b64}\n-----END PUBLIC KEY-----\n");
    assert!(VerifyingKey::from_pem(broken.as_bytes()).is_err());
    for n in 0..40 {
        // Every prefix of a valid SPKI DER must be rejected without panicking.
        let der = pem_body(&pem);
        assert!(VerifyingKey::from_spki_der(&der[..n.min(der.len() - 1)]).is_err());
    }
}

fn pem_body(pem: &str) -> Vec<u8> {
    // Minimal base64 decoder for the test (standard alphabet, '=' padding).
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => 0,
    };
    let bytes: Vec<u8> = b64.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::new();
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= u32::from(val(c)) << (18 - 6 * i);
        }
        let n = chunk.len() * 6 / 8;
        out.extend_from_slice(&acc.to_be_bytes()[1..1 + n]);
    }
    out
}

/// SIGNATURE_HASH_ALGORITHMS notify values (RFC 7427 4).
#[test]
fn signature_hash_notify_values() {
    assert_eq!(HashAlgorithm::Sha256 as u16, 2);
    assert_eq!(HashAlgorithm::Sha384 as u16, 3);
    assert_eq!(HashAlgorithm::Sha512 as u16, 4);
    assert_eq!(HashAlgorithm::Identity as u16, 5);
    // strongSwan's notify in the captured IKE_SA_INIT carries 0002 0003 0004 0005.
    assert_eq!(
        HashAlgorithm::decode_list(&[0, 2, 0, 3, 0, 4, 0, 5]).unwrap(),
        HashAlgorithm::supported()
    );
}

/// RFC 4754 (auth methods 9 and 10): r | s at the curve size. OpenSSL's DER
/// signatures, re-encoded as r | s here, verify; ours round-trip; the
/// method must fit the curve; Ed25519/RSA keys have no such method.
#[test]
fn rfc4754_fixed_ecdsa() {
    let rng = SystemRandom::new();
    let msg = file("message.bin");
    for (name, method, sig_file, size) in [
        ("p256", 9u8, "p256-sha256.sig", 32usize),
        ("p384", 10u8, "p384-sha384.sig", 48usize),
    ] {
        let pk = public(name);
        let fixed = der_ecdsa_to_fixed(&file(sig_file), size);
        assert_eq!(pk.verify_rfc4754(method, &msg, &fixed), Ok(()), "{name}");
        let other = if method == 9 { 10 } else { 9 };
        assert!(pk.verify_rfc4754(other, &msg, &fixed).is_err());
        let (m, sig) = private(name).sign_rfc4754(&rng, &msg).unwrap();
        assert_eq!((m, sig.len()), (method, 2 * size));
        assert_eq!(pk.verify_rfc4754(m, &msg, &sig), Ok(()));
        let mut bad = sig.clone();
        bad[0] ^= 1;
        assert!(pk.verify_rfc4754(m, &msg, &bad).is_err());
    }
    assert_eq!(
        private("ed25519").sign_rfc4754(&rng, &msg).unwrap_err(),
        Error::Unsupported
    );
    assert_eq!(
        private("rsa2048").sign_rfc4754(&rng, &msg).unwrap_err(),
        Error::Unsupported
    );
}

/// DER Ecdsa-Sig-Value (SEQUENCE { INTEGER r, INTEGER s }) to r | s, each
/// left-padded to `size` bytes (test helper; short-form lengths suffice).
fn der_ecdsa_to_fixed(der: &[u8], size: usize) -> Vec<u8> {
    assert_eq!(der[0], 0x30);
    let mut rest = &der[2..];
    let mut out = Vec::new();
    for _ in 0..2 {
        assert_eq!(rest[0], 0x02);
        let len = usize::from(rest[1]);
        let int = &rest[2..2 + len];
        let int = if int[0] == 0 { &int[1..] } else { int };
        out.resize(out.len() + size - int.len(), 0);
        out.extend_from_slice(int);
        rest = &rest[2 + len..];
    }
    out
}

/// Auth method 1 (RSA PKCS#1 v1.5 with SHA-1, RFC 7296 3.8) and
/// sha256WithRSAEncryption (method 14): signatures made by OpenSSL verify
/// through `verify_auth`, which picks the check from the auth method.
#[test]
fn rsa_pkcs1_known_answers_and_method_dispatch() {
    let msg = file("message.bin");
    let pk = public("rsa2048");
    let sha1 = file("rsa2048-pkcs1-sha1.sig");
    assert_eq!(pk.verify_auth(1, &msg, &sha1), Ok(()));
    assert!(pk.verify_auth(1, b"other", &sha1).is_err());
    // The same bytes are no method 14 signature, and a P-256 key has no
    // method 1.
    assert!(pk.verify_auth(14, &msg, &sha1).is_err());
    assert!(public("p256").verify_auth(1, &msg, &sha1).is_err());

    let sha256 = file("rsa2048-pkcs1-sha256.sig");
    let data = SignatureScheme::RsaPkcs1Sha256.encode_auth_data(&sha256);
    assert_eq!(pk.verify_auth(14, &msg, &data), Ok(()));
    // Under method 1 (SHA-1) the SHA-256 signature fails.
    assert!(pk.verify_auth(1, &msg, &sha256).is_err());
    // Our RSA signature equals OpenSSL's (PKCS#1 v1.5 is deterministic).
    let ours = private("rsa2048").sign(&SystemRandom::new(), &msg).unwrap();
    assert_eq!(ours, sha256);

    // ECDSA by RFC 4754 (methods 9/10) and RFC 7427 through the same door.
    let rng = SystemRandom::new();
    for (name, method) in [("p256", 9u8), ("p384", 10u8)] {
        let sk = private(name);
        let pk = public(name);
        assert_eq!(pk.rfc4754_method(), Some(method));
        let (m, sig) = sk.sign_rfc4754(&rng, &msg).unwrap();
        assert_eq!(m, method);
        assert_eq!(pk.verify_auth(m, &msg, &sig), Ok(()));
        // The other curve's method, PSK (2) and unknown methods fail.
        let wrong = if method == 9 { 10 } else { 9 };
        for bad in [wrong, 2, 0, 255] {
            assert!(pk.verify_auth(bad, &msg, &sig).is_err(), "{name} {bad}");
        }
    }
    assert_eq!(public("ed25519").rfc4754_method(), None);
    assert_eq!(
        private("rsa2048").sign_rfc4754(&rng, &msg),
        Err(Error::Unsupported)
    );
}

/// The scheme an RSA key signs with follows the peer's announced hashes
/// (RFC 7427 4); with none of ours announced there is none.
#[test]
fn scheme_follows_peer_hashes() {
    let rsa = private("rsa2048");
    assert_eq!(
        rsa.scheme_for(&[HashAlgorithm::Sha512, HashAlgorithm::Sha384]),
        Some(SignatureScheme::RsaPkcs1Sha384)
    );
    assert_eq!(
        rsa.scheme_for(HashAlgorithm::supported()),
        Some(SignatureScheme::RsaPkcs1Sha256)
    );
    assert_eq!(rsa.scheme_for(&[HashAlgorithm::Identity]), None);
    assert_eq!(rsa.scheme_for(&[]), None);
    assert_eq!(
        private("ed25519").scheme_for(&[HashAlgorithm::Identity]),
        Some(SignatureScheme::Ed25519)
    );
}

/// "RSA PUBLIC KEY" (PKCS#1) is the same key as the SPKI file and
/// verifies OpenSSL's signatures; malformed PKCS#1 keys are refused.
#[test]
fn rsa_public_key_pkcs1() {
    let pk = VerifyingKey::from_pem(&file("rsa2048.pub.pkcs1.pem")).unwrap();
    assert_eq!(pk, public("rsa2048"));
    let msg = file("message.bin");
    assert_eq!(
        pk.verify_auth(1, &msg, &file("rsa2048-pkcs1-sha1.sig")),
        Ok(())
    );
    let der = pem::parse(file("rsa2048.pub.pkcs1.pem"))
        .unwrap()
        .into_contents();
    for n in [0, 1, 4, der.len() - 1] {
        assert!(VerifyingKey::from_pkcs1_der(&der[..n]).is_err(), "{n}");
    }
    let mut trailing = der.clone();
    trailing.push(0);
    assert!(VerifyingKey::from_pkcs1_der(&trailing).is_err());
}
