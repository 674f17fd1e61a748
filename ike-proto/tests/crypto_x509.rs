//! X.509 chains for IKE (RFC 7296 3.6/3.7, RFC 4945) with the certificates
//! of data/x509 (made by its gen.sh with OpenSSL): validation with a fixed
//! clock, identities against the certificate, EKU policy, CERTREQ hashes,
//! the own-certificate configuration check, and malformed input.

mod data_util;

use data_util::data_file;
use ike_proto::crypto::x509::{
    self, certificate_subject, check_own_certificate, fixed_clock, CertError, CertIdentity,
    TrustStore, MAX_CERT_LEN, MAX_CHAIN_CERTS,
};
use ike_proto::crypto::SigningKey;
use ring::rand::SystemRandom;

/// 2027-01-01T00:00:00Z: inside every certificate's validity but a-expired's.
const NOW: u64 = 1_798_761_600;
/// 2026-01-01T00:00:00Z: before any certificate was issued.
const BEFORE: u64 = 1_767_225_600;

fn file(name: &str) -> Vec<u8> {
    data_file("x509", name)
}

fn cert(name: &str) -> Vec<u8> {
    file(&format!("{name}.crt.der"))
}

fn store(cas: &[&str], now: u64) -> TrustStore {
    let ders: Vec<Vec<u8>> = cas.iter().map(|c| cert(c)).collect();
    TrustStore::new(&ders, fixed_clock(now)).unwrap()
}

fn key(name: &str) -> SigningKey {
    SigningKey::from_pem(&file(&format!("{name}.key.pem")), &SystemRandom::new()).unwrap()
}

const A_FQDN: CertIdentity<'static> = CertIdentity::Fqdn(b"a.test");

#[test]
fn direct_chain_gives_the_certificates_key() {
    let s = store(&["root"], NOW);
    let a = cert("a");
    let k = s.verify(&[&a], &A_FQDN).unwrap();
    assert_eq!(k, key("a").verifying_key());
    // The IP in subjectAltName is an identity too.
    let ip = CertIdentity::Ip("192.0.2.1".parse().unwrap());
    assert_eq!(s.verify(&[&a], &ip), Ok(k));
}

#[test]
fn intermediate_chain_in_any_order() {
    let s = store(&["root"], NOW);
    let (b, sub, a) = (cert("b"), cert("sub"), cert("a"));
    let id = CertIdentity::Fqdn(b"b.test");
    assert_eq!(
        s.verify(&[&b, &sub], &id),
        Ok(key("b").verifying_key()),
        "b (with EKU serverAuth) through the intermediate"
    );
    // An unrelated extra certificate does not disturb path building.
    assert!(s.verify(&[&b, &a, &sub], &id).is_ok());
    // Without the intermediate the chain does not reach the root.
    assert_eq!(s.verify(&[&b], &id), Err(CertError::UnknownIssuer));
    // The intermediate as the only anchor works as well.
    assert!(store(&["sub"], NOW).verify(&[&b], &id).is_ok());
}

#[test]
fn refusals_carry_their_reason() {
    let s = store(&["root"], NOW);
    let cases: [(&str, CertError); 5] = [
        ("a-evil", CertError::UnknownIssuer),
        ("a-sha1", CertError::UnsupportedAlgorithm),
        ("a-expired", CertError::Expired),
        ("a-codesign", CertError::WrongKeyUsage),
        ("a-wrongname", CertError::IdMismatch),
    ];
    for (name, want) in cases {
        assert_eq!(s.verify(&[&cert(name)], &A_FQDN), Err(want), "{name}");
    }
    // Not yet valid: the same good certificate with a clock before issue.
    let early = store(&["root"], BEFORE);
    assert_eq!(
        early.verify(&[&cert("a")], &A_FQDN),
        Err(CertError::NotYetValid)
    );
    // A CA certificate is not an end entity.
    let sub_id = CertIdentity::Fqdn(b"sub.test");
    assert_eq!(
        s.verify(&[&cert("sub")], &sub_id),
        Err(CertError::InvalidChain)
    );
    // ipsecIKE EKU is accepted (RFC 4945 5.1.3.12).
    assert!(s.verify(&[&cert("a-ipsecike")], &A_FQDN).is_ok());
}

#[test]
fn identities_against_the_certificate() {
    let s = store(&["root"], NOW);
    let a = cert("a");
    let subject = file("a.subject.der");
    assert_eq!(certificate_subject(&a).unwrap(), subject);
    assert!(s.verify(&[&a], &CertIdentity::Dn(&subject)).is_ok());
    // A DN must match byte for byte: another subject, trailing bytes or a
    // Name without its SEQUENCE fail.
    let b_subject = certificate_subject(&cert("b")).unwrap();
    let mut longer = subject.clone();
    longer.push(0);
    for bad in [&b_subject[..], &longer, &subject[2..], &[]] {
        assert_eq!(
            s.verify(&[&a], &CertIdentity::Dn(bad)),
            Err(CertError::IdMismatch)
        );
    }
    let wrong = [
        CertIdentity::Fqdn(b"b.test"),
        CertIdentity::Fqdn(b"A.TEST.evil"),
        CertIdentity::Fqdn(b"not a name"),
        CertIdentity::Fqdn(&[0xff, 0xfe]),
        CertIdentity::Ip("192.0.2.2".parse().unwrap()),
        CertIdentity::Ip("::1".parse().unwrap()),
    ];
    for id in wrong {
        assert_eq!(s.verify(&[&a], &id), Err(CertError::IdMismatch), "{id:?}");
    }
    // rfc822Name: local part exact, domain in any case (RFC 5280 7.5).
    let e = cert("a-email");
    for ok in [&b"alice@a.test"[..], b"alice@A.TEST", b"other@a.test"] {
        assert!(s.verify(&[&e], &CertIdentity::Email(ok)).is_ok());
    }
    for bad in [
        &b"Alice@a.test"[..],
        b"alice@b.test",
        b"alice",
        b"a.test",
        b"alice@a.test@a.test",
        b"",
    ] {
        assert_eq!(
            s.verify(&[&e], &CertIdentity::Email(bad)),
            Err(CertError::IdMismatch)
        );
    }
    // A certificate without rfc822Name names no mailbox.
    assert_eq!(
        s.verify(&[&a], &CertIdentity::Email(b"a@a.test")),
        Err(CertError::IdMismatch)
    );
    assert_eq!(
        s.verify(&[&a], &CertIdentity::Other),
        Err(CertError::UnsupportedIdType)
    );
}

#[test]
fn certreq_hashes_match_openssl() {
    let hex = |h: &[u8]| h.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let want = |n: &str| String::from_utf8(file(n)).unwrap().trim().to_string();
    let s = store(&["root", "sub", "root"], NOW);
    let got: Vec<String> = s.certreq_hashes().iter().map(|h| hex(h)).collect();
    // Duplicates are listed once.
    assert_eq!(got, [want("root.spki.sha1"), want("sub.spki.sha1")]);
}

#[test]
fn trust_store_from_pem_and_bad_input() {
    let pem = [file("root.crt.pem"), file("sub.crt.pem")].concat();
    let s = TrustStore::from_pem(&pem, fixed_clock(NOW)).unwrap();
    assert_eq!(s.certreq_hashes().len(), 2);
    assert!(TrustStore::from_pem(&file("a.key.pem"), fixed_clock(NOW)).is_err());
    assert!(TrustStore::new(&[], fixed_clock(NOW)).is_err());
    let mut trunc = cert("root");
    trunc.truncate(trunc.len() - 1);
    assert!(TrustStore::new(&[trunc], fixed_clock(NOW)).is_err());
    assert_eq!(
        x509::certificates_from_pem(&file("a.crt.pem")).unwrap(),
        vec![cert("a")]
    );
}

#[test]
fn malformed_chains_are_errors() {
    let s = store(&["root"], NOW);
    let a = cert("a");
    // Every truncation of a good certificate is refused, none panics.
    for n in 0..a.len() {
        assert!(s.verify(&[&a[..n]], &A_FQDN).is_err(), "prefix {n}");
    }
    // One flipped bit in the signed part breaks the signature (or the DER).
    let mut flipped = a.clone();
    flipped[100] ^= 1;
    assert!(s.verify(&[&flipped], &A_FQDN).is_err());
    // Garbage, huge and too many.
    let garbage: Vec<u8> = (0..600u32).map(|i| (i * 7 + 3) as u8).collect();
    assert_eq!(s.verify(&[&garbage], &A_FQDN), Err(CertError::Malformed));
    let huge = [a.clone(), vec![0; MAX_CERT_LEN]].concat();
    assert_eq!(s.verify(&[&huge], &A_FQDN), Err(CertError::TooLarge));
    assert_eq!(s.verify(&[&a, &huge], &A_FQDN), Err(CertError::TooLarge));
    let many: Vec<&[u8]> = vec![&a; MAX_CHAIN_CERTS + 1];
    assert_eq!(
        s.verify(&many, &A_FQDN),
        Err(CertError::TooManyCertificates)
    );
    assert_eq!(s.verify(&[], &A_FQDN), Err(CertError::Missing));
    // A garbage intermediate is an error, not a panic.
    let b = cert("b");
    assert!(s
        .verify(&[&b, &garbage], &CertIdentity::Fqdn(b"b.test"))
        .is_err());
}

#[test]
fn own_certificate_check() {
    let id = A_FQDN;
    assert_eq!(
        check_own_certificate(&[cert("a")], &key("a").verifying_key(), &id),
        Ok(())
    );
    assert_eq!(
        check_own_certificate(&[cert("a-otherkey")], &key("a").verifying_key(), &id),
        Err(CertError::KeyMismatch)
    );
    assert_eq!(
        check_own_certificate(&[cert("a-wrongname")], &key("a").verifying_key(), &id),
        Err(CertError::IdMismatch)
    );
    assert_eq!(
        check_own_certificate(&[], &key("a").verifying_key(), &id),
        Err(CertError::Missing)
    );
    // RSA: the PKCS#8 and the PKCS#1 file are the same key.
    let rsa8 = key("arsa");
    let rsa1 = SigningKey::from_pem(&file("arsa.rsa.pem"), &SystemRandom::new()).unwrap();
    assert_eq!(rsa8.verifying_key(), rsa1.verifying_key());
    assert_eq!(
        check_own_certificate(&[cert("a-rsa")], &rsa1.verifying_key(), &id),
        Ok(())
    );
    let from_cert = store(&["root"], NOW)
        .verify(&[&cert("a-rsa")], &id)
        .unwrap();
    assert_eq!(from_cert, rsa8.verifying_key());
}

#[test]
fn key_file_formats_agree() {
    let rng = SystemRandom::new();
    // SEC 1 "EC PRIVATE KEY" (openssl ec) is the same key as the PKCS#8 file.
    for name in ["a", "b384"] {
        let sec1 = SigningKey::from_pem(&file(&format!("{name}.sec1.pem")), &rng).unwrap();
        assert_eq!(sec1.verifying_key(), key(name).verifying_key(), "{name}");
        // And it signs what the certificate's key verifies.
        let crt = if name == "a" { "a" } else { "b384" };
        let id = if name == "a" {
            A_FQDN
        } else {
            CertIdentity::Fqdn(b"b.test")
        };
        assert_eq!(
            check_own_certificate(&[cert(crt)], &sec1.verifying_key(), &id),
            Ok(())
        );
    }
    // An explicit-curve or truncated SEC 1 key is refused, not guessed.
    assert!(SigningKey::from_pem(&file("a.explicit.pem"), &rng).is_err());
    let pem = pem_body(&file("a.sec1.pem"));
    for n in [0, 1, 10, pem.len() - 1] {
        assert!(SigningKey::from_sec1_der(&pem[..n], &rng).is_err(), "{n}");
    }
    let mut trailing = pem.clone();
    trailing.push(0);
    assert!(SigningKey::from_sec1_der(&trailing, &rng).is_err());
    // PKCS#1 DER as the daemon passes it.
    let rsa = SigningKey::from_pkcs1_der(&pem_body(&file("arsa.rsa.pem"))).unwrap();
    assert_eq!(rsa.verifying_key(), key("arsa").verifying_key());
    assert!(SigningKey::from_pkcs1_der(&pem).is_err());
}

/// The DER inside a one-block PEM file.
fn pem_body(text: &[u8]) -> Vec<u8> {
    pem::parse(text).unwrap().into_contents()
}

proptest::proptest! {
    /// Any corruption of a peer's chain (a byte changed anywhere in the
    /// end entity or the intermediate, bytes appended) is refused with a
    /// value, never a panic: every byte of a certificate is either signed
    /// or part of the signature, and trailing bytes are malformed.
    #[test]
    fn corrupted_chains_never_panic(
        at in 0usize..2000,
        xor in 1u8..=255,
        which in 0usize..2,
        tail in proptest::collection::vec(proptest::num::u8::ANY, 0..4),
    ) {
        let s = store(&["root"], NOW);
        let mut chain = [cert("b"), cert("sub")];
        let target = &mut chain[which];
        let i = at % target.len();
        target[i] ^= xor;
        target.extend_from_slice(&tail);
        let id = CertIdentity::Fqdn(b"b.test");
        let r = s.verify(&[&chain[0], &chain[1]], &id);
        proptest::prop_assert!(r.is_err(), "corrupted chain accepted: {:?}", r);
    }
}
