//! ike-cred's side: one answer per request, from the [`KeyStore`].
//!
//! Every check is the store's (`ike_proto::engine::auth::credentials`): the
//! policy must have a secret of the asked kind, the octets must be an IKE
//! AUTH octet string. What is left here is decoding numbers into types.

use ike_ipc::msg::cred::{CredAnswer, CredOp, CredToNet, NetToCred, SignMethod};
use ike_proto::crypto::{PrfAlg, SignatureScheme};
use ike_proto::engine::{Credentials, KeyStore, SignHow};

/// The answer to `req`. Refusals carry the reason (ike-net logs it) and are
/// logged here too: they are what a compromised ike-net would cause.
pub fn answer(store: &KeyStore, req: &NetToCred) -> CredToNet {
    let result = match &req.op {
        CredOp::PskAuth { prf, octets } => prf_alg(*prf)
            .and_then(|prf| store.psk_auth(&req.policy, prf, octets))
            .map(CredAnswer::Value),
        CredOp::PskVerify { prf, octets, value } => prf_alg(*prf)
            .and_then(|prf| store.psk_verify(&req.policy, prf, octets, value))
            .map(CredAnswer::Verdict),
        CredOp::Sign { how, prf, octets } => prf_alg(*prf)
            .and_then(|prf| store.sign(&req.policy, sign_how(*how)?, prf, octets))
            .map(CredAnswer::Value),
    };
    let answer = result.unwrap_or_else(|why| {
        log::warn!("refused a request for policy {:?}: {why}", req.policy);
        CredAnswer::Refused(why)
    });
    CredToNet { id: req.id, answer }
}

fn prf_alg(id: u16) -> Result<PrfAlg, String> {
    PrfAlg::from_transform_id(id).ok_or_else(|| format!("unknown PRF {id}"))
}

/// The wire form of a [`SignHow`] (ike-ipc does not know the IKE types).
pub fn sign_method(how: SignHow) -> SignMethod {
    match how {
        SignHow::Rfc4754 => SignMethod::Rfc4754,
        SignHow::Rfc7427(s) => {
            let i = SignatureScheme::ALL.iter().position(|x| *x == s);
            // Every scheme is in ALL; 255 is refused by the other side.
            SignMethod::Rfc7427(i.map_or(u8::MAX, |i| i as u8))
        }
    }
}

/// The [`SignHow`] of a wire [`SignMethod`].
pub fn sign_how(m: SignMethod) -> Result<SignHow, String> {
    match m {
        SignMethod::Rfc4754 => Ok(SignHow::Rfc4754),
        SignMethod::Rfc7427(i) => SignatureScheme::ALL
            .get(usize::from(i))
            .map(|s| SignHow::Rfc7427(*s))
            .ok_or_else(|| format!("unknown signature scheme {i}")),
    }
}
