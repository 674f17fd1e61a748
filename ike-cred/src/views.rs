//! What each process gets of the configuration's secrets.
//!
//! - ike-cred: the policies (their PSKs) and `private/local.key`, nothing
//!   else ([`cred_view`]);
//! - ike-net: everything but the secrets ([`net_view`]): each PSK is
//!   replaced by an empty one (the policy name is the key reference) and
//!   the private key by its public half, as SubjectPublicKeyInfo, which
//!   ike-net needs to pick a signature scheme and check our certificate.
//!
//! Both are built by the parent, which reads the files.

use ike_ipc::config::{Auth, Config, KeyFormat, KeyMaterial, Secret};
use ike_proto::crypto::SigningKey;
use ike_proto::engine::KeyStore;
use std::sync::Arc;

/// Reads `private/local.key` as the parent found it (PEM label -> format).
pub fn signing_key(key: &KeyMaterial) -> Result<SigningKey, String> {
    let rng = ring::rand::SystemRandom::new();
    // PKCS#8, SEC 1 (strongSwan's pki, openssl ecparam) or PKCS#1
    // (OpenIKED's ikectl ca).
    match key.format {
        KeyFormat::Pkcs8 => SigningKey::from_pkcs8_der(key.der.expose(), &rng),
        KeyFormat::Sec1 => SigningKey::from_sec1_der(key.der.expose(), &rng),
        KeyFormat::Pkcs1 => SigningKey::from_pkcs1_der(key.der.expose()),
        KeyFormat::Spki | KeyFormat::Pkcs1Public => {
            return Err("private/local.key holds a public key".into())
        }
    }
    .map_err(|e| format!("private/local.key: {e}"))
}

/// The configuration ike-cred gets: policies and our private key.
pub fn cred_view(config: &Config) -> Config {
    let mut view = config.clone();
    view.peer_keys.clear();
    view.ca_files.clear();
    view.local_certs.clear();
    view
}

/// The configuration ike-net gets: no PSK, our public key instead of the
/// private one. A private key that does not load is left out (ike-net then
/// refuses its public-key policies); the error is returned for the log.
pub fn net_view(config: &Config) -> (Config, Option<String>) {
    let mut view = config.clone();
    for policy in &mut view.policies {
        if let Auth::Psk(_) = policy.auth {
            policy.auth = Auth::Psk(Secret::redacted());
        }
    }
    let mut problem = None;
    view.local_key = match config.local_key.as_ref().map(signing_key) {
        None => None,
        Some(Ok(key)) => Some(KeyMaterial {
            format: KeyFormat::Spki,
            der: Secret::new(key.verifying_key().to_spki_der()),
        }),
        Some(Err(e)) => {
            problem = Some(e);
            None
        }
    };
    (view, problem)
}

/// The secrets of `config` by policy name. A policy whose secret cannot be
/// used (an empty PSK, an unreadable key) gets none: every request for it
/// is refused, and the reasons are returned for the log.
pub fn keystore(config: &Config) -> (KeyStore, Vec<String>) {
    let mut store = KeyStore::new();
    let mut problems = Vec::new();
    let key = config.local_key.as_ref().map(signing_key);
    let key = match key {
        Some(Ok(k)) => Some(Arc::new(k)),
        Some(Err(e)) => {
            problems.push(e);
            None
        }
        None => None,
    };
    for p in &config.policies {
        match &p.auth {
            Auth::Psk(s) if s.is_empty() => {
                problems.push(format!("policy {}: empty pre-shared key", p.name))
            }
            Auth::Psk(s) => store.add_psk(&p.name, s.expose()),
            Auth::PublicKey(_) => match &key {
                Some(k) => store.add_key(&p.name, k.clone()),
                None => problems.push(format!(
                    "policy {}: public-key authentication without a usable private/local.key",
                    p.name
                )),
            },
        }
    }
    (store, problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ike_ipc::config::{Policy, PublicKeyMethod};

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    /// ike-net's view, as sent (postcard), carries neither the PSK nor any
    /// byte string of the private key; ike-cred's view and store have them.
    #[test]
    fn ike_net_gets_no_secret_and_ike_cred_gets_them() {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &rng,
        )
        .unwrap();
        let mut psk = Policy::new("psk");
        psk.auth = Auth::Psk(Secret::new(b"a rather secret key".to_vec()));
        let mut signed = Policy::new("signed");
        signed.auth = Auth::PublicKey(PublicKeyMethod::Ecdsa256);
        let config = Config {
            policies: vec![psk, signed],
            local_key: Some(KeyMaterial {
                format: KeyFormat::Pkcs8,
                der: Secret::new(pkcs8.as_ref().to_vec()),
            }),
            ..Config::default()
        };
        let (net, problem) = net_view(&config);
        assert_eq!(problem, None);
        let bytes = postcard::to_stdvec(&net).unwrap();
        assert!(!contains(&bytes, b"a rather secret key"));
        // The private scalar: in the ECPrivateKey inside the PKCS#8
        // (RFC 5915 3: version 1, then privateKey OCTET STRING of 32 bytes).
        let der = pkcs8.as_ref();
        let at = der
            .windows(5)
            .position(|w| w == [0x02, 0x01, 0x01, 0x04, 0x20])
            .unwrap();
        let scalar = &der[at + 5..at + 37];
        assert!(contains(der, scalar));
        assert!(!contains(&bytes, scalar));
        let public = net.local_key.as_ref().unwrap();
        assert_eq!(public.format, KeyFormat::Spki);
        let key = signing_key(config.local_key.as_ref().unwrap()).unwrap();
        assert_eq!(
            ike_proto::crypto::VerifyingKey::from_spki_der(public.der.expose()),
            Ok(key.verifying_key())
        );

        let cred = postcard::to_stdvec(&cred_view(&config)).unwrap();
        assert!(contains(&cred, b"a rather secret key"));
        let (store, problems) = keystore(&config);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(store.len(), 2);
        // ike-net's view gives ike-cred nothing to serve.
        let (empty, problems) = keystore(&net);
        assert!(empty.is_empty());
        assert!(
            problems.iter().any(|p| p.contains("empty pre-shared key"))
                && problems.iter().any(|p| p.contains("holds a public key")),
            "{problems:?}"
        );
    }
}
