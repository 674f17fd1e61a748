//! RFC 7383 reassembly: collects the decrypted contents of SKF fragments of
//! one message, with hard bounds on fragment count and bytes.
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
        total: u16,
        max_fragments: u16,
        max_bytes: usize,
    ) -> Option<Self> {
        if total == 0 || total > max_fragments {
            return None;
        }
        Some(Reassembly {
            message_id,
            total,
            first_payload: None,
            parts: vec![None; usize::from(total)],
            bytes: 0,
            max_bytes,
        })
    }

    pub(crate) fn message_id(&self) -> u32 {
        self.message_id
    }

    pub(crate) fn total(&self) -> u16 {
        self.total
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reassembles_out_of_order_with_duplicates() {
        let mut r = Reassembly::new(5, 3, 8, 1000).unwrap();
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
        assert!(Reassembly::new(1, 0, 8, 100).is_none());
        assert!(Reassembly::new(1, 9, 8, 100).is_none());
        let mut r = Reassembly::new(1, 2, 8, 3).unwrap();
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
}
