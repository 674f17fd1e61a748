//! Protecting and sending our messages on one IKE SA: methods on
//! [`IkeSa`] that need only the SA and an [`SaCtx`].

use std::time::Instant;

use crate::wire::consts::ExchangeType;
use crate::wire::Payload;

use super::output::SaCtx;
use super::sa::{IkeSa, Pending, Phase};
use super::window::Deferred;
use super::{codec, msglog};

impl IkeSa {
    /// Keeps our request for later while the peer's window is full or
    /// older requests wait (RFC 7296 2.3); gives it back if it may go now.
    pub(super) fn defer(&mut self, req: Deferred) -> Option<Deferred> {
        if !self.send.deferred.is_empty() || !self.has_room() {
            self.send.deferred.push_back(req);
            return None;
        }
        Some(req)
    }

    /// Seals and sends a request now (the window was checked) and keeps it
    /// for retransmission. The request comes back (boxed: a rare path) if
    /// it cannot be encoded, for the caller to undo what it stood for.
    pub(super) fn transmit_request(
        &mut self,
        cx: &mut SaCtx<'_>,
        now: Instant,
        req: Deferred,
    ) -> Result<(), Box<Deferred>> {
        let Some((message_id, datagrams)) = self.seal_request(cx, req.exchange, &req.payloads)
        else {
            return Err(Box::new(req));
        };
        self.pending.push(Pending {
            message_id,
            datagrams,
            tries: 0,
            retransmit_at: now + cx.cfg.retransmit.initial,
            kind: req.kind,
        });
        Ok(())
    }

    /// The next deferred request, if the peer's window has room for it now.
    pub(super) fn next_deferred(&mut self) -> Option<Deferred> {
        if self.phase() != Phase::Established || !self.has_room() {
            return None;
        }
        let d = self.send.deferred.pop_front()?;
        if self.send.deferred.is_empty() {
            self.send.deferred = Default::default(); // free its buffer
        }
        Some(d)
    }

    /// Protects `payloads` as our next request, sends it, and takes its
    /// message ID; returns that ID and the datagrams sent (one, or the
    /// RFC 7383 fragments) for the retransmission cache.
    pub(super) fn seal_request(
        &mut self,
        cx: &mut SaCtx<'_>,
        exchange: ExchangeType,
        payloads: &[Payload],
    ) -> Option<(u32, Vec<Vec<u8>>)> {
        let message_id = self.next_id;
        let datagrams = self.seal(cx, exchange, false, message_id, payloads)?;
        self.next_id = message_id.wrapping_add(1);
        cx.out.emit(self.local, self.remote, &datagrams);
        Some((message_id, datagrams))
    }

    /// Seals, caches and sends our answer to request `message_id`; false
    /// if it cannot be encoded.
    pub(super) fn seal_response(
        &mut self,
        cx: &mut SaCtx<'_>,
        exchange: ExchangeType,
        message_id: u32,
        payloads: &[Payload],
    ) -> bool {
        let Some(datagrams) = self.seal(cx, exchange, true, message_id, payloads) else {
            return false;
        };
        self.recv.cache(message_id, datagrams.clone());
        cx.out.emit(self.local, self.remote, &datagrams);
        true
    }

    /// Logs and protects message `message_id` under the SA's keys: one
    /// datagram, or RFC 7383 fragments; none if it cannot be encoded.
    fn seal(
        &mut self,
        cx: &mut SaCtx<'_>,
        exchange: ExchangeType,
        response: bool,
        message_id: u32,
        payloads: &[Payload],
    ) -> Option<Vec<Vec<u8>>> {
        let mtu = cx.cfg.fragment_mtu;
        let natt = self.local.port() == cx.cfg.natt_port;
        let header = codec::header(
            self.spi_i,
            self.spi_r,
            exchange,
            self.initiator,
            response,
            message_id,
        );
        let frag = self.fragmentation;
        msglog::message(true, self.remote, &header, payloads);
        let keys = self.keys_mut()?;
        codec::seal(keys, header, payloads, frag, mtu, natt, &mut *cx.rng)
    }
}
