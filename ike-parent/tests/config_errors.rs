//! Malformed inputs: each gives its error kind at the expected
//! file:line:column; valid iked.conf features we do not have are
//! "unsupported", never a syntax error, never ignored.

mod config_util;

use config_util::{check_all, err};
use ike_parent::config::ErrorKind::{Invalid, Limit, Syntax, Unsupported};

const P: &str = "ikev2 p passive esp from 10.0.0.0/8 to 10.1.0.0/16";

#[test]
fn syntax_errors_point_at_the_token() {
    // (input, line, column)
    let cases: &[(&str, u32, u32)] = &[
        ("bogus 1\n", 1, 1),
        ("ikev2 from 10.0.0.0/8 too 10.1.0.0/16\n", 1, 23),
        ("ikev2 from 10.0.0.0/8\n", 1, 22),
        ("\n\nikev2 passive esp\n", 3, 1),
        ("ikev2 p esp esp from any to any inet\n", 1, 13),
        (
            "ikev2 active passive from 1.1.1.1 to 2.2.2.2 peer 3.3.3.3\n",
            1,
            14,
        ),
        ("set\n", 1, 4),
        ("set frobnicate\n", 1, 5),
        ("set passive yes\n", 1, 13),
        ("include\n", 1, 8),
        ("ikev2 p passive to 10.0.0.0/8\n", 1, 17),
        (&format!("{P} ikesa\n"), 1, 52),
        (&format!("{P} ikesa esn enc aes-128-gcm\n"), 1, 58),
        (&format!("{P} childsa prf hmac-sha2-256\n"), 1, 60),
        (&format!("{P} psk \"a\" psk \"b\"\n"), 1, 60),
        (&format!("{P} srcid\n"), 1, 57),
        ("x = \n", 1, 5),
        (
            "ikev2 \"p\" passive esp from 10.0.0.0/8 to 10.1.0.0/16 ; \n",
            1,
            54,
        ),
        ("ikev2 \"p\n", 1, 7),
        ("ikev2 p from $ to any\n", 1, 14),
        ("ikev2 p from 10.0.0.0/8 to { }\n", 1, 30),
        ("ikev2 p from 10.0.0.0/8 to { 10.1.0.0/16\n", 2, 1),
        ("ikev2 p proto { } from any to any inet\n", 1, 17),
        (&format!("{P} lifetime\n"), 1, 60),
    ];
    let cases: Vec<_> = cases.iter().map(|(i, l, c)| (*i, Syntax, *l, *c)).collect();
    check_all(&cases);
}

#[test]
fn invalid_values_point_at_the_value() {
    let cases: &[(&str, u32, u32)] = &[
        ("ikev2 p passive from 10.0.0.1/8 to 10.1.0.0/16\n", 1, 22),
        ("ikev2 p passive from 10.0.0.0/33 to 10.1.0.0/16\n", 1, 22),
        ("ikev2 p passive from 10.0.0.0/8 to 2001:db8::/32\n", 1, 36),
        ("ikev2 p passive from any to any\n", 1, 22),
        ("ikev2 p active from 10.0.0.0/8 to 10.1.0.0/16\n", 1, 9),
        (
            "ikev2 p active from 10.0.0.0/8 to 10.1.0.0/16 peer 10.2.0.0/16\n",
            1,
            9,
        ),
        (
            "ikev2 p passive inet6 from 10.0.0.0/8 to 10.1.0.0/16\n",
            1,
            28,
        ),
        (&format!("{P} ikesa enc rot13\n"), 1, 62),
        (
            &format!("{P} ikesa enc aes-128-gcm auth hmac-sha2-256\n"),
            1,
            52,
        ),
        (&format!("{P} ikesa enc aes-128-gcm enc aes-128\n"), 1, 52),
        (&format!("{P} ikesa group none\n"), 1, 64),
        (&format!("{P} childsa group none group ecp256\n"), 1, 52),
        (&format!("{P} lifetime 3y\n"), 1, 61),
        (&format!("{P} lifetime 0\n"), 1, 61),
        (&format!("{P} lifetime 1h bytes 0\n"), 1, 70),
        (&format!("{P} psk \"\"\n"), 1, 56),
        (&format!("{P} psk 0x123\n"), 1, 56),
        (&format!("{P} dstid @nope\n"), 1, 58),
        (
            "ikev2 p passive from 10.0.0.0/8 port 22 to 10.1.0.0/16\n",
            1,
            38,
        ),
        (
            "ikev2 p passive proto tcp from 10.0.0.0/8 port 99999 to any\n",
            1,
            48,
        ),
        ("ikev2 p passive proto frob from 10.0.0.0/8 to any\n", 1, 23),
        (
            "ikev2 p passive ah from 10.0.0.0/8 to any childsa enc aes-128\n",
            1,
            43,
        ),
        (&format!("{P}\n{P}\n"), 2, 7),
        ("ikev2 p passive from $undefined to any\n", 1, 22),
        ("set user \"root user\"\n", 1, 10),
        ("set chroot relative/dir\n", 1, 12),
        ("set flush-on-start maybe\n", 1, 20),
        ("set cookie-threshold many\n", 1, 22),
        ("from = \"x\"\n", 1, 1),
        (
            "ikev2 p passive from 10.0.0.0/8 to 10.1.0.0/16 local 10.0.0.0/8\n",
            1,
            54,
        ),
    ];
    let cases: Vec<_> = cases
        .iter()
        .map(|(i, l, c)| (*i, Invalid, *l, *c))
        .collect();
    check_all(&cases);
}

/// Real iked.conf(5) features we refuse: "unsupported", with the keyword.
#[test]
fn unsupported_iked_features_are_named() {
    let cases: &[(&str, u32, u32, &str)] = &[
        ("ikev1 active esp from any to any\n", 1, 1, "ikev1"),
        ("user \"bob\" \"password\"\n", 1, 1, "user"),
        ("radius server 192.0.2.5 secret \"x\"\n", 1, 1, "radius"),
        (
            "ikev2 p passive esp ipcomp from 10.0.0.0/8 to any\n",
            1,
            21,
            "ipcomp",
        ),
        ("set decouple\n", 1, 5, "decouple"),
        ("set vendorid\n", 1, 5, "vendorid"),
        ("set enforcesingleikesa\n", 1, 5, "enforcesingleikesa"),
        ("set ocsp \"http://ocsp.example\"\n", 1, 5, "ocsp"),
        ("set cert_partial_chain\n", 1, 5, "cert_partial_chain"),
        (&format!("{P} eap \"mschap-v2\"\n"), 1, 52, "eap"),
        (&format!("{P} tap enc1\n"), 1, 52, "tap"),
        (&format!("{P} tag \"IKED\"\n"), 1, 52, "tag"),
        (&format!("{P} iface sec0\n"), 1, 52, "iface"),
        (
            "ikev2 p passive esp rdomain 1 from any to any inet\n",
            1,
            21,
            "rdomain",
        ),
        (
            "ikev2 p skip passive from 10.0.0.0/8 to any\n",
            1,
            9,
            "skip",
        ),
        (
            "ikev2 p passive from 10.0.0.0/8 (192.0.2.1) to any\n",
            1,
            33,
            "(srcnat)",
        ),
        (
            "ikev2 p passive from 10.0.0.0/8 to any peer gw.example.org\n",
            1,
            45,
            "gw.example.org",
        ),
        (&format!("{P} ikesa enc 3des\n"), 1, 62, "3des"),
        (
            &format!("{P} ikesa enc aes-128-gcm-12\n"),
            1,
            62,
            "aes-128-gcm-12",
        ),
        (
            &format!("{P} ikesa enc aes-256 auth hmac-md5\n"),
            1,
            75,
            "hmac-md5",
        ),
        (&format!("{P} ikesa prf hmac-sha1\n"), 1, 62, "hmac-sha1"),
        (&format!("{P} ikesa group modp1024\n"), 1, 64, "modp1024"),
        (&format!("{P} ikesa group ecp521\n"), 1, 64, "ecp521"),
        (&format!("{P} childsa enc null\n"), 1, 64, "null"),
        (&format!("{P} ecdsa521\n"), 1, 52, "ecdsa521"),
        (
            &format!("{P} srcid \"/C=DE/CN=gw\"\n"),
            1,
            58,
            "/C=DE/CN=gw",
        ),
    ];
    for (input, line, column, keyword) in cases {
        let e = err(input, Unsupported, *line, *column);
        assert_eq!(e.keyword.as_deref(), Some(*keyword), "{e}");
        assert!(e.to_string().contains("unsupported"), "{e}");
    }
}

#[test]
fn limits() {
    // A self-referencing macro does not recurse forever.
    err("a = \"$a\"\nikev2 p passive from $a to any\n", Limit, 2, 22);
    // Exponential macro growth is cut off by the value size limit.
    let mut text = String::from("m0 = \"xxxxxxxxxxxxxxxx\"\n");
    for i in 1..12 {
        text.push_str(&format!("m{i} = $m{} $m{}\n", i - 1, i - 1));
    }
    let e = config_util::parse(&text).unwrap_err();
    assert_eq!(e.kind, Limit, "{e}");
}
