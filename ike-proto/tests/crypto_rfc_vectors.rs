//! Published known-answer vectors run through the crate's public API.
//! Each test names its source. Where a vector passes through the IKEv2
//! SK framing (pad length octet, salt | IV nonce), the comment says how.

// ring's fixed-output generators are its own (deprecated, doc-hidden) test
// hook; they let the RFC's fixed private keys go through the production
// key exchange code instead of a second ECDH implementation.
#![allow(deprecated)]

mod data_util;

use data_util::unhex;
use ike_proto::crypto::sk::aes_cbc_raw;
use ike_proto::crypto::{
    prf, prf_plus, EncrAlg, Error, Group, IntegAlg, KeyExchange, PrfAlg, SkCipher,
};
use ring::test::rand::FixedSliceRandom;

// ---------------------------------------------------------------------------
// RFC 4868 2.7.1: PRF-HMAC-SHA-256/384/512 test cases (these are RFC 4231
// test cases 1, 2, 3, 4, 6 and 7).
// ---------------------------------------------------------------------------

struct PrfCase {
    key: Vec<u8>,
    data: Vec<u8>,
    sha256: &'static str,
    sha384: &'static str,
    sha512: &'static str,
}

fn rfc4868_prf_cases() -> Vec<PrfCase> {
    vec![
        // 2.7.1.1
        PrfCase {
            key: vec![0x0b; 20],
            data: b"Hi There".to_vec(),
            sha256: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            sha384: "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c\
                     faea9ea9076ede7f4af152e8b2fa9cb6",
            sha512: "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde\
                     daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
        },
        // 2.7.1.2
        PrfCase {
            key: b"Jefe".to_vec(),
            data: b"what do ya want for nothing?".to_vec(),
            sha256: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            sha384: "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e\
                     8e2240ca5e69e2c78b3239ecfab21649",
            sha512: "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554\
                     9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        },
        // 2.7.1.3
        PrfCase {
            key: vec![0xaa; 20],
            data: vec![0xdd; 50],
            sha256: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            sha384: "88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b\
                     2a5ab39dc13814b94e3ab6e101a34f27",
            sha512: "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39\
                     bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb",
        },
        // 2.7.1.4
        PrfCase {
            key: (1..=25).collect(),
            data: vec![0xcd; 50],
            sha256: "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            sha384: "3e8a69b7783c25851933ab6290af6ca77a9981480850009cc5577c6e1f573b4e\
                     6801dd23c4a7d679ccf8a386c674cffb",
            sha512: "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3db\
                     a91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd",
        },
        // 2.7.1.5: key longer than the hash block (hashed first)
        PrfCase {
            key: vec![0xaa; 131],
            data: b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
            sha256: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            sha384: "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c6\
                     0c2ef6ab4030fe8296248df163f44952",
            sha512: "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352\
                     6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598",
        },
        // 2.7.1.6
        PrfCase {
            key: vec![0xaa; 131],
            data: b"This is a test using a larger than block-size key and a larger than \
                    block-size data. The key needs to be hashed before being used by the \
                    HMAC algorithm."
                .to_vec(),
            sha256: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            sha384: "6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5\
                     a678cc31e799176d3860e6110c46523e",
            sha512: "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944\
                     b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58",
        },
    ]
}

#[test]
fn rfc4868_prf_vectors() {
    let cases = rfc4868_prf_cases();
    assert_eq!(cases.len(), 6);
    for (n, c) in cases.iter().enumerate() {
        for (alg, want) in [
            (PrfAlg::HmacSha256, c.sha256),
            (PrfAlg::HmacSha384, c.sha384),
            (PrfAlg::HmacSha512, c.sha512),
        ] {
            let got = prf(alg, &c.key, &c.data);
            assert_eq!(
                got.as_bytes(),
                unhex(want).as_slice(),
                "case {} {alg:?}",
                n + 1
            );
            assert_eq!(got.len(), alg.output_len());
        }
    }
}

/// RFC 4868 2.7.2: the integrity variants use keys of the full hash length
/// and truncate to half. Checks our IntegAlg lengths and that the truncated
/// PRF output equals the published truncated MAC (first case of each).
#[test]
fn rfc4868_integrity_vectors() {
    let cases = [
        (
            IntegAlg::HmacSha256_128,
            PrfAlg::HmacSha256,
            vec![0x0bu8; 32],
            "198a607eb44bfbc69903a0f1cf2bbdc5",
        ),
        (
            IntegAlg::HmacSha384_192,
            PrfAlg::HmacSha384,
            vec![0x0bu8; 48],
            "b6a8d5636f5c6a7224f9977dcf7ee6c7fb6d0c48cbdee973",
        ),
        (
            IntegAlg::HmacSha512_256,
            PrfAlg::HmacSha512,
            vec![0x0bu8; 64],
            "637edc6e01dce7e6742a99451aae82df23da3e92439e590e43e761b33e910fb8",
        ),
    ];
    for (integ, p, key, want) in cases {
        assert_eq!(integ.key_len(), key.len());
        assert_eq!(integ.icv_len(), want.len() / 2);
        let mac = prf(p, &key, b"Hi There");
        assert_eq!(&mac.as_bytes()[..integ.icv_len()], unhex(want).as_slice());
    }
}

/// RFC 4231 4.6 (test case 5): truncated outputs, 128 bits.
#[test]
fn rfc4231_truncation_case() {
    let key = [0x0cu8; 20];
    let data = b"Test With Truncation";
    for (alg, want) in [
        (PrfAlg::HmacSha256, "a3b6167473100ee06e0c796c2955552b"),
        (PrfAlg::HmacSha384, "3abf34c3503b2a23a46efc619baef897"),
        (PrfAlg::HmacSha512, "415fad6271580a531d4179bc891d87a6"),
    ] {
        assert_eq!(
            &prf(alg, &key, data).as_bytes()[..16],
            unhex(want).as_slice()
        );
    }
}

/// RFC 7296 2.13, by its definition: T1 = prf(K, S | 0x01),
/// T2 = prf(K, T1 | S | 0x02), ... and the 255-block limit.
#[test]
fn prf_plus_follows_its_definition() {
    let key = b"prf+ key";
    let seed = b"seed bytes";
    let alg = PrfAlg::HmacSha256;
    let t1 = prf(alg, key, &[&seed[..], &[1]].concat());
    let t2 = prf(alg, key, &[t1.as_bytes(), seed, &[2]].concat());
    let t3 = prf(alg, key, &[t2.as_bytes(), seed, &[3]].concat());
    let expect = [t1.as_bytes(), t2.as_bytes(), t3.as_bytes()].concat();
    let out = prf_plus(alg, key, seed, 90).unwrap();
    assert_eq!(out.as_bytes(), &expect[..90]);
    // Shorter outputs are prefixes.
    assert_eq!(
        prf_plus(alg, key, seed, 33).unwrap().as_bytes(),
        &expect[..33]
    );
    assert_eq!(prf_plus(alg, key, seed, 0).unwrap().len(), 0);
    // 255 blocks is the most the one-octet counter allows.
    assert_eq!(prf_plus(alg, key, seed, 255 * 32).unwrap().len(), 255 * 32);
    assert_eq!(
        prf_plus(alg, key, seed, 255 * 32 + 1).unwrap_err(),
        Error::KeyMaterialTooLong
    );
    assert!(prf_plus(PrfAlg::HmacSha512, key, seed, 255 * 64).is_ok());
}

// ---------------------------------------------------------------------------
// RFC 5903 8.1 and 8.2: ECDH with P-256 and P-384, IKE encoding x | y.
// ---------------------------------------------------------------------------

struct EcdhCase {
    group: Group,
    i: &'static str,
    gi: &'static str,
    r: &'static str,
    gr: &'static str,
    gir_x: &'static str,
}

const RFC5903: [EcdhCase; 2] = [
    // RFC 5903 8.1, 256-bit random ECP group
    EcdhCase {
        group: Group::Ecp256,
        i: "c88f01f510d9ac3f70a292daa2316de544e9aab8afe84049c62a9c57862d1433",
        gi: "dad0b65394221cf9b051e1feca5787d098dfe637fc90b9ef945d0c3772581180\
             5271a0461cdb8252d61f1c456fa3e59ab1f45b33accf5f58389e0577b8990bb3",
        r: "c6ef9c5d78ae012a011164acb397ce2088685d8f06bf9be0b283ab46476bee53",
        gr: "d12dfb5289c8d4f81208b70270398c342296970a0bccb74c736fc7554494bf63\
             56fbf3ca366cc23e8157854c13c58d6aac23f046ada30f8353e74f33039872ab",
        gir_x: "d6840f6b42f6edafd13116e0e12565202fef8e9ece7dce03812464d04b9442de",
    },
    // RFC 5903 8.2, 384-bit random ECP group
    EcdhCase {
        group: Group::Ecp384,
        i: "099f3c7034d4a2c699884d73a375a67f7624ef7c6b3c0f160647b67414dce655\
            e35b538041e649ee3faef896783ab194",
        gi: "667842d7d180ac2cde6f74f37551f55755c7645c20ef73e31634fe72b4c55ee6\
             de3ac808acb4bdb4c88732aee95f41aa9482ed1fc0eeb9cafc4984625ccfc23f\
             65032149e0e144ada024181535a0f38eeb9fcff3c2c947dae69b4c634573a81c",
        r: "41cb0779b4bdb85d47846725fbec3c9430fab46cc8dc5060855cc9bda0aa2942\
            e0308312916b8ed2960e4bd55a7448fc",
        gr: "e558dbef53eecde3d3fccfc1aea08a89a987475d12fd950d83cfa41732bc509d\
             0d1ac43a0336def96fda41d0774a3571dcfbec7aacf3196472169e838430367f\
             66eebe3c6e70c416dd5f0c68759dd1fff83fa40142209dff5eaad96db9e6386c",
        gir_x: "11187331c279962d93d604243fd592cb9d0a926f422e47187521287e7156c5c4\
                d603135569b9e9d09cf5d4a270f59746",
    },
];

/// The RFC's fixed private values enter through ring's fixed generator, so
/// this runs `KeyExchange::new` / `compute_shared` exactly as in production.
fn fixed_exchange(group: Group, private: &[u8]) -> KeyExchange {
    KeyExchange::new(group, &FixedSliceRandom { bytes: private }).unwrap()
}

#[test]
fn rfc5903_ecdh_vectors() {
    for c in &RFC5903 {
        let init = fixed_exchange(c.group, &unhex(c.i));
        let resp = fixed_exchange(c.group, &unhex(c.r));
        // RFC 5903 7: the KE payload carries x | y with no point-format octet.
        assert_eq!(
            init.public_value(),
            unhex(c.gi).as_slice(),
            "{:?} g^i",
            c.group
        );
        assert_eq!(
            resp.public_value(),
            unhex(c.gr).as_slice(),
            "{:?} g^r",
            c.group
        );
        // g^ir is the x coordinate alone.
        let s1 = init.compute_shared(&unhex(c.gr)).unwrap();
        let s2 = resp.compute_shared(&unhex(c.gi)).unwrap();
        assert_eq!(
            s1.as_bytes(),
            unhex(c.gir_x).as_slice(),
            "{:?} g^ir",
            c.group
        );
        assert_eq!(s2.as_bytes(), s1.as_bytes());
    }
}

/// RFC 6989 / RFC 5903: points off the curve, wrong lengths and the SEC1
/// prefixed form are refused.
#[test]
fn ecdh_rejects_bad_peer_values() {
    for c in &RFC5903 {
        let gr = unhex(c.gr);
        let mut off_curve = gr.clone();
        let last = off_curve.len() - 1;
        off_curve[last] ^= 1;
        let mut prefixed = vec![0x04];
        prefixed.extend_from_slice(&gr);
        let zeros = vec![0u8; gr.len()];
        for bad in [
            &off_curve,
            &prefixed,
            &gr[1..].to_vec(),
            &zeros,
            &Vec::new(),
        ] {
            let init = fixed_exchange(c.group, &unhex(c.i));
            assert_eq!(
                init.compute_shared(bad).unwrap_err(),
                Error::InvalidPeerValue,
                "{:?} len {}",
                c.group,
                bad.len()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// RFC 7748 6.1: X25519 (IKEv2 use: RFC 8031).
// ---------------------------------------------------------------------------

const X25519_A_PRIV: &str = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
const X25519_A_PUB: &str = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
const X25519_B_PRIV: &str = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
const X25519_B_PUB: &str = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
const X25519_K: &str = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

#[test]
fn rfc7748_x25519_vector() {
    let a = fixed_exchange(Group::Curve25519, &unhex(X25519_A_PRIV));
    let b = fixed_exchange(Group::Curve25519, &unhex(X25519_B_PRIV));
    assert_eq!(a.public_value(), unhex(X25519_A_PUB).as_slice());
    assert_eq!(b.public_value(), unhex(X25519_B_PUB).as_slice());
    assert_eq!(
        a.compute_shared(&unhex(X25519_B_PUB)).unwrap().as_bytes(),
        unhex(X25519_K).as_slice()
    );
    assert_eq!(
        b.compute_shared(&unhex(X25519_A_PUB)).unwrap().as_bytes(),
        unhex(X25519_K).as_slice()
    );
}

/// RFC 7748 6.1 / RFC 8031 2.3: low-order points give an all-zero secret,
/// which must be refused; so must values of the wrong length.
#[test]
fn x25519_rejects_low_order_points() {
    // u = 0 and u = 1 are points of small order on Curve25519 (RFC 7748 6.1
    // says such inputs produce the all-zero output).
    let mut one = [0u8; 32];
    one[0] = 1;
    for bad in [&[0u8; 32][..], &one[..], &[9u8; 31][..], &[9u8; 33][..]] {
        let a = fixed_exchange(Group::Curve25519, &unhex(X25519_A_PRIV));
        assert_eq!(a.compute_shared(bad).unwrap_err(), Error::InvalidPeerValue);
    }
}

// ---------------------------------------------------------------------------
// MODP groups 14 and 15 (RFC 3526): tests/data/kat/modp.txt, computed with
// an independent big-integer implementation (see the file's header).
// ---------------------------------------------------------------------------

fn modp_kat() -> Vec<(Group, [Vec<u8>; 5])> {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/kat/modp.txt"),
    )
    .unwrap();
    let mut out = Vec::new();
    let mut group = None;
    let mut vals: Vec<Vec<u8>> = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        if line == "[group 14]" || line == "[group 15]" {
            group = Some(if line.contains("14") {
                Group::Modp2048
            } else {
                Group::Modp3072
            });
            vals.clear();
        } else if let Some((_, v)) = line.split_once(" = ") {
            vals.push(unhex(v));
            if vals.len() == 5 {
                let v: [Vec<u8>; 5] = std::mem::take(&mut vals).try_into().unwrap();
                out.push((group.unwrap(), v));
            }
        }
    }
    out
}

#[test]
fn modp_known_answers() {
    let kat = modp_kat();
    assert_eq!(kat.len(), 2);
    for (group, [xa, xb, pub_a, pub_b, shared]) in kat {
        let a = fixed_exchange(group, &xa);
        let b = fixed_exchange(group, &xb);
        assert_eq!(a.public_value(), pub_a.as_slice(), "{group:?}");
        assert_eq!(b.public_value(), pub_b.as_slice(), "{group:?}");
        assert_eq!(
            a.compute_shared(&pub_b).unwrap().as_bytes(),
            shared.as_slice()
        );
        assert_eq!(
            b.compute_shared(&pub_a).unwrap().as_bytes(),
            shared.as_slice()
        );
    }
}

/// RFC 6989 2.1: the peer's value must satisfy 1 < y < p-1, and have the
/// prime's length (RFC 7296 3.4).
#[test]
fn modp_rejects_invalid_peer_values() {
    for (group, [xa, _, pub_a, ..]) in modp_kat() {
        let len = group.public_len();
        // p itself: every RFC 3526 prime ends in 64 one bits, so p - 1 and
        // p are the same bytes except the last (...fe / ...ff).
        let p = p_bytes(group);
        let mut p_minus_1 = p.clone();
        p_minus_1[len - 1] = 0xfe;
        let mut one = vec![0u8; len];
        one[len - 1] = 1;
        let zero = vec![0u8; len];
        let above_p = vec![0xffu8; len];
        let short = pub_a[1..].to_vec();
        let mut long = vec![0u8];
        long.extend_from_slice(&pub_a);
        for bad in [&zero, &one, &p_minus_1, &p, &above_p, &short, &long] {
            let a = fixed_exchange(group, &xa);
            assert_eq!(a.compute_shared(bad).unwrap_err(), Error::InvalidPeerValue);
        }
        // 2 and p - 2 are the edges that are allowed.
        let mut two = vec![0u8; len];
        two[len - 1] = 2;
        let mut p_minus_2 = p.clone();
        p_minus_2[len - 1] = 0xfd;
        for ok in [&two, &p_minus_2] {
            assert!(fixed_exchange(group, &xa).compute_shared(ok).is_ok());
        }
    }
}

/// The prime, written out here independently of the crate's copy.
fn p_bytes(group: Group) -> Vec<u8> {
    let hex = match group {
        Group::Modp2048 => RFC3526_14,
        _ => RFC3526_15,
    };
    unhex(hex)
}

// RFC 3526 3 and 4 (as shipped by OpenSSL).
const RFC3526_14: &str = "\
FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD\
EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED\
EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F\
83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B\
E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510\
15728E5A8AACAA68FFFFFFFFFFFFFFFF";
const RFC3526_15: &str = "\
FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD\
EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED\
EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F\
83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B\
E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510\
15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7\
ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C\
BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF";

// ---------------------------------------------------------------------------
// AEAD vectors through SkCipher. The SK plaintext ends in a Pad Length
// octet, so decrypting a published vector returns the plaintext minus
// (last byte + 1) bytes; the AEAD tag over the whole thing is still checked.
// ---------------------------------------------------------------------------

/// RFC 8439 2.8.2 (the RFC 7634 construction: nonce = 4-byte salt | 8-byte
/// IV; here salt 07000000, IV 4041424344454647).
#[test]
fn rfc8439_chacha20_poly1305_vector() {
    let key = unhex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
    let salt = unhex("07000000");
    let iv = unhex("4041424344454647");
    let aad = unhex("50515253c0c1c2c3c4c5c6c7");
    let pt = b"Ladies and Gentlemen of the class of '99: If I could offer you only one \
               tip for the future, sunscreen would be it.";
    let ct = unhex(
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6\
         3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36\
         92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc\
         3ff4def08e4b7a9de576d26586cec64b6116",
    );
    let tag = unhex("1ae10b594f09e26a7e902ecbd0600691");
    check_aead_vector(
        EncrAlg::ChaCha20Poly1305,
        &key,
        &salt,
        &iv,
        &aad,
        pt,
        &ct,
        &tag,
    );
}

/// RFC 7634 Appendix B: a whole IKEv2 INFORMATIONAL message protected with
/// ChaCha20-Poly1305 (key 80..9f, salt a0a1a2a3, IV 1011..17) carrying one
/// SET_WINDOW_SIZE notify. (The message bytes as published in the appendix;
/// we took them from strongSwan's unit test of that appendix,
/// src/libcharon/tests/suites/test_message_chapoly.c, which checks the same
/// 69 bytes.) With no padding beyond the Pad Length octet, our encryption
/// must reproduce every byte, and decryption must return the notify.
#[test]
fn rfc7634_appendix_b_ikev2_message() {
    let message = unhex(
        "c0c1c2c3c4c5c6c7 d0d1d2d3d4d5d6d7 2e202500 00000009 00000045 \
         29000029 1011121314151617 \
         610394701f8d017f7c129248896b71bfe25236efd7cdc67066906315b2",
    );
    assert_eq!(message.len(), 69);
    let key: Vec<u8> = (0x80..=0xa3).collect(); // 32-byte key | 4-byte salt
    let c = SkCipher::new(EncrAlg::ChaCha20Poly1305, IntegAlg::None, &key, &[]).unwrap();
    // IKE header (28) + SK generic header (4) is the associated data.
    let (assoc, body) = message.split_at(32);
    // Notify: generic header (next 0, length 12), protocol 0, SPI size 0,
    // type 16385 (SET_WINDOW_SIZE), window 10.
    let notify = unhex("0000000c000040010000000a");
    assert_eq!(c.decrypt(assoc, body).unwrap(), notify);
    assert_eq!(c.sealed_len(notify.len()), body.len());
    assert_eq!(c.encrypt(assoc, &notify, &body[..8]).unwrap(), body);
}

/// The GCM specification's test cases 4 (AES-128) and 16 (AES-256)
/// (McGrew and Viega, "The Galois/Counter Mode of Operation", as used
/// in NIST's GCM validation). 12-byte IV cafebabefacedbaddecaf888 split as
/// RFC 5282 3.1 does: salt cafebabe, IV facedbaddecaf888.
#[test]
fn gcm_spec_vectors() {
    let k128 = unhex("feffe9928665731c6d6a8f9467308308");
    let pt = unhex(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
         1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
    );
    let aad = unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    let salt = unhex("cafebabe");
    let iv = unhex("facedbaddecaf888");
    // Test case 4
    let ct4 = unhex(
        "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
         21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
    );
    let tag4 = unhex("5bc94fbc3221a5db94fae95ae7121a47");
    check_aead_vector(
        EncrAlg::AesGcm16_128,
        &k128,
        &salt,
        &iv,
        &aad,
        &pt,
        &ct4,
        &tag4,
    );
    // Test case 16: the same with a 256-bit key (the 128-bit key twice).
    let k256 = [k128.clone(), k128].concat();
    let ct16 = unhex(
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
         8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
    );
    let tag16 = unhex("76fc6ece0f4e1768cddf8853bb2d551b");
    check_aead_vector(
        EncrAlg::AesGcm16_256,
        &k256,
        &salt,
        &iv,
        &aad,
        &pt,
        &ct16,
        &tag16,
    );
}

#[allow(clippy::too_many_arguments)]
fn check_aead_vector(
    alg: EncrAlg,
    key: &[u8],
    salt: &[u8],
    iv: &[u8],
    aad: &[u8],
    pt: &[u8],
    ct: &[u8],
    tag: &[u8],
) {
    let c = SkCipher::new(alg, IntegAlg::None, &[key, salt].concat(), &[]).unwrap();
    // Decrypt the published vector: tag checks, padding as last byte says.
    let body = [iv, ct, tag].concat();
    let keep = pt.len() - usize::from(pt[pt.len() - 1]) - 1;
    assert_eq!(c.decrypt(aad, &body).unwrap(), &pt[..keep], "{alg:?}");
    // A flipped tag bit is rejected.
    let mut bad = body.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x80;
    assert_eq!(c.decrypt(aad, &bad), Err(Error::IntegrityCheckFailed));
    // Encrypt all but the last byte: we append Pad Length 0 instead, so the
    // keystream output matches the vector everywhere except that byte,
    // which differs by exactly pt_last ^ 0.
    let sealed = c.encrypt(aad, &pt[..pt.len() - 1], iv).unwrap();
    assert_eq!(&sealed[..iv.len()], iv);
    let out_ct = &sealed[iv.len()..sealed.len() - 16];
    assert_eq!(out_ct.len(), ct.len());
    assert_eq!(&out_ct[..ct.len() - 1], &ct[..ct.len() - 1], "{alg:?}");
    assert_eq!(out_ct[ct.len() - 1], ct[ct.len() - 1] ^ pt[pt.len() - 1]);
}

// ---------------------------------------------------------------------------
// NIST SP 800-38A F.2.1 / F.2.2 (CBC-AES128) and F.2.5 / F.2.6 (CBC-AES256).
// ---------------------------------------------------------------------------

const SP800_38A_PT: &str = "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51\
                            30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710";
const SP800_38A_IV: &str = "000102030405060708090a0b0c0d0e0f";
const SP800_38A_CASES: [(&str, &str); 2] = [
    (
        "2b7e151628aed2a6abf7158809cf4f3c",
        "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2\
         73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7",
    ),
    (
        "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
        "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d\
         39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b",
    ),
];

#[test]
fn sp800_38a_cbc_vectors() {
    for (key, ct) in SP800_38A_CASES {
        let (key, ct, iv) = (unhex(key), unhex(ct), unhex(SP800_38A_IV));
        let mut buf = unhex(SP800_38A_PT);
        aes_cbc_raw(true, &key, &iv, &mut buf).unwrap();
        assert_eq!(buf, ct);
        aes_cbc_raw(false, &key, &iv, &mut buf).unwrap();
        assert_eq!(buf, unhex(SP800_38A_PT));
        assert!(aes_cbc_raw(true, &key, &iv, &mut [0u8; 15]).is_err());
    }
}

/// The same vectors through the SK payload path: with an HMAC ICV computed
/// independently (prf() is HMAC, checked above), SkCipher decrypts the
/// published ciphertext and strips the padding its last byte (0x10) names.
#[test]
fn sp800_38a_through_sk_payload() {
    let integ_key = [0x5au8; 32];
    let assoc = b"IKE header and SK payload header";
    for ((key, ct), alg) in SP800_38A_CASES
        .iter()
        .zip([EncrAlg::AesCbc128, EncrAlg::AesCbc256])
    {
        let (key, ct, iv) = (unhex(key), unhex(ct), unhex(SP800_38A_IV));
        let c = SkCipher::new(alg, IntegAlg::HmacSha256_128, &key, &integ_key).unwrap();
        let mut body = [iv.as_slice(), &ct].concat();
        let icv = prf(
            PrfAlg::HmacSha256,
            &integ_key,
            &[&assoc[..], &body].concat(),
        );
        body.extend_from_slice(&icv.as_bytes()[..16]);
        let pt = unhex(SP800_38A_PT);
        assert_eq!(c.decrypt(assoc, &body).unwrap(), &pt[..64 - 17]);
        // The ICV covers the associated bytes too (RFC 7296 3.14).
        assert_eq!(
            c.decrypt(b"IKE header and SK payload heade_", &body),
            Err(Error::IntegrityCheckFailed)
        );
    }
}
