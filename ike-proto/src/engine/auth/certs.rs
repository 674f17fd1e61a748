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
    store.verify(&chain, &id.cert_identity())
}
