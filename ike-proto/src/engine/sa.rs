//! The state one IKE SA keeps, and its CHILD_SAs.
//!
//! Kept small on purpose: negotiation-only material (nonces, the first two
//! messages) lives in the [`State`] of the handshake phases and is dropped
//! with them; key-exchange private values live in the request that needs
//! them (`PendingKind`). ESP keys are handed to the kernel and not kept.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::crypto::{KeyAgreement, Secret};
use crate::wire::consts::DhGroup;
use crate::wire::sa::Proposal;
use crate::wire::Payload;

use super::api::{ChildSuite, IkeSuite, RequestId};
use super::config::{Encapsulation, Identity, Policy};
use super::keys::IkeKeyset;
use super::reassembly::Partials;
use super::ts::TrafficSelector;
use super::window::{RecvWindow, SendWindow};

/// Where an IKE SA is in its life: the tag of its [`State`]
/// ([`IkeSa::phase`]), for the many places that only ask where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Initiator: IKE_SA_INIT sent (possibly waiting for the kernel's SPI
    /// before IKE_AUTH can go out).
    Init,
    /// Initiator: IKE_AUTH sent. Responder: IKE_SA_INIT answered (half open).
    Auth,
    /// Authenticated both ways.
    Established,
    /// We sent (or are about to send) a DELETE for this IKE SA.
    Deleting,
    /// Superseded by a rekeyed IKE SA; waiting for its DELETE exchange.
    Rekeyed,
}

/// An IKE SA's phase with what exists only in that phase (in the manner of
/// rustls' state types): the handshake material only during the
/// handshake, the IKE keys from the end of IKE_SA_INIT on and the peer's
/// identity and hard lifetime from authentication on, none of them as an
/// `Option`; the successor only on a rekeyed SA.
pub(crate) enum State {
    /// Initiator: IKE_SA_INIT sent, no answer yet; the only state without
    /// keys. Phase `Init`.
    InitSent(Box<AuthCtx>),
    /// Initiator: IKE_SA_INIT done; IKE_AUTH waits for the kernel's SPI of
    /// the first CHILD_SA. Phase `Init`.
    InitDone {
        ike: Box<SaKeys>,
        auth: Box<AuthCtx>,
    },
    /// Initiator: IKE_AUTH sent. Responder: IKE_SA_INIT answered (half
    /// open). Phase `Auth`.
    Auth { ike: Box<SaKeys>, step: AuthStep },
    /// Authenticated both ways.
    Established(Up),
    /// We sent (or are about to send) a DELETE for this IKE SA.
    Deleting(Up),
    /// Superseded by the IKE SA `successor`; waiting for its DELETE exchange.
    Rekeyed { up: Up, successor: u64 },
}

/// Where IKE_AUTH stands, in phase `Auth`.
pub(crate) enum AuthStep {
    /// The handshake material, until the peer's AUTH is checked.
    Material(Box<AuthCtx>),
    /// Responder: the peer's AUTH was checked; our answer waits for the
    /// kernel's SPI, and who the peer is waits with it.
    Verified(Identity),
}

/// The negotiated IKE suite and the keys derived for it.
pub(crate) struct SaKeys {
    pub suite: IkeSuite,
    pub keys: IkeKeyset,
}

/// What an authenticated IKE SA holds.
pub(crate) struct Up {
    /// Boxed from IKE_SA_INIT on and passed on as a pointer: a phase
    /// change never copies the keyset (a copy left behind in freed memory
    /// would not be wiped).
    pub ike: Box<SaKeys>,
    /// Who the peer authenticated as.
    pub peer_id: Identity,
    /// When the SA goes at the latest: its hard lifetime, or for a rekeyed
    /// SA the time its DELETE may take.
    pub hard_at: Instant,
}

/// Negotiation material kept between IKE_SA_INIT and the end of IKE_AUTH.
#[derive(Default)]
pub(crate) struct AuthCtx {
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    /// The IKE_SA_INIT request and response exactly as sent/received
    /// (they are signed in AUTH, RFC 7296 2.15).
    pub init_request: Vec<u8>,
    pub init_response: Vec<u8>,
    /// Initiator: inbound SPI for the first CHILD_SA, once the kernel gave it.
    pub child_spi: Option<u32>,
    /// Initiator: the GETSPI request still outstanding.
    pub spi_request: Option<RequestId>,
    /// Peer signalled SIGNATURE_HASH_ALGORITHMS (RFC 7427 4).
    pub peer_hashes: Vec<u16>,
    /// Initiator: selectors of the ACQUIRE that triggered us, sent first
    /// in TSi/TSr (RFC 7296 2.9).
    pub packet_ts: Option<(TrafficSelector, TrafficSelector)>,
}

/// One CHILD_SA pair (inbound + outbound ESP SA).
#[derive(Clone, Debug)]
pub(crate) struct Child {
    pub spi_in: u32,
    pub spi_out: u32,
    pub suite: ChildSuite,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    pub mode: Encapsulation,
    pub rekey_at: Option<Instant>,
    pub hard_at: Instant,
    pub state: ChildState,
    /// Replaced by a rekey: its removal is reported as `Rekeyed`.
    pub replaced: bool,
    /// Hard lifetime reached; the DELETE exchange is under way.
    pub expiring: bool,
    /// The peer rekeyed this child while our own rekey of it was still
    /// waiting for its SPI; moved into our request when that goes out.
    pub collision: Option<Box<Collision>>,
    /// `ChildUp` was reported: only such a child is reported down.
    pub up: bool,
    /// It holds a reference on its selectors in `policy_refs` (the kernel
    /// policies were added with the first such child): its removal
    /// releases them.
    pub policies: bool,
    /// While `Installing`: the kernel answers still awaited.
    pub install: Option<Box<Install>>,
    /// Where the kernel has its SAs when that is not the IKE SA's current
    /// addresses: the IKE SA moved and the child did not (yet): see `mobike`.
    pub kernel_at: Option<Box<super::mobike::Ends>>,
}

/// A CHILD_SA whose SAs were handed to the kernel but not confirmed yet.
///
/// Issue 12: a peer must never hear of a child the kernel did not take.
/// The responder's answer waits here until both SAs are in; the
/// initiator reports the child up only then.
#[derive(Clone, Debug)]
pub(crate) struct Install {
    /// The inbound UPDATE and the outbound ADD, until each is confirmed.
    pub waiting: [Option<RequestId>; 2],
    /// A kernel that has not answered by then counts as a refusal.
    pub deadline: Instant,
    /// Responder: the answer that goes out once both SAs are in.
    pub answer: Option<HeldAnswer>,
    /// We are the responder of the exchange that created the child.
    pub responder: bool,
    /// The child this one replaces (REKEY_SA).
    pub rekey_of: Option<u32>,
    /// The old child was marked `Rekeyed` for this exchange, so that no
    /// rekey of ours starts on it meanwhile: if the install fails it goes
    /// back into service (and is rekeyed again later). As initiator we
    /// also delete it once the new one is in. False when a simultaneous
    /// rekey (RFC 7296 2.8.1) decides its fate.
    pub old_marked: bool,
    /// Responder of a child rekey (issue 20): the new outbound SA, added
    /// only once the old child's DELETE arrived or `OUTBOUND_SWITCH_DELAY`
    /// after our answer, whichever comes first (see `install.rs`).
    pub deferred_out: Option<Box<super::api::SaParams>>,
    /// Our rekey lost a simultaneous rekey (RFC 7296 2.8.1): the child is
    /// redundant and deleted at once. Its outbound SA is never added: on
    /// Linux it would carry our traffic until our DELETE is confirmed,
    /// while the peer drops its inbound SA as soon as the DELETE arrives
    /// (issue 20). `deferred_out` keeps it so its deletion knows.
    pub redundant: bool,
}

/// A responder answer held until the kernel confirmed the child's SAs.
#[derive(Clone, Debug)]
pub(crate) struct HeldAnswer {
    pub message_id: u32,
    pub exchange: crate::wire::consts::ExchangeType,
    /// What an error answer keeps too (IKE_AUTH: IDr, CERT, AUTH).
    pub head: Vec<Payload>,
    /// What only the successful answer carries: the child's payloads.
    pub child: Vec<Payload>,
    /// IKE_AUTH: the IKE SA becomes established when the answer goes out.
    pub completes_auth: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChildState {
    /// Negotiated, handed to the kernel, not confirmed yet (see `Install`).
    Installing,
    Installed,
    /// We started a rekey of it.
    Rekeying,
    /// Replaced by a new child; the old one waits for its DELETE.
    Rekeyed,
    /// DELETE sent.
    Deleting,
}

/// Bookkeeping for simultaneous rekeys (RFC 7296 2.8.1, 2.8.2): the peer
/// rekeyed the same SA while our own rekey was in flight.
#[derive(Clone, Debug, Default)]
pub(crate) struct Collision {
    /// Lowest nonce of the peer's exchange, and what it created (the
    /// child's inbound SPI or the IKE SA handle).
    pub peer_min_nonce: Vec<u8>,
    pub peer_created: u64,
}

/// What to do on a CHILD_SA: creation is from configuration, the others
/// name an existing child by its inbound SPI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Task {
    NewChild,
    RekeyChild(u32),
    DeleteChild(u32),
    RekeyIke,
    DeleteIke,
    Dpd,
    /// SET_WINDOW_SIZE in an INFORMATIONAL: on an IKE SA made by a rekey,
    /// which starts with a window of one (RFC 7296 2.3).
    AnnounceWindow,
}

/// Our CHILD_SA request in flight (IKE_AUTH or CREATE_CHILD_SA).
pub(crate) struct ChildReq {
    pub spi_in: u32,
    pub offer: Vec<Proposal>,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    pub mode: Encapsulation,
    /// CREATE_CHILD_SA only: our nonce and, with PFS, our key exchange.
    pub ni: Vec<u8>,
    pub ke: Option<Box<dyn KeyAgreement>>,
    pub pfs: Option<DhGroup>,
    /// The child this one replaces (REKEY_SA).
    pub rekey_of: Option<u32>,
    /// The peer rekeyed the same child meanwhile: lowest nonce of its
    /// exchange (RFC 7296 2.8.1). Kept here, not on the old child, because
    /// the peer may delete the old child before our answer arrives.
    pub collision: Option<Vec<u8>>,
}

/// The request we are waiting on a response for.
pub(crate) struct Pending {
    pub message_id: u32,
    pub datagrams: Vec<Vec<u8>>,
    pub tries: u32,
    pub retransmit_at: Instant,
    pub kind: PendingKind,
}

pub(crate) enum PendingKind {
    Init {
        ke: Box<dyn KeyAgreement>,
        group: DhGroup,
        /// INVALID_KE_PAYLOAD / COOKIE round trips so far (bounded).
        restarts: u8,
        /// The responder's cookie, repeated first in the retry (RFC 7296 2.6).
        cookie: Option<Vec<u8>>,
    },
    Auth {
        child: Option<ChildReq>,
    },
    Child(ChildReq),
    RekeyIke {
        new_spi: u64,
        ni: Vec<u8>,
        ke: Box<dyn KeyAgreement>,
        group: DhGroup,
    },
    /// DELETE of these children (inbound SPIs), or of the IKE SA if empty.
    Delete {
        children: Vec<u32>,
    },
    Dpd,
    /// Our SET_WINDOW_SIZE announcement; the answer only confirms it.
    AnnounceWindow,
    /// MOBIKE: return routability check or our UPDATE_SA_ADDRESSES.
    Mobike(Box<super::mobike::Request>),
}

/// A responder answer waiting for the kernel's inbound SPI.
pub(crate) struct Parked {
    pub message_id: u32,
    pub exchange: crate::wire::consts::ExchangeType,
    /// Payloads that go before the child's SA payload (e.g. IDr, AUTH).
    pub head: Vec<Payload>,
    /// Payloads after the child payloads (e.g. status notifies).
    pub tail: Vec<Payload>,
    pub answer: ChildAnswer,
    /// For IKE_AUTH: the SA becomes established when the answer goes out.
    pub completes_auth: bool,
}

/// A CHILD_SA the responder agreed to, before the SPI is known.
pub(crate) struct ChildAnswer {
    pub proposal: Proposal,
    pub suite: ChildSuite,
    pub peer_spi: u32,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    pub mode: Encapsulation,
    /// Key material inputs: PFS shared secret, Ni, Nr of the exchange.
    pub g_ir: Option<Secret>,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    /// CREATE_CHILD_SA responses carry Nr (and KEr).
    pub ke_public: Option<(DhGroup, Vec<u8>)>,
    pub rekey_of: Option<u32>,
    /// The old child was marked `Rekeyed` when we accepted the peer's
    /// rekey of it (see `old_marked` in `Install`).
    pub old_marked: bool,
}

/// One IKE SA.
pub(crate) struct IkeSa {
    pub policy: Arc<Policy>,
    /// We are the original initiator (the I flag is ours).
    pub initiator: bool,
    pub spi_i: u64,
    pub spi_r: u64,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// The phase and what exists only in it.
    pub state: State,
    /// Next message ID for our requests.
    pub next_id: u32,
    /// Our requests waiting for their answers (at most the send window).
    pub pending: Vec<Pending>,
    /// Work waiting for the request window or for an SPI.
    pub tasks: VecDeque<Task>,
    /// Tasks that wait for the kernel's SPI before their request can go out.
    pub spi_wait: Vec<(RequestId, Task)>,
    /// The peer's announced window and our requests waiting for it.
    pub send: SendWindow,
    /// The peer's requests: accepted message IDs and cached answers.
    pub recv: RecvWindow,
    /// Our answers waiting for the kernel's SPI (one per accepted request).
    pub parked: Vec<Parked>,
    /// RFC 7383 partial messages, one per message ID within the window.
    pub reassembly: Partials,
    pub children: Vec<Child>,
    /// NAT detected between us (RFC 7296 2.23): use port 4500 and UDP-encapsulated ESP.
    pub nat: bool,
    /// Which side the NAT is on and our keepalives (see `nat`).
    pub keepalive: super::nat::Keepalive,
    /// MOBIKE negotiated (RFC 4555): its state (see `mobike`).
    pub mobike: Option<Box<super::mobike::State>>,
    /// Both sides announced IKEV2_FRAGMENTATION_SUPPORTED.
    pub fragmentation: bool,
    pub created: Instant,
    pub last_heard: Instant,
    pub rekey_at: Option<Instant>,
    /// Our IKE rekey collided with the peer's (RFC 7296 2.8.2).
    pub collision: Option<Box<Collision>>,
}

/// Frees a per-SA list's buffer once it is empty again: the lists are
/// short-lived (requests in flight, answers waiting for the kernel) while an
/// IKE SA lives for hours, and a kept buffer would cost every idle SA.
pub(crate) fn free_if_empty<T>(v: &mut Vec<T>) {
    if v.is_empty() {
        *v = Vec::new();
    }
}

impl PendingKind {
    /// Requests that run alone on the IKE SA: nothing else is outstanding
    /// when they start and nothing starts while they run. The IKE SA rekey
    /// (the peer answers TEMPORARY_FAILURE to it while children are being
    /// created, rekeyed or deleted, and to new children while it runs: RFC
    /// 7296 2.25), the DELETE of the IKE SA (the last request on it, RFC
    /// 7296 2.8), and the initial exchanges (window of one, RFC 7296 2.3).
    pub(crate) fn is_serial(&self) -> bool {
        match self {
            PendingKind::Init { .. } | PendingKind::Auth { .. } | PendingKind::RekeyIke { .. } => {
                true
            }
            PendingKind::Delete { children } => children.is_empty(),
            PendingKind::Child(_)
            | PendingKind::Dpd
            | PendingKind::AnnounceWindow
            | PendingKind::Mobike(_) => false,
        }
    }

    /// Whether this request rekeys or deletes our CHILD_SA `spi_in`.
    fn concerns_child(&self, spi_in: u32) -> bool {
        match self {
            PendingKind::Child(r) => r.rekey_of == Some(spi_in),
            PendingKind::Delete { children } => children.contains(&spi_in),
            _ => false,
        }
    }
}

impl Task {
    /// See [`PendingKind::is_serial`].
    pub(crate) fn is_serial(&self) -> bool {
        matches!(self, Task::RekeyIke | Task::DeleteIke)
    }

    /// The CHILD_SA (inbound SPI) this task rekeys or deletes.
    pub(crate) fn child(&self) -> Option<u32> {
        match self {
            Task::RekeyChild(s) | Task::DeleteChild(s) => Some(*s),
            _ => None,
        }
    }
}

impl IkeSa {
    /// Requests we may have outstanding at once: the peer's announced
    /// window, bounded by our own (what we keep per SA).
    pub(crate) fn send_size(&self) -> u32 {
        self.send.peer.min(self.recv.size()).max(1)
    }

    /// Our requests sent, built or about to be built (waiting for an SPI).
    pub(crate) fn in_flight(&self) -> usize {
        self.pending.len() + self.spi_wait.len() + self.send.deferred.len()
    }

    /// May our next message ID go out now (RFC 7296 2.3)?
    pub(crate) fn has_room(&self) -> bool {
        super::window::room(
            self.next_id,
            self.pending.iter().map(|p| p.message_id),
            self.send_size(),
        )
    }

    /// Every request of ours not answered yet: sent or deferred.
    pub(crate) fn requests(&self) -> impl Iterator<Item = &PendingKind> {
        self.pending
            .iter()
            .map(|p| &p.kind)
            .chain(self.send.deferred.iter().map(|d| &d.kind))
    }

    /// Mutable [`IkeSa::requests`].
    pub(crate) fn requests_mut(&mut self) -> impl Iterator<Item = &mut PendingKind> {
        self.pending
            .iter_mut()
            .map(|p| &mut p.kind)
            .chain(self.send.deferred.iter_mut().map(|d| &mut d.kind))
    }

    /// A request about CHILD_SA `spi_in` is under way: another one about
    /// the same child waits (a rekey and a delete of one child never cross).
    pub(crate) fn child_busy(&self, spi_in: u32) -> bool {
        self.requests().any(|k| k.concerns_child(spi_in))
            || self
                .spi_wait
                .iter()
                .any(|(_, t)| *t == Task::RekeyChild(spi_in))
    }

    /// A child waits for the kernel's answer: the IKE SA must not be
    /// rekeyed meanwhile (the answers name the child by this SA's handle).
    /// A deferred outbound SA (issue 20) moves with the child.
    pub(crate) fn installing(&self) -> bool {
        self.children.iter().any(|c| {
            c.install
                .as_ref()
                .is_some_and(|i| i.waiting != [None, None])
        })
    }

    /// A rekey of the IKE SA is outstanding.
    pub(crate) fn rekeying_ike(&self) -> bool {
        self.requests()
            .any(|k| matches!(k, PendingKind::RekeyIke { .. }))
    }

    /// Our DELETE of the IKE SA replaces all queued work.
    pub(crate) fn delete_next(&mut self) {
        self.tasks.clear();
        self.tasks.push_back(Task::DeleteIke);
        // Do not let a liveness check hold the delete back.
        self.pending.retain(|p| !matches!(p.kind, PendingKind::Dpd));
        free_if_empty(&mut self.pending);
        self.send
            .deferred
            .retain(|d| !matches!(d.kind, PendingKind::Dpd));
    }

    /// The next queued task that may start now, taken off the queue (see
    /// `Engine::run_tasks`).
    pub(crate) fn next_task(&mut self) -> Option<Task> {
        // A rekeyed (old) IKE SA only ever runs its own DELETE.
        let runnable = self.phase() == Phase::Established
            || (self.phase() == Phase::Rekeyed && self.tasks.front() == Some(&Task::DeleteIke));
        if !runnable || self.requests().any(|k| k.is_serial()) {
            return None;
        }
        // A child waiting for the kernel holds back an IKE SA rekey
        // (its answers are correlated by this SA) and the IKE SA's DELETE.
        let idle = self.in_flight() == 0 && !self.installing();
        // Counting tasks waiting for SPIs too: each will take a slot.
        let room = self.in_flight() < self.send_size() as usize;
        let mut pick = None;
        for (i, t) in self.tasks.iter().enumerate() {
            if t.is_serial() {
                pick = idle.then_some(i);
                break;
            }
            if !room {
                break;
            }
            if t.child().is_some_and(|c| self.child_busy(c)) {
                continue;
            }
            pick = Some(i);
            break;
        }
        pick.and_then(|i| self.tasks.remove(i))
    }

    pub(crate) fn child_by_in(&mut self, spi_in: u32) -> Option<&mut Child> {
        self.children.iter_mut().find(|c| c.spi_in == spi_in)
    }

    pub(crate) fn child_by_out(&mut self, spi_out: u32) -> Option<&mut Child> {
        self.children.iter_mut().find(|c| c.spi_out == spi_out)
    }

    /// A rekey of the child `old` (its inbound SPI) that the peer started
    /// is already being answered or installed. A second one would make a
    /// second successor for the same child: each costs kernel SAs, so a
    /// peer repeating it could grow them without bound.
    pub(crate) fn peer_rekey_under_way(&self, old: u32) -> bool {
        self.parked.iter().any(|p| p.answer.rekey_of == Some(old))
            || self.children.iter().any(|c| {
                c.install
                    .as_ref()
                    .is_some_and(|i| i.responder && i.rekey_of == Some(old))
            })
    }
}

/// The handshake material of a `State` (taken by `&` or `&mut`): the
/// states of the handshake hold it, `Auth` until the peer's AUTH is checked.
macro_rules! material {
    ($state:expr) => {
        match $state {
            State::InitSent(a)
            | State::InitDone { auth: a, .. }
            | State::Auth {
                step: AuthStep::Material(a),
                ..
            } => Some(a),
            _ => None,
        }
    };
}

impl State {
    fn tag(&self) -> Phase {
        match self {
            State::InitSent(_) | State::InitDone { .. } => Phase::Init,
            State::Auth { .. } => Phase::Auth,
            State::Established(_) => Phase::Established,
            State::Deleting(_) => Phase::Deleting,
            State::Rekeyed { .. } => Phase::Rekeyed,
        }
    }

    /// The IKE keys: every state has them but `InitSent`.
    fn keyed(&self) -> Option<&SaKeys> {
        match self {
            State::InitSent(_) => None,
            State::InitDone { ike, .. } | State::Auth { ike, .. } => Some(ike),
            State::Established(up) | State::Deleting(up) | State::Rekeyed { up, .. } => {
                Some(&up.ike)
            }
        }
    }

    fn keyed_mut(&mut self) -> Option<&mut SaKeys> {
        match self {
            State::InitSent(_) => None,
            State::InitDone { ike, .. } | State::Auth { ike, .. } => Some(ike),
            State::Established(up) | State::Deleting(up) | State::Rekeyed { up, .. } => {
                Some(&mut up.ike)
            }
        }
    }

    fn up(&self) -> Option<&Up> {
        match self {
            State::Established(up) | State::Deleting(up) | State::Rekeyed { up, .. } => Some(up),
            _ => None,
        }
    }

    /// Moves to the state `next` builds from the old one (by value).
    fn step(&mut self, next: impl FnOnce(State) -> State) {
        // A stand-in for the moment of the move (no keys, nothing to zeroize).
        let old = std::mem::replace(self, State::InitSent(Box::default()));
        *self = next(old);
    }
}

impl IkeSa {
    /// Where the SA is (the tag of its state).
    pub(crate) fn phase(&self) -> Phase {
        self.state.tag()
    }

    pub(crate) fn keys(&self) -> Option<&IkeKeyset> {
        self.state.keyed().map(|k| &k.keys)
    }

    pub(crate) fn keys_mut(&mut self) -> Option<&mut IkeKeyset> {
        self.state.keyed_mut().map(|k| &mut k.keys)
    }

    pub(crate) fn suite(&self) -> Option<IkeSuite> {
        self.state.keyed().map(|k| k.suite)
    }

    /// The handshake material, while the peer's AUTH is not checked.
    pub(crate) fn auth(&self) -> Option<&AuthCtx> {
        material!(&self.state).map(|a| &**a)
    }

    pub(crate) fn auth_mut(&mut self) -> Option<&mut AuthCtx> {
        material!(&mut self.state).map(|a| &mut **a)
    }

    /// Who the peer authenticated as (from the check of its AUTH on).
    pub(crate) fn peer_id(&self) -> Option<&Identity> {
        match &self.state {
            State::Auth {
                step: AuthStep::Verified(id),
                ..
            } => Some(id),
            s => s.up().map(|u| &u.peer_id),
        }
    }

    /// See [`Up::hard_at`]; none before authentication.
    pub(crate) fn hard_at(&self) -> Option<Instant> {
        self.state.up().map(|u| u.hard_at)
    }

    /// The successor of a rekeyed IKE SA.
    pub(crate) fn successor(&self) -> Option<u64> {
        match self.state {
            State::Rekeyed { successor, .. } => Some(successor),
            _ => None,
        }
    }

    /// Initiator: IKE_SA_INIT answered and keys derived.
    pub(crate) fn init_done(&mut self, suite: IkeSuite, keys: IkeKeyset) {
        self.state.step(|old| match old {
            State::InitSent(auth) => State::InitDone {
                ike: Box::new(SaKeys { suite, keys }),
                auth,
            },
            other => other,
        });
    }

    /// Initiator: our IKE_AUTH request goes out.
    pub(crate) fn auth_sent(&mut self) {
        self.state.step(|old| match old {
            State::InitDone { ike, auth } => State::Auth {
                ike,
                step: AuthStep::Material(auth),
            },
            other => other,
        });
    }

    /// Responder: the peer's AUTH was checked, our answer waits for the
    /// kernel: the handshake material goes, the peer's identity stays.
    pub(crate) fn auth_verified(&mut self, peer_id: Identity) {
        if let State::Auth { step, .. } = &mut self.state {
            *step = AuthStep::Verified(peer_id);
        }
    }

    /// Authenticated both ways. SK_pi / SK_pr, which only serve AUTH (RFC
    /// 7296 2.15), are wiped; the handshake material is returned (the
    /// first child's keys need its nonces) and dropped by the caller.
    pub(crate) fn establish(
        &mut self,
        peer_id: Identity,
        hard_at: Instant,
    ) -> Option<Box<AuthCtx>> {
        let mut material = None;
        self.state.step(|old| match old {
            State::Auth { ike, step } => {
                if let AuthStep::Material(a) = step {
                    material = Some(a);
                }
                let mut ike = ike;
                ike.keys.sk_pi = Default::default();
                ike.keys.sk_pr = Default::default();
                State::Established(Up {
                    ike,
                    peer_id,
                    hard_at,
                })
            }
            other => other,
        });
        material
    }

    /// Our DELETE of this IKE SA is under way.
    pub(crate) fn deleting(&mut self) {
        self.state.step(|old| match old {
            State::Established(up) => State::Deleting(up),
            other => other,
        });
    }

    /// Replaced by the IKE SA `successor`; gone by `hard_at` at the latest.
    pub(crate) fn rekeyed(&mut self, successor: u64, hard_at: Instant) {
        self.state.step(|old| match old {
            State::Established(mut up)
            | State::Deleting(mut up)
            | State::Rekeyed { mut up, .. } => {
                up.hard_at = hard_at;
                State::Rekeyed { up, successor }
            }
            other => other,
        });
    }
}

#[cfg(test)]
mod size_tests {
    use std::mem::size_of;

    /// What every established IKE SA pays for its records (issue 12:
    /// `tests/engine_memory.rs` measures the whole, 1.5 kB with a child):
    /// a field added here is paid 100,000 times, so growth past these
    /// bounds should be a decision (box what is rarely used).
    #[test]
    fn per_sa_records_stay_small() {
        // Today 464, 56, 216, 136: some room for a field or two.
        let sizes = [
            ("IkeSa", size_of::<super::IkeSa>(), 512),
            // Raw key bytes only, no expanded key schedules (see `SkCipher`).
            ("SkCipher", size_of::<crate::crypto::SkCipher>(), 64),
            ("SaKeys", size_of::<super::SaKeys>(), 256),
            ("Child", size_of::<super::Child>(), 160),
        ];
        for (name, size, most) in sizes {
            assert!(size <= most, "{name} is {size} bytes, more than {most}");
        }
    }
}
