//! Key exchange (RFC 7296 2.14, 3.4): MODP groups 14/15 (RFC 3526), ECP
//! groups 19/20 (RFC 5903), Curve25519 (RFC 8031).
//!
//! The elliptic-curve groups use ring's ephemeral agreement, which checks
//! that the peer's point is on the curve. The MODP groups use
//! `crypto-bigint`'s Montgomery exponentiation, whose running time does not
//! depend on the private exponent. Every peer value is validated before use
//! (RFC 6989 for MODP and ECP, RFC 7748 6.1 / RFC 8031 2.3 for X25519).

use super::modp_primes::{MODP_2048_HEX, MODP_3072_HEX};
use super::{Error, Secret};
use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{Uint, U2048, U3072, U512};
use ring::agreement;
use ring::rand::SecureRandom;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// Key exchange groups (IANA "Transform Type 4 - Key Exchange Method").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// 2048-bit MODP group, RFC 3526 3.
    Modp2048 = 14,
    /// 3072-bit MODP group, RFC 3526 4.
    Modp3072 = 15,
    /// NIST P-256, RFC 5903.
    Ecp256 = 19,
    /// NIST P-384, RFC 5903.
    Ecp384 = 20,
    /// X25519, RFC 8031.
    Curve25519 = 31,
}

impl Group {
    pub fn transform_id(self) -> u16 {
        self as u16
    }

    pub fn from_transform_id(id: u16) -> Option<Group> {
        match id {
            14 => Some(Group::Modp2048),
            15 => Some(Group::Modp3072),
            19 => Some(Group::Ecp256),
            20 => Some(Group::Ecp384),
            31 => Some(Group::Curve25519),
            _ => None,
        }
    }

    /// Length of the Key Exchange Data in a KE payload (RFC 7296 3.4:
    /// MODP values are padded to the prime's length; RFC 5903 7: x | y;
    /// RFC 8031 2: 32 bytes).
    pub fn public_len(self) -> usize {
        match self {
            Group::Modp2048 => 256,
            Group::Modp3072 => 384,
            Group::Ecp256 => 64,
            Group::Ecp384 => 96,
            Group::Curve25519 => 32,
        }
    }

    /// Length of g^ir (RFC 5903 7: only the x coordinate for ECP).
    pub fn shared_len(self) -> usize {
        match self {
            Group::Modp2048 => 256,
            Group::Modp3072 => 384,
            Group::Ecp256 => 32,
            Group::Ecp384 => 48,
            Group::Curve25519 => 32,
        }
    }

    fn ring_alg(self) -> Option<&'static agreement::Algorithm> {
        match self {
            Group::Ecp256 => Some(&agreement::ECDH_P256),
            Group::Ecp384 => Some(&agreement::ECDH_P384),
            Group::Curve25519 => Some(&agreement::X25519),
            Group::Modp2048 | Group::Modp3072 => None,
        }
    }
}

/// One side of a key exchange in progress: our public value is known, and
/// the shared secret is computed once the peer's value arrives. Consuming
/// `self` makes each private value single-use.
pub trait KeyAgreement: Send {
    fn group(&self) -> Group;
    /// Our Key Exchange Data, in the KE payload encoding.
    fn public_value(&self) -> &[u8];
    /// Validates `peer` and returns g^ir.
    fn compute_shared(self: Box<Self>, peer: &[u8]) -> Result<Secret, Error>;
}

/// Creates key exchanges. The engine holds a `Box<dyn KeyExchangeFactory>`
/// so that tests can replay captured exchanges ([`RecordedKeyExchange`]).
pub trait KeyExchangeFactory: Send {
    fn start(&self, group: Group, rng: &dyn SecureRandom) -> Result<Box<dyn KeyAgreement>, Error>;
}

/// The production factory: [`KeyExchange::new`].
#[derive(Debug, Default, Clone, Copy)]
pub struct DefaultKeyExchangeFactory;

impl KeyExchangeFactory for DefaultKeyExchangeFactory {
    fn start(&self, group: Group, rng: &dyn SecureRandom) -> Result<Box<dyn KeyAgreement>, Error> {
        Ok(Box::new(KeyExchange::new(group, rng)?))
    }
}

/// A real key exchange with a fresh private value.
pub struct KeyExchange {
    group: Group,
    public: Vec<u8>,
    private: Private,
}

enum Private {
    Ec(agreement::EphemeralPrivateKey),
    /// MODP private exponent, big-endian; `Secret` wipes it on drop.
    Modp(Secret),
}

/// Private MODP exponents are 512 bits: RFC 3526 8 asks for at least twice
/// the group's strength (about 2 x 128 bits for group 15), and a bounded
/// exponent keeps the (constant-time) exponentiation affordable.
const MODP_EXP_LEN: usize = 64;

impl KeyExchange {
    /// Draws a private value from `rng` and computes our public value.
    /// (With ring's test generators this is deterministic, which is how the
    /// RFC 5903 / RFC 7748 known-answer tests run the production path.)
    pub fn new(group: Group, rng: &dyn SecureRandom) -> Result<KeyExchange, Error> {
        match group.ring_alg() {
            Some(alg) => {
                let key = agreement::EphemeralPrivateKey::generate(alg, rng)
                    .map_err(|_| Error::RandomFailure)?;
                let pubkey = key.compute_public_key().map_err(|_| Error::RandomFailure)?;
                let public = ec_to_ike(group, pubkey.as_ref())?;
                Ok(KeyExchange {
                    group,
                    public,
                    private: Private::Ec(key),
                })
            }
            None => {
                let mut exp = Secret::new(vec![0u8; MODP_EXP_LEN]);
                rng.fill(exp.as_mut_bytes())
                    .map_err(|_| Error::RandomFailure)?;
                let public = modp_pow(group, &[2], exp.as_bytes())?;
                // A working generator never yields this, but a broken one
                // (all-zero bytes) would give g^0 = 1: refuse it.
                modp_check_range(group, public.as_bytes()).map_err(|_| Error::RandomFailure)?;
                Ok(KeyExchange {
                    group,
                    public: public.as_bytes().to_vec(),
                    private: Private::Modp(exp),
                })
            }
        }
    }

    pub fn group(&self) -> Group {
        self.group
    }

    pub fn public_value(&self) -> &[u8] {
        &self.public
    }

    /// Checks the peer's Key Exchange Data and computes g^ir.
    pub fn compute_shared(self, peer: &[u8]) -> Result<Secret, Error> {
        let group = self.group;
        if peer.len() != group.public_len() {
            return Err(Error::InvalidPeerValue);
        }
        match self.private {
            Private::Ec(key) => {
                let alg = group.ring_alg().ok_or(Error::Unsupported)?;
                let peer_ring = ike_to_ec(group, peer);
                let peer_key = agreement::UnparsedPublicKey::new(alg, peer_ring);
                // ring validates the point (on the curve, not the identity)
                // before computing; RFC 5903 7 takes only x as g^ir, and
                // ring's ECDH output is exactly that x coordinate.
                let shared = agreement::agree_ephemeral(key, &peer_key, Secret::from_slice)
                    .map_err(|_| Error::InvalidPeerValue)?;
                if group == Group::Curve25519 && is_all_zero(shared.as_bytes()) {
                    // RFC 7748 6.1 / RFC 8031 2.3: an all-zero result means
                    // the peer sent a low-order point.
                    return Err(Error::InvalidPeerValue);
                }
                Ok(shared)
            }
            Private::Modp(exp) => {
                // RFC 6989 2.1: 1 < y < p-1, which excludes the elements of
                // order 1 and 2. p is a safe prime, so what remains has order
                // q or 2q and g^ir cannot collapse to a small set.
                modp_check_range(group, peer)?;
                modp_pow(group, peer, exp.as_bytes())
            }
        }
    }
}

impl KeyAgreement for KeyExchange {
    fn group(&self) -> Group {
        self.group
    }
    fn public_value(&self) -> &[u8] {
        &self.public
    }
    fn compute_shared(self: Box<Self>, peer: &[u8]) -> Result<Secret, Error> {
        KeyExchange::compute_shared(*self, peer)
    }
}

/// Replays a recorded exchange: our public value and g^ir are fixed. Only
/// for tests that replay captured traffic (the strongSwan vectors), where
/// the private values were never logged. It checks the peer value's length
/// and nothing else, so it must never be used with a live peer.
pub struct RecordedKeyExchange {
    group: Group,
    public: Vec<u8>,
    shared: Secret,
}

impl RecordedKeyExchange {
    pub fn new(group: Group, public: Vec<u8>, shared: Secret) -> RecordedKeyExchange {
        RecordedKeyExchange {
            group,
            public,
            shared,
        }
    }
}

impl KeyAgreement for RecordedKeyExchange {
    fn group(&self) -> Group {
        self.group
    }
    fn public_value(&self) -> &[u8] {
        &self.public
    }
    fn compute_shared(self: Box<Self>, peer: &[u8]) -> Result<Secret, Error> {
        if peer.len() != self.group.public_len() {
            return Err(Error::InvalidPeerValue);
        }
        Ok(self.shared.clone())
    }
}

/// ring's public key encodings to IKE's: RFC 5903 7 drops the SEC1 0x04
/// prefix; X25519 is the same 32 bytes.
fn ec_to_ike(group: Group, ring_pub: &[u8]) -> Result<Vec<u8>, Error> {
    match group {
        Group::Ecp256 | Group::Ecp384 => match ring_pub.split_first() {
            Some((0x04, xy)) if xy.len() == group.public_len() => Ok(xy.to_vec()),
            _ => Err(Error::InvalidLength),
        },
        _ => Ok(ring_pub.to_vec()),
    }
}

/// IKE to ring: put back the uncompressed-point prefix for ECP. The length
/// was checked by the caller; ring rejects any point not on the curve.
fn ike_to_ec(group: Group, peer: &[u8]) -> Vec<u8> {
    match group {
        Group::Ecp256 | Group::Ecp384 => {
            let mut v = Vec::with_capacity(peer.len() + 1);
            v.push(0x04);
            v.extend_from_slice(peer);
            v
        }
        _ => peer.to_vec(),
    }
}

fn is_all_zero(b: &[u8]) -> bool {
    let zero = vec![0u8; b.len()];
    b.ct_eq(&zero).into()
}

/// Requires `value` (big-endian, exactly the prime's length) to satisfy
/// 2 <= value <= p-2. The value is public, so plain comparisons are fine.
fn modp_check_range(group: Group, value: &[u8]) -> Result<(), Error> {
    if value.len() != group.public_len() {
        return Err(Error::InvalidPeerValue);
    }
    let p = modp_prime_bytes(group)?;
    let mut p_minus_1 = p.clone();
    // p is odd, so subtracting 1 only clears the lowest bit.
    if let Some(last) = p_minus_1.last_mut() {
        *last &= 0xfe;
    }
    let mut two = vec![0u8; value.len()];
    if let Some(last) = two.last_mut() {
        *last = 2;
    }
    // Big-endian byte strings of equal length compare like the numbers.
    if value < two.as_slice() || value >= p_minus_1.as_slice() {
        return Err(Error::InvalidPeerValue);
    }
    Ok(())
}

fn modp_prime_bytes(group: Group) -> Result<Vec<u8>, Error> {
    match group {
        Group::Modp2048 => Ok(uint_to_be(&U2048::from_be_hex(MODP_2048_HEX))),
        Group::Modp3072 => Ok(uint_to_be(&U3072::from_be_hex(MODP_3072_HEX))),
        _ => Err(Error::Unsupported),
    }
}

/// `base^exp mod p` for a MODP group; `base` is big-endian, at most the
/// prime's length; `exp` is exactly `MODP_EXP_LEN` bytes.
fn modp_pow(group: Group, base: &[u8], exp: &[u8]) -> Result<Secret, Error> {
    match group {
        Group::Modp2048 => pow_generic(&U2048::from_be_hex(MODP_2048_HEX), base, exp),
        Group::Modp3072 => pow_generic(&U3072::from_be_hex(MODP_3072_HEX), base, exp),
        _ => Err(Error::Unsupported),
    }
}

fn pow_generic<const L: usize>(p: &Uint<L>, base: &[u8], exp: &[u8]) -> Result<Secret, Error> {
    let base = uint_from_be::<L>(base)?;
    let mut e = uint_from_be::<{ U512::LIMBS }>(exp)?;
    let params = DynResidueParams::new(p);
    // `pow` walks all 512 exponent bits with the same sequence of
    // operations whatever their values (crypto-bigint's fixed-window,
    // constant-time ladder), so timing does not reveal the exponent.
    let mut r = DynResidue::new(&base, params).pow(&e).retrieve();
    e.zeroize();
    let out = Secret::new(uint_to_be(&r));
    r.zeroize();
    Ok(out)
}

/// Big-endian bytes (up to the integer's size) into a `Uint`, left-padding.
fn uint_from_be<const L: usize>(bytes: &[u8]) -> Result<Uint<L>, Error> {
    let size = Uint::<L>::BYTES;
    if bytes.len() > size {
        return Err(Error::InvalidLength);
    }
    let mut buf = vec![0u8; size];
    buf[size - bytes.len()..].copy_from_slice(bytes);
    let v = Uint::<L>::from_be_slice(&buf);
    buf.zeroize();
    Ok(v)
}

/// A `Uint` as fixed-length big-endian bytes (RFC 7296 2.14: g^ir padded
/// with zeros to the length of the modulus).
fn uint_to_be<const L: usize>(v: &Uint<L>) -> Vec<u8> {
    let mut out = Vec::with_capacity(Uint::<L>::BYTES);
    for limb in v.as_limbs().iter().rev() {
        out.extend_from_slice(&limb.0.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;

    #[test]
    fn modp_primes_have_expected_shape() {
        for g in [Group::Modp2048, Group::Modp3072] {
            let p = modp_prime_bytes(g).unwrap();
            assert_eq!(p.len(), g.public_len());
            // RFC 3526: every MODP prime starts and ends with 64 one bits.
            assert!(p[..8].iter().all(|&b| b == 0xff));
            assert!(p[p.len() - 8..].iter().all(|&b| b == 0xff));
        }
    }

    #[test]
    fn range_check_edges() {
        let g = Group::Modp2048;
        let p = modp_prime_bytes(g).unwrap();
        let mut pm2 = p.clone();
        *pm2.last_mut().unwrap() = 0xfd;
        assert!(modp_check_range(g, &pm2).is_ok());
        let mut two = vec![0u8; 256];
        two[255] = 2;
        assert!(modp_check_range(g, &two).is_ok());
        two[255] = 1;
        assert!(modp_check_range(g, &two).is_err());
        assert!(modp_check_range(g, &p).is_err());
        assert!(modp_check_range(g, &[2u8]).is_err());
    }

    #[test]
    fn uint_round_trip() {
        let mut bytes = vec![0u8; 256];
        bytes[0] = 0x12;
        bytes[255] = 0x34;
        let v = uint_from_be::<{ U2048::LIMBS }>(&bytes).unwrap();
        assert_eq!(uint_to_be(&v), bytes);
        assert!(uint_from_be::<{ U2048::LIMBS }>(&[0u8; 257]).is_err());
    }

    #[test]
    fn ec_groups_agree() {
        let rng = SystemRandom::new();
        for g in [Group::Ecp256, Group::Ecp384, Group::Curve25519] {
            let a = KeyExchange::new(g, &rng).unwrap();
            let b = KeyExchange::new(g, &rng).unwrap();
            assert_eq!(a.public_value().len(), g.public_len());
            let pa = a.public_value().to_vec();
            let pb = b.public_value().to_vec();
            let sa = a.compute_shared(&pb).unwrap();
            let sb = b.compute_shared(&pa).unwrap();
            assert_eq!(sa.as_bytes(), sb.as_bytes());
            assert_eq!(sa.len(), g.shared_len());
        }
    }
}
