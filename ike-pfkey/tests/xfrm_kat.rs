//! Known answers: NETLINK_XFRM datagrams a real kernel (Debian's
//! 6.1.0-57-amd64 in the kernel lab; the version is in
//! tests/data/xfrm/KERNEL) sent in answer to the broker's XFRM requests,
//! captured by `tests/kernel-lab/xfrm-capture.sh` (the steps are in
//! src/bin/xfrm-probe.rs). Each is decoded by the codec and turned into the
//! IPC's values.

use ike_ipc::config::{Encapsulation, IpNet, IpsecProtocol};
use ike_ipc::msg::pfkey::{BrokerEvent, ExpireKind, Selectors};
use ike_pfkey::xfrm::consts::*;
use ike_pfkey::xfrm::event::{sa_info, to_event};
use ike_pfkey::xfrm::message::{parse_datagram, Body, KernelMsg};
use std::net::IpAddr;
use std::path::Path;

fn data(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/xfrm")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The one message of a captured datagram.
fn one(name: &str) -> KernelMsg {
    let mut ms = parse_datagram(&data(name));
    assert_eq!(ms.len(), 1, "{name}: one message");
    ms.remove(0).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn every_capture_decodes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/xfrm");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "bin") {
            for m in parse_datagram(&std::fs::read(&p).unwrap()) {
                m.unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            }
            n += 1;
        }
    }
    assert!(n >= 20, "{n} captures");
}

#[test]
fn allocspi_answers_with_the_larval_sa() {
    let m = one("allocspi-reply.bin");
    assert_eq!(m.header.ty, XFRM_MSG_NEWSA);
    assert_eq!(m.header.seq, 101, "the request's seq");
    let Body::Sa(info, _) = &m.body else {
        panic!("{:?}", m.body)
    };
    assert!(
        info.id.spi >= 0x100,
        "SPI {:#x} in the range asked for",
        info.id.spi
    );
    assert_eq!(info.addrs().unwrap(), (ip("10.77.0.2"), ip("10.77.0.1")));
    assert_eq!(
        (info.reqid, info.mode, info.family),
        (1, XFRM_MODE_TUNNEL, AF_INET)
    );
    assert_eq!(info.id.proto, IPPROTO_ESP);
    // The kernel gives a larval SA 30 s to be completed.
    assert_eq!(info.lft.hard_add_expires_seconds, 30);
}

#[test]
fn acks_and_errors_name_their_request() {
    for (name, ty, seq, errno) in [
        ("updsa-gcm-esn-ack.bin", XFRM_MSG_UPDSA, 102, 0),
        ("newsa-cbc-sha256-ack.bin", XFRM_MSG_NEWSA, 103, 0),
        ("newsa-eexist.bin", XFRM_MSG_NEWSA, 104, 17),
        ("newsa-chacha-ack.bin", XFRM_MSG_NEWSA, 105, 0),
        ("newsa-sha512-ack.bin", XFRM_MSG_NEWSA, 106, 0),
        ("newpolicy-out-ack.bin", XFRM_MSG_NEWPOLICY, 108, 0),
        ("newpolicy-in-ack.bin", XFRM_MSG_NEWPOLICY, 109, 0),
        ("newpolicy-fwd-ack.bin", XFRM_MSG_NEWPOLICY, 110, 0),
        ("newpolicy-eexist.bin", XFRM_MSG_NEWPOLICY, 111, 17),
        ("delsa-ack.bin", XFRM_MSG_DELSA, 115, 0),
        ("delsa-esrch.bin", XFRM_MSG_DELSA, 116, 3),
        ("delpolicy-enoent.bin", XFRM_MSG_DELPOLICY, 121, 2),
    ] {
        let m = one(name);
        assert_eq!(m.header.ty, NLMSG_ERROR, "{name}");
        let (got_errno, req) = match m.body {
            Body::Ack(h) => (0, h),
            Body::Failed { errno, request } => (errno, request),
            b => panic!("{name}: {b:?}"),
        };
        assert_eq!((got_errno, req.ty, req.seq), (errno, ty, seq), "{name}");
    }
}

#[test]
fn getsa_reports_the_sa_as_installed() {
    let m = one("getsa-reply.bin");
    let Body::Sa(info, attrs) = &m.body else {
        panic!("{:?}", m.body)
    };
    assert_eq!(m.header.seq, 107);
    assert_eq!(info.id.spi, 0x1000);
    let crypt = attrs.crypt.as_ref().unwrap();
    assert_eq!(crypt.name, "cbc(aes)");
    assert_eq!(crypt.key.as_slice(), (0..16).collect::<Vec<u8>>());
    // Sent as AUTH_TRUNC with 128 bits: the kernel keeps the truncation.
    let auth = attrs.auth.as_ref().unwrap();
    assert_eq!((auth.name.as_str(), auth.icv_bits), ("hmac(sha256)", 128));
    assert_eq!(auth.key.as_slice(), (0x40..0x60).collect::<Vec<u8>>());
    let e = attrs.encap.unwrap();
    assert_eq!(
        (e.encap_type, e.sport, e.dport),
        (UDP_ENCAP_ESPINUDP, 4500, 4501)
    );
    let s = sa_info(info, attrs).unwrap();
    assert_eq!((s.id.src, s.id.dst), (ip("10.77.0.1"), ip("10.77.0.2")));
    assert_eq!((s.bytes, s.packets), (0, 0));
    assert!(s.add_time > 0);
}

#[test]
fn acquire_becomes_the_ipc_acquire() {
    let m = one("acquire.bin");
    assert_eq!(m.header.pid, 0, "from the kernel");
    let Some(BrokerEvent::Acquire {
        seq,
        proto,
        src,
        dst,
        policy,
        packet,
        mode,
        reqid,
    }) = to_event(&m).unwrap()
    else {
        panic!("{m:?}")
    };
    assert_ne!(seq, 0);
    assert_eq!(proto, IpsecProtocol::Esp);
    assert_eq!((src, dst), (ip("10.77.0.1"), ip("10.77.0.3")));
    assert_eq!((mode, reqid), (Some(Encapsulation::Tunnel), 2));
    assert_eq!(
        policy,
        Some(Selectors {
            src: IpNet::new(ip("10.77.0.1"), 32).unwrap(),
            dst: IpNet::new(ip("10.77.0.3"), 32).unwrap(),
            proto: None,
            src_port: None,
            dst_port: None,
        })
    );
    // The real kernel's flow of the triggering packet (xfrm_user_acquire.sel:
    // host addresses, the output interface, the ports masked): the addresses
    // only, since the policy names no protocol or port.
    assert_eq!(
        packet,
        Some(Selectors {
            src: IpNet::host(ip("10.77.0.1")),
            dst: IpNet::host(ip("10.77.0.3")),
            proto: None,
            src_port: None,
            dst_port: None,
        })
    );
}

#[test]
fn soft_and_hard_expire() {
    for (name, want) in [
        ("expire-soft.bin", ExpireKind::Soft),
        ("expire-hard.bin", ExpireKind::Hard),
    ] {
        let m = one(name);
        let Some(BrokerEvent::Expire { kind, sa }) = to_event(&m).unwrap() else {
            panic!("{name}: {m:?}")
        };
        assert_eq!(kind, want, "{name}");
        assert_eq!(sa.spi, 0x2000, "{name}");
        assert_eq!((sa.src, sa.dst), (ip("10.77.0.1"), ip("10.77.0.2")));
    }
}

#[test]
fn polexpire_decodes_and_has_no_ipc_event() {
    let m = one("polexpire.bin");
    let Body::PolExpire(pe, attrs) = &m.body else {
        panic!("{:?}", m.body)
    };
    assert!(pe.hard);
    assert_eq!(pe.pol.dir, XFRM_POLICY_OUT);
    assert_eq!(pe.pol.sel.prefixlen_s, 16);
    assert_eq!(attrs.tmpls.first().map(|t| t.reqid), Some(3));
    assert_eq!(to_event(&m).unwrap(), None);
}
