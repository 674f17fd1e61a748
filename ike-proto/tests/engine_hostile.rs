//! A responder engine against hostile initiators (issue 17): malformed and
//! fragmented IKE_AUTH, RFC 7296 deviations in IKE_SA_INIT, bad padding
//! behind a valid ICV, and IKE_SA_INIT floods from sources that answer
//! cookies.
//!
//! The initiator here is scripted from the crate's public codec and crypto
//! (not an `Engine`), so that it can send what a correct engine never
//! would: broken inner payloads behind a valid ICV, SPIs where none
//! belong, version 3, thousands of half-open attempts.

mod hostile_common;

use std::net::SocketAddr;
use std::time::Duration;

use hostile_common::*;
use ike_proto::engine::*;
use ike_proto::wire::{
    EncryptedKind, ExchangeType, Header, Message, NotifyType, Payload, PayloadType, Proposal,
};

// ----- the scripted initiator itself -----------------------------------

#[test]
fn scripted_initiator_establishes_whole_and_fragmented() {
    for fragmented in [false, true] {
        let mut r = Responder::new(responder_config());
        let mut i = Initiator::new("192.0.2.10", 0x1111);
        i.handshake_init(&mut r);
        assert_eq!(r.engine.half_open_count(), 1);
        let out = if fragmented {
            let (first, inner) = ike_proto::wire::emit_inner_payloads(&i.auth_payloads()).unwrap();
            let frags = i.fragments(ExchangeType::IKE_AUTH, 1, first, &inner, 3);
            let mut out = Vec::new();
            for f in frags {
                out = r.feed(i.addr, &f);
            }
            out
        } else {
            let m = i.protected(ExchangeType::IKE_AUTH, 1, &i.auth_payloads());
            r.feed(i.addr, &m)
        };
        assert_eq!(out.len(), 1);
        let answer = i.open(&out[0]);
        assert!(
            answer.iter().any(|p| matches!(p, Payload::Auth(_))),
            "{answer:?}"
        );
        assert_eq!(ike_up_count(&r), 1, "fragmented: {fragmented}");
        assert_eq!(r.engine.half_open_count(), 0);
    }
}

// ----- 1. the fragment error path --------------------------------------

/// Issue 17: a malformed IKE_AUTH in fragments got INVALID_SYNTAX but its
/// half-open SA stayed, and a valid IKE_AUTH then established on it.
#[test]
fn malformed_fragmented_ike_auth_removes_the_half_open_sa() {
    let mut r = Responder::new(responder_config());
    let mut i = Initiator::new("192.0.2.10", 0x2222);
    i.handshake_init(&mut r);
    let frags = i.fragments(
        ExchangeType::IKE_AUTH,
        1,
        PayloadType::IDI,
        &broken_inner(),
        2,
    );
    assert!(r.feed(i.addr, &frags[0]).is_empty());
    let out = r.feed(i.addr, &frags[1]);
    assert_eq!(out.len(), 1);
    assert_eq!(notifies(&i.open(&out[0])), vec![NotifyType::INVALID_SYNTAX]);
    assert_eq!(r.engine.half_open_count(), 0, "half-open SA left behind");
    assert_eq!(r.engine.ike_sa_count(), 0);
    assert_eq!(r.drops(DropReason::Malformed), 1);
    // A correct IKE_AUTH on the same SPIs finds nothing.
    let m = i.protected(ExchangeType::IKE_AUTH, 2, &i.auth_payloads());
    assert!(r.feed(i.addr, &m).is_empty());
    assert_eq!(ike_up_count(&r), 0, "established on a refused SA");
}

/// The unfragmented path did this already; kept as the reference.
#[test]
fn malformed_whole_ike_auth_removes_the_half_open_sa() {
    let mut r = Responder::new(responder_config());
    let mut i = Initiator::new("192.0.2.10", 0x3333);
    i.handshake_init(&mut r);
    let m = i.seal(
        ExchangeType::IKE_AUTH,
        1,
        EncryptedKind::Sk,
        PayloadType::IDI,
        &broken_inner(),
    );
    let out = r.feed(i.addr, &m);
    assert_eq!(notifies(&i.open(&out[0])), vec![NotifyType::INVALID_SYNTAX]);
    assert_eq!(r.engine.ike_sa_count(), 0);
}

// ----- 2. RFC 7296 deviations ------------------------------------------

/// The responder's plain (IKE_SA_INIT) answer: its header and notifies.
fn plain_answer(out: &[Vec<u8>]) -> (Header, Vec<Payload>) {
    assert_eq!(out.len(), 1, "expected one answer, got {}", out.len());
    let m = Message::parse(&out[0]).unwrap();
    assert!(m.header.flags.response);
    (m.header, m.payloads)
}

fn nothing_kept(r: &Responder) {
    assert_eq!(r.engine.half_open_count(), 0);
    assert_eq!(r.engine.ike_sa_count(), 0);
}

#[test]
fn unknown_critical_payload_in_init_is_answered_statelessly() {
    let mut r = Responder::new(responder_config());
    let i = Initiator::new("192.0.2.10", 0x4444);
    let mut p = i.init_payloads(None, Vec::new());
    p.push(Payload::Unknown {
        ptype: PayloadType(201),
        critical: true,
        body: vec![1, 2, 3],
    });
    let bytes = i.init_message(p).to_bytes().unwrap();
    let (h, payloads) = plain_answer(&r.feed(i.addr, &bytes));
    assert_eq!((h.spi_i, h.spi_r), (0x4444, 0));
    match payloads.as_slice() {
        [Payload::Notify(n)] => {
            assert_eq!(n.notify_type, NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD);
            assert_eq!(n.data, vec![201], "names the payload type");
        }
        other => panic!("{other:?}"),
    }
    nothing_kept(&r);
    // The same payload without the critical bit is skipped (2.5).
    let mut p = i.init_payloads(None, Vec::new());
    p.push(Payload::Unknown {
        ptype: PayloadType(201),
        critical: false,
        body: vec![1, 2, 3],
    });
    let out = r.feed(i.addr, &i.init_message(p).to_bytes().unwrap());
    assert!(Message::parse(&out[0])
        .unwrap()
        .find(PayloadType::KE)
        .is_some());
    assert_eq!(r.engine.half_open_count(), 1);
}

/// RFC 7296 3.3.1: the IKE proposal's SPI is empty in IKE_SA_INIT. A
/// proposal with an SPI is not acceptable: NO_PROPOSAL_CHOSEN if nothing
/// else is offered, and the next proposal if one is.
#[test]
fn ike_proposal_with_an_spi_in_init_is_refused() {
    let mut r = Responder::new(responder_config());
    let i = Initiator::new("192.0.2.10", 0x5555);
    let p = i.init_payloads(None, vec![0xab; 8]);
    let (_, payloads) = plain_answer(&r.feed(i.addr, &i.init_message(p).to_bytes().unwrap()));
    assert_eq!(notifies(&payloads), vec![NotifyType::NO_PROPOSAL_CHOSEN]);
    assert!(!payloads.iter().any(|p| matches!(p, Payload::Sa(_))));
    nothing_kept(&r);
    assert_eq!(r.drops(DropReason::NoProposal), 1);

    // The same offer followed by a correct proposal: that one is chosen.
    let mut p = i.init_payloads(None, vec![0xab; 8]);
    let good = Proposal {
        num: 2,
        ..ike_proposal(Vec::new())
    };
    if let Payload::Sa(props) = &mut p[0] {
        props.push(good);
    }
    let out = r.feed(i.addr, &i.init_message(p).to_bytes().unwrap());
    let m = Message::parse(&out[0]).unwrap();
    match m.find(PayloadType::SA) {
        Some(Payload::Sa(a)) => assert_eq!((a[0].num, a[0].spi.len()), (2, 0)),
        other => panic!("{other:?}"),
    }
}

/// RFC 7296 2.5: a higher major version gets INVALID_MAJOR_VERSION with
/// our version in the header, no state, and at most 50 such answers a
/// second.
#[test]
fn major_version_3_gets_invalid_major_version_rate_limited() {
    let mut r = Responder::new(responder_config());
    let mut i = Initiator::new("192.0.2.10", 0x6666);
    let mut bytes = i.init(None);
    bytes[17] = 0x30; // major 3, minor 0
    let (h, payloads) = plain_answer(&r.feed(i.addr, &bytes));
    assert_eq!(h.major_version, 2);
    assert_eq!(h.spi_i, 0x6666);
    assert_eq!(notifies(&payloads), vec![NotifyType::INVALID_MAJOR_VERSION]);
    nothing_kept(&r);
    // A flood within one second: answers capped, every drop counted.
    let answered: usize = (0..500).map(|_| r.feed(i.addr, &bytes).len()).sum();
    assert_eq!(answered, 49, "50 a second, one already used");
    assert_eq!(r.drops(DropReason::Version), 501);
    r.advance(Duration::from_secs(1));
    assert_eq!(r.feed(i.addr, &bytes).len(), 1, "budget renewed");
    // A response with version 3 is only dropped.
    bytes[19] |= 0x20;
    assert!(r.feed(i.addr, &bytes).is_empty());
    nothing_kept(&r);
}

/// A Pad Length larger than the plaintext behind a valid ICV: the sender
/// holds the keys, so the message is authentic and malformed; the design
/// note (rfc/engine-notes.md, RFC 7296 2.21) answers such a request with
/// INVALID_SYNTAX, and a failed IKE_AUTH leaves nothing.
#[test]
fn bad_pad_length_behind_a_valid_icv_gets_invalid_syntax() {
    let mut r = Responder::new(responder_config());
    let mut i = Initiator::new("192.0.2.10", 0x7777);
    i.handshake_init(&mut r);
    let m = i.bad_padding(ExchangeType::IKE_AUTH, 1);
    let out = r.feed(i.addr, &m);
    assert_eq!(out.len(), 1, "silently dropped");
    assert_eq!(notifies(&i.open(&out[0])), vec![NotifyType::INVALID_SYNTAX]);
    nothing_kept(&r);
    assert_eq!(r.drops(DropReason::Malformed), 1);
    // A wrong ICV stays silent.
    let mut i = Initiator::new("192.0.2.10", 0x7778);
    i.handshake_init(&mut r);
    let mut m = i.bad_padding(ExchangeType::IKE_AUTH, 1);
    let n = m.len();
    m[n - 1] ^= 1;
    assert!(r.feed(i.addr, &m).is_empty());
    assert_eq!(r.engine.half_open_count(), 1);
    assert_eq!(r.drops(DropReason::Unauthentic), 1);
}

// ----- 3. fair admission under IKE_SA_INIT floods -------------------------

/// `n` half-open SAs from `addr`, each through the cookie exchange;
/// returns how many the responder admitted.
fn flood(r: &mut Responder, addr: &str, first_spi: u64, n: u64) -> Vec<Initiator> {
    let mut admitted = Vec::new();
    for k in 0..n {
        let mut i = Initiator::new(addr, first_spi + k);
        let out = r.feed(i.addr, &i.init(None));
        let Some(ans) = out.first() else { continue };
        match i.on_init_response(ans) {
            Ok(()) => admitted.push(i),
            Err(p) => {
                let Some(Payload::Notify(c)) = p.first() else {
                    continue;
                };
                if c.notify_type != NotifyType::COOKIE {
                    continue;
                }
                let c = c.data.clone();
                let out = r.feed(i.addr, &i.init(Some(&c)));
                if out.first().is_some_and(|a| i.on_init_response(a).is_ok()) {
                    admitted.push(i);
                }
            }
        }
    }
    admitted
}

fn establishes(r: &mut Responder, addr: &str, spi: u64) -> bool {
    let before = ike_up_count(r);
    let mut i = Initiator::new(addr, spi);
    let out = r.feed(i.addr, &i.init(None));
    let Some(ans) = out.first() else {
        return false;
    };
    if let Err(p) = i.on_init_response(ans) {
        let Some(Payload::Notify(c)) = p.first() else {
            return false;
        };
        let c = c.data.clone();
        let out = r.feed(i.addr, &i.init(Some(&c)));
        if out.first().is_none_or(|a| i.on_init_response(a).is_err()) {
            return false;
        }
    }
    let m = i.protected(ExchangeType::IKE_AUTH, 1, &i.auth_payloads());
    r.feed(i.addr, &m);
    ike_up_count(r) == before + 1
}

/// Issue 17: one address answering cookies filled the whole table, and
/// everyone else was dropped. Now it is held to its own budget.
#[test]
fn one_cookie_answering_source_cannot_fill_the_table() {
    let mut cfg = responder_config();
    cfg.cookie_threshold = 8;
    cfg.max_half_open = 64;
    let mut r = Responder::new(cfg);
    let admitted = flood(&mut r, "203.0.113.66", 0x10_0000, 200);
    assert_eq!(admitted.len(), 32, "the default per-source budget");
    assert_eq!(r.engine.half_open_count(), 32);
    assert!(r.engine.admission_stats().cookie_mode);
    let modes: Vec<_> = r
        .events
        .iter()
        .filter_map(|e| match e {
            Event::CookieMode { on, half_open } => Some((*on, *half_open)),
            _ => None,
        })
        .collect();
    assert_eq!(modes, vec![(true, 8)], "one event, at the threshold");
    assert!(r.drops(DropReason::SourceLimit) >= 168);
    assert!(r.drops(DropReason::NoCookie) >= 200 - 8);
    assert!(establishes(&mut r, "192.0.2.10", 0x99));
    // Its own budget is still full while its SAs wait.
    assert!(!establishes(&mut r, "203.0.113.66", 0x98));
}

/// A gateway that starts many tunnels to us at once (one source address)
/// is not throttled while the table is uncontested: the per-source budget
/// applies only from half of the global cap on, and then it does.
#[test]
fn one_source_is_not_throttled_while_the_table_is_uncontested() {
    let mut cfg = responder_config();
    cfg.cookie_threshold = 8;
    cfg.max_half_open = 512;
    let mut r = Responder::new(cfg);
    let admitted = flood(&mut r, "198.51.100.7", 0x30_0000, 200);
    assert_eq!(admitted.len(), 200, "below half the cap: no budget");
    assert_eq!(r.drops(DropReason::SourceLimit), 0);
    // From 256 (half of 512) on the table is contested and the source
    // is far over its budget of 32.
    let more = flood(&mut r, "198.51.100.7", 0x31_0000, 100);
    assert_eq!(more.len(), 56);
    assert_eq!(r.engine.half_open_count(), 256);
    assert!(r.drops(DropReason::SourceLimit) >= 44);
    assert!(establishes(&mut r, "192.0.2.10", 0x99));
}

/// The table full of one prefix's SAs (budgets as large as the table):
/// a newcomer from elsewhere takes the oldest of them; the flooder's next
/// attempt does not.
#[test]
fn full_table_evicts_the_heaviest_prefix_not_the_newcomer() {
    let mut cfg = responder_config();
    cfg.cookie_threshold = 0;
    cfg.max_half_open = 16;
    cfg.max_half_open_per_source = 32;
    cfg.max_half_open_per_prefix = 32;
    let mut r = Responder::new(cfg);
    let mut admitted = flood(&mut r, "203.0.113.66", 0x20_0000, 16);
    assert_eq!(admitted.len(), 16);
    assert!(flood(&mut r, "203.0.113.67", 0x21_0000, 4).is_empty());
    assert_eq!(r.drops(DropReason::TableFull), 4, "same /24: no eviction");
    assert!(establishes(&mut r, "192.0.2.10", 0x99));
    assert_eq!(r.drops(DropReason::Evicted), 1);
    // The evicted one was the oldest: its IKE_AUTH finds nothing.
    let oldest = &mut admitted[0];
    let m = oldest.protected(ExchangeType::IKE_AUTH, 1, &oldest.auth_payloads());
    assert!(r.feed(oldest.addr, &m).is_empty());
    // The next oldest still completes.
    let next = &mut admitted[1];
    let m = next.protected(ExchangeType::IKE_AUTH, 1, &next.auth_payloads());
    assert_eq!(r.feed(next.addr, &m).len(), 1);
    assert_eq!(ike_up_count(&r), 2);
}

/// A flood spread over many prefixes, each within its budget, fills the
/// table; legitimate initiators from other prefixes still get in, one
/// eviction each, and the table never grows past its cap.
#[test]
fn flood_from_many_prefixes_leaves_room_for_others() {
    let mut cfg = responder_config();
    cfg.cookie_threshold = 4;
    cfg.max_half_open = 32;
    cfg.max_half_open_per_prefix = 4;
    let mut r = Responder::new(cfg);
    for net in 0..12u64 {
        flood(&mut r, &format!("10.0.{net}.1"), 0x30_0000 + net * 100, 6);
    }
    assert_eq!(r.engine.half_open_count(), 32);
    for k in 0..5 {
        assert!(establishes(&mut r, &format!("198.18.{k}.9"), 0x40 + k));
        assert!(r.engine.half_open_count() <= 32);
    }
    assert_eq!(ike_up_count(&r), 5);
}

// ----- 4. what the logs show ---------------------------------------------

/// Collects every log line of this test binary.
struct Capture(std::sync::Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, r: &log::Record) {
        let line = format!("{} {}", r.level(), r.args());
        self.0.lock().unwrap().push(line);
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(std::sync::Mutex::new(Vec::new()));

/// Log lines containing `needle` so far (other tests log concurrently).
fn logged(needle: &str) -> Vec<String> {
    let _ = log::set_logger(&CAPTURE);
    log::set_max_level(log::LevelFilter::Trace);
    CAPTURE
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains(needle))
        .cloned()
        .collect()
}

#[test]
fn trace_logs_each_message_once_without_contents() {
    logged("");
    let mut r = Responder::new(responder_config());
    let mut i = Initiator::new("192.0.2.77", 0x0123_4567_89ab_cdef);
    i.handshake_init(&mut r);
    let m = i.protected(ExchangeType::IKE_AUTH, 1, &i.auth_payloads());
    r.feed(i.addr, &m);
    assert_eq!(ike_up_count(&r), 1);
    let lines = logged("0123456789abcdef");
    let want = [
        "received from 192.0.2.77:500: IKE_SA_INIT request #0",
        "sent to 192.0.2.77:500: IKE_SA_INIT response #0",
        "received from 192.0.2.77:500: IKE_AUTH request #1",
        "sent to 192.0.2.77:500: IKE_AUTH response #1",
    ];
    assert_eq!(lines.len(), want.len(), "{lines:#?}");
    for (l, w) in lines.iter().zip(want) {
        assert!(l.starts_with("TRACE") && l.contains(w), "{l} / {w}");
    }
    assert!(
        lines[0].contains("SA KE NONCE N(IKEV2_FRAGMENTATION_SUPPORTED)"),
        "{}",
        lines[0]
    );
    assert!(lines[2].contains("[IDI AUTH]"), "{}", lines[2]);
    // Never a nonce: ours starts with the SPI bytes, so search its hex.
    let nonce_hex: String = i.ni[..8].iter().map(|b| format!("{b:02x}")).collect();
    assert!(!lines.iter().any(|l| l.matches(&nonce_hex).count() > 1));
}

#[test]
fn drops_are_logged_rate_limited_with_the_peer() {
    logged("");
    let mut r = Responder::new(responder_config());
    let from: SocketAddr = "192.0.2.88:500".parse().unwrap();
    for _ in 0..1000 {
        r.feed(from, b"garbage");
    }
    assert_eq!(r.drops(DropReason::Malformed), 1000);
    assert_eq!(
        logged("192.0.2.88").len(),
        1,
        "one line, not one per packet"
    );
    r.advance(Duration::from_secs(2));
    r.feed(from, b"garbage");
    let lines = logged("192.0.2.88");
    assert_eq!(lines.len(), 2);
    assert!(lines[1].contains("999 more"), "{}", lines[1]);
}
