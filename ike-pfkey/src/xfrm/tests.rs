//! Round trips of our own requests, and hostile input: every decoder
//! returns an error for truncated, overlong and contradictory bytes.
//! Known answers from a real kernel are in ike-pfkey/tests/xfrm_kat.rs.

use super::attr::{AlgKind, Algo, AttrSet, ReplayEsn};
use super::consts::*;
use super::event::{selectors, to_event};
use super::message::{parse_datagram, Body, KernelMsg};
use super::nl::{self, messages, NlHeader};
use super::request;
use super::structs::*;
use super::Error;
use ike_ipc::config::{Encapsulation, Encryption, Integrity, IpNet, IpsecProtocol, Secret};
use ike_ipc::msg::pfkey::{
    BrokerEvent, BrokerPolicyParams, BrokerSaParams, ExpireKind, NatT, PolicyDir, SaId, SaLifetime,
    Selectors,
};
use std::net::IpAddr;
use zeroize::Zeroizing;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn params(enc: Encryption, integ: Option<Integrity>) -> BrokerSaParams {
    let ek = crate::broker::algs::encryption_key_bits(enc) as usize / 8;
    BrokerSaParams {
        id: SaId {
            proto: IpsecProtocol::Esp,
            spi: 0x0102_0304,
            src: ip("192.0.2.1"),
            dst: ip("192.0.2.2"),
        },
        mode: Encapsulation::Tunnel,
        reqid: 7,
        encryption: Some(enc),
        enc_key: Secret::new(vec![0xaa; ek]),
        integrity: integ,
        auth_key: Secret::new(vec![0xbb; 32]),
        replay_window: 64,
        esn: false,
        soft: SaLifetime {
            bytes: 0,
            seconds: 100,
            packets: 0,
        },
        hard: SaLifetime {
            bytes: 5000,
            seconds: 120,
            packets: 9,
        },
        natt: None,
        acquire_seq: 0,
    }
}

/// One message of ours, split back into header, fixed struct and attributes.
fn split(bytes: &[u8], fixed: usize) -> (NlHeader, Vec<u8>, AttrSet) {
    let mut it = messages(bytes);
    let m = it.next().unwrap().unwrap();
    assert!(it.next().is_none());
    assert_eq!(m.header.len as usize, bytes.len());
    let attrs = AttrSet::parse(&m.payload[fixed..]).unwrap();
    (m.header, m.payload[..fixed].to_vec(), attrs)
}

#[test]
fn newsa_gcm_with_esn_encap_and_lifetimes() {
    let mut p = params(Encryption::Aes256Gcm16, None);
    p.esn = true;
    p.replay_window = 100;
    p.natt = Some(NatT {
        sport: 4500,
        dport: 61000,
    });
    let b = request::sa(42, &p, false).unwrap();
    let (h, fixed, a) = split(&b, XFRM_USERSA_INFO_LEN);
    assert_eq!(h.ty, XFRM_MSG_NEWSA);
    assert_eq!(h.flags, NLM_F_REQUEST | NLM_F_ACK);
    assert_eq!(h.seq, 42);
    let info = UsersaInfo::parse(&fixed).unwrap();
    assert_eq!(info.id.spi, 0x0102_0304);
    assert_eq!(info.id.proto, IPPROTO_ESP);
    assert_eq!(info.family, AF_INET);
    assert_eq!(info.mode, XFRM_MODE_TUNNEL);
    assert_eq!(info.reqid, 7);
    assert_eq!(info.replay_window, 0, "the window is in REPLAY_ESN_VAL");
    assert_eq!(info.flags, XFRM_STATE_ESN | XFRM_STATE_AF_UNSPEC);
    assert_eq!(info.lft.soft_byte_limit, XFRM_INF);
    assert_eq!(info.lft.hard_byte_limit, 5000);
    assert_eq!(info.lft.hard_packet_limit, 9);
    assert_eq!(info.lft.soft_add_expires_seconds, 100);
    assert_eq!(info.lft.hard_add_expires_seconds, 120);
    assert_eq!(info.addrs().unwrap(), (ip("192.0.2.1"), ip("192.0.2.2")));
    let aead = a.aead.unwrap();
    assert_eq!(aead.name, "rfc4106(gcm(aes))");
    assert_eq!(aead.icv_bits, 128);
    assert_eq!(aead.key.len(), 36, "256-bit key and 4-byte salt");
    assert!(a.crypt.is_none() && a.auth.is_none());
    let e = a.encap.unwrap();
    assert_eq!(
        (e.encap_type, e.sport, e.dport),
        (UDP_ENCAP_ESPINUDP, 4500, 61000)
    );
    let r = a.replay_esn.unwrap();
    assert_eq!((r.bmp_len, r.replay_window), (4, 100));
}

#[test]
fn algorithms_map_to_kernel_names_and_icvs() {
    for (enc, name, icv) in [
        (Encryption::Aes128Gcm12, "rfc4106(gcm(aes))", 96),
        (
            Encryption::ChaCha20Poly1305,
            "rfc7539esp(chacha20,poly1305)",
            128,
        ),
        (Encryption::Aes128Gmac, "rfc4543(gcm(aes))", 128),
    ] {
        let b = request::sa(1, &params(enc, None), false).unwrap();
        let (_, _, a) = split(&b, XFRM_USERSA_INFO_LEN);
        let aead = a.aead.unwrap();
        assert_eq!((aead.name.as_str(), aead.icv_bits), (name, icv));
    }
    for (integ, name, trunc) in [
        (Integrity::HmacSha2_256, "hmac(sha256)", 128),
        (Integrity::HmacSha2_384, "hmac(sha384)", 192),
        (Integrity::HmacSha2_512, "hmac(sha512)", 256),
        (Integrity::HmacSha1, "hmac(sha1)", 96),
    ] {
        let b = request::sa(1, &params(Encryption::Aes128Cbc, Some(integ)), true).unwrap();
        let (h, fixed, a) = split(&b, XFRM_USERSA_INFO_LEN);
        assert_eq!(h.ty, XFRM_MSG_UPDSA);
        assert_eq!(UsersaInfo::parse(&fixed).unwrap().replay_window, 64);
        assert_eq!(a.crypt.unwrap().name, "cbc(aes)");
        let auth = a.auth.unwrap();
        assert_eq!(auth.kind, AlgKind::AuthTrunc);
        assert_eq!((auth.name.as_str(), auth.icv_bits), (name, trunc));
        assert!(a.replay_esn.is_none());
    }
}

#[test]
fn wrong_key_length_and_mixed_families_are_refused() {
    let mut p = params(Encryption::Aes128Gcm16, None);
    p.enc_key = Secret::new(vec![1; 16]); // no salt
    assert_eq!(
        request::sa(1, &p, false),
        Err(Error::ValueRange("encryption key length"))
    );
    let mut p = params(Encryption::Aes128Cbc, Some(Integrity::HmacSha1));
    p.id.dst = ip("2001:db8::1");
    assert!(request::sa(1, &p, false).is_err());
    let mut p = params(Encryption::Aes128Cbc, Some(Integrity::HmacSha1));
    p.replay_window = 5000;
    assert_eq!(
        request::sa(1, &p, false),
        Err(Error::ValueRange("replay window"))
    );
}

#[test]
fn allocspi_delsa_getsa() {
    let b = request::allocspi(
        9,
        IpsecProtocol::Esp,
        &ip("2001:db8::2"),
        &ip("2001:db8::1"),
        Encapsulation::Transport,
        3,
        77,
    )
    .unwrap();
    let (h, fixed, _) = split(&b, XFRM_USERSPI_INFO_LEN);
    assert_eq!((h.ty, h.flags), (XFRM_MSG_ALLOCSPI, NLM_F_REQUEST));
    let s = UserspiInfo::parse(&fixed).unwrap();
    assert_eq!((s.min, s.max), (request::SPI_MIN, u32::MAX));
    assert_eq!(s.info.seq, 77, "the ACQUIRE's seq");
    assert_eq!(s.info.family, AF_INET6);
    assert_eq!(s.info.sel.prefixlen_s, 128);
    assert_eq!(
        addr(&s.info.sel.saddr, AF_INET6).unwrap(),
        ip("2001:db8::2")
    );

    let id = SaId {
        proto: IpsecProtocol::Ah,
        spi: 0xdead_beef,
        src: ip("192.0.2.1"),
        dst: ip("192.0.2.9"),
    };
    let b = request::sa_id(10, &id, false).unwrap();
    let (h, fixed, a) = split(&b, XFRM_USERSA_ID_LEN);
    assert_eq!((h.ty, h.flags), (XFRM_MSG_DELSA, NLM_F_REQUEST | NLM_F_ACK));
    let u = UsersaId::parse(&fixed).unwrap();
    assert_eq!(
        (u.spi, u.proto, u.family),
        (0xdead_beef, IPPROTO_AH, AF_INET)
    );
    assert_eq!(a.srcaddr.unwrap()[..4], [192, 0, 2, 1]);
    let b = request::sa_id(11, &id, true).unwrap();
    assert_eq!(split(&b, XFRM_USERSA_ID_LEN).0.ty, XFRM_MSG_GETSA);
}

fn pp(dir: PolicyDir) -> BrokerPolicyParams {
    BrokerPolicyParams {
        dir,
        sel: Selectors {
            src: IpNet::new(ip("10.1.0.0"), 16).unwrap(),
            dst: IpNet::new(ip("10.2.3.4"), 32).unwrap(),
            proto: Some(6),
            src_port: None,
            dst_port: Some(443),
        },
        proto: IpsecProtocol::Esp,
        mode: Encapsulation::Tunnel,
        tunnel: Some((ip("192.0.2.1"), ip("192.0.2.2"))),
        reqid: 12,
    }
}

#[test]
fn policies_carry_the_reqid_in_their_template() {
    for (dir, n) in [
        (PolicyDir::In, XFRM_POLICY_IN),
        (PolicyDir::Out, XFRM_POLICY_OUT),
        (PolicyDir::Fwd, XFRM_POLICY_FWD),
    ] {
        let p = pp(dir);
        let b = request::policy(5, &p, false).unwrap();
        let (h, fixed, a) = split(&b, XFRM_USERPOLICY_INFO_LEN);
        assert_eq!(h.ty, XFRM_MSG_NEWPOLICY);
        let info = UserpolicyInfo::parse(&fixed).unwrap();
        assert_eq!(info.dir, n);
        assert_eq!(info.action, XFRM_POLICY_ALLOW);
        assert_eq!(selectors(&info.sel), Some(p.sel), "selectors round-trip");
        assert_eq!(info.sel.dport_mask, 0xffff);
        assert_eq!(info.sel.sport_mask, 0);
        let [t] = a.tmpls.as_slice() else {
            panic!("one template")
        };
        assert_eq!(t.reqid, 12);
        assert_eq!(t.mode, XFRM_MODE_TUNNEL);
        assert_eq!(addr(&t.saddr, t.family).unwrap(), ip("192.0.2.1"));
        assert_eq!(addr(&t.id.daddr, t.family).unwrap(), ip("192.0.2.2"));
        let b = request::delete_policy(6, &p).unwrap();
        let (h, fixed, _) = split(&b, XFRM_USERPOLICY_ID_LEN);
        assert_eq!(h.ty, XFRM_MSG_DELPOLICY);
        let id = UserpolicyId::parse(&fixed).unwrap();
        assert_eq!((id.dir, id.sel), (n, info.sel));
    }
    // A host policy is preferred over the subnet policy that covers it.
    let mut wide = pp(PolicyDir::Out).sel;
    wide.dst = IpNet::new(ip("10.2.0.0"), 16).unwrap();
    assert!(request::priority(&pp(PolicyDir::Out).sel) < request::priority(&wide));
    let mut p = pp(PolicyDir::Out);
    p.tunnel = None;
    assert!(request::policy(1, &p, false).is_err());
}

/// A kernel-style message of type `ty` with `fixed` bytes of struct then attrs.
fn kmsg(ty: u16, fixed: &[u8], attrs: &[u8]) -> Vec<u8> {
    let mut b = nl::begin(ty, 0, 0);
    b.extend_from_slice(fixed);
    b.extend_from_slice(attrs);
    nl::finish(b).unwrap()
}

fn tmpl_attr(t: &UserTmpl) -> Vec<u8> {
    let mut a = Vec::new();
    super::attr::put(&mut a, XFRMA_TMPL, |o| t.emit(o)).unwrap();
    a
}

#[test]
fn events_become_the_ipc_events() {
    let sel = request::selector(&pp(PolicyDir::Out).sel).unwrap();
    // The packet's flow as Linux's __xfrm4_init_tempsel fills it: host
    // prefixes, both ports masked, the output interface.
    let flow = Selector {
        daddr: raw_addr(&ip("10.2.3.4")),
        saddr: raw_addr(&ip("10.1.7.9")),
        dport: 443,
        dport_mask: 0xffff,
        sport: 51000,
        sport_mask: 0xffff,
        family: AF_INET,
        prefixlen_d: 32,
        prefixlen_s: 32,
        proto: 6,
        ifindex: 3,
        user: 0,
    };
    let acq = UserAcquire {
        id: XfrmId {
            daddr: raw_addr(&ip("192.0.2.2")),
            spi: 0,
            proto: IPPROTO_ESP,
        },
        saddr: raw_addr(&ip("192.0.2.1")),
        sel: flow,
        policy: UserpolicyInfo {
            sel,
            ..Default::default()
        },
        seq: 99,
        ..Default::default()
    };
    let t = UserTmpl {
        id: acq.id,
        family: AF_INET,
        saddr: acq.saddr,
        reqid: 12,
        mode: XFRM_MODE_TUNNEL,
        ..Default::default()
    };
    let mut fixed = Vec::new();
    acq.emit(&mut fixed);
    let b = kmsg(XFRM_MSG_ACQUIRE, &fixed, &tmpl_attr(&t));
    let m = parse_datagram(&b).remove(0).unwrap();
    assert_eq!(
        to_event(&m).unwrap(),
        Some(BrokerEvent::Acquire {
            seq: 99,
            proto: IpsecProtocol::Esp,
            src: ip("192.0.2.1"),
            dst: ip("192.0.2.2"),
            policy: Some(pp(PolicyDir::Out).sel),
            // The policy names a protocol and a destination port, not a
            // source port: the packet's source port stays out.
            packet: Some(Selectors {
                src: IpNet::host(ip("10.1.7.9")),
                dst: IpNet::host(ip("10.2.3.4")),
                proto: Some(6),
                src_port: None,
                dst_port: Some(443),
            }),
            mode: Some(Encapsulation::Tunnel),
            reqid: 12,
        })
    );

    let state = UsersaInfo {
        id: XfrmId {
            daddr: raw_addr(&ip("192.0.2.2")),
            spi: 0x1234,
            proto: IPPROTO_ESP,
        },
        saddr: raw_addr(&ip("192.0.2.1")),
        family: AF_INET,
        ..Default::default()
    };
    for hard in [false, true] {
        let mut fixed = Vec::new();
        UserExpire { state, hard }.emit(&mut fixed);
        let m = parse_datagram(&kmsg(XFRM_MSG_EXPIRE, &fixed, &[]))
            .remove(0)
            .unwrap();
        let Some(BrokerEvent::Expire { kind, sa }) = to_event(&m).unwrap() else {
            panic!("expire")
        };
        assert_eq!(
            kind,
            if hard {
                ExpireKind::Hard
            } else {
                ExpireKind::Soft
            }
        );
        assert_eq!(
            (sa.spi, sa.src, sa.dst),
            (0x1234, ip("192.0.2.1"), ip("192.0.2.2"))
        );
    }

    let mp = UserMapping {
        id: UsersaId {
            daddr: raw_addr(&ip("192.0.2.1")),
            spi: 0x55,
            family: AF_INET,
            proto: IPPROTO_ESP,
        },
        reqid: 1,
        old_saddr: raw_addr(&ip("198.51.100.7")),
        new_saddr: raw_addr(&ip("198.51.100.7")),
        old_sport: 4500,
        new_sport: 1024,
    };
    let mut fixed = Vec::new();
    mp.emit(&mut fixed);
    let m = parse_datagram(&kmsg(XFRM_MSG_MAPPING, &fixed, &[]))
        .remove(0)
        .unwrap();
    assert_eq!(
        to_event(&m).unwrap(),
        Some(BrokerEvent::NatMapping {
            sa: SaId {
                proto: IpsecProtocol::Esp,
                spi: 0x55,
                src: ip("198.51.100.7"),
                dst: ip("192.0.2.1"),
            },
            old: "198.51.100.7:4500".parse().unwrap(),
            new: "198.51.100.7:1024".parse().unwrap(),
        })
    );

    // An event for a protocol that is neither ESP nor AH is an error.
    let mut bad = state;
    bad.id.proto = 108; // IPcomp
    let mut fixed = Vec::new();
    UserExpire {
        state: bad,
        hard: true,
    }
    .emit(&mut fixed);
    let m = parse_datagram(&kmsg(XFRM_MSG_EXPIRE, &fixed, &[]))
        .remove(0)
        .unwrap();
    assert!(to_event(&m).is_err());
}

#[test]
fn ack_error_and_several_messages_in_one_datagram() {
    let req = request::sa_id(31, &params(Encryption::Aes128Cbc, None).id, false).unwrap();
    let err = |errno: i32| {
        let mut p = (-errno).to_ne_bytes().to_vec();
        p.extend_from_slice(&req[..16]);
        kmsg(NLMSG_ERROR, &p, &[])
    };
    let mut d = err(0);
    d.extend_from_slice(&err(3));
    d.extend_from_slice(&kmsg(NLMSG_DONE, &0i32.to_ne_bytes(), &[]));
    let ms: Vec<KernelMsg> = parse_datagram(&d).into_iter().map(|m| m.unwrap()).collect();
    assert!(matches!(&ms[0].body, Body::Ack(h) if h.seq == 31 && h.ty == XFRM_MSG_DELSA));
    assert!(matches!(&ms[1].body, Body::Failed { errno: 3, request } if request.seq == 31));
    assert_eq!(ms[2].body, Body::Done);
    // A positive error is not something the kernel writes.
    let mut p = 5i32.to_ne_bytes().to_vec();
    p.extend_from_slice(&req[..16]);
    assert!(parse_datagram(&kmsg(NLMSG_ERROR, &p, &[]))[0].is_err());
}

#[test]
fn hostile_lengths_are_errors() {
    // nlmsg_len below the header, past the datagram, and a short datagram.
    let mut b = kmsg(NLMSG_DONE, &[0; 4], &[]);
    b[0..4].copy_from_slice(&8u32.to_ne_bytes());
    assert!(matches!(
        parse_datagram(&b)[0],
        Err(Error::BadLength { .. })
    ));
    b[0..4].copy_from_slice(&1000u32.to_ne_bytes());
    assert!(matches!(
        parse_datagram(&b)[0],
        Err(Error::BadLength { .. })
    ));
    assert_eq!(parse_datagram(&b[..10])[0], Err(Error::Truncated));
    // A good message followed by garbage: the good one is kept.
    let mut d = kmsg(NLMSG_DONE, &[0; 4], &[]);
    d.extend_from_slice(&[1, 2, 3]);
    let r = parse_datagram(&d);
    assert_eq!(r.len(), 2);
    assert!(r[0].is_ok() && r[1].is_err());
    // Every fixed struct cut short.
    for (ty, len) in [
        (XFRM_MSG_NEWSA, XFRM_USERSA_INFO_LEN),
        (XFRM_MSG_ACQUIRE, XFRM_USER_ACQUIRE_LEN),
        (XFRM_MSG_EXPIRE, XFRM_USER_EXPIRE_LEN),
        (XFRM_MSG_POLEXPIRE, XFRM_USER_POLEXPIRE_LEN),
        (XFRM_MSG_MAPPING, XFRM_USER_MAPPING_LEN),
        (XFRM_MSG_NEWPOLICY, XFRM_USERPOLICY_INFO_LEN),
        (NLMSG_ERROR, NLMSGERR_LEN),
    ] {
        let d = kmsg(ty, &vec![0; len - 1], &[]);
        assert!(parse_datagram(&d)[0].is_err(), "type {ty} short by one");
    }
    assert_eq!(
        parse_datagram(&kmsg(0x99, &[], &[]))[0],
        Err(Error::UnknownMsgType(0x99))
    );
}

#[test]
fn hostile_attributes_are_errors() {
    // nla_len 2 (below its header), past the end, a duplicate, a template
    // attribute that is not a whole number of templates.
    assert!(AttrSet::parse(&[2, 0, 1, 0]).is_err());
    assert!(AttrSet::parse(&[40, 0, 1, 0, 0, 0, 0, 0]).is_err());
    let mut two = Vec::new();
    super::attr::put(&mut two, XFRMA_LASTUSED, |o| o.extend_from_slice(&[0; 8])).unwrap();
    let once = two.clone();
    two.extend_from_slice(&once);
    assert_eq!(
        AttrSet::parse(&two),
        Err(Error::DuplicateAttr(XFRMA_LASTUSED))
    );
    let mut t = Vec::new();
    super::attr::put(&mut t, XFRMA_TMPL, |o| o.extend_from_slice(&[0; 65])).unwrap();
    assert_eq!(AttrSet::parse(&t), Err(Error::BadAttr("template")));
    // An algorithm whose key length says more than the attribute holds,
    // and one whose name has no NUL.
    let alg = Algo {
        kind: AlgKind::Crypt,
        name: "cbc(aes)".into(),
        icv_bits: 0,
        key: Zeroizing::new(vec![7; 16]),
    };
    let mut a = Vec::new();
    alg.emit(&mut a).unwrap();
    let mut long = a.clone();
    long[4 + 64..4 + 68].copy_from_slice(&4096u32.to_ne_bytes());
    assert_eq!(AttrSet::parse(&long), Err(Error::BadAttr("algorithm key")));
    let mut nonul = a.clone();
    nonul[4..4 + 64].fill(b'a');
    assert_eq!(AttrSet::parse(&nonul), Err(Error::BadAlgName));
    assert_eq!(AttrSet::parse(&a).unwrap().crypt.unwrap(), alg);
    // An ESN bitmap longer than the kernel allows, or missing.
    let mut r = Vec::new();
    ReplayEsn {
        bmp_len: 2,
        ..Default::default()
    }
    .emit(&mut r)
    .unwrap();
    let mut cut = r.clone();
    cut.truncate(r.len() - 4);
    cut[0..2].copy_from_slice(&((r.len() - 4) as u16).to_ne_bytes());
    assert!(AttrSet::parse(&cut).is_err());
    let mut big = r.clone();
    big[4..8].copy_from_slice(&1000u32.to_ne_bytes());
    assert!(AttrSet::parse(&big).is_err());
    assert_eq!(AttrSet::parse(&r).unwrap().replay_esn.unwrap().bmp_len, 2);
}

#[test]
fn keys_are_not_printed() {
    let alg = Algo {
        kind: AlgKind::Aead,
        name: "rfc4106(gcm(aes))".into(),
        icv_bits: 128,
        key: Zeroizing::new(vec![0x5a; 20]),
    };
    let s = format!("{alg:?}");
    assert!(s.contains("key_len: 20") && !s.contains("90"), "{s}");
}
