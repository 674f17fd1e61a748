//! What the grammar means: macros, includes, continuations, set options,
//! flows, defaults, and policy selection by iked's rules.

mod config_util;

use config_util::{err, ok, TempDir};
use ike_ipc::config::{
    select_policy, DhGroup, Encapsulation, Encryption, Esn, GlobalMode, Identity, Integrity,
    IpsecProtocol, PolicyMode, PolicyQuery, Prf,
};
use ike_parent::config::{load, ErrorKind, MAX_INCLUDE_DEPTH};
use std::net::IpAddr;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn macros_expand_to_tokens_and_concatenate() {
    let c = ok(r#"
nets = "{ 10.1.0.0/16, 10.2.0.0/16 }"
gw = 192.0.2.1
algs = "enc aes-256-gcm" "group curve25519"
ikev2 "m" passive esp from $nets to any peer $gw ikesa $algs
"#);
    let p = &c.policies[0];
    assert_eq!(p.flows.len(), 2);
    assert_eq!(p.flows[1].src.to_string(), "10.2.0.0/16");
    assert_eq!(p.flows[1].dst.to_string(), "0.0.0.0/0");
    assert_eq!(p.peer.unwrap().addr, ip("192.0.2.1"));
    assert_eq!(p.ike_proposals[0].encryption, vec![Encryption::Aes256Gcm16]);
    assert_eq!(p.ike_proposals[0].groups, vec![DhGroup::Curve25519]);
    // Quoted text is not expanded.
    let c = ok("a = \"x\"\nikev2 \"$a\" passive from 10.0.0.0/8 to any\n");
    assert_eq!(c.policies[0].name, "$a");
    // A macro may be redefined; the later value applies from then on.
    let c = ok("n = 10.0.0.0/8\nn = 10.9.0.0/16\nikev2 passive from $n to any\n");
    assert_eq!(c.policies[0].flows[0].src.to_string(), "10.9.0.0/16");
}

#[test]
fn comments_and_continuations() {
    let c =
        ok("# comment\nikev2 \"c\" passive \\\n  esp \\\n\tfrom 10.0.0.0/8 to any # trailing\n\n");
    assert_eq!(c.policies.len(), 1);
    assert_eq!(c.policies[0].source, "test.conf:2");
    // CR-LF files work too.
    let c = ok("ikev2 \"c\" passive \\\r\n  from 10.0.0.0/8 to any\r\n");
    assert_eq!(c.policies[0].name, "c");
}

#[test]
fn set_options() {
    let c = ok(r#"
set passive
set fragmentation
set dpd_check_interval 2m
set cookie-threshold 10
set half-open-limit 100
set half-open-per-source 5
set half-open-per-prefix 50
set initiate-limit 16
set user "_ikeuser"
set chroot "/var/empty/ike"
set flush-on-start yes
set delete-on-exit no
set nomobike
set couple
"#);
    let g = &c.global;
    assert_eq!(g.mode, GlobalMode::Passive);
    assert!(g.fragmentation);
    assert_eq!(g.dpd_check_interval, 120);
    assert_eq!((g.cookie_threshold, g.half_open_limit), (10, 100));
    assert_eq!((g.half_open_per_source, g.half_open_per_prefix), (5, 50));
    assert_eq!(g.initiate_limit, 16);
    let d = ok("").global;
    assert_eq!(d.initiate_limit, ike_ipc::config::DEFAULT_INITIATE_LIMIT);
    assert_eq!((d.half_open_per_source, d.half_open_per_prefix), (32, 256));
    assert_eq!(g.user.as_deref(), Some("_ikeuser"));
    assert_eq!(g.chroot.as_deref(), Some("/var/empty/ike"));
    assert_eq!(ok("").global.user, None);
    assert!(g.flush_on_start && !g.delete_on_exit);
    assert!(c.policies.is_empty());
    // MOBIKE (RFC 4555): on unless `set nomobike`, as in iked.
    assert!(!g.mobike);
    assert!(ok("").global.mobike);
    assert!(ok("set nomobike\nset mobike\n").global.mobike);
}

/// `set window N`: the RFC 7296 2.3 window we announce, 1 by default,
/// at most the engine's 32; outside that range an error naming it.
#[test]
fn set_window_and_its_range() {
    assert_eq!(ok("").global.window, 1);
    assert_eq!(ok("set window 4\n").global.window, 4);
    assert_eq!(ok("set window 1\n").global.window, 1);
    assert_eq!(ok("set window 32\n").global.window, 32);
    for bad in ["0", "33", "-1", "many"] {
        let e = err(&format!("set window {bad}\n"), ErrorKind::Invalid, 1, 12);
        if bad == "0" || bad == "33" {
            assert!(e.to_string().contains("(1..32)"), "{e}");
        }
    }
    // Printed back by `ike-parent -n -v`, and that parses to the same.
    let c = ok("set window 7\n");
    let text = ike_parent::config::describe(&c);
    assert!(text.contains("set window 7\n"), "{text}");
    assert_eq!(ok(&text).global.window, 7);
}

#[test]
fn a_full_policy_and_its_defaults() {
    let c = ok(r#"
ikev2 "full" quick active ah transport inet6 proto udp \
    from 2001:db8::1 port 500 to 2001:db8::2 port isakmp \
    ikesa enc aes-128 auth hmac-sha2-512 prf sha2-384 group grp19 \
    childsa auth hmac-sha2-256 group ecp384 esn noesn \
    srcid u@a.example dstid 2001:db8::2 \
    ikelifetime 1d lifetime 30m bytes 100M rfc7427
"#);
    let p = &c.policies[0];
    assert!(p.quick);
    assert_eq!(p.mode, PolicyMode::Active);
    assert_eq!(p.protocol, IpsecProtocol::Ah);
    assert_eq!(p.encapsulation, Encapsulation::Transport);
    // Transport mode: the flow's hosts are the peers.
    assert_eq!(p.peer.unwrap().addr, ip("2001:db8::2"));
    assert_eq!(p.local, Some(ip("2001:db8::1")));
    assert_eq!(p.flows[0].proto, Some(17));
    assert_eq!(
        (p.flows[0].src_port, p.flows[0].dst_port),
        (Some(500), Some(500))
    );
    let ike = &p.ike_proposals[0];
    assert_eq!(ike.encryption, vec![Encryption::Aes128Cbc]);
    assert_eq!(ike.integrity, vec![Integrity::HmacSha2_512]);
    assert_eq!(ike.prf, vec![Prf::HmacSha2_384]);
    assert_eq!(ike.groups, vec![DhGroup::Ecp256]);
    let child = &p.child_proposals[0];
    assert!(child.encryption.is_empty());
    assert_eq!(child.integrity, vec![Integrity::HmacSha2_256]);
    assert_eq!(child.esn, vec![Esn::Extended, Esn::None]);
    assert_eq!(p.srcid, Some(Identity::Ufqdn("u@a.example".into())));
    assert_eq!(
        p.dstid,
        Some(Identity::Ipv6("2001:db8::2".parse().unwrap()))
    );
    assert_eq!(
        (p.ike_lifetime_seconds, p.lifetime.seconds, p.lifetime.bytes),
        (86_400, 1800, 100 << 20)
    );

    // Defaults: passive ESP tunnel, name by position, two proposals each.
    let c = ok("ikev2 passive from 10.0.0.0/8 to 10.1.0.0/16\nikev2 from 10.2.0.0/16 to any\n");
    let p = &c.policies[1];
    assert_eq!(p.name, "policy2");
    assert_eq!(p.mode, PolicyMode::Passive);
    assert_eq!(p.protocol, IpsecProtocol::Esp);
    assert_eq!(p.encapsulation, Encapsulation::Tunnel);
    assert_eq!(p.ike_proposals.len(), 2);
    assert!(p.ike_proposals[0].integrity.is_empty()); // AEAD first
    assert!(!p.ike_proposals[1].integrity.is_empty());
    assert_eq!(p.child_proposals.len(), 2);
    // A partial ikesa is completed with defaults.
    let c = ok("ikev2 from 10.0.0.0/8 to any ikesa enc aes-256\n");
    let ike = &c.policies[0].ike_proposals[0];
    assert!(!ike.prf.is_empty() && !ike.integrity.is_empty() && !ike.groups.is_empty());
}

#[test]
fn public_key_methods() {
    use ike_ipc::config::{Auth, PublicKeyMethod};
    for (word, method) in [
        ("rfc7427", PublicKeyMethod::Rfc7427),
        ("rsa", PublicKeyMethod::Rsa),
        ("ecdsa256", PublicKeyMethod::Ecdsa256),
        ("ecdsa384", PublicKeyMethod::Ecdsa384),
    ] {
        let c = ok(&format!(
            "ikev2 p passive from 10.0.0.0/8 to any dstid b.test {word}\n"
        ));
        assert_eq!(c.policies[0].auth, Auth::PublicKey(method), "{word}");
        assert_eq!(method.name(), word);
    }
    // Only one authentication keyword per policy.
    let e = config_util::parse("ikev2 p from 10.0.0.0/8 to any ecdsa256 rsa\n").unwrap_err();
    assert_eq!(e.location.unwrap().column, 41, "{}", e.message);
    let e = config_util::parse("ikev2 p from 10.0.0.0/8 to any psk \"k\" ecdsa384\n").unwrap_err();
    assert_eq!(e.location.unwrap().column, 40, "{}", e.message);
}

#[test]
fn several_flows_lists_and_protocols_multiply_out() {
    let c = ok("ikev2 x passive proto { tcp, udp } \
                from 10.0.0.0/8 to 10.1.0.0/16, from { 10.2.0.0/16 10.3.0.0/16 } to 10.4.0.0/16\n");
    let flows = &c.policies[0].flows;
    assert_eq!(flows.len(), 2 * (1 + 2));
    assert!(flows
        .iter()
        .any(|f| f.src.to_string() == "10.3.0.0/16" && f.proto == Some(6)));
    assert!(flows
        .iter()
        .any(|f| f.src.to_string() == "10.3.0.0/16" && f.proto == Some(17)));
    // The af of `any` comes from the other side, or from inet/inet6 or the peer.
    let c = ok("ikev2 inet6 from any to any\nikev2 from any to any peer 192.0.2.0/24\n");
    assert!(c.policies[0].flows[0].src.is_ipv6());
    assert!(!c.policies[1].flows[0].dst.is_ipv6());
}

#[test]
fn selection_is_last_match_with_quick_and_default() {
    let c = ok(r#"
ikev2 "fallback" default passive from 10.0.0.0/8 to any peer any
ikev2 "wide" passive from 10.0.0.0/8 to any peer 192.0.2.0/24
ikev2 "narrow" passive from 10.0.0.0/8 to any peer 192.0.2.0/28
ikev2 "alice" passive from 10.0.0.0/8 to any peer any dstid alice@example.org
ikev2 "boss" quick passive from 10.0.0.0/8 to any peer 192.0.2.99
ikev2 "late" passive from 10.0.0.0/8 to any peer 192.0.2.96/27
"#);
    let pick = |peer: &str, id: Option<&Identity>| {
        let q = PolicyQuery {
            peer: Some(ip(peer)),
            peer_id: id,
            ..Default::default()
        };
        select_policy(&c, &q).map(|p| p.name.clone())
    };
    assert_eq!(
        pick("192.0.2.3", None).as_deref(),
        Some("alice"),
        "last match wins; no ID known yet"
    );
    let bob = Identity::Ufqdn("bob@example.org".into());
    assert_eq!(pick("192.0.2.3", Some(&bob)).as_deref(), Some("narrow"));
    assert_eq!(pick("192.0.2.40", Some(&bob)).as_deref(), Some("wide"));
    assert_eq!(
        pick("192.0.2.99", Some(&bob)).as_deref(),
        Some("boss"),
        "quick stops the search"
    );
    assert_eq!(pick("192.0.2.100", Some(&bob)).as_deref(), Some("late"));
    assert_eq!(pick("203.0.113.1", Some(&bob)).as_deref(), Some("fallback"));
    let alice = Identity::Ufqdn("alice@example.org".into());
    assert_eq!(pick("203.0.113.1", Some(&alice)).as_deref(), Some("alice"));
    // Traffic from a kernel ACQUIRE selects by flow.
    let q = PolicyQuery {
        traffic: Some((ip("10.1.1.1"), ip("8.8.8.8"), Some(6))),
        ..Default::default()
    };
    // No peer known: "boss" matches and is quick.
    assert_eq!(select_policy(&c, &q).unwrap().name, "boss");
    let q = PolicyQuery {
        traffic: Some((ip("11.1.1.1"), ip("8.8.8.8"), None)),
        ..Default::default()
    };
    assert!(select_policy(&c, &q).is_none());
}

#[test]
fn includes_are_relative_bounded_and_loop_free() {
    let dir = TempDir::new("include");
    dir.write("conf.d/nets.conf", "inner = 10.5.0.0/16\n", 0o600);
    dir.write(
        "conf.d/policies.conf",
        "include \"nets.conf\"\nikev2 \"inc\" passive from $inner to $outer psk \"k\"\n",
        0o600,
    );
    let main = dir.write("ike.conf", "outer = 10.6.0.0/16\ninclude \"conf.d/policies.conf\"\nikev2 \"after\" passive from $inner to any psk \"k\"\n", 0o600);
    let c = load(&main).unwrap();
    assert_eq!(c.policies.len(), 2);
    assert_eq!(c.policies[0].flows[0].src.to_string(), "10.5.0.0/16");
    assert!(
        c.policies[0].source.ends_with("conf.d/policies.conf:2"),
        "{}",
        c.policies[0].source
    );

    // Errors inside an included file are reported at that file's line.
    dir.write("bad.conf", "\nikev2 p frob\n", 0o600);
    let main = dir.write("a.conf", "include \"bad.conf\"\n", 0o600);
    let e = load(&main).unwrap_err();
    assert!(e.to_string().contains("bad.conf:2:9"), "{e}");

    // A missing include is reported at the include statement.
    let main = dir.write("m.conf", "\n  include \"missing.conf\"\n", 0o600);
    let e = load(&main).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Io);
    assert!(
        e.to_string()
            .starts_with(&format!("{}:2:3:", main.display())),
        "{e}"
    );

    // A loop is found by file identity, even under another name.
    dir.write("loop1.conf", "include \"loop2.conf\"\n", 0o600);
    dir.write("loop2.conf", "include \"./loop1.conf\"\n", 0o600);
    let e = load(&dir.path().join("loop1.conf")).unwrap_err();
    assert!(e.message.contains("include loop"), "{e}");

    // Depth is bounded.
    for i in 0..=MAX_INCLUDE_DEPTH + 1 {
        dir.write(
            &format!("d{i}.conf"),
            &format!("include \"d{}.conf\"\n", i + 1),
            0o600,
        );
    }
    dir.write(&format!("d{}.conf", MAX_INCLUDE_DEPTH + 2), "\n", 0o600);
    let e = load(&dir.path().join("d0.conf")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit, "{e}");
    // ... but not too tightly.
    let e = load(&dir.path().join(format!("d{}.conf", 3))).unwrap();
    assert!(e.policies.is_empty());
}

/// Issue 13: `natt` forces UDP encapsulation for one policy; `set
/// natt_keepalive T` sets the keepalive interval (20 s by default, 0 off);
/// both survive `ike-parent -n -v` and parse back the same.
#[test]
fn natt_and_keepalive_interval() {
    let c = ok("ikev2 \"n\" active esp from 10.1.0.0/24 to 10.2.0.0/24 peer 192.0.2.2 natt\n");
    assert!(c.policies[0].natt);
    assert_eq!(c.global.natt_keepalive, 20);
    assert!(!ok("ikev2 passive from 10.0.0.0/8 to any\n").policies[0].natt);
    assert_eq!(ok("set natt_keepalive 45\n").global.natt_keepalive, 45);
    assert_eq!(ok("set natt_keepalive 1m\n").global.natt_keepalive, 60);
    assert_eq!(ok("set natt_keepalive 0\n").global.natt_keepalive, 0);
    let c = ok("set natt_keepalive 30\nikev2 \"n\" passive from 10.0.0.0/8 to any natt\n");
    let text = ike_parent::config::describe(&c);
    assert!(
        text.contains("set natt_keepalive 30\n") && text.contains(" natt"),
        "{text}"
    );
    let again = ok(&text);
    assert_eq!(again.global.natt_keepalive, 30);
    assert!(again.policies[0].natt);
    // Twice in one rule is a mistake.
    err(
        "ikev2 passive from 10.0.0.0/8 to any natt natt\n",
        ErrorKind::Syntax,
        1,
        43,
    );
}
