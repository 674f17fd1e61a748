//! A compromised ike-net: it drives the broker through the real ike-net <->
//! ike-pfkey channel (postcard envelopes over a SOCK_SEQPACKET socketpair) and
//! asks for everything it should not get. The kernel is the PF_KEY simulator
//! on a Unix socket; a second PF_KEY user on the same "host" owns an SA and a
//! policy that sit inside our configured addresses. Refusals must leave the
//! kernel untouched; the configured requests must still work.

mod common;

use common::*;
use ike_ipc::channel::{pair, send_packet, Channel};
use ike_ipc::config::{Encapsulation, Encryption, Integrity, IpsecProtocol, Secret};
use ike_ipc::msg::pfkey::{
    BrokerPolicyParams, BrokerRequest, BrokerSaParams, KernelError, KernelReply, NatT, NetToPfkey,
    PfkeyToNet, PolicyDir,
};
use ike_ipc::pfkey_unix::connect_pfkey;
use ike_pfkey::broker::blocking::BlockingBroker;
use ike_pfkey::dialect::{Dialect, MsgType, SaType, IPSEC_DIR_OUTBOUND};
use ike_pfkey::sim::server::{Server, ServerConfig};
use ike_pfkey::sim::SimConfig;
use ike_pfkey::wire::{Header, Message};
use nix::sys::socket::{recv, send, MsgFlags};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Duration;

fn sa(spi: u32, src: &str, dst: &str) -> BrokerSaParams {
    sa_params(spi, src, dst, Encapsulation::Tunnel)
}

fn add_sa(spi: u32, src: &str, dst: &str) -> BrokerRequest {
    BrokerRequest::AddSa(Box::new(sa(spi, src, dst)))
}

/// An outbound tunnel policy between `ends`.
fn out(src: &str, dst: &str, ends: (&str, &str)) -> BrokerPolicyParams {
    policy(PolicyDir::Out, src, dst, ends)
}

/// The other PF_KEY user: one raw message, one answer.
fn raw_call(fd: &OwnedFd, m: &Message) -> Message {
    send(
        fd.as_raw_fd(),
        &m.emit(Dialect::Linux).unwrap(),
        MsgFlags::empty(),
    )
    .unwrap();
    let mut buf = vec![0u8; 65536];
    loop {
        let n = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()).unwrap();
        let r = Message::parse(Dialect::Linux, &buf[..n]).unwrap();
        if r.header.pid == 999 && r.header.seq == m.header.seq {
            return r;
        }
    }
}

/// One round trip through the channel: worker sends, broker serves, worker reads.
fn ask(
    worker: &mut Channel<NetToPfkey, PfkeyToNet>,
    broker_end: &mut Channel<PfkeyToNet, NetToPfkey>,
    bb: &mut BlockingBroker,
    id: u64,
    req: BrokerRequest,
) -> Result<KernelReply, KernelError> {
    worker.send(&NetToPfkey::Request { id, req }).unwrap();
    let got = broker_end.recv().unwrap().msg;
    for out in bb.serve(got).unwrap() {
        broker_end.send(&out).unwrap();
    }
    loop {
        if let PfkeyToNet::Reply { id: rid, result } = worker.recv().unwrap().msg {
            assert_eq!(rid, id);
            return result;
        }
    }
}

#[test]
fn a_malicious_worker_gets_only_what_the_configuration_allows() {
    let socket = tmp("mal.sock");
    let server = Server::start(ServerConfig {
        socket: socket.clone(),
        control: None,
        sim: SimConfig::default(),
    })
    .unwrap();

    // Another key manager on the host owns SPI 0x9999 between our configured
    // addresses, and a policy for our configured selectors' neighbours.
    let other = connect_pfkey(&socket).unwrap();
    let foreign = raw_sa(
        Header::new(MsgType::Add, SaType::Esp, 1, 999),
        0x9999,
        "192.0.2.1",
        "192.0.2.2",
        7,
    );
    assert_eq!(raw_call(&other, &foreign).header.errno, 0);
    let foreign_pol = raw_spd(
        Header::new(MsgType::SpdAdd, SaType::Unspec, 2, 999),
        IPSEC_DIR_OUTBOUND,
        "10.3.0.0/16",
        "10.4.0.0/16",
        ("192.0.2.1", "192.0.2.2"),
        0,
    );
    assert_eq!(raw_call(&other, &foreign_pol).header.errno, 0);
    // ... and one inside our configured flow, which ike-net's SPDADD of the
    // same selectors meets as EEXIST.
    let foreign_inside = raw_spd(
        Header::new(MsgType::SpdAdd, SaType::Unspec, 3, 999),
        IPSEC_DIR_OUTBOUND,
        "10.1.5.0/24",
        "10.2.0.0/16",
        ("192.0.2.1", "192.0.2.2"),
        0,
    );
    assert_eq!(raw_call(&other, &foreign_inside).header.errno, 0);

    // The configured child's proposal: AES-128-CBC + HMAC-SHA1 or
    // AES-256-GCM, no ESN; lifetime 3,600 s and 1 GiB (test_support).
    let mut allowed = allowed_tunnel();
    allowed.children[0]
        .sa
        .suites
        .retain(|s| !s.esn && s.integrity != Some(Integrity::HmacSha2_256));
    allowed.children[0].sa.max_seconds = 3600;
    let cfg = broker_config(Dialect::Linux, allowed);
    let (mut bb, _supported) = BlockingBroker::start(connect_pfkey(&socket).unwrap(), cfg).unwrap();
    let (mut worker, mut broker_end) = pair::<NetToPfkey, PfkeyToNet>().unwrap();
    let mut id = 0;
    let mut call = |req: BrokerRequest| {
        id += 1;
        ask(&mut worker, &mut broker_end, &mut bb, id, req)
    };
    let refused = |r: Result<KernelReply, KernelError>| matches!(r, Err(KernelError::Refused(_)));

    // What the configuration allows works.
    let spi = match call(getspi("192.0.2.2", "192.0.2.1", Encapsulation::Tunnel)) {
        Ok(KernelReply::Spi(s)) => s,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        call(BrokerRequest::UpdateSa(Box::new(sa(
            spi,
            "192.0.2.2",
            "192.0.2.1"
        )))),
        Ok(KernelReply::Done)
    );
    assert_eq!(
        call(add_sa(0x5001, "192.0.2.1", "192.0.2.2")),
        Ok(KernelReply::Done)
    );
    let ends = ("192.0.2.1", "192.0.2.2");
    assert_eq!(
        call(BrokerRequest::AddPolicy(out(
            "10.1.0.0/16",
            "10.2.0.0/16",
            ends
        ))),
        Ok(KernelReply::Done)
    );

    // Unconfigured peers, protocols, modes.
    let stranger = getspi("198.51.100.7", "192.0.2.1", Encapsulation::Tunnel);
    assert!(refused(call(stranger)));
    assert!(refused(call(add_sa(0x5002, "192.0.2.1", "198.51.100.7"))));
    let mut ah = sa(0x5003, "192.0.2.1", "192.0.2.2");
    ah.id.proto = IpsecProtocol::Ah;
    ah.encryption = None;
    assert!(refused(call(BrokerRequest::AddSa(Box::new(ah)))));
    let mut transport = sa(0x5004, "192.0.2.1", "192.0.2.2");
    transport.mode = Encapsulation::Transport;
    assert!(refused(call(BrokerRequest::AddSa(Box::new(transport)))));
    // Unconfigured selectors and tunnel endpoints.
    assert!(refused(call(BrokerRequest::AddPolicy(out(
        "0.0.0.0/0",
        "10.2.0.0/16",
        ends
    )))));
    assert!(refused(call(BrokerRequest::AddPolicy(out(
        "10.3.0.0/16",
        "10.4.0.0/16",
        ends
    )))));
    assert!(refused(call(BrokerRequest::AddPolicy(out(
        "10.1.0.0/16",
        "10.2.0.0/16",
        ("192.0.2.1", "203.0.113.66")
    )))));
    // The other daemon's SPI, although between configured addresses.
    let theirs = esp_id(0x9999, "192.0.2.1", "192.0.2.2");
    assert!(refused(call(BrokerRequest::GetSa(theirs))));
    assert!(refused(call(BrokerRequest::DeleteSa(theirs))));
    assert!(refused(call(BrokerRequest::UpdateSa(Box::new(sa(
        0x9999,
        "192.0.2.1",
        "192.0.2.2"
    ))))));
    assert!(
        refused(call(add_sa(0x5001, "192.0.2.1", "192.0.2.2"))),
        "ours: UPDATE it"
    );
    // Our own SA with the addresses swapped is not ours.
    let spoof = esp_id(0x5001, "192.0.2.9", "192.0.2.2");
    assert!(refused(call(BrokerRequest::DeleteSa(spoof))));
    // The other daemon's policy, and a policy we never installed.
    assert!(refused(call(BrokerRequest::DeletePolicy(out(
        "10.3.0.0/16",
        "10.4.0.0/16",
        ends
    )))));
    assert!(refused(call(BrokerRequest::DeletePolicy(policy(
        PolicyDir::In,
        "10.2.0.0/16",
        "10.1.0.0/16",
        ends
    )))));
    // An ACQUIRE nobody sent.
    assert!(refused(call(BrokerRequest::AcquireFailed {
        seq: 1,
        proto: IpsecProtocol::Esp
    })));

    // Issue 16: an SA of the configured policy, but not with what the
    // policy's proposals and lifetime allow.
    let bad_sa = |f: &dyn Fn(&mut BrokerSaParams)| {
        let mut p = sa(0x5100, "192.0.2.1", "192.0.2.2");
        f(&mut p);
        BrokerRequest::AddSa(Box::new(p))
    };
    let refusals: Vec<(&str, &str, BrokerRequest)> = vec![
        (
            "NULL encryption",
            "child proposals",
            bad_sa(&|p| {
                p.encryption = Some(Encryption::Null);
                p.enc_key = Secret::new(vec![]);
            }),
        ),
        (
            "3DES",
            "child proposals",
            bad_sa(&|p| {
                p.encryption = Some(Encryption::TripleDes);
                p.enc_key = Secret::new(vec![1; 24]);
            }),
        ),
        (
            "HMAC-MD5",
            "child proposals",
            bad_sa(&|p| {
                p.integrity = Some(Integrity::HmacMd5);
                p.auth_key = Secret::new(vec![1; 16]);
            }),
        ),
        (
            "AES-256-CBC (key length not configured)",
            "child proposals",
            bad_sa(&|p| {
                p.encryption = Some(Encryption::Aes256Cbc);
                p.enc_key = Secret::new(vec![1; 32]);
            }),
        ),
        (
            "short key",
            "takes 16",
            bad_sa(&|p| p.enc_key = Secret::new(vec![1; 8])),
        ),
        (
            "no integrity with CBC",
            "child proposals",
            bad_sa(&|p| {
                p.integrity = None;
                p.auth_key = Secret::new(vec![]);
            }),
        ),
        ("ESN not configured", "esn true", bad_sa(&|p| p.esn = true)),
        ("hard time 0", "unlimited", bad_sa(&|p| p.hard.seconds = 0)),
        ("soft time 0", "unlimited", bad_sa(&|p| p.soft.seconds = 0)),
        ("hard bytes 0", "unlimited", bad_sa(&|p| p.hard.bytes = 0)),
        (
            "hard time too long",
            "above the configured",
            bad_sa(&|p| p.hard.seconds = 3600 * 2),
        ),
        (
            "hard bytes too many",
            "above the configured",
            bad_sa(&|p| {
                p.hard.bytes = TEST_BYTES * 2;
            }),
        ),
        (
            "soft after hard",
            "after the hard",
            bad_sa(&|p| p.soft.seconds = 3601),
        ),
        (
            "replay window 0",
            "replay window",
            bad_sa(&|p| p.replay_window = 0),
        ),
        (
            "NAT-T from another port of ours",
            "port 4500",
            bad_sa(&|p| {
                p.natt = Some(NatT {
                    sport: 500,
                    dport: 4500,
                })
            }),
        ),
        (
            "reqid above 0x3fff",
            "above 0x3fff",
            bad_sa(&|p| p.reqid = 0x4000),
        ),
        (
            "policy reqid above 0x3fff",
            "above 0x3fff",
            BrokerRequest::AddPolicy(BrokerPolicyParams {
                reqid: 0x4000,
                ..out("10.1.0.0/16", "10.2.0.0/16", ends)
            }),
        ),
        (
            "GETSPI echoing an ACQUIRE never passed on",
            "no ACQUIRE",
            BrokerRequest::GetSpi {
                proto: IpsecProtocol::Esp,
                src: ip("192.0.2.2"),
                dst: ip("192.0.2.1"),
                mode: Encapsulation::Tunnel,
                reqid: REQID,
                acquire_seq: 4711,
            },
        ),
        (
            "another daemon's policy met as EEXIST",
            "did not install",
            // reqid 0 binds nothing: what meets the EEXIST is the SPDADD.
            BrokerRequest::AddPolicy(BrokerPolicyParams {
                reqid: 0,
                ..out("10.1.5.0/24", "10.2.0.0/16", ends)
            }),
        ),
    ];
    for (what, why, req) in refusals {
        match call(req) {
            Err(KernelError::Refused(w)) if w.contains(why) => {}
            other => panic!("{what}: refused for \"{why}\" expected, got {other:?}"),
        }
    }
    // The same SA with what the policy allows is installed.
    assert_eq!(
        call(BrokerRequest::AddSa(Box::new(sa(
            0x5100,
            "192.0.2.1",
            "192.0.2.2"
        )))),
        Ok(KernelReply::Done)
    );
    let mut natt = sa(0x5101, "192.0.2.1", "192.0.2.2");
    natt.natt = Some(NatT {
        sport: 4500,
        dport: 40000,
    });
    assert_eq!(
        call(BrokerRequest::AddSa(Box::new(natt))),
        Ok(KernelReply::Done)
    );

    // Whole-table operations: never.
    for r in [
        BrokerRequest::Flush,
        BrokerRequest::Dump,
        BrokerRequest::SpdFlush,
        BrokerRequest::SpdDump,
    ] {
        assert!(refused(call(r)));
    }
    // Bytes that are no request at all never reach the broker as one.
    send_packet(worker.as_fd(), b"\x00\x01garbage", &[]).unwrap();
    assert!(broker_end.recv().is_err());

    // The kernel: the foreign SA and policy are untouched, ours are there.
    server.with_engine(|e| {
        let sas: Vec<(u32, [u8; 16])> = e
            .sas()
            .map(|s| {
                let mut k = [0u8; 16];
                if let Some(key) = &s.key_enc {
                    k.copy_from_slice(&key.data[..16]);
                }
                (s.spi, k)
            })
            .collect();
        assert!(
            sas.contains(&(0x9999, [8; 16])),
            "foreign SA intact, keys unchanged: {sas:?}"
        );
        assert!(sas.iter().any(|(s, _)| *s == spi));
        assert!(sas.iter().any(|(s, _)| *s == 0x5001));
        assert_eq!(sas.len(), 5);
        // Ours and the other daemon's two, the EEXIST one unchanged.
        assert_eq!(e.policies().len(), 3);
    });

    // On exit the broker removes its own SAs and policy, nothing else.
    bb.shutdown(Duration::from_secs(5)).unwrap();
    server.with_engine(|e| {
        assert_eq!(e.sas().map(|s| s.spi).collect::<Vec<_>>(), [0x9999]);
        // The other daemon's policies stay: the one met as EEXIST was not
        // adopted, so it is not deleted at exit.
        assert_eq!(e.policies().len(), 2);
    });
    let _ = std::fs::remove_file(&socket);
}

/// One Lease message through the channel (no reply).
fn lease(
    worker: &mut Channel<NetToPfkey, PfkeyToNet>,
    broker_end: &mut Channel<PfkeyToNet, NetToPfkey>,
    bb: &mut BlockingBroker,
    peer: &str,
    addr: &str,
    lent: bool,
) {
    worker
        .send(&NetToPfkey::Lease {
            peer: ip(peer),
            addrs: vec![ip(addr)],
            lent,
        })
        .unwrap();
    let got = broker_end.recv().unwrap().msg;
    for out in bb.serve(got).unwrap() {
        broker_end.send(&out).unwrap();
    }
}

/// Issue 15: a `to dynamic` gateway's flow covers its whole address pool;
/// the broker allows a policy into the pool only for one address, lent to
/// the peer at the tunnel's far end, and an address to one peer at a time.
#[test]
fn a_malicious_worker_gets_pool_addresses_only_as_lent() {
    let socket = tmp("mal-pool.sock");
    let _server = Server::start(ServerConfig {
        socket: socket.clone(),
        control: None,
        sim: SimConfig::default(),
    })
    .unwrap();
    let mut allowed = allowed_tunnel();
    allowed.children = vec![esp_child(
        "192.0.2.1",
        "0.0.0.0/0",
        Encapsulation::Tunnel,
        flow("10.1.0.0/16", "10.9.0.0/24"),
    )];
    allowed.pools = vec![net("10.9.0.0/24")];
    let cfg = broker_config(Dialect::Linux, allowed);
    let (mut bb, _supported) = BlockingBroker::start(connect_pfkey(&socket).unwrap(), cfg).unwrap();
    let (mut w, mut be) = pair::<NetToPfkey, PfkeyToNet>().unwrap();
    let refused = |r: &Result<KernelReply, KernelError>| matches!(r, Err(KernelError::Refused(_)));
    let client = ("192.0.2.1", "192.0.2.2");
    let to = |dst: &str, ends| BrokerRequest::AddPolicy(out("10.1.0.0/16", dst, ends));

    // Lent to no one: refused.
    let r = ask(&mut w, &mut be, &mut bb, 1, to("10.9.0.5/32", client));
    assert!(refused(&r), "{r:?}");
    // Lent to another peer: refused; that peer's lease cannot be taken
    // over by lending it again, nor given back by someone else.
    lease(&mut w, &mut be, &mut bb, "192.0.2.3", "10.9.0.5", true);
    lease(&mut w, &mut be, &mut bb, "192.0.2.2", "10.9.0.5", true);
    lease(&mut w, &mut be, &mut bb, "192.0.2.2", "10.9.0.5", false);
    let r = ask(&mut w, &mut be, &mut bb, 2, to("10.9.0.5/32", client));
    assert!(refused(&r), "{r:?}");
    assert_eq!(bb.broker.owned().leases.len(), 1);
    // Given back by its holder, lent to our client: allowed.
    lease(&mut w, &mut be, &mut bb, "192.0.2.3", "10.9.0.5", false);
    lease(&mut w, &mut be, &mut bb, "192.0.2.2", "10.9.0.5", true);
    let r = ask(&mut w, &mut be, &mut bb, 3, to("10.9.0.5/32", client));
    assert!(r.is_ok(), "{r:?}");
    // The whole pool, or a neighbour of the lease: refused.
    let r = ask(&mut w, &mut be, &mut bb, 4, to("10.9.0.0/24", client));
    assert!(refused(&r), "{r:?}");
    let r = ask(&mut w, &mut be, &mut bb, 5, to("10.9.0.6/32", client));
    assert!(refused(&r), "{r:?}");
    // An address outside every pool is never recorded as lent.
    lease(&mut w, &mut be, &mut bb, "192.0.2.2", "10.8.0.1", true);
    assert_eq!(bb.broker.owned().leases.len(), 1);
    // Released: the next policy for it is refused again.
    lease(&mut w, &mut be, &mut bb, "192.0.2.2", "10.9.0.5", false);
    let r = ask(
        &mut w,
        &mut be,
        &mut bb,
        6,
        BrokerRequest::AddPolicy(policy(
            PolicyDir::In,
            "10.9.0.5/32",
            "10.1.0.0/16",
            ("192.0.2.2", "192.0.2.1"),
        )),
    );
    assert!(refused(&r), "{r:?}");
}
