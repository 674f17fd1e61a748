//! What a reload changes (issue 6): policies are matched by name; one that
//! is unchanged keeps its SAs, a removed one has its SAs deleted, a changed
//! one is established again, a new one starts fresh.

use super::policy::{Auth, Policy};
use super::Config;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyChanges {
    pub unchanged: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    pub added: Vec<String>,
}

/// Compare by name. A public-key policy also counts as changed when the
/// material it authenticates with changed (our key or certificate, its
/// peer's key, or the trust anchors): its SAs were made with credentials
/// that are no longer configured.
pub fn policy_changes(old: &Config, new: &Config) -> PolicyChanges {
    let mut out = PolicyChanges::default();
    let local_key_changed = old.local_key != new.local_key;
    let cas_changed = old.ca_files != new.ca_files;
    for p in &new.policies {
        match old.policy(&p.name) {
            None => out.added.push(p.name.clone()),
            Some(before) => {
                let keys_changed = matches!(p.auth, Auth::PublicKey(_))
                    && (local_key_changed
                        || cas_changed
                        || peer_key(old, p) != peer_key(new, p)
                        || old.local_cert(p) != new.local_cert(p));
                if before.same_settings(p) && !keys_changed {
                    out.unchanged.push(p.name.clone());
                } else {
                    out.changed.push(p.name.clone());
                }
            }
        }
    }
    for p in &old.policies {
        if new.policy(&p.name).is_none() {
            out.removed.push(p.name.clone());
        }
    }
    out
}

fn peer_key<'c>(config: &'c Config, policy: &Policy) -> Option<&'c super::KeyMaterial> {
    let id = policy.peer_identity()?;
    config.peer_keys.iter().find(|k| k.id == id).map(|k| &k.key)
}

#[cfg(test)]
mod tests {
    use super::super::{Identity, KeyFormat, KeyMaterial, PeerKey, PublicKeyMethod, Secret};
    use super::*;

    fn config(policies: Vec<Policy>) -> Config {
        Config {
            policies,
            ..Config::default()
        }
    }

    #[test]
    fn by_name() {
        let a = Policy::new("a");
        let b = Policy::new("b");
        let mut c = Policy::new("c");
        let old = config(vec![a.clone(), b.clone(), c.clone()]);
        c.lifetime.seconds = 60;
        let mut moved = a.clone();
        moved.source = "elsewhere:99".into();
        let new = config(vec![moved, c, Policy::new("d")]);
        let changes = policy_changes(&old, &new);
        assert_eq!(changes.unchanged, vec!["a"]);
        assert_eq!(changes.changed, vec!["c"]);
        assert_eq!(changes.removed, vec!["b"]);
        assert_eq!(changes.added, vec!["d"]);
    }

    #[test]
    fn new_keys_change_public_key_policies_only() {
        let mut signed = Policy::new("signed");
        signed.auth = Auth::PublicKey(PublicKeyMethod::Rfc7427);
        signed.dstid = Some(Identity::Fqdn("peer.example".into()));
        let mut psk = Policy::new("psk");
        psk.auth = Auth::Psk(Secret::new(b"k".to_vec()));
        let key = |b: u8| KeyMaterial {
            format: KeyFormat::Spki,
            der: Secret::new(vec![b]),
        };
        let mut old = config(vec![signed.clone(), psk.clone()]);
        old.peer_keys.push(PeerKey {
            id: signed.dstid.clone().unwrap(),
            key: key(1),
        });
        let mut new = old.clone();
        assert_eq!(policy_changes(&old, &new).changed, Vec::<String>::new());
        new.peer_keys[0].key = key(2);
        let changes = policy_changes(&old, &new);
        assert_eq!(changes.changed, vec!["signed"]);
        assert_eq!(changes.unchanged, vec!["psk"]);
    }

    #[test]
    fn new_certificates_change_public_key_policies_only() {
        use super::super::{CertFile, LocalCert};
        let mut signed = Policy::new("signed");
        signed.auth = Auth::PublicKey(PublicKeyMethod::Rfc7427);
        signed.srcid = Some(Identity::Fqdn("a.test".into()));
        let mut psk = Policy::new("psk");
        psk.auth = Auth::Psk(Secret::new(b"k".to_vec()));
        let file = |path: &str, b: u8| CertFile {
            path: path.into(),
            ders: vec![vec![b]],
        };
        let old = config(vec![signed.clone(), psk.clone()]);
        let mut new = old.clone();
        new.ca_files.push(file("ca/ca.crt", 1));
        let changes = policy_changes(&old, &new);
        assert_eq!(changes.changed, vec!["signed"]);
        assert_eq!(changes.unchanged, vec!["psk"]);

        let old = new.clone();
        new.local_certs.push(LocalCert {
            id: Identity::Fqdn("other.test".into()),
            file: file("certs/other.test.crt", 2),
        });
        assert!(policy_changes(&old, &new).changed.is_empty());
        new.local_certs.push(LocalCert {
            id: Identity::Fqdn("a.test".into()),
            file: file("certs/a.test.crt", 3),
        });
        assert_eq!(policy_changes(&old, &new).changed, vec!["signed"]);
    }
}
