//! The message-ID windows of an IKE SA (RFC 7296 2.3).
//!
//! Receiving: the peer may have up to `size` requests outstanding, so we
//! accept any request whose message ID lies in `[expect, expect + size)`
//! and has not been accepted yet, in any order. A retransmitted request is
//! answered from the cache of our last responses, never processed again
//! (RFC 7296 2.1). Anything else (outside the window, or so old that its
//! answer is forgotten) is dropped silently (RFC 7296 2.3).
//!
//! Sending: our requests wait in `deferred` while the next message ID would
//! exceed the peer's window (request X only after the answers to all
//! requests up to X - N, RFC 7296 2.3).
//!
//! The window is one until the IKE SA is established; it grows when a
//! SET_WINDOW_SIZE notify is sent or received (in IKE_AUTH or an
//! INFORMATIONAL exchange), and never shrinks (a smaller value has no
//! defined meaning). An IKE SA made by a rekey starts again at one and each
//! side announces anew in an INFORMATIONAL exchange (RFC 7296 2.3).

use std::collections::VecDeque;

use crate::wire::consts::{ExchangeType, NotifyType};
use crate::wire::Payload;

use super::sa::PendingKind;

/// Largest window we announce or use. The responder keeps one cached
/// answer per window slot (each up to a fragmented message) and one bit
/// per slot, so the cap bounds per-SA memory; control traffic on one IKE
/// SA (a few CHILD_SA creations, rekeys, deletes at once) never needs more.
pub const MAX_WINDOW: u32 = 32;

/// A configured or announced size, within 1..=MAX_WINDOW.
pub(crate) fn clamp(n: u32) -> u32 {
    n.clamp(1, MAX_WINDOW)
}

/// The SET_WINDOW_SIZE notify announcing `size` (RFC 7296 3.10.1: four
/// octets, big endian), or nothing for a window of one (the default).
pub(crate) fn announcement(size: u32) -> Option<Payload> {
    let size = clamp(size);
    (size > 1).then(|| super::notify(NotifyType::SET_WINDOW_SIZE, size.to_be_bytes().to_vec()))
}

/// The window a SET_WINDOW_SIZE notify in `payloads` announces, if any.
/// A malformed or zero value is ignored.
pub(crate) fn announced(payloads: &[Payload]) -> Option<u32> {
    let n = super::find_notify(payloads, NotifyType::SET_WINDOW_SIZE)?;
    let b = <[u8; 4]>::try_from(n.data.as_slice()).ok()?;
    let v = u32::from_be_bytes(b);
    (v > 0).then(|| v.min(MAX_WINDOW))
}

/// A cached response (RFC 7296 2.1: answer a retransmitted request with
/// the same bytes, never by processing it again).
pub(crate) struct Cached {
    pub message_id: u32,
    pub datagrams: Vec<Vec<u8>>,
}

/// What a request's message ID says, before its integrity is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// Not seen yet and inside the window: process it.
    New,
    /// Answered already: resend the cached answer.
    Retransmitted,
    /// Outside the window, answered so long ago that the answer is
    /// forgotten, or accepted and still being answered: drop it.
    Drop,
}

/// The peer's requests: which we accepted, and our cached answers.
pub(crate) struct RecvWindow {
    /// Lowest message ID not accepted yet.
    expect: u32,
    /// Bit k set: request `expect + 1 + k` was accepted already.
    seen: u32,
    /// Requests the peer may have outstanding: 1 until we announced more.
    size: u32,
    /// Our answers to the latest `size` message IDs at most.
    cached: Vec<Cached>,
}

impl Default for RecvWindow {
    fn default() -> Self {
        RecvWindow {
            expect: 0,
            seen: 0,
            size: 1,
            cached: Vec::new(),
        }
    }
}

impl RecvWindow {
    /// The responder's window after answering IKE_SA_INIT (message 0).
    pub(crate) fn after_init(response: Vec<u8>) -> Self {
        RecvWindow {
            expect: 1,
            cached: vec![Cached {
                message_id: 0,
                datagrams: vec![response],
            }],
            ..RecvWindow::default()
        }
    }

    /// Requests the peer may have outstanding at once.
    pub(crate) fn size(&self) -> u32 {
        self.size
    }

    /// We announced `size` (SET_WINDOW_SIZE).
    pub(crate) fn set_size(&mut self, size: u32) {
        self.size = clamp(size);
    }

    pub(crate) fn classify(&self, id: u32) -> Incoming {
        if self.cached(id).is_some() {
            return Incoming::Retransmitted;
        }
        let off = id.wrapping_sub(self.expect);
        if off >= self.size {
            return Incoming::Drop;
        }
        if off > 0 && self.seen & (1 << (off - 1)) != 0 {
            // Accepted, its answer not sent yet (waiting for the kernel).
            return Incoming::Drop;
        }
        Incoming::New
    }

    /// Marks request `id` (classified `New`) as accepted.
    pub(crate) fn accept(&mut self, id: u32) {
        let off = id.wrapping_sub(self.expect);
        if off >= self.size {
            return;
        }
        if off > 0 {
            self.seen |= 1 << (off - 1);
            return;
        }
        // The lowest one: slide past it and every accepted one after it.
        let mut seen = self.seen;
        let mut expect = self.expect.wrapping_add(1);
        while seen & 1 == 1 {
            seen >>= 1;
            expect = expect.wrapping_add(1);
        }
        self.expect = expect;
        self.seen = seen >> 1;
    }

    /// The highest message ID accepted so far.
    fn top(&self) -> u32 {
        if self.seen == 0 {
            self.expect.wrapping_sub(1)
        } else {
            // Highest set bit k stands for expect + 1 + k.
            self.expect.wrapping_add(32 - self.seen.leading_zeros())
        }
    }

    /// Keeps our answer to request `id` for its retransmissions.
    ///
    /// The peer sent the highest accepted request `top` only after it had
    /// the answers to every request up to `top - size` (RFC 7296 2.3), so
    /// only answers within `size` of `top` can still be asked for again:
    /// the cache never holds more than `size` entries.
    pub(crate) fn cache(&mut self, id: u32, datagrams: Vec<Vec<u8>>) {
        // `id` was accepted, so `top` already counts it.
        let (top, size) = (self.top(), self.size);
        self.cached
            .retain(|c| c.message_id != id && top.wrapping_sub(c.message_id) < size);
        // Room for exactly one more: the cache lives as long as the SA.
        self.cached.reserve_exact(1);
        self.cached.push(Cached {
            message_id: id,
            datagrams,
        });
    }

    pub(crate) fn cached(&self, id: u32) -> Option<&Cached> {
        self.cached.iter().find(|c| c.message_id == id)
    }

    /// Number of cached answers (for tests and memory accounting).
    #[cfg(test)]
    pub(crate) fn cached_len(&self) -> usize {
        self.cached.len()
    }
}

/// One of our requests, built but not sent: the peer's window is full.
pub(crate) struct Deferred {
    pub exchange: ExchangeType,
    pub payloads: Vec<Payload>,
    pub kind: PendingKind,
}

/// Our side of the sending window.
pub(crate) struct SendWindow {
    /// Requests the peer accepts at once (its SET_WINDOW_SIZE; 1 until then).
    pub peer: u32,
    /// Requests waiting for room in the peer's window, oldest first.
    pub deferred: VecDeque<Deferred>,
}

impl Default for SendWindow {
    fn default() -> Self {
        SendWindow {
            peer: 1,
            deferred: VecDeque::new(),
        }
    }
}

/// May a request with message ID `next` go out, given the IDs of our
/// unanswered requests and a window of `size`? (RFC 7296 2.3: request X
/// waits for the answers to all requests up to X - size.)
pub(crate) fn room(next: u32, outstanding: impl Iterator<Item = u32>, size: u32) -> bool {
    let span = outstanding
        .map(|id| next.wrapping_sub(id))
        .max()
        .unwrap_or(0);
    span < size.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn win(size: u32) -> RecvWindow {
        let mut w = RecvWindow::default();
        w.set_size(size);
        w
    }

    #[test]
    fn window_of_one_accepts_only_the_next_request() {
        let mut w = win(1);
        assert_eq!(w.classify(1), Incoming::Drop);
        assert_eq!(w.classify(0), Incoming::New);
        w.accept(0);
        assert_eq!(w.classify(0), Incoming::Drop); // accepted, not answered yet
        w.cache(0, vec![vec![0]]);
        assert_eq!(w.classify(0), Incoming::Retransmitted);
        assert_eq!(w.classify(1), Incoming::New);
        assert_eq!(w.classify(2), Incoming::Drop);
        w.accept(1);
        w.cache(1, vec![vec![1]]);
        // Only the last answer is kept with a window of one.
        assert_eq!(w.classify(0), Incoming::Drop);
        assert_eq!(w.classify(1), Incoming::Retransmitted);
        assert_eq!(w.cached_len(), 1);
    }

    #[test]
    fn out_of_order_requests_slide_the_window_when_the_gap_closes() {
        let mut w = win(4);
        assert_eq!(w.classify(4), Incoming::Drop);
        for id in [3, 1, 2] {
            assert_eq!(w.classify(id), Incoming::New);
            w.accept(id);
            w.cache(id, vec![vec![id as u8]]);
        }
        assert_eq!(w.expect, 0);
        assert_eq!(w.classify(4), Incoming::Drop, "0 still missing");
        w.accept(0);
        assert_eq!(w.expect, 4);
        assert_eq!(w.seen, 0);
        w.cache(0, vec![vec![0]]);
        for id in 0..4 {
            assert_eq!(w.classify(id), Incoming::Retransmitted);
        }
        assert_eq!(w.classify(7), Incoming::New);
        assert_eq!(w.classify(8), Incoming::Drop);
        w.accept(7);
        w.cache(7, vec![vec![7]]);
        // The peer sent 7, so it has the answers up to 3: forgotten.
        assert_eq!(w.classify(3), Incoming::Drop);
        assert_eq!(w.classify(4), Incoming::New);
        assert!(w.cached_len() <= 4);
    }

    #[test]
    fn cache_keeps_an_answer_the_peer_may_still_ask_for() {
        // Window 2: 1 answered before 0; the answer to 1 is lost, the peer
        // gets 0's and sends 2. 1 may still come back; 0 may not.
        let mut w = win(2);
        w.accept(1);
        w.cache(1, vec![vec![1]]);
        w.accept(0);
        w.cache(0, vec![vec![0]]);
        w.accept(2);
        w.cache(2, vec![vec![2]]);
        assert_eq!(w.classify(1), Incoming::Retransmitted);
        assert_eq!(w.classify(0), Incoming::Drop);
        assert_eq!(w.cached_len(), 2);
    }

    #[test]
    fn cache_is_bounded_by_the_window() {
        let mut w = win(MAX_WINDOW);
        for id in 0..1000u32 {
            assert_eq!(w.classify(id), Incoming::New);
            w.accept(id);
            w.cache(id, vec![Vec::new()]);
            assert!(w.cached_len() <= MAX_WINDOW as usize);
        }
        assert_eq!(w.classify(1000 - MAX_WINDOW), Incoming::Retransmitted);
        assert_eq!(w.classify(999 - MAX_WINDOW), Incoming::Drop);
        assert_eq!(w.classify(1000 + MAX_WINDOW - 1), Incoming::New);
        assert_eq!(w.classify(1000 + MAX_WINDOW), Incoming::Drop);
    }

    #[test]
    fn sizes_are_clamped_and_announcements_parsed_defensively() {
        assert_eq!(clamp(0), 1);
        assert_eq!(clamp(1000), MAX_WINDOW);
        assert!(announcement(1).is_none());
        let p = announcement(8).unwrap();
        assert_eq!(announced(&[p]), Some(8));
        let huge =
            super::super::notify(NotifyType::SET_WINDOW_SIZE, u32::MAX.to_be_bytes().to_vec());
        assert_eq!(announced(&[huge]), Some(MAX_WINDOW));
        let zero = super::super::notify(NotifyType::SET_WINDOW_SIZE, vec![0; 4]);
        assert_eq!(announced(&[zero]), None);
        let short = super::super::notify(NotifyType::SET_WINDOW_SIZE, vec![0, 4]);
        assert_eq!(announced(&[short]), None);
    }

    #[test]
    fn room_follows_the_oldest_unanswered_request() {
        assert!(room(5, [].into_iter(), 1));
        assert!(!room(5, [4].into_iter(), 1));
        assert!(room(5, [4, 3, 2].into_iter(), 4));
        assert!(!room(5, [4, 1].into_iter(), 4));
        assert!(room(u32::MAX.wrapping_add(2), [u32::MAX].into_iter(), 4));
    }
}
