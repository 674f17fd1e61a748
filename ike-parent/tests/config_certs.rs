//! Certificates in OpenIKED's layout (`ca/`, `certs/<id>.crt`, `crls/`),
//! their permission checks and bounds, and how each public-key policy's
//! peer authentication is resolved.

mod config_util;

use config_util::TempDir;
use ike_ipc::config::{Identity, PeerAuthSource};
use ike_parent::config::{describe, load, ErrorKind};
use std::os::unix::fs::PermissionsExt;

// Stand-ins: the parser checks the armour and the DER framing, the engine
// the certificate inside. "MAIFAA==" is the DER 30 02 05 00, "MAA=" 30 00.
const PRIVATE_PEM: &str =
    "-----BEGIN PRIVATE KEY-----\nc2VjcmV0IGtleSBieXRlcw==\n-----END PRIVATE KEY-----\n";
const PUBLIC_PEM: &str =
    "-----BEGIN PUBLIC KEY-----\ncHVibGljIGtleSBieXRlcw==\n-----END PUBLIC KEY-----\n";
const CA_PEM: &str = "-----BEGIN CERTIFICATE-----\nMAIFAA==\n-----END CERTIFICATE-----\n";
const CHAIN_PEM: &str = "subject=CN=a.test\n\
    -----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n\
    subject=CN=intermediate\n\
    -----BEGIN CERTIFICATE-----\nMAIFAA==\n-----END CERTIFICATE-----\n";

const CERT_CONF: &str = "ikev2 \"lab\" active from 10.1.0.0/24 to 10.2.0.0/24 \
    local 10.77.0.1 peer 10.77.0.2 srcid a.test dstid b.test ecdsa256\n";

/// A configuration directory with our key, a CA and our certificate chain.
fn cert_dir(tag: &str) -> (TempDir, std::path::PathBuf) {
    let dir = TempDir::new(tag);
    let conf = dir.write("ike.conf", CERT_CONF, 0o644);
    dir.write("private/local.key", PRIVATE_PEM, 0o600);
    dir.write("ca/ca.crt", CA_PEM, 0o644);
    dir.write("certs/a.test.crt", CHAIN_PEM, 0o644);
    for sub in ["private", "ca", "certs"] {
        set_mode(&dir.path().join(sub), 0o755);
    }
    (dir, conf)
}

fn set_mode(path: &std::path::Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_policy_with_certificates_loads_ca_and_chain() {
    let (dir, conf) = cert_dir("certs-ok");
    // DER trust anchors too, several per PEM file.
    std::fs::write(dir.path().join("ca/second.der"), [0x30, 0]).unwrap();
    set_mode(&dir.path().join("ca/second.der"), 0o644);
    dir.write("ca/bundle.pem", &format!("{CA_PEM}{CA_PEM}"), 0o444);
    let c = load(&conf).unwrap();
    let p = &c.policies[0];
    assert_eq!(c.ca_files.len(), 3);
    assert_eq!(c.ca_ders().count(), 4);
    assert!(
        c.ca_files[0].path.ends_with("ca/bundle.pem"),
        "sorted by name"
    );
    assert_eq!(c.ca_files[2].ders, vec![vec![0x30, 0]]);
    let mine = c.local_cert(p).expect("our certificate");
    assert_eq!(mine.id, Identity::Fqdn("a.test".into()));
    assert_eq!(mine.file.ders, vec![vec![0x30, 0], vec![0x30, 2, 5, 0]]);
    assert!(mine.file.path.ends_with("certs/a.test.crt"));
    assert_eq!(c.peer_auth_source(p), Some(PeerAuthSource::Certificate));
    // The broker gets none of it.
    let view = c.broker_view();
    assert!(view.ca_files.is_empty() && view.local_certs.is_empty());
    assert!(view.local_key.is_none());
    // -n -v says what is used, from where.
    let text = describe(&c);
    assert!(
        text.contains("ECDSA P-256 with SHA-256 (RFC 4754, auth method 9)"),
        "{text}"
    );
    assert!(text.contains("with private/local.key"), "{text}");
    assert!(text.contains("certs/a.test.crt (2 in the chain)"), "{text}");
    assert!(
        text.contains("certificate for b.test, chain checked against 4 CA certificate(s)"),
        "{text}"
    );
    assert!(!text.contains("c2VjcmV0"), "no key material in the output");
    // The comment lines keep the output valid ike.conf.
    let again = ike_parent::config::parse_str("printed", &text, dir.path()).unwrap();
    assert_eq!(again.policies[0].auth, p.auth);
}

#[test]
fn a_raw_key_in_pubkeys_wins_over_the_ca() {
    let (dir, conf) = cert_dir("certs-rawkey");
    dir.write("pubkeys/fqdn/b.test", PUBLIC_PEM, 0o644);
    let c = load(&conf).unwrap();
    let p = &c.policies[0];
    match c.peer_auth_source(p) {
        Some(PeerAuthSource::PublicKey(k)) => assert_eq!(k.id, Identity::Fqdn("b.test".into())),
        other => panic!("{other:?}"),
    }
    let text = describe(&c);
    assert!(
        text.contains("raw public key pubkeys/fqdn/b.test"),
        "{text}"
    );
}

#[test]
fn without_our_certificate_we_use_the_raw_key() {
    let (dir, conf) = cert_dir("certs-nocert");
    std::fs::remove_file(dir.path().join("certs/a.test.crt")).unwrap();
    let c = load(&conf).unwrap();
    assert!(c.local_certs.is_empty());
    assert!(c.local_cert(&c.policies[0]).is_none());
    assert!(describe(&c).contains("no certificate (raw public key)"));
    // A certificate for another identity is not ours.
    dir.write("certs/other.test.crt", CHAIN_PEM, 0o644);
    assert!(load(&conf).unwrap().local_certs.is_empty());
    // Without srcid, certs/ is looked up by the local address.
    let by_addr = dir.write("addr.conf", &CERT_CONF.replace("srcid a.test ", ""), 0o644);
    dir.write("certs/10.77.0.1.crt", CA_PEM, 0o644);
    let c = load(&by_addr).unwrap();
    assert_eq!(
        c.local_certs[0].id,
        Identity::Ipv4("10.77.0.1".parse().unwrap())
    );
}

#[test]
fn neither_key_nor_ca_is_an_error_naming_the_policy() {
    let (dir, conf) = cert_dir("certs-missing");
    std::fs::remove_dir_all(dir.path().join("ca")).unwrap();
    let e = load(&conf).unwrap_err();
    assert!(e.message.contains("policy 'lab'"), "{e}");
    assert!(e.message.contains("public key of b.test"), "{e}");
    assert!(e.message.contains("CA certificate"), "{e}");
    assert!(e.to_string().contains("pubkeys/fqdn/b.test"), "{e}");
    // Without dstid, the peer's single address is its identity.
    let by_addr = dir.write("addr.conf", &CERT_CONF.replace("dstid b.test ", ""), 0o644);
    let e = load(&by_addr).unwrap_err();
    assert!(e.to_string().contains("pubkeys/ipv4/10.77.0.2"), "{e}");
    dir.write("pubkeys/ipv4/10.77.0.2", PUBLIC_PEM, 0o644);
    load(&by_addr).unwrap();
}

#[test]
fn writable_directories_and_readable_keys_are_refused_with_the_path() {
    let (dir, conf) = cert_dir("certs-perm");
    for sub in ["ca", "certs"] {
        let path = dir.path().join(sub);
        for mode in [0o777, 0o775, 0o757] {
            set_mode(&path, mode);
            let e = load(&conf).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Permission, "{sub} {mode:o}: {e}");
            assert_eq!(e.position(), path.display().to_string(), "{e}");
            assert!(e.message.contains("chmod go-w"), "{e}");
        }
        set_mode(&path, 0o755);
    }
    // A CA file others may write.
    let ca = dir.path().join("ca/ca.crt");
    set_mode(&ca, 0o666);
    let e = load(&conf).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permission, "{e}");
    assert_eq!(e.position(), ca.display().to_string());
    set_mode(&ca, 0o644);
    // Our private key readable by others.
    let key = dir.path().join("private/local.key");
    set_mode(&key, 0o644);
    let e = load(&conf).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permission, "{e}");
    assert_eq!(e.position(), key.display().to_string());
    set_mode(&key, 0o600);
    load(&conf).unwrap();
}

#[test]
fn crls_are_refused_as_unsupported() {
    let (dir, conf) = cert_dir("certs-crl");
    // An empty crls/ is fine: there is nothing we fail to check.
    std::fs::create_dir(dir.path().join("crls")).unwrap();
    load(&conf).unwrap();
    dir.write(
        "crls/ca.crl",
        "-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n",
        0o644,
    );
    let e = load(&conf).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unsupported, "{e}");
    assert_eq!(e.keyword.as_deref(), Some("crls/"));
    assert!(e.to_string().contains("crls"), "{e}");
    assert!(e.message.contains("revocation"), "{e}");
}

#[test]
fn bad_certificate_files_are_file_errors() {
    let (dir, conf) = cert_dir("certs-bad");
    let cases: &[(&str, &[u8], &str)] = &[
        ("ca/ca.crt", b"not a certificate\n", "no certificate"),
        (
            "ca/ca.crt",
            b"-----BEGIN CERTIFICATE-----\nMA!A\n-----END CERTIFICATE-----\n",
            "base64",
        ),
        (
            "ca/ca.crt",
            b"-----BEGIN CERTIFICATE-----\nMAIFAA==\n",
            "END",
        ),
        (
            "ca/ca.crt",
            b"-----BEGIN CERTIFICATE-----\nZm9v\n-----END CERTIFICATE-----\n",
            "DER",
        ),
        ("ca/ca.crt", &[0x30, 0x05, 0x01], "DER"),
        ("ca/ca.crt", &[0xff, 0xfe, 0x00], "neither PEM nor DER"),
        ("ca/ca.crt", PRIVATE_PEM.as_bytes(), "PRIVATE KEY"),
        ("certs/a.test.crt", b"", "no certificate"),
        ("certs/a.test.crt", PRIVATE_PEM.as_bytes(), "PRIVATE KEY"),
    ];
    for (name, bytes, what) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let e = load(&conf).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Invalid, "{name}: {e}");
        assert_eq!(e.position(), path.display().to_string(), "{e}");
        assert!(e.message.contains(what), "{name}: want '{what}': {e}");
        // Restore both.
        std::fs::write(dir.path().join("ca/ca.crt"), CA_PEM).unwrap();
        std::fs::write(dir.path().join("certs/a.test.crt"), CHAIN_PEM).unwrap();
    }
    // Something that is not a certificate file name in ca/.
    dir.write("ca/README", "notes\n", 0o644);
    let e = load(&conf).unwrap_err();
    assert!(e.to_string().contains("ca/README"), "{e}");
    std::fs::remove_file(dir.path().join("ca/README")).unwrap();
    load(&conf).unwrap();
}

#[test]
fn bounds_on_size_and_count() {
    let (dir, conf) = cert_dir("certs-bounds");
    // One file above the size limit.
    let big = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        "A".repeat(70 * 1024)
    );
    dir.write("ca/big.crt", &big, 0o644);
    let e = load(&conf).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit, "{e}");
    assert!(e.to_string().contains("big.crt"), "{e}");
    std::fs::remove_file(dir.path().join("ca/big.crt")).unwrap();
    // Too many CA certificates.
    dir.write("ca/many.pem", &CA_PEM.repeat(65), 0o644);
    let e = load(&conf).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit, "{e}");
    std::fs::remove_file(dir.path().join("ca/many.pem")).unwrap();
    // Too many files in ca/.
    for i in 0..65 {
        dir.write(&format!("ca/{i}.crt"), CA_PEM, 0o644);
    }
    let e = load(&conf).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit, "{e}");
    for i in 0..65 {
        std::fs::remove_file(dir.path().join(format!("ca/{i}.crt"))).unwrap();
    }
    // A chain longer than we send.
    dir.write("certs/a.test.crt", &CA_PEM.repeat(9), 0o644);
    let e = load(&conf).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit, "{e}");
    // All certificates together must fit the IPC message.
    dir.write("certs/a.test.crt", CHAIN_PEM, 0o644);
    let der_30k = {
        let mut d = vec![0x30, 0x82, 0x75, 0x30];
        d.resize(4 + 0x7530, 0);
        d
    };
    std::fs::write(dir.path().join("ca/x.der"), &der_30k).unwrap();
    std::fs::write(dir.path().join("ca/y.der"), &der_30k).unwrap();
    let e = load(&conf).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit, "{e}");
    assert!(e.message.contains("together"), "{e}");
}

#[test]
fn psk_policies_read_no_certificates() {
    let (dir, _) = cert_dir("certs-psk");
    let psk = dir.write(
        "psk.conf",
        "ikev2 p passive from 10.0.0.0/8 to any psk \"secret\"\n",
        0o600,
    );
    // Even a crls/ directory does not matter without public-key policies.
    dir.write("crls/x.crl", "x", 0o644);
    let c = load(&psk).unwrap();
    assert!(c.ca_files.is_empty() && c.local_certs.is_empty());
    assert!(describe(&c).contains("# auth: pre-shared key"));
}

/// etc/examples/certs.conf as installed, with its files beside it.
#[test]
fn the_certs_example_loads_with_its_files() {
    let dir = TempDir::new("certs-example");
    let text =
        std::fs::read_to_string(config_util::repo().join("etc/examples/certs.conf")).unwrap();
    let conf = dir.write("ike.conf", &text, 0o644);
    dir.write("private/local.key", PRIVATE_PEM, 0o600);
    dir.write("ca/ca.crt", CA_PEM, 0o644);
    dir.write("certs/gw-a.example.org.crt", CHAIN_PEM, 0o644);
    let c = load(&conf).unwrap();
    assert_eq!(c.local_certs.len(), 1);
    for p in &c.policies {
        assert_eq!(
            c.peer_auth_source(p),
            Some(PeerAuthSource::Certificate),
            "{}",
            p.name
        );
    }
}
