//! What `ike-ctl show sa` and `show policy` print, as text for people and
//! JSON for scripts.
//!
//! `show sa` is a snapshot of the engine's own table (`Engine::sa_info`):
//! every IKE SA in any state, with its CHILD_SAs, algorithms and
//! deadlines. JSON is written with serde_json from plain structs, so every
//! string is escaped properly (policy names come from the configuration,
//! identities from the peer).

use crate::kernel::Counters;
use crate::policy::Listen;
use ike_ipc::config::{Auth, Config, Encapsulation, GlobalMode, PolicyMode};
use ike_proto::engine::{ChildInfo, ChildStatus, Identity, IkeSaInfo, IkeStatus, TrafficSelector};
use ike_proto::wire::consts::IdType;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

/// (established IKE SAs, their installed CHILD_SAs), for `show stats`.
pub fn counts(sas: &[IkeSaInfo]) -> (u64, u64) {
    let up = sas.iter().filter(|s| s.status == IkeStatus::Established);
    let (mut ike, mut child) = (0u64, 0u64);
    for s in up {
        ike += 1;
        child += s
            .children
            .iter()
            .filter(|c| c.status != ChildStatus::Deleting)
            .count() as u64;
    }
    (ike, child)
}

/// Established IKE SAs per policy name.
fn per_policy(sas: &[IkeSaInfo]) -> BTreeMap<&str, usize> {
    let mut m = BTreeMap::new();
    for s in sas.iter().filter(|s| s.status == IkeStatus::Established) {
        *m.entry(s.policy.as_str()).or_insert(0) += 1;
    }
    m
}

/// Seconds from `now` to `t` (0 if past), for lifetimes.
fn secs_until(now: Instant, t: Instant) -> u64 {
    t.saturating_duration_since(now).as_secs()
}

fn ike_status(s: IkeStatus) -> &'static str {
    match s {
        IkeStatus::Connecting => "connecting",
        IkeStatus::Authenticating => "authenticating",
        IkeStatus::Established => "established",
        IkeStatus::Deleting => "deleting",
        IkeStatus::Rekeyed => "rekeyed",
    }
}

fn child_status(s: ChildStatus) -> &'static str {
    match s {
        ChildStatus::Installing => "installing",
        ChildStatus::Installed => "installed",
        ChildStatus::Rekeying => "rekeying",
        ChildStatus::Rekeyed => "rekeyed",
        ChildStatus::Deleting => "deleting",
    }
}

/// The kernel's last counters of the SA (destination, SPI).
pub type CounterLookup<'a> = &'a dyn Fn(IpAddr, u32) -> Option<Counters>;

fn child_row(now: Instant, e: &IkeSaInfo, c: &ChildInfo, counters: CounterLookup<'_>) -> ChildJson {
    let inbound = counters(e.local.ip(), c.spi_in);
    let outbound = counters(e.remote.ip(), c.spi_out);
    ChildJson {
        bytes_in: inbound.map(|x| x.bytes),
        packets_in: inbound.map(|x| x.packets),
        bytes_out: outbound.map(|x| x.bytes),
        packets_out: outbound.map(|x| x.packets),
        status: child_status(c.status),
        spi_in: c.spi_in,
        spi_out: c.spi_out,
        mode: mode_text(c.mode),
        encryption: encr_text(c.suite.encr.id.0, c.suite.encr.key_bits),
        integrity: c.suite.integ.map(|i| integ_text(i.0)),
        pfs_group: c.suite.dh.map(|g| group_text(g.0)),
        esn: c.suite.esn,
        local_ts: c.local_ts.iter().map(ts_text).collect(),
        remote_ts: c.remote_ts.iter().map(ts_text).collect(),
        rekey_in_secs: c.rekey_at.map(|t| secs_until(now, t)),
        expires_in_secs: secs_until(now, c.hard_at),
    }
}

fn rows(now: Instant, sas: &[IkeSaInfo], counters: CounterLookup<'_>) -> Vec<IkeJson> {
    sas.iter()
        .map(|e| IkeJson {
            handle: format!("{:016x}", e.id.0),
            policy: e.policy.clone(),
            status: ike_status(e.status),
            initiator: e.initiator,
            local: e.local.to_string(),
            remote: e.remote.to_string(),
            spi_i: format!("{:016x}", e.spi_i),
            spi_r: format!("{:016x}", e.spi_r),
            local_id: identity_text(&e.local_id),
            peer_id: e.peer_id.as_ref().map(identity_text),
            encryption: e.suite.map(|s| encr_text(s.encr.id.0, s.encr.key_bits)),
            prf: e.suite.map(|s| prf_text(s.prf.0)),
            integrity: e.suite.and_then(|s| s.integ).map(|i| integ_text(i.0)),
            group: e.suite.map(|s| group_text(s.dh.0)),
            nat: e.nat,
            virtual_ips: e.virtual_ips.iter().map(|a| a.to_string()).collect(),
            age_secs: now.saturating_duration_since(e.created).as_secs(),
            rekey_in_secs: e.rekey_at.map(|t| secs_until(now, t)),
            expires_in_secs: e.hard_at.map(|t| secs_until(now, t)),
            children: e
                .children
                .iter()
                .map(|c| child_row(now, e, c, counters))
                .collect(),
        })
        .collect()
}

/// `show sa --json`.
pub fn sa_json(now: Instant, sas: &[IkeSaInfo], counters: CounterLookup<'_>) -> String {
    let doc = SaDoc {
        ike_sas: rows(now, sas, counters),
    };
    let mut s = serde_json::to_string(&doc).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}

/// `show sa`.
pub fn sa_text(now: Instant, sas: &[IkeSaInfo], counters: CounterLookup<'_>) -> String {
    let rows = rows(now, sas, counters);
    if rows.is_empty() {
        return "no IKE SAs\n".into();
    }
    let mut s = String::new();
    for r in rows {
        let _ = writeln!(
            s,
            "IKE SA {} policy {}: {} {} {} ({}, {}{}), up {}s",
            r.handle,
            r.policy,
            r.local,
            if r.initiator { "->" } else { "<-" },
            r.remote,
            if r.initiator {
                "initiator"
            } else {
                "responder"
            },
            r.status,
            if r.nat { ", NAT-T" } else { "" },
            r.age_secs
        );
        let _ = writeln!(
            s,
            "\tspis {}/{}, ids: {} -> {}",
            r.spi_i,
            r.spi_r,
            r.local_id,
            r.peer_id.as_deref().unwrap_or("?")
        );
        if !r.virtual_ips.is_empty() {
            let _ = writeln!(s, "\tvirtual ip: {}", r.virtual_ips.join(", "));
        }
        if let (Some(e), Some(p), Some(g)) = (&r.encryption, &r.prf, &r.group) {
            let _ = writeln!(
                s,
                "\tike: {e}{} {p} {g}{}{}",
                r.integrity
                    .as_ref()
                    .map(|i| format!(" {i}"))
                    .unwrap_or_default(),
                r.rekey_in_secs
                    .map(|t| format!(", rekey in {t}s"))
                    .unwrap_or_default(),
                r.expires_in_secs
                    .map(|t| format!(", expires in {t}s"))
                    .unwrap_or_default(),
            );
        }
        for c in r.children {
            let _ = writeln!(
                s,
                "\tchild esp {} ({}): in spi 0x{:08x} out spi 0x{:08x}, {}{}{}{}{}, expires in {}s",
                c.mode,
                c.status,
                c.spi_in,
                c.spi_out,
                c.encryption,
                c.integrity.map(|i| format!(" {i}")).unwrap_or_default(),
                c.pfs_group.map(|g| format!(" pfs {g}")).unwrap_or_default(),
                if c.esn { " esn" } else { "" },
                c.rekey_in_secs
                    .map(|t| format!(", rekey in {t}s"))
                    .unwrap_or_default(),
                c.expires_in_secs
            );
            let _ = writeln!(
                s,
                "\t\t{} === {}",
                c.local_ts.join(","),
                c.remote_ts.join(",")
            );
            if c.bytes_in.is_some() || c.bytes_out.is_some() {
                let f = |b: Option<u64>, p: Option<u32>| {
                    b.map_or("?".to_string(), |b| {
                        format!("{b} ({} packets)", p.unwrap_or(0))
                    })
                };
                let _ = writeln!(
                    s,
                    "\t\tbytes in {}, out {}",
                    f(c.bytes_in, c.packets_in),
                    f(c.bytes_out, c.packets_out)
                );
            }
        }
    }
    s
}

#[derive(Serialize)]
struct SaDoc {
    ike_sas: Vec<IkeJson>,
}

/// SPIs and handles as hex strings: JSON numbers lose precision above 2^53.
#[derive(Serialize)]
struct IkeJson {
    handle: String,
    policy: String,
    status: &'static str,
    initiator: bool,
    local: String,
    remote: String,
    spi_i: String,
    spi_r: String,
    local_id: String,
    peer_id: Option<String>,
    encryption: Option<String>,
    prf: Option<String>,
    integrity: Option<String>,
    group: Option<String>,
    nat: bool,
    /// Lent to the peer (responder) or received (initiator) by CP.
    virtual_ips: Vec<String>,
    age_secs: u64,
    rekey_in_secs: Option<u64>,
    expires_in_secs: Option<u64>,
    children: Vec<ChildJson>,
}

#[derive(Serialize)]
struct ChildJson {
    status: &'static str,
    spi_in: u32,
    spi_out: u32,
    mode: &'static str,
    encryption: String,
    integrity: Option<String>,
    pfs_group: Option<String>,
    esn: bool,
    local_ts: Vec<String>,
    remote_ts: Vec<String>,
    rekey_in_secs: Option<u64>,
    expires_in_secs: u64,
    /// From the kernel (refreshed every few seconds); null until known.
    bytes_in: Option<u64>,
    packets_in: Option<u32>,
    bytes_out: Option<u64>,
    packets_out: Option<u32>,
}

/// The configuration's name (`aes-256-gcm`) when it has one.
pub fn encr_text(id: u16, key_bits: Option<u16>) -> String {
    match ike_ipc::config::Encryption::from_transform(id, key_bits) {
        Some(e) => e.name().to_string(),
        None => format!("encr-{id}-{}", key_bits.unwrap_or(0)),
    }
}

pub fn prf_text(id: u16) -> String {
    ike_ipc::config::Prf::from_transform_id(id)
        .map_or_else(|| format!("prf-{id}"), |p| p.name().to_string())
}

pub fn integ_text(id: u16) -> String {
    ike_ipc::config::Integrity::from_transform_id(id)
        .map_or_else(|| format!("integ-{id}"), |p| p.name().to_string())
}

pub fn group_text(id: u16) -> String {
    ike_ipc::config::DhGroup::from_transform_id(id)
        .map_or_else(|| format!("group-{id}"), |p| p.name().to_string())
}

pub fn mode_text(m: Encapsulation) -> &'static str {
    match m {
        Encapsulation::Tunnel => "tunnel",
        Encapsulation::Transport => "transport",
    }
}

/// An identity as ike.conf writes it; other types as type:hex.
pub fn identity_text(id: &Identity) -> String {
    match id.kind {
        IdType::IPV4_ADDR => match <[u8; 4]>::try_from(id.data.as_slice()) {
            Ok(b) => Ipv4Addr::from(b).to_string(),
            Err(_) => hex_id(id),
        },
        IdType::IPV6_ADDR => match <[u8; 16]>::try_from(id.data.as_slice()) {
            Ok(b) => Ipv6Addr::from(b).to_string(),
            Err(_) => hex_id(id),
        },
        IdType::FQDN | IdType::RFC822_ADDR => match std::str::from_utf8(&id.data) {
            Ok(s) if !s.chars().any(char::is_control) => s.to_string(),
            _ => hex_id(id),
        },
        _ => hex_id(id),
    }
}

fn hex_id(id: &Identity) -> String {
    let mut s = format!("{}:", id.kind);
    for b in &id.data {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// `10.1.0.0/16`, a range `a-b`, plus `proto N` and ports when narrowed.
pub fn ts_text(ts: &TrafficSelector) -> String {
    let mut s = match prefix_len(ts.start, ts.end) {
        Some(len) => format!("{}/{len}", ts.start),
        None => format!("{}-{}", ts.start, ts.end),
    };
    if ts.protocol != 0 {
        let _ = write!(s, " proto {}", ts.protocol);
    }
    if (ts.start_port, ts.end_port) != (0, u16::MAX) {
        if ts.start_port == ts.end_port {
            let _ = write!(s, " port {}", ts.start_port);
        } else {
            let _ = write!(s, " ports {}-{}", ts.start_port, ts.end_port);
        }
    }
    s
}

fn prefix_len(start: IpAddr, end: IpAddr) -> Option<u8> {
    let (s, e, bits) = match (start, end) {
        (IpAddr::V4(s), IpAddr::V4(e)) => (u128::from(u32::from(s)), u128::from(u32::from(e)), 32),
        (IpAddr::V6(s), IpAddr::V6(e)) => (u128::from(s), u128::from(e), 128),
        _ => return None,
    };
    (0..=bits).find_map(|len: u32| {
        let host = bits - len;
        let mask = if host == 128 {
            u128::MAX
        } else {
            (1u128 << host) - 1
        };
        (s & mask == 0 && e == s | mask)
            .then(|| u8::try_from(len).ok())
            .flatten()
    })
}

#[derive(Serialize)]
struct PolicyDoc {
    policies: Vec<PolicyJson>,
}

#[derive(Serialize)]
struct PolicyJson {
    name: String,
    source: String,
    /// "active" or "passive" as it will behave (global `set passive` wins).
    mode: &'static str,
    encapsulation: &'static str,
    local: Option<String>,
    peer: Option<String>,
    srcid: Option<String>,
    dstid: Option<String>,
    auth: String,
    flows: Vec<String>,
    ike_lifetime_secs: u64,
    lifetime_secs: u64,
    lifetime_bytes: u64,
    /// Why the engine does not serve it, if it does not.
    skipped: Option<String>,
    ike_sas: usize,
}

/// `show policy` rows: the configuration as loaded, what the engine made
/// of it, and how many IKE SAs each policy has.
fn policy_rows(
    config: &Config,
    skipped: &[(String, String)],
    sas: &[IkeSaInfo],
) -> Vec<PolicyJson> {
    let per = per_policy(sas);
    config
        .policies
        .iter()
        .map(|p| {
            let active = p.mode == PolicyMode::Active && config.global.mode == GlobalMode::Active;
            PolicyJson {
                name: p.name.clone(),
                source: p.source.clone(),
                mode: if active { "active" } else { "passive" },
                encapsulation: match p.encapsulation {
                    Encapsulation::Tunnel => "tunnel",
                    Encapsulation::Transport => "transport",
                },
                local: p.local.map(|a| a.to_string()),
                peer: p.peer.map(|n| n.to_string()),
                srcid: p.srcid.as_ref().map(|i| i.to_string()),
                dstid: p.dstid.as_ref().map(|i| i.to_string()),
                // Never the key itself.
                auth: match &p.auth {
                    Auth::Psk(_) => "psk".into(),
                    Auth::PublicKey(m) => m.name().into(),
                },
                flows: p
                    .flows
                    .iter()
                    .map(|f| {
                        let port =
                            |p: Option<u16>| p.map(|p| format!(" port {p}")).unwrap_or_default();
                        let proto = f.proto.map(|p| format!("proto {p} ")).unwrap_or_default();
                        format!(
                            "{proto}from {}{} to {}{}",
                            f.src,
                            port(f.src_port),
                            f.dst,
                            port(f.dst_port)
                        )
                    })
                    .collect(),
                ike_lifetime_secs: p.ike_lifetime_seconds,
                lifetime_secs: p.lifetime.seconds,
                lifetime_bytes: p.lifetime.bytes,
                skipped: skipped
                    .iter()
                    .find(|(n, _)| *n == p.name)
                    .map(|(_, why)| why.clone()),
                ike_sas: per.get(p.name.as_str()).copied().unwrap_or(0),
            }
        })
        .collect()
}

/// `show policy --json`.
pub fn policies_json(config: &Config, skipped: &[(String, String)], sas: &[IkeSaInfo]) -> String {
    let doc = PolicyDoc {
        policies: policy_rows(config, skipped, sas),
    };
    let mut s = serde_json::to_string(&doc).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}

/// `show policy`.
pub fn policies_text(
    config: &Config,
    skipped: &[(String, String)],
    sas: &[IkeSaInfo],
    listen: &Listen,
) -> String {
    let rows = policy_rows(config, skipped, sas);
    if rows.is_empty() {
        return "no policies\n".into();
    }
    let mut s = String::new();
    for r in rows {
        let _ = writeln!(
            s,
            "policy {} ({}): {} esp {}, local {} peer {} port {}, auth {}, {} IKE SA(s)",
            r.name,
            r.source,
            r.mode,
            r.encapsulation,
            r.local.as_deref().unwrap_or("any"),
            r.peer.as_deref().unwrap_or("any"),
            listen.ike_port,
            r.auth,
            r.ike_sas
        );
        if r.srcid.is_some() || r.dstid.is_some() {
            let _ = writeln!(
                s,
                "\tsrcid {} dstid {}",
                r.srcid.as_deref().unwrap_or("(local address)"),
                r.dstid.as_deref().unwrap_or("(peer address)")
            );
        }
        for f in &r.flows {
            let _ = writeln!(s, "\t{f}");
        }
        let _ = writeln!(
            s,
            "\tikelifetime {}s, lifetime {}s {} bytes",
            r.ike_lifetime_secs, r.lifetime_secs, r.lifetime_bytes
        );
        if let Some(why) = r.skipped {
            let _ = writeln!(s, "\tNOT NEGOTIATED: {why}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use ike_proto::engine::{ChildSuite, Encr, IkeSaId, IkeSuite};
    use ike_proto::wire::consts::{DhGroup, EncrId, IntegId, PrfId};
    use std::time::Duration;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    pub(super) fn child(now: Instant, spi_in: u32, status: ChildStatus) -> ChildInfo {
        ChildInfo {
            spi_in,
            spi_out: spi_in + 1,
            suite: ChildSuite {
                encr: Encr {
                    id: EncrId::AES_CBC,
                    key_bits: Some(128),
                },
                integ: Some(IntegId(12)),
                dh: None,
                esn: false,
            },
            local_ts: vec![TrafficSelector::prefix(ip("10.1.0.0"), 16).unwrap()],
            remote_ts: vec![TrafficSelector::host(ip("10.2.0.1"))],
            mode: Encapsulation::Tunnel,
            status,
            rekey_at: Some(now + Duration::from_secs(100)),
            hard_at: now + Duration::from_secs(200),
        }
    }

    pub(super) fn ike(
        now: Instant,
        h: u64,
        status: IkeStatus,
        children: Vec<ChildInfo>,
    ) -> IkeSaInfo {
        IkeSaInfo {
            id: IkeSaId(h),
            policy: "tun \"1\"".into(),
            status,
            initiator: true,
            local: "127.0.0.1:500".parse().unwrap(),
            remote: "127.0.0.2:500".parse().unwrap(),
            spi_i: h,
            spi_r: 0x1234,
            local_id: Identity::addr(ip("127.0.0.1")),
            peer_id: Some(Identity::fqdn("peer.example")),
            suite: Some(IkeSuite {
                encr: Encr {
                    id: EncrId::AES_GCM_16,
                    key_bits: Some(256),
                },
                prf: PrfId::HMAC_SHA2_256,
                integ: None,
                dh: DhGroup::CURVE25519,
            }),
            created: now,
            rekey_at: None,
            hard_at: Some(now + Duration::from_secs(3600)),
            nat: false,
            virtual_ips: vec!["10.9.0.1".parse().unwrap()],
            children,
        }
    }

    #[test]
    fn counts_only_established_sas_and_live_children() {
        let now = Instant::now();
        let sas = vec![
            ike(
                now,
                1,
                IkeStatus::Established,
                vec![
                    child(now, 0x100, ChildStatus::Installed),
                    child(now, 0x200, ChildStatus::Deleting),
                ],
            ),
            ike(now, 2, IkeStatus::Connecting, vec![]),
        ];
        assert_eq!(counts(&sas), (1, 1));
        assert_eq!(per_policy(&sas).get("tun \"1\""), Some(&1));
    }

    #[test]
    fn text_names_algorithms_like_the_config() {
        let now = Instant::now();
        let sas = vec![ike(
            now,
            9,
            IkeStatus::Established,
            vec![child(now, 0x200, ChildStatus::Installed)],
        )];
        let later = now + Duration::from_secs(5);
        let counters = |dst: IpAddr, spi: u32| {
            (dst == ip("127.0.0.1") && spi == 0x200).then_some(Counters {
                bytes: 4200,
                packets: 7,
            })
        };
        let text = sa_text(later, &sas, &|_, _| None);
        assert!(!text.contains("bytes in"), "{text}");
        let text = sa_text(later, &sas, &counters);
        assert!(
            text.contains("bytes in 4200 (7 packets), out ?\n"),
            "{text}"
        );
        assert!(text.contains("IKE SA 0000000000000009"), "{text}");
        assert!(text.contains("(initiator, established), up 5s"), "{text}");
        assert!(
            text.contains("in spi 0x00000200 out spi 0x00000201"),
            "{text}"
        );
        assert!(
            text.contains("aes-128 hmac-sha2-256, rekey in 95s, expires in 195s"),
            "{text}"
        );
        assert!(
            text.contains("ike: aes-256-gcm hmac-sha2-256 curve25519"),
            "{text}"
        );
        assert!(text.contains("10.1.0.0/16 === 10.2.0.1/32"), "{text}");
        assert!(text.contains("ids: 127.0.0.1 -> peer.example"), "{text}");
        assert!(text.contains("\tvirtual ip: 10.9.0.1\n"), "{text}");
        assert_eq!(sa_text(later, &[], &|_, _| None), "no IKE SAs\n");
    }

    #[test]
    fn json_is_valid_and_escapes_names() {
        let now = Instant::now();
        let mut half = ike(now, 3, IkeStatus::Authenticating, vec![]);
        half.suite = None;
        half.peer_id = None;
        let sas = vec![
            ike(
                now,
                0xffff_ffff_ffff_fff0,
                IkeStatus::Established,
                vec![child(now, 5, ChildStatus::Installed)],
            ),
            half,
        ];
        let counters = |dst: IpAddr, spi: u32| {
            (dst == ip("127.0.0.2") && spi == 6).then_some(Counters {
                bytes: 99,
                packets: 1,
            })
        };
        let j: serde_json::Value = serde_json::from_str(&sa_json(now, &sas, &counters)).unwrap();
        assert_eq!(j["ike_sas"][0]["children"][0]["bytes_out"], 99);
        assert_eq!(j["ike_sas"][0]["virtual_ips"][0], "10.9.0.1");
        assert_eq!(j["ike_sas"][0]["children"][0]["packets_out"], 1);
        assert_eq!(
            j["ike_sas"][0]["children"][0]["bytes_in"],
            serde_json::Value::Null
        );
        let ike = &j["ike_sas"][0];
        assert_eq!(ike["policy"], "tun \"1\"");
        assert_eq!(ike["handle"], "fffffffffffffff0");
        assert_eq!(ike["status"], "established");
        assert_eq!(ike["encryption"], "aes-256-gcm");
        assert_eq!(ike["integrity"], serde_json::Value::Null);
        assert_eq!(ike["children"][0]["spi_in"], 5);
        assert_eq!(ike["children"][0]["spi_out"], 6);
        assert_eq!(ike["children"][0]["remote_ts"][0], "10.2.0.1/32");
        assert_eq!(j["ike_sas"][1]["status"], "authenticating");
        assert_eq!(j["ike_sas"][1]["encryption"], serde_json::Value::Null);
    }

    #[test]
    fn selectors_and_identities_print_like_the_config() {
        let mut ts = TrafficSelector::range(ip("10.0.0.1"), ip("10.0.0.6"));
        assert_eq!(ts_text(&ts), "10.0.0.1-10.0.0.6");
        ts = TrafficSelector::prefix(ip("0.0.0.0"), 0).unwrap();
        ts.protocol = 6;
        ts.start_port = 443;
        ts.end_port = 443;
        assert_eq!(ts_text(&ts), "0.0.0.0/0 proto 6 port 443");
        assert_eq!(
            ts_text(&TrafficSelector::prefix(ip("::"), 0).unwrap()),
            "::/0"
        );
        assert_eq!(
            identity_text(&Identity::addr(ip("2001:db8::1"))),
            "2001:db8::1"
        );
        let odd = Identity {
            kind: IdType::FQDN,
            data: b"a\nb".to_vec(),
        };
        assert_eq!(identity_text(&odd), "FQDN:610a62");
    }
}

/// `show sa` at scale (issue 12): 100,000 IKE SAs through the real control
/// server and a real socket. Before, the answer was one message and over
/// 64 KiB (about 150 SAs) the client only saw "peer closed the channel".
#[cfg(test)]
mod at_scale {
    use super::tests::{child, ike};
    use super::*;
    use crate::control::{ControlServer, CLIENT_TOKEN_BASE};
    use ike_ipc::channel::Channel;
    use ike_ipc::mio::{Poll, Token};
    use ike_ipc::msg::{CtlRequest, CtlResponse};
    use nix::sys::socket::{
        bind, connect, listen, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr,
    };
    use std::os::fd::AsRawFd;

    fn seqpacket() -> std::os::fd::OwnedFd {
        socket(
            AddressFamily::Unix,
            SockType::SeqPacket,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .unwrap()
    }

    /// Asks `req` on a fresh connection and collects the answer's pieces.
    fn ask(text: &str, req: CtlRequest) -> (String, usize) {
        let dir = std::env::temp_dir().join(format!("ike-show-{}-{req:?}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let listener = seqpacket();
        bind(listener.as_raw_fd(), &UnixAddr::new(&dir).unwrap()).unwrap();
        listen(&listener, Backlog::new(4).unwrap()).unwrap();
        ike_ipc::channel::set_nonblocking(std::os::fd::AsFd::as_fd(&listener), true).unwrap();
        let uid = nix::unistd::geteuid().as_raw();
        let mut server = ControlServer::new(listener, uid);
        let poll = Poll::new().unwrap();
        let c = seqpacket();
        connect(c.as_raw_fd(), &UnixAddr::new(&dir).unwrap()).unwrap();
        let _ = std::fs::remove_file(&dir);
        let mut client: Channel<CtlRequest, CtlResponse> = Channel::from_fd(c);
        client.set_nonblocking(true).unwrap();
        assert_eq!(server.accept_all(poll.registry()).unwrap(), 0);
        let token = Token(CLIENT_TOKEN_BASE);
        client.send(&req).unwrap();
        let evs = server.readable(poll.registry(), token);
        assert!(matches!(
            evs.as_slice(),
            [crate::control::ClientEvent::Request(_, r)] if *r == req
        ));
        server.respond_text(poll.registry(), token, text.to_string());
        let (mut got, mut parts) = (String::new(), 0);
        loop {
            server.flush(poll.registry());
            loop {
                match client.recv() {
                    Ok(r) => match r.msg {
                        CtlResponse::Part(p) => {
                            parts += 1;
                            got.push_str(&p);
                        }
                        CtlResponse::Text(t) => {
                            got.push_str(&t);
                            return (got, parts);
                        }
                        other => panic!("{other:?}"),
                    },
                    Err(e) if e.is_would_block() => break,
                    Err(e) => panic!("{e}"),
                }
            }
        }
    }

    #[test]
    fn show_sa_of_100000_ike_sas_goes_through_in_parts() {
        let now = Instant::now();
        let sas: Vec<IkeSaInfo> = (0..100_000u64)
            .map(|h| {
                let spi = 0x1000 + 2 * h as u32;
                ike(
                    now,
                    h,
                    IkeStatus::Established,
                    vec![child(now, spi, ChildStatus::Installed)],
                )
            })
            .collect();
        assert_eq!(counts(&sas), (100_000, 100_000));
        let text = sa_text(now, &sas, &|_, _| None);
        assert!(
            text.len() > 100 * ike_ipc::envelope::MAX_MESSAGE,
            "{}",
            text.len()
        );
        let (got, parts) = ask(&text, CtlRequest::ShowSa);
        assert!(got == text, "text answer differs");
        assert!(parts >= text.len() / crate::control::PART_BYTES);
        assert_eq!(got.matches("IKE SA ").count(), 100_000);

        let json = sa_json(now, &sas, &|_, _| None);
        let (got, _) = ask(&json, CtlRequest::ShowSaJson);
        let v: serde_json::Value = serde_json::from_str(&got).unwrap();
        let n = v
            .as_object()
            .and_then(|o| o.values().find_map(|x| x.as_array()))
            .map(|a| a.len());
        assert_eq!(n, Some(100_000));
    }
}
