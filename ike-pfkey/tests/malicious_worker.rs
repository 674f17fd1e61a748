//! A compromised ike-net: it drives the broker through the real ike-net <->
//! ike-pfkey channel (postcard envelopes over a SOCK_SEQPACKET socketpair) and
//! asks for everything it should not get. The kernel is the PF_KEY simulator
//! on a Unix socket; a second PF_KEY user on the same "host" owns an SA and a
//! policy that sit inside our configured addresses. Refusals must leave the
//! kernel untouched; the configured requests must still work.

use ike_ipc::channel::{pair, send_packet, Channel};
use ike_ipc::config::{Encapsulation, Encryption, Flow, Integrity, IpNet, IpsecProtocol, Secret};
use ike_ipc::msg::pfkey::{
    KernelError, KernelReply, KernelRequest, NetToPfkey, PfkeyToNet, PolicyDir, PolicyParams, SaId,
    SaLifetime, SaParams, Selectors,
};
use ike_ipc::pfkey_unix::connect_pfkey;
use ike_pfkey::broker::allow::{AllowedChild, AllowedSet};
use ike_pfkey::broker::blocking::BlockingBroker;
use ike_pfkey::broker::BrokerConfig;
use ike_pfkey::dialect::{Dialect, ExtKind, MsgType, SaType};
use ike_pfkey::sim::server::{Server, ServerConfig};
use ike_pfkey::sim::SimConfig;
use ike_pfkey::wire::{Address, Ext, Header, IpsecRequest, Key, Message, Policy, Sa};
use nix::sys::socket::{recv, send, MsgFlags};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::Duration;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}
fn net(s: &str) -> IpNet {
    let (a, p) = s.split_once('/').unwrap();
    IpNet::new(ip(a), p.parse().unwrap()).unwrap()
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ike-pfkey-{}-{name}", std::process::id()))
}

fn allowed() -> AllowedSet {
    AllowedSet {
        children: vec![AllowedChild {
            local: Some(ip("192.0.2.1")),
            peer: Some(net("192.0.2.2/32")),
            protocol: IpsecProtocol::Esp,
            mode: Encapsulation::Tunnel,
            flows: vec![Flow {
                proto: None,
                src: net("10.1.0.0/16"),
                src_port: None,
                dst: net("10.2.0.0/16"),
                dst_port: None,
            }],
        }],
    }
}

fn sa(spi: u32, src: &str, dst: &str) -> SaParams {
    SaParams {
        id: SaId {
            proto: IpsecProtocol::Esp,
            spi,
            src: ip(src),
            dst: ip(dst),
        },
        mode: Encapsulation::Tunnel,
        reqid: 1,
        encryption: Some(Encryption::Aes256Cbc),
        enc_key: Secret::new(vec![0x42; 32]),
        integrity: Some(Integrity::HmacSha1),
        auth_key: Secret::new(vec![0x43; 20]),
        replay_window: 32,
        esn: false,
        soft: SaLifetime::default(),
        hard: SaLifetime::default(),
        natt: None,
        acquire_seq: 0,
    }
}

fn policy(dir: PolicyDir, src: &str, dst: &str, ends: (&str, &str)) -> PolicyParams {
    PolicyParams {
        dir,
        sel: Selectors {
            src: net(src),
            dst: net(dst),
            proto: None,
            src_port: None,
            dst_port: None,
        },
        proto: IpsecProtocol::Esp,
        mode: Encapsulation::Tunnel,
        tunnel: Some((ip(ends.0), ip(ends.1))),
        reqid: 1,
    }
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
    req: KernelRequest,
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
    let foreign = Message::new(Header::new(MsgType::Add, SaType::Esp, 1, 999))
        .with(Ext::Sa(
            ExtKind::Sa,
            Sa {
                spi: 0x9999,
                replay: 0,
                state: 1,
                auth: 3,
                encrypt: 12,
                flags: 0,
            },
        ))
        .with(Ext::Address(
            ExtKind::AddressSrc,
            Address::host(ip("192.0.2.1")),
        ))
        .with(Ext::Address(
            ExtKind::AddressDst,
            Address::host(ip("192.0.2.2")),
        ))
        .with(Ext::Key(ExtKind::KeyAuth, Key::new(&[7; 20]).unwrap()))
        .with(Ext::Key(ExtKind::KeyEncrypt, Key::new(&[8; 16]).unwrap()));
    assert_eq!(raw_call(&other, &foreign).header.errno, 0);
    let sock = |s: &str| -> SocketAddr { format!("{s}:0").parse().unwrap() };
    let foreign_pol = Message::new(Header::new(MsgType::SpdAdd, SaType::Unspec, 2, 999))
        .with(Ext::Address(
            ExtKind::AddressSrc,
            Address {
                proto: 255,
                prefix_len: 16,
                addr: sock("10.3.0.0"),
            },
        ))
        .with(Ext::Address(
            ExtKind::AddressDst,
            Address {
                proto: 255,
                prefix_len: 16,
                addr: sock("10.4.0.0"),
            },
        ))
        .with(Ext::Policy(Policy {
            policy_type: 2,
            dir: 2,
            scope: 0,
            id: 0,
            priority: 0,
            requests: vec![IpsecRequest {
                proto: 50,
                mode: 2,
                level: 2,
                reqid: 0,
                tunnel: Some((sock("192.0.2.1"), sock("192.0.2.2"))),
            }],
        }));
    assert_eq!(raw_call(&other, &foreign_pol).header.errno, 0);

    let cfg = BrokerConfig {
        dialect: Dialect::Linux,
        pid: 4242,
        flush_on_start: false,
        delete_on_exit: true,
        allowed: allowed(),
        timeout: Duration::from_secs(5),
    };
    let (mut bb, _supported) = BlockingBroker::start(connect_pfkey(&socket).unwrap(), cfg).unwrap();
    let (mut worker, mut broker_end) = pair::<NetToPfkey, PfkeyToNet>().unwrap();
    let mut id = 0;
    let mut call = |req: KernelRequest| {
        id += 1;
        ask(&mut worker, &mut broker_end, &mut bb, id, req)
    };
    let refused = |r: Result<KernelReply, KernelError>| matches!(r, Err(KernelError::Refused(_)));

    // What the configuration allows works.
    let spi = match call(KernelRequest::GetSpi {
        proto: IpsecProtocol::Esp,
        src: ip("192.0.2.2"),
        dst: ip("192.0.2.1"),
        mode: Encapsulation::Tunnel,
        reqid: 1,
        acquire_seq: 0,
    }) {
        Ok(KernelReply::Spi(s)) => s,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        call(KernelRequest::UpdateSa(Box::new(sa(
            spi,
            "192.0.2.2",
            "192.0.2.1"
        )))),
        Ok(KernelReply::Done)
    );
    assert_eq!(
        call(KernelRequest::AddSa(Box::new(sa(
            0x5001,
            "192.0.2.1",
            "192.0.2.2"
        )))),
        Ok(KernelReply::Done)
    );
    let ends = ("192.0.2.1", "192.0.2.2");
    assert_eq!(
        call(KernelRequest::AddPolicy(policy(
            PolicyDir::Out,
            "10.1.0.0/16",
            "10.2.0.0/16",
            ends
        ))),
        Ok(KernelReply::Done)
    );

    // Unconfigured peers, protocols, modes.
    let stranger = KernelRequest::GetSpi {
        proto: IpsecProtocol::Esp,
        src: ip("198.51.100.7"),
        dst: ip("192.0.2.1"),
        mode: Encapsulation::Tunnel,
        reqid: 0,
        acquire_seq: 0,
    };
    assert!(refused(call(stranger)));
    assert!(refused(call(KernelRequest::AddSa(Box::new(sa(
        0x5002,
        "192.0.2.1",
        "198.51.100.7"
    ))))));
    let mut ah = sa(0x5003, "192.0.2.1", "192.0.2.2");
    ah.id.proto = IpsecProtocol::Ah;
    ah.encryption = None;
    assert!(refused(call(KernelRequest::AddSa(Box::new(ah)))));
    let mut transport = sa(0x5004, "192.0.2.1", "192.0.2.2");
    transport.mode = Encapsulation::Transport;
    assert!(refused(call(KernelRequest::AddSa(Box::new(transport)))));
    // Unconfigured selectors and tunnel endpoints.
    assert!(refused(call(KernelRequest::AddPolicy(policy(
        PolicyDir::Out,
        "0.0.0.0/0",
        "10.2.0.0/16",
        ends
    )))));
    assert!(refused(call(KernelRequest::AddPolicy(policy(
        PolicyDir::Out,
        "10.3.0.0/16",
        "10.4.0.0/16",
        ends
    )))));
    assert!(refused(call(KernelRequest::AddPolicy(policy(
        PolicyDir::Out,
        "10.1.0.0/16",
        "10.2.0.0/16",
        ("192.0.2.1", "203.0.113.66")
    )))));
    // The other daemon's SPI, although between configured addresses.
    let theirs = SaId {
        proto: IpsecProtocol::Esp,
        spi: 0x9999,
        src: ip("192.0.2.1"),
        dst: ip("192.0.2.2"),
    };
    assert!(refused(call(KernelRequest::GetSa(theirs))));
    assert!(refused(call(KernelRequest::DeleteSa(theirs))));
    assert!(refused(call(KernelRequest::UpdateSa(Box::new(sa(
        0x9999,
        "192.0.2.1",
        "192.0.2.2"
    ))))));
    assert!(
        refused(call(KernelRequest::AddSa(Box::new(sa(
            0x5001,
            "192.0.2.1",
            "192.0.2.2"
        ))))),
        "ours: UPDATE it"
    );
    // Our own SA with the addresses swapped is not ours.
    let spoof = SaId {
        proto: IpsecProtocol::Esp,
        spi: 0x5001,
        src: ip("192.0.2.9"),
        dst: ip("192.0.2.2"),
    };
    assert!(refused(call(KernelRequest::DeleteSa(spoof))));
    // The other daemon's policy, and a policy we never installed.
    assert!(refused(call(KernelRequest::DeletePolicy(policy(
        PolicyDir::Out,
        "10.3.0.0/16",
        "10.4.0.0/16",
        ends
    )))));
    assert!(refused(call(KernelRequest::DeletePolicy(policy(
        PolicyDir::In,
        "10.2.0.0/16",
        "10.1.0.0/16",
        ends
    )))));
    // An ACQUIRE nobody sent.
    assert!(refused(call(KernelRequest::AcquireFailed {
        seq: 1,
        proto: IpsecProtocol::Esp
    })));
    // Whole-table operations: never.
    for r in [
        KernelRequest::Flush,
        KernelRequest::Dump,
        KernelRequest::SpdFlush,
        KernelRequest::SpdDump,
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
        assert_eq!(sas.len(), 3);
        assert_eq!(e.policies().len(), 2);
    });

    // On exit the broker removes its own SAs and policy, nothing else.
    bb.shutdown(Duration::from_secs(5)).unwrap();
    server.with_engine(|e| {
        assert_eq!(e.sas().map(|s| s.spi).collect::<Vec<_>>(), [0x9999]);
        assert_eq!(e.policies().len(), 1);
    });
    let _ = std::fs::remove_file(&socket);
}
