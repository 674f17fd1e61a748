//! What `ike-ctl show sa` and `show policy` print, as text for people and
//! JSON for scripts.
//!
//! The SA table is kept from the engine's events (IkeUp, ChildUp, their
//! Down and Rekeyed counterparts), so it shows exactly what the engine
//! reported as established and handed to the kernel. JSON is written with
//! serde_json from plain structs, so every string is escaped properly
//! (policy names and identities come from the configuration and the peer).

use crate::policy::Listen;
use ike_ipc::config::{Auth, Config, Encapsulation, GlobalMode, PolicyMode};
use ike_proto::engine::{ChildSuite, Event, Identity, IkeSuite, Mode, TrafficSelector};
use ike_proto::wire::consts::IdType;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

#[derive(Debug, Clone)]
struct IkeEntry {
    policy: String,
    initiator: bool,
    local: SocketAddr,
    remote: SocketAddr,
    local_id: Identity,
    peer_id: Identity,
    suite: IkeSuite,
    since: Instant,
    children: Vec<ChildEntry>,
}

#[derive(Debug, Clone)]
struct ChildEntry {
    spi_in: u32,
    spi_out: u32,
    mode: Mode,
    suite: ChildSuite,
    local_ts: Vec<TrafficSelector>,
    remote_ts: Vec<TrafficSelector>,
    since: Instant,
}

/// Established IKE SAs and their CHILD_SAs, by the engine's handle.
#[derive(Debug, Default)]
pub struct SaTable {
    ikes: BTreeMap<u64, IkeEntry>,
}

impl SaTable {
    /// Follows one engine event.
    pub fn apply(&mut self, now: Instant, ev: &Event) {
        match ev {
            Event::IkeUp {
                ike,
                policy,
                local,
                remote,
                local_id,
                peer_id,
                suite,
                initiator,
            } => {
                // A ChildUp of IKE_AUTH may come first: keep its children.
                let children = self
                    .ikes
                    .remove(&ike.0)
                    .map(|e| e.children)
                    .unwrap_or_default();
                self.ikes.insert(
                    ike.0,
                    IkeEntry {
                        policy: policy.clone(),
                        initiator: *initiator,
                        local: *local,
                        remote: *remote,
                        local_id: local_id.clone(),
                        peer_id: peer_id.clone(),
                        suite: *suite,
                        since: now,
                        children,
                    },
                );
            }
            Event::IkeDown { ike, .. } => {
                self.ikes.remove(&ike.0);
            }
            Event::IkeRekeyed { old, new } => {
                // The successor inherits peer, identities and children.
                if let Some(mut e) = self.ikes.remove(&old.0) {
                    e.since = now;
                    self.ikes.insert(new.0, e);
                }
            }
            Event::ChildUp {
                ike,
                spi_in,
                spi_out,
                local_ts,
                remote_ts,
                mode,
                suite,
                ..
            } => {
                if let Some(e) = self.ikes.get_mut(&ike.0) {
                    e.children.retain(|c| c.spi_in != *spi_in);
                    e.children.push(ChildEntry {
                        spi_in: *spi_in,
                        spi_out: *spi_out,
                        mode: *mode,
                        suite: *suite,
                        local_ts: local_ts.clone(),
                        remote_ts: remote_ts.clone(),
                        since: now,
                    });
                }
            }
            Event::ChildDown { ike, spi_in, .. } => {
                if let Some(e) = self.ikes.get_mut(&ike.0) {
                    e.children.retain(|c| c.spi_in != *spi_in);
                }
            }
            Event::ChildRekeyed { .. } | Event::Failed { .. } => {}
        }
    }

    /// (IKE SAs, CHILD_SAs).
    pub fn counts(&self) -> (u64, u64) {
        let children: usize = self.ikes.values().map(|e| e.children.len()).sum();
        (self.ikes.len() as u64, children as u64)
    }

    /// The policy of an established IKE SA.
    pub fn policy_of(&self, handle: u64) -> Option<&str> {
        self.ikes.get(&handle).map(|e| e.policy.as_str())
    }

    /// IKE SAs per policy name.
    pub fn per_policy(&self) -> BTreeMap<&str, usize> {
        let mut m = BTreeMap::new();
        for e in self.ikes.values() {
            *m.entry(e.policy.as_str()).or_insert(0) += 1;
        }
        m
    }

    fn json_rows(&self, now: Instant) -> Vec<IkeJson> {
        self.ikes
            .iter()
            .map(|(h, e)| IkeJson {
                handle: format!("{h:016x}"),
                policy: e.policy.clone(),
                initiator: e.initiator,
                local: e.local.to_string(),
                remote: e.remote.to_string(),
                local_id: identity_text(&e.local_id),
                peer_id: identity_text(&e.peer_id),
                encryption: encr_text(e.suite.encr.id.0, e.suite.encr.key_bits),
                prf: prf_text(e.suite.prf.0),
                integrity: e.suite.integ.map(|i| integ_text(i.0)),
                group: group_text(e.suite.dh.0),
                age_secs: now.saturating_duration_since(e.since).as_secs(),
                children: e
                    .children
                    .iter()
                    .map(|c| ChildJson {
                        spi_in: c.spi_in,
                        spi_out: c.spi_out,
                        mode: mode_text(c.mode),
                        encryption: encr_text(c.suite.encr.id.0, c.suite.encr.key_bits),
                        integrity: c.suite.integ.map(|i| integ_text(i.0)),
                        pfs_group: c.suite.dh.map(|g| group_text(g.0)),
                        esn: c.suite.esn,
                        local_ts: c.local_ts.iter().map(ts_text).collect(),
                        remote_ts: c.remote_ts.iter().map(ts_text).collect(),
                        age_secs: now.saturating_duration_since(c.since).as_secs(),
                    })
                    .collect(),
            })
            .collect()
    }

    /// `show sa --json`.
    pub fn json(&self, now: Instant) -> String {
        let doc = SaDoc {
            ike_sas: self.json_rows(now),
        };
        let mut s =
            serde_json::to_string(&doc).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        s.push('\n');
        s
    }

    /// `show sa`.
    pub fn text(&self, now: Instant) -> String {
        let rows = self.json_rows(now);
        if rows.is_empty() {
            return "no IKE SAs\n".into();
        }
        let mut s = String::new();
        for r in rows {
            let _ = writeln!(
                s,
                "IKE SA {} policy {}: {} {} {} ({}), up {}s",
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
                r.age_secs
            );
            let _ = writeln!(s, "\tids: {} -> {}", r.local_id, r.peer_id);
            let _ = writeln!(
                s,
                "\tike: {} {}{} {}",
                r.encryption,
                r.prf,
                r.integrity.map(|i| format!(" {i}")).unwrap_or_default(),
                r.group
            );
            for c in r.children {
                let _ = writeln!(
                    s,
                    "\tchild esp {}: in spi 0x{:08x} out spi 0x{:08x}, {}{}{}{}, up {}s",
                    c.mode,
                    c.spi_in,
                    c.spi_out,
                    c.encryption,
                    c.integrity.map(|i| format!(" {i}")).unwrap_or_default(),
                    c.pfs_group.map(|g| format!(" pfs {g}")).unwrap_or_default(),
                    if c.esn { " esn" } else { "" },
                    c.age_secs
                );
                let _ = writeln!(
                    s,
                    "\t\t{} === {}",
                    c.local_ts.join(","),
                    c.remote_ts.join(",")
                );
            }
        }
        s
    }
}

#[derive(Serialize)]
struct SaDoc {
    ike_sas: Vec<IkeJson>,
}

#[derive(Serialize)]
struct IkeJson {
    /// Our IKE SPI, hex: JSON numbers lose precision above 2^53.
    handle: String,
    policy: String,
    initiator: bool,
    local: String,
    remote: String,
    local_id: String,
    peer_id: String,
    encryption: String,
    prf: String,
    integrity: Option<String>,
    group: String,
    age_secs: u64,
    children: Vec<ChildJson>,
}

#[derive(Serialize)]
struct ChildJson {
    spi_in: u32,
    spi_out: u32,
    mode: &'static str,
    encryption: String,
    integrity: Option<String>,
    pfs_group: Option<String>,
    esn: bool,
    local_ts: Vec<String>,
    remote_ts: Vec<String>,
    age_secs: u64,
}

/// The configuration's name (`aes-256-gcm`) when it has one.
pub fn encr_text(id: u16, key_bits: Option<u16>) -> String {
    match crate::kernel::encryption(ike_proto::wire::consts::EncrId(id), key_bits) {
        Some(e) => e.name().to_string(),
        None => format!("encr-{id}-{}", key_bits.unwrap_or(0)),
    }
}

pub fn prf_text(id: u16) -> String {
    ike_ipc::config::Prf::ALL
        .iter()
        .find(|p| p.transform_id() == id)
        .map_or_else(|| format!("prf-{id}"), |p| p.name().to_string())
}

pub fn integ_text(id: u16) -> String {
    ike_ipc::config::Integrity::ALL
        .iter()
        .find(|p| p.transform_id() == id)
        .map_or_else(|| format!("integ-{id}"), |p| p.name().to_string())
}

pub fn group_text(id: u16) -> String {
    ike_ipc::config::DhGroup::ALL
        .iter()
        .find(|p| p.transform_id() == id)
        .map_or_else(|| format!("group-{id}"), |p| p.name().to_string())
}

pub fn mode_text(m: Mode) -> &'static str {
    match m {
        Mode::Tunnel => "tunnel",
        Mode::Transport => "transport",
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
fn policy_rows(config: &Config, skipped: &[(String, String)], sas: &SaTable) -> Vec<PolicyJson> {
    let per = sas.per_policy();
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
pub fn policies_json(config: &Config, skipped: &[(String, String)], sas: &SaTable) -> String {
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
    sas: &SaTable,
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
    use ike_proto::engine::{Encr, IkeSaId};
    use ike_proto::wire::consts::{DhGroup, EncrId, IntegId, PrfId};
    use std::time::Duration;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn up(table: &mut SaTable, now: Instant, h: u64) {
        table.apply(
            now,
            &Event::IkeUp {
                ike: IkeSaId(h),
                policy: "tun \"1\"".into(),
                local: "127.0.0.1:500".parse().unwrap(),
                remote: "127.0.0.2:500".parse().unwrap(),
                local_id: Identity::addr(ip("127.0.0.1")),
                peer_id: Identity::fqdn("peer.example"),
                suite: IkeSuite {
                    encr: Encr {
                        id: EncrId::AES_GCM_16,
                        key_bits: Some(256),
                    },
                    prf: PrfId::HMAC_SHA2_256,
                    integ: None,
                    dh: DhGroup::CURVE25519,
                },
                initiator: true,
            },
        );
    }

    fn child(table: &mut SaTable, now: Instant, h: u64, spi_in: u32) {
        table.apply(
            now,
            &Event::ChildUp {
                ike: IkeSaId(h),
                policy: "tun".into(),
                spi_in,
                spi_out: spi_in + 1,
                local_ts: vec![TrafficSelector::prefix(ip("10.1.0.0"), 16).unwrap()],
                remote_ts: vec![TrafficSelector::host(ip("10.2.0.1"))],
                mode: Mode::Tunnel,
                suite: ChildSuite {
                    encr: Encr {
                        id: EncrId::AES_CBC,
                        key_bits: Some(128),
                    },
                    integ: Some(IntegId(12)),
                    dh: None,
                    esn: false,
                },
            },
        );
    }

    #[test]
    fn table_follows_up_down_and_rekey_events() {
        let now = Instant::now();
        let mut t = SaTable::default();
        up(&mut t, now, 7);
        child(&mut t, now, 7, 0x100);
        assert_eq!(t.counts(), (1, 1));
        // Child rekey: the new one arrives, then the old one leaves.
        child(&mut t, now, 7, 0x200);
        t.apply(
            now,
            &Event::ChildDown {
                ike: IkeSaId(7),
                spi_in: 0x100,
                spi_out: 0x101,
                reason: ike_proto::engine::DownReason::Rekeyed,
            },
        );
        assert_eq!(t.counts(), (1, 1));
        // IKE rekey: children move to the successor.
        t.apply(
            now,
            &Event::IkeRekeyed {
                old: IkeSaId(7),
                new: IkeSaId(9),
            },
        );
        t.apply(
            now,
            &Event::IkeDown {
                ike: IkeSaId(7),
                policy: "tun".into(),
                reason: ike_proto::engine::DownReason::Rekeyed,
            },
        );
        assert_eq!(t.counts(), (1, 1));
        let later = now + Duration::from_secs(5);
        let text = t.text(later);
        assert!(text.contains("IKE SA 0000000000000009"), "{text}");
        assert!(
            text.contains("in spi 0x00000200 out spi 0x00000201"),
            "{text}"
        );
        assert!(text.contains("aes-128 hmac-sha2-256,"), "{text}");
        assert!(
            text.contains("ike: aes-256-gcm hmac-sha2-256 curve25519"),
            "{text}"
        );
        assert!(text.contains("10.1.0.0/16 === 10.2.0.1/32"), "{text}");
        assert!(text.contains("ids: 127.0.0.1 -> peer.example"), "{text}");
        t.apply(
            later,
            &Event::IkeDown {
                ike: IkeSaId(9),
                policy: "tun".into(),
                reason: ike_proto::engine::DownReason::Terminated,
            },
        );
        assert_eq!(t.counts(), (0, 0));
        assert_eq!(t.text(later), "no IKE SAs\n");
    }

    #[test]
    fn json_is_valid_and_escapes_names() {
        let now = Instant::now();
        let mut t = SaTable::default();
        up(&mut t, now, 0xffff_ffff_ffff_fff0);
        child(&mut t, now, 0xffff_ffff_ffff_fff0, 5);
        let j: serde_json::Value = serde_json::from_str(&t.json(now)).unwrap();
        let ike = &j["ike_sas"][0];
        assert_eq!(ike["policy"], "tun \"1\"");
        assert_eq!(ike["handle"], "fffffffffffffff0");
        assert_eq!(ike["encryption"], "aes-256-gcm");
        assert_eq!(ike["integrity"], serde_json::Value::Null);
        assert_eq!(ike["children"][0]["spi_in"], 5);
        assert_eq!(ike["children"][0]["spi_out"], 6);
        assert_eq!(ike["children"][0]["remote_ts"][0], "10.2.0.1/32");
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
