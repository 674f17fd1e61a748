//! RFC 7383 reassembly: collects the decrypted contents of SKF fragments,
//! one partial message per message ID and direction, with hard bounds on
//! fragment count and bytes per message, on partial messages per
//! direction (the message window, RFC 7296 2.3) and on bytes per IKE SA.
//!
//! Only fragments whose integrity already verified get here (RFC 7383
//! 2.6.1), so an attacker without the keys cannot fill the buffer; the bounds
//! still protect against a misbehaving peer.

use crate::wire::consts::PayloadType;

/// What adding a fragment did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Added {
    /// Stored; more fragments are missing.
    Pending,
    /// A duplicate of a fragment we already have; ignored.
    Duplicate,
    /// All fragments present: the inner payload chain's first type and bytes.
    Complete(PayloadType, Vec<u8>),
    /// Inconsistent with the fragments so far, or over a bound: the whole
    /// message is discarded.
    Rejected,
}

/// Fragments of one message in progress.
pub(crate) struct Reassembly {
    message_id: u32,
    /// A response to our request (else a request of the peer): the two
    /// directions number their messages independently.
    response: bool,
    total: u16,
    first_payload: Option<PayloadType>,
    parts: Vec<Option<Vec<u8>>>,
    bytes: usize,
    max_bytes: usize,
}

impl Reassembly {
    /// Starts collecting message `message_id` of `total` fragments, or
    /// `None` when `total` is zero or above `max_fragments`.
    pub(crate) fn new(
        message_id: u32,
        response: bool,
        total: u16,
        max_fragments: u16,
        max_bytes: usize,
    ) -> Option<Self> {
        if total == 0 || total > max_fragments {
            return None;
        }
        Some(Reassembly {
            message_id,
            response,
            total,
            first_payload: None,
            parts: vec![None; usize::from(total)],
            bytes: 0,
            max_bytes,
        })
    }

    /// Fragment bytes held so far.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Adds fragment `number` (1-based) with its decrypted content. The first
    /// fragment names the first inner payload (RFC 7383 2.5); the others
    /// carry 0 there.
    pub(crate) fn add(
        &mut self,
        number: u16,
        total: u16,
        next_payload: PayloadType,
        data: Vec<u8>,
    ) -> Added {
        if total != self.total || number == 0 || number > total {
            return Added::Rejected;
        }
        let idx = usize::from(number - 1);
        let Some(slot) = self.parts.get_mut(idx) else {
            return Added::Rejected;
        };
        if slot.is_some() {
            return Added::Duplicate;
        }
        let Some(bytes) = self
            .bytes
            .checked_add(data.len())
            .filter(|&b| b <= self.max_bytes)
        else {
            return Added::Rejected;
        };
        if number == 1 {
            self.first_payload = Some(next_payload);
        }
        self.bytes = bytes;
        *slot = Some(data);
        if self.parts.iter().any(Option::is_none) {
            return Added::Pending;
        }
        let mut all = Vec::with_capacity(self.bytes);
        for p in self.parts.iter_mut() {
            all.extend_from_slice(&p.take().unwrap_or_default());
        }
        Added::Complete(self.first_payload.unwrap_or(PayloadType::NONE), all)
    }
}

/// Bounds of the partial messages of one IKE SA.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Fragments per message and bytes per message.
    pub max_fragments: u16,
    pub max_bytes: usize,
    /// Partial messages per direction: the message window, since the peer
    /// cannot have more requests (or we more responses) outstanding.
    pub max_messages: usize,
    /// Bytes over all partial messages of the SA.
    pub max_total: usize,
}

/// The partial messages of one IKE SA. Nothing is allocated (and the
/// field costs one pointer in every SA) unless fragments are arriving;
/// each entry is dropped when its message completes, is rejected, or its
/// message ID leaves the window (`retain_wanted`).
#[derive(Default)]
pub(crate) struct Partials {
    // Boxed on purpose: one word in each of many idle SAs instead of a
    // Vec's three; the extra allocation exists only while fragments arrive.
    #[allow(clippy::box_collection)]
    open: Option<Box<Vec<Reassembly>>>,
}

impl Partials {
    pub(crate) fn is_empty(&self) -> bool {
        self.open.is_none()
    }

    /// Number of partial messages held (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.open.as_ref().map_or(0, |v| v.len())
    }

    /// Fragment bytes held over all partial messages (for tests).
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.open
            .iter()
            .flat_map(|v| v.iter())
            .map(Reassembly::bytes)
            .sum()
    }

    /// Keeps only partial messages whose ID is still expected: `wanted`
    /// says so for a message ID and direction (a request not yet accepted
    /// and inside the window; a response to a request still pending).
    pub(crate) fn retain_wanted(&mut self, wanted: impl Fn(u32, bool) -> bool) {
        if let Some(v) = self.open.as_mut() {
            v.retain(|r| wanted(r.message_id, r.response));
        }
        self.free_if_empty();
    }

    /// Most SAs never fragment: hold nothing once nothing is in progress.
    fn free_if_empty(&mut self) {
        if self.open.as_ref().is_some_and(|v| v.is_empty()) {
            self.open = None;
        }
    }

    /// Adds one authentic fragment of message `message_id` (a response to
    /// ours if `response`). A fragment that would start a partial message
    /// beyond `max_messages` in its direction is dropped on its own
    /// (`Rejected`; retransmission brings it again). One that would take
    /// the SA beyond `max_total` bytes first pushes out other partial
    /// messages, largest first: dropping it instead could leave several
    /// partial messages that can never complete within the bound, each
    /// waiting for the others. Its own message is never pushed out, so a
    /// message whose fragments arrive together always completes; the
    /// pushed-out ones are recovered by retransmission.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add(
        &mut self,
        limits: Limits,
        message_id: u32,
        response: bool,
        number: u16,
        total: u16,
        next_payload: PayloadType,
        data: Vec<u8>,
    ) -> Added {
        if data.len() > limits.max_total {
            return Added::Rejected;
        }
        let open = self.open.get_or_insert_with(Box::default);
        let len = data.len();
        let fits = |open: &Vec<Reassembly>| {
            let held: usize = open.iter().map(Reassembly::bytes).sum();
            held.saturating_add(len) <= limits.max_total
        };
        while !fits(open) {
            let largest_other = open
                .iter()
                .enumerate()
                .filter(|(_, r)| !(r.message_id == message_id && r.response == response))
                .max_by_key(|(_, r)| r.bytes)
                .map(|(i, _)| i);
            let Some(i) = largest_other else {
                break; // only this message is held, and it would pass the bound
            };
            open.swap_remove(i);
        }
        if !fits(open) {
            self.free_if_empty();
            return Added::Rejected;
        }
        let found = open
            .iter()
            .position(|r| r.message_id == message_id && r.response == response);
        let pos = match found {
            Some(i) => Some(i),
            None => {
                let same_way = open.iter().filter(|r| r.response == response).count();
                let new = (same_way < limits.max_messages)
                    .then(|| {
                        Reassembly::new(
                            message_id,
                            response,
                            total,
                            limits.max_fragments,
                            limits.max_bytes,
                        )
                    })
                    .flatten();
                new.map(|r| {
                    // One entry at a time: usually there is only one.
                    open.reserve_exact(1);
                    open.push(r);
                    open.len() - 1
                })
            }
        };
        let added = match pos.and_then(|i| open.get_mut(i).map(|r| (i, r))) {
            None => Added::Rejected,
            Some((i, r)) => {
                let added = r.add(number, total, next_payload, data);
                if matches!(added, Added::Complete(..) | Added::Rejected) {
                    open.swap_remove(i);
                }
                added
            }
        };
        self.free_if_empty();
        added
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reassembles_out_of_order_with_duplicates() {
        let mut r = Reassembly::new(5, false, 3, 8, 1000).unwrap();
        assert_eq!(
            r.add(3, 3, PayloadType::NONE, b"cc".to_vec()),
            Added::Pending
        );
        assert_eq!(
            r.add(3, 3, PayloadType::NONE, b"cc".to_vec()),
            Added::Duplicate
        );
        assert_eq!(
            r.add(1, 3, PayloadType::IDI, b"aa".to_vec()),
            Added::Pending
        );
        assert_eq!(
            r.add(2, 3, PayloadType::NONE, b"bb".to_vec()),
            Added::Complete(PayloadType::IDI, b"aabbcc".to_vec())
        );
    }

    #[test]
    fn bounds_and_inconsistencies() {
        assert!(Reassembly::new(1, false, 0, 8, 100).is_none());
        assert!(Reassembly::new(1, false, 9, 8, 100).is_none());
        let mut r = Reassembly::new(1, false, 2, 8, 3).unwrap();
        assert_eq!(
            r.add(1, 3, PayloadType::IDI, vec![1]),
            Added::Rejected,
            "total changed"
        );
        assert_eq!(r.add(0, 2, PayloadType::IDI, vec![1]), Added::Rejected);
        assert_eq!(r.add(3, 2, PayloadType::IDI, vec![1]), Added::Rejected);
        assert_eq!(r.add(1, 2, PayloadType::IDI, vec![1, 2]), Added::Pending);
        assert_eq!(
            r.add(2, 2, PayloadType::NONE, vec![1, 2]),
            Added::Rejected,
            "over the byte bound"
        );
    }

    const LIMITS: Limits = Limits {
        max_fragments: 8,
        max_bytes: 100,
        max_messages: 4,
        max_total: 250,
    };

    #[test]
    fn interleaved_messages_complete_independently() {
        let mut p = Partials::default();
        let add = |p: &mut Partials, id, n, d: &[u8]| {
            p.add(LIMITS, id, false, n, 2, PayloadType::SA, d.to_vec())
        };
        assert_eq!(add(&mut p, 7, 1, b"a7"), Added::Pending);
        assert_eq!(add(&mut p, 8, 1, b"a8"), Added::Pending);
        // Same ID the other way: a response to our request 7.
        let r = p.add(LIMITS, 7, true, 2, 2, PayloadType::NONE, b"r".to_vec());
        assert_eq!(r, Added::Pending);
        assert_eq!(p.len(), 3);
        assert_eq!(
            add(&mut p, 8, 2, b"b8"),
            Added::Complete(PayloadType::SA, b"a8b8".to_vec())
        );
        assert_eq!(
            add(&mut p, 7, 2, b"b7"),
            Added::Complete(PayloadType::SA, b"a7b7".to_vec())
        );
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn bounded_in_messages_and_total_bytes() {
        let mut p = Partials::default();
        // A peer sending first fragments for 1000 message IDs: only the
        // window's worth is kept.
        for id in 0..1000 {
            let _ = p.add(LIMITS, id, false, 1, 3, PayloadType::SA, vec![0; 10]);
            assert!(p.len() <= LIMITS.max_messages);
        }
        assert_eq!(p.len(), 4);
        assert_eq!(p.held(), 40);
        // Responses have their own share of the window.
        for id in 0..10 {
            let _ = p.add(LIMITS, id, true, 1, 3, PayloadType::SA, vec![0; 10]);
        }
        assert_eq!(p.len(), 8);
        // The per-SA byte bound holds below the per-message ones.
        for id in 0..4 {
            let _ = p.add(LIMITS, id, false, 2, 3, PayloadType::NONE, vec![0; 60]);
            assert!(p.held() <= LIMITS.max_total);
        }
        // When it is reached, other partial messages make room (largest
        // first), so a message whose fragments come together completes.
        p.retain_wanted(|_, _| false);
        for id in 20..23 {
            let _ = p.add(LIMITS, id, false, 1, 3, PayloadType::SA, vec![0; 80]);
        }
        assert_eq!(p.held(), 240);
        for n in 1..=3 {
            let added = p.add(LIMITS, 9, false, n, 3, PayloadType::SA, vec![n as u8; 30]);
            assert_eq!(added == Added::Pending, n < 3, "fragment {n}: {added:?}");
            assert!(p.held() <= LIMITS.max_total);
        }
        assert_eq!(p.len(), 2, "one of 20..23 made room");
        // A single fragment above the whole bound is refused.
        let big = p.add(LIMITS, 30, false, 1, 3, PayloadType::SA, vec![0; 251]);
        assert_eq!(big, Added::Rejected);
        assert_eq!(p.len(), 2);
        // IDs leaving the window take their partial state with them, and
        // the buffer goes once nothing is left.
        p.retain_wanted(|id, _| id != 20 && id != 22);
        assert_eq!(p.len(), 1);
        assert_eq!(p.held(), 80);
        p.retain_wanted(|_, _| false);
        assert!(p.is_empty());
        assert!(p.open.is_none());
    }
}
