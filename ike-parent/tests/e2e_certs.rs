//! Certificates end to end: two complete daemons on 127.0.0.1 ("alice")
//! and 127.0.0.2 ("bob"), each with a `pfkey-sim` kernel, authenticate
//! with X.509 certificates from a CA made here with openssl, in iked's
//! layout (`ca/`, `certs/<srcid>.crt`, `private/local.key`, no `pubkeys/`).
//! Alice signs with RFC 4754 (`ecdsa256`), bob with RFC 7427; then bob
//! presents a certificate from a CA alice does not trust and is refused.

mod common;

use common::{bin_dir, free_ports, is_root, scratch};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(30);
const ALICE: &str = "127.0.0.1";
const BOB: &str = "127.0.0.2";

struct Daemon {
    name: &'static str,
    dir: PathBuf,
    children: Vec<Child>,
}

impl Daemon {
    /// `dir` already holds ike.conf and its key and certificate files.
    fn start(name: &'static str, addr: &str, dir: PathBuf, ports: (u16, u16)) -> Daemon {
        let sim = Command::new(bin_dir().join("pfkey-sim"))
            .arg("serve")
            .arg("--socket")
            .arg(dir.join("pfkey.sock"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pfkey-sim");
        let t0 = Instant::now();
        while !dir.join("pfkey.sock").exists() {
            assert!(t0.elapsed() < LIMIT, "pfkey-sim for {name} did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        let parent = Command::new(env!("CARGO_BIN_EXE_ike-parent"))
            .arg("-d")
            .arg("-f")
            .arg(dir.join("ike.conf"))
            .arg("--pfkey")
            .arg(format!("unix:{}", dir.join("pfkey.sock").display()))
            .args(["--listen", addr])
            .args(["--port", &ports.0.to_string()])
            .args(["--natt-port", &ports.1.to_string()])
            .arg("--control")
            .arg(dir.join("ctl.sock"))
            .arg("--chroot")
            .arg(dir.join("empty"))
            .args(["--user", "nobody"])
            .arg("--libexec")
            .arg(bin_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("daemon.log")).unwrap())
            .spawn()
            .expect("start ike-parent");
        let d = Daemon {
            name,
            dir,
            children: vec![parent, sim],
        };
        d.wait_log("broker ready");
        d
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }

    fn wait_log(&self, needle: &str) -> String {
        let t0 = Instant::now();
        loop {
            if let Some(l) = self.log().lines().find(|l| l.contains(needle)) {
                return l.to_string();
            }
            assert!(
                t0.elapsed() < LIMIT,
                "{}: no '{needle}' in the log:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn ctl(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_ike-ctl"))
            .arg("-s")
            .arg(self.dir.join("ctl.sock"))
            .args(args)
            .output()
            .expect("run ike-ctl");
        assert!(
            out.status.success(),
            "{}: ike-ctl {args:?}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- {} log:\n{}", self.name, self.log());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs openssl; `false` when the command is not installed.
fn openssl(args: &[&str]) -> bool {
    match Command::new("openssl").args(args).output() {
        Ok(o) => {
            assert!(
                o.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            true
        }
        Err(_) => false,
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A P-256 key as PKCS#8 PEM at `path`.
fn ec_key(path: &Path) -> bool {
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        s(path),
    ])
}

/// A self-signed CA (`NAME.key`, `NAME.crt` in `dir`).
fn make_ca(dir: &Path, name: &str) -> bool {
    let key = dir.join(format!("{name}.key"));
    ec_key(&key)
        && openssl(&[
            "req",
            "-new",
            "-x509",
            "-key",
            s(&key),
            "-subj",
            &format!("/O=ike e2e/CN={name}"),
            "-days",
            "2",
            "-addext",
            "basicConstraints=critical,CA:true",
            "-addext",
            "keyUsage=critical,keyCertSign",
            "-out",
            s(&dir.join(format!("{name}.crt"))),
        ])
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
    let key = dir.join(format!("{file}.key"));
    let csr = dir.join(format!("{file}.csr"));
    let ext = dir.join(format!("{file}.ext"));
    std::fs::write(
        &ext,
        format!(
            "basicConstraints=CA:false\nkeyUsage=critical,digitalSignature\nsubjectAltName=DNS:{id}\n"
        ),
    )
    .unwrap();
    keygen(&key)
        && openssl(&[
            "req",
            "-new",
            "-key",
            s(&key),
            "-subj",
            &format!("/O=ike e2e/CN={id}"),
            "-out",
            s(&csr),
        ])
        && openssl(&[
            "x509",
            "-req",
            "-in",
            s(&csr),
            "-CA",
            s(&dir.join(format!("{ca}.crt"))),
            "-CAkey",
            s(&dir.join(format!("{ca}.key"))),
            "-CAcreateserial",
            "-days",
            "2",
            "-sha256",
            "-extfile",
            s(&ext),
            "-out",
            s(&dir.join(format!("{file}.crt"))),
        ])
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

#[test]
fn certificate_tunnel_then_an_untrusted_ca_is_refused() {
    if !is_root() {
        eprintln!("skipped: needs root (CI runs as root)");
        return;
    }
    let creds = scratch("creds");
    if !make_ca(&creds, "ca") {
        eprintln!("skipped: needs the openssl command to make certificates");
        return;
    }
    assert!(make_cert(&creds, "ca", "alice.test", "alice.test"));
    assert!(make_cert(&creds, "ca", "bob.test", "bob.test"));
    // The same name, from a CA alice does not trust.
    assert!(make_ca(&creds, "rogue"));
    assert!(make_cert(&creds, "rogue", "bob.test", "bob.rogue"));

    let nets = ("10.1.0.0/24", "10.2.0.0/24");
    let alice_conf = conf("alice.test", "bob.test", ALICE, BOB, "ecdsa256", nets);
    let bob_conf = conf(
        "bob.test",
        "alice.test",
        BOB,
        ALICE,
        "rfc7427",
        (nets.1, nets.0),
    );
    let ports = free_ports();
    let a = Daemon::start(
        "alice",
        ALICE,
        side(&creds, "alice.test", "alice.test", "ca", &alice_conf),
        ports,
    );
    let b = Daemon::start(
        "bob",
        BOB,
        side(&creds, "bob.test", "bob.test", "ca", &bob_conf),
        ports,
    );
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
    let sa: Value = serde_json::from_str(&a.ctl(&["show", "sa", "--json"])).unwrap();
    assert_eq!(sa["ike_sas"][0]["peer_id"], "bob.test", "{sa}");
    let sa: Value = serde_json::from_str(&b.ctl(&["show", "sa", "--json"])).unwrap();
    assert_eq!(sa["ike_sas"][0]["peer_id"], "alice.test", "{sa}");
    drop(b);

    // Bob again, now with the rogue CA's certificate for bob.test.
    let b = Daemon::start(
        "bob-rogue",
        BOB,
        side(&creds, "bob.test", "bob.rogue", "ca", &bob_conf),
        ports,
    );
    b.ctl(&["up", "tun"]);
    let line = a.wait_log("peer certificate refused");
    assert!(line.contains("policy tun"), "{line}");
    // Alice answered AUTHENTICATION_FAILED: bob's attempt ends, no SA.
    std::thread::sleep(Duration::from_secs(1));
    assert!(!b.log().contains("up: policy tun"), "{}", b.log());
    let sa: Value = serde_json::from_str(&b.ctl(&["show", "sa", "--json"])).unwrap();
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
    if !is_root() {
        eprintln!("skipped: needs root (CI runs as root)");
        return;
    }
    let creds = scratch("creds-rsa");
    if !make_ca(&creds, "ca") {
        eprintln!("skipped: needs the openssl command to make certificates");
        return;
    }
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
    let nets = ("10.1.0.0/24", "10.2.0.0/24");
    let alice_conf = conf("alice.test", "bob.test", ALICE, BOB, "rsa", nets);
    let bob_conf = conf(
        "bob.test",
        "alice.test",
        BOB,
        ALICE,
        "rfc7427",
        (nets.1, nets.0),
    );
    let ports = free_ports();
    let a = Daemon::start(
        "alice",
        ALICE,
        side(&creds, "alice.test", "alice.test", "ca", &alice_conf),
        ports,
    );
    let b = Daemon::start(
        "bob",
        BOB,
        side(&creds, "bob.test", "bob.test", "ca", &bob_conf),
        ports,
    );
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
    if !is_root() {
        eprintln!("skipped: needs root (CI runs as root)");
        return;
    }
    let creds = scratch("creds-reload");
    if !make_ca(&creds, "ca") {
        eprintln!("skipped: needs the openssl command to make certificates");
        return;
    }
    assert!(make_cert(&creds, "ca", "alice.test", "alice.test"));
    assert!(make_cert(&creds, "ca", "bob.test", "bob.test"));
    assert!(make_ca(&creds, "other"));
    let nets = ("10.1.0.0/24", "10.2.0.0/24");
    let alice_conf = conf("alice.test", "bob.test", ALICE, BOB, "rfc7427", nets);
    let bob_conf = conf(
        "bob.test",
        "alice.test",
        BOB,
        ALICE,
        "rfc7427",
        (nets.1, nets.0),
    );
    let ports = free_ports();
    let a = Daemon::start(
        "alice",
        ALICE,
        side(&creds, "alice.test", "alice.test", "ca", &alice_conf),
        ports,
    );
    let b = Daemon::start(
        "bob",
        BOB,
        side(&creds, "bob.test", "bob.test", "ca", &bob_conf),
        ports,
    );
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
            let sa: Value = serde_json::from_str(&d.ctl(&["show", "sa", "--json"])).unwrap();
            if sa["ike_sas"].as_array().is_none_or(|v| v.is_empty()) {
                break;
            }
            assert!(t0.elapsed() < LIMIT, "{}: tun still up: {sa}", d.name);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    drop(b);
    let b = Daemon::start(
        "bob-again",
        BOB,
        side(&creds, "bob.test", "bob.test", "ca", &bob_conf),
        ports,
    );
    b.ctl(&["up", "tun"]);
    let line = a.wait_log("peer certificate refused");
    assert!(line.contains("policy tun"), "{line}");
    std::thread::sleep(Duration::from_secs(1));
    assert!(!b.log().contains("up: policy tun"), "{}", b.log());
    let _ = std::fs::remove_dir_all(&creds);
}
