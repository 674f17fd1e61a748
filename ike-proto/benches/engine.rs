//! Engine benchmarks: a full in-memory handshake (IKE_SA_INIT + IKE_AUTH,
//! PSK, X25519, AES-256-GCM), the responder's share of it, a CHILD_SA
//! rekey, and beside them the raw crypto operations the responder performs
//! in a handshake (the floor its share can be compared with).

use std::hint::black_box;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

use ike_proto::crypto::{
    child_keymat, derive_ike_keys, nat_detection_hash, psk_auth, signed_octets, skeyseed,
    verify_psk_auth, EncrAlg, Group, IkeKeyLengths, IntegAlg, KeyExchange, PrfAlg, SkCipher,
};
use ike_proto::engine::*;

const PSK: &[u8] = b"benchmark pre-shared key";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn policies() -> (Config, Config) {
    let (a, b) = (ip("192.0.2.1"), ip("198.51.100.2"));
    let ts = |s: &str| TrafficSelector::prefix(ip(s), 24).unwrap();
    let mut pa = Policy::new("net", a, b);
    pa.local_ts = vec![ts("10.1.0.0")];
    pa.peer_ts = vec![ts("10.2.0.0")];
    let mut pb = Policy::new("net", b, a);
    pb.local_ts = vec![ts("10.2.0.0")];
    pb.peer_ts = vec![ts("10.1.0.0")];
    pb.start = StartAction::Passive;
    let ca = Config {
        policies: vec![Arc::new(pa)],
        credentials: Arc::new(KeyStore::new().with_psk("net", PSK)),
        ..Config::default()
    };
    let cb = Config {
        policies: vec![Arc::new(pb)],
        credentials: Arc::new(KeyStore::new().with_psk("net", PSK)),
        cookie_threshold: usize::MAX,
        ..Config::default()
    };
    (ca, cb)
}

/// Answers kernel requests at once, keeping nothing.
fn kernel(e: &mut Engine, now: Instant, spi: &mut u32) {
    while let Some(r) = e.poll_kernel_request() {
        let ev = match r {
            KernelRequest::AllocateSpi { request, .. } => {
                *spi += 1;
                Some(KernelEvent::SpiAllocated { request, spi: *spi })
            }
            KernelRequest::UpdateSa(p) | KernelRequest::AddSa(p) => {
                Some(KernelEvent::Installed { request: p.request })
            }
            KernelRequest::AddPolicy(p) => Some(KernelEvent::Installed { request: p.request }),
            _ => None,
        };
        if let Some(ev) = ev {
            e.handle_kernel_event(now, ev);
        }
    }
}

/// Moves datagrams both ways until both are quiet; returns the time spent
/// inside B (the responder).
fn exchange(a: &mut Engine, b: &mut Engine, now: Instant, spis: &mut (u32, u32)) -> Duration {
    let mut in_b = Duration::ZERO;
    loop {
        kernel(a, now, &mut spis.0);
        let mut moved = false;
        while let Some(t) = a.poll_transmit() {
            moved = true;
            let s = Instant::now();
            b.handle_datagram(now, t.remote, t.local, &t.bytes);
            kernel(b, now, &mut spis.1);
            in_b += s.elapsed();
        }
        let s = Instant::now();
        let out: Vec<Transmit> = std::iter::from_fn(|| b.poll_transmit()).collect();
        in_b += s.elapsed();
        for t in out {
            moved = true;
            a.handle_datagram(now, t.remote, t.local, &t.bytes);
        }
        while a.poll_event().is_some() {}
        while b.poll_event().is_some() {}
        if !moved {
            return in_b;
        }
    }
}

/// One handshake between fresh engines; returns the responder's time.
fn handshake(seed: u64) -> (Engine, Engine, Duration) {
    let (ca, cb) = policies();
    let now = Instant::now();
    let mut a = Engine::new(ca, Box::new(SeededRng::new(seed)), now);
    let mut b = Engine::new(cb, Box::new(SeededRng::new(seed + 1)), now);
    a.handle_command(
        now,
        Command::Initiate {
            policy: "net".into(),
        },
    );
    let in_b = exchange(&mut a, &mut b, now, &mut (0xa000_0000, 0xb000_0000));
    assert_eq!(a.established().len(), 1);
    (a, b, in_b)
}

fn bench_handshake(c: &mut Criterion) {
    let mut seed = 0;
    c.bench_function("handshake/psk-x25519-aes256gcm/both", |bch| {
        bch.iter(|| {
            seed += 2;
            black_box(handshake(seed))
        })
    });
    c.bench_function("handshake/psk-x25519-aes256gcm/responder-share", |bch| {
        bch.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                seed += 2;
                total += handshake(seed).2;
            }
            total
        })
    });
}

fn bench_child_rekey(c: &mut Criterion) {
    let (mut a, mut b, _) = handshake(1);
    let now = Instant::now();
    let ike = a.established()[0];
    let mut spis = (0xa100_0000, 0xb100_0000);
    c.bench_function("child-rekey/no-pfs (CREATE_CHILD_SA + DELETE)", |bch| {
        bch.iter(|| {
            let spi_in = a.children(ike)[0].0;
            a.handle_command(now, Command::RekeyChild { ike, spi_in });
            exchange(&mut a, &mut b, now, &mut spis);
            assert_eq!(a.children(ike).len(), 1);
        })
    });
}

/// What the responder computes in one handshake, straight through the
/// crypto module: X25519, SKEYSEED and SK_*, NAT-D (two hashes checked,
/// two sent), the peer's PSK AUTH checked and ours computed, IKE_AUTH
/// decrypted and the answer encrypted, and the CHILD_SA KEYMAT.
fn bench_crypto(c: &mut Criterion) {
    let rng = ring::rand::SystemRandom::new();
    let peer = KeyExchange::new(Group::Curve25519, &rng).unwrap();
    let peer_pub = peer.public_value().to_vec();
    let (ni, nr) = ([1u8; 32], [2u8; 32]);
    let (spi_i, spi_r) = (1u64.to_be_bytes(), 2u64.to_be_bytes());
    let msg1 = vec![7u8; 240];
    let id = b"\x02\0\0\0a.test".to_vec();
    let auth_plain = vec![3u8; 260];
    let prf = PrfAlg::HmacSha256;
    // A valid IKE_AUTH request body to decrypt.
    let lens = IkeKeyLengths::for_algs(EncrAlg::AesGcm16_256, IntegAlg::None);
    let k0 = derive_ike_keys(prf, &[9u8; 32], &ni, &nr, &spi_i, &spi_r, lens).unwrap();
    let ci = SkCipher::new(
        EncrAlg::AesGcm16_256,
        IntegAlg::None,
        k0.sk_ei.as_bytes(),
        &[],
    )
    .unwrap();
    let aad = [0u8; 32];
    let sealed = ci.encrypt(&aad, &auth_plain, &[0u8; 8]).unwrap();
    let octets_i = signed_octets(prf, &msg1, &nr, k0.sk_pi.as_bytes(), &id);
    let peer_auth = psk_auth(prf, PSK, &octets_i);
    c.bench_function("crypto/responder-ops-of-one-handshake", |bch| {
        bch.iter(|| {
            let ke = KeyExchange::new(Group::Curve25519, &rng).unwrap();
            let g = ke.compute_shared(&peer_pub).unwrap();
            let seed = skeyseed(prf, &ni, &nr, g.as_bytes());
            let k = derive_ike_keys(prf, seed.as_bytes(), &ni, &nr, &spi_i, &spi_r, lens).unwrap();
            for port in [500u16, 4500, 500, 4500] {
                black_box(nat_detection_hash(&spi_i, &spi_r, ip("192.0.2.1"), port));
            }
            let rx = SkCipher::new(
                EncrAlg::AesGcm16_256,
                IntegAlg::None,
                k0.sk_ei.as_bytes(),
                &[],
            )
            .unwrap();
            let tx = SkCipher::new(
                EncrAlg::AesGcm16_256,
                IntegAlg::None,
                k.sk_er.as_bytes(),
                &[],
            )
            .unwrap();
            black_box(rx.decrypt(&aad, &sealed).unwrap());
            let oi = signed_octets(prf, &msg1, &nr, k0.sk_pi.as_bytes(), &id);
            verify_psk_auth(prf, PSK, &oi, &peer_auth).unwrap();
            let or = signed_octets(prf, &msg1, &ni, k.sk_pr.as_bytes(), &id);
            let ours = psk_auth(prf, PSK, &or);
            black_box(tx.encrypt(&aad, &ours, &[1u8; 8]).unwrap());
            black_box(child_keymat(prf, k.sk_d.as_bytes(), None, &ni, &nr, 72).unwrap());
        })
    });
}

criterion_group!(benches, bench_handshake, bench_child_rekey, bench_crypto);
criterion_main!(benches);
