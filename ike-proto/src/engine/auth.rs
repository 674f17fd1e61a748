//! IKE_AUTH, both roles (RFC 7296 1.2, 2.15, 2.9; RFC 7427; RFC 6023).

use std::time::Instant;

use crate::crypto::{signed_octets, HashAlgorithm, PrfAlg};
use crate::wire::auth::Authentication;
use crate::wire::consts::{AuthMethod, ExchangeType, NotifyType};
use crate::wire::id::Identification;
use crate::wire::Payload;

use super::api::{DownReason, Event, FailReason, IkeSaId};
use super::config::{Encapsulation, Identity, LocalAuth, PeerAuth, Policy};
use super::lifetime::rekey_deadline;
use super::sa::{AuthCtx, ChildAnswer, ChildReq, Parked, PendingKind, Phase, State};
use super::ts::{self, TrafficSelector};
use super::{find_notify, notify, proposal, Engine, KernelPurpose};

mod certs;
pub(super) mod credentials;
pub(super) use certs::certreq;
use credentials::{Credentials, SignHow};

fn id_payload(id: &Identity) -> Identification {
    Identification {
        id_type: id.kind,
        data: id.data.clone(),
    }
}

fn same_id(a: &Identity, b: &Identification) -> bool {
    a.kind == b.id_type && a.data == b.data
}

/// Our AUTH payload over `octets`, or why we cannot make one (logged by
/// the caller; the negotiation then fails). The secret part is the
/// credentials' (issue 16): here we only choose the method and scheme.
fn make_auth(
    creds: &dyn Credentials,
    policy: &Policy,
    prf: PrfAlg,
    octets: &[u8],
    peer_hashes: &[u16],
) -> Result<Authentication, String> {
    match &policy.local_auth {
        LocalAuth::Psk => Ok(Authentication {
            method: AuthMethod::PSK,
            data: creds.psk_auth(&policy.name, prf, octets)?,
        }),
        LocalAuth::Signature(key) => {
            // RFC 7427 4: the peer lists the hashes it can verify; sign
            // with a scheme whose hash it listed.
            let listed: Vec<HashAlgorithm> = peer_hashes
                .iter()
                .filter_map(|h| HashAlgorithm::from_u16(*h))
                .collect();
            let scheme = match key.scheme_for(&listed) {
                Some(s) => s,
                // An RSA key has no other way: method 1 would need SHA-1
                // PKCS#1 signatures, which ring does not make.
                None if key.scheme().is_rsa() => {
                    return Err(format!(
                        "peer did not announce SHA-2 in SIGNATURE_HASH_ALGORITHMS ({peer_hashes:?}): \
                         an RSA key signs only with RFC 7427 (auth method 1, RSA with SHA-1, is not supported)"
                    ))
                }
                // Each of the other key types signs with one hash; try it
                // and say so (the peer will most likely refuse).
                None => {
                    log::warn!(
                        "policy {}: peer did not announce hash {:?} in SIGNATURE_HASH_ALGORITHMS ({peer_hashes:?})",
                        policy.name,
                        key.scheme().hash()
                    );
                    key.scheme()
                }
            };
            let sig = creds.sign(&policy.name, SignHow::Rfc7427(scheme), prf, octets)?;
            Ok(Authentication {
                method: AuthMethod::DIGITAL_SIGNATURE,
                data: scheme.encode_auth_data(&sig),
            })
        }
        LocalAuth::Rfc4754(key) => {
            let method = key
                .rfc4754_method()
                .ok_or("RFC 4754 needs an ECDSA P-256/P-384 key")?;
            let sig = creds.sign(&policy.name, SignHow::Rfc4754, prf, octets)?;
            Ok(Authentication {
                method: AuthMethod(method),
                data: sig,
            })
        }
    }
}

/// Checks the peer's AUTH payload over `octets` as the policy demands.
/// The kind must be the configured one: a PSK policy never accepts a
/// signature and vice versa. With certificates, the peer's chain must
/// validate and name `peer_id` (the ID it sent, already matched against
/// the policy) before its key is used.
fn check_auth(
    creds: &dyn Credentials,
    policy: &Policy,
    prf: PrfAlg,
    octets: &[u8],
    auth: &Authentication,
    payloads: &[Payload],
    peer_id: &Identification,
) -> Result<(), FailReason> {
    let cert_key;
    let (key, source): (&crate::crypto::VerifyingKey, &str) = match &policy.peer_auth {
        PeerAuth::Psk => {
            let ok = auth.method == AuthMethod::PSK
                && match creds.psk_verify(&policy.name, prf, octets, &auth.data) {
                    Ok(yes) => yes,
                    Err(why) => {
                        log::error!(
                            "policy {}: cannot check the peer's AUTH: {why}",
                            policy.name
                        );
                        false
                    }
                };
            return if ok {
                Ok(())
            } else {
                Err(FailReason::AuthenticationFailed)
            };
        }
        PeerAuth::Signature(key) => (key, "the configured public key"),
        PeerAuth::Certificate(store) => {
            cert_key = certs::peer_key(store, payloads, peer_id, &policy.name).map_err(|e| {
                log::warn!("policy {}: peer certificate refused: {e}", policy.name);
                FailReason::Certificate(e)
            })?;
            (&cert_key, "its certificate's key")
        }
    };
    key.verify_auth(auth.method.0, octets, &auth.data)
        .map_err(|_| {
            log::warn!(
                "policy {}: peer AUTH (method {}) does not verify with {source}",
                policy.name,
                auth.method.0
            );
            FailReason::AuthenticationFailed
        })
}

impl Engine {
    /// Initiator: sends IKE_AUTH once IKE_SA_INIT is done and (unless
    /// childless) the kernel gave us the child's inbound SPI.
    pub(super) fn try_send_auth(&mut self, now: Instant, h: u64) {
        // RFC 7296 2.4: INITIAL_CONTACT says "I have no other IKE SA with
        // you"; with one still up it would make the peer delete it.
        let Some(name) = self.ep.sas.get(&h).map(|s| s.policy.name.clone()) else {
            return;
        };
        let others = self.ep.sas.iter().any(|(k, s)| {
            *k != h
                && s.policy.name == name
                && matches!(s.phase(), Phase::Established | Phase::Rekeyed)
        });
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        let State::InitDone { auth, ike } = &sa.state else {
            return;
        };
        if !sa.pending.is_empty() {
            return;
        }
        let childless = sa.policy.childless;
        let spi_in = match (childless, auth.child_spi) {
            (true, _) => None,
            (false, Some(s)) => Some(s),
            (false, None) => return, // still waiting for the kernel
        };
        let policy = sa.policy.clone();
        let keys = &ike.keys;
        let idi = id_payload(&policy.local_id);
        let octets = signed_octets(
            keys.prf,
            &auth.init_request_msg(),
            &auth.nr,
            keys.sk_pi.as_bytes(),
            &idi.body_bytes(),
        );
        let auth_payload = match make_auth(
            self.cfg.credentials.as_ref(),
            &policy,
            keys.prf,
            &octets,
            &auth.peer_hashes,
        ) {
            Ok(a) => a,
            Err(why) => {
                log::error!("policy {}: cannot make our AUTH: {why}", policy.name);
                self.auth_failed(h, FailReason::LocalAuth, spi_in);
                return;
            }
        };
        // RFC 7296 1.2: IDi, [CERT+], [CERTREQ], [IDr], AUTH.
        let mut payloads = vec![Payload::IdI(idi)];
        payloads.extend(certs::our_certs(&policy));
        payloads.extend(certs::certreq(std::iter::once(policy.as_ref())));
        if policy.initial_contact && !others {
            payloads.push(notify(NotifyType::INITIAL_CONTACT, Vec::new()));
        }
        payloads.extend(super::mobike::offer(policy.mobike));
        payloads.push(Payload::IdR(id_payload(&policy.peer_id)));
        payloads.push(Payload::Auth(auth_payload));
        // RFC 7296 1.2: [CP(CFG_REQUEST)] after AUTH (`request address`).
        payloads.extend(super::cp::request(&policy));
        payloads.extend(super::window::announcement(self.cfg.window));
        sa.recv.set_size(self.cfg.window);
        let child = spi_in.map(|spi| {
            let (local_ts, remote_ts) = first_child_selectors(&policy, auth.packet_ts);
            ChildReq {
                spi_in: spi,
                offer: proposal::child_offer(&policy.child_proposals, spi, false),
                local_ts,
                remote_ts,
                mode: policy.mode,
                ni: Vec::new(),
                ke: None,
                pfs: None,
                rekey_of: None,
                collision: None,
            }
        });
        if let Some(c) = &child {
            if c.mode == Encapsulation::Transport {
                payloads.push(notify(NotifyType::USE_TRANSPORT_MODE, Vec::new()));
            }
            payloads.push(Payload::Sa(c.offer.clone()));
            payloads.push(Payload::TsI(ts::to_wire(&c.local_ts)));
            payloads.push(Payload::TsR(ts::to_wire(&c.remote_ts)));
        }
        sa.auth_sent();
        self.send_request(
            now,
            h,
            ExchangeType::IKE_AUTH,
            payloads,
            PendingKind::Auth { child },
        );
        // A request that cannot be encoded (say, more CERT payloads than a
        // message holds) fails the SA at once (`request_unsendable`).
    }

    /// Initiator: the responder's IKE_AUTH answer.
    pub(super) fn auth_response(
        &mut self,
        now: Instant,
        h: u64,
        child: Option<ChildReq>,
        payloads: Vec<Payload>,
    ) {
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        let policy = sa.policy.clone();
        let idr = first_payload!(&payloads, IdR);
        let au = first_payload!(&payloads, Auth);
        let (Some(idr), Some(au)) = (idr, au) else {
            let reason = match super::error_notify(&payloads) {
                Some(NotifyType::AUTHENTICATION_FAILED) | None => FailReason::AuthenticationFailed,
                Some(n) => FailReason::PeerNotify(n),
            };
            self.auth_failed(h, reason, child.map(|c| c.spi_in));
            return;
        };
        let (Some(keys), Some(actx)) = (sa.keys(), sa.auth()) else {
            return;
        };
        let octets = signed_octets(
            keys.prf,
            &actx.init_response,
            &actx.ni,
            keys.sk_pr.as_bytes(),
            &idr.body_bytes(),
        );
        let verdict = if same_id(&policy.peer_id, idr) {
            check_auth(
                self.cfg.credentials.as_ref(),
                &policy,
                keys.prf,
                &octets,
                au,
                &payloads,
                idr,
            )
        } else {
            Err(FailReason::AuthenticationFailed)
        };
        if let Err(reason) = verdict {
            // RFC 7296 2.21.2: tell the responder, which considers the SA up.
            self.send_last_word(
                h,
                ExchangeType::INFORMATIONAL,
                vec![notify(NotifyType::AUTHENTICATION_FAILED, Vec::new())],
            );
            self.auth_failed(h, reason, child.map(|c| c.spi_in));
            return;
        }
        let peer_id = Identity {
            kind: idr.id_type,
            data: idr.data.clone(),
        };
        let initial_contact = find_notify(&payloads, NotifyType::INITIAL_CONTACT).is_some();
        if let Some(sa) = self.ep.sas.get_mut(&h) {
            super::mobike::negotiate(sa, &payloads, None);
        }
        if sa_asked_address(&policy) {
            let got = super::cp::received(&policy, &payloads);
            if !got.is_empty() {
                self.cp.received.insert(h, got);
            }
        }
        // Establishing drops the handshake material; the first child's
        // keys still need its nonces.
        let actx = self.establish(now, h, peer_id, initial_contact);

        let Some(req) = child else { return };
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        let Some(actx) = actx else { return };
        match child_from_response(&payloads, &req, sa.policy.child_proposals.as_slice(), true) {
            Ok((suite, spi_out, local_ts, remote_ts, mode)) => {
                let inst = super::kernel::NewChild {
                    spi_in: req.spi_in,
                    spi_out,
                    suite,
                    local_ts,
                    remote_ts,
                    mode,
                    g_ir: None,
                    ni: actx.ni.clone(),
                    nr: actx.nr.clone(),
                    we_initiated: true,
                    rekey_of: None,
                };
                self.install_child(now, h, inst, None, false);
            }
            Err(reason) => {
                self.child_failed(h, req.spi_in, reason);
            }
        }
    }

    pub(super) fn auth_failed(&mut self, h: u64, reason: FailReason, spi: Option<u32>) {
        if let Some(spi) = spi {
            self.release_spi(h, spi);
        }
        self.failed_event(h, reason);
        self.remove_sa(h, DownReason::Failed);
    }

    /// The IKE SA is authenticated both ways.
    ///
    /// Returns the handshake material the SA held (see `IkeSa::establish`).
    fn establish(
        &mut self,
        now: Instant,
        h: u64,
        peer_id: Identity,
        initial_contact: bool,
    ) -> Option<Box<AuthCtx>> {
        let sa = self.ep.sas.get(&h)?;
        let half_open = !sa.initiator && sa.phase() == Phase::Auth;
        let (remote, spi_i) = (sa.remote, sa.spi_i);
        self.ep.release_half_open(h, half_open, remote, spi_i);
        let sa = self.ep.sas.get_mut(&h)?;
        let l = sa.policy.ike_lifetime;
        let material = sa.establish(peer_id.clone(), now + l.hard);
        sa.rekey_at = Some(rekey_deadline(self.rng.as_mut(), now, &l));
        let Some(suite) = sa.suite() else {
            return material;
        };
        self.out.events.push_back(Event::IkeUp {
            ike: IkeSaId(h),
            policy: sa.policy.name.clone(),
            local: sa.local,
            remote: sa.remote,
            local_id: sa.policy.local_id.clone(),
            peer_id: peer_id.clone(),
            suite,
            initiator: sa.initiator,
        });
        if initial_contact {
            // RFC 7296 2.4: the peer restarted; everything older it had
            // with us under this identity is gone on its side.
            let policy = sa.policy.clone();
            let stale: Vec<u64> = self
                .ep
                .sas
                .iter()
                .filter(|(k, s)| {
                    **k != h && s.policy.name == policy.name && s.peer_id() == Some(&peer_id)
                })
                .map(|(k, _)| *k)
                .collect();
            for k in stale {
                self.remove_sa(k, DownReason::InitialContact);
            }
        }
        material
    }

    /// Responder: the initiator's IKE_AUTH request on a half-open SA.
    pub(super) fn auth_request(
        &mut self,
        now: Instant,
        h: u64,
        message_id: u32,
        payloads: Vec<Payload>,
    ) {
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        let idi = first_payload!(&payloads, IdI);
        let au = first_payload!(&payloads, Auth);
        let (Some(idi), Some(au)) = (idi, au) else {
            self.auth_reject(
                h,
                message_id,
                NotifyType::INVALID_SYNTAX,
                FailReason::AuthenticationFailed,
            );
            return;
        };
        let idr = first_payload!(&payloads, IdR);
        // The policy is chosen again by identity, among those that match the
        // addresses (RFC 7296 2.15: the ID decides which key applies).
        let (lip, rip) = (sa.local.ip(), sa.remote.ip());
        let suite = sa.suite();
        let policy = self
            .cfg
            .policies
            .iter()
            .filter(|p| {
                super::config::addr_matches(p.local_addr, lip)
                    && super::config::addr_matches(p.peer_addr, rip)
            })
            .filter(|p| p.any_peer_id || same_id(&p.peer_id, idi))
            .filter(|p| idr.is_none() || idr.is_some_and(|r| same_id(&p.local_id, r)))
            .find(|p| {
                // The IKE suite already chosen must be one this policy allows.
                suite.is_some_and(|s| {
                    let offer = proposal::ike_offer(
                        &[crate::engine::config::IkeProposal {
                            encr: vec![s.encr],
                            prf: vec![s.prf],
                            integ: s.integ.into_iter().collect(),
                            dh: vec![s.dh],
                        }],
                        &[],
                        None,
                    );
                    proposal::select_ike(&offer, &p.ike_proposals, &[], None).is_some()
                })
            })
            .cloned();
        let Some(policy) = policy else {
            self.auth_reject(
                h,
                message_id,
                NotifyType::AUTHENTICATION_FAILED,
                FailReason::UnknownPeerId,
            );
            return;
        };
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        let (Some(keys), Some(actx)) = (sa.keys(), sa.auth()) else {
            return;
        };
        let octets = signed_octets(
            keys.prf,
            &actx.init_request,
            &actx.nr,
            keys.sk_pi.as_bytes(),
            &idi.body_bytes(),
        );
        let creds = self.cfg.credentials.clone();
        if let Err(reason) = check_auth(
            creds.as_ref(),
            &policy,
            keys.prf,
            &octets,
            au,
            &payloads,
            idi,
        ) {
            self.auth_reject(h, message_id, NotifyType::AUTHENTICATION_FAILED, reason);
            return;
        }
        // Our own AUTH.
        let idr_ours = id_payload(&policy.local_id);
        let octets_r = signed_octets(
            keys.prf,
            &actx.init_response,
            &actx.ni,
            keys.sk_pr.as_bytes(),
            &idr_ours.body_bytes(),
        );
        let our_auth = match make_auth(
            creds.as_ref(),
            &policy,
            keys.prf,
            &octets_r,
            &actx.peer_hashes,
        ) {
            Ok(a) => a,
            Err(why) => {
                log::error!("policy {}: cannot make our AUTH: {why}", policy.name);
                self.auth_reject(
                    h,
                    message_id,
                    NotifyType::AUTHENTICATION_FAILED,
                    FailReason::LocalAuth,
                );
                return;
            }
        };
        let (ni, nr) = (actx.ni.clone(), actx.nr.clone());
        sa.policy = policy.clone();
        let peer_id = Identity {
            kind: idi.id_type,
            data: idi.data.clone(),
        };
        let initial_contact = find_notify(&payloads, NotifyType::INITIAL_CONTACT).is_some();
        // RFC 7296 1.2: IDr, [CERT+], AUTH.
        let mut head = vec![Payload::IdR(idr_ours)];
        head.extend(certs::our_certs(&policy));
        head.push(Payload::Auth(our_auth));
        head.extend(super::window::announcement(self.cfg.window));
        sa.recv.set_size(self.cfg.window);
        super::mobike::negotiate(sa, &payloads, Some(&mut head));
        let remote = sa.remote;

        // RFC 7296 2.19: CP(CFG_REQUEST) -> CP(CFG_REPLY), after AUTH.
        let answered = super::cp::answer_request(&mut self.cp, &policy, h, &peer_id, &payloads);
        head.extend(answered.reply);
        if !answered.lent.is_empty() {
            self.out.events.push_back(Event::Lease {
                ike: IkeSaId(h),
                peer: remote,
                addrs: answered.lent.clone(),
                lent: true,
            });
        }
        // `to dynamic`: this SA's children (the first and any later one)
        // are narrowed to the peer's own lent addresses.
        let policy = match super::cp::for_peer(&policy, &answered.lent) {
            Some(p) => {
                let p = std::sync::Arc::new(p);
                if let Some(sa) = self.ep.sas.get_mut(&h) {
                    sa.policy = p.clone();
                }
                p
            }
            None => policy,
        };
        // RFC 7296 3.15.4: no address for a dynamic flow: the IKE SA still
        // comes up, the child is refused with INTERNAL_ADDRESS_FAILURE.
        let no_address = answered.failed && policy.cp.dynamic_peer;

        let offer = first_payload!(&payloads, Sa);
        let Some(offer) = offer else {
            // Childless (RFC 6023): we announced support, so accept it.
            self.establish(now, h, peer_id, initial_contact);
            if !self.send_response(h, ExchangeType::IKE_AUTH, message_id, head) {
                self.remove_sa(h, DownReason::Failed);
            }
            return;
        };
        let choice = if no_address {
            Err(NotifyType::INTERNAL_ADDRESS_FAILURE)
        } else {
            responder_child(&payloads, offer, &policy, None, true)
        };
        match choice {
            Ok((proposal, suite, peer_spi, local_ts, remote_ts, mode)) => {
                let request = self.ep.request_id();
                let Some(sa) = self.ep.sas.get_mut(&h) else {
                    return;
                };
                let (src, dst) = (sa.remote.ip(), sa.local.ip());
                sa.parked.push(Parked {
                    message_id,
                    exchange: ExchangeType::IKE_AUTH,
                    head,
                    tail: Vec::new(),
                    answer: ChildAnswer {
                        proposal,
                        suite,
                        peer_spi,
                        local_ts,
                        remote_ts,
                        mode,
                        g_ir: None,
                        ni,
                        nr,
                        ke_public: None,
                        rekey_of: None,
                        old_marked: false,
                    },
                    completes_auth: true,
                });
                // Stash who the peer is until the answer goes out.
                sa.auth_verified(peer_id);
                self.initial_contact_pending(h, initial_contact);
                self.request_spi(request, h, KernelPurpose::ParkedSpi(message_id), src, dst);
            }
            Err(code) => {
                // The IKE SA stands; only the child is refused (RFC 7296 1.2).
                self.establish(now, h, peer_id, initial_contact);
                let mut out = head;
                out.push(notify(code, Vec::new()));
                if !self.send_response(h, ExchangeType::IKE_AUTH, message_id, out) {
                    self.remove_sa(h, DownReason::Failed);
                }
            }
        }
    }

    /// Remembers INITIAL_CONTACT until the parked IKE_AUTH answer is sent.
    fn initial_contact_pending(&mut self, h: u64, yes: bool) {
        if yes {
            self.initial_contact.insert(h);
        } else {
            self.initial_contact.remove(&h);
        }
    }

    /// Finishes a parked IKE_AUTH answer: the SA becomes established.
    pub(super) fn complete_parked_auth(&mut self, now: Instant, h: u64) {
        let Some(sa) = self.ep.sas.get(&h) else {
            return;
        };
        let Some(peer_id) = sa.peer_id().cloned() else {
            return;
        };
        let ic = self.initial_contact.remove(&h);
        self.establish(now, h, peer_id, ic);
    }

    /// Refuses an IKE_AUTH request: a protected error answer, then the
    /// half-open SA is gone (RFC 7296 2.21.2).
    fn auth_reject(&mut self, h: u64, message_id: u32, code: NotifyType, reason: FailReason) {
        self.send_response(
            h,
            ExchangeType::IKE_AUTH,
            message_id,
            vec![notify(code, Vec::new())],
        );
        self.failed_event(h, reason);
        self.remove_sa(h, DownReason::Failed);
    }
}

/// The policy asked for a virtual address (`request address`).
fn sa_asked_address(policy: &Policy) -> bool {
    policy.cp.request_v4 || policy.cp.request_v6
}

/// TSi and TSr of the first child (RFC 7296 2.9): the triggering
/// packet's selectors first, if the kernel told them (ACQUIRE), then the
/// policy's. A packet pair that only repeats the policy's first pair is
/// not sent twice: it says nothing more about the packet.
pub(super) fn first_child_selectors(
    policy: &Policy,
    packet: Option<(TrafficSelector, TrafficSelector)>,
) -> (Vec<TrafficSelector>, Vec<TrafficSelector>) {
    let (mut local_ts, mut remote_ts) = (policy.local_ts.clone(), policy.peer_ts.clone());
    if let Some((src, dst)) = packet {
        let repeat = local_ts.first() == Some(&src) && remote_ts.first() == Some(&dst);
        if !repeat {
            local_ts.insert(0, src);
            remote_ts.insert(0, dst);
        }
    }
    (local_ts, remote_ts)
}

impl super::sa::AuthCtx {
    /// Our IKE_SA_INIT request as signed: without the non-ESP marker.
    pub(crate) fn init_request_msg(&self) -> Vec<u8> {
        self.init_request.clone()
    }
}

/// What a responder agreed to for a CHILD_SA request.
pub(super) type ChildChoice = (
    crate::wire::sa::Proposal,
    super::api::ChildSuite,
    u32,
    Vec<TrafficSelector>,
    Vec<TrafficSelector>,
    Encapsulation,
);

/// Responder side of a CHILD_SA request (IKE_AUTH or CREATE_CHILD_SA):
/// proposal, selectors (narrowed, RFC 7296 2.9) and mode; or the error
/// notify to answer with.
pub(super) fn responder_child(
    payloads: &[Payload],
    offer: &[crate::wire::sa::Proposal],
    policy: &Policy,
    pfs_group: Option<crate::wire::consts::DhGroup>,
    in_auth: bool,
) -> Result<ChildChoice, NotifyType> {
    let (answer, suite, peer_spi) =
        proposal::select_child(offer, &policy.child_proposals, 0, pfs_group, in_auth)
            .filter(|(_, s, _)| super::keys::child_suite_supported(s))
            .ok_or(NotifyType::NO_PROPOSAL_CHOSEN)?;
    let tsi = first_payload!(payloads, TsI);
    let tsr = first_payload!(payloads, TsR);
    let (Some(tsi), Some(tsr)) = (tsi, tsr) else {
        return Err(NotifyType::TS_UNACCEPTABLE);
    };
    // The initiator's TSi is the peer's side for us.
    let remote_ts = ts::narrow(&ts::from_wire(tsi), &policy.peer_ts);
    let local_ts = ts::narrow(&ts::from_wire(tsr), &policy.local_ts);
    if remote_ts.is_empty() || local_ts.is_empty() {
        return Err(NotifyType::TS_UNACCEPTABLE);
    }
    let wants_transport = find_notify(payloads, NotifyType::USE_TRANSPORT_MODE).is_some();
    let mode = match (wants_transport, policy.mode) {
        (true, Encapsulation::Transport) => Encapsulation::Transport,
        (false, Encapsulation::Tunnel) => Encapsulation::Tunnel,
        // RFC 7296 1.3.1: we may refuse the mode the peer wants.
        _ => return Err(NotifyType::NO_PROPOSAL_CHOSEN),
    };
    Ok((answer, suite, peer_spi, local_ts, remote_ts, mode))
}

/// What the initiator takes from an accepted CHILD_SA answer: suite,
/// outbound SPI, our and the peer's selectors, and the mode.
pub(super) type ChildAccepted = (
    super::api::ChildSuite,
    u32,
    Vec<TrafficSelector>,
    Vec<TrafficSelector>,
    Encapsulation,
);

/// Initiator side: checks the responder's CHILD_SA answer against our
/// request. Returns suite, outbound SPI, selectors and mode.
pub(super) fn child_from_response(
    payloads: &[Payload],
    req: &ChildReq,
    ours: &[super::config::ChildProposal],
    in_auth: bool,
) -> Result<ChildAccepted, FailReason> {
    if let Some(e) = super::error_notify(payloads) {
        return Err(match e {
            NotifyType::NO_PROPOSAL_CHOSEN => FailReason::NoProposalChosen,
            NotifyType::TS_UNACCEPTABLE => FailReason::TsUnacceptable,
            other => FailReason::PeerNotify(other),
        });
    }
    let answer = first_payload!(payloads, Sa).ok_or(FailReason::NoProposalChosen)?;
    let (suite, spi_out) = proposal::child_suite_from_answer(answer, ours, req.pfs, in_auth)
        .filter(|(s, _)| super::keys::child_suite_supported(s))
        .ok_or(FailReason::NoProposalChosen)?;
    let tsi = first_payload!(payloads, TsI);
    let tsr = first_payload!(payloads, TsR);
    let (Some(tsi), Some(tsr)) = (tsi, tsr) else {
        return Err(FailReason::TsUnacceptable);
    };
    let (local_ts, remote_ts) = (ts::from_wire(tsi), ts::from_wire(tsr));
    if !ts::within(&local_ts, &req.local_ts) || !ts::within(&remote_ts, &req.remote_ts) {
        return Err(FailReason::TsUnacceptable);
    }
    let transport = find_notify(payloads, NotifyType::USE_TRANSPORT_MODE).is_some();
    let mode = match (req.mode, transport) {
        (Encapsulation::Transport, true) => Encapsulation::Transport,
        (Encapsulation::Tunnel, false) => Encapsulation::Tunnel,
        // Asked for transport, got tunnel (or an unasked transport).
        _ => return Err(FailReason::NoProposalChosen),
    };
    Ok((suite, spi_out, local_ts, remote_ts, mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str, len: u8) -> TrafficSelector {
        TrafficSelector::prefix(s.parse().unwrap(), len).unwrap()
    }

    fn policy() -> Policy {
        let mut p = Policy::new(
            "p",
            "192.0.2.1".parse().unwrap(),
            "192.0.2.2".parse().unwrap(),
        );
        p.local_ts = vec![net("10.1.0.0", 24)];
        p.peer_ts = vec![net("10.2.0.0", 24)];
        p
    }

    #[test]
    fn the_triggering_packet_goes_first_then_the_policy() {
        let p = policy();
        let (src, dst) = (net("10.1.0.5", 32), net("10.2.0.9", 32));
        let (l, r) = first_child_selectors(&p, Some((src, dst)));
        assert_eq!(l, vec![src, net("10.1.0.0", 24)]);
        assert_eq!(r, vec![dst, net("10.2.0.0", 24)]);
        // Without a packet: the policy alone.
        assert_eq!(
            first_child_selectors(&p, None),
            (p.local_ts.clone(), p.peer_ts.clone())
        );
    }

    #[test]
    fn a_packet_pair_repeating_the_policy_is_not_sent_twice() {
        let p = policy();
        let same = Some((p.local_ts[0], p.peer_ts[0]));
        assert_eq!(
            first_child_selectors(&p, same),
            (p.local_ts.clone(), p.peer_ts.clone())
        );
    }
}
