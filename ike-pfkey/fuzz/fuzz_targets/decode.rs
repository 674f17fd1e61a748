//! Arbitrary bytes through the PF_KEY decoder of every dialect: never a panic,
//! and whatever decodes re-encodes to bytes that decode to the same value; the
//! typed kernel events (SPDEXPIRE, NAT_T_NEW_MAPPING) decode or fail cleanly.
#![no_main]

use ike_pfkey::dialect::Dialect;
use ike_pfkey::wire::{Message, NatTNewMapping, SpdExpire};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for d in [Dialect::Linux, Dialect::FreeBsd, Dialect::OpenBsd] {
        if let Ok(m) = Message::parse(d, data) {
            let bytes = m.emit(d).expect("a decoded message re-encodes");
            let again = Message::parse(d, &bytes).expect("re-encoded bytes decode");
            assert_eq!(again, m);
            let _ = SpdExpire::from_message(&m);
            let _ = NatTNewMapping::from_message(&m);
        }
    }
});
