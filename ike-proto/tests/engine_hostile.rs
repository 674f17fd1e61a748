//! A responder engine against hostile initiators (issue 17): malformed and
//! fragmented IKE_AUTH, RFC 7296 deviations in IKE_SA_INIT, bad padding
//! behind a valid ICV, and IKE_SA_INIT floods from sources that answer
//! cookies.
//!
//! The initiator here is scripted from the crate's public codec and crypto
//! (not an `Engine`), so that it can send what a correct engine never
//! would: broken inner payloads behind a valid ICV, SPIs where none
//! belong, version 3, thousands of half-open attempts.

mod engine_common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine_common::*;
use ike_proto::crypto::{
    derive_ike_keys, psk_auth, signed_octets, skeyseed, EncrAlg, IkeKeyLengths, IkeKeys, IntegAlg,
    KeyExchange, PrfAlg, SkCipher,
};
use ike_proto::engine::*;
use ike_proto::wire::{
    build_protected, AuthMethod, Authentication, DhGroup, EncrId, EncryptedKind, ExchangeType,
    Flags, Header, IdType, Identification, IntegId, Message, Notify, NotifyType, Payload,
    PayloadType, PrfId, Proposal, ProtectedMessage, ProtocolId, Transform, TransformType,
};

const PSK: &[u8] = b"hostile but correct psk";

fn responder_addr() -> SocketAddr {
    SocketAddr::new(ip(B_ADDR), 500)
}

/// The responder's configuration: one passive PSK policy for any peer
/// address, accepting AES-CBC/HMAC-SHA-256 (what the scripted initiator
/// speaks) besides its defaults.
fn responder_config() -> Config {
    let (_, mut pb) = psk_policies(PSK, PSK);
    pb.peer_addr = None;
    pb.ike_proposals.push(IkeProposal {
        encr: vec![cbc(128)],
        prf: vec![PrfId::HMAC_SHA2_256],
        integ: vec![IntegId::HMAC_SHA2_256_128],
        dh: vec![DhGroup::CURVE25519],
    });
    Config {
        policies: vec![Arc::new(pb)],
        ..Config::default()
    }
}

/// A responder engine and the clock it is fed.
struct Responder {
    engine: Engine,
    now: Instant,
    events: Vec<Event>,
}

impl Responder {
    fn new(cfg: Config) -> Responder {
        let now = Instant::now();
        Responder {
            engine: Engine::new(cfg, Box::new(SeededRng::new(17)), now),
            now,
            events: Vec::new(),
        }
    }

    /// Delivers one datagram and returns what the engine sent back.
    fn feed(&mut self, from: SocketAddr, bytes: &[u8]) -> Vec<Vec<u8>> {
        self.engine
            .handle_datagram(self.now, responder_addr(), from, bytes);
        let mut out = Vec::new();
        while let Some(t) = self.engine.poll_transmit() {
            assert_eq!(t.remote, from, "answers go to the sender");
            out.push(t.bytes);
        }
        while let Some(e) = self.engine.poll_event() {
            self.events.push(e);
        }
        while self.engine.poll_kernel_request().is_some() {}
        out
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        while let Some(t) = self.engine.poll_timeout() {
            if t > self.now {
                break;
            }
            self.engine.handle_timeout(self.now);
            while self.engine.poll_transmit().is_some() {}
            while let Some(e) = self.engine.poll_event() {
                self.events.push(e);
            }
        }
    }

    fn drops(&self, r: DropReason) -> u64 {
        self.engine
            .admission_stats()
            .drops
            .iter()
            .find(|(x, _)| *x == r)
            .map_or(0, |(_, n)| *n)
    }
}

/// An IKE initiator written out by hand.
struct Initiator {
    addr: SocketAddr,
    spi_i: u64,
    ni: Vec<u8>,
    kex: Option<KeyExchange>,
    init_request: Vec<u8>,
    spi_r: u64,
    nr: Vec<u8>,
    keys: Option<IkeKeys>,
    tx: Option<SkCipher>,
    rx: Option<SkCipher>,
    iv: u8,
}

fn transform(ttype: TransformType, id: u16, key_length: Option<u16>) -> Transform {
    Transform {
        ttype,
        id,
        key_length,
        other_attributes: Vec::new(),
    }
}

fn ike_proposal(spi: Vec<u8>) -> Proposal {
    Proposal {
        num: 1,
        protocol: ProtocolId::IKE,
        spi,
        transforms: vec![
            transform(TransformType::ENCR, EncrId::AES_CBC.0, Some(128)),
            transform(TransformType::PRF, PrfId::HMAC_SHA2_256.0, None),
            transform(TransformType::INTEG, IntegId::HMAC_SHA2_256_128.0, None),
            transform(TransformType::KE, DhGroup::CURVE25519.0, None),
        ],
    }
}

fn notify(t: NotifyType, data: Vec<u8>) -> Payload {
    Payload::Notify(Notify::new(t, data))
}

fn notifies(payloads: &[Payload]) -> Vec<NotifyType> {
    payloads
        .iter()
        .filter_map(|p| match p {
            Payload::Notify(n) => Some(n.notify_type),
            _ => None,
        })
        .collect()
}

impl Initiator {
    fn new(addr: &str, spi_i: u64) -> Initiator {
        let kex = KeyExchange::new(
            ike_proto::crypto::Group::Curve25519,
            &ring::rand::SystemRandom::new(),
        )
        .unwrap();
        let mut ni = vec![0u8; 32];
        ni[..8].copy_from_slice(&spi_i.to_be_bytes());
        Initiator {
            addr: SocketAddr::new(ip(addr), 500),
            spi_i,
            ni,
            kex: Some(kex),
            init_request: Vec::new(),
            spi_r: 0,
            nr: Vec::new(),
            keys: None,
            tx: None,
            rx: None,
            iv: 0,
        }
    }

    /// The usual IKE_SA_INIT payloads after an optional cookie.
    fn init_payloads(&self, cookie: Option<&[u8]>, spi: Vec<u8>) -> Vec<Payload> {
        let mut p = Vec::new();
        if let Some(c) = cookie {
            p.push(notify(NotifyType::COOKIE, c.to_vec()));
        }
        p.push(Payload::Sa(vec![ike_proposal(spi)]));
        p.push(Payload::Ke(ike_proto::wire::KeyExchange {
            group: DhGroup::CURVE25519,
            data: self.kex.as_ref().unwrap().public_value().to_vec(),
        }));
        p.push(Payload::Nonce(self.ni.clone()));
        p.push(notify(
            NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
            Vec::new(),
        ));
        p
    }

    fn init_message(&self, payloads: Vec<Payload>) -> Message {
        let flags = Flags {
            initiator: true,
            ..Flags::default()
        };
        Message {
            header: Header::new(self.spi_i, 0, ExchangeType::IKE_SA_INIT, flags, 0),
            payloads,
        }
    }

    /// IKE_SA_INIT request (kept for AUTH).
    fn init(&mut self, cookie: Option<&[u8]>) -> Vec<u8> {
        let m = self.init_message(self.init_payloads(cookie, Vec::new()));
        self.init_request = m.to_bytes().unwrap();
        self.init_request.clone()
    }

    /// Takes the responder's IKE_SA_INIT answer: keys on success, the
    /// notifies if it refused or asked for a cookie.
    fn on_init_response(&mut self, bytes: &[u8]) -> Result<(), Vec<Payload>> {
        let m = Message::parse(bytes).unwrap();
        assert!(m.header.flags.response && !m.header.flags.initiator);
        let ke = m.payloads.iter().find_map(|p| match p {
            Payload::Ke(k) => Some(k.data.clone()),
            _ => None,
        });
        let nr = m.payloads.iter().find_map(|p| match p {
            Payload::Nonce(n) => Some(n.clone()),
            _ => None,
        });
        let (Some(ke), Some(nr)) = (ke, nr) else {
            return Err(m.payloads);
        };
        let shared = self.kex.take().unwrap().compute_shared(&ke).unwrap();
        let seed = skeyseed(PrfAlg::HmacSha256, &self.ni, &nr, shared.as_bytes());
        let keys = derive_ike_keys(
            PrfAlg::HmacSha256,
            seed.as_bytes(),
            &self.ni,
            &nr,
            &self.spi_i.to_be_bytes(),
            &m.header.spi_r.to_be_bytes(),
            IkeKeyLengths::for_algs(EncrAlg::AesCbc128, IntegAlg::HmacSha256_128),
        )
        .unwrap();
        let (tx, rx) =
            SkCipher::for_ike_sa(&keys, EncrAlg::AesCbc128, IntegAlg::HmacSha256_128, true)
                .unwrap();
        self.spi_r = m.header.spi_r;
        self.nr = nr;
        self.keys = Some(keys);
        self.tx = Some(tx);
        self.rx = Some(rx);
        Ok(())
    }

    fn header(&self, exchange: ExchangeType, id: u32) -> Header {
        let flags = Flags {
            initiator: true,
            ..Flags::default()
        };
        Header::new(self.spi_i, self.spi_r, exchange, flags, id)
    }

    fn next_iv(&mut self) -> Vec<u8> {
        self.iv = self.iv.wrapping_add(1);
        vec![self.iv; 16]
    }

    /// Encrypts raw inner bytes as SK (or one SKF fragment).
    fn seal(
        &mut self,
        exchange: ExchangeType,
        id: u32,
        kind: EncryptedKind,
        first: PayloadType,
        inner: &[u8],
    ) -> Vec<u8> {
        let header = self.header(exchange, id);
        let iv = self.next_iv();
        let tx = self.tx.as_ref().unwrap();
        let ct_len = tx.sealed_len(inner.len()) - tx.iv_len() - tx.icv_len();
        let mut buf =
            build_protected(&header, &[], kind, first, tx.iv_len(), ct_len, tx.icv_len()).unwrap();
        let sealed = tx.encrypt(buf.aad(), inner, &iv).unwrap();
        buf.set_body(&sealed).unwrap();
        buf.into_bytes()
    }

    fn protected(&mut self, exchange: ExchangeType, id: u32, payloads: &[Payload]) -> Vec<u8> {
        let (first, inner) = ike_proto::wire::emit_inner_payloads(payloads).unwrap();
        self.seal(exchange, id, EncryptedKind::Sk, first, &inner)
    }

    /// Raw inner bytes cut into `n` SKF fragments.
    fn fragments(
        &mut self,
        exchange: ExchangeType,
        id: u32,
        first: PayloadType,
        inner: &[u8],
        n: u16,
    ) -> Vec<Vec<u8>> {
        let chunk = inner.len().div_ceil(n as usize);
        inner
            .chunks(chunk)
            .enumerate()
            .map(|(i, c)| {
                let number = i as u16 + 1;
                let f = if number == 1 {
                    first
                } else {
                    PayloadType::NONE
                };
                self.seal(exchange, id, EncryptedKind::Skf { number, total: n }, f, c)
            })
            .collect()
    }

    /// An SK message whose Pad Length octet claims more padding than the
    /// plaintext holds, with a correct ICV: only someone with the keys can
    /// send it.
    fn bad_padding(&mut self, exchange: ExchangeType, id: u32) -> Vec<u8> {
        let header = self.header(exchange, id);
        let iv = self.next_iv();
        let keys = self.keys.as_ref().unwrap();
        let mut plain = vec![0u8; 32];
        plain[31] = 200; // Pad Length far beyond the 31 bytes before it
        let mut buf = build_protected(
            &header,
            &[],
            EncryptedKind::Sk,
            PayloadType::IDI,
            16,
            32,
            16,
        )
        .unwrap();
        ike_proto::crypto::sk::aes_cbc_raw(true, keys.sk_ei.as_bytes(), &iv, &mut plain).unwrap();
        let mac = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, keys.sk_ai.as_bytes());
        let mut ctx = ring::hmac::Context::with_key(&mac);
        ctx.update(buf.aad());
        ctx.update(&iv);
        ctx.update(&plain);
        let tag = ctx.sign();
        let body = [iv.as_slice(), plain.as_slice(), &tag.as_ref()[..16]].concat();
        buf.set_body(&body).unwrap();
        buf.into_bytes()
    }

    /// IDi and a correct PSK AUTH (childless IKE_AUTH, RFC 6023).
    fn auth_payloads(&self) -> Vec<Payload> {
        let id = Identification {
            id_type: IdType::FQDN,
            data: b"a.test".to_vec(),
        };
        let keys = self.keys.as_ref().unwrap();
        let octets = signed_octets(
            PrfAlg::HmacSha256,
            &self.init_request,
            &self.nr,
            keys.sk_pi.as_bytes(),
            &id.body_bytes(),
        );
        let auth = psk_auth(PrfAlg::HmacSha256, PSK, &octets);
        vec![
            Payload::IdI(id),
            Payload::Auth(Authentication {
                method: AuthMethod::SHARED_KEY_MIC,
                data: auth,
            }),
        ]
    }

    /// Decrypts the responder's protected answer.
    fn open(&self, bytes: &[u8]) -> Vec<Payload> {
        let pm = ProtectedMessage::parse(bytes).unwrap();
        let plain = self
            .rx
            .as_ref()
            .unwrap()
            .decrypt(pm.aad(), pm.body())
            .unwrap();
        ike_proto::wire::parse_inner_payloads(pm.first_inner, &plain).unwrap()
    }

    /// IKE_SA_INIT until the responder keeps state (answering one cookie
    /// request if asked).
    fn handshake_init(&mut self, r: &mut Responder) {
        let out = r.feed(self.addr, &self.init(None));
        assert_eq!(out.len(), 1);
        if let Err(p) = self.on_init_response(&out[0]) {
            let cookie = p
                .iter()
                .find_map(|p| match p {
                    Payload::Notify(n) if n.notify_type == NotifyType::COOKIE => {
                        Some(n.data.clone())
                    }
                    _ => None,
                })
                .unwrap_or_else(|| panic!("refused: {:?}", notifies(&p)));
            let out = r.feed(self.addr, &self.init(Some(&cookie)));
            assert_eq!(out.len(), 1, "no answer to the retry with a cookie");
            if let Err(p) = self.on_init_response(&out[0]) {
                panic!("refused with a cookie: {:?}", notifies(&p));
            }
        }
    }
}

fn ike_up_count(r: &Responder) -> usize {
    ike_up(&r.events)
}

/// An inner chain that does not parse: IDi claiming 255 bytes of 96.
fn broken_inner() -> Vec<u8> {
    let mut v = vec![0u8; 96];
    v[2] = 0;
    v[3] = 255;
    v
}

// ----- the scripted initiator itself -----------------------------------

#[test]
fn scripted_initiator_establishes_whole_and_fragmented() {
    for fragmented in [false, true] {
        let mut r = Responder::new(responder_config());
        let mut i = Initiator::new("192.0.2.10", 0x1111);
        i.handshake_init(&mut r);
        assert_eq!(r.engine.half_open_count(), 1);
        let out = if fragmented {
            let (first, inner) = ike_proto::wire::emit_inner_payloads(&i.auth_payloads()).unwrap();
            let frags = i.fragments(ExchangeType::IKE_AUTH, 1, first, &inner, 3);
            let mut out = Vec::new();
            for f in frags {
                out = r.feed(i.addr, &f);
            }
            out
        } else {
            let m = i.protected(ExchangeType::IKE_AUTH, 1, &i.auth_payloads());
            r.feed(i.addr, &m)
        };
        assert_eq!(out.len(), 1);
        let answer = i.open(&out[0]);
        assert!(
            answer.iter().any(|p| matches!(p, Payload::Auth(_))),
            "{answer:?}"
        );
        assert_eq!(ike_up_count(&r), 1, "fragmented: {fragmented}");
        assert_eq!(r.engine.half_open_count(), 0);
    }
}

// ----- 1. the fragment error path --------------------------------------

/// Issue 17: a malformed IKE_AUTH in fragments got INVALID_SYNTAX but its
/// half-open SA stayed, and a valid IKE_AUTH then established on it.
#[test]
fn malformed_fragmented_ike_auth_removes_the_half_open_sa() {
    let mut r = Responder::new(responder_config());
    let mut i = Initiator::new("192.0.2.10", 0x2222);
    i.handshake_init(&mut r);
    let frags = i.fragments(
        ExchangeType::IKE_AUTH,
        1,
        PayloadType::IDI,
        &broken_inner(),
        2,
    );
    assert!(r.feed(i.addr, &frags[0]).is_empty());
    let out = r.feed(i.addr, &frags[1]);
    assert_eq!(out.len(), 1);
    assert_eq!(notifies(&i.open(&out[0])), vec![NotifyType::INVALID_SYNTAX]);
    assert_eq!(r.engine.half_open_count(), 0, "half-open SA left behind");
    assert_eq!(r.engine.ike_sa_count(), 0);
    assert_eq!(r.drops(DropReason::Malformed), 1);
    // A correct IKE_AUTH on the same SPIs finds nothing.
    let m = i.protected(ExchangeType::IKE_AUTH, 2, &i.auth_payloads());
    assert!(r.feed(i.addr, &m).is_empty());
    assert_eq!(ike_up_count(&r), 0, "established on a refused SA");
}

/// The unfragmented path did this already; kept as the reference.
#[test]
fn malformed_whole_ike_auth_removes_the_half_open_sa() {
    let mut r = Responder::new(responder_config());
    let mut i = Initiator::new("192.0.2.10", 0x3333);
    i.handshake_init(&mut r);
    let m = i.seal(
        ExchangeType::IKE_AUTH,
        1,
        EncryptedKind::Sk,
        PayloadType::IDI,
        &broken_inner(),
    );
    let out = r.feed(i.addr, &m);
    assert_eq!(notifies(&i.open(&out[0])), vec![NotifyType::INVALID_SYNTAX]);
    assert_eq!(r.engine.ike_sa_count(), 0);
}
