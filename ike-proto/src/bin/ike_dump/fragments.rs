//! Reassembly of RFC 7383 fragments for display: decrypted SKF contents
//! are collected per message until all numbers 1..=total are present.

use std::collections::HashMap;

use ike_proto::wire::PayloadType;

/// Fragments of one message are recognised by SPIs, message ID and the
/// response flag (RFC 7383 2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageKey {
    pub spi_i: u64,
    pub spi_r: u64,
    pub message_id: u32,
    pub response: bool,
}

/// A capture comes from an untrusted network: bound what one message may hold.
const MAX_FRAGMENTS: u16 = 256;

struct Pending {
    total: u16,
    first: PayloadType,
    parts: Vec<Option<Vec<u8>>>,
}

#[derive(Default)]
pub struct Fragments {
    pending: HashMap<MessageKey, Pending>,
}

/// What adding one fragment gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    /// Still waiting for `missing` fragments.
    Pending { missing: usize },
    /// Complete: first inner payload type and the joined plaintext.
    Complete(PayloadType, Vec<u8>),
    /// Inconsistent with earlier fragments (different total, bad number):
    /// what was collected for this message is dropped.
    Rejected,
}

impl Fragments {
    pub fn add(
        &mut self,
        key: MessageKey,
        number: u16,
        total: u16,
        first: PayloadType,
        plain: Vec<u8>,
    ) -> Added {
        if number == 0 || number > total || total > MAX_FRAGMENTS {
            self.pending.remove(&key);
            return Added::Rejected;
        }
        let p = self.pending.entry(key).or_insert_with(|| Pending {
            total,
            first: PayloadType::NONE,
            parts: vec![None; usize::from(total)],
        });
        if p.total != total {
            self.pending.remove(&key);
            return Added::Rejected;
        }
        if number == 1 {
            p.first = first;
        }
        if let Some(slot) = p.parts.get_mut(usize::from(number) - 1) {
            *slot = Some(plain);
        }
        let missing = p.parts.iter().filter(|s| s.is_none()).count();
        if missing > 0 {
            return Added::Pending { missing };
        }
        match self.pending.remove(&key) {
            Some(done) => Added::Complete(
                done.first,
                done.parts.into_iter().flatten().flatten().collect(),
            ),
            None => Added::Rejected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: MessageKey = MessageKey {
        spi_i: 1,
        spi_r: 2,
        message_id: 3,
        response: false,
    };

    #[test]
    fn out_of_order() {
        let mut f = Fragments::default();
        assert_eq!(
            f.add(KEY, 2, 3, PayloadType::NONE, vec![2]),
            Added::Pending { missing: 2 }
        );
        assert_eq!(
            f.add(KEY, 1, 3, PayloadType::IDI, vec![1]),
            Added::Pending { missing: 1 }
        );
        assert_eq!(
            f.add(KEY, 3, 3, PayloadType::NONE, vec![3, 3]),
            Added::Complete(PayloadType::IDI, vec![1, 2, 3, 3])
        );
    }

    #[test]
    fn inconsistent_total() {
        let mut f = Fragments::default();
        f.add(KEY, 1, 3, PayloadType::IDI, vec![1]);
        assert_eq!(
            f.add(KEY, 2, 4, PayloadType::NONE, vec![2]),
            Added::Rejected
        );
        assert_eq!(
            f.add(KEY, 5, 4, PayloadType::NONE, vec![2]),
            Added::Rejected
        );
        assert_eq!(
            f.add(KEY, 1, 1, PayloadType::NONCE, vec![9]),
            Added::Complete(PayloadType::NONCE, vec![9])
        );
    }
}
