//! Property tests of the wire codec: every payload type survives
//! `Repr -> bytes -> Repr`, and no byte string makes a decoder panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ike_proto::wire::*;
use proptest::collection::vec;
use proptest::prelude::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}

fn transform() -> impl Strategy<Value = Transform> {
    let attr = (
        (0u16..0x8000).prop_filter("not KEY_LENGTH", |t| *t != AttributeType::KEY_LENGTH.0),
        prop_oneof![
            any::<u16>().prop_map(AttributeValue::Tv),
            bytes(8).prop_map(AttributeValue::Tlv)
        ],
    )
        .prop_map(|(t, value)| Attribute {
            atype: AttributeType(t),
            value,
        });
    (
        any::<u8>(),
        any::<u16>(),
        proptest::option::of(any::<u16>()),
        vec(attr, 0..3),
    )
        .prop_map(|(t, id, key_length, other_attributes)| Transform {
            ttype: TransformType(t),
            id,
            key_length,
            other_attributes,
        })
}

fn protocol_and_spi() -> impl Strategy<Value = (ProtocolId, Vec<u8>)> {
    prop_oneof![
        Just((ProtocolId::IKE, vec![])),
        vec(any::<u8>(), 8).prop_map(|s| (ProtocolId::IKE, s)),
        vec(any::<u8>(), 4).prop_map(|s| (ProtocolId::ESP, s)),
        vec(any::<u8>(), 4).prop_map(|s| (ProtocolId::AH, s)),
    ]
}

fn sa() -> impl Strategy<Value = Vec<Proposal>> {
    let proposal = (protocol_and_spi(), vec(transform(), 0..6));
    (vec(proposal, 1..4), 1u8..=250).prop_map(|(ps, single_num)| {
        let n = ps.len();
        ps.into_iter()
            .enumerate()
            .map(|(i, ((protocol, spi), transforms))| Proposal {
                // An offer counts from 1; a lone (accepted) proposal may
                // carry any number.
                num: if n == 1 { single_num } else { i as u8 + 1 },
                protocol,
                spi,
                transforms,
            })
            .collect()
    })
}

fn identification() -> impl Strategy<Value = Identification> {
    prop_oneof![
        vec(any::<u8>(), 4).prop_map(|d| (IdType::IPV4_ADDR, d)),
        vec(any::<u8>(), 16).prop_map(|d| (IdType::IPV6_ADDR, d)),
        (
            prop_oneof![
                Just(IdType::FQDN),
                Just(IdType::RFC822_ADDR),
                Just(IdType::KEY_ID),
                Just(IdType::DER_ASN1_DN)
            ],
            bytes(40)
        ),
    ]
    .prop_map(|(id_type, data)| Identification { id_type, data })
}

fn notify() -> impl Strategy<Value = Notify> {
    let spi = prop_oneof![
        any::<u8>().prop_map(|p| (ProtocolId(p), vec![])),
        vec(any::<u8>(), 4).prop_map(|s| (ProtocolId::ESP, s)),
        vec(any::<u8>(), 4).prop_map(|s| (ProtocolId::AH, s)),
        vec(any::<u8>(), 8).prop_map(|s| (ProtocolId::IKE, s)),
    ];
    (spi, any::<u16>(), bytes(40)).prop_map(|((protocol, spi), t, data)| Notify {
        protocol,
        spi,
        notify_type: NotifyType(t),
        data,
    })
}

fn delete() -> impl Strategy<Value = Delete> {
    prop_oneof![
        Just(Delete {
            protocol: ProtocolId::IKE,
            spi_size: 0,
            spis: vec![]
        }),
        (
            prop_oneof![Just(ProtocolId::ESP), Just(ProtocolId::AH)],
            vec(vec(any::<u8>(), 4), 0..6)
        )
            .prop_map(|(protocol, spis)| Delete {
                protocol,
                spi_size: 4,
                spis
            }),
    ]
}

fn selector() -> impl Strategy<Value = TrafficSelector> {
    let addrs = prop_oneof![
        (any::<u32>(), any::<u32>()).prop_map(|(a, b)| {
            (
                TsType::IPV4_ADDR_RANGE,
                IpAddr::V4(Ipv4Addr::from(a.min(b))),
                IpAddr::V4(Ipv4Addr::from(a.max(b))),
            )
        }),
        (any::<u128>(), any::<u128>()).prop_map(|(a, b)| {
            (
                TsType::IPV6_ADDR_RANGE,
                IpAddr::V6(Ipv6Addr::from(a.min(b))),
                IpAddr::V6(Ipv6Addr::from(a.max(b))),
            )
        }),
    ];
    let ports = prop_oneof![
        (any::<u16>(), any::<u16>()).prop_map(|(a, b)| (a.min(b), a.max(b))),
        Just((u16::MAX, 0)),
    ];
    (addrs, ports, any::<u8>()).prop_map(|((ts_type, start_addr, end_addr), (sp, ep), proto)| {
        TrafficSelector {
            ts_type,
            ip_protocol: proto,
            start_port: sp,
            end_port: ep,
            start_addr,
            end_addr,
        }
    })
}

fn configuration() -> impl Strategy<Value = Configuration> {
    let attr = (0u16..0x8000, bytes(20)).prop_map(|(t, value)| CfgAttribute {
        attr_type: CfgAttributeType(t),
        value,
    });
    (any::<u8>(), vec(attr, 0..5)).prop_map(|(t, attributes)| Configuration {
        cfg_type: CfgType(t),
        attributes,
    })
}

fn unknown_type() -> impl Strategy<Value = PayloadType> {
    prop_oneof![1u8..=32, 49u8..=52, 54u8..=255].prop_map(PayloadType)
}

/// Any payload that may appear anywhere in a chain (not SK/SKF).
fn plain_payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        sa().prop_map(Payload::Sa),
        (any::<u16>(), bytes(64)).prop_map(|(g, data)| Payload::Ke(KeyExchange {
            group: DhGroup(g),
            data
        })),
        identification().prop_map(Payload::IdI),
        identification().prop_map(Payload::IdR),
        (any::<u8>(), bytes(64)).prop_map(|(e, data)| Payload::Cert(Certificate {
            encoding: CertEncoding(e),
            data
        })),
        (any::<u8>(), bytes(40)).prop_map(|(e, data)| Payload::CertReq(Certificate {
            encoding: CertEncoding(e),
            data
        })),
        (any::<u8>(), bytes(64)).prop_map(|(m, data)| Payload::Auth(Authentication {
            method: AuthMethod(m),
            data
        })),
        vec(any::<u8>(), NONCE_MIN_LEN..=NONCE_MAX_LEN).prop_map(Payload::Nonce),
        notify().prop_map(Payload::Notify),
        delete().prop_map(Payload::Delete),
        bytes(32).prop_map(Payload::VendorId),
        vec(selector(), 0..4).prop_map(Payload::TsI),
        vec(selector(), 0..4).prop_map(Payload::TsR),
        configuration().prop_map(Payload::Cp),
        bytes(40).prop_map(Payload::Eap),
        (unknown_type(), bytes(20)).prop_map(|(ptype, body)| Payload::Unknown {
            ptype,
            critical: false,
            body
        }),
    ]
}

fn encrypted_payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        (any::<u8>(), bytes(80)).prop_map(|(f, body)| Payload::Sk(Encrypted {
            first_inner: PayloadType(f),
            body
        })),
        (any::<u8>(), 1u16..=20, 0u16..20, bytes(80)).prop_map(|(f, total, n, body)| {
            let number = n % total + 1;
            Payload::Skf(Fragment {
                first_inner: if number == 1 {
                    PayloadType(f)
                } else {
                    PayloadType::NONE
                },
                number,
                total,
                body,
            })
        }),
    ]
}

fn header() -> impl Strategy<Value = Header> {
    (
        any::<u64>(),
        any::<u64>(),
        0u8..16,
        any::<u8>(),
        any::<(bool, bool, bool)>(),
        any::<u32>(),
    )
        .prop_map(|(spi_i, spi_r, minor, x, (i, v, r), mid)| {
            let mut h = Header::new(
                spi_i,
                spi_r,
                ExchangeType(x),
                Flags {
                    initiator: i,
                    version: v,
                    response: r,
                },
                mid,
            );
            h.minor_version = minor;
            h
        })
}

fn message() -> impl Strategy<Value = Message> {
    (
        header(),
        vec(plain_payload(), 0..8),
        proptest::option::of(encrypted_payload()),
    )
        .prop_map(|(header, mut payloads, enc)| {
            payloads.extend(enc);
            Message { header, payloads }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_payload_round_trips(p in plain_payload()) {
        // Alone, and inside an SK chain.
        let (first, bytes) = emit_inner_payloads(std::slice::from_ref(&p)).unwrap();
        prop_assert_eq!(first, p.payload_type());
        prop_assert_eq!(bytes.len(), p.buffer_len());
        let back = parse_inner_payloads(first, &bytes).unwrap();
        prop_assert_eq!(back, vec![p]);
    }

    #[test]
    fn messages_round_trip(m in message()) {
        let bytes = m.to_bytes().unwrap();
        let back = Message::parse(&bytes).unwrap();
        let mut expected = m.clone();
        expected.header.length = bytes.len() as u32;
        expected.header.next_payload =
            m.payloads.first().map_or(PayloadType::NONE, Payload::payload_type);
        prop_assert_eq!(&back, &expected);
        prop_assert_eq!(back.to_bytes().unwrap(), bytes.clone());
        if m.payloads.last().is_some_and(Payload::is_encrypted) {
            let p = ProtectedMessage::parse(&bytes).unwrap();
            prop_assert_eq!(p.unprotected.len(), m.payloads.len() - 1);
            prop_assert_eq!(p.aad().len() + p.body().len(), bytes.len());
        } else {
            prop_assert!(ProtectedMessage::parse(&bytes).is_err());
        }
    }

    #[test]
    fn protected_layout(h in header(), before in vec(plain_payload(), 0..3),
                        frag in proptest::option::of((1u16..5, 0u16..5)),
                        first in any::<u8>(), iv in 0usize..17, ct in 1usize..64, icv in 0usize..33) {
        let (kind, first_inner) = match frag {
            Some((total, n)) => {
                let number = n % total + 1;
                let f = if number == 1 { PayloadType(first) } else { PayloadType::NONE };
                (EncryptedKind::Skf { number, total }, f)
            }
            None => (EncryptedKind::Sk, PayloadType(first)),
        };
        let mut b = build_protected(&h, &before, kind, first_inner, iv, ct, icv).unwrap();
        let aad = b.aad().to_vec();
        b.body_mut().iter_mut().enumerate().for_each(|(i, x)| *x = i as u8);
        let bytes = b.into_bytes();
        let p = ProtectedMessage::parse(&bytes).unwrap();
        prop_assert_eq!(p.kind, kind);
        prop_assert_eq!(p.first_inner, first_inner);
        prop_assert_eq!(&p.unprotected, &before);
        prop_assert_eq!(p.aad(), &aad[..]);
        let parts = p.split(iv, icv).unwrap();
        prop_assert_eq!(parts.iv.len(), iv);
        prop_assert_eq!(parts.ciphertext.len(), ct);
        prop_assert_eq!(parts.icv.len(), icv);
        prop_assert_eq!(parts.integrity_input.len(), bytes.len() - icv);
    }

    #[test]
    fn padding_round_trips(inner in bytes(100), block in 1usize..=32) {
        let padded = pad_plaintext(&inner, block).unwrap();
        prop_assert_eq!(padded.len() % block, 0);
        prop_assert_eq!(strip_padding(&padded).unwrap(), &inner[..]);
    }

    #[test]
    fn unknown_critical_is_reported(h in header(), t in unknown_type(), body in bytes(10)) {
        let m = Message { header: h, payloads: vec![
            Payload::VendorId(vec![1]),
            Payload::Unknown { ptype: t, critical: true, body },
        ]};
        let bytes = m.to_bytes().unwrap();
        let err = Message::parse(&bytes).unwrap_err();
        prop_assert_eq!(err, Error::UnsupportedCriticalPayload(t));
        prop_assert_eq!(err.notify(), Some(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD));
    }

    // Decoders on arbitrary input: an error or a value, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(data in bytes(600), first in any::<u8>(),
                                   iv in 0usize..40, icv in 0usize..40) {
        let _ = Message::parse(&data);
        let _ = parse_inner_payloads(PayloadType(first), &data);
        let _ = strip_padding(&data);
        let _ = strip_non_esp_marker(&data);
        if let Ok(p) = ProtectedMessage::parse(&data) {
            let _ = p.split(iv, icv);
        }
    }

    // Arbitrary payload bytes behind a header that passes the header checks,
    // so that the payload decoders are reached.
    #[test]
    fn arbitrary_payload_chains_never_panic(h in header(), first in any::<u8>(), body in bytes(600)) {
        let mut h = h;
        h.next_payload = PayloadType(first);
        h.length = (HEADER_LEN + body.len()) as u32;
        let mut data = vec![0u8; HEADER_LEN];
        h.emit(&mut HeaderPacket::new_checked(&mut data[..]).unwrap());
        data.extend_from_slice(&body);
        if let Ok(m) = Message::parse(&data) {
            // Whatever decodes re-encodes and decodes to the same value.
            let again = m.to_bytes().unwrap();
            prop_assert_eq!(Message::parse(&again).unwrap(), m);
        }
    }

    // Valid messages with a few bytes changed.
    #[test]
    fn mutated_messages_never_panic(m in message(), edits in vec((any::<usize>(), any::<u8>()), 1..6)) {
        let mut bytes = m.to_bytes().unwrap();
        for (at, v) in edits {
            let i = at % bytes.len();
            bytes[i] = v;
        }
        if let Ok(m2) = Message::parse(&bytes) {
            let again = m2.to_bytes().unwrap();
            prop_assert_eq!(Message::parse(&again).unwrap(), m2);
        }
        if let Ok(p) = ProtectedMessage::parse(&bytes) {
            let _ = p.split(8, 16);
        }
    }
}

#[test]
fn header_checks() {
    let m = Message {
        header: Header::new(1, 2, ExchangeType::INFORMATIONAL, Flags::default(), 0),
        payloads: vec![],
    };
    let mut b = m.to_bytes().unwrap();
    assert_eq!(b.len(), HEADER_LEN);
    assert!(Message::parse(&b).unwrap().payloads.is_empty());
    b.push(0);
    assert_eq!(
        Message::parse(&b),
        Err(Error::HeaderLength {
            claimed: 28,
            actual: 29
        })
    );
    b.pop();
    b[17] = 0x30;
    assert_eq!(Message::parse(&b), Err(Error::UnsupportedMajorVersion(3)));
}

#[test]
fn payload_count_is_capped() {
    let h = Header::new(1, 2, ExchangeType::INFORMATIONAL, Flags::default(), 0);
    let m = Message {
        header: h,
        payloads: vec![Payload::VendorId(vec![]); MAX_PAYLOADS],
    };
    let mut bytes = m.to_bytes().unwrap();
    assert_eq!(Message::parse(&bytes).unwrap().payloads.len(), MAX_PAYLOADS);
    let too_many = Message {
        header: h,
        payloads: vec![Payload::VendorId(vec![]); MAX_PAYLOADS + 1],
    };
    assert_eq!(too_many.to_bytes(), Err(Error::TooManyPayloads));
    // Hand-made 65th payload: the last one points to another vendor ID.
    let last = bytes.len() - 4;
    bytes[last] = PayloadType::VENDOR_ID.0;
    bytes.extend_from_slice(&[0, 0, 0, 4]);
    let len = bytes.len() as u32;
    bytes[24..28].copy_from_slice(&len.to_be_bytes());
    assert_eq!(Message::parse(&bytes), Err(Error::TooManyPayloads));
}

#[test]
fn sk_must_be_last() {
    let h = Header::new(1, 2, ExchangeType::INFORMATIONAL, Flags::default(), 0);
    let sk = Payload::Sk(Encrypted {
        first_inner: PayloadType::NONE,
        body: vec![0; 20],
    });
    let bad = Message {
        header: h,
        payloads: vec![sk.clone(), Payload::VendorId(vec![])],
    };
    assert_eq!(bad.to_bytes(), Err(Error::MisplacedEncrypted));
    // SK inside SK.
    let mut inner = Message {
        header: h,
        payloads: vec![sk],
    }
    .to_bytes()
    .unwrap();
    assert_eq!(
        parse_inner_payloads(PayloadType::SK, &inner.split_off(HEADER_LEN)),
        Err(Error::MisplacedEncrypted)
    );
    // An SK payload whose length stops short of the end of the message.
    let good = Message {
        header: h,
        payloads: vec![Payload::Sk(Encrypted {
            first_inner: PayloadType::NONE,
            body: vec![0; 20],
        })],
    };
    let mut b = good.to_bytes().unwrap();
    b[31] -= 4;
    assert_eq!(Message::parse(&b), Err(Error::MisplacedEncrypted));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any raw CP attribute either decodes to a typed value that encodes
    /// back to the same bytes, or is refused (never a panic).
    #[test]
    fn cp_values_round_trip_or_refuse(t in prop_oneof![1u16..=21, any::<u16>()], value in bytes(20)) {
        let a = CfgAttribute { attr_type: CfgAttributeType(t & 0x7fff), value };
        if let Ok(v) = CfgValue::decode(&a) {
            if let Some(again) = v.encode() {
                prop_assert_eq!(again, a);
            }
        }
    }
}
