//! Two engines authenticating with public keys: X.509 certificates from the
//! test CA of data/x509 (CERT/CERTREQ checked on the wire), RFC 4754 ECDSA
//! (auth methods 9 and 10), RSA with RFC 7427, and every refusal leaving no
//! state behind.

mod data_util;
mod engine_common;

use data_util::{data_file, unhex};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use engine_common::*;
use ike_proto::crypto::x509::{fixed_clock, CertError, TrustStore};
use ike_proto::crypto::{
    derive_ike_keys, signed_octets, skeyseed, EncrAlg, Group, IkeKeyLengths, IntegAlg,
    KeyAgreement, KeyExchangeFactory, PrfAlg, RecordedKeyExchange, Secret, SigningKey, SkCipher,
};
use ike_proto::engine::*;
use ike_proto::wire::{
    build_protected, parse_inner_payloads, AuthMethod, CertEncoding, EncryptedKind, ExchangeType,
    Message, NotifyType, Payload, ProtectedMessage,
};

/// 2027-01-01T00:00:00Z: inside every certificate's validity but a-expired's.
const NOW: u64 = 1_798_761_600;

fn file(name: &str) -> Vec<u8> {
    data_file("x509", name)
}

fn cert(name: &str) -> Vec<u8> {
    file(&format!("{name}.crt.der"))
}

fn key(name: &str) -> Arc<SigningKey> {
    let pem = file(&format!("{name}.key.pem"));
    Arc::new(SigningKey::from_pem(&pem, &ring::rand::SystemRandom::new()).unwrap())
}

/// Our public key for a policy; the private half goes to the test
/// credentials (`engine_common::credentials`).
fn local(k: Arc<SigningKey>) -> Arc<ike_proto::crypto::VerifyingKey> {
    remember_key(k.clone());
    Arc::new(k.verifying_key())
}

fn anchors(cas: &[&str], now: u64) -> PeerAuth {
    let ders: Vec<Vec<u8>> = cas.iter().map(|c| cert(c)).collect();
    PeerAuth::Certificate(Arc::new(TrustStore::new(&ders, fixed_clock(now)).unwrap()))
}

/// A (a.test) and B (b.test) each with a key, a chain and the root CA.
fn cert_policies(a_chain: &[&str], a_key: &str, b_chain: &[&str], b_key: &str) -> (Policy, Policy) {
    let (mut pa, mut pb) = psk_policies(b"unused", b"unused");
    pa.local_auth = LocalAuth::Signature(local(key(a_key)));
    pa.local_certs = a_chain.iter().map(|c| cert(c)).collect();
    pa.peer_auth = anchors(&["root"], NOW);
    pb.local_auth = LocalAuth::Signature(local(key(b_key)));
    pb.local_certs = b_chain.iter().map(|c| cert(c)).collect();
    pb.peer_auth = anchors(&["root"], NOW);
    (pa, pb)
}

/// Nothing of a failed negotiation is left on either side.
fn assert_nothing_left(p: &Pair) {
    assert_eq!(p.a.engine.ike_sa_count() + p.b.engine.ike_sa_count(), 0);
    assert_eq!(p.b.engine.half_open_count(), 0);
    assert!(p.a.kernel.sas.is_empty() && p.b.kernel.sas.is_empty());
    assert!(p.a.kernel.policies.is_empty() && p.b.kernel.policies.is_empty());
}

fn failed(events: &[Event]) -> Vec<FailReason> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Failed { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

/// Runs A's initiation and expects B to refuse A's certificate for
/// `reason`; A learns AUTHENTICATION_FAILED. Nothing stays installed.
/// A pair of `pa` and `pb` after A initiated and five seconds passed.
fn attempt(pa: Policy, pb: Policy, seed: u64) -> Pair {
    let mut p = Pair::new(config(pa), config(pb), seed);
    p.initiate();
    p.run_for(Duration::from_secs(5));
    p
}

/// A pair of `pa` and `pb` with fixed key exchanges on both sides (so
/// that the test can read the encrypted IKE_AUTH messages), A's
/// initiation started.
fn fixed_kex_started(pa: Policy, pb: Policy, seed: u64) -> Pair {
    let mut p = Pair::new(config(pa), config(pb), seed);
    p.a.engine.set_key_exchange(Box::new(FixedKex));
    p.b.engine.set_key_exchange(Box::new(FixedKex));
    start(&mut p);
    p
}

fn refused_by_b(pa: Policy, pb: Policy, reason: CertError) {
    let p = attempt(pa, pb, 21);
    assert_eq!(ike_up(&p.a.events) + ike_up(&p.b.events), 0);
    assert_eq!(failed(&p.b.events), [FailReason::Certificate(reason)]);
    assert_eq!(
        failed(&p.a.events),
        [FailReason::AuthenticationFailed],
        "A hears AUTHENTICATION_FAILED"
    );
    assert_nothing_left(&p);
}

#[test]
fn certificates_both_ways() {
    let (pa, pb) = cert_policies(&["a"], "a", &["b-direct"], "b");
    pa.check_auth().unwrap();
    pb.check_auth().unwrap();
    let mut p = Pair::new(config(pa), config(pb), 20);
    establish(&mut p);
    assert_eq!(child_up(&p.a.events), 1);
    assert_eq!(child_up(&p.b.events), 1);
}

#[test]
fn strongswan_pki_certificate_and_two_anchors() {
    // A's certificate and SEC 1 key come from strongSwan's pki; B trusts
    // both CAs and asks for both in CERTREQ.
    let (mut pa, mut pb) = cert_policies(&["a"], "a", &["b-direct"], "b");
    pa.local_auth = LocalAuth::Signature(local(key("sw-a")));
    pa.local_certs = vec![cert("sw-a")];
    pa.check_auth().unwrap();
    pb.peer_auth = anchors(&["root", "sw-ca"], NOW);
    pa.fragmentation = false;
    pb.fragmentation = false;
    let mut p = fixed_kex_started(pa, pb, 28);
    let wire = run_recorded(&mut p);
    assert_eq!(
        ike_up(&p.a.events) + ike_up(&p.b.events),
        2,
        "{:?}",
        p.b.events
    );
    let certreq = certreqs_in(&Message::parse(&wire[1].1).unwrap().payloads);
    assert_eq!(certreq.len(), 1);
    assert_eq!(certreq[0].1.len(), 40, "two SHA-1 hashes");
    assert_eq!(
        certreq[0].1[..20],
        unhex(&String::from_utf8(file("root.spki.sha1")).unwrap())[..]
    );
}

#[test]
fn responder_picks_the_certificate_policy_by_peer_id() {
    // B has a PSK policy for c.test and a certificate policy for a.test on
    // the same addresses; A (a.test, certificate) lands on the second.
    let (pa, pb_cert) = cert_policies(&["a"], "a", &["b-direct"], "b");
    let (_, mut pb_psk) = psk_policies(b"k", b"k");
    pb_psk.name = "psk".into();
    pb_psk.peer_id = Identity::fqdn("c.test");
    let mut cb = config(pb_psk);
    cb.policies.push(Arc::new(pb_cert));
    cb.credentials = credentials(&cb.policies);
    let mut p = Pair::new(config(pa), cb, 31);
    establish(&mut p);
    let chosen = p.b.events.iter().find_map(|e| match e {
        Event::IkeUp {
            policy, peer_id, ..
        } => Some((policy.clone(), peer_id.clone())),
        _ => None,
    });
    assert_eq!(chosen, Some(("net".to_string(), Identity::fqdn("a.test"))));
}

#[test]
fn intermediate_ca_chain() {
    // B's certificate comes from the intermediate, which B sends along.
    let (pa, pb) = cert_policies(&["a"], "a", &["b", "sub"], "b");
    pb.check_auth().unwrap();
    let mut p = Pair::new(config(pa.clone()), config(pb.clone()), 22);
    establish(&mut p);
    assert_eq!(child_up(&p.b.events), 1);
    // Without the intermediate A cannot reach its root.
    let mut pb = pb;
    pb.local_certs.truncate(1);
    let p = attempt(pa, pb, 23);
    assert_eq!(
        failed(&p.a.events),
        [FailReason::Certificate(CertError::UnknownIssuer)]
    );
    assert_eq!(ike_up(&p.a.events), 0);
    // B had come up, then heard AUTHENTICATION_FAILED and removed it all.
    assert!(failed(&p.b.events).contains(&FailReason::AuthenticationFailed));
    assert_nothing_left(&p);
}

#[test]
fn wrong_ca_is_refused() {
    let (pa, pb) = cert_policies(&["a-evil"], "a", &["b-direct"], "b");
    refused_by_b(pa, pb, CertError::UnknownIssuer);
}

#[test]
fn expired_certificate_is_refused() {
    let (pa, pb) = cert_policies(&["a-expired"], "a", &["b-direct"], "b");
    refused_by_b(pa, pb, CertError::Expired);
}

#[test]
fn clock_before_issue_is_refused() {
    let (pa, mut pb) = cert_policies(&["a"], "a", &["b-direct"], "b");
    pb.peer_auth = anchors(&["root"], 1_767_225_600);
    refused_by_b(pa, pb, CertError::NotYetValid);
}

#[test]
fn id_not_in_certificate_is_refused() {
    // A claims a.test but its certificate names c.test.
    let (pa, pb) = cert_policies(&["a-wrongname"], "a", &["b-direct"], "b");
    assert!(pa.check_auth().is_err(), "the config check sees it too");
    refused_by_b(pa, pb, CertError::IdMismatch);
}

#[test]
fn extended_key_usage_excluding_ike_is_refused() {
    let (pa, pb) = cert_policies(&["a-codesign"], "a", &["b-direct"], "b");
    refused_by_b(pa, pb, CertError::WrongKeyUsage);
}

#[test]
fn certificate_for_another_key_fails_auth() {
    // The chain is fine, but A signs with a key the certificate does not hold.
    let (pa, pb) = cert_policies(&["a-otherkey"], "a", &["b-direct"], "b");
    assert!(pa.check_auth().unwrap_err().contains("private key"));
    let p = attempt(pa, pb, 24);
    assert_eq!(failed(&p.b.events), [FailReason::AuthenticationFailed]);
    assert_eq!(failed(&p.a.events), [FailReason::AuthenticationFailed]);
    assert_eq!(ike_up(&p.a.events) + ike_up(&p.b.events), 0);
    assert_nothing_left(&p);
}

#[test]
fn no_certificate_sent_is_refused() {
    let (mut pa, pb) = cert_policies(&["a"], "a", &["b-direct"], "b");
    pa.local_certs.clear();
    refused_by_b(pa, pb, CertError::Missing);
}

#[test]
fn ip_and_dn_identities() {
    // Address identities against subjectAltName iPAddress.
    let (mut pa, mut pb) = cert_policies(&["a"], "a", &["b-direct"], "b");
    pa.local_id = Identity::addr(ip(A_ADDR));
    pb.peer_id = Identity::addr(ip(A_ADDR));
    pb.local_id = Identity::addr(ip(B_ADDR));
    pa.peer_id = Identity::addr(ip(B_ADDR));
    let mut p = Pair::new(config(pa.clone()), config(pb.clone()), 25);
    establish(&mut p);
    // A's ID as its subject DN (ID_DER_ASN1_DN), byte for byte.
    pa.local_id = Identity::dn(&file("a.subject.der"));
    pb.peer_id = pa.local_id.clone();
    pa.check_auth().unwrap();
    let mut p = Pair::new(config(pa), config(pb), 26);
    establish(&mut p);
}

#[test]
fn email_identities() {
    // ID_RFC822_ADDR against rfc822Name, domain case-insensitive.
    let (mut pa, mut pb) = cert_policies(&["a-email"], "a", &["b-direct"], "b");
    pa.local_id = Identity::email("alice@a.test");
    pb.peer_id = pa.local_id.clone();
    pa.check_auth().unwrap();
    let mut p = Pair::new(config(pa.clone()), config(pb.clone()), 29);
    establish(&mut p);
    // A mailbox the certificate does not list.
    pa.local_id = Identity::email("bob@a.test");
    pb.peer_id = pa.local_id.clone();
    assert!(pa.check_auth().unwrap_err().contains("identity not in"));
    refused_by_b(pa, pb, CertError::IdMismatch);
    // Other ID types (KEY_ID here) cannot be vouched for by a certificate.
    let (mut pa, mut pb) = cert_policies(&["a"], "a", &["b-direct"], "b");
    pa.local_id = Identity {
        kind: ike_proto::wire::IdType::KEY_ID,
        data: b"a".to_vec(),
    };
    pb.peer_id = pa.local_id.clone();
    assert!(pa.check_auth().unwrap_err().contains("identity type"));
    // B's configuration check refuses such a peer ID too.
    assert!(pb.check_auth().unwrap_err().contains("cannot be checked"));
    refused_by_b(pa, pb, CertError::UnsupportedIdType);
}

/// The IKE SA keys of the exchange in `init_req` / `init_resp` (both
/// engines use [`FixedKex`], AES-GCM-256 and HMAC-SHA-256 as PRF).
fn derive_keys(init_req: &[u8], init_resp: &[u8]) -> ike_proto::crypto::IkeKeys {
    let nonce = |m: &Message| {
        m.payloads
            .iter()
            .find_map(|p| match p {
                Payload::Nonce(n) => Some(n.clone()),
                _ => None,
            })
            .unwrap()
    };
    let (req, resp) = (
        Message::parse(init_req).unwrap(),
        Message::parse(init_resp).unwrap(),
    );
    let (ni, nr) = (nonce(&req), nonce(&resp));
    let h = resp.header;
    let seed = skeyseed(PrfAlg::HmacSha256, &ni, &nr, &G_IR);
    derive_ike_keys(
        PrfAlg::HmacSha256,
        seed.as_bytes(),
        &ni,
        &nr,
        &h.spi_i.to_be_bytes(),
        &h.spi_r.to_be_bytes(),
        IkeKeyLengths::for_algs(EncrAlg::AesGcm16_256, IntegAlg::None),
    )
    .unwrap()
}

fn gcm(sk_e: &Secret) -> SkCipher {
    SkCipher::new(EncrAlg::AesGcm16_256, IntegAlg::None, sk_e.as_bytes(), &[]).unwrap()
}

/// Decrypts a whole SK message.
fn open_sk(bytes: &[u8], sk_e: &Secret) -> (ike_proto::wire::Header, Vec<Payload>) {
    let pm = ProtectedMessage::parse(bytes).unwrap();
    let plain = gcm(sk_e).decrypt(pm.aad(), pm.body()).unwrap();
    (
        pm.header,
        parse_inner_payloads(pm.first_inner, &plain).unwrap(),
    )
}

/// Re-encrypts `payloads` under `header` as a peer would, without the
/// codec's limits (so that a hostile message can be made).
fn seal_sk(header: &ike_proto::wire::Header, payloads: &[Payload], sk_e: &Secret) -> Vec<u8> {
    let mut inner = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        let next = payloads
            .get(i + 1)
            .map_or(ike_proto::wire::PayloadType::NONE, Payload::payload_type);
        let mut buf = vec![0; p.buffer_len()];
        p.emit(next, &mut buf);
        inner.extend(buf);
    }
    let c = gcm(sk_e);
    let (iv_len, icv_len) = (c.iv_len(), c.icv_len());
    let ct_len = c.sealed_len(inner.len()) - iv_len - icv_len;
    let mut buf = build_protected(
        header,
        &[],
        EncryptedKind::Sk,
        payloads[0].payload_type(),
        iv_len,
        ct_len,
        icv_len,
    )
    .unwrap();
    // An IV the engine's own counter never reaches (RFC 5282 3.1).
    let sealed = c.encrypt(buf.aad(), &inner, &[0xee; 8]).unwrap();
    let slots = buf.slots();
    let (iv, rest) = sealed.split_at(iv_len);
    let (ct, icv) = rest.split_at(ct_len);
    slots.iv.copy_from_slice(iv);
    slots.ciphertext.copy_from_slice(ct);
    slots.icv.copy_from_slice(icv);
    buf.into_bytes()
}

/// Runs A -> B with A's IKE_AUTH request rewritten by `tamper` (decrypted,
/// changed, re-encrypted: B sees a well-protected hostile message).
fn with_tampered_auth(seed: u64, tamper: impl Fn(&mut Vec<Payload>)) -> Pair {
    let (pa, pb) = cert_policies(&["a"], "a", &["b-direct"], "b");
    tampered(pa, pb, seed, |v, _| tamper(v))
}

/// Runs `pa` -> `pb` with A's IKE_AUTH request rewritten by `tamper`, which
/// also gets the octets A's AUTH signs (RFC 7296 2.15), to forge its own.
fn tampered(
    mut pa: Policy,
    mut pb: Policy,
    seed: u64,
    tamper: impl Fn(&mut Vec<Payload>, &[u8]),
) -> Pair {
    pa.fragmentation = false;
    pb.fragmentation = false;
    let mut p = fixed_kex_started(pa, pb, seed);
    let mut init_req = Vec::new();
    let mut nr = Vec::new();
    let mut keys = None;
    run_recorded_with(&mut p, &mut |from, bytes| {
        let Ok(h) = ike_proto::wire::Header::parse_bytes(bytes) else {
            return;
        };
        match (from, h.exchange) {
            (Side::A, ExchangeType::IKE_SA_INIT) => init_req = bytes.clone(),
            (Side::B, ExchangeType::IKE_SA_INIT) => {
                keys = Some(derive_keys(&init_req, bytes));
                nr = Message::parse(bytes)
                    .unwrap()
                    .payloads
                    .iter()
                    .find_map(|p| match p {
                        Payload::Nonce(n) => Some(n.clone()),
                        _ => None,
                    })
                    .unwrap();
            }
            (Side::A, ExchangeType::IKE_AUTH) if h.message_id == 1 => {
                let Some(k) = keys.as_ref() else { return };
                let (header, mut payloads) = open_sk(bytes, &k.sk_ei);
                let idi = payloads
                    .iter()
                    .find_map(|p| match p {
                        Payload::IdI(id) => Some(id.body_bytes()),
                        _ => None,
                    })
                    .unwrap();
                let octets =
                    signed_octets(PrfAlg::HmacSha256, &init_req, &nr, k.sk_pi.as_bytes(), &idi);
                tamper(&mut payloads, &octets);
                *bytes = seal_sk(&header, &payloads, &k.sk_ei);
            }
            _ => {}
        }
    });
    p
}

fn insert_certs(payloads: &mut Vec<Payload>, certs: Vec<Vec<u8>>) {
    payloads.retain(|p| !matches!(p, Payload::Cert(_)));
    for (i, data) in certs.into_iter().enumerate() {
        payloads.insert(
            1 + i,
            Payload::Cert(ike_proto::wire::Certificate {
                encoding: CertEncoding::X509_SIGNATURE,
                data,
            }),
        );
    }
}

/// A hostile peer's CERT payloads (with a valid AUTH made by the right
/// key): every one is refused with its reason, nothing panics, nothing
/// stays.
#[test]
fn hostile_cert_payloads_from_the_network() {
    // Control: re-encrypting the real request changes nothing.
    let p = with_tampered_auth(50, |_| {});
    assert_eq!(ike_up(&p.a.events) + ike_up(&p.b.events), 2);

    let good = cert("a");
    let cases: Vec<(Vec<Vec<u8>>, CertError)> = vec![
        (vec![good[..300].to_vec()], CertError::Malformed),
        (vec![vec![0xff; 500]], CertError::Malformed),
        (vec![good.clone(); 40], CertError::TooManyCertificates),
        (
            vec![[good.clone(), vec![0x55; 30_000]].concat()],
            CertError::TooLarge,
        ),
        (vec![good.clone(), vec![0x55; 30_000]], CertError::TooLarge),
    ];
    for (i, (certs, reason)) in cases.into_iter().enumerate() {
        let mut p = with_tampered_auth(51 + i as u64, |v| insert_certs(v, certs.clone()));
        assert_eq!(ike_up(&p.a.events) + ike_up(&p.b.events), 0, "case {i}");
        assert_eq!(
            failed(&p.b.events),
            [FailReason::Certificate(reason)],
            "case {i}"
        );
        assert_eq!(failed(&p.a.events), [FailReason::AuthenticationFailed]);
        p.run_for(Duration::from_secs(60));
        assert_nothing_left(&p);
    }

    // 100 CERT payloads: more than the codec decodes in one message. B
    // answers INVALID_SYNTAX (RFC 7296 2.21.2) and keeps nothing.
    let mut p = with_tampered_auth(60, |v| insert_certs(v, vec![vec![0x30, 0]; 100]));
    assert_eq!(ike_up(&p.a.events) + ike_up(&p.b.events), 0);
    p.run_for(Duration::from_secs(60));
    assert_eq!(failed(&p.a.events).len(), 1, "{:?}", p.a.events);
    assert_nothing_left(&p);
}

#[test]
fn malformed_cert_payloads_do_not_panic() {
    let good = cert("a");
    let garbage: Vec<u8> = (0..700u32).map(|i| (i * 31 + 7) as u8).collect();
    let cases: Vec<(Vec<Vec<u8>>, Option<CertError>)> = vec![
        (
            vec![good[..good.len() / 2].to_vec()],
            Some(CertError::Malformed),
        ),
        (vec![garbage.clone()], Some(CertError::Malformed)),
        (vec![Vec::new()], Some(CertError::Malformed)),
        (vec![good.clone(); 10], Some(CertError::TooManyCertificates)),
        // 20 kB in one CERT: sent in RFC 7383 fragments, refused unparsed.
        (
            vec![[good.clone(), vec![0; 20_000]].concat()],
            Some(CertError::TooLarge),
        ),
        // More than a message holds: our own side refuses to send it.
        (vec![vec![0x30, 0x00]; 100], None),
    ];
    for (i, (certs, reason)) in cases.into_iter().enumerate() {
        let (mut pa, pb) = cert_policies(&["a"], "a", &["b-direct"], "b");
        pa.local_certs = certs;
        let mut p = Pair::new(config(pa), config(pb), 30 + i as u64);
        p.initiate();
        p.run_for(Duration::from_secs(60));
        assert_eq!(ike_up(&p.a.events) + ike_up(&p.b.events), 0, "case {i}");
        if let Some(r) = reason {
            assert_eq!(
                failed(&p.b.events),
                [FailReason::Certificate(r)],
                "case {i}"
            );
        }
        if reason.is_none() {
            assert_eq!(failed(&p.a.events), [FailReason::Unencodable]);
        }
        assert_eq!(failed(&p.a.events).len(), 1, "case {i}: {:?}", p.a.events);
        assert_nothing_left(&p);
    }
}

/// Key exchanges with a fixed shared secret, so that the test can derive
/// the IKE SA keys and read the encrypted IKE_AUTH messages.
struct FixedKex;

const G_IR: [u8; 32] = [0x42; 32];

impl KeyExchangeFactory for FixedKex {
    fn start(
        &self,
        group: Group,
        _rng: &dyn ring::rand::SecureRandom,
    ) -> Result<Box<dyn KeyAgreement>, ike_proto::crypto::Error> {
        Ok(Box::new(RecordedKeyExchange::new(
            group,
            vec![9; 32],
            Secret::from_slice(&G_IR),
        )))
    }
}

/// A's Initiate command, with its output left in the engine for
/// [`run_recorded`] (`Pair::initiate` would move it into the simulator).
fn start(p: &mut Pair) {
    let now = p.now;
    p.a.engine.handle_command(
        now,
        Command::Initiate {
            policy: "net".into(),
        },
    );
}

/// Delivers every datagram at once, in order, and records them.
fn run_recorded(p: &mut Pair) -> Vec<(Side, Vec<u8>)> {
    run_recorded_with(p, &mut |_, _| {})
}

/// Like [`run_recorded`], with `edit` applied to each datagram in flight.
fn run_recorded_with(
    p: &mut Pair,
    edit: &mut dyn FnMut(Side, &mut Vec<u8>),
) -> Vec<(Side, Vec<u8>)> {
    let mut wire = Vec::new();
    let mut queue: VecDeque<(Side, Transmit)> = VecDeque::new();
    loop {
        let now = p.now;
        for s in [Side::A, Side::B] {
            let n = p.node(s);
            while let Some(req) = n.engine.poll_kernel_request() {
                if let Some(ev) = n.kernel.process(req) {
                    n.engine.handle_kernel_event(now, ev);
                }
            }
            while let Some(t) = n.engine.poll_transmit() {
                queue.push_back((s, t));
            }
            while let Some(e) = n.engine.poll_event() {
                n.events.push(e);
            }
        }
        let Some((from, mut t)) = queue.pop_front() else {
            return wire;
        };
        edit(from, &mut t.bytes);
        wire.push((from, t.bytes.clone()));
        let to = if from == Side::A { Side::B } else { Side::A };
        let now = p.now;
        p.node(to)
            .engine
            .handle_datagram(now, t.remote, t.local, &t.bytes);
    }
}

fn certs_in(payloads: &[Payload]) -> Vec<(CertEncoding, Vec<u8>)> {
    payloads
        .iter()
        .filter_map(|p| match p {
            Payload::Cert(c) => Some((c.encoding, c.data.clone())),
            _ => None,
        })
        .collect()
}

fn certreqs_in(payloads: &[Payload]) -> Vec<(CertEncoding, Vec<u8>)> {
    payloads
        .iter()
        .filter_map(|p| match p {
            Payload::CertReq(c) => Some((c.encoding, c.data.clone())),
            _ => None,
        })
        .collect()
}

/// CERTREQ in the IKE_SA_INIT response and the IKE_AUTH request, CERT in
/// both IKE_AUTH messages, in the order RFC 7296 1.2 gives.
#[test]
fn cert_and_certreq_on_the_wire() {
    let (mut pa, mut pb) = cert_policies(&["a"], "a", &["b", "sub"], "b");
    // Whole messages, so that each datagram decrypts on its own.
    pa.fragmentation = false;
    pb.fragmentation = false;
    let mut p = fixed_kex_started(pa, pb, 27);
    let wire = run_recorded(&mut p);
    assert_eq!(ike_up(&p.a.events), 1, "{:?}", p.a.events);
    assert_eq!(ike_up(&p.b.events), 1, "{:?}", p.b.events);
    assert_eq!(wire.len(), 4, "IKE_SA_INIT and IKE_AUTH, nothing else");

    let root_hash = unhex(&String::from_utf8(file("root.spki.sha1")).unwrap());
    let init_req = Message::parse(&wire[0].1).unwrap();
    let init_resp = Message::parse(&wire[1].1).unwrap();
    assert!(certreqs_in(&init_req.payloads).is_empty());
    assert_eq!(
        certreqs_in(&init_resp.payloads),
        [(CertEncoding::X509_SIGNATURE, root_hash.clone())],
        "B asks for certificates from its root"
    );

    // Derive the keys from the (fixed) shared secret and the nonces.
    let keys = derive_keys(&wire[0].1, &wire[1].1);
    let (_, auth_req) = open_sk(&wire[2].1, &keys.sk_ei);
    let (_, auth_resp) = open_sk(&wire[3].1, &keys.sk_er);

    // Request: IDi, CERT (a), CERTREQ (root), ..., IDr, AUTH (method 14).
    assert!(matches!(auth_req[0], Payload::IdI(_)));
    assert_eq!(
        certs_in(&auth_req),
        [(CertEncoding::X509_SIGNATURE, cert("a"))]
    );
    assert!(matches!(auth_req[1], Payload::Cert(_)));
    assert_eq!(
        certreqs_in(&auth_req),
        [(CertEncoding::X509_SIGNATURE, root_hash)]
    );
    let pos = |v: &[Payload], f: fn(&Payload) -> bool| v.iter().position(f).unwrap();
    assert!(
        pos(&auth_req, |p| matches!(p, Payload::CertReq(_)))
            < pos(&auth_req, |p| matches!(p, Payload::Auth(_)))
    );
    // Response: IDr, CERT (b), CERT (sub), AUTH; no CERTREQ.
    assert!(matches!(auth_resp[0], Payload::IdR(_)));
    assert_eq!(
        certs_in(&auth_resp),
        [
            (CertEncoding::X509_SIGNATURE, cert("b")),
            (CertEncoding::X509_SIGNATURE, cert("sub"))
        ]
    );
    assert!(matches!(auth_resp[3], Payload::Auth(_)));
    assert!(certreqs_in(&auth_resp).is_empty());
    for msg in [&auth_req, &auth_resp] {
        let method = msg.iter().find_map(|p| match p {
            Payload::Auth(a) => Some(a.method),
            _ => None,
        });
        assert_eq!(method, Some(AuthMethod::DIGITAL_SIGNATURE));
    }
}

/// The AUTH methods each side used, read from the decrypted IKE_AUTH.
fn auth_methods(mut pa: Policy, mut pb: Policy, seed: u64) -> (Pair, Vec<AuthMethod>) {
    pa.fragmentation = false;
    pb.fragmentation = false;
    let mut p = fixed_kex_started(pa, pb, seed);
    let wire = run_recorded(&mut p);
    let keys = derive_keys(&wire[0].1, &wire[1].1);
    let methods = wire[2..]
        .iter()
        .filter_map(|(from, bytes)| {
            let sk_e = if *from == Side::A {
                &keys.sk_ei
            } else {
                &keys.sk_er
            };
            let (h, payloads) = open_sk(bytes, sk_e);
            assert_eq!(h.exchange, ExchangeType::IKE_AUTH);
            payloads.iter().find_map(|p| match p {
                Payload::Auth(a) => Some(a.method),
                _ => None,
            })
        })
        .collect();
    (p, methods)
}

#[test]
fn rfc4754_method_9_with_certificates() {
    let (mut pa, mut pb) = cert_policies(&["a"], "a", &["b-direct"], "b");
    pa.local_auth = LocalAuth::Rfc4754(local(key("a")));
    pb.local_auth = LocalAuth::Rfc4754(local(key("b")));
    pa.check_auth().unwrap();
    let (p, methods) = auth_methods(pa, pb, 40);
    assert_eq!(methods, [AuthMethod(9), AuthMethod(9)]);
    assert_eq!(ike_up(&p.a.events) + ike_up(&p.b.events), 2);
    assert_eq!(child_up(&p.a.events), 1);
}

#[test]
fn rfc4754_method_10_p384() {
    // B has a P-384 certificate (method 10); A signs RFC 7427 with P-256.
    let (pa, mut pb) = cert_policies(&["a"], "a", &["b384"], "b384");
    pb.local_auth = LocalAuth::Rfc4754(local(key("b384")));
    pb.check_auth().unwrap();
    let (p, methods) = auth_methods(pa, pb, 41);
    assert_eq!(methods, [AuthMethod::DIGITAL_SIGNATURE, AuthMethod(10)]);
    assert_eq!(ike_up(&p.a.events) + ike_up(&p.b.events), 2);
}

#[test]
fn rfc4754_with_raw_keys_and_wrong_key_types() {
    // Raw public keys (no certificates), methods 9 and 10 across.
    let (mut pa, mut pb) = psk_policies(b"unused", b"unused");
    pa.local_auth = LocalAuth::Rfc4754(local(key("a")));
    pa.peer_auth = PeerAuth::Signature(Arc::new(key("b384").verifying_key()));
    pb.local_auth = LocalAuth::Rfc4754(local(key("b384")));
    pb.peer_auth = PeerAuth::Signature(Arc::new(key("a").verifying_key()));
    let (p, methods) = auth_methods(pa.clone(), pb.clone(), 42);
    assert_eq!(methods, [AuthMethod(9), AuthMethod(10)]);
    assert_eq!(ike_up(&p.a.events) + ike_up(&p.b.events), 2);

    // An RSA key cannot do RFC 4754: the config check says so, and an
    // engine given it anyway fails cleanly.
    pa.local_auth = LocalAuth::Rfc4754(local(key("arsa")));
    assert!(pa.check_auth().unwrap_err().contains("P-256"));
    let mut p = attempt(pa, pb, 43);
    assert_eq!(failed(&p.a.events), [FailReason::LocalAuth]);
    assert_eq!(ike_up(&p.a.events) + ike_up(&p.b.events), 0);
    p.run_for(Duration::from_secs(60));
    assert_nothing_left(&p);
}

#[test]
fn rsa_2048_rfc7427_with_certificate() {
    let (pa, pb) = cert_policies(&["a-rsa"], "arsa", &["b-direct"], "b");
    pa.check_auth().unwrap();
    let (p, methods) = auth_methods(pa, pb, 44);
    assert_eq!(methods, [AuthMethod::DIGITAL_SIGNATURE; 2]);
    assert_eq!(ike_up(&p.a.events) + ike_up(&p.b.events), 2);
    assert_eq!(child_up(&p.b.events), 1);
}

#[test]
fn rsa_raw_key_both_ways() {
    // RSA on both ends, raw public keys, PKCS#1 file for one of them.
    let (mut pa, mut pb) = psk_policies(b"unused", b"unused");
    let rsa1 = Arc::new(
        SigningKey::from_pem(&file("arsa.rsa.pem"), &ring::rand::SystemRandom::new()).unwrap(),
    );
    let (kb, vb) = keypair("p256");
    pa.local_auth = LocalAuth::Signature(local(rsa1.clone()));
    pa.peer_auth = PeerAuth::Signature(vb);
    pb.local_auth = LocalAuth::Signature(local(kb));
    pb.peer_auth = PeerAuth::Signature(Arc::new(rsa1.verifying_key()));
    let mut p = Pair::new(config(pa), config(pb), 45);
    establish(&mut p);
}

/// Removes SIGNATURE_HASH_ALGORITHMS from B's IKE_SA_INIT response, as a
/// peer without RFC 7427 would send it.
fn strip_hash_notify(from: Side, bytes: &mut Vec<u8>) {
    let Ok(mut m) = Message::parse(bytes) else {
        return;
    };
    if from != Side::B || m.header.exchange != ExchangeType::IKE_SA_INIT {
        return;
    }
    m.payloads.retain(|p| {
        !matches!(p, Payload::Notify(n) if n.notify_type == NotifyType::SIGNATURE_HASH_ALGORITHMS)
    });
    *bytes = m.to_bytes().unwrap();
}

#[test]
fn rsa_key_needs_peer_rfc7427_announcement() {
    // A signs with RSA; B's answer does not announce RFC 7427: A cannot
    // sign (no SHA-1 RSA in ring), says why and leaves nothing behind.
    let (mut pa, pb) = cert_policies(&["a-rsa"], "arsa", &["b-direct"], "b");
    pa.fragmentation = false;
    let mut p = Pair::new(config(pa.clone()), config(pb.clone()), 47);
    start(&mut p);
    let wire = run_recorded_with(&mut p, &mut strip_hash_notify);
    assert_eq!(wire.len(), 2, "no IKE_AUTH goes out");
    assert_eq!(failed(&p.a.events), [FailReason::LocalAuth]);
    assert_eq!(p.a.engine.ike_sa_count(), 0);
    assert!(p.a.kernel.sas.is_empty(), "the child's SPI was given back");
    // B's half-open SA times out on its own.
    p.run_for(Duration::from_secs(60));
    assert_nothing_left(&p);

    // With an ECDSA key A goes ahead (and logs it): only RSA lacks a way
    // to sign. (B's AUTH then fails at A, since the answer A saw is not
    // the one B signed: that is the tampering, not the key.)
    let (pa, pb) = cert_policies(&["a"], "a", &["b-direct"], "b");
    let mut p = Pair::new(config(pa), config(pb), 48);
    start(&mut p);
    let wire = run_recorded_with(&mut p, &mut strip_hash_notify);
    assert!(wire.len() >= 3, "A sent its IKE_AUTH request");
    assert_eq!(wire[2].0, Side::A);
    assert!(!failed(&p.a.events).contains(&FailReason::LocalAuth));
}

/// RSASSA-PKCS1-v1_5 with SHA-1 (RFC 8017 8.2.1, 9.2), which ring does not
/// make: the test's own signer for auth method 1, checked against OpenSSL
/// below. `key` is a PKCS#1 RSAPrivateKey of 2048 bits.
fn rsa_sha1_sign(key: &[u8], msg: &[u8]) -> Vec<u8> {
    use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
    use crypto_bigint::{Encoding, U2048};
    // SEQUENCE { version, n, e, d, ... }: take n and d.
    fn tlv(b: &[u8]) -> (u8, &[u8], &[u8]) {
        let (len, at) = match b[1] {
            l if l < 0x80 => (l as usize, 2),
            0x81 => (b[2] as usize, 3),
            _ => (((b[2] as usize) << 8) | b[3] as usize, 4),
        };
        (b[0], &b[at..at + len], &b[at + len..])
    }
    let (_, seq, _) = tlv(key);
    let (_, _version, rest) = tlv(seq);
    let (_, n, rest) = tlv(rest);
    let (_, _e, rest) = tlv(rest);
    let (_, d, _) = tlv(rest);
    let int = |v: &[u8]| {
        let v = &v[v.len() - 256.min(v.len())..];
        let mut buf = [0u8; 256];
        buf[256 - v.len()..].copy_from_slice(v);
        U2048::from_be_slice(&buf)
    };
    // EM = 00 01 FF..FF 00 DigestInfo(SHA-1, H); DigestInfo prefix from
    // RFC 8017 9.2 note 1.
    let mut t = vec![
        0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14,
    ];
    t.extend_from_slice(
        ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, msg).as_ref(),
    );
    let mut em = vec![0x00, 0x01];
    em.resize(256 - t.len() - 1, 0xff);
    em.push(0x00);
    em.extend_from_slice(&t);
    let params = DynResidueParams::new(&int(n));
    let s = DynResidue::new(&int(&em), params).pow(&int(d)).retrieve();
    s.to_be_bytes().to_vec()
}

fn pkcs1_der(pem_file: &str) -> Vec<u8> {
    pem::parse(file(pem_file)).unwrap().into_contents()
}

/// A peer authenticating with auth method 1 (RSA, SHA-1; RFC 7296 3.8),
/// as an OpenIKED without RFC 7427 would: accepted with its certificate's
/// key; a bad method-1 signature is not.
#[test]
fn peer_rsa_method_1_is_verified() {
    // The test signer agrees with OpenSSL's known answer.
    let kat = |name: &str| {
        std::fs::read(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/kat/sig")
                .join(name),
        )
        .unwrap()
    };
    let kat_key = pem::parse(kat("rsa2048.key.pkcs1.pem")).unwrap();
    assert_eq!(
        rsa_sha1_sign(kat_key.contents(), &kat("message.bin")),
        kat("rsa2048-pkcs1-sha1.sig")
    );

    let key1 = pkcs1_der("arsa.rsa.pem");
    for (good, seed) in [(true, 70u64), (false, 71)] {
        let (pa, pb) = cert_policies(&["a-rsa"], "arsa", &["b-direct"], "b");
        let key1 = key1.clone();
        let p = tampered(pa, pb, seed, move |payloads, octets| {
            let mut sig = rsa_sha1_sign(&key1, octets);
            if !good {
                sig[100] ^= 1;
            }
            for pl in payloads.iter_mut() {
                if let Payload::Auth(a) = pl {
                    a.method = AuthMethod::RSA_SIG;
                    a.data = sig.clone();
                }
            }
        });
        if good {
            assert_eq!(ike_up(&p.b.events), 1, "{:?}", p.b.events);
            assert_eq!(ike_up(&p.a.events), 1, "{:?}", p.a.events);
        } else {
            assert_eq!(failed(&p.b.events), [FailReason::AuthenticationFailed]);
            assert_eq!(ike_up(&p.a.events) + ike_up(&p.b.events), 0);
        }
    }
}
