//! Fuzz target: the IKE message decoder on arbitrary datagrams.
//!
//! Besides "never panics", it checks the codec's round-trip property on
//! whatever decodes: encoding the decoded value and decoding again gives
//! the same value.
#![no_main]

use ike_proto::wire::{
    emit_inner_payloads, parse_inner_payloads, CfgValue, Payload, strip_non_esp_marker, Message, PayloadType,
    ProtectedMessage,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // As received on port 500, and as on port 4500 behind the marker.
    let datagram = strip_non_esp_marker(data).unwrap_or(data);
    if let Ok(m) = Message::parse(datagram) {
        let bytes = m.to_bytes().expect("a decoded message must encode");
        let again = Message::parse(&bytes).expect("an encoded message must decode");
        assert_eq!(again, m);
    }
    if let Ok(p) = ProtectedMessage::parse(datagram) {
        assert_eq!(p.aad().len() + p.body().len(), datagram.len());
        for (iv, icv) in [(8, 16), (16, 12), (16, 16), (0, 0)] {
            if let Ok(parts) = p.split(iv, icv) {
                assert_eq!(parts.integrity_input.len() + icv, datagram.len());
            }
        }
    }
    // The same bytes as a decrypted inner chain.
    if let Some((&first, rest)) = data.split_first() {
        if let Ok(inner) = parse_inner_payloads(PayloadType(first), rest) {
            let (_, bytes) = emit_inner_payloads(&inner).expect("decoded payloads must encode");
            let again = parse_inner_payloads(PayloadType(first), &bytes);
            assert_eq!(again.as_ref(), Ok(&inner));
            // Typed CP attributes (RFC 7296 3.15.1): strict lengths, and
            // a value that decodes encodes back to the same bytes.
            for p in &inner {
                if let Payload::Cp(c) = p {
                    for a in &c.attributes {
                        if let Some(again) = CfgValue::decode(a).ok().and_then(|v| v.encode()) {
                            assert_eq!(&again, a);
                        }
                    }
                }
            }
        }
    }
});
