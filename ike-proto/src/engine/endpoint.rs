//! The endpoint part of the engine: what concerns all IKE SAs at once.
//!
//! In the manner of quinn-proto's `Endpoint`, it owns the table of IKE SAs
//! and routes inputs to one of them: datagrams by our IKE SPI (our SPI is
//! the SA's handle), kernel answers by their [`RequestId`], timers by
//! handle. It also holds what protects that table from floods (half-open
//! count, per-source admission, cookies). The exchanges themselves (the
//! per-SA logic) are not here: see `init`, `auth`, `child`, `info`,
//! `ike_rekey` and the methods on `IkeSa` (`seal`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use crate::wire::consts::ExchangeType;
use crate::wire::Header;

use super::admission::Admission;
use super::api::RequestId;
use super::cookie::CookieJar;
use super::rng::Rng;
use super::sa::IkeSa;
use super::timers::TimerQueue;
use super::KernelPurpose;

/// The IKE SA table and its demultiplexing state.
pub(super) struct Endpoint {
    /// Every IKE SA, by our SPI (its handle). Boxed (issue 12): a hash
    /// table keeps up to twice its entries' size free, and an IKE SA is
    /// 464 bytes, against 8 for the pointer.
    pub sas: HashMap<u64, Box<IkeSa>>,
    /// Responder: (peer address, SPIi) of live half-open SAs, so that a
    /// retransmitted IKE_SA_INIT gets the cached answer instead of a new SA.
    pub init_index: HashMap<(SocketAddr, u64), u64>,
    /// Responder SAs between our IKE_SA_INIT answer and IKE_AUTH.
    pub half_open: usize,
    /// Per-source half-open accounting, cookie mode, drop counters.
    pub admission: Admission,
    pub cookies: CookieJar,
    /// One deadline per IKE SA.
    pub timers: TimerQueue,
    /// Which SA (and which step of it) each outstanding kernel request
    /// belongs to, to route the kernel's answer.
    pub kernel_pending: HashMap<RequestId, (u64, KernelPurpose)>,
    /// Addresses of outstanding GETSPI requests, so that an SPI arriving
    /// for an SA that died meanwhile can be given back.
    pub spi_requests: HashMap<RequestId, (IpAddr, IpAddr)>,
    next_request: u64,
}

/// Where a datagram with a valid IKE header goes.
pub(super) enum Route {
    /// An IKE_SA_INIT request: no SA yet, admission decides.
    InitRequest,
    /// No IKE SA has our SPI.
    Unknown,
    /// The I flag or the peer's SPI does not match the SA: dropped silently.
    Ignore,
    /// The answer to our IKE_SA_INIT on this SA (the peer's SPI is new).
    InitResponse(u64),
    /// A protected message of this SA.
    Protected(u64),
}

impl Endpoint {
    pub(super) fn new(cookies: CookieJar) -> Endpoint {
        Endpoint {
            sas: HashMap::new(),
            init_index: HashMap::new(),
            half_open: 0,
            admission: Default::default(),
            cookies,
            timers: TimerQueue::default(),
            kernel_pending: HashMap::new(),
            spi_requests: HashMap::new(),
            next_request: 1,
        }
    }

    /// SPI demultiplexing (RFC 7296 2.6): the SA a message belongs to.
    pub(super) fn route(&self, header: &Header) -> Route {
        if header.exchange == ExchangeType::IKE_SA_INIT && !header.flags.response {
            return Route::InitRequest;
        }
        // Our SPI is SPIi if the sender is the original responder.
        let ours = if header.flags.initiator {
            header.spi_r
        } else {
            header.spi_i
        };
        let Some(sa) = self.sas.get(&ours) else {
            return Route::Unknown;
        };
        if sa.initiator == header.flags.initiator {
            return Route::Ignore; // the I flag names the wrong side
        }
        let theirs = if sa.initiator {
            header.spi_r
        } else {
            header.spi_i
        };
        if header.exchange == ExchangeType::IKE_SA_INIT {
            return Route::InitResponse(ours);
        }
        let peer_spi = if sa.initiator { sa.spi_r } else { sa.spi_i };
        if theirs != peer_spi {
            return Route::Ignore;
        }
        Route::Protected(ours)
    }

    /// A new id for a kernel request.
    pub(super) fn request_id(&mut self) -> RequestId {
        let r = RequestId(self.next_request);
        self.next_request = self.next_request.wrapping_add(1);
        r
    }

    /// A fresh IKE SPI that is not zero and not in use (our handle).
    pub(super) fn fresh_spi(&self, rng: &mut dyn Rng) -> u64 {
        loop {
            let s = rng.next_u64();
            if s != 0 && !self.sas.contains_key(&s) {
                return s;
            }
        }
    }

    /// IKE SA `h` (whose IKE_SA_INIT came from `remote` with `spi_i`) is no
    /// longer half open. `counted`: it was in the half-open count (a
    /// responder SA in phase `Auth`).
    pub(super) fn release_half_open(
        &mut self,
        h: u64,
        counted: bool,
        remote: SocketAddr,
        spi_i: u64,
    ) {
        if counted {
            self.half_open = self.half_open.saturating_sub(1);
        }
        self.admission.released(h);
        self.init_index.remove(&(remote, spi_i));
    }

    /// Forgets the routes to the removed IKE SA `h`: its timer, its
    /// half-open accounting, its outstanding kernel requests.
    pub(super) fn forget(&mut self, h: u64, sa: &IkeSa, counted: bool) {
        self.timers.set(h, None);
        self.release_half_open(h, counted, sa.remote, sa.spi_i);
        self.kernel_pending.retain(|_, (x, _)| *x != h);
    }
}
