//! The parser never panics and stays bounded, whatever the bytes: random
//! bytes, random token soup from the grammar's own words, and mutations of
//! the shipped examples. A deterministic generator, so a failure repeats.

mod config_util;

use config_util::repo;
use ike_parent::config::parse_str;
use std::path::Path;

/// xorshift64*: small, deterministic, good enough to spread inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const WORDS: &[&str] = &[
    "ikev2",
    "ikev1",
    "set",
    "include",
    "passive",
    "active",
    "quick",
    "default",
    "esp",
    "ah",
    "tunnel",
    "transport",
    "inet",
    "inet6",
    "proto",
    "tcp",
    "from",
    "to",
    "port",
    "22",
    "local",
    "peer",
    "any",
    "dynamic",
    "ikesa",
    "childsa",
    "enc",
    "auth",
    "prf",
    "group",
    "esn",
    "noesn",
    "aes-256-gcm",
    "aes-128",
    "hmac-sha2-256",
    "curve25519",
    "none",
    "srcid",
    "dstid",
    "ikelifetime",
    "lifetime",
    "bytes",
    "10m",
    "4G",
    "psk",
    "rfc7427",
    "rsa",
    "10.0.0.0/8",
    "2001:db8::/32",
    "192.0.2.1",
    "a.example",
    "u@a.example",
    "{",
    "}",
    ",",
    "(",
    ")",
    "=",
    "$m",
    "m",
    "\"quoted\"",
    "\"",
    "\\\n",
    "\n",
    "#c\n",
    "mobike",
    "fragmentation",
    "0x00",
    "cookie-threshold",
    "window",
    "user",
    "chroot",
    "/",
    "yes",
    "no",
];

/// IKE_CONFIG_FUZZ_SCALE=N runs N times as many cases (for longer runs).
fn scale(n: usize) -> usize {
    let k: usize = std::env::var("IKE_CONFIG_FUZZ_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    n.saturating_mul(k.max(1))
}

fn must_not_panic(text: &str) {
    // The result does not matter; returning at all does.
    let _ = parse_str("fuzz.conf", text, Path::new("/nonexistent"));
}

#[test]
fn random_bytes() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for _ in 0..scale(20_000) {
        let len = rng.below(200);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        must_not_panic(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn random_token_soup() {
    let mut rng = Rng(0x0bad_cafe_f00d_1234);
    for _ in 0..scale(20_000) {
        let mut text = String::new();
        for _ in 0..rng.below(40) {
            text.push_str(WORDS[rng.below(WORDS.len())]);
            text.push(if rng.below(8) == 0 { '\n' } else { ' ' });
        }
        must_not_panic(&text);
    }
}

#[test]
fn mutated_examples() {
    let mut examples = vec![std::fs::read_to_string(repo().join("etc/ike.conf")).unwrap()];
    for entry in std::fs::read_dir(repo().join("etc/examples")).unwrap() {
        examples.push(std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    let mut rng = Rng(0xfeed_face_dead_beef);
    for _ in 0..scale(5_000) {
        let mut bytes = examples[rng.below(examples.len())].clone().into_bytes();
        for _ in 0..1 + rng.below(4) {
            if bytes.is_empty() {
                break;
            }
            let at = rng.below(bytes.len());
            match rng.below(4) {
                0 => bytes[at] = rng.next() as u8,
                1 => {
                    bytes.remove(at);
                }
                2 => bytes.insert(at, b"{}\"\\$#\n= ,()"[rng.below(12)]),
                _ => {
                    let word = WORDS[rng.below(WORDS.len())].as_bytes();
                    bytes.splice(at..at, word.iter().copied());
                }
            }
        }
        must_not_panic(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn huge_inputs_are_bounded() {
    // A long flat file: rejected by size, quickly.
    let big = "# padding\n".repeat(200_000);
    assert!(parse_str("big.conf", &big, Path::new("/")).is_err());
    // Deep brace nesting and long lists do not recurse or blow up.
    let deep = format!("ikev2 p passive from {} to any\n", "{ ".repeat(50_000));
    assert!(parse_str("deep.conf", &deep, Path::new("/")).is_err());
    let many: String = (0..2000)
        .map(|i| format!("10.{}.{}.0/24 ", i / 256, i % 256))
        .collect();
    let list = format!("ikev2 p passive from {{ {many} }} to {{ {many} }}\n");
    let e = parse_str("list.conf", &list, Path::new("/")).unwrap_err();
    assert!(e.to_string().contains("too large"), "{e}");
}
