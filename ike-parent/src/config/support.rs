//! Which iked.conf(5) algorithms and methods this daemon does, and why the
//! rest are refused. One table per transform type, so a reviewer (or the
//! next person adding an algorithm) changes one place.
//!
//! IKE SA algorithms are what `ike-proto` implements (ring, plus AES-CBC
//! and constant-time MODP groups). Child SA algorithms are done by the
//! kernel, so the list is what PF_KEY can name on the three systems; a
//! kernel that lacks one refuses the SA at run time (Linux af_key has no
//! AEAD, for example).

use ike_ipc::config::{
    ChildProposal, DhGroup, Encryption, Esn, IkeProposal, Integrity, Prf, PublicKeyMethod,
};

const WEAK: &str = "obsolete and weak (RFC 8221, RFC 8247 forbid it)";

/// `Ok` or the reason the IKE SA cannot use this cipher.
pub fn ike_encryption(e: Encryption) -> Result<(), &'static str> {
    use Encryption::*;
    match e {
        Aes128Cbc | Aes256Cbc | Aes128Gcm16 | Aes256Gcm16 | ChaCha20Poly1305 => Ok(()),
        TripleDes | Cast | Blowfish => Err(WEAK),
        Null => Err("an IKE SA cannot be unencrypted"),
        Aes192Cbc | Aes192Ctr | Aes192Gcm16 | Aes192Gcm12 | Aes192Gmac => {
            Err("AES-192 is not implemented for IKE SAs (use aes-128 or aes-256)")
        }
        Aes128Ctr | Aes256Ctr => Err("AES-CTR is not implemented for IKE SAs"),
        Aes128Gcm12 | Aes256Gcm12 => {
            Err("AES-GCM with a 12-byte ICV is not implemented (use the 16-byte aes-*-gcm)")
        }
        Aes128Gmac | Aes256Gmac => Err("GMAC gives no confidentiality; not allowed for IKE SAs"),
    }
}

/// `Ok` or the reason a child SA cannot use this cipher.
pub fn child_encryption(e: Encryption) -> Result<(), &'static str> {
    use Encryption::*;
    match e {
        Aes128Cbc | Aes192Cbc | Aes256Cbc | Aes128Ctr | Aes192Ctr | Aes256Ctr | Aes128Gcm16
        | Aes192Gcm16 | Aes256Gcm16 | ChaCha20Poly1305 => Ok(()),
        TripleDes | Cast | Blowfish => Err(WEAK),
        Null => Err("ESP without encryption is refused; use ah for integrity only"),
        Aes128Gcm12 | Aes192Gcm12 | Aes256Gcm12 => {
            Err("AES-GCM with a 12-byte ICV is not supported (use the 16-byte aes-*-gcm)")
        }
        Aes128Gmac | Aes192Gmac | Aes256Gmac => Err("ENCR_NULL_AUTH_AES_GMAC is not supported"),
    }
}

pub fn prf(p: Prf) -> Result<(), &'static str> {
    match p {
        Prf::HmacSha2_256 | Prf::HmacSha2_384 | Prf::HmacSha2_512 => Ok(()),
        Prf::HmacMd5 | Prf::HmacSha1 => Err(WEAK),
    }
}

/// The same for IKE and child SAs.
pub fn integrity(i: Integrity) -> Result<(), &'static str> {
    match i {
        Integrity::HmacSha2_256 | Integrity::HmacSha2_384 | Integrity::HmacSha2_512 => Ok(()),
        Integrity::HmacMd5 | Integrity::HmacSha1 => Err(WEAK),
    }
}

/// Key exchange groups, for the IKE SA and for child SA PFS alike (both are
/// computed by `ike-proto`).
pub fn group(g: DhGroup) -> Result<(), &'static str> {
    use DhGroup::*;
    match g {
        Modp2048 | Modp3072 | Ecp256 | Ecp384 | Curve25519 => Ok(()),
        Modp768 | Modp1024 | Modp1536 => Err(WEAK),
        Modp4096 | Modp6144 | Modp8192 => Err("this MODP group is not implemented"),
        Ecp521 => Err("ECP-521 is not implemented (ring has no P-521)"),
        Ecp192 | Ecp224 => Err("too small and not implemented"),
        Brainpool224 | Brainpool256 | Brainpool384 | Brainpool512 => {
            Err("Brainpool curves are not implemented")
        }
    }
}

/// The public-key methods: `rfc7427` and `rsa` sign with RFC 7427 Digital
/// Signatures (auth method 14; for `rsa`, as OpenIKED does when the peer
/// supports it), `ecdsa256`/`ecdsa384` with the fixed-hash ECDSA methods of
/// RFC 4754 (9 and 10). The key must fit the method; ike-net checks that
/// when it loads the key.
pub fn public_key_method(m: PublicKeyMethod) -> Result<(), &'static str> {
    match m {
        PublicKeyMethod::Rfc7427
        | PublicKeyMethod::Rsa
        | PublicKeyMethod::Ecdsa256
        | PublicKeyMethod::Ecdsa384 => Ok(()),
        PublicKeyMethod::Ecdsa521 => Err(
            "auth method 11 (ECDSA P-521) is not implemented: ring has no P-521; \
             use a P-256 or P-384 key",
        ),
    }
}

const DEFAULT_PRFS: [Prf; 3] = [Prf::HmacSha2_256, Prf::HmacSha2_384, Prf::HmacSha2_512];
const DEFAULT_INTEG: [Integrity; 3] = [
    Integrity::HmacSha2_256,
    Integrity::HmacSha2_384,
    Integrity::HmacSha2_512,
];
pub const DEFAULT_GROUPS: [DhGroup; 5] = [
    DhGroup::Curve25519,
    DhGroup::Ecp256,
    DhGroup::Ecp384,
    DhGroup::Modp3072,
    DhGroup::Modp2048,
];
const DEFAULT_AEAD: [Encryption; 3] = [
    Encryption::Aes256Gcm16,
    Encryption::Aes128Gcm16,
    Encryption::ChaCha20Poly1305,
];
const DEFAULT_CBC: [Encryption; 2] = [Encryption::Aes256Cbc, Encryption::Aes128Cbc];

/// Without `ikesa`: an AEAD proposal, then a CBC+HMAC one.
pub fn default_ike_proposals() -> Vec<IkeProposal> {
    vec![
        IkeProposal {
            encryption: DEFAULT_AEAD.to_vec(),
            prf: DEFAULT_PRFS.to_vec(),
            integrity: Vec::new(),
            groups: DEFAULT_GROUPS.to_vec(),
        },
        IkeProposal {
            encryption: DEFAULT_CBC.to_vec(),
            prf: DEFAULT_PRFS.to_vec(),
            integrity: DEFAULT_INTEG.to_vec(),
            groups: DEFAULT_GROUPS.to_vec(),
        },
    ]
}

/// Fill what an `ikesa` left out with the defaults.
pub fn complete_ike(p: &mut IkeProposal) {
    if p.encryption.is_empty() {
        p.encryption = if p.integrity.is_empty() {
            DEFAULT_AEAD.to_vec()
        } else {
            DEFAULT_CBC.to_vec()
        };
    }
    if p.prf.is_empty() {
        p.prf = DEFAULT_PRFS.to_vec();
    }
    if p.integrity.is_empty() && !p.encryption.iter().any(|e| e.is_aead()) {
        p.integrity = DEFAULT_INTEG.to_vec();
    }
    if p.groups.is_empty() {
        p.groups = DEFAULT_GROUPS.to_vec();
    }
}

/// Without `childsa`: AEAD first, then CBC+HMAC (which Linux af_key can
/// install); no PFS, no ESN. For AH: integrity only.
pub fn default_child_proposals(ah: bool) -> Vec<ChildProposal> {
    let plain = |encryption: Vec<Encryption>, integrity: Vec<Integrity>| ChildProposal {
        encryption,
        integrity,
        groups: Vec::new(),
        esn: vec![Esn::None],
    };
    if ah {
        return vec![plain(Vec::new(), DEFAULT_INTEG.to_vec())];
    }
    vec![
        plain(DEFAULT_AEAD.to_vec(), Vec::new()),
        plain(DEFAULT_CBC.to_vec(), DEFAULT_INTEG.to_vec()),
    ]
}

/// Fill what a `childsa` left out.
pub fn complete_child(p: &mut ChildProposal, ah: bool) {
    if !ah && p.encryption.is_empty() {
        p.encryption = if p.integrity.is_empty() {
            DEFAULT_AEAD.to_vec()
        } else {
            DEFAULT_CBC.to_vec()
        };
    }
    if p.integrity.is_empty() && (ah || !p.encryption.iter().any(|e| e.is_aead())) {
        p.integrity = DEFAULT_INTEG.to_vec();
    }
    if p.esn.is_empty() {
        p.esn = vec![Esn::None];
    }
}
