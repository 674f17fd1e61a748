//! Builders shared by the unit tests (as `crate::test_support`) and the
//! integration tests in `tests/` (which include this very file from
//! `tests/common/mod.rs`). Paths go through `ike_pfkey::`, which `lib.rs`
//! makes valid inside the crate too when testing, so one file serves both.
//!
//! The values form one small world: our address 192.0.2.1, the peer
//! 192.0.2.2, one ESP tunnel between 10.1.0.0/16 (ours) and 10.2.0.0/16.

use ike_ipc::config::{ChildScope, SaRules, Suite};
use ike_ipc::config::{Encapsulation, Encryption, Flow, Integrity, IpNet, IpsecProtocol, Secret};
use ike_ipc::msg::pfkey::{
    BrokerPolicyParams, BrokerRequest, BrokerSaParams, PolicyDir, SaId, SaLifetime, Selectors,
};
use ike_pfkey::broker::allow::AllowedSet;
use ike_pfkey::broker::BrokerConfig;
use ike_pfkey::dialect::{
    Dialect, ExtKind, IPPROTO_ESP, IPSEC_LEVEL_REQUIRE, IPSEC_LEVEL_UNIQUE, IPSEC_MODE_TUNNEL,
    IPSEC_POLICY_IPSEC, IPSEC_ULPROTO_ANY,
};
use ike_pfkey::wire::{Address, Ext, Header, IpsecRequest, Key, Lifetime, Message, Policy, Sa};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The broker's `sadb_msg_pid` in tests.
pub const PID: u32 = 4242;
/// The reqid of the SAs and policies the tests install.
pub const REQID: u32 = 7;

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn net(s: &str) -> IpNet {
    let (a, p) = s.split_once('/').unwrap();
    IpNet::new(ip(a), p.parse().unwrap()).unwrap()
}

/// A selector address as KAME writes it: the prefix, any protocol, no port.
pub fn net_address(s: &str) -> Address {
    let n = net(s);
    Address {
        proto: IPSEC_ULPROTO_ANY,
        prefix_len: n.prefix,
        addr: SocketAddr::new(n.addr, 0),
    }
}

pub fn flow(src: &str, dst: &str) -> Flow {
    Flow {
        proto: None,
        src: net(src),
        src_port: None,
        dst: net(dst),
        dst_port: None,
    }
}

/// A configured ESP child between our address `local` and the peer prefix `peer`.
pub fn esp_child(local: &str, peer: &str, mode: Encapsulation, flow: Flow) -> ChildScope {
    ChildScope {
        local: Some(ip(local)),
        peer: Some(net(peer)),
        protocol: IpsecProtocol::Esp,
        mode,
        flows: vec![flow],
        sa: test_rules(),
    }
}

/// The byte lifetime of the tests' SAs; the simulator counts no traffic.
pub const TEST_BYTES: u64 = 1 << 30;

/// What the tests' configured children permit: AES-128-CBC with HMAC-SHA1
/// (with or without ESN) or HMAC-SHA2-256, or AES-256-GCM; a day and
/// [`TEST_BYTES`] at most.
pub fn test_rules() -> SaRules {
    SaRules {
        suites: vec![
            Suite {
                encryption: Some(Encryption::Aes128Cbc),
                integrity: Some(Integrity::HmacSha1),
                esn: false,
            },
            Suite {
                encryption: Some(Encryption::Aes128Cbc),
                integrity: Some(Integrity::HmacSha1),
                esn: true,
            },
            Suite {
                encryption: Some(Encryption::Aes128Cbc),
                integrity: Some(Integrity::HmacSha2_256),
                esn: false,
            },
            Suite {
                encryption: Some(Encryption::Aes256Gcm16),
                integrity: None,
                esn: false,
            },
        ],
        max_seconds: 86_400,
        max_bytes: TEST_BYTES,
    }
}

/// The configured ESP tunnel 192.0.2.1 <-> 192.0.2.2, 10.1.0.0/16 -> 10.2.0.0/16.
pub fn tunnel_child() -> ChildScope {
    esp_child(
        "192.0.2.1",
        "192.0.2.2/32",
        Encapsulation::Tunnel,
        flow("10.1.0.0/16", "10.2.0.0/16"),
    )
}

pub fn allowed_tunnel() -> AllowedSet {
    AllowedSet {
        children: vec![tunnel_child()],
        natt_port: 0,
        pools: Vec::new(),
    }
}

/// No flush on start, delete on exit, 5 s kernel timeout, pid [`PID`].
pub fn broker_config(dialect: Dialect, allowed: AllowedSet) -> BrokerConfig {
    BrokerConfig {
        dialect,
        pid: PID,
        flush_on_start: false,
        delete_on_exit: true,
        allowed,
        timeout: Duration::from_secs(5),
    }
}

/// An add-time limit (the simulator models no traffic) and [`TEST_BYTES`]:
/// the broker refuses an unlimited byte lifetime.
pub fn seconds(s: u64) -> SaLifetime {
    SaLifetime {
        seconds: s,
        bytes: TEST_BYTES,
        packets: 0,
    }
}

/// The kernel's name of an ESP SA.
pub fn esp_id(spi: u32, src: &str, dst: &str) -> SaId {
    SaId {
        proto: IpsecProtocol::Esp,
        spi,
        src: ip(src),
        dst: ip(dst),
    }
}

/// An ESP SA with AES-128-CBC + HMAC-SHA1, reqid [`REQID`], lifetimes of
/// 3,000 s soft and 3,600 s hard.
pub fn sa_params(spi: u32, src: &str, dst: &str, mode: Encapsulation) -> BrokerSaParams {
    BrokerSaParams {
        id: esp_id(spi, src, dst),
        mode,
        reqid: REQID,
        encryption: Some(Encryption::Aes128Cbc),
        enc_key: Secret::new(vec![0x11; 16]),
        integrity: Some(Integrity::HmacSha1),
        auth_key: Secret::new(vec![0x22; 20]),
        replay_window: 32,
        esn: false,
        soft: seconds(3000),
        hard: seconds(3600),
        natt: None,
        acquire_seq: 0,
    }
}

/// An ESP tunnel policy, reqid [`REQID`].
pub fn policy(dir: PolicyDir, src: &str, dst: &str, ends: (&str, &str)) -> BrokerPolicyParams {
    BrokerPolicyParams {
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
        reqid: REQID,
    }
}

/// The configured tunnel's policy in direction `dir`.
pub fn tunnel_policy(dir: PolicyDir) -> BrokerPolicyParams {
    match dir {
        PolicyDir::Out => policy(
            dir,
            "10.1.0.0/16",
            "10.2.0.0/16",
            ("192.0.2.1", "192.0.2.2"),
        ),
        _ => policy(
            dir,
            "10.2.0.0/16",
            "10.1.0.0/16",
            ("192.0.2.2", "192.0.2.1"),
        ),
    }
}

/// GETSPI for an ESP SA src -> dst, reqid [`REQID`].
pub fn getspi(src: &str, dst: &str, mode: Encapsulation) -> BrokerRequest {
    BrokerRequest::GetSpi {
        proto: IpsecProtocol::Esp,
        src: ip(src),
        dst: ip(dst),
        mode,
        reqid: REQID,
        acquire_seq: 0,
    }
}

/// A raw message that starts with an SA extension naming only `spi`
/// (DELETE, GET, and kernel events carry no more of it).
pub fn spi_message(header: Header, spi: u32) -> Message {
    Message::new(header).with(Ext::Sa(
        ExtKind::Sa,
        Sa {
            spi,
            ..Sa::default()
        },
    ))
}

/// A raw ADD/UPDATE body as another PF_KEY user writes it: ESP SA `spi`
/// (AES-128-CBC 12, HMAC-SHA1 3), host addresses, the auth key filled with
/// `key_byte` and the encryption key with `key_byte + 1`.
pub fn raw_sa(header: Header, spi: u32, src: &str, dst: &str, key_byte: u8) -> Message {
    Message::new(header)
        .with(Ext::Sa(
            ExtKind::Sa,
            Sa {
                spi,
                replay: 0,
                state: 1,
                auth: 3,
                encrypt: 12,
                flags: 0,
            },
        ))
        .with(Ext::Address(ExtKind::AddressSrc, Address::host(ip(src))))
        .with(Ext::Address(ExtKind::AddressDst, Address::host(ip(dst))))
        .with(Ext::Key(
            ExtKind::KeyAuth,
            Key::new(&[key_byte; 20]).unwrap(),
        ))
        .with(Ext::Key(
            ExtKind::KeyEncrypt,
            Key::new(&[key_byte.wrapping_add(1); 16]).unwrap(),
        ))
}

/// Add-time limits (hard, soft) for a raw SA message.
pub fn with_addtime(m: Message, hard: u64, soft: u64) -> Message {
    let limit = |addtime| Lifetime {
        addtime,
        ..Lifetime::default()
    };
    m.with(Ext::Lifetime(ExtKind::LifetimeHard, limit(hard)))
        .with(Ext::Lifetime(ExtKind::LifetimeSoft, limit(soft)))
}

/// A raw KAME SPDADD-style policy: one ESP tunnel request between `ends`.
/// A reqid needs level UNIQUE to be honoured (DIALECTS.md 5.5); without one
/// the request is REQUIRE.
pub fn raw_spd(
    header: Header,
    dir: u8,
    src: &str,
    dst: &str,
    ends: (&str, &str),
    reqid: u32,
) -> Message {
    let end = |s: &str| SocketAddr::new(ip(s), 0);
    Message::new(header)
        .with(Ext::Address(ExtKind::AddressSrc, net_address(src)))
        .with(Ext::Address(ExtKind::AddressDst, net_address(dst)))
        .with(Ext::Policy(Policy {
            policy_type: IPSEC_POLICY_IPSEC,
            dir,
            scope: 0,
            id: 0,
            priority: 0,
            requests: vec![IpsecRequest {
                proto: IPPROTO_ESP,
                mode: IPSEC_MODE_TUNNEL,
                level: if reqid == 0 {
                    IPSEC_LEVEL_REQUIRE
                } else {
                    IPSEC_LEVEL_UNIQUE
                },
                reqid,
                tunnel: Some((end(ends.0), end(ends.1))),
            }],
        }))
}
