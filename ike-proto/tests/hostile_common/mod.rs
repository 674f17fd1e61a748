//! A scripted IKE initiator built from the crate's public codec and
//! crypto (not an `Engine`), so that it can send what a correct engine
//! never would: broken inner payloads behind a valid ICV, SPIs where none
//! belong, version 3, thousands of half-open attempts; and a responder
//! engine to feed. Used by `engine_hostile.rs`, `engine_half_open_memory.rs`
//! and the stateful fuzz target (`fuzz/fuzz_targets/engine_responder.rs`).
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

pub const B_ADDR: &str = "198.51.100.2";

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub const PSK: &[u8] = b"hostile but correct psk";

pub fn responder_addr() -> SocketAddr {
    SocketAddr::new(ip(B_ADDR), 500)
}

/// The responder's configuration: one passive PSK policy for any peer
/// address, accepting AES-CBC/HMAC-SHA-256 (what the scripted initiator
/// speaks) besides its defaults.
pub fn responder_config() -> Config {
    let mut pb = Policy::new("net", ip(B_ADDR), ip("192.0.2.1"));
    pb.local_id = Identity::fqdn("b.test");
    pb.peer_id = Identity::fqdn("a.test");
    pb.start = StartAction::Passive;
    pb.peer_addr = None;
    pb.ike_proposals.push(IkeProposal {
        encr: vec![Encr {
            id: EncrId::AES_CBC,
            key_bits: Some(128),
        }],
        prf: vec![PrfId::HMAC_SHA2_256],
        integ: vec![IntegId::HMAC_SHA2_256_128],
        dh: vec![DhGroup::CURVE25519],
    });
    Config {
        policies: vec![Arc::new(pb)],
        credentials: Arc::new(KeyStore::new().with_psk("net", PSK)),
        ..Config::default()
    }
}

/// A responder engine and the clock it is fed.
pub struct Responder {
    pub engine: Engine,
    pub now: Instant,
    pub events: Vec<Event>,
}

impl Responder {
    pub fn new(cfg: Config) -> Responder {
        let now = Instant::now();
        Responder {
            engine: Engine::new(cfg, Box::new(SeededRng::new(17)), now),
            now,
            events: Vec::new(),
        }
    }

    /// Delivers one datagram and returns what the engine sent back.
    pub fn feed(&mut self, from: SocketAddr, bytes: &[u8]) -> Vec<Vec<u8>> {
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

    pub fn advance(&mut self, d: Duration) {
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

    pub fn drops(&self, r: DropReason) -> u64 {
        self.engine
            .admission_stats()
            .drops
            .iter()
            .find(|(x, _)| *x == r)
            .map_or(0, |(_, n)| *n)
    }
}

/// An IKE initiator written out by hand.
pub struct Initiator {
    pub addr: SocketAddr,
    pub spi_i: u64,
    pub ni: Vec<u8>,
    pub kex: Option<KeyExchange>,
    pub init_request: Vec<u8>,
    pub spi_r: u64,
    pub nr: Vec<u8>,
    pub keys: Option<IkeKeys>,
    pub tx: Option<SkCipher>,
    pub rx: Option<SkCipher>,
    pub iv: u8,
}

pub fn transform(ttype: TransformType, id: u16, key_length: Option<u16>) -> Transform {
    Transform {
        ttype,
        id,
        key_length,
        other_attributes: Vec::new(),
    }
}

pub fn ike_proposal(spi: Vec<u8>) -> Proposal {
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

pub fn notify(t: NotifyType, data: Vec<u8>) -> Payload {
    Payload::Notify(Notify::new(t, data))
}

pub fn notifies(payloads: &[Payload]) -> Vec<NotifyType> {
    payloads
        .iter()
        .filter_map(|p| match p {
            Payload::Notify(n) => Some(n.notify_type),
            _ => None,
        })
        .collect()
}

impl Initiator {
    pub fn new(addr: &str, spi_i: u64) -> Initiator {
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
    pub fn init_payloads(&self, cookie: Option<&[u8]>, spi: Vec<u8>) -> Vec<Payload> {
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

    pub fn init_message(&self, payloads: Vec<Payload>) -> Message {
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
    pub fn init(&mut self, cookie: Option<&[u8]>) -> Vec<u8> {
        let m = self.init_message(self.init_payloads(cookie, Vec::new()));
        self.init_request = m.to_bytes().unwrap();
        self.init_request.clone()
    }

    /// Takes the responder's IKE_SA_INIT answer: keys on success, the
    /// notifies if it refused or asked for a cookie.
    pub fn on_init_response(&mut self, bytes: &[u8]) -> Result<(), Vec<Payload>> {
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

    pub fn header(&self, exchange: ExchangeType, id: u32) -> Header {
        let flags = Flags {
            initiator: true,
            ..Flags::default()
        };
        Header::new(self.spi_i, self.spi_r, exchange, flags, id)
    }

    pub fn next_iv(&mut self) -> Vec<u8> {
        self.iv = self.iv.wrapping_add(1);
        vec![self.iv; 16]
    }

    /// Encrypts raw inner bytes as SK (or one SKF fragment).
    pub fn seal(
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

    pub fn protected(&mut self, exchange: ExchangeType, id: u32, payloads: &[Payload]) -> Vec<u8> {
        let (first, inner) = ike_proto::wire::emit_inner_payloads(payloads).unwrap();
        self.seal(exchange, id, EncryptedKind::Sk, first, &inner)
    }

    /// Raw inner bytes cut into `n` SKF fragments.
    pub fn fragments(
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
    pub fn bad_padding(&mut self, exchange: ExchangeType, id: u32) -> Vec<u8> {
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
    pub fn auth_payloads(&self) -> Vec<Payload> {
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
    pub fn open(&self, bytes: &[u8]) -> Vec<Payload> {
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
    pub fn handshake_init(&mut self, r: &mut Responder) {
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

pub fn ike_up_count(r: &Responder) -> usize {
    r.events
        .iter()
        .filter(|e| matches!(e, Event::IkeUp { .. }))
        .count()
}

/// An inner chain that does not parse: IDi claiming 255 bytes of 96.
pub fn broken_inner() -> Vec<u8> {
    let mut v = vec![0u8; 96];
    v[2] = 0;
    v[3] = 255;
    v
}
