//! Ownership and mode checks on configuration and key files, and the
//! loading of keys in OpenIKED's layout.

mod config_util;

use config_util::TempDir;
use ike_ipc::config::{Auth, Identity, KeyFormat};
use ike_parent::config::{load, ErrorKind};
use std::os::unix::fs::PermissionsExt;

const PSK_CONF: &str = "ikev2 \"p\" passive from 10.0.0.0/8 to any psk \"secret\"\n";
const KEY_CONF: &str =
    "ikev2 \"k\" passive from 10.0.0.0/8 to any dstid peer.example.org rfc7427\n";
// Stand-in key files: the parser checks the PEM armour, not the key inside.
const PRIVATE_PEM: &str =
    "-----BEGIN PRIVATE KEY-----\nc2VjcmV0IGtleSBieXRlcw==\n-----END PRIVATE KEY-----\n";
const PUBLIC_PEM: &str =
    "-----BEGIN PUBLIC KEY-----\ncHVibGljIGtleSBieXRlcw==\n-----END PUBLIC KEY-----\n";

#[test]
fn a_psk_file_readable_by_others_is_refused() {
    let dir = TempDir::new("perm-psk");
    for mode in [0o600, 0o400] {
        let path = dir.write("ike.conf", PSK_CONF, mode);
        load(&path).unwrap_or_else(|e| panic!("mode {mode:o}: {e}"));
    }
    for mode in [0o640, 0o604, 0o644] {
        let path = dir.write("ike.conf", PSK_CONF, mode);
        let e = load(&path).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Permission, "mode {mode:o}: {e}");
        assert!(e.message.contains("pre-shared keys"), "{e}");
        assert!(e.message.contains(&format!("{mode:04o}")), "{e}");
        assert!(
            e.to_string().starts_with(&path.display().to_string()),
            "{e}"
        );
    }
}

#[test]
fn an_include_readable_by_others_is_refused_when_the_config_has_a_psk() {
    let dir = TempDir::new("perm-include");
    dir.write("nets.conf", "n = 10.0.0.0/8\n", 0o644);
    let main = dir.write(
        "ike.conf",
        &format!("include \"nets.conf\"\n{PSK_CONF}"),
        0o600,
    );
    let e = load(&main).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permission);
    assert!(e.to_string().contains("nets.conf"), "{e}");
    // Without secrets, a readable configuration is fine.
    dir.write(
        "pub.conf",
        "ikev2 passive from 10.0.0.0/8 to any dstid peer.example.org\n",
        0o644,
    );
    dir.write("private/local.key", PRIVATE_PEM, 0o600);
    dir.write("pubkeys/fqdn/peer.example.org", PUBLIC_PEM, 0o644);
    load(&dir.path().join("pub.conf")).unwrap();
}

#[test]
fn a_config_writable_by_others_is_refused_even_without_secrets() {
    let dir = TempDir::new("perm-write");
    let path = dir.write("ike.conf", "set passive\n", 0o600);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o622)).unwrap();
    let e = load(&path).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permission);
    assert!(e.message.contains("writable by group or others"), "{e}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660)).unwrap();
    assert_eq!(load(&path).unwrap_err().kind, ErrorKind::Permission);
}

#[test]
fn a_file_owned_by_another_user_is_refused() {
    if ike_ipc::config::secret::effective_uid() != 0 {
        return; // only root can give a file away
    }
    let dir = TempDir::new("perm-owner");
    let path = dir.write("ike.conf", "set passive\n", 0o600);
    std::os::unix::fs::chown(&path, Some(12345), None).unwrap();
    let e = load(&path).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permission);
    assert!(e.message.contains("uid 12345"), "{e}");
}

#[test]
fn not_a_regular_file() {
    let dir = TempDir::new("perm-dir");
    std::fs::create_dir(dir.path().join("ike.conf")).unwrap();
    let e = load(&dir.path().join("ike.conf")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Io);
    let e = load(&dir.path().join("absent.conf")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Io);
}

#[test]
fn keys_in_iked_layout_are_loaded() {
    let dir = TempDir::new("keys");
    let conf = dir.write("ike.conf", KEY_CONF, 0o644);
    dir.write("private/local.key", PRIVATE_PEM, 0o600);
    dir.write("pubkeys/fqdn/peer.example.org", PUBLIC_PEM, 0o644);
    dir.write("pubkeys/ipv4/192.0.2.7", PUBLIC_PEM, 0o644);
    dir.write("pubkeys/ufqdn/u@example.org", PUBLIC_PEM, 0o644);
    let c = load(&conf).unwrap();
    let key = c.local_key.as_ref().unwrap();
    assert_eq!(key.format, KeyFormat::Pkcs8);
    assert_eq!(key.der.expose(), b"secret key bytes");
    assert_eq!(c.peer_keys.len(), 3);
    let peer = c
        .peer_keys
        .iter()
        .find(|k| k.id == Identity::Fqdn("peer.example.org".into()));
    assert_eq!(peer.unwrap().key.der.expose(), b"public key bytes");
    assert!(c
        .peer_keys
        .iter()
        .any(|k| k.id == Identity::Ipv4("192.0.2.7".parse().unwrap())));
    assert!(matches!(c.policies[0].auth, Auth::PublicKey(_)));
    // The broker never sees them.
    let view = c.broker_view();
    assert!(view.local_key.is_none() && view.peer_keys.is_empty());
    // PSK-only configurations do not read key files at all.
    let psk = dir.write("psk.conf", PSK_CONF, 0o600);
    assert!(load(&psk).unwrap().local_key.is_none());
}

#[test]
fn key_file_problems_are_clear() {
    let dir = TempDir::new("keys-bad");
    let conf = dir.write("ike.conf", KEY_CONF, 0o644);
    // No local key.
    let e = load(&conf).unwrap_err();
    assert!(e.to_string().contains("private/local.key"), "{e}");
    assert!(e.message.contains("policy 'k'"), "{e}");
    // A readable private key.
    dir.write("private/local.key", PRIVATE_PEM, 0o640);
    let e = load(&conf).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permission, "{e}");
    assert!(e.message.contains("private key"), "{e}");
    dir.write("private/local.key", PRIVATE_PEM, 0o600);
    // The dstid's key is missing.
    let e = load(&conf).unwrap_err();
    assert!(
        e.to_string().contains("pubkeys/fqdn/peer.example.org"),
        "{e}"
    );
    // A private key where a public one belongs.
    dir.write("pubkeys/fqdn/peer.example.org", PRIVATE_PEM, 0o600);
    let e = load(&conf).unwrap_err();
    assert!(e.message.contains("holds a private key"), "{e}");
    // A file name that is not an identity of its directory's type.
    dir.write("pubkeys/fqdn/peer.example.org", PUBLIC_PEM, 0o644);
    dir.write("pubkeys/ipv4/not-an-address", PUBLIC_PEM, 0o644);
    let e = load(&conf).unwrap_err();
    assert!(e.message.contains("not an identity of type ipv4"), "{e}");
    std::fs::remove_file(dir.path().join("pubkeys/ipv4/not-an-address")).unwrap();
    // Not PEM.
    dir.write("private/local.key", "just text\n", 0o600);
    let e = load(&conf).unwrap_err();
    assert!(e.message.contains("PEM"), "{e}");
    dir.write("private/local.key", PRIVATE_PEM, 0o600);
    load(&conf).unwrap();
}

/// etc/examples/pubkey.conf as installed, with its keys beside it.
#[test]
fn the_pubkey_example_loads_with_its_keys() {
    let dir = TempDir::new("pubkey-example");
    let text =
        std::fs::read_to_string(config_util::repo().join("etc/examples/pubkey.conf")).unwrap();
    let conf = dir.write("ike.conf", &text, 0o644);
    dir.write("private/local.key", PRIVATE_PEM, 0o600);
    dir.write("pubkeys/fqdn/gw-b.example.org", PUBLIC_PEM, 0o644);
    let c = load(&conf).unwrap();
    assert_eq!(c.policies[0].flows.len(), 2);
    assert_eq!(c.peer_keys[0].id, Identity::Fqdn("gw-b.example.org".into()));
}
