//! Certificates end to end: two complete daemons on 127.0.0.1 ("alice")
//! and 127.0.0.2 ("bob"), each with a `pfkey-sim` kernel, authenticate
//! with X.509 certificates from a CA made here with openssl, in iked's
//! layout (`ca/`, `certs/<srcid>.crt`, `private/local.key`, no `pubkeys/`).
//! Alice signs with RFC 4754 (`ecdsa256`), bob with RFC 7427; then bob
//! presents a certificate from a CA alice does not trust and is refused.

mod common;
#[macro_use]
mod e2e_util;
mod openssl_util;

use common::{free_ports, scratch};
use e2e_util::{Daemon, ALICE, BOB, LIMIT};
use openssl_util::{ca_cert, ec_key, issue_cert, openssl, s};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A self-signed CA (`NAME.key`, `NAME.crt` in `dir`).
fn make_ca(dir: &Path, name: &str) -> bool {
    let key = dir.join(format!("{name}.key"));
    ec_key(&key)
        && ca_cert(
            &key,
            &format!("/O=ike e2e/CN={name}"),
            &dir.join(format!("{name}.crt")),
        )
}

/// A 2048-bit RSA key as PKCS#1 PEM ("RSA PRIVATE KEY", as OpenIKED's
/// `ikectl ca` writes them) at `path`.
fn rsa_key(path: &Path) -> bool {
    openssl(&["genrsa", "-traditional", "-out", s(path), "2048"])
}

/// `FILE.key` and `FILE.crt`: a P-256 key and a certificate for `id`
/// (SAN DNS:id) issued by CA `ca`.
fn make_cert(dir: &Path, ca: &str, id: &str, file: &str) -> bool {
    make_cert_with(dir, ca, id, file, ec_key)
}

fn make_cert_with(dir: &Path, ca: &str, id: &str, file: &str, keygen: fn(&Path) -> bool) -> bool {
    keygen(&dir.join(format!("{file}.key")))
        && issue_cert(dir, ca, file, &format!("/O=ike e2e/CN={id}"), id)
}

fn copy(from: &Path, to: &Path, mode: u32) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// One side's directory: ike.conf, private/local.key, certs/<me>.crt and
/// the CA it trusts in ca/.
fn side(creds: &Path, me: &str, cert_of: &str, trusts: &str, conf: &str) -> PathBuf {
    let dir = scratch(me);
    std::fs::write(dir.join("ike.conf"), conf).unwrap();
    std::fs::set_permissions(dir.join("ike.conf"), std::fs::Permissions::from_mode(0o644)).unwrap();
    copy(
        &creds.join(format!("{cert_of}.key")),
        &dir.join("private/local.key"),
        0o600,
    );
    copy(
        &creds.join(format!("{cert_of}.crt")),
        &dir.join(format!("certs/{me}.crt")),
        0o644,
    );
    copy(
        &creds.join(format!("{trusts}.crt")),
        &dir.join("ca/ca.crt"),
        0o644,
    );
    dir
}

fn conf(
    me: &str,
    peer: &str,
    addr: &str,
    peer_addr: &str,
    method: &str,
    nets: (&str, &str),
) -> String {
    format!(
        "ikev2 \"tun\" passive esp tunnel from {} to {} local {addr} peer {peer_addr} \\\n\
         \tikesa enc aes-256-gcm prf hmac-sha2-256 group ecp256 \\\n\
         \tchildsa enc aes-256 auth hmac-sha2-512 \\\n\
         \tsrcid \"{me}\" dstid \"{peer}\" {method}\n",
        nets.0, nets.1
    )
}

/// A scratch directory holding CA `ca`; `None` (the test is skipped)
/// when not root or without the openssl command.
fn creds_with_ca(tag: &str) -> Option<PathBuf> {
    if !common::is_root() {
        eprintln!("skipped: needs root (CI runs as root)");
        return None;
    }
    let creds = scratch(tag);
    if !make_ca(&creds, "ca") {
        eprintln!("skipped: needs the openssl command to make certificates");
        return None;
    }
    Some(creds)
}

/// Alice's and bob's ike.conf for policy "tun", each signing with its
/// method.
fn confs(alice_method: &str, bob_method: &str) -> (String, String) {
    let nets = ("10.1.0.0/24", "10.2.0.0/24");
    let alice = conf("alice.test", "bob.test", ALICE, BOB, alice_method, nets);
    let bob = conf(
        "bob.test",
        "alice.test",
        BOB,
        ALICE,
        bob_method,
        (nets.1, nets.0),
    );
    (alice, bob)
}

/// Alice with her certificate, trusting CA `ca`.
fn start_alice(creds: &Path, conf: &str, ports: (u16, u16)) -> Daemon {
    let dir = side(creds, "alice.test", "alice.test", "ca", conf);
    Daemon::start_in("alice", ALICE, dir, ports)
}

/// Bob (`name` in the logs) presenting the certificate `cert_of`,
/// trusting CA `ca`.
fn start_bob(
    name: &'static str,
    creds: &Path,
    cert_of: &str,
    conf: &str,
    ports: (u16, u16),
) -> Daemon {
    let dir = side(creds, "bob.test", cert_of, "ca", conf);
    Daemon::start_in(name, BOB, dir, ports)
}

/// Bob initiates and alice refuses his certificate: she answers
/// AUTHENTICATION_FAILED, bob's attempt ends without an SA.
fn bob_is_refused(a: &mut Daemon, b: &Daemon) {
    b.ctl(&["up", "tun"]);
    let line = a.wait_log("peer certificate refused");
    assert!(line.contains("policy tun"), "{line}");
    std::thread::sleep(Duration::from_secs(1));
    assert!(!b.log().contains("up: policy tun"), "{}", b.log());
}

#[test]
fn certificate_tunnel_then_an_untrusted_ca_is_refused() {
    let Some(creds) = creds_with_ca("creds") else {
        return;
    };
    assert!(make_cert(&creds, "ca", "alice.test", "alice.test"));
    assert!(make_cert(&creds, "ca", "bob.test", "bob.test"));
    // The same name, from a CA alice does not trust.
    assert!(make_ca(&creds, "rogue"));
    assert!(make_cert(&creds, "rogue", "bob.test", "bob.rogue"));

    let (alice_conf, bob_conf) = confs("ecdsa256", "rfc7427");
    let ports = free_ports();
    let mut a = start_alice(&creds, &alice_conf, ports);
    let mut b = start_bob("bob", &creds, "bob.test", &bob_conf, ports);
    // Each worker says what it uses (no key material).
    let line = a.wait_log("policy tun: auth ours");
    assert!(line.contains("ecdsa256 (RFC 4754, method 9)"), "{line}");
    assert!(
        line.contains("certs/alice.test.crt (1 certificate(s))"),
        "{line}"
    );
    assert!(
        line.contains("peer certificate, checked against 1 CA(s)"),
        "{line}"
    );
    a.ctl(&["up", "tun"]);
    a.wait_log("up: policy tun");
    b.wait_log("up: policy tun");
    let sa = a.show_sa();
    assert_eq!(sa["ike_sas"][0]["peer_id"], "bob.test", "{sa}");
    let sa = b.show_sa();
    assert_eq!(sa["ike_sas"][0]["peer_id"], "alice.test", "{sa}");
    drop(b);

    // Bob again, now with the rogue CA's certificate for bob.test.
    let b = start_bob("bob-rogue", &creds, "bob.rogue", &bob_conf, ports);
    bob_is_refused(&mut a, &b);
    let sa = b.show_sa();
    let established = sa["ike_sas"]
        .as_array()
        .is_some_and(|v| v.iter().any(|s| s["peer_id"] == "alice.test"));
    assert!(!established, "{sa}");
    let _ = std::fs::remove_dir_all(&creds);
}

/// iked.conf's `rsa` with an RSA certificate whose key is PKCS#1 ("RSA
/// PRIVATE KEY"): alice answers, signing RFC 7427 sha256WithRSAEncryption;
/// bob validates her RSA certificate.
#[test]
fn rsa_certificate_with_a_pkcs1_key() {
    let Some(creds) = creds_with_ca("creds-rsa") else {
        return;
    };
    assert!(make_cert_with(
        &creds,
        "ca",
        "alice.test",
        "alice.test",
        rsa_key
    ));
    assert!(make_cert(&creds, "ca", "bob.test", "bob.test"));
    assert!(std::fs::read_to_string(creds.join("alice.test.key"))
        .unwrap()
        .starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    let (alice_conf, bob_conf) = confs("rsa", "rfc7427");
    let ports = free_ports();
    let mut a = start_alice(&creds, &alice_conf, ports);
    let mut b = start_bob("bob", &creds, "bob.test", &bob_conf, ports);
    let line = a.wait_log("policy tun: auth ours");
    assert!(line.contains("rsa (RFC 7427, method 14)"), "{line}");
    b.ctl(&["up", "tun"]);
    b.wait_log("up: policy tun");
    a.wait_log("up: policy tun");
    let line = b.wait_log("peer certificate validated:");
    assert!(line.contains("names FQDN alice.test"), "{line}");
    let line = a.wait_log("peer certificate validated:");
    assert!(line.contains("names FQDN bob.test"), "{line}");
    let _ = std::fs::remove_dir_all(&creds);
}

/// A reload reads ca/ again: after alice's trust anchor is replaced by
/// another CA, the policy counts as changed, so the IKE SA made with the
/// old anchor is deleted (on both sides), and a new negotiation from bob,
/// whose certificate was valid before, is refused.
#[test]
fn a_reload_applies_new_trust_anchors() {
    let Some(creds) = creds_with_ca("creds-reload") else {
        return;
    };
    assert!(make_cert(&creds, "ca", "alice.test", "alice.test"));
    assert!(make_cert(&creds, "ca", "bob.test", "bob.test"));
    assert!(make_ca(&creds, "other"));
    let (alice_conf, bob_conf) = confs("rfc7427", "rfc7427");
    let ports = free_ports();
    let mut a = start_alice(&creds, &alice_conf, ports);
    let mut b = start_bob("bob", &creds, "bob.test", &bob_conf, ports);
    b.ctl(&["up", "tun"]);
    a.wait_log("up: policy tun");
    b.wait_log("up: policy tun");

    copy(&creds.join("other.crt"), &a.dir.join("ca/ca.crt"), 0o644);
    a.ctl(&["reload"]);
    a.wait_log("configuration reloaded");
    assert!(!a.log().contains("peer certificate refused"));
    // The old IKE SA goes, on alice's side and (by her DELETE) on bob's.
    for d in [&a, &b] {
        let t0 = Instant::now();
        loop {
            let sa = d.show_sa();
            if sa["ike_sas"].as_array().is_none_or(|v| v.is_empty()) {
                break;
            }
            assert!(t0.elapsed() < LIMIT, "{}: tun still up: {sa}", d.name);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    drop(b);
    let b = start_bob("bob-again", &creds, "bob.test", &bob_conf, ports);
    bob_is_refused(&mut a, &b);
    let _ = std::fs::remove_dir_all(&creds);
}
