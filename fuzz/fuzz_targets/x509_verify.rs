//! Fuzz target: a peer's certificate chain (CERT payloads arrive before the
//! peer is authenticated), validated against the test CA of
//! ike-proto/tests/data/x509 and matched against each kind of identity; the
//! same bytes also go to the PEM reader and, as a would-be CA, to
//! `TrustStore::new` (the parent loads CA files from disk).
//!
//! Input: a chain of parts, each a 2-byte big-endian length and that many
//! bytes (end entity first); the last part may be short. A chain longer
//! than the engine's bound is cut at the bound plus one, so the
//! too-many-certificates path runs too.
#![no_main]

use ike_proto::crypto::x509::{
    certificates_from_pem, fixed_clock, CertIdentity, TrustStore, MAX_CHAIN_CERTS,
};
use libfuzzer_sys::fuzz_target;

static ROOT: &[u8] = include_bytes!("../../ike-proto/tests/data/x509/root.crt.der");
/// 2027-01-01, inside the test certificates' validity (2025-2125).
const NOW: u64 = 1_798_761_600;

fn parts(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while data.len() >= 2 && out.len() <= MAX_CHAIN_CERTS {
        let len = usize::from(u16::from_be_bytes([data[0], data[1]]));
        let rest = &data[2..];
        let take = len.min(rest.len());
        out.push(&rest[..take]);
        data = &rest[take..];
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let store = TrustStore::new(&[ROOT.to_vec()], fixed_clock(NOW)).expect("the test CA loads");
    let chain = parts(data);
    let ids = [
        CertIdentity::Fqdn(b"a.test"),
        CertIdentity::Email(b"alice@a.test"),
        CertIdentity::Ip("192.0.2.1".parse().expect("literal")),
        CertIdentity::Dn(&[0x30, 0x00]),
        CertIdentity::Other,
    ];
    for id in &ids {
        if let Ok(key) = store.verify(&chain, id) {
            // a key came out of a chain that validated: it must be usable
            let _ = key.verify_auth(14, b"octets", data);
        }
    }
    let _ = certificates_from_pem(data);
    let _ = TrustStore::new(&[data.to_vec()], fixed_clock(NOW));
});
