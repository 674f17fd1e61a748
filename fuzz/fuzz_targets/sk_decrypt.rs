//! Fuzz target: the receive path of protected messages, with real keys.
//!
//! Random bytes almost never carry a valid ICV, so the input is used two
//! ways: (1) as a datagram, which must be rejected without a panic, and
//! (2) as the plaintext of an SK payload that this target encrypts with
//! the keys of the strongSwan vector set, so that parsing, splitting,
//! decryption, padding removal and the inner decoder all run on it.
#![no_main]

use ike_proto::crypto::{EncrAlg, IntegAlg, SkCipher};
use ike_proto::wire::{
    build_protected, parse_inner_payloads, EncryptedKind, ExchangeType, Flags, Header, PayloadType,
    ProtectedMessage,
};
use libfuzzer_sys::fuzz_target;

// SK_ei of IKE_SA 1 of tests/data/strongswan-psk-x25519-aes256gcm/keys.txt.
const GCM_KEY: [u8; 36] = [
    0x1a, 0x24, 0xd4, 0x2b, 0x30, 0x5a, 0x6f, 0x68, 0x0f, 0xef, 0x74, 0x7b, 0x3e, 0x04, 0xfe, 0x95,
    0x71, 0xcf, 0x1a, 0x1c, 0xd1, 0xa5, 0x13, 0x5a, 0xad, 0x46, 0xa7, 0xe6, 0x50, 0xb8, 0x9e, 0x99,
    0x54, 0x06, 0x4b, 0xc2,
];
// SK_ei / SK_ai of tests/data/strongswan-psk-ecp256-aes128cbc-sha256/keys.txt.
const CBC_KEY: [u8; 16] = [
    0x8f, 0x0e, 0x38, 0x67, 0xdf, 0x13, 0x2d, 0xde, 0xd6, 0x15, 0x80, 0x9f, 0xba, 0x07, 0xa9, 0x5c,
];
const CBC_MAC_KEY: [u8; 32] = [
    0xdc, 0x2d, 0x77, 0x50, 0x68, 0x86, 0xe9, 0xd5, 0xfe, 0x91, 0xbd, 0x70, 0xfd, 0x10, 0xe8, 0xcf,
    0x59, 0x86, 0xfb, 0x34, 0x08, 0x2d, 0x4d, 0x76, 0x43, 0xf5, 0xc2, 0xea, 0x41, 0xcd, 0xd3, 0xae,
];

fn ciphers() -> [SkCipher; 2] {
    [
        SkCipher::new(EncrAlg::AesGcm16_256, IntegAlg::None, &GCM_KEY, &[]).expect("gcm key"),
        SkCipher::new(
            EncrAlg::AesCbc128,
            IntegAlg::HmacSha256_128,
            &CBC_KEY,
            &CBC_MAC_KEY,
        )
        .expect("cbc key"),
    ]
}

/// What the engine does with a received protected datagram.
fn receive(cipher: &SkCipher, datagram: &[u8]) -> Option<Vec<u8>> {
    let p = ProtectedMessage::parse(datagram).ok()?;
    p.split(cipher.iv_len(), cipher.icv_len()).ok()?;
    let plain = cipher.decrypt(p.aad(), p.body()).ok()?;
    let _ = parse_inner_payloads(p.first_inner, &plain);
    Some(plain)
}

fuzz_target!(|data: &[u8]| {
    let ciphers = ciphers();
    for c in &ciphers {
        // (1) Raw bytes as a datagram: rejected or accepted, never a panic.
        // (Seeds include real messages, which do decrypt.)
        let _ = receive(c, data);
    }
    // (2) Bytes as the plaintext inner chain, first byte = first payload type.
    let Some((&first, inner)) = data.split_first() else {
        return;
    };
    let header = Header::new(1, 2, ExchangeType::INFORMATIONAL, Flags::default(), 7);
    for c in &ciphers {
        let sealed_len = c.sealed_len(inner.len());
        let ct_len = sealed_len - c.iv_len() - c.icv_len();
        let Ok(mut buf) = build_protected(
            &header,
            &[],
            EncryptedKind::Sk,
            PayloadType(first),
            c.iv_len(),
            ct_len,
            c.icv_len(),
        ) else {
            return; // too long for one payload
        };
        let iv = vec![0x5a; c.iv_len()];
        let sealed = c.encrypt(buf.aad(), inner, &iv).expect("encrypt");
        buf.set_body(&sealed).expect("layout matches sealed_len");
        let datagram = buf.into_bytes();
        assert_eq!(receive(c, &datagram).as_deref(), Some(inner));
    }
});
