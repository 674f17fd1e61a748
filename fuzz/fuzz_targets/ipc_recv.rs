//! Whatever bytes arrive on an IPC channel, for every message type a
//! process receives: ike-net (`ParentToNet`, `PfkeyToNet`, `CtlRequest` on
//! the control socket, `CredToNet`), ike-pfkey (`ParentToPfkey`,
//! `NetToPfkey`), ike-cred (`ParentToCred`, `NetToCred`), the parent
//! (`NetToParent`, `PfkeyToParent`, `CredToParent`) and ike-ctl
//! (`CtlResponse`).
//!
//! The input is a list of packets (`ipc_common::records`). Each type gets
//! its own socketpair: the packets are written to one end as raw bytes and
//! read with `Channel::recv` on the other, the real receive path (envelope
//! checks, batches, fragment reassembly with the end's bound, postcard),
//! with the bound each process sets (docs/ipc.md: 64 MiB from the parent,
//! one packet elsewhere). Reading goes on after errors, which the daemons
//! do not (they fail closed): that explores more states.
//!
//! Checks besides "no panic":
//! - allocation: during one `recv`, the heap grows by at most the receive
//!   buffer (one packet), what was reassembled (at most the end's bound, and
//!   never more than the fragment bytes sent), a batch's values (one byte of
//!   input at least per value, kept twice, each up to twice its length; the
//!   channel keeps the capacity of its largest batch's queue) and
//!   serde's capped pre-allocation (1 MiB per sequence being decoded);
//! - every value received re-encodes, and its encoding (in one packet or in
//!   fragments) decodes to the same value.
#![no_main]

#[path = "ipc_common/mod.rs"]
mod ipc_common;

use ike_ipc::channel::{pair, send_packet, Channel, ChannelError};
use ike_ipc::config::{Config, Encapsulation, IpsecProtocol};
use ike_ipc::envelope::{self, Reassembly, MAX_LARGE_MESSAGE, MAX_MESSAGE};
use ike_ipc::msg::pfkey::{
    BrokerEvent, KernelReply, BrokerRequest, NetToPfkey, PfkeyToNet, SaId, Supported,
};
use ike_ipc::msg::cred::{
    CredAnswer, CredOp, CredToNet, NetToCred, SignMethod, MAX_CRED_MESSAGE,
};
use ike_ipc::msg::{
    CredInit, CredToParent, ParentToCred, CtlRequest, CtlResponse, ListenSocket, LogLevel, NetInit, NetToParent, ParentToNet,
    ParentToPfkey, PfkeyInit, PfkeyToParent, PrivDrop, Stats,
};
use ipc_common::{batch, fragments, one, record, Record};
use libfuzzer_sys::fuzz_target;
use serde::{de::DeserializeOwned, Serialize};
use std::fmt::Debug;
use std::os::fd::AsFd;

#[global_allocator]
static ALLOC: ipc_common::Counting = ipc_common::Counting;

/// serde pre-allocates at most 1 MiB per sequence it decodes
/// (`size_hint::cautious`); a configuration nests a few.
const SERDE_PREALLOC: usize = 4 << 20;

fuzz_target!(init: ipc_common::maybe_write_seeds(seeds), |data: &[u8]| {
    let recs = ipc_common::records(data);
    // ike-net
    receive::<ParentToNet>("ParentToNet", &recs, MAX_LARGE_MESSAGE);
    receive::<PfkeyToNet>("PfkeyToNet", &recs, MAX_MESSAGE);
    receive::<CtlRequest>("CtlRequest", &recs, MAX_MESSAGE);
    receive::<CredToNet>("CredToNet", &recs, MAX_CRED_MESSAGE);
    // ike-cred (issue 16)
    receive::<ParentToCred>("ParentToCred", &recs, MAX_LARGE_MESSAGE);
    receive::<NetToCred>("NetToCred", &recs, MAX_CRED_MESSAGE);
    // ike-pfkey
    receive::<ParentToPfkey>("ParentToPfkey", &recs, MAX_LARGE_MESSAGE);
    receive::<NetToPfkey>("NetToPfkey", &recs, MAX_MESSAGE);
    // the parent, and ike-ctl
    receive::<NetToParent>("NetToParent", &recs, MAX_MESSAGE);
    receive::<PfkeyToParent>("PfkeyToParent", &recs, MAX_MESSAGE);
    receive::<CredToParent>("CredToParent", &recs, MAX_MESSAGE);
    receive::<CtlResponse>("CtlResponse", &recs, MAX_MESSAGE);
});

/// The largest heap growth seen per type, printed when it grows (figures
/// for fuzz/README.md).
static MAX_SEEN: std::sync::Mutex<Vec<(&str, usize)>> = std::sync::Mutex::new(Vec::new());

fn receive<T>(name: &'static str, recs: &[Record], cap: usize)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let (tx, mut rx): (Channel<T, T>, Channel<T, T>) = pair().expect("socketpair");
    rx.set_max_message(cap);
    rx.set_nonblocking(true).expect("non-blocking");
    let base = ipc_common::live();
    // Bytes sent in fragments so far: what reassembly can have kept.
    let mut fragment_bytes = 0usize;
    let mut worst = 0usize;
    // The largest packet so far: the channel keeps the capacity of the
    // queue that held the values of its largest batch.
    let mut largest = 0usize;
    let mut last: Option<T> = None;
    for r in recs {
        largest = largest.max(r.bytes.len());
        for _ in 0..r.repeat {
            if send_packet(tx.as_fd(), &r.bytes, &[]).is_err() {
                continue;
            }
            if matches!(r.bytes.get(4), Some(2 | 3)) {
                fragment_bytes = fragment_bytes.saturating_add(r.bytes.len());
            }
            // One packet waits at a time: drain it.
            loop {
                ipc_common::reset_peak();
                let got = rx.recv();
                let grown = ipc_common::peak().saturating_sub(base);
                let bound = MAX_MESSAGE
                    + cap.min(fragment_bytes)
                    + 4 * std::mem::size_of::<T>() * largest
                    + SERDE_PREALLOC;
                assert!(
                    grown <= bound,
                    "{name}: one recv grew the heap by {grown} bytes (bound {bound})"
                );
                worst = worst.max(grown);
                match got {
                    Ok(m) => {
                        if ipc_common::verbose() {
                            eprintln!("{name}: received {:.100}", format!("{:?}", m.msg));
                        }
                        // A batch is often thousands of equal values: check
                        // each distinct run once (the held value counts in
                        // the next measurement; the bound's slack covers it).
                        if last.as_ref() != Some(&m.msg) {
                            round_trip(&m.msg, cap);
                        }
                        last = Some(m.msg);
                    }
                    Err(e) if e.is_would_block() => break,
                    // A zero-length packet reads as Closed; tx is still open.
                    Err(ChannelError::Closed) => {}
                    Err(_) => {}
                }
            }
        }
    }
    if let Ok(mut seen) = MAX_SEEN.lock() {
        match seen.iter_mut().find(|(n, _)| *n == name) {
            Some((_, w)) if *w >= worst => {}
            Some((_, w)) => {
                *w = worst;
                eprintln!("ipc_recv: {name}: largest heap growth in one recv {worst} bytes");
            }
            None => seen.push((name, worst)),
        }
    }
}

/// What was decoded encodes, and decodes to itself, whole and as fragments.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(v: &T, cap: usize) {
    let body = envelope::payload(v).expect("a received value re-encodes");
    let again: T = envelope::decode_one(&body).expect("a re-encoded value decodes");
    assert_eq!(&again, v);
    let packets = envelope::packets(&body);
    let mut r = Reassembly::new(cap.max(body.len()));
    let mut out = None;
    for p in &packets {
        let (kind, b) = envelope::split(p).expect("our own packet");
        out = match kind {
            envelope::Kind::One => Some(envelope::decode_one::<T>(b).expect("our own packet")),
            k => r.push(k, b).expect("our own fragments"),
        };
    }
    assert_eq!(out.as_ref(), Some(v));
}

fn config() -> Config {
    ike_parent::config::parse_str(
        "ike.conf",
        include_str!("../../etc/ike.conf"),
        std::path::Path::new("/nonexistent"),
    )
    .unwrap_or_default()
}

fn privdrop() -> PrivDrop {
    PrivDrop {
        chroot: "/var/empty".into(),
        uid: 65534,
        gid: 65534,
    }
}

/// Valid encodings of each type: single, batched, fragmented.
fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    fn add<T: Serialize>(out: &mut Vec<(String, Vec<u8>)>, name: &str, vs: &[T]) {
        for (i, v) in vs.iter().enumerate() {
            out.push((format!("{name}-{i}"), record(0, &one(v))));
        }
        if vs.len() >= 2 {
            out.push((format!("{name}-batch"), record(0, &batch(vs))));
        }
        if let Some(v) = vs.first() {
            let frags: Vec<u8> = fragments(v, 3).iter().flat_map(|p| record(0, p)).collect();
            out.push((format!("{name}-fragments"), frags));
        }
    }
    let ip = |s: &str| s.parse().expect("address");
    add(
        &mut out,
        "ParentToNet",
        &[
            ParentToNet::Init(Box::new(NetInit {
                privdrop: privdrop(),
                log_level: LogLevel::Info,
                listen: vec![ListenSocket {
                    addr: "192.0.2.1:500".parse().expect("address"),
                    natt: false,
                }],
                control_uid: 0,
                config: config(),
            })),
            ParentToNet::Reload(Box::new(config())),
            ParentToNet::SetLogLevel(LogLevel::Debug),
            ParentToNet::Shutdown,
        ],
    );
    add(
        &mut out,
        "ParentToPfkey",
        &[
            ParentToPfkey::Init(Box::new(PfkeyInit {
                privdrop: privdrop(),
                log_level: LogLevel::Info,
                config: config().broker_view(),
                natt_port: 4500,
            })),
            ParentToPfkey::Reload(Box::new(config().broker_view())),
            ParentToPfkey::SetLogLevel(LogLevel::Trace),
            ParentToPfkey::Shutdown,
        ],
    );
    let id = SaId {
        proto: IpsecProtocol::Esp,
        spi: 0x1234,
        src: ip("192.0.2.1"),
        dst: ip("192.0.2.2"),
    };
    add(
        &mut out,
        "NetToPfkey",
        &[
            NetToPfkey::Request {
                id: 1,
                req: BrokerRequest::GetSpi {
                    proto: IpsecProtocol::Esp,
                    src: ip("192.0.2.2"),
                    dst: ip("192.0.2.1"),
                    mode: Encapsulation::Tunnel,
                    reqid: 7,
                    acquire_seq: 0,
                },
            },
            NetToPfkey::Request {
                id: 2,
                req: BrokerRequest::DeleteSa(id),
            },
            NetToPfkey::Request {
                id: 3,
                req: BrokerRequest::Dump,
            },
        ],
    );
    add(
        &mut out,
        "PfkeyToNet",
        &[
            PfkeyToNet::Ready(Supported {
                encryption: vec![ike_ipc::config::Encryption::Aes128Cbc],
                integrity: vec![ike_ipc::config::Integrity::HmacSha1],
                esn: true,
                fwd_policies: true,
            }),
            PfkeyToNet::Reply {
                id: 1,
                result: Ok(KernelReply::Spi(0x1234)),
            },
            PfkeyToNet::Event(BrokerEvent::Acquire {
                seq: 3,
                proto: IpsecProtocol::Esp,
                src: ip("192.0.2.1"),
                dst: ip("192.0.2.2"),
                policy: None,
                packet: None,
                mode: Some(Encapsulation::Tunnel),
                reqid: 7,
            }),
        ],
    );
    add(
        &mut out,
        "CtlRequest",
        &[
            CtlRequest::ShowSa,
            CtlRequest::Up("tunnel".into()),
            CtlRequest::LogVerbose(true),
            CtlRequest::ShowPolicyJson,
        ],
    );
    add(
        &mut out,
        "CtlResponse",
        &[
            CtlResponse::Ok,
            CtlResponse::Stats(Stats {
                drops: vec![("malformed".into(), 3)],
                ..Stats::default()
            }),
            CtlResponse::Part("sa 1\n".into()),
            CtlResponse::Text("sa 2\n".into()),
        ],
    );
    add(
        &mut out,
        "NetToParent",
        &[
            NetToParent::Ready,
            NetToParent::ReloadRequest,
            NetToParent::Fatal("x".into()),
        ],
    );
    add(
        &mut out,
        "PfkeyToParent",
        &[PfkeyToParent::Ready, PfkeyToParent::Fatal("x".into())],
    );
    add(
        &mut out,
        "ParentToCred",
        &[
            ParentToCred::Init(Box::new(CredInit {
                privdrop: privdrop(),
                log_level: LogLevel::Info,
                config: config(),
            })),
            ParentToCred::Reload(Box::new(config())),
            ParentToCred::Shutdown,
        ],
    );
    add(
        &mut out,
        "NetToCred",
        &[
            NetToCred {
                id: 1,
                policy: "p".into(),
                op: CredOp::PskAuth {
                    prf: 5,
                    octets: vec![0x21; 120],
                },
            },
            NetToCred {
                id: 2,
                policy: "p".into(),
                op: CredOp::Sign {
                    how: SignMethod::Rfc7427(0),
                    prf: 5,
                    octets: vec![0x21; 120],
                },
            },
        ],
    );
    add(
        &mut out,
        "CredToNet",
        &[
            CredToNet {
                id: 1,
                answer: CredAnswer::Verdict(true),
            },
            CredToNet {
                id: 2,
                answer: CredAnswer::Refused("no".into()),
            },
        ],
    );
    add(
        &mut out,
        "CredToParent",
        &[CredToParent::Ready, CredToParent::Fatal("x".into())],
    );
    out
}
