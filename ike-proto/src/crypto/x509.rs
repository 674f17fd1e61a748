//! X.509 certificates for IKE authentication (RFC 7296 3.6, 3.7; profile
//! RFC 4945): the peer's chain is validated against configured trust
//! anchors with rustls-webpki, the peer's IKE identity is matched against
//! the end-entity certificate, and its public key becomes the
//! [`VerifyingKey`] that checks the AUTH payload.
//!
//! Certificates arrive from the network before the peer is authenticated,
//! so every entry point bounds what it is given ([`MAX_CHAIN_CERTS`],
//! [`MAX_CERT_LEN`]) and reports failures as a [`CertError`] value.
//!
//! The validity check needs the wall clock, which this crate never reads:
//! a [`TrustStore`] carries an injected [`Clock`] (tests pass a fixed time,
//! the daemon the system clock).

use core::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use pki_types::{CertificateDer, DnsName, ServerName, TrustAnchor, UnixTime};
use ring::digest;
use webpki::{EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeId, KeyPurposeIdIter};

use super::auth::VerifyingKey;
use super::der;

mod rfc822;

/// Most certificates we take from one peer: the end entity and up to five
/// intermediates (rustls-webpki itself stops at six sub-CAs).
pub const MAX_CHAIN_CERTS: usize = 6;
/// Largest certificate we parse. Real IKE certificates (RSA-4096 with a
/// few names) stay far below; anything bigger is refused unparsed.
pub const MAX_CERT_LEN: usize = 16 * 1024;
/// Length of one CERTREQ entry: a SHA-1 hash (RFC 7296 3.7).
pub const CERTREQ_HASH_LEN: usize = 20;

/// Seconds since the Unix epoch, supplied by the caller. It is called
/// once per received chain, inside the engine: it must not panic or block
/// (the daemon's wall clock: `SystemTime::now()` since `UNIX_EPOCH`).
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// A clock stopped at `secs` (tests, replays).
pub fn fixed_clock(secs: u64) -> Clock {
    Arc::new(move || secs)
}

/// Why a certificate (chain) was refused. Each variant is a reason an
/// operator can act on; none carries peer-controlled bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CertError {
    /// The peer sent no X.509 certificate (encoding 4) to check.
    Missing,
    /// More certificates than [`MAX_CHAIN_CERTS`].
    TooManyCertificates,
    /// A certificate longer than [`MAX_CERT_LEN`].
    TooLarge,
    /// Not a well-formed X.509 v3 certificate.
    Malformed,
    /// A certificate of the chain has expired.
    Expired,
    /// A certificate of the chain is not yet valid.
    NotYetValid,
    /// The chain leads to none of the configured trust anchors.
    UnknownIssuer,
    /// A certificate's signature does not verify.
    BadSignature,
    /// A signature or key algorithm we do not accept (e.g. SHA-1 signed).
    UnsupportedAlgorithm,
    /// The extended key usage excludes IKE (RFC 4945 5.1.3.12).
    WrongKeyUsage,
    /// Basic constraints, path length or name constraints are violated.
    InvalidChain,
    /// The chain is longer than path building allows.
    ChainTooLong,
    /// The certificate does not name the IKE identity (RFC 4945 3.1).
    IdMismatch,
    /// The identity type cannot be checked against a certificate here.
    UnsupportedIdType,
    /// The certificate's public key is of a type we cannot verify with.
    UnsupportedKey,
    /// The certificate's key is not the key of our private key.
    KeyMismatch,
    /// Anything else rustls-webpki refused.
    Invalid,
}

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            CertError::Missing => "no X.509 certificate received",
            CertError::TooManyCertificates => "too many certificates",
            CertError::TooLarge => "certificate too large",
            CertError::Malformed => "malformed certificate",
            CertError::Expired => "certificate expired",
            CertError::NotYetValid => "certificate not yet valid",
            CertError::UnknownIssuer => "certificate issued by an unknown CA",
            CertError::BadSignature => "bad certificate signature",
            CertError::UnsupportedAlgorithm => "unsupported certificate signature algorithm",
            CertError::WrongKeyUsage => "extended key usage does not allow IKE",
            CertError::InvalidChain => "invalid certificate chain (constraints)",
            CertError::ChainTooLong => "certificate chain too long",
            CertError::IdMismatch => "identity not in the certificate",
            CertError::UnsupportedIdType => "identity type not checkable against a certificate",
            CertError::UnsupportedKey => "unsupported public key in certificate",
            CertError::KeyMismatch => "certificate does not match the private key",
            CertError::Invalid => "invalid certificate",
        };
        f.write_str(s)
    }
}

impl std::error::Error for CertError {}

fn map_webpki(e: webpki::Error) -> CertError {
    use webpki::Error as W;
    match e {
        W::BadDer
        | W::BadDerTime
        | W::TrailingData(_)
        | W::MalformedExtensions
        | W::ExtensionValueInvalid
        | W::InvalidSerialNumber
        | W::InvalidCertValidity
        | W::UnsupportedCertVersion
        | W::UnsupportedCriticalExtension => CertError::Malformed,
        W::CertExpired { .. } => CertError::Expired,
        W::CertNotValidYet { .. } => CertError::NotYetValid,
        W::UnknownIssuer => CertError::UnknownIssuer,
        W::InvalidSignatureForPublicKey => CertError::BadSignature,
        W::UnsupportedSignatureAlgorithmContext(_)
        | W::UnsupportedSignatureAlgorithmForPublicKeyContext(_)
        | W::SignatureAlgorithmMismatch => CertError::UnsupportedAlgorithm,
        W::RequiredEkuNotFoundContext(_) | W::EmptyEkuExtension => CertError::WrongKeyUsage,
        W::CaUsedAsEndEntity
        | W::EndEntityUsedAsCa
        | W::PathLenConstraintViolated
        | W::NameConstraintViolation
        | W::MalformedNameConstraint => CertError::InvalidChain,
        W::MaximumPathDepthExceeded
        | W::MaximumPathBuildCallsExceeded
        | W::MaximumSignatureChecksExceeded
        | W::MaximumNameConstraintComparisonsExceeded => CertError::ChainTooLong,
        W::CertNotValidForName(_) => CertError::IdMismatch,
        _ => CertError::Invalid,
    }
}

/// Signature algorithms accepted on certificates: every one rustls-webpki
/// offers with ring. It has none with SHA-1, so SHA-1 signed certificates
/// are refused (`UnsupportedAlgorithm`).
static CERT_SIG_ALGS: &[&dyn pki_types::SignatureVerificationAlgorithm] = &[
    webpki::ring::ECDSA_P256_SHA256,
    webpki::ring::ECDSA_P256_SHA384,
    webpki::ring::ECDSA_P384_SHA256,
    webpki::ring::ECDSA_P384_SHA384,
    webpki::ring::ED25519,
    webpki::ring::RSA_PKCS1_2048_8192_SHA256,
    webpki::ring::RSA_PKCS1_2048_8192_SHA384,
    webpki::ring::RSA_PKCS1_2048_8192_SHA512,
    webpki::ring::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
    webpki::ring::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
    webpki::ring::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
    webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    webpki::ring::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    webpki::ring::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
];

/// Extended key usages that admit a certificate for IKE. RFC 4945 5.1.3.12
/// asks for id-kp-ipsecIKE or anyExtendedKeyUsage, but certificates in the
/// field (Windows clients, strongSwan's `pki --flag serverAuth`) carry TLS
/// usages or the old IPsec ones: each of these is accepted. A certificate
/// without the extension is accepted too; one restricted to something
/// else entirely (say, code signing only) is not.
/// OIDs (value bytes): RFC 5280 4.2.1.12 (anyExtendedKeyUsage 2.5.29.37.0,
/// serverAuth/clientAuth 1.3.6.1.5.5.7.3.1/2), RFC 2459 4.2.1.13
/// (ipsecEndSystem/Tunnel/User 1.3.6.1.5.5.7.3.5/6/7), RFC 4945 5.1.3.12
/// (id-kp-ipsecIKE 1.3.6.1.5.5.7.3.17), Microsoft's "IP security IKE
/// intermediate" 1.3.6.1.5.5.8.2.2.
const IKE_EKUS: &[&[u8]] = &[
    ID_KP_IPSEC_IKE,
    &[0x55, 0x1d, 0x25, 0x00],
    &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01],
    &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02],
    &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x05],
    &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x06],
    &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x07],
    &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x08, 0x02, 0x02],
];
const ID_KP_IPSEC_IKE: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x11];

/// The EKU policy above, for rustls-webpki (checked on every certificate
/// of the path).
struct IkeUsage;

impl ExtendedKeyUsageValidator for IkeUsage {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        let mut present = Vec::new();
        for id in iter {
            let id = id?;
            if IKE_EKUS.iter().any(|oid| KeyPurposeId::new(oid) == id) {
                return Ok(());
            }
            present.push(id.to_decoded_oid());
        }
        if present.is_empty() {
            Ok(())
        } else {
            Err(webpki::Error::RequiredEkuNotFoundContext(
                webpki::RequiredEkuNotFoundContext {
                    required: webpki::KeyUsage::required(ID_KP_IPSEC_IKE),
                    present,
                },
            ))
        }
    }
}

/// An IKE identity in the form a certificate can vouch for (RFC 4945 3.1):
/// built by the engine from an ID payload's type and data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertIdentity<'a> {
    /// ID_FQDN: must be a dNSName in subjectAltName.
    Fqdn(&'a [u8]),
    /// ID_IPV4_ADDR / ID_IPV6_ADDR: must be an iPAddress in subjectAltName.
    Ip(IpAddr),
    /// ID_DER_ASN1_DN: the DER Name must equal the subject byte for byte.
    Dn(&'a [u8]),
    /// ID_RFC822_ADDR: must be an rfc822Name in subjectAltName (local
    /// part exact, domain case-insensitive; our own matcher, since
    /// rustls-webpki has none).
    Email(&'a [u8]),
    /// Any other ID type (KEY_ID, DER_ASN1_GN, ...).
    Other,
}

/// Checks that `cert` names `id`.
fn check_identity(cert: &EndEntityCert<'_>, id: &CertIdentity<'_>) -> Result<(), CertError> {
    match id {
        CertIdentity::Fqdn(name) => {
            let name = core::str::from_utf8(name).map_err(|_| CertError::IdMismatch)?;
            let dns = DnsName::try_from(name).map_err(|_| CertError::IdMismatch)?;
            cert.verify_is_valid_for_subject_name(&ServerName::DnsName(dns))
                .map_err(|_| CertError::IdMismatch)
        }
        CertIdentity::Ip(addr) => cert
            .verify_is_valid_for_subject_name(&ServerName::IpAddress((*addr).into()))
            .map_err(|_| CertError::IdMismatch),
        CertIdentity::Dn(name) => {
            // The ID carries the whole Name (SEQUENCE included);
            // rustls-webpki gives the subject's contents.
            let (contents, rest) =
                der::expect(name, der::TAG_SEQUENCE).map_err(|_| CertError::IdMismatch)?;
            if rest.is_empty() && contents == cert.subject() {
                Ok(())
            } else {
                Err(CertError::IdMismatch)
            }
        }
        CertIdentity::Email(mailbox) => {
            if rfc822::names_mailbox(cert.der().as_ref(), mailbox) {
                Ok(())
            } else {
                Err(CertError::IdMismatch)
            }
        }
        CertIdentity::Other => Err(CertError::UnsupportedIdType),
    }
}

/// Parses a certificate, refusing oversized input before parsing.
fn end_entity<'a>(der: &'a CertificateDer<'a>) -> Result<EndEntityCert<'a>, CertError> {
    if der.as_ref().len() > MAX_CERT_LEN {
        return Err(CertError::TooLarge);
    }
    EndEntityCert::try_from(der).map_err(map_webpki)
}

/// The subjectPublicKeyInfo of a certificate as a key we verify with.
fn certificate_key(cert: &EndEntityCert<'_>) -> Result<VerifyingKey, CertError> {
    VerifyingKey::from_spki_der(cert.subject_public_key_info().as_ref())
        .map_err(|_| CertError::UnsupportedKey)
}

/// Trusted CA certificates and the clock to judge validity by.
#[derive(Clone)]
pub struct TrustStore {
    anchors: Vec<TrustAnchor<'static>>,
    /// SHA-1 of each anchor's subjectPublicKeyInfo, for CERTREQ.
    hashes: Vec<[u8; CERTREQ_HASH_LEN]>,
    clock: Clock,
}

impl fmt::Debug for TrustStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrustStore({} anchors)", self.anchors.len())
    }
}

impl TrustStore {
    /// From DER CA certificates (configuration input, so errors are
    /// values) and a clock in seconds since the Unix epoch.
    pub fn new(ca_ders: &[Vec<u8>], clock: Clock) -> Result<TrustStore, CertError> {
        if ca_ders.is_empty() {
            return Err(CertError::Missing);
        }
        let mut anchors = Vec::with_capacity(ca_ders.len());
        let mut hashes = Vec::with_capacity(ca_ders.len());
        for der in ca_ders {
            let cert = CertificateDer::from(der.as_slice());
            let anchor = webpki::anchor_from_trusted_cert(&cert).map_err(map_webpki)?;
            // RFC 7296 3.7: the hash covers the whole SubjectPublicKeyInfo.
            let spki = webpki::spki_for_anchor(&anchor);
            let h = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, spki.as_ref());
            let mut hash = [0u8; CERTREQ_HASH_LEN];
            hash.copy_from_slice(h.as_ref());
            if !hashes.contains(&hash) {
                hashes.push(hash);
            }
            anchors.push(anchor.to_owned());
        }
        Ok(TrustStore {
            anchors,
            hashes,
            clock,
        })
    }

    /// From PEM text with one or more "CERTIFICATE" blocks.
    pub fn from_pem(text: &[u8], clock: Clock) -> Result<TrustStore, CertError> {
        TrustStore::new(&certificates_from_pem(text)?, clock)
    }

    /// The CERTREQ data for our anchors: concatenated SHA-1 hashes of
    /// their subjectPublicKeyInfo (RFC 7296 3.7), without duplicates.
    pub fn certreq_hashes(&self) -> &[[u8; CERTREQ_HASH_LEN]] {
        &self.hashes
    }

    /// The current time by the injected clock.
    pub fn now(&self) -> u64 {
        (self.clock)()
    }

    /// Validates the peer's chain (end entity first, then intermediates in
    /// any order) at the clock's time, checks that it names `id`, and
    /// returns the end entity's public key.
    pub fn verify(
        &self,
        chain: &[&[u8]],
        id: &CertIdentity<'_>,
    ) -> Result<VerifyingKey, CertError> {
        if chain.len() > MAX_CHAIN_CERTS {
            return Err(CertError::TooManyCertificates);
        }
        let (ee, intermediates) = chain.split_first().ok_or(CertError::Missing)?;
        if intermediates.iter().any(|c| c.len() > MAX_CERT_LEN) {
            return Err(CertError::TooLarge);
        }
        let ee_der = CertificateDer::from(*ee);
        let cert = end_entity(&ee_der)?;
        let intermediates: Vec<CertificateDer<'_>> = intermediates
            .iter()
            .map(|c| CertificateDer::from(*c))
            .collect();
        let time = UnixTime::since_unix_epoch(Duration::from_secs(self.now()));
        cert.verify_for_usage(
            CERT_SIG_ALGS,
            &self.anchors,
            &intermediates,
            time,
            IkeUsage,
            None,
            None,
        )
        .map_err(map_webpki)?;
        check_identity(&cert, id)?;
        certificate_key(&cert)
    }
}

/// The DER bodies of every "CERTIFICATE" block in PEM text.
pub fn certificates_from_pem(text: &[u8]) -> Result<Vec<Vec<u8>>, CertError> {
    let blocks = pem::parse_many(text).map_err(|_| CertError::Malformed)?;
    let certs: Vec<Vec<u8>> = blocks
        .into_iter()
        .filter(|p| p.tag() == "CERTIFICATE")
        .map(|p| p.into_contents())
        .collect();
    if certs.is_empty() {
        return Err(CertError::Missing);
    }
    Ok(certs)
}

/// The subject Name of a certificate as DER (SEQUENCE included): the data
/// of an ID_DER_ASN1_DN identity that this certificate vouches for.
pub fn certificate_subject(cert: &[u8]) -> Result<Vec<u8>, CertError> {
    let der = CertificateDer::from(cert);
    let cert = end_entity(&der)?;
    Ok(der::write_tlv(der::TAG_SEQUENCE, cert.subject()))
}

/// Configuration check for our own certificate (the first of `chain`):
/// it parses, its public key is the one of `key`, and it names our `id`
/// (so that the peer's identical check will pass). Call it at
/// configuration load; the engine trusts the result.
pub fn check_own_certificate(
    chain: &[Vec<u8>],
    key: &VerifyingKey,
    id: &CertIdentity<'_>,
) -> Result<(), CertError> {
    let first = chain.first().ok_or(CertError::Missing)?;
    if chain.len() > MAX_CHAIN_CERTS {
        return Err(CertError::TooManyCertificates);
    }
    let der = CertificateDer::from(first.as_slice());
    let cert = end_entity(&der)?;
    if certificate_key(&cert)? != *key {
        return Err(CertError::KeyMismatch);
    }
    check_identity(&cert, id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let store = TrustStore {
            anchors: Vec::new(),
            hashes: Vec::new(),
            clock: fixed_clock(0),
        };
        let id = CertIdentity::Fqdn(b"a.test");
        assert_eq!(store.verify(&[], &id), Err(CertError::Missing));
        for bad in [&[][..], &[0x30], &[0x30, 0x82, 0xff, 0xff], &[0xff; 64]] {
            assert_eq!(store.verify(&[bad], &id), Err(CertError::Malformed));
        }
        let huge = vec![0x30; MAX_CERT_LEN + 1];
        assert_eq!(store.verify(&[&huge], &id), Err(CertError::TooLarge));
        let many: Vec<&[u8]> = vec![&[0x30]; MAX_CHAIN_CERTS + 1];
        assert_eq!(
            store.verify(&many, &id),
            Err(CertError::TooManyCertificates)
        );
        assert!(TrustStore::new(&[], fixed_clock(0)).is_err());
        assert!(TrustStore::new(&[vec![1, 2, 3]], fixed_clock(0)).is_err());
    }
}
