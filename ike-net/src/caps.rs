//! What the broker's kernel interface can install (its `Ready`: algorithm
//! lists and ESN) applied to the configured child proposals, before the
//! engine sees them (issue 18).
//!
//! Why here and not at install time: a CHILD_SA negotiated with a transform
//! the kernel cannot install (Linux af_key: no AES-GCM, no ChaCha20-Poly1305,
//! HMAC-SHA2-256 truncated to 96 bits, no ESN; docs/DIALECTS.md 5.4) fails
//! after the peer has installed its half. Left out of the proposal, the peer
//! picks something else or says NO_PROPOSAL_CHOSEN, and the log says why.
//!
//! Each policy gets one log line naming what was left out; a policy with no
//! proposal left is not negotiated at all (the caller lists it with the
//! other skipped policies).

use ike_ipc::config::{ChildProposal, Config, Esn, IpsecProtocol};
use ike_ipc::msg::pfkey::Supported;

/// `config` with every ESP policy's child proposals narrowed to `caps`, and
/// the policies left with none (name, reason), which are removed from it;
/// `None` when nothing had to go (the common case: no copy kept).
/// An empty `caps` (the broker learned nothing, e.g. REGISTER timed out)
/// narrows nothing: refusing every policy would be worse than an install
/// that fails for one transform.
pub fn gate(config: &Config, caps: &Supported) -> Option<(Config, Vec<(String, String)>)> {
    if caps.encryption.is_empty() && caps.integrity.is_empty() {
        log::warn!("the broker named no algorithms: child proposals are not narrowed");
        return None;
    }
    let mut out = config.clone();
    let mut refused = Vec::new();
    let mut changed = false;
    out.policies.retain_mut(|p| {
        // AH is refused by the engine's conversion with its own reason.
        if p.protocol != IpsecProtocol::Esp {
            return true;
        }
        let mut dropped: Vec<&'static str> = Vec::new();
        let before = p.child_proposals.len();
        p.child_proposals = p
            .child_proposals
            .iter()
            .filter_map(|c| narrow(c, caps, &mut dropped))
            .collect();
        if dropped.is_empty() {
            return true;
        }
        changed = true;
        let gone = before - p.child_proposals.len();
        let what = dropped.join(", ");
        if p.child_proposals.is_empty() {
            refused.push((
                p.name.clone(),
                format!("the kernel interface cannot install any of its child proposals (it lacks {what})"),
            ));
            return false;
        }
        log::warn!(
            "policy {}: the kernel interface cannot install {what}: left out of its child \
             proposals ({gone} of {before} proposals dropped)",
            p.name
        );
        true
    });
    changed.then_some((out, refused))
}

/// One proposal without what `caps` lacks (its names added to `dropped`),
/// or `None` when nothing usable is left: no cipher, no ESN choice, or only
/// non-AEAD ciphers with no integrity algorithm left (ESP without integrity
/// is never proposed, see the broker's sa_rules).
fn narrow(
    c: &ChildProposal,
    caps: &Supported,
    dropped: &mut Vec<&'static str>,
) -> Option<ChildProposal> {
    let mut note = |name: &'static str| {
        if !dropped.contains(&name) {
            dropped.push(name);
        }
    };
    let mut n = c.clone();
    n.integrity.retain(|i| {
        let ok = caps.integrity.contains(i);
        if !ok {
            note(i.name());
        }
        ok
    });
    n.encryption.retain(|e| {
        let ok = caps.encryption.contains(e);
        if !ok {
            note(e.name());
        }
        ok
    });
    if !caps.esn {
        if n.esn.contains(&Esn::Extended) {
            note("esn");
        }
        n.esn.retain(|e| *e != Esn::Extended);
    }
    // A cipher that needs integrity is useless once all of it is gone.
    if !c.integrity.is_empty() && n.integrity.is_empty() {
        n.encryption.retain(|e| e.is_aead());
    }
    // An empty ESN list in the configuration means "no ESN" (the parser
    // fills it); emptied here it means the policy insisted on ESN.
    let esn_gone = !c.esn.is_empty() && n.esn.is_empty();
    (!n.encryption.is_empty() && !esn_gone).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ike_ipc::config::{Encryption as E, Integrity as I, Policy};

    /// Linux af_key's Ready (the captured REGISTER lists, broker/algs.rs).
    fn linux_pfkey() -> Supported {
        Supported {
            encryption: vec![E::TripleDes, E::Aes128Cbc, E::Aes256Cbc, E::Aes256Ctr],
            integrity: vec![I::HmacSha1, I::HmacSha2_384, I::HmacSha2_512],
            esn: false,
            fwd_policies: true,
        }
    }

    /// The XFRM back end's Ready: everything.
    fn xfrm() -> Supported {
        Supported {
            encryption: E::ALL.to_vec(),
            integrity: I::ALL.to_vec(),
            esn: true,
            fwd_policies: true,
        }
    }

    fn prop(encryption: &[E], integrity: &[I], esn: &[Esn]) -> ChildProposal {
        ChildProposal {
            encryption: encryption.to_vec(),
            integrity: integrity.to_vec(),
            groups: vec![],
            esn: esn.to_vec(),
        }
    }

    fn config(children: Vec<Vec<ChildProposal>>) -> Config {
        let policies = children
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let mut p = Policy::new(&format!("p{i}"));
                p.child_proposals = c;
                p
            })
            .collect();
        Config {
            policies,
            ..Config::default()
        }
    }

    #[test]
    fn linux_pfkey_loses_gcm_chacha_sha256_and_esn() {
        // The parser's default (AEAD first, then CBC + HMAC) and an ESN one.
        let c = config(vec![vec![
            prop(&[E::Aes256Gcm16, E::ChaCha20Poly1305], &[], &[Esn::None]),
            prop(
                &[E::Aes256Cbc],
                &[I::HmacSha2_256, I::HmacSha2_512],
                &[Esn::Extended, Esn::None],
            ),
        ]]);
        let (g, refused) = gate(&c, &linux_pfkey()).unwrap();
        assert!(refused.is_empty());
        assert_eq!(
            g.policies[0].child_proposals,
            [prop(&[E::Aes256Cbc], &[I::HmacSha2_512], &[Esn::None])]
        );
        // XFRM installs all of it: nothing changes.
        assert_eq!(gate(&c, &xfrm()), None);
    }

    #[test]
    fn a_policy_left_without_a_proposal_is_refused_with_what_it_lacks() {
        let c = config(vec![
            vec![prop(&[E::Aes256Gcm16], &[], &[Esn::None])],
            vec![prop(&[E::Aes256Cbc], &[I::HmacSha2_256], &[Esn::None])],
            vec![prop(&[E::Aes256Cbc], &[I::HmacSha2_512], &[Esn::Extended])],
            vec![prop(&[E::Aes256Cbc], &[I::HmacSha2_512], &[])],
        ]);
        let (g, refused) = gate(&c, &linux_pfkey()).unwrap();
        let names: Vec<&str> = g.policies.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["p3"], "only the plain CBC + SHA-512 policy stays");
        assert_eq!(refused.len(), 3);
        assert_eq!(refused[0].0, "p0");
        assert!(refused[0].1.contains("aes-256-gcm"), "{refused:?}");
        // CBC itself is installable; its only integrity algorithm is not.
        assert!(refused[1].1.contains("hmac-sha2-256"), "{refused:?}");
        assert!(!refused[1].1.contains("aes-256,"), "{refused:?}");
        assert!(refused[2].1.contains("esn"), "{refused:?}");
    }

    #[test]
    fn an_empty_ready_narrows_nothing_and_ah_is_left_to_the_engine() {
        let mut c = config(vec![vec![prop(&[E::Aes256Gcm16], &[], &[])]]);
        assert_eq!(gate(&c, &Supported::default()), None);
        assert!(gate(&c, &linux_pfkey()).is_some());
        c.policies[0].protocol = IpsecProtocol::Ah;
        c.policies[0].child_proposals = vec![prop(&[], &[I::HmacSha2_256], &[])];
        assert_eq!(gate(&c, &linux_pfkey()), None);
    }
}
