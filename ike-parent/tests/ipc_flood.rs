//! Floods on every IPC channel (issue 12): nothing is lost, nothing is fatal.
//!
//! - ike-net -> ike-pfkey -> ike-net: the real broker binary, fed far more
//!   requests than the socket holds by a worker that does not read for a
//!   while; every request gets its one reply and the broker lives on.
//! - ike-ctl -> ike-net -> ike-ctl: a control client that sends thousands of
//!   requests before it reads any answer.
//! - parent <-> children: a configuration of 10,000 policies (several MiB,
//!   so in fragments) at start and in a burst of reloads.
//!
//! The flooding sides use only `send` and `recv` (no queue): the same test
//! ran against the code before the queues, where it failed (see the commit).
//! Needs root (chroot, setuid in the children), like process_tree.

mod common;

use common::*;
use ike_ipc::channel::{raw_pair, Channel};
use ike_ipc::msg::pfkey::{BrokerRequest, NetToPfkey, PfkeyToNet, SaId};
use ike_ipc::msg::{
    CtlRequest, CtlResponse, LogLevel, ParentToPfkey, PfkeyInit, PfkeyToParent, PrivDrop,
};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// Receive timeout on a channel end (blocking sends stay untimed).
fn recv_timeout(fd: std::os::fd::BorrowedFd<'_>, t: Duration) {
    use nix::sys::socket::{setsockopt, sockopt::ReceiveTimeout};
    let tv = nix::sys::time::TimeVal::new(t.as_secs() as i64, t.subsec_micros() as i64);
    setsockopt(&fd, ReceiveTimeout, &tv).unwrap();
}

/// The broker binary alone, with a socketpair as its ike-net channel.
#[test]
fn the_broker_answers_every_request_of_a_flood_and_lives() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let dir = scratch("flood-broker");
    let chroot = dir.join("empty");
    std::fs::create_dir(&chroot).unwrap();
    let pf = PfkeyStandIn::start(&dir);
    let kernel = ike_ipc::pfkey_unix::connect_pfkey(&pf.path).unwrap();
    let (parent_end, parent_child) = raw_pair().unwrap();
    let (net_end, net_child) = raw_pair().unwrap();
    let mut child = ike_parent::spawn::spawn(
        &bin_dir().join("ike-pfkey"),
        &[
            (parent_child.as_fd(), 3),
            (net_child.as_fd(), 4),
            (kernel.as_fd(), 5),
        ],
    )
    .unwrap();
    drop((parent_child, net_child, kernel));
    let log = std::thread::spawn({
        let mut err = child.stderr.take().unwrap();
        move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut err, &mut s);
            s
        }
    });
    let conf = "ikev2 \"p\" passive esp tunnel from 10.1.0.0/16 to 10.2.0.0/16 \
                local 127.0.0.1 peer 127.0.0.2 psk \"secret\"\n";
    let config = ike_parent::config::parse_str("flood", conf, &dir).unwrap();
    let mut parent: Channel<ParentToPfkey, PfkeyToParent> = Channel::from_fd(parent_end);
    parent
        .send(&ParentToPfkey::Init(Box::new(PfkeyInit {
            privdrop: PrivDrop {
                chroot: chroot.to_str().unwrap().into(),
                uid: 65534,
                gid: 65534,
            },
            log_level: LogLevel::Info,
            config: ike_parent::settings::broker_view(&config),
            natt_port: 4500,
        })))
        .unwrap();
    assert_eq!(parent.recv().unwrap().msg, PfkeyToParent::Ready);

    // Two ends on one socket: a blocking writer (thread) and a reader.
    let writer: Channel<NetToPfkey, PfkeyToNet> = Channel::from_fd(net_end.try_clone().unwrap());
    let mut reader: Channel<NetToPfkey, PfkeyToNet> = Channel::from_fd(net_end);
    recv_timeout(reader.as_fd(), Duration::from_secs(10));
    assert!(matches!(reader.recv().unwrap().msg, PfkeyToNet::Ready(_)));

    // Half kernel round trips (GETSPI, allowed until the larval cap, then
    // refused), half refusals by the allow-list (GET of an SA not ours).
    const N: u64 = 20_000;
    let t = std::thread::spawn(move || {
        for id in 0..N {
            let req = if id % 2 == 0 {
                BrokerRequest::GetSpi {
                    proto: ike_ipc::config::IpsecProtocol::Esp,
                    src: "127.0.0.2".parse().unwrap(),
                    dst: "127.0.0.1".parse().unwrap(),
                    mode: ike_ipc::config::Encapsulation::Tunnel,
                    reqid: 0,
                    acquire_seq: 0,
                }
            } else {
                BrokerRequest::GetSa(SaId {
                    proto: ike_ipc::config::IpsecProtocol::Esp,
                    spi: 0x5000_0000 + id as u32,
                    src: "127.0.0.1".parse().unwrap(),
                    dst: "127.0.0.2".parse().unwrap(),
                })
            };
            writer.send(&NetToPfkey::Request { id, req }).unwrap();
        }
        writer
    });
    // Not reading for a while: the broker's replies overflow the socket.
    std::thread::sleep(Duration::from_secs(2));
    let mut seen = vec![false; N as usize];
    let mut count = 0;
    let t0 = Instant::now();
    while count < N {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "{count} of {N} replies"
        );
        match reader.recv() {
            Ok(r) => {
                if let PfkeyToNet::Reply { id, .. } = r.msg {
                    assert!(!seen[id as usize], "reply {id} twice");
                    seen[id as usize] = true;
                    count += 1;
                }
            }
            Err(e) => panic!("after {count} replies: {e}"),
        }
    }
    let _writer = t.join().unwrap();
    assert!(child.try_wait().unwrap().is_none(), "the broker exited");
    parent.send(&ParentToPfkey::Shutdown).unwrap();
    let st = child.wait().unwrap();
    let log = log.join().unwrap();
    assert!(st.success(), "{st:?}\n{log}");
    // The flood did fill the queue (counted and logged, not fatal), and
    // no send failed.
    assert!(
        log.contains("ike-net channel: outgoing queue full"),
        "{log}"
    );
    assert!(!log.contains("temporarily unavailable"), "{log}");
    assert!(!log.contains("closed by ike-net"), "{log}");
}

/// `n` policies, one peer each (10.0.0.0/8 addresses), PSK.
fn many_policies(n: u32) -> String {
    let mut s = String::with_capacity(n as usize * 200);
    for i in 0..n {
        let (a, b) = (i >> 8, i & 0xff);
        s.push_str(&format!(
            "ikev2 \"p{i}\" passive esp from 10.{a}.{b}.0/24 to 172.16.{a}.0/24 \
             peer 10.200.{a}.{b} psk \"s{i}\"\n"
        ));
    }
    s
}

/// Control socket flood, and the configuration of 10,000 policies at start
/// and in a burst of reloads, through a real tree.
#[test]
fn a_tree_with_10000_policies_survives_control_and_reload_floods() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let conf = many_policies(10_000);
    let mut t = Tree::start(
        "flood-tree",
        TreeOpts {
            conf: &conf,
            ..TreeOpts::default()
        },
    );

    // Every policy reached ike-net (the configuration was several MiB).
    match ike_parent::ctl::request(&t.control, &CtlRequest::ShowPolicy).unwrap() {
        CtlResponse::Text(text) => {
            assert_eq!(
                text.matches("\npolicy p").count() + 1,
                10_000,
                "{}",
                &text[..200]
            );
            assert!(text.contains("policy p9999 "));
        }
        other => panic!("{other:?}"),
    }

    // A client that writes 5,000 requests before reading an answer.
    let c = ike_parent::ctl::connect_control(&t.control).unwrap();
    let writer: Channel<CtlRequest, CtlResponse> =
        Channel::from_fd(c.as_fd().try_clone_to_owned().unwrap());
    let mut reader = c;
    recv_timeout(reader.as_fd(), Duration::from_secs(30));
    const N: usize = 5_000;
    let w = std::thread::spawn(move || {
        for _ in 0..N {
            writer.send(&CtlRequest::ShowStats).unwrap();
        }
        writer
    });
    std::thread::sleep(Duration::from_secs(1));
    for i in 0..N {
        match reader.recv() {
            Ok(r) => assert!(matches!(r.msg, CtlResponse::Stats(_)), "{:?}", r.msg),
            Err(e) => panic!("answer {i} of {N}: {e}"),
        }
    }
    drop(w.join().unwrap());

    // A burst of reloads, each a few MiB to both children.
    for _ in 0..20 {
        assert_eq!(
            ike_parent::ctl::request(&t.control, &CtlRequest::Reload).unwrap(),
            CtlResponse::Ok
        );
    }
    assert!(
        t.wait_log("configuration reloaded", Duration::from_secs(60))
            .is_some(),
        "{}",
        t.log_text()
    );
    // Still serving, nothing failed.
    assert!(matches!(
        ike_parent::ctl::request(&t.control, &CtlRequest::ShowStats).unwrap(),
        CtlResponse::Stats(_)
    ));
    assert!(alive(t.net_pid) && alive(t.pfkey_pid));
    let log = t.log_text();
    assert!(!log.contains("fail closed"), "{log}");
    assert!(!log.contains("ERROR"), "{log}");
}
