//! Every example shipped in etc/ and every example in the manual page parses.

mod config_util;

use config_util::{repo, TempDir};
use ike_ipc::config::{Auth, Encapsulation, PolicyMode};
use ike_parent::config::{describe, load, parse_str, ErrorKind};
use std::path::Path;

fn example_files() -> Vec<std::path::PathBuf> {
    let mut files = vec![repo().join("etc/ike.conf")];
    for entry in std::fs::read_dir(repo().join("etc/examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "conf") {
            files.push(path);
        }
    }
    files.sort();
    files
}

#[test]
fn every_etc_example_parses() {
    let files = example_files();
    assert!(files.len() >= 6, "examples missing: {files:?}");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let config = parse_str(&path.display().to_string(), &text, path.parent().unwrap())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !config.policies.is_empty(),
            "{} has no policies",
            path.display()
        );
    }
}

#[test]
fn the_main_example_means_what_it_says() {
    let text = std::fs::read_to_string(repo().join("etc/ike.conf")).unwrap();
    let config = parse_str("ike.conf", &text, Path::new("/")).unwrap();
    let site = config.policy("site-b").unwrap();
    assert_eq!(site.mode, PolicyMode::Active);
    assert_eq!(site.encapsulation, Encapsulation::Tunnel);
    assert_eq!(site.peer.unwrap().to_string(), "198.51.100.1/32");
    assert_eq!(site.local.unwrap().to_string(), "192.0.2.1");
    assert_eq!(site.flows[0].src.to_string(), "10.1.0.0/16");
    assert_eq!(site.lifetime.seconds, 3600);
    assert_eq!(site.lifetime.bytes, 4 << 30);
    assert_eq!(site.ike_lifetime_seconds, 86_400);
    match &site.auth {
        Auth::Psk(s) => assert_eq!(s.expose(), b"change this to a long random secret"),
        other => panic!("{other:?}"),
    }
    let branches = config.policy("branches").unwrap();
    assert_eq!(branches.ike_proposals.len(), 2);
    assert!(config.global.fragmentation);
}

/// The files as they would be installed: mode 0600 in a directory of their own.
#[test]
fn examples_load_from_disk_with_private_modes() {
    for path in example_files() {
        if path.ends_with("pubkey.conf") || path.ends_with("certs.conf") {
            // need keys and certificates beside them: see
            // config_permissions.rs and config_certs.rs
            continue;
        }
        let dir = TempDir::new("example");
        let text = std::fs::read_to_string(&path).unwrap();
        let installed = dir.write("ike.conf", &text, 0o600);
        load(&installed).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // The same file readable by others is refused: it holds a PSK.
        let open = dir.write("open.conf", &text, 0o644);
        let e = load(&open).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Permission, "{e}");
    }
}

/// Examples in ike.conf.5 are between `.Bd -literal` and `.Ed`; those
/// that are whole configurations are marked by a comment line `.\" example`
/// just before `.Bd`.
#[test]
fn every_manual_example_parses() {
    let page = std::fs::read_to_string(repo().join("man/ike.conf.5")).unwrap();
    let mut examples = Vec::new();
    let mut lines = page.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == ".\\\" example" {
            assert!(lines.next().unwrap().starts_with(".Bd -literal"));
            let mut text = String::new();
            for l in lines.by_ref() {
                if l.starts_with(".Ed") {
                    break;
                }
                // Undo the roff escapes used in examples.
                text.push_str(&l.replace("\\e", "\\").replace("\\&", ""));
                text.push('\n');
            }
            examples.push(text);
        }
    }
    assert!(
        examples.len() >= 5,
        "only {} examples found in ike.conf.5",
        examples.len()
    );
    for text in examples {
        parse_str("ike.conf.5", &text, Path::new("/"))
            .unwrap_or_else(|e| panic!("{e}\n--- example ---\n{text}"));
    }
}

/// `describe` (ike-parent -n -v) prints something that parses back to the
/// same policies (the PSK is redacted, so it compares all else).
#[test]
fn describe_output_parses_back_to_the_same_policies() {
    for path in example_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        let config = parse_str("x", &text, Path::new("/")).unwrap();
        let printed = describe(&config);
        let mut again = parse_str("printed", &printed, Path::new("/"))
            .unwrap_or_else(|e| panic!("{e}\n{printed}"));
        assert!(!printed.contains("long random secret"));
        for (a, b) in again.policies.iter_mut().zip(&config.policies) {
            if matches!(b.auth, Auth::Psk(_)) {
                a.auth = b.auth.clone();
            }
            a.source = b.source.clone();
        }
        assert_eq!(again.policies, config.policies, "{}", path.display());
        assert_eq!(again.global, config.global);
    }
}

/// The shape tests/interop/ours.sh writes for the strongSwan scenarios
/// (iked.conf grammar, keywords in iked's order).
#[test]
fn interop_scenario_shapes_parse() {
    let tunnel = r#"# iked.conf for side a of scenario psk-ecp256-modp2048
set dpd_check_interval 5
ikev2 "lab" active tunnel esp \
	from 10.1.0.0/24 to 10.2.0.0/24 \
	local 10.77.0.1 peer 10.77.0.2 \
	ikesa enc aes-128 auth hmac-sha2-256 prf hmac-sha2-256 group ecp256 group modp2048 \
	childsa enc aes-256 auth hmac-sha2-512 \
	srcid a.test dstid b.test \
	ikelifetime 80 \
	lifetime 40 \
	psk "interop-lab-pre-shared-key"
"#;
    let c = parse_str("a.conf", tunnel, Path::new("/")).unwrap();
    let p = &c.policies[0];
    assert_eq!(c.global.dpd_check_interval, 5);
    assert_eq!((p.ike_lifetime_seconds, p.lifetime.seconds), (80, 40));
    assert_eq!(p.ike_proposals[0].groups.len(), 2);
    let transport = tunnel
        .replace("active tunnel esp", "passive transport esp")
        .replace(
            "from 10.1.0.0/24 to 10.2.0.0/24",
            "from 10.77.0.1 to 10.77.0.2",
        );
    let c = parse_str("b.conf", &transport, Path::new("/")).unwrap();
    assert_eq!(c.policies[0].encapsulation, Encapsulation::Transport);
    let pubkey = tunnel.replace("psk \"interop-lab-pre-shared-key\"", "rfc7427");
    let c = parse_str("c.conf", &pubkey, Path::new("/")).unwrap();
    assert!(matches!(c.policies[0].auth, Auth::PublicKey(_)));
}
