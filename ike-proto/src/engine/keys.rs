//! Key material of one IKE SA and of new CHILD_SAs, from the negotiated
//! transform IDs to `crypto` calls (RFC 7296 2.13, 2.14, 2.17, 2.18).

use crate::crypto::{
    child_key_lengths, child_keymat, derive_ike_keys, rekey_skeyseed, skeyseed, split_child_keymat,
    EncrAlg, Group, IkeKeyLengths, IntegAlg, PrfAlg, Secret, SkCipher,
};
use crate::wire::consts::DhGroup;

use super::api::{ChildSuite, IkeSuite};
use super::config::Encr;

/// Why keys could not be set up. Never carries key bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyError;

impl From<crate::crypto::Error> for KeyError {
    fn from(_: crate::crypto::Error) -> Self {
        KeyError
    }
}

pub(crate) fn encr_alg(e: Encr) -> Result<EncrAlg, KeyError> {
    EncrAlg::from_transform(e.id.0, e.key_bits).ok_or(KeyError)
}

pub(crate) fn integ_alg(i: Option<crate::wire::consts::IntegId>) -> Result<IntegAlg, KeyError> {
    match i {
        None => Ok(IntegAlg::None),
        Some(id) => IntegAlg::from_transform_id(id.0).ok_or(KeyError),
    }
}

pub(crate) fn group(g: DhGroup) -> Result<Group, KeyError> {
    Group::from_transform_id(g.0).ok_or(KeyError)
}

/// Whether we can actually run this IKE suite (the configuration may name
/// transforms the crypto module does not implement).
pub(crate) fn ike_suite_supported(s: &IkeSuite) -> bool {
    encr_alg(s.encr).is_ok()
        && integ_alg(s.integ).is_ok()
        && PrfAlg::from_transform_id(s.prf.0).is_some()
        && group(s.dh).is_ok()
}

/// The keys one IKE SA protects its messages with, plus SK_d/SK_p.
pub(crate) struct IkeKeyset {
    pub prf: PrfAlg,
    pub sk_d: Secret,
    pub sk_pi: Secret,
    pub sk_pr: Secret,
    /// Protects what we send (SK_ei/SK_ai if we are the original initiator).
    pub tx: SkCipher,
    /// Checks and decrypts what we receive.
    pub rx: SkCipher,
    /// AEAD IVs are a counter: unique per key is all RFC 5282 3.1 asks.
    pub iv_counter: u64,
}

/// Material for a new IKE SA's keys: fresh (IKE_SA_INIT) or rekeyed.
pub(crate) enum Seed<'a> {
    Initial,
    /// Rekey of an IKE SA: the old SA's PRF and SK_d (RFC 7296 2.18).
    Rekey {
        old_prf: PrfAlg,
        old_sk_d: &'a [u8],
    },
}

impl IkeKeyset {
    /// Derives SKEYSEED and every SK_* for `suite`. `initiator` says
    /// whether we are the original initiator of this (new) IKE SA.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn derive(
        suite: &IkeSuite,
        seed: Seed<'_>,
        g_ir: &[u8],
        ni: &[u8],
        nr: &[u8],
        spi_i: u64,
        spi_r: u64,
        initiator: bool,
    ) -> Result<IkeKeyset, KeyError> {
        let prf = PrfAlg::from_transform_id(suite.prf.0).ok_or(KeyError)?;
        let encr = encr_alg(suite.encr)?;
        let integ = integ_alg(suite.integ)?;
        let skeyseed = match seed {
            Seed::Initial => skeyseed(prf, ni, nr, g_ir),
            Seed::Rekey { old_prf, old_sk_d } => rekey_skeyseed(old_prf, old_sk_d, g_ir, ni, nr),
        };
        let k = derive_ike_keys(
            prf,
            skeyseed.as_bytes(),
            ni,
            nr,
            &spi_i.to_be_bytes(),
            &spi_r.to_be_bytes(),
            IkeKeyLengths::for_algs(encr, integ),
        )?;
        let ci = SkCipher::new(encr, integ, k.sk_ei.as_bytes(), k.sk_ai.as_bytes())?;
        let cr = SkCipher::new(encr, integ, k.sk_er.as_bytes(), k.sk_ar.as_bytes())?;
        let (tx, rx) = if initiator { (ci, cr) } else { (cr, ci) };
        Ok(IkeKeyset {
            prf,
            sk_d: k.sk_d,
            sk_pi: k.sk_pi,
            sk_pr: k.sk_pr,
            tx,
            rx,
            iv_counter: 0,
        })
    }
}

/// ESP keys of one new CHILD_SA, already split by direction.
pub(crate) struct ChildKeyset {
    /// Keys for the SA carrying traffic from the exchange's initiator.
    pub encr_i: Secret,
    pub integ_i: Secret,
    /// Keys for the SA carrying traffic from the exchange's responder.
    pub encr_r: Secret,
    pub integ_r: Secret,
}

/// KEYMAT = prf+(SK_d, [g^ir (new)] | Ni | Nr) cut into the four keys
/// (RFC 7296 2.17). Ni/Nr are those of the exchange that creates the SA.
pub(crate) fn child_keys(
    prf: PrfAlg,
    sk_d: &[u8],
    suite: &ChildSuite,
    g_ir: Option<&[u8]>,
    ni: &[u8],
    nr: &[u8],
) -> Result<ChildKeyset, KeyError> {
    let lens = child_key_lengths(encr_alg(suite.encr)?, integ_alg(suite.integ)?)?;
    let km = child_keymat(prf, sk_d, g_ir, ni, nr, lens.keymat_len())?;
    let k = split_child_keymat(&km, lens.encr, lens.integ)?;
    Ok(ChildKeyset {
        encr_i: k.encr_i,
        integ_i: k.integ_i,
        encr_r: k.encr_r,
        integ_r: k.integ_r,
    })
}

/// Whether we can compute keys for this child suite.
pub(crate) fn child_suite_supported(s: &ChildSuite) -> bool {
    match (encr_alg(s.encr), integ_alg(s.integ)) {
        (Ok(e), Ok(i)) => child_key_lengths(e, i).is_ok() && s.dh.iter().all(|&g| group(g).is_ok()),
        _ => false,
    }
}
