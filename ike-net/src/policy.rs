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
    self as cfg, Auth, Config, GlobalMode, IpsecProtocol, KeyFormat, PeerAuthSource, PolicyMode,
    PublicKeyMethod,
};
use ike_ipc::msg::ListenSocket;
use ike_proto::crypto::x509::Clock;
use ike_proto::crypto::{TrustStore, VerifyingKey};
use ike_proto::engine::{
    self, ChildProposal, Identity, IkeProposal, LocalAuth, PeerAuth, RekeySchedule, StartAction,
    TrafficSelector,
};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
/// left out: (name, why). Logs, per policy, how each side authenticates.
pub fn engine_config(config: &Config, listen: &Listen) -> (engine::Config, Vec<(String, String)>) {
    let mut out = engine::Config {
        cookie_threshold: config.global.cookie_threshold as usize,
        // 0 = unset: ike-parent sizes it from memory; anything that did
        // not (a bare Config in tests) gets the fixed fallback, never 0.
        max_half_open: match config.global.half_open_limit {
            0 => ike_ipc::config::DEFAULT_HALF_OPEN_LIMIT,
            n => n,
        } as usize,
        max_half_open_per_source: config.global.half_open_per_source as usize,
        max_half_open_per_prefix: config.global.half_open_per_prefix as usize,
        // The parser kept it within 1..=MAX_WINDOW; the engine clamps too.
        window: config.global.window,
        natt_port: listen.natt_port,
        ..engine::Config::default()
    };
    if out.window > 1 {
        log::info!(
            "message window {} announced to peers (RFC 7296 2.3)",
            out.window
        );
    }
    let mut skipped = Vec::new();
    let creds = Credentials::new(config);
    for p in &config.policies {
        match policy_with(config, &creds, p, listen) {
            Ok(ep) => {
                log::info!("policy {}: {}", p.name, auth_summary(config, p));
                out.policies.push(Arc::new(ep));
            }
            Err(why) => skipped.push((p.name.clone(), format!("{} ({})", why, p.source))),
        }
    }
    (out, skipped)
}

// The parser (which cannot link ike-proto) bounds `set window` by its own
// copy of the engine's cap: they must agree.
const _: () = assert!(cfg::MAX_WINDOW == engine::MAX_WINDOW);

/// The wall clock for certificate validity (RFC 5280 4.1.2.5): seconds
/// since the Unix epoch. A clock before 1970 reads as 0, which makes every
/// certificate "not yet valid" - failing closed.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    })
}

/// What several policies share, built once per configuration: the trust
/// anchors from `ca/` (or why they cannot be used).
struct Credentials {
    trust: Option<Result<Arc<TrustStore>, String>>,
}

impl Credentials {
    fn new(config: &Config) -> Credentials {
        let clock = system_clock();
        let trust = config.has_cas().then(|| {
            let ders: Vec<Vec<u8>> = config.ca_ders().map(<[u8]>::to_vec).collect();
            TrustStore::new(&ders, clock.clone())
                .map(Arc::new)
                .map_err(|e| {
                    // Name the file that holds the bad certificate.
                    let file = config
                        .ca_files
                        .iter()
                        .find(|f| TrustStore::new(&f.ders, clock.clone()).is_err())
                        .map_or("ca/", |f| f.path.as_str());
                    format!("{file}: {e}")
                })
        });
        Credentials { trust }
    }
}

/// One ike.conf policy as an engine policy.
#[cfg(test)]
pub fn policy(config: &Config, p: &cfg::Policy, listen: &Listen) -> Result<engine::Policy, String> {
    // What ike-net gets from the parent: no secret (issue 16).
    let config = &ike_cred::views::net_view(config).0;
    policy_with(config, &Credentials::new(config), p, listen)
}

fn policy_with(
    config: &Config,
    creds: &Credentials,
    p: &cfg::Policy,
    listen: &Listen,
) -> Result<engine::Policy, String> {
    if p.protocol != IpsecProtocol::Esp {
        return Err("AH is not negotiated by this daemon (ESP only)".into());
    }
    // A peer prefix (e.g. `peer 10.0.0.0/8`) can only answer; the engine
    // matches the exact address when it initiates.
    let peer_addr = p.peer.filter(|n| n.is_host()).map(|n| n.addr);
    let local_id = match (&p.srcid, p.local) {
        (Some(id), _) => Identity::from(id),
        (None, Some(ip)) => Identity::addr(ip),
        // iked uses the host name; in the chroot we know only where we
        // listen, which is what the peer sees anyway.
        (None, None) => match listen.addrs.first() {
            Some(ip) => Identity::addr(*ip),
            None => return Err("no srcid, no local address and no --listen address".into()),
        },
    };
    // iked: a policy without dstid and without one peer address accepts
    // any identity the peer authenticates (road warriors, `peer any`).
    let any_peer_id = p.dstid.is_none() && peer_addr.is_none();
    let peer_id = match (&p.dstid, peer_addr) {
        (Some(id), _) => Identity::from(id),
        (None, Some(ip)) => Identity::addr(ip),
        (None, None) => Identity::fqdn(""),
    };
    let (local_auth, local_certs, peer_auth) = auth(config, creds, p)?;
    let mut local_ts = Vec::new();
    let mut peer_ts = Vec::new();
    for f in &p.flows {
        // The engine offers every local selector with every peer one; a
        // file with several `from .. to ..` pairs gets their product,
        // which the broker narrows back to the configured pairs.
        let l = TrafficSelector::from_flow_side(&f.src, f.proto, f.src_port);
        let r = TrafficSelector::from_flow_side(&f.dst, f.proto, f.dst_port);
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
    let out = engine::Policy {
        name: p.name.clone(),
        local_addr: p.local,
        peer_addr,
        // Both ends of a deployment use the same IKE port (500 unless the
        // daemon was started with --port).
        peer_port: listen.ike_port,
        local_port: listen.ike_port,
        ike_proposals: p.ike_proposals.iter().map(IkeProposal::from).collect(),
        child_proposals: p.child_proposals.iter().map(ChildProposal::from).collect(),
        local_id,
        peer_id,
        local_auth,
        local_certs,
        peer_auth,
        local_ts,
        peer_ts,
        mode: p.encapsulation,
        ike_lifetime: RekeySchedule::from_hard_limit(p.ike_lifetime_seconds),
        child_lifetime: RekeySchedule::from_hard_limit(p.lifetime.seconds),
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
        // A client's own address is known only once the gateway lent it.
        trap: active && !p.cp.request_address,
        natt_keepalive: (config.global.natt_keepalive > 0)
            .then(|| Duration::from_secs(u64::from(config.global.natt_keepalive))),
        force_natt: p.natt,
        mobike: config.global.mobike,
        any_peer_id,
        cp: crate::cp::engine_cp(&config.global, &p.cp),
    };
    // Our certificate must hold our key and name our ID, an RFC 4754 key
    // must be on its curve: found now, not as a failed negotiation later.
    out.check_auth()?;
    Ok(out)
}

/// How we prove ourselves (and the certificates we send) and how the peer
/// must. A PSK serves both ways (RFC 7296 2.15); public keys come from
/// `private/local.key`, our certificate from `certs/<id>.crt`, and the
/// peer is checked with its raw key from `pubkeys/` or, without one, its
/// certificate against `ca/` (`Config::peer_auth_source`).
fn auth(
    config: &Config,
    creds: &Credentials,
    p: &cfg::Policy,
) -> Result<(LocalAuth, Vec<Vec<u8>>, PeerAuth), String> {
    let method = match &p.auth {
        // The PSK itself is ike-cred's: ike-net's copy is empty (issue 16,
        // `ike_cred::views::net_view`); the policy name is the reference.
        Auth::Psk(_) => return Ok((LocalAuth::Psk, Vec::new(), PeerAuth::Psk)),
        Auth::PublicKey(m) => *m,
    };
    let key = config
        .local_key
        .as_ref()
        .ok_or("public-key authentication without a usable private/local.key")?;
    // ike-net gets the public half only (SubjectPublicKeyInfo, made by the
    // parent); a private key here means the parent sent the wrong view.
    let public = match key.format {
        KeyFormat::Spki => VerifyingKey::from_spki_der(key.der.expose()),
        KeyFormat::Pkcs1Public => VerifyingKey::from_pkcs1_der(key.der.expose()),
        KeyFormat::Pkcs8 | KeyFormat::Sec1 | KeyFormat::Pkcs1 => {
            return Err("a private key reached ike-net; it must hold the public half only".into())
        }
    }
    .map_err(|e| format!("private/local.key: {e}"))?;
    let public = Arc::new(public);
    let local_auth = match method {
        // OpenIKED's `rsa` is auth method 1 (SHA-1), which ring cannot
        // sign; RFC 7427 with the same RSA key is what iked itself sends to
        // peers that support it.
        PublicKeyMethod::Rsa if !public.scheme().is_rsa() => {
            return Err("rsa: private/local.key is not an RSA key".into())
        }
        PublicKeyMethod::Rsa | PublicKeyMethod::Rfc7427 => LocalAuth::Signature(public),
        PublicKeyMethod::Ecdsa256 | PublicKeyMethod::Ecdsa384 => {
            // RFC 4754: the method (9 or 10) names the curve; the key must
            // be on it, or every signature would be refused by the peer.
            if public.rfc4754_method() != Some(method.auth_method()) {
                let curve = match method {
                    PublicKeyMethod::Ecdsa256 => "P-256",
                    _ => "P-384",
                };
                return Err(format!(
                    "{}: private/local.key is not an ECDSA {curve} key",
                    method.name()
                ));
            }
            LocalAuth::Rfc4754(public)
        }
        PublicKeyMethod::Ecdsa521 => return Err("ecdsa521 is not implemented".into()),
    };
    let local_certs = config
        .local_cert(p)
        .map(|c| c.file.ders.clone())
        .unwrap_or_default();
    let peer_auth = match config.peer_auth_source(p) {
        Some(PeerAuthSource::PublicKey(peer)) => {
            let shown = format!("pubkeys/{}/{}", peer.id.pubkey_dir(), peer.id);
            let verifying = match peer.key.format {
                KeyFormat::Spki => VerifyingKey::from_spki_der(peer.key.der.expose()),
                KeyFormat::Pkcs1Public => VerifyingKey::from_pkcs1_der(peer.key.der.expose()),
                other => return Err(format!("{shown} is {other:?}, not a public key")),
            }
            .map_err(|e| format!("{shown}: {e}"))?;
            PeerAuth::Signature(Arc::new(verifying))
        }
        Some(PeerAuthSource::Certificate) => match &creds.trust {
            Some(Ok(store)) => PeerAuth::Certificate(store.clone()),
            Some(Err(why)) => return Err(why.clone()),
            None => return Err("no CA certificates".into()),
        },
        Some(PeerAuthSource::Missing(id)) => {
            return Err(format!(
                "no pubkeys/{}/{id} and no CA in ca/",
                id.pubkey_dir()
            ))
        }
        Some(PeerAuthSource::Unknown) | None => {
            return Err("public-key authentication needs a dstid".into())
        }
    };
    Ok((local_auth, local_certs, peer_auth))
}

/// How a policy authenticates, for the log: methods and the files the
/// material came from, never the material.
pub fn auth_summary(config: &Config, p: &cfg::Policy) -> String {
    let method = match &p.auth {
        Auth::Psk(_) => return "auth pre-shared key, both directions".into(),
        Auth::PublicKey(m) => *m,
    };
    let ours = match method {
        PublicKeyMethod::Ecdsa256 => "ecdsa256 (RFC 4754, method 9)",
        PublicKeyMethod::Ecdsa384 => "ecdsa384 (RFC 4754, method 10)",
        PublicKeyMethod::Rsa => "rsa (RFC 7427, method 14)",
        _ => "rfc7427 (method 14)",
    };
    let cert = match config.local_cert(p) {
        Some(c) => format!(
            "sending {} ({} certificate(s))",
            c.file.path,
            c.file.ders.len()
        ),
        None => "no certificate".into(),
    };
    let peer = match config.peer_auth_source(p) {
        Some(PeerAuthSource::PublicKey(k)) => {
            format!("raw public key pubkeys/{}/{}", k.id.pubkey_dir(), k.id)
        }
        Some(PeerAuthSource::Certificate) => format!(
            "certificate, checked against {} CA(s) from ca/",
            config.ca_ders().count()
        ),
        _ => "unknown".into(),
    };
    format!("auth ours {ours} with private/local.key, {cert}; peer {peer}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ike_ipc::config::{Flow, IpNet, Secret as CfgSecret};
    use ike_proto::wire::consts::{DhGroup, EncrId, IntegId};

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

    /// What ike-net really converts: the parent's view without secrets
    /// (`ike_cred::views::net_view`, issue 16).
    fn view_config(config: &Config, listen: &Listen) -> (engine::Config, Vec<(String, String)>) {
        engine_config(&ike_cred::views::net_view(config).0, listen)
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
        let (e, skipped) = view_config(&config, &listen());
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
        assert!(matches!(
            (&p.local_auth, &p.peer_auth),
            (LocalAuth::Psk, PeerAuth::Psk)
        ));
        // ike-net's copy of the configuration holds no PSK at all.
        let view = ike_cred::views::net_view(&config).0;
        assert!(matches!(&view.policies[0].auth, Auth::Psk(s) if s.is_empty()));
    }

    #[test]
    fn set_window_reaches_the_engine() {
        let mut config = Config::default();
        assert_eq!(view_config(&config, &listen()).0.window, 1);
        config.global.window = 4;
        assert_eq!(view_config(&config, &listen()).0.window, 4);
    }

    #[test]
    fn passive_globally_or_without_a_peer() {
        let mut config = Config {
            policies: vec![psk_policy()],
            ..Config::default()
        };
        config.global.mode = GlobalMode::Passive;
        let (e, _) = view_config(&config, &listen());
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
        rsa.dstid = Some(cfg::Identity::Fqdn("b.test".into()));
        let config = Config {
            policies: vec![ah, anon, pk, rsa, psk_policy()],
            ..Config::default()
        };
        let (e, skipped) = view_config(&config, &listen());
        // `peer any` without dstid is served (issue 15): any identity the
        // peer authenticates, as iked.
        assert_eq!(e.policies.len(), 2);
        assert!(e.policies[0].any_peer_id && e.policies[0].name == "anon");
        assert!(!e.policies[1].any_peer_id);
        assert_eq!(skipped.len(), 3, "{skipped:?}");
        assert_eq!(skipped[0].0, "ah");
        assert!(skipped[0].1.contains("AH"));
        assert!(skipped[1].1.contains("local.key"));
        assert!(skipped[2].1.contains("local.key"));
    }

    // A test CA and a certificate for a.test (SAN DNS:a.test) with its
    // P-256 key, made with openssl for these tests (valid for 100 years).
    const CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBuDCCAV+gAwIBAgIUTyoXQ6iMTuE+bjaeI82qveLoCQowCgYIKoZIzj0EAwIw
KTEVMBMGA1UECgwMaWtlLW5ldCB0ZXN0MRAwDgYDVQQDDAd0ZXN0IENBMCAXDTI2
MTEyNzE0MDMyOFoYDzIxMjYxMTAzMTQwMzI4WjApMRUwEwYDVQQKDAxpa2UtbmV0
IHRlc3QxEDAOBgNVBAMMB3Rlc3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC
AAQ3jwi9I0+36QEl+K5Ld3H4aNJBwnzIQ3D3r7aSC7PmDgIPSL+r4Lbhi5cN0spr
FhKPXXPqeLxPbMOHN5cpokh8o2MwYTAdBgNVHQ4EFgQURAcspnmlWfzqVmhuOPay
OMQ4GjswHwYDVR0jBBgwFoAURAcspnmlWfzqVmhuOPayOMQ4GjswDwYDVR0TAQH/
BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAgQwCgYIKoZIzj0EAwIDRwAwRAIgD/nnuLrB
KVjRMaPkZgcjoiyzcKR+eHfAcWGGwqqZARgCIEawI4C6m6+6Zk2+7hbkiZ3DdTVI
V5HeaR5dPiVqUY3n
-----END CERTIFICATE-----
";
    const A_CERT_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBxTCCAWugAwIBAgIUCRFK8Z+4ouCAttCR1pNjKXRGus0wCgYIKoZIzj0EAwIw
KTEVMBMGA1UECgwMaWtlLW5ldCB0ZXN0MRAwDgYDVQQDDAd0ZXN0IENBMCAXDTI2
MTEyNzE0MDMyOFoYDzIxMjYxMTAzMTQwMzI4WjAoMRUwEwYDVQQKDAxpa2UtbmV0
IHRlc3QxDzANBgNVBAMMBmEudGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IA
BJ/eNBoVsC/WAH3XhXKcNoQoC4+Gya7zTMyhj+fvBw2jSzPNc1WeHqig0SmBip7R
foQ9YelMRQhcwegiS4g7p/WjcDBuMAkGA1UdEwQCMAAwDgYDVR0PAQH/BAQDAgeA
MBEGA1UdEQQKMAiCBmEudGVzdDAdBgNVHQ4EFgQU+9h1EWTRP0rJzW5cCWIGdzqk
rn8wHwYDVR0jBBgwFoAURAcspnmlWfzqVmhuOPayOMQ4GjswCgYIKoZIzj0EAwID
SAAwRQIgbynS4gqnTI0x1Xd69Qh9YWvo1/bxOVatgjxzx7qWheICIQDGVFCGQxmS
8vOXx0LPjb7A0DOuIXd3oH1jdkj8kmBBHg==
-----END CERTIFICATE-----
";
    /// a.test's private key, PKCS#8 DER (P-256), in hex.
    const A_KEY_HEX: &str = "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b02\
        01010420806b38d6e30823c9a7a37410a3f30b76b720733cdc1eb4e4521bd2ff4189eb89a144034200049f\
        de341a15b02fd6007dd785729c3684280b8f86c9aef34ccca18fe7ef070da34b33cd73559e1ea8a0d12981\
        8a9ed17e843d61e94c45085cc1e8224b883ba7f5";

    /// The same key as SEC 1 ECPrivateKey DER (RFC 5915; `openssl ec`).
    const A_KEY_SEC1_HEX: &str =
        "30770201010420806b38d6e30823c9a7a37410a3f30b76b720733cdc1eb4e4521bd2ff4189eb89a00a0608\
        2a8648ce3d030107a144034200049fde341a15b02fd6007dd785729c3684280b8f86c9aef34ccca18fe7ef\
        070da34b33cd73559e1ea8a0d129818a9ed17e843d61e94c45085cc1e8224b883ba7f5";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn der(pem: &str) -> Vec<Vec<u8>> {
        ike_proto::crypto::x509::certificates_from_pem(pem.as_bytes()).unwrap()
    }

    fn pkcs8(der: Vec<u8>) -> cfg::KeyMaterial {
        cfg::KeyMaterial {
            format: KeyFormat::Pkcs8,
            der: CfgSecret::new(der),
        }
    }

    /// A fresh ECDSA key as PKCS#8, and its public key as SPKI DER.
    fn ec_key(alg: &'static ring::signature::EcdsaSigningAlgorithm) -> (Vec<u8>, Vec<u8>) {
        use ring::signature::KeyPair;
        let rng = ring::rand::SystemRandom::new();
        let p8 = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let pair = ring::signature::EcdsaKeyPair::from_pkcs8(alg, p8.as_ref(), &rng).unwrap();
        // SubjectPublicKeyInfo prefixes (RFC 5480): id-ecPublicKey with
        // the named curve, then the BIT STRING holding the point.
        let prefix = if pair.public_key().as_ref().len() == 65 {
            unhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")
        } else {
            unhex("3076301006072a8648ce3d020106052b81040022036200")
        };
        let spki = [prefix, pair.public_key().as_ref().to_vec()].concat();
        (p8.as_ref().to_vec(), spki)
    }

    fn signed_policy(method: cfg::PublicKeyMethod) -> cfg::Policy {
        let mut p = psk_policy();
        p.name = method.name().into();
        p.auth = Auth::PublicKey(method);
        p.srcid = Some(cfg::Identity::Fqdn("a.test".into()));
        p.dstid = Some(cfg::Identity::Fqdn("b.test".into()));
        p
    }

    fn with_peer_key(spki: Vec<u8>) -> Config {
        Config {
            peer_keys: vec![cfg::PeerKey {
                id: cfg::Identity::Fqdn("b.test".into()),
                key: cfg::KeyMaterial {
                    format: KeyFormat::Spki,
                    der: CfgSecret::new(spki),
                },
            }],
            ..Config::default()
        }
    }

    #[test]
    fn public_key_methods_map_to_the_engine_and_check_the_curve() {
        use cfg::PublicKeyMethod::*;
        let (_, peer) = ec_key(&ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING);
        let (p384, _) = ec_key(&ring::signature::ECDSA_P384_SHA384_ASN1_SIGNING);
        let mut config = with_peer_key(peer);
        config.local_key = Some(pkcs8(unhex(A_KEY_HEX)));
        let kind = |config: &Config, m| {
            policy(config, &signed_policy(m), &listen()).map(|e| {
                match (e.local_auth, e.peer_auth) {
                    (LocalAuth::Rfc4754(_), PeerAuth::Signature(_)) => "rfc4754",
                    (LocalAuth::Signature(_), PeerAuth::Signature(_)) => "rfc7427",
                    _ => "other",
                }
            })
        };
        assert_eq!(kind(&config, Ecdsa256), Ok("rfc4754"));
        assert_eq!(kind(&config, Rfc7427), Ok("rfc7427"));
        let e = kind(&config, Ecdsa384).unwrap_err();
        assert!(e.contains("not an ECDSA P-384 key"), "{e}");
        let e = kind(&config, Rsa).unwrap_err();
        assert!(e.contains("not an RSA key"), "{e}");
        let p384_again = p384.clone();
        config.local_key = Some(pkcs8(p384));
        assert_eq!(kind(&config, Ecdsa384), Ok("rfc4754"));
        assert_eq!(kind(&config, Rfc7427), Ok("rfc7427"));
        let e = kind(&config, Ecdsa256).unwrap_err();
        assert!(e.contains("not an ECDSA P-256 key"), "{e}");
        // The same P-256 key as SEC 1 ("EC PRIVATE KEY") works too.
        config.local_key = Some(cfg::KeyMaterial {
            format: KeyFormat::Sec1,
            der: CfgSecret::new(unhex(A_KEY_SEC1_HEX)),
        });
        assert_eq!(kind(&config, Ecdsa256), Ok("rfc4754"));
        config.local_key = Some(cfg::KeyMaterial {
            format: KeyFormat::Pkcs1,
            der: CfgSecret::new(unhex(A_KEY_SEC1_HEX)),
        });
        let e = kind(&config, Rfc7427).unwrap_err();
        assert!(e.contains("private/local.key"), "{e}");
        config.local_key = Some(pkcs8(p384_again));
        // No certificate configured: none sent.
        let e = policy(&config, &signed_policy(Rfc7427), &listen()).unwrap();
        assert!(e.local_certs.is_empty());
    }

    fn cert_config() -> Config {
        Config {
            local_key: Some(pkcs8(unhex(A_KEY_HEX))),
            ca_files: vec![cfg::CertFile {
                path: "/etc/ike/ca/ca.crt".into(),
                ders: der(CA_PEM),
            }],
            local_certs: vec![cfg::LocalCert {
                id: cfg::Identity::Fqdn("a.test".into()),
                file: cfg::CertFile {
                    path: "/etc/ike/certs/a.test.crt".into(),
                    ders: der(A_CERT_PEM),
                },
            }],
            policies: vec![signed_policy(cfg::PublicKeyMethod::Ecdsa256)],
            ..Config::default()
        }
    }

    #[test]
    fn certificates_reach_the_engine() {
        let config = cert_config();
        let (e, skipped) = view_config(&config, &listen());
        assert!(skipped.is_empty(), "{skipped:?}");
        let p = &e.policies[0];
        assert_eq!(p.local_certs, der(A_CERT_PEM));
        assert!(matches!(p.local_auth, LocalAuth::Rfc4754(_)));
        match &p.peer_auth {
            PeerAuth::Certificate(store) => {
                assert_eq!(store.certreq_hashes().len(), 1);
                // The daemon's clock is the wall clock.
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_secs();
                assert!(store.now().abs_diff(now) < 60);
            }
            other => panic!("{other:?}"),
        }
        // Two policies share one trust store.
        let mut two = config.clone();
        let mut second = signed_policy(cfg::PublicKeyMethod::Rfc7427);
        second.name = "second".into();
        two.policies.push(second);
        let (e, _) = view_config(&two, &listen());
        match (&e.policies[0].peer_auth, &e.policies[1].peer_auth) {
            (PeerAuth::Certificate(a), PeerAuth::Certificate(b)) => assert!(Arc::ptr_eq(a, b)),
            other => panic!("{other:?}"),
        }
        // A raw key in pubkeys/ wins over the CA.
        let (_, peer) = ec_key(&ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING);
        let mut pinned = config.clone();
        pinned.peer_keys = with_peer_key(peer).peer_keys;
        let (e, _) = view_config(&pinned, &listen());
        assert!(matches!(e.policies[0].peer_auth, PeerAuth::Signature(_)));
    }

    #[test]
    fn certificate_problems_leave_the_policy_out_with_the_reason() {
        // Our certificate does not name our srcid.
        let mut config = cert_config();
        config.local_certs[0].id = cfg::Identity::Fqdn("c.test".into());
        config.policies[0].srcid = Some(cfg::Identity::Fqdn("c.test".into()));
        let (e, skipped) = view_config(&config, &listen());
        assert!(e.policies.is_empty());
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        // Our certificate holds another key than private/local.key.
        let mut config = cert_config();
        let (other, _) = ec_key(&ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING);
        config.local_key = Some(pkcs8(other));
        let (_, skipped) = view_config(&config, &listen());
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        // A CA file that is not a certificate, after a good one: named.
        let mut config = cert_config();
        config.ca_files.push(cfg::CertFile {
            path: "/etc/ike/ca/broken.pem".into(),
            ders: vec![vec![0x30, 0]],
        });
        let (_, skipped) = view_config(&config, &listen());
        assert!(
            skipped[0].1.starts_with("/etc/ike/ca/broken.pem: "),
            "{skipped:?}"
        );
        // Neither a peer key nor a CA (a parser bypass: it refuses this).
        let mut config = cert_config();
        config.ca_files.clear();
        let (_, skipped) = view_config(&config, &listen());
        assert!(
            skipped[0].1.contains("no pubkeys/fqdn/b.test"),
            "{skipped:?}"
        );
    }

    #[test]
    fn the_auth_summary_names_files_not_secrets() {
        let config = cert_config();
        let line = auth_summary(&config, &config.policies[0]);
        assert_eq!(
            line,
            "auth ours ecdsa256 (RFC 4754, method 9) with private/local.key, \
             sending /etc/ike/certs/a.test.crt (1 certificate(s)); \
             peer certificate, checked against 1 CA(s) from ca/"
        );
        let psk = psk_policy();
        let line = auth_summary(&config, &psk);
        assert!(!line.contains("secret"), "{line}");
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
