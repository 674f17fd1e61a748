//! Certificates and how each public-key policy authenticates (issue 6).
//!
//! The parent reads OpenIKED's layout next to the configuration (`ca/`,
//! `certs/<id>.crt`, `pubkeys/`) and checks only the files' shape (PEM or
//! DER armour, sizes, permissions); ike-net hands the DER bytes to the
//! engine, which parses and validates them. Resolution rules live here, in
//! one place, so that the parser's checks, `ike-parent -n -v` and ike-net
//! agree on what a policy uses.

use super::identity::Identity;
use super::policy::{Auth, Policy};
use super::{Config, PeerKey};
use serde::{Deserialize, Serialize};

/// The certificates of one file, DER encoded, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertFile {
    /// The path as read, for messages and `ike-parent -n -v`.
    pub path: String,
    /// At least one certificate (the parser refuses empty files).
    pub ders: Vec<Vec<u8>>,
}

/// Our certificate for one local identity, from `certs/<id>.crt`: the
/// end-entity certificate first, then any intermediates (RFC 7296 3.6
/// sends them in that order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalCert {
    pub id: Identity,
    pub file: CertFile,
}

/// How the peer of a public-key policy proves itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerAuthSource<'c> {
    /// A raw public key from `pubkeys/<type>/<peer id>`: it wins over
    /// certificates, as in OpenIKED (an admin who pinned a key meant it).
    PublicKey(&'c PeerKey),
    /// A certificate sent by the peer, validated against `ca/`.
    Certificate,
    /// The peer's identity is known but there is neither its key nor a CA.
    Missing(Identity),
    /// No `dstid` and no single peer address, and no CA: nothing to look up.
    Unknown,
}

impl Policy {
    /// The identity we claim: `srcid`, else our `local` address. (ike-net
    /// may still fall back to the listening address; certificates are
    /// looked up only by these two.)
    pub fn local_identity(&self) -> Option<Identity> {
        self.srcid
            .clone()
            .or_else(|| self.local.map(Identity::from))
    }

    /// The identity the peer must prove: `dstid`, else the `peer` address
    /// when it is a single host.
    pub fn peer_identity(&self) -> Option<Identity> {
        self.dstid.clone().or_else(|| {
            self.peer
                .filter(|n| n.is_host())
                .map(|n| Identity::from(n.addr))
        })
    }
}

impl Config {
    /// Every trust anchor from `ca/`, DER.
    pub fn ca_ders(&self) -> impl Iterator<Item = &[u8]> {
        self.ca_files
            .iter()
            .flat_map(|f| f.ders.iter().map(Vec::as_slice))
    }

    /// Whether any trust anchor is configured.
    pub fn has_cas(&self) -> bool {
        self.ca_files.iter().any(|f| !f.ders.is_empty())
    }

    /// Where the peer's proof is checked against; `None` for PSK policies.
    pub fn peer_auth_source(&self, policy: &Policy) -> Option<PeerAuthSource<'_>> {
        if !matches!(policy.auth, Auth::PublicKey(_)) {
            return None;
        }
        let id = policy.peer_identity();
        let key = id
            .as_ref()
            .and_then(|id| self.peer_keys.iter().find(|k| &k.id == id));
        Some(match (key, id) {
            (Some(key), _) => PeerAuthSource::PublicKey(key),
            (None, _) if self.has_cas() => PeerAuthSource::Certificate,
            (None, Some(id)) => PeerAuthSource::Missing(id),
            (None, None) => PeerAuthSource::Unknown,
        })
    }

    /// Our certificate chain for a public-key policy, if `certs/` holds one
    /// for its local identity; without one we sign with the raw key.
    pub fn local_cert(&self, policy: &Policy) -> Option<&LocalCert> {
        if !matches!(policy.auth, Auth::PublicKey(_)) {
            return None;
        }
        let id = policy.local_identity()?;
        self.local_certs.iter().find(|c| c.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{IpNet, KeyFormat, KeyMaterial, PublicKeyMethod, Secret};
    use super::*;

    fn signed(name: &str) -> Policy {
        let mut p = Policy::new(name);
        p.auth = Auth::PublicKey(PublicKeyMethod::Rfc7427);
        p
    }

    fn cert_file(path: &str, der: u8) -> CertFile {
        CertFile {
            path: path.into(),
            ders: vec![vec![0x30, 1, der]],
        }
    }

    #[test]
    fn identities_fall_back_to_addresses() {
        let mut p = signed("p");
        assert_eq!(p.local_identity(), None);
        assert_eq!(p.peer_identity(), None);
        p.local = Some("192.0.2.1".parse().unwrap());
        p.peer = Some(IpNet::new("198.51.100.0".parse().unwrap(), 24).unwrap());
        assert_eq!(
            p.local_identity(),
            Some(Identity::Ipv4("192.0.2.1".parse().unwrap()))
        );
        assert_eq!(p.peer_identity(), None, "a prefix is not an identity");
        p.peer = Some(IpNet::host("198.51.100.7".parse().unwrap()));
        assert_eq!(
            p.peer_identity(),
            Some(Identity::Ipv4("198.51.100.7".parse().unwrap()))
        );
        p.srcid = Some(Identity::Fqdn("a.test".into()));
        p.dstid = Some(Identity::Fqdn("b.test".into()));
        assert_eq!(p.local_identity(), Some(Identity::Fqdn("a.test".into())));
        assert_eq!(p.peer_identity(), Some(Identity::Fqdn("b.test".into())));
    }

    #[test]
    fn raw_key_then_certificate_then_missing() {
        let mut p = signed("p");
        p.dstid = Some(Identity::Fqdn("b.test".into()));
        let mut config = Config::default();
        assert_eq!(
            config.peer_auth_source(&p),
            Some(PeerAuthSource::Missing(Identity::Fqdn("b.test".into())))
        );
        config.ca_files.push(cert_file("ca/ca.crt", 1));
        assert_eq!(
            config.peer_auth_source(&p),
            Some(PeerAuthSource::Certificate)
        );
        config.peer_keys.push(PeerKey {
            id: Identity::Fqdn("b.test".into()),
            key: KeyMaterial {
                format: KeyFormat::Spki,
                der: Secret::new(vec![9]),
            },
        });
        assert!(matches!(
            config.peer_auth_source(&p),
            Some(PeerAuthSource::PublicKey(k)) if k.key.der.expose() == [9]
        ));
        let mut psk = Policy::new("psk");
        psk.auth = Auth::Psk(Secret::new(b"k".to_vec()));
        assert_eq!(config.peer_auth_source(&psk), None);
        let anonymous = signed("any");
        assert_eq!(
            config.peer_auth_source(&anonymous),
            Some(PeerAuthSource::Certificate)
        );
        assert_eq!(
            Config::default().peer_auth_source(&anonymous),
            Some(PeerAuthSource::Unknown)
        );
    }

    #[test]
    fn local_certificate_by_srcid() {
        let mut p = signed("p");
        p.srcid = Some(Identity::Fqdn("a.test".into()));
        let mut config = Config::default();
        assert!(config.local_cert(&p).is_none());
        config.local_certs.push(LocalCert {
            id: Identity::Fqdn("other.test".into()),
            file: cert_file("certs/other.test.crt", 2),
        });
        assert!(config.local_cert(&p).is_none());
        config.local_certs.push(LocalCert {
            id: Identity::Fqdn("a.test".into()),
            file: cert_file("certs/a.test.crt", 3),
        });
        assert_eq!(config.local_cert(&p).unwrap().file.path, "certs/a.test.crt");
        config.ca_files.push(cert_file("ca/x.pem", 4));
        config.ca_files.push(cert_file("ca/y.pem", 5));
        let cas: Vec<&[u8]> = config.ca_ders().collect();
        assert_eq!(cas, vec![&[0x30, 1, 4][..], &[0x30, 1, 5][..]]);
    }
}
