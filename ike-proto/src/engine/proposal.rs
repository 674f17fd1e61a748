//! Building SA offers from the configuration and choosing from the peer's
//! (RFC 7296 2.7, 3.3).

use crate::wire::consts::{DhGroup, EncrId, EsnId, IntegId, PrfId, ProtocolId, TransformType};
use crate::wire::sa::{Proposal, Transform};

use super::api::{ChildSuite, IkeSuite};
use super::config::{ChildProposal, Encr, IkeProposal};

/// Whether an encryption transform is an AEAD (no separate integrity).
pub(crate) fn is_aead(id: EncrId) -> bool {
    matches!(
        id,
        EncrId::AES_GCM_8
            | EncrId::AES_GCM_12
            | EncrId::AES_GCM_16
            | EncrId::AES_CCM_8
            | EncrId::AES_CCM_12
            | EncrId::AES_CCM_16
            | EncrId::CHACHA20_POLY1305
    )
}

fn encr_transform(e: &Encr) -> Transform {
    Transform::encr(e.id, e.key_bits)
}

/// Our IKE SA offer; `spi` is empty in IKE_SA_INIT and our new SPI when
/// rekeying the IKE SA (RFC 7296 1.3.2).
pub(crate) fn ike_offer(
    ours: &[IkeProposal],
    spi: &[u8],
    first_group: Option<DhGroup>,
) -> Vec<Proposal> {
    ours.iter()
        .enumerate()
        .map(|(i, p)| {
            let mut transforms: Vec<Transform> = p.encr.iter().map(encr_transform).collect();
            transforms.extend(p.prf.iter().map(|&id| Transform::prf(id)));
            transforms.extend(p.integ.iter().map(|&id| Transform::integ(id)));
            // The group we actually send a KE for goes first, as peers
            // commonly read the first KE transform as our preference.
            let mut groups = p.dh.clone();
            if let Some(g) = first_group {
                if let Some(pos) = groups.iter().position(|&x| x == g) {
                    groups.remove(pos);
                    groups.insert(0, g);
                }
            }
            transforms.extend(groups.iter().map(|&g| Transform::ke(g)));
            Proposal {
                num: u8::try_from(i + 1).unwrap_or(u8::MAX),
                protocol: ProtocolId::IKE,
                spi: spi.to_vec(),
                transforms,
            }
        })
        .collect()
}

/// Our CHILD_SA offer with our inbound SPI. `with_ke` adds the PFS groups
/// (CREATE_CHILD_SA); IKE_AUTH never carries them (RFC 7296 1.2).
pub(crate) fn child_offer(ours: &[ChildProposal], spi: u32, with_ke: bool) -> Vec<Proposal> {
    ours.iter()
        .enumerate()
        .map(|(i, p)| {
            let mut transforms: Vec<Transform> = p.encr.iter().map(encr_transform).collect();
            transforms.extend(p.integ.iter().map(|&id| Transform::integ(id)));
            if with_ke {
                transforms.extend(p.dh.iter().map(|&g| Transform::ke(g)));
            }
            if p.esn {
                transforms.push(Transform::esn(EsnId::ESN));
            }
            transforms.push(Transform::esn(EsnId::NO_ESN));
            Proposal {
                num: u8::try_from(i + 1).unwrap_or(u8::MAX),
                protocol: ProtocolId::ESP,
                spi: spi.to_be_bytes().to_vec(),
                transforms,
            }
        })
        .collect()
}

/// The transforms of one type in a peer proposal, in the peer's order,
/// skipping transforms with attributes we do not understand (RFC 7296 3.3.6).
fn of_type(p: &Proposal, t: TransformType) -> impl Iterator<Item = &Transform> {
    p.transforms
        .iter()
        .filter(move |x| x.ttype == t && x.other_attributes.is_empty())
}

/// A proposal is unusable if it has a transform type we do not know
/// (RFC 7296 3.3.6: reject the whole proposal).
fn has_unknown_type(p: &Proposal, known: &[TransformType]) -> bool {
    p.transforms.iter().any(|t| !known.contains(&t.ttype))
}

fn pick_encr(p: &Proposal, ours: &[Encr]) -> Option<Encr> {
    of_type(p, TransformType::ENCR).find_map(|t| {
        let e = Encr {
            id: EncrId(t.id),
            key_bits: t.key_length,
        };
        ours.contains(&e).then_some(e)
    })
}

fn pick<T: Copy + PartialEq>(
    p: &Proposal,
    tt: TransformType,
    ours: &[T],
    conv: fn(u16) -> T,
) -> Option<T> {
    of_type(p, tt)
        .map(|t| conv(t.id))
        .find(|id| ours.contains(id))
}

/// Responder: the first peer proposal (in the peer's order) that one of our
/// proposals accepts, reduced to one transform per type. Returns the answer
/// proposal (carrying `spi`) and the suite.
/// `prefer_group` is the group of the peer's KE payload: when acceptable it
/// wins over the peer's first listed group, saving an INVALID_KE round trip.
pub(crate) fn select_ike(
    offer: &[Proposal],
    ours: &[IkeProposal],
    spi: &[u8],
    prefer_group: Option<DhGroup>,
) -> Option<(Proposal, IkeSuite)> {
    let known = [
        TransformType::ENCR,
        TransformType::PRF,
        TransformType::INTEG,
        TransformType::KE,
    ];
    for p in offer.iter().filter(|p| p.protocol == ProtocolId::IKE) {
        if has_unknown_type(p, &known) {
            continue;
        }
        for o in ours {
            let Some(encr) = pick_encr(p, &o.encr) else {
                continue;
            };
            let Some(prf) = pick(p, TransformType::PRF, &o.prf, PrfId) else {
                continue;
            };
            let preferred = prefer_group
                .filter(|g| o.dh.contains(g) && of_type(p, TransformType::KE).any(|t| t.id == g.0));
            let Some(dh) = preferred.or_else(|| pick(p, TransformType::KE, &o.dh, DhGroup)) else {
                continue;
            };
            let integ = if is_aead(encr.id) {
                // An AEAD proposal must not carry integrity, or only NONE.
                if of_type(p, TransformType::INTEG).any(|t| t.id != 0) {
                    continue;
                }
                None
            } else {
                match pick(p, TransformType::INTEG, &o.integ, IntegId) {
                    Some(i) => Some(i),
                    None => continue,
                }
            };
            let suite = IkeSuite {
                encr,
                prf,
                integ,
                dh,
            };
            return Some((ike_answer(p.num, spi, &suite), suite));
        }
    }
    None
}

fn ike_answer(num: u8, spi: &[u8], s: &IkeSuite) -> Proposal {
    let mut transforms = vec![
        Transform::encr(s.encr.id, s.encr.key_bits),
        Transform::prf(s.prf),
    ];
    if let Some(i) = s.integ {
        transforms.push(Transform::integ(i));
    }
    transforms.push(Transform::ke(s.dh));
    Proposal {
        num,
        protocol: ProtocolId::IKE,
        spi: spi.to_vec(),
        transforms,
    }
}

/// Whether a peer's IKE offer contains `group` in any proposal we could
/// accept otherwise; used to decide between INVALID_KE_PAYLOAD and
/// NO_PROPOSAL_CHOSEN (RFC 7296 1.2).
pub(crate) fn ike_suite_from_answer(answer: &[Proposal], ours: &[IkeProposal]) -> Option<IkeSuite> {
    // The answer must be exactly one proposal with one transform per type,
    // and something we offered (RFC 7296 2.7: never accept an unoffered one).
    let [p] = answer else { return None };
    let (chosen, suite) = select_ike(answer, ours, &p.spi, None)?;
    let count = |t| p.transforms.iter().filter(|x| x.ttype == t).count();
    let single = count(TransformType::ENCR) == 1
        && count(TransformType::PRF) == 1
        && count(TransformType::KE) == 1
        && count(TransformType::INTEG) <= 1;
    (single && chosen.num == p.num && usize::from(p.num) <= ours.len()).then_some(suite)
}

/// Responder: choose a CHILD_SA proposal. `pfs_group` is the KE group the
/// initiator sent (CREATE_CHILD_SA with KE), `None` otherwise; `in_auth`
/// ignores KE transforms, as IKE_AUTH has no KE payload.
/// Returns the answer (with `our_spi`), the suite and the peer's SPI.
pub(crate) fn select_child(
    offer: &[Proposal],
    ours: &[ChildProposal],
    our_spi: u32,
    pfs_group: Option<DhGroup>,
    in_auth: bool,
) -> Option<(Proposal, ChildSuite, u32)> {
    let known = [
        TransformType::ENCR,
        TransformType::INTEG,
        TransformType::KE,
        TransformType::ESN,
    ];
    for p in offer.iter().filter(|p| p.protocol == ProtocolId::ESP) {
        if has_unknown_type(p, &known) {
            continue;
        }
        let Ok(peer_spi_bytes) = <[u8; 4]>::try_from(p.spi.as_slice()) else {
            continue;
        };
        let peer_spi = u32::from_be_bytes(peer_spi_bytes);
        for o in ours {
            let Some(encr) = pick_encr(p, &o.encr) else {
                continue;
            };
            let integ = if is_aead(encr.id) {
                if of_type(p, TransformType::INTEG).any(|t| t.id != 0) {
                    continue;
                }
                None
            } else {
                match pick(p, TransformType::INTEG, &o.integ, IntegId) {
                    Some(i) => Some(i),
                    None => continue,
                }
            };
            let esn_ok = |e: EsnId| e == EsnId::NO_ESN || (e == EsnId::ESN && o.esn);
            // A missing ESN transform means "no ESN" for ESP offers from
            // some peers; accept it as such.
            let esn = match of_type(p, TransformType::ESN)
                .map(|t| EsnId(t.id))
                .find(|&e| esn_ok(e))
            {
                Some(e) => e == EsnId::ESN,
                None if of_type(p, TransformType::ESN).next().is_none() => false,
                None => continue,
            };
            let offered_groups: Vec<DhGroup> = of_type(p, TransformType::KE)
                .map(|t| DhGroup(t.id))
                .filter(|g| *g != DhGroup::NONE)
                .collect();
            let dh = if in_auth {
                None
            } else {
                match pfs_group {
                    // The KE payload's group must be in this proposal and ours.
                    Some(g) if offered_groups.contains(&g) && o.dh.contains(&g) => Some(g),
                    Some(_) => continue,
                    // No KE payload: only acceptable if this proposal does
                    // not require PFS and neither do we.
                    None if offered_groups.is_empty() && o.dh.is_empty() => None,
                    None => continue,
                }
            };
            let suite = ChildSuite {
                encr,
                integ,
                dh,
                esn,
            };
            return Some((child_answer(p.num, our_spi, &suite), suite, peer_spi));
        }
    }
    None
}

fn child_answer(num: u8, spi: u32, s: &ChildSuite) -> Proposal {
    let mut transforms = vec![Transform::encr(s.encr.id, s.encr.key_bits)];
    if let Some(i) = s.integ {
        transforms.push(Transform::integ(i));
    }
    if let Some(g) = s.dh {
        transforms.push(Transform::ke(g));
    }
    transforms.push(Transform::esn(if s.esn {
        EsnId::ESN
    } else {
        EsnId::NO_ESN
    }));
    Proposal {
        num,
        protocol: ProtocolId::ESP,
        spi: spi.to_be_bytes().to_vec(),
        transforms,
    }
}

/// Initiator: check the responder's CHILD_SA answer against our offer.
/// Returns the suite and the responder's SPI.
pub(crate) fn child_suite_from_answer(
    answer: &[Proposal],
    ours: &[ChildProposal],
    pfs_group: Option<DhGroup>,
    in_auth: bool,
) -> Option<(ChildSuite, u32)> {
    let [p] = answer else { return None };
    let single = p
        .transforms
        .iter()
        .filter(|t| t.ttype == TransformType::ENCR)
        .count()
        == 1
        && p.transforms
            .iter()
            .filter(|t| t.ttype == TransformType::INTEG)
            .count()
            <= 1
        && p.transforms
            .iter()
            .filter(|t| t.ttype == TransformType::KE)
            .count()
            <= 1;
    if !single || usize::from(p.num) > ours.len() || p.num == 0 {
        return None;
    }
    let (_, suite, spi) = select_child(answer, ours, 0, pfs_group, in_auth)?;
    Some((suite, spi))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gcm256() -> Encr {
        Encr {
            id: EncrId::AES_GCM_16,
            key_bits: Some(256),
        }
    }
    fn cbc128() -> Encr {
        Encr {
            id: EncrId::AES_CBC,
            key_bits: Some(128),
        }
    }

    fn ike(encr: Vec<Encr>, integ: Vec<IntegId>, dh: Vec<DhGroup>) -> IkeProposal {
        IkeProposal {
            encr,
            prf: vec![PrfId::HMAC_SHA2_256],
            integ,
            dh,
        }
    }

    #[test]
    fn responder_picks_first_acceptable_peer_proposal() {
        let peer = vec![
            ike(
                vec![cbc128()],
                vec![IntegId::HMAC_SHA2_256_128],
                vec![DhGroup::ECP_256],
            ),
            ike(
                vec![gcm256()],
                vec![],
                vec![DhGroup::CURVE25519, DhGroup::ECP_256],
            ),
        ];
        let offer = ike_offer(&peer, &[], None);
        let ours = vec![ike(vec![gcm256()], vec![], vec![DhGroup::ECP_256])];
        let (answer, suite) = select_ike(&offer, &ours, &[], None).unwrap();
        assert_eq!(answer.num, 2);
        assert_eq!(suite.encr, gcm256());
        assert_eq!(suite.dh, DhGroup::ECP_256);
        assert_eq!(suite.integ, None);
        // The initiator accepts that answer ...
        assert_eq!(
            ike_suite_from_answer(std::slice::from_ref(&answer), &peer),
            Some(suite)
        );
        // ... but not one it never offered.
        let mut forged = answer;
        forged.transforms[0] = Transform::encr(EncrId::AES_CBC, Some(256));
        assert_eq!(ike_suite_from_answer(&[forged], &peer), None);
    }

    #[test]
    fn no_overlap_is_no_proposal() {
        let offer = ike_offer(
            &[ike(
                vec![cbc128()],
                vec![IntegId::HMAC_SHA2_256_128],
                vec![DhGroup::ECP_256],
            )],
            &[],
            None,
        );
        let ours = vec![ike(vec![gcm256()], vec![], vec![DhGroup::ECP_256])];
        assert!(select_ike(&offer, &ours, &[], None).is_none());
    }

    #[test]
    fn unknown_transform_type_rejects_the_proposal() {
        let mut offer = ike_offer(
            &[ike(vec![gcm256()], vec![], vec![DhGroup::CURVE25519])],
            &[],
            None,
        );
        offer[0]
            .transforms
            .push(Transform::new(TransformType(200), 1));
        let ours = vec![ike(vec![gcm256()], vec![], vec![DhGroup::CURVE25519])];
        assert!(select_ike(&offer, &ours, &[], None).is_none());
    }

    #[test]
    fn child_selection_with_and_without_pfs() {
        let pfs = ChildProposal {
            encr: vec![gcm256()],
            integ: vec![],
            dh: vec![DhGroup::CURVE25519],
            esn: false,
        };
        let offer = child_offer(std::slice::from_ref(&pfs), 0x1122_3344, true);
        let (answer, suite, spi) = select_child(
            &offer,
            std::slice::from_ref(&pfs),
            0x5566_7788,
            Some(DhGroup::CURVE25519),
            false,
        )
        .unwrap();
        assert_eq!(spi, 0x1122_3344);
        assert_eq!(suite.dh, Some(DhGroup::CURVE25519));
        assert_eq!(
            child_suite_from_answer(
                &[answer],
                std::slice::from_ref(&pfs),
                Some(DhGroup::CURVE25519),
                false
            ),
            Some((suite, 0x5566_7788))
        );
        // We require PFS but the peer sent no KE: refused.
        assert!(select_child(&offer, std::slice::from_ref(&pfs), 1, None, false).is_none());
        // In IKE_AUTH the KE transforms are ignored.
        let (_, s, _) = select_child(
            &child_offer(std::slice::from_ref(&pfs), 9, false),
            &[pfs],
            1,
            None,
            true,
        )
        .unwrap();
        assert_eq!(s.dh, None);
    }
}
