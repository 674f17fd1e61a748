//! `ike-parent -n` runs `ike-net --check-config` on the parsed
//! configuration: a policy ike-net would leave out at run time (here: our
//! certificate does not hold our private key) fails the check, naming the
//! policy and the reason; a good configuration passes; ike-net fed garbage
//! says so and exits 1; a missing ike-net fails the check, never passes it.
//! Real binaries, real certificates (made with openssl).

mod common;
mod config_util;
mod openssl_util;

use common::bin_dir;
use config_util::{repo, TempDir};
use openssl_util::{ca_cert, ec_key, issue_cert};
use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `ike-parent -n -f CONF` with ike-net taken from the build directory.
fn check(conf: &Path) -> Output {
    check_with(&[], conf, bin_dir())
}

/// `ike-parent -n ARGS -f CONF --libexec LIBEXEC`.
fn check_with(args: &[&OsStr], conf: &Path, libexec: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ike-parent"))
        .arg("-n")
        .args(args)
        .arg("-f")
        .arg(conf)
        .arg("--libexec")
        .arg(libexec)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr)
}

/// In `dir`: ca.key/ca.crt (a CA), a.key with a.crt (SAN DNS:a.test,
/// issued by the CA) and other.key (a second P-256 key).
fn make_creds(dir: &Path) -> bool {
    ec_key(&dir.join("ca.key"))
        && ca_cert(&dir.join("ca.key"), "/CN=check ca", &dir.join("ca.crt"))
        && ec_key(&dir.join("a.key"))
        && ec_key(&dir.join("other.key"))
        && issue_cert(dir, "ca", "a", "/CN=a.test", "a.test")
}

const CERT_CONF: &str = "ikev2 \"lab\" active from 10.1.0.0/24 to 10.2.0.0/24 \
    local 10.77.0.1 peer 10.77.0.2 srcid a.test dstid b.test ecdsa256\n";

/// A configuration directory: ike.conf, private/local.key = `key`,
/// certs/a.test.crt, ca/ca.crt.
fn cert_dir(tag: &str, creds: &Path, key: &str) -> (TempDir, std::path::PathBuf) {
    let dir = TempDir::new(tag);
    let conf = dir.write("ike.conf", CERT_CONF, 0o644);
    let read = |f: &str| std::fs::read_to_string(creds.join(f)).unwrap();
    dir.write("private/local.key", &read(key), 0o600);
    dir.write("certs/a.test.crt", &read("a.crt"), 0o644);
    dir.write("ca/ca.crt", &read("ca.crt"), 0o644);
    (dir, conf)
}

#[test]
fn a_certificate_that_does_not_hold_our_key_fails_the_check() {
    let creds = TempDir::new("check-creds");
    if !make_creds(creds.path()) {
        eprintln!("skipped: needs the openssl command to make certificates");
        return;
    }
    // Matching key and certificate: OK.
    let (_good, conf) = cert_dir("check-good", creds.path(), "a.key");
    let o = check(&conf);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("configuration OK"), "{}", text(&o));

    // The parser alone accepts this one (DER framing is fine); ike-net
    // would leave the policy out, and -n must now say so.
    let (_bad, conf) = cert_dir("check-bad", creds.path(), "other.key");
    assert!(ike_parent::config::load(&conf).is_ok());
    let o = check(&conf);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(!t.contains("configuration OK"), "{t}");
    assert!(
        t.contains("ike-net would leave out 1 policy at run time"),
        "{t}"
    );
    assert!(t.contains("policy \"lab\": "), "{t}");
    assert!(t.contains("our certificate"), "{t}");
    // Where the policy is, as in the log line at run time.
    assert!(t.contains("ike.conf:1)"), "{t}");
}

/// The shipped PSK examples are usable as they are (the certificate and
/// public-key examples need key files, made in the test above).
#[test]
fn the_psk_examples_pass_the_check() {
    for name in [
        "loopback-a.conf",
        "loopback-b.conf",
        "roadwarrior.conf",
        "transport.conf",
    ] {
        let dir = TempDir::new("check-example");
        let text_in = std::fs::read_to_string(repo().join("etc/examples").join(name)).unwrap();
        let conf = dir.write("ike.conf", &text_in, 0o600);
        let o = check(&conf);
        assert!(o.status.success(), "{name}: {}", text(&o));
    }
}

/// A policy without srcid or local identifies as this host's name (an
/// FQDN), as iked does (iked.conf(5), srcid); it used to be left out
/// unless --listen named an address (issue 15).
#[test]
fn without_srcid_or_local_the_host_name_is_the_identity() {
    let dir = TempDir::new("check-hostname");
    let conf = dir.write(
        "ike.conf",
        "ikev2 \"p\" passive esp from 10.1.0.0/16 to 10.2.0.0/16 peer 192.0.2.2 psk \"k\"\n",
        0o600,
    );
    let o = check_with(&[OsStr::new("-v")], &conf, bin_dir());
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let host = nix::unistd::gethostname().unwrap();
    let host = host.to_str().unwrap().trim_end_matches('.');
    assert!(t.contains(&format!("srcid \"{host}\"")), "{t}");
}

#[test]
fn without_ike_net_the_check_fails_and_says_why() {
    let dir = TempDir::new("check-nonet");
    let conf = dir.write(
        "ike.conf",
        "ikev2 \"p\" passive esp from 10.1.0.0/16 to 10.2.0.0/16 peer 192.0.2.2 \
         srcid a.test psk \"k\"\n",
        0o600,
    );
    let o = check_with(&[], &conf, dir.path());
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("ike-net not found (see --libexec)"), "{t}");
    assert!(!t.contains("configuration OK"), "{t}");

    // Something that is not ike-net, whether it fails or claims success
    // without answering: a failed check, not a pass.
    for script in [
        "#!/bin/sh\nexit 3\n",
        "#!/bin/sh\nexit 0\n",
        "#!/bin/sh\necho OK\n",
    ] {
        let fake = dir.write("ike-net", script, 0o755);
        assert!(fake.is_file());
        let o = check_with(&[], &conf, dir.path());
        let t = text(&o);
        assert_eq!(o.status.code(), Some(1), "{script}: {t}");
        assert!(t.contains("--check-config failed"), "{script}: {t}");
        assert!(t.contains("no answer"), "{script}: {t}");
        assert!(!t.contains("configuration OK"), "{script}: {t}");
    }
}

/// Bytes that are not a request: an error on stderr, exit 1, no panic
/// (a panic would exit 101).
#[test]
fn ike_net_check_mode_refuses_garbage_without_panicking() {
    let inputs: [&[u8]; 4] = [
        b"",
        b"garbage that is no envelope",
        b"ik\x00\x02\x00\xff\xff\xff\xff\xff\xff\xff\xff\x0f",
        &[0u8; 70 * 1024],
    ];
    for input in inputs {
        let mut child = Command::new(bin_dir().join("ike-net"))
            .arg("--check-config")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The child may stop reading at its cap: a broken pipe is fine.
        let _ = child.stdin.take().unwrap().write_all(input);
        let o = child.wait_with_output().unwrap();
        let t = text(&o);
        assert_eq!(o.status.code(), Some(1), "{} bytes: {t}", input.len());
        assert!(
            t.contains("cannot decode the configuration on stdin"),
            "{t}"
        );
        assert!(!t.contains("panicked"), "{t}");
    }
}

/// As root, the check runs in the daemon's chroot as the daemon's user: an
/// existing chroot directory is checked as at start (a populated one
/// fails), a usable one is used.
#[test]
fn as_root_the_check_uses_the_daemon_chroot_and_user() {
    if !common::is_root() {
        eprintln!("skipped: needs root (CI runs as root)");
        return;
    }
    let dir = TempDir::new("check-chroot");
    let conf = dir.write(
        "ike.conf",
        "ikev2 \"p\" passive esp from 10.1.0.0/16 to 10.2.0.0/16 peer 192.0.2.2 \
         srcid a.test psk \"k\"\n",
        0o600,
    );
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let run = || {
        let privdrop = [
            OsStr::new("--user"),
            OsStr::new("nobody"),
            OsStr::new("--chroot"),
            empty.as_os_str(),
        ];
        check_with(&privdrop, &conf, bin_dir())
    };
    let o = run();
    assert!(o.status.success(), "{}", text(&o));
    dir.write("empty/planted", "x", 0o644);
    let o = run();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("is not empty"), "{t}");
}
