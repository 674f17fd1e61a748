//! A compromised ike-net: it drives the broker through the real ike-net <->
//! ike-pfkey channel (postcard envelopes over a SOCK_SEQPACKET socketpair) and
//! asks for everything it should not get. The kernel is the PF_KEY simulator
//! on a Unix socket; a second PF_KEY user on the same "host" owns an SA and a
//! policy that sit inside our configured addresses. Refusals must leave the
//! kernel untouched; the configured requests must still work.

mod common;

use common::*;
use ike_ipc::channel::{pair, send_packet, Channel};
use ike_ipc::config::{Encapsulation, IpsecProtocol};
use ike_ipc::msg::pfkey::{
    KernelError, KernelReply, KernelRequest, NetToPfkey, PfkeyToNet, PolicyDir, PolicyParams,
    SaParams,
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

fn sa(spi: u32, src: &str, dst: &str) -> SaParams {
    sa_params(spi, src, dst, Encapsulation::Tunnel)
}

fn add_sa(spi: u32, src: &str, dst: &str) -> KernelRequest {
    KernelRequest::AddSa(Box::new(sa(spi, src, dst)))
}

/// An outbound tunnel policy between `ends`.
fn out(src: &str, dst: &str, ends: (&str, &str)) -> PolicyParams {
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

    let cfg = broker_config(Dialect::Linux, allowed_tunnel());
    let (mut bb, _supported) = BlockingBroker::start(connect_pfkey(&socket).unwrap(), cfg).unwrap();
    let (mut worker, mut broker_end) = pair::<NetToPfkey, PfkeyToNet>().unwrap();
    let mut id = 0;
    let mut call = |req: KernelRequest| {
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
        call(KernelRequest::UpdateSa(Box::new(sa(
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
        call(KernelRequest::AddPolicy(out(
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
    assert!(refused(call(KernelRequest::AddSa(Box::new(ah)))));
    let mut transport = sa(0x5004, "192.0.2.1", "192.0.2.2");
    transport.mode = Encapsulation::Transport;
    assert!(refused(call(KernelRequest::AddSa(Box::new(transport)))));
    // Unconfigured selectors and tunnel endpoints.
    assert!(refused(call(KernelRequest::AddPolicy(out(
        "0.0.0.0/0",
        "10.2.0.0/16",
        ends
    )))));
    assert!(refused(call(KernelRequest::AddPolicy(out(
        "10.3.0.0/16",
        "10.4.0.0/16",
        ends
    )))));
    assert!(refused(call(KernelRequest::AddPolicy(out(
        "10.1.0.0/16",
        "10.2.0.0/16",
        ("192.0.2.1", "203.0.113.66")
    )))));
    // The other daemon's SPI, although between configured addresses.
    let theirs = esp_id(0x9999, "192.0.2.1", "192.0.2.2");
    assert!(refused(call(KernelRequest::GetSa(theirs))));
    assert!(refused(call(KernelRequest::DeleteSa(theirs))));
    assert!(refused(call(KernelRequest::UpdateSa(Box::new(sa(
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
    assert!(refused(call(KernelRequest::DeleteSa(spoof))));
    // The other daemon's policy, and a policy we never installed.
    assert!(refused(call(KernelRequest::DeletePolicy(out(
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
