//! CERT and CERTREQ payloads in IKE_SA_INIT and IKE_AUTH (RFC 7296 3.6,
//! 3.7, 1.2): what we send, and the peer's certificate chain turned into
//! the key that verifies its AUTH.

use crate::crypto::x509::{CertError, CERTREQ_HASH_LEN, MAX_CHAIN_CERTS};
use crate::crypto::{TrustStore, VerifyingKey};
use crate::wire::cert::Certificate;
use crate::wire::consts::CertEncoding;
use crate::wire::id::Identification;
use crate::wire::Payload;

use super::super::config::{Identity, PeerAuth, Policy};

/// Most CERT payloads (of any encoding) we accept in one message: more
/// than a chain we would validate can only be an attempt to make us work.
const MAX_CERT_PAYLOADS: usize = MAX_CHAIN_CERTS;

/// Our CERT payloads (X.509 Certificate - Signature, encoding 4), end
/// entity first as RFC 7296 3.6 requires.
pub(crate) fn our_certs(policy: &Policy) -> impl Iterator<Item = Payload> + '_ {
    policy.local_certs.iter().map(|der| {
        Payload::Cert(Certificate {
            encoding: CertEncoding::X509_SIGNATURE,
            data: der.clone(),
        })
    })
}

/// One CERTREQ (encoding 4) listing the SHA-1 hashes of the trust anchors
/// of every policy here that authenticates its peer by certificate
/// (RFC 7296 3.7); `None` if there is none.
pub(crate) fn certreq<'a>(policies: impl Iterator<Item = &'a Policy>) -> Option<Payload> {
    let mut hashes: Vec<[u8; CERTREQ_HASH_LEN]> = Vec::new();
    for p in policies {
        if let PeerAuth::Certificate(store) = &p.peer_auth {
            for h in store.certreq_hashes() {
                if !hashes.contains(h) {
                    hashes.push(*h);
                }
            }
        }
    }
    if hashes.is_empty() {
        return None;
    }
    Some(Payload::CertReq(Certificate {
        encoding: CertEncoding::X509_SIGNATURE,
        data: hashes.concat(),
    }))
}

/// Validates the peer's X.509 CERT payloads against `store` and returns
/// the end entity's key, if the chain holds and names `peer_id`. Other
/// encodings are ignored (RFC 7296 3.6 lets us), but counted against the
/// bound.
pub(crate) fn peer_key(
    store: &TrustStore,
    payloads: &[Payload],
    peer_id: &Identification,
    policy: &str,
) -> Result<VerifyingKey, CertError> {
    let mut chain: Vec<&[u8]> = Vec::new();
    let mut seen = 0usize;
    for p in payloads {
        if let Payload::Cert(c) = p {
            seen += 1;
            if seen > MAX_CERT_PAYLOADS {
                return Err(CertError::TooManyCertificates);
            }
            if c.encoding == CertEncoding::X509_SIGNATURE {
                chain.push(&c.data);
            }
        }
    }
    let id = Identity {
        kind: peer_id.id_type,
        data: peer_id.data.clone(),
    };
    let key = store.verify(&chain, &id.cert_identity())?;
    log::info!(
        "policy {policy}: peer certificate validated: chain of {} to a trusted CA, names {}",
        chain.len(),
        id_text(peer_id)
    );
    Ok(key)
}

/// An identity for a log line: names and addresses as text, anything else
/// by type and length (peer bytes are never printed raw).
fn id_text(id: &Identification) -> String {
    use crate::wire::consts::IdType;
    let printable = |d: &[u8]| {
        d.iter()
            .map(|&b| {
                if b.is_ascii_graphic() {
                    char::from(b)
                } else {
                    '?'
                }
            })
            .collect::<String>()
    };
    match id.id_type {
        IdType::FQDN => format!("FQDN {}", printable(&id.data)),
        IdType::RFC822_ADDR => format!("RFC822 {}", printable(&id.data)),
        IdType::IPV4_ADDR | IdType::IPV6_ADDR => {
            let ip = match id.data.len() {
                4 => <[u8; 4]>::try_from(id.data.as_slice())
                    .ok()
                    .map(std::net::IpAddr::from),
                16 => <[u8; 16]>::try_from(id.data.as_slice())
                    .ok()
                    .map(std::net::IpAddr::from),
                _ => None,
            };
            ip.map_or_else(|| "bad address".to_string(), |a| format!("IP {a}"))
        }
        t => format!("ID type {} ({} bytes)", t.0, id.data.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::consts::IdType;

    fn id(t: IdType, d: &[u8]) -> Identification {
        Identification {
            id_type: t,
            data: d.to_vec(),
        }
    }

    #[test]
    fn log_text_of_identities_never_prints_raw_bytes() {
        assert_eq!(id_text(&id(IdType::FQDN, b"b.test")), "FQDN b.test");
        assert_eq!(id_text(&id(IdType::FQDN, b"a\nb\x1b")), "FQDN a?b?");
        assert_eq!(
            id_text(&id(IdType::IPV4_ADDR, &[192, 0, 2, 1])),
            "IP 192.0.2.1"
        );
        assert_eq!(id_text(&id(IdType::IPV6_ADDR, &[0; 3])), "bad address");
        assert_eq!(
            id_text(&id(IdType::DER_ASN1_DN, &[0x30, 0])),
            "ID type 9 (2 bytes)"
        );
    }

    #[test]
    fn no_certreq_without_certificate_peers() {
        let p = Policy::new(
            "x",
            "192.0.2.1".parse().unwrap(),
            "192.0.2.2".parse().unwrap(),
        );
        assert!(certreq(std::iter::once(&p)).is_none());
        assert_eq!(our_certs(&p).count(), 0);
    }
}
