//! The parsed configuration (`ike_ipc::config`, the parent's serde model of
//! ike.conf) turned into what the IKE engine negotiates
//! (`ike_proto::engine::Config`).
//!
//! The parent validated the shape of every value; what is left here is
//! mapping names to IANA numbers, choosing defaults that the file leaves
//! open (identities, peer port, rekey margins) and refusing, with a log
//! line, the policies the engine cannot serve (AH, a responder without a
//! peer identity, a key it cannot load).

use ike_ipc::config::{
    self as cfg, Auth, Config, Encapsulation, GlobalMode, IpsecProtocol, KeyFormat, PolicyMode,
};
use ike_ipc::msg::ListenSocket;
use ike_proto::crypto::{Secret, SigningKey, VerifyingKey};
use ike_proto::engine::{
    self, ChildProposal, Encr, Identity, IkeProposal, Lifetime, LocalAuth, Mode, PeerAuth,
    StartAction, TrafficSelector,
};
use ike_proto::wire::consts::{DhGroup, EncrId, IdType, IntegId, PrfId};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Where the daemon listens: our IKE port (500) and NAT-T port (4500), and
/// the specific addresses (for a default local identity).
#[derive(Debug, Clone, Default)]
pub struct Listen {
    pub ike_port: u16,
    pub natt_port: u16,
    pub addrs: Vec<IpAddr>,
}

impl Listen {
    pub fn from_sockets(sockets: &[ListenSocket]) -> Listen {
        let mut l = Listen {
            ike_port: 500,
            natt_port: 4500,
            addrs: Vec::new(),
        };
        if let Some(s) = sockets.iter().find(|s| !s.natt) {
            l.ike_port = s.addr.port();
        }
        if let Some(s) = sockets.iter().find(|s| s.natt) {
            l.natt_port = s.addr.port();
        }
        for s in sockets.iter().filter(|s| !s.natt) {
            let ip = s.addr.ip();
            if !ip.is_unspecified() && !l.addrs.contains(&ip) {
                l.addrs.push(ip);
            }
        }
        l
    }
}

/// The engine's configuration for `config`, and the policies that were
/// left out: (name, why).
pub fn engine_config(config: &Config, listen: &Listen) -> (engine::Config, Vec<(String, String)>) {
    let mut out = engine::Config {
        cookie_threshold: config.global.cookie_threshold as usize,
        max_half_open: config.global.half_open_limit as usize,
        natt_port: listen.natt_port,
        ..engine::Config::default()
    };
    let mut skipped = Vec::new();
    for p in &config.policies {
        match policy(config, p, listen) {
            Ok(ep) => out.policies.push(Arc::new(ep)),
            Err(why) => skipped.push((p.name.clone(), format!("{} ({})", why, p.source))),
        }
    }
    (out, skipped)
}

/// One ike.conf policy as an engine policy.
pub fn policy(config: &Config, p: &cfg::Policy, listen: &Listen) -> Result<engine::Policy, String> {
    if p.protocol != IpsecProtocol::Esp {
        return Err("AH is not negotiated by this daemon (ESP only)".into());
    }
    // A peer prefix (e.g. `peer 10.0.0.0/8`) can only answer; the engine
    // matches the exact address when it initiates.
    let peer_addr = p.peer.filter(|n| n.is_host()).map(|n| n.addr);
    let local_id = match (&p.srcid, p.local) {
        (Some(id), _) => identity(id),
        (None, Some(ip)) => Identity::addr(ip),
        // iked uses the host name; in the chroot we know only where we
        // listen, which is what the peer sees anyway.
        (None, None) => match listen.addrs.first() {
            Some(ip) => Identity::addr(*ip),
            None => return Err("no srcid, no local address and no --listen address".into()),
        },
    };
    let peer_id = match (&p.dstid, peer_addr) {
        (Some(id), _) => identity(id),
        (None, Some(ip)) => Identity::addr(ip),
        (None, None) => {
            return Err(
                "no dstid and no single peer address: the peer's identity is unknown".into(),
            )
        }
    };
    let (local_auth, peer_auth) = auth(config, p)?;
    let mut local_ts = Vec::new();
    let mut peer_ts = Vec::new();
    for f in &p.flows {
        // The engine offers every local selector with every peer one; a
        // file with several `from .. to ..` pairs gets their product,
        // which the broker narrows back to the configured pairs.
        let l = selector(&f.src, f.proto, f.src_port);
        let r = selector(&f.dst, f.proto, f.dst_port);
        if !local_ts.contains(&l) {
            local_ts.push(l);
        }
        if !peer_ts.contains(&r) {
            peer_ts.push(r);
        }
    }
    let dpd = config.global.dpd_check_interval;
    let active = p.mode == PolicyMode::Active
        && config.global.mode == GlobalMode::Active
        && p.peer.is_some();
    Ok(engine::Policy {
        name: p.name.clone(),
        local_addr: p.local,
        peer_addr,
        // Both ends of a deployment use the same IKE port (500 unless the
        // daemon was started with --port).
        peer_port: listen.ike_port,
        local_port: listen.ike_port,
        ike_proposals: p.ike_proposals.iter().map(ike_proposal).collect(),
        child_proposals: p.child_proposals.iter().map(child_proposal).collect(),
        local_id,
        peer_id,
        local_auth,
        local_certs: Vec::new(),
        peer_auth,
        local_ts,
        peer_ts,
        mode: match p.encapsulation {
            Encapsulation::Tunnel => Mode::Tunnel,
            Encapsulation::Transport => Mode::Transport,
        },
        ike_lifetime: lifetime(p.ike_lifetime_seconds),
        child_lifetime: lifetime(p.lifetime.seconds),
        dpd_interval: (dpd > 0).then(|| Duration::from_secs(u64::from(dpd))),
        start: if active {
            StartAction::Active
        } else {
            StartAction::Passive
        },
        fragmentation: config.global.fragmentation,
        childless: false,
        initial_contact: true,
        // An active policy's selectors stay in the kernel while no
        // CHILD_SA exists: traffic waits for the tunnel (ACQUIRE) instead
        // of leaving in clear.
        trap: active,
    })
}

/// The configured seconds are the hard limit (iked.conf(5) `lifetime`,
/// `ikelifetime`); the rekey starts at 90 % minus up to 5 % jitter, so the
/// replacement is in place well before the kernel drops the old SA.
pub fn lifetime(seconds: u64) -> Lifetime {
    let hard = Duration::from_secs(seconds.max(1));
    Lifetime {
        rekey: hard.mul_f64(0.9),
        jitter: hard.mul_f64(0.05),
        hard,
    }
}

fn identity(id: &cfg::Identity) -> Identity {
    Identity {
        kind: IdType(id.id_type()),
        data: id.data(),
    }
}

/// A configured prefix (with protocol and single port) as a selector.
pub fn selector(net: &cfg::IpNet, proto: Option<u8>, port: Option<u16>) -> TrafficSelector {
    let (start, end) = net.range();
    let mut ts = TrafficSelector::range(start, end);
    ts.protocol = proto.unwrap_or(0);
    if let Some(p) = port {
        ts.start_port = p;
        ts.end_port = p;
    }
    ts
}

fn encr(e: cfg::Encryption) -> Encr {
    Encr {
        id: EncrId(e.transform_id()),
        key_bits: e.key_bits(),
    }
}

fn ike_proposal(p: &cfg::IkeProposal) -> IkeProposal {
    IkeProposal {
        encr: p.encryption.iter().copied().map(encr).collect(),
        prf: p.prf.iter().map(|x| PrfId(x.transform_id())).collect(),
        integ: p
            .integrity
            .iter()
            .map(|x| IntegId(x.transform_id()))
            .collect(),
        dh: p.groups.iter().map(|x| DhGroup(x.transform_id())).collect(),
    }
}

fn child_proposal(p: &cfg::ChildProposal) -> ChildProposal {
    ChildProposal {
        encr: p.encryption.iter().copied().map(encr).collect(),
        integ: p
            .integrity
            .iter()
            .map(|x| IntegId(x.transform_id()))
            .collect(),
        dh: p.groups.iter().map(|x| DhGroup(x.transform_id())).collect(),
        esn: p.esn.contains(&cfg::Esn::Extended),
    }
}

/// How we prove ourselves and how the peer must. A PSK serves both ways
/// (RFC 7296 2.15); public keys come from `private/local.key` and
/// `pubkeys/<type>/<dstid>` next to the configuration.
fn auth(config: &Config, p: &cfg::Policy) -> Result<(LocalAuth, PeerAuth), String> {
    match &p.auth {
        Auth::Psk(s) => {
            if s.is_empty() {
                return Err("empty pre-shared key".into());
            }
            Ok((
                LocalAuth::Psk(Secret::from_slice(s.expose())),
                PeerAuth::Psk(Secret::from_slice(s.expose())),
            ))
        }
        Auth::PublicKey(method) if *method != cfg::PublicKeyMethod::Rfc7427 => Err(format!(
            "{}: only rfc7427 signatures (auth method 14) are implemented",
            method.name()
        )),
        Auth::PublicKey(_) => {
            let key = config
                .local_key
                .as_ref()
                .ok_or("public-key authentication without private/local.key")?;
            if key.format != KeyFormat::Pkcs8 {
                return Err(format!(
                    "private/local.key is {:?}; only PKCS#8 (\"PRIVATE KEY\") keys are loaded",
                    key.format
                ));
            }
            let rng = ring::rand::SystemRandom::new();
            let signing = SigningKey::from_pkcs8_der(key.der.expose(), &rng)
                .map_err(|e| format!("private/local.key: {e}"))?;
            let dstid = p
                .dstid
                .as_ref()
                .ok_or("public-key authentication needs a dstid")?;
            let peer = config
                .peer_keys
                .iter()
                .find(|k| &k.id == dstid)
                .ok_or_else(|| format!("no pubkeys/{}/{dstid}", dstid.pubkey_dir()))?;
            if peer.key.format != KeyFormat::Spki {
                return Err(format!(
                    "pubkeys/{}/{dstid} is {:?}; only \"PUBLIC KEY\" (SPKI) keys are loaded",
                    dstid.pubkey_dir(),
                    peer.key.format
                ));
            }
            let verifying = VerifyingKey::from_spki_der(peer.key.der.expose())
                .map_err(|e| format!("pubkeys/{}/{dstid}: {e}", dstid.pubkey_dir()))?;
            Ok((
                LocalAuth::Signature(Arc::new(signing)),
                PeerAuth::Signature(Arc::new(verifying)),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ike_ipc::config::{Flow, IpNet, Secret as CfgSecret};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn psk_policy() -> cfg::Policy {
        let mut p = cfg::Policy::new("tun");
        p.mode = PolicyMode::Active;
        p.local = Some(ip("127.0.0.1"));
        p.peer = Some(IpNet::host(ip("127.0.0.2")));
        p.auth = Auth::Psk(CfgSecret::new(b"secret".to_vec()));
        p.flows.push(Flow {
            proto: Some(6),
            src: IpNet::new(ip("10.1.0.0"), 16).unwrap(),
            src_port: None,
            dst: IpNet::host(ip("10.2.0.5")),
            dst_port: Some(443),
        });
        p.ike_proposals.push(cfg::IkeProposal {
            encryption: vec![cfg::Encryption::Aes256Gcm16],
            prf: vec![cfg::Prf::HmacSha2_256],
            integrity: vec![],
            groups: vec![cfg::DhGroup::Curve25519],
        });
        p.child_proposals.push(cfg::ChildProposal {
            encryption: vec![cfg::Encryption::Aes128Cbc],
            integrity: vec![cfg::Integrity::HmacSha2_256],
            groups: vec![],
            esn: vec![cfg::Esn::None],
        });
        p
    }

    fn listen() -> Listen {
        Listen {
            ike_port: 5500,
            natt_port: 5501,
            addrs: vec![ip("127.0.0.1")],
        }
    }

    #[test]
    fn psk_policy_maps_field_by_field() {
        let config = Config {
            policies: vec![psk_policy()],
            ..Config::default()
        };
        let (e, skipped) = engine_config(&config, &listen());
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(e.natt_port, 5501);
        let p = &e.policies[0];
        assert_eq!(p.name, "tun");
        assert_eq!(p.peer_addr, Some(ip("127.0.0.2")));
        assert_eq!((p.local_port, p.peer_port), (5500, 5500));
        assert_eq!(p.local_id, Identity::addr(ip("127.0.0.1")));
        assert_eq!(p.peer_id, Identity::addr(ip("127.0.0.2")));
        assert_eq!(p.start, StartAction::Active);
        assert!(p.trap);
        assert_eq!(p.ike_proposals[0].encr[0].id, EncrId::AES_GCM_16);
        assert_eq!(p.ike_proposals[0].encr[0].key_bits, Some(256));
        assert_eq!(p.ike_proposals[0].dh, vec![DhGroup::CURVE25519]);
        assert_eq!(p.child_proposals[0].integ, vec![IntegId(12)]);
        assert!(!p.child_proposals[0].esn);
        assert_eq!(p.local_ts.len(), 1);
        assert_eq!(p.local_ts[0].start, ip("10.1.0.0"));
        assert_eq!(p.local_ts[0].end, ip("10.1.255.255"));
        assert_eq!(p.local_ts[0].protocol, 6);
        assert_eq!((p.peer_ts[0].start_port, p.peer_ts[0].end_port), (443, 443));
        assert_eq!(p.dpd_interval, Some(Duration::from_secs(60)));
        match (&p.local_auth, &p.peer_auth) {
            (LocalAuth::Psk(a), PeerAuth::Psk(b)) => {
                assert_eq!(a.as_bytes(), b"secret");
                assert_eq!(b.as_bytes(), b"secret");
            }
            _ => panic!("not PSK"),
        }
    }

    #[test]
    fn passive_globally_or_without_a_peer() {
        let mut config = Config {
            policies: vec![psk_policy()],
            ..Config::default()
        };
        config.global.mode = GlobalMode::Passive;
        let (e, _) = engine_config(&config, &listen());
        assert_eq!(e.policies[0].start, StartAction::Passive);
        assert!(!e.policies[0].trap);

        let mut p = psk_policy();
        p.peer = Some(IpNet::new(ip("127.0.0.0"), 8).unwrap());
        p.dstid = Some(cfg::Identity::Fqdn("peer.example".into()));
        let e = policy(&Config::default(), &p, &listen()).unwrap();
        assert_eq!(e.peer_addr, None, "a prefix only answers");
        assert_eq!(e.peer_id, Identity::fqdn("peer.example"));
    }

    #[test]
    fn unservable_policies_are_reported_not_dropped_silently() {
        let mut ah = psk_policy();
        ah.name = "ah".into();
        ah.protocol = IpsecProtocol::Ah;
        let mut anon = psk_policy();
        anon.name = "anon".into();
        anon.peer = None;
        let mut pk = psk_policy();
        pk.name = "pk".into();
        pk.auth = Auth::PublicKey(cfg::PublicKeyMethod::Rfc7427);
        let mut rsa = psk_policy();
        rsa.name = "rsa".into();
        rsa.auth = Auth::PublicKey(cfg::PublicKeyMethod::Rsa);
        let config = Config {
            policies: vec![ah, anon, pk, rsa, psk_policy()],
            ..Config::default()
        };
        let (e, skipped) = engine_config(&config, &listen());
        assert_eq!(e.policies.len(), 1);
        assert_eq!(skipped.len(), 4, "{skipped:?}");
        assert_eq!(skipped[0].0, "ah");
        assert!(skipped[0].1.contains("AH"));
        assert!(skipped[1].1.contains("dstid"));
        assert!(skipped[2].1.contains("local.key"));
        assert!(skipped[3].1.contains("only rfc7427"));
    }

    #[test]
    fn lifetimes_rekey_before_the_hard_limit() {
        let l = lifetime(3600);
        assert_eq!(l.hard, Duration::from_secs(3600));
        assert!(l.rekey + l.jitter < l.hard);
        assert!(l.rekey > l.jitter);
    }

    #[test]
    fn listen_sockets_give_ports_and_addresses() {
        let s = |a: &str, natt| ListenSocket {
            addr: a.parse().unwrap(),
            natt,
        };
        let l = Listen::from_sockets(&[
            s("127.0.0.2:7000", false),
            s("127.0.0.2:7001", true),
            s("0.0.0.0:7000", false),
        ]);
        assert_eq!((l.ike_port, l.natt_port), (7000, 7001));
        assert_eq!(l.addrs, vec![ip("127.0.0.2")]);
    }
}
