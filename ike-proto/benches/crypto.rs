//! Crypto benchmarks. Figures are meant to be read as ratios against the
//! baseline measured in the same run (`baseline/hmac_sha256/<len>`: one raw
//! HMAC-SHA256 over the same number of bytes), so they compare across
//! machines.
//!
//! Run: `cargo bench -p ike-proto --bench crypto`

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use ike_proto::crypto::{
    derive_ike_keys, skeyseed, EncrAlg, Group, IkeKeyLengths, IntegAlg, KeyExchange, PrfAlg,
    SkCipher,
};
use ring::hmac;
use ring::rand::SystemRandom;

const SIZES: [usize; 2] = [100, 1400];

fn baseline(c: &mut Criterion) {
    let key = hmac::Key::new(hmac::HMAC_SHA256, &[7u8; 32]);
    let mut g = c.benchmark_group("baseline");
    for len in SIZES {
        let data = vec![0xa5u8; len];
        g.bench_with_input(BenchmarkId::new("hmac_sha256", len), &data, |b, d| {
            b.iter(|| hmac::sign(&key, black_box(d)))
        });
    }
    g.finish();
}

/// One IKE SA's key schedule as both peers see it: two X25519 key pairs,
/// both shared secrets, SKEYSEED and all seven SK_* for AES-GCM-256.
fn key_schedule(c: &mut Criterion) {
    let rng = SystemRandom::new();
    let ni = [1u8; 32];
    let nr = [2u8; 32];
    let (spi_i, spi_r) = ([3u8; 8], [4u8; 8]);
    let lens = IkeKeyLengths::for_algs(EncrAlg::AesGcm16_256, IntegAlg::None);
    let mut g = c.benchmark_group("key_schedule");
    for group in [Group::Curve25519, Group::Ecp256, Group::Modp2048] {
        g.bench_function(format!("{group:?}_skeyseed_sk_all"), |b| {
            b.iter(|| {
                let a = KeyExchange::new(group, &rng).unwrap();
                let r = KeyExchange::new(group, &rng).unwrap();
                let pa = a.public_value().to_vec();
                let g_ir = r.compute_shared(&pa).unwrap();
                let seed = skeyseed(PrfAlg::HmacSha256, &ni, &nr, g_ir.as_bytes());
                let keys = derive_ike_keys(
                    PrfAlg::HmacSha256,
                    seed.as_bytes(),
                    &ni,
                    &nr,
                    &spi_i,
                    &spi_r,
                    lens,
                )
                .unwrap();
                // The initiator's half of the agreement, so both sides' work
                // is in the figure.
                let _ = a.compute_shared(black_box(&pa));
                keys
            })
        });
    }
    g.finish();
}

fn sk_messages(c: &mut Criterion) {
    let suites = [
        ("aes256gcm16", EncrAlg::AesGcm16_256, IntegAlg::None),
        (
            "chacha20poly1305",
            EncrAlg::ChaCha20Poly1305,
            IntegAlg::None,
        ),
        (
            "aes128cbc_hmacsha256",
            EncrAlg::AesCbc128,
            IntegAlg::HmacSha256_128,
        ),
    ];
    let assoc = [0x11u8; 32];
    let mut g = c.benchmark_group("sk");
    for (name, e, i) in suites {
        let cipher = SkCipher::new(e, i, &vec![5u8; e.key_len()], &vec![6u8; i.key_len()]).unwrap();
        let iv = vec![9u8; cipher.iv_len()];
        for len in SIZES {
            let plain = vec![0x5au8; len];
            let body = cipher.encrypt(&assoc, &plain, &iv).unwrap();
            g.bench_with_input(
                BenchmarkId::new(format!("{name}_encrypt"), len),
                &plain,
                |b, p| b.iter(|| cipher.encrypt(&assoc, black_box(p), &iv).unwrap()),
            );
            g.bench_with_input(
                BenchmarkId::new(format!("{name}_decrypt"), len),
                &body,
                |b, d| b.iter(|| cipher.decrypt(&assoc, black_box(d)).unwrap()),
            );
        }
    }
    g.finish();
}

criterion_group!(benches, baseline, key_schedule, sk_messages);
criterion_main!(benches);
