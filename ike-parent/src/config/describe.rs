//! The parsed configuration printed back in ike.conf syntax (`ike-parent
//! -n -v`), every default spelled out, pre-shared keys replaced by a mark.
//! The output parses again (to the same policies, but for the keys).

use ike_ipc::config::{
    Auth, ChildProposal, Config, Encapsulation, Esn, Flow, GlobalMode, IkeProposal, IpNet,
    IpsecProtocol, PeerAuthSource, Policy, PolicyMode, PublicKeyMethod,
};
use std::fmt::Write;

/// What stands in for a pre-shared key in the output.
pub const REDACTED_PSK: &str = "<redacted>";

pub fn describe(config: &Config) -> String {
    let mut out = String::new();
    let g = &config.global;
    let mode = match g.mode {
        GlobalMode::Active => "active",
        GlobalMode::Passive => "passive",
    };
    let _ = writeln!(out, "set {mode}");
    let _ = writeln!(
        out,
        "set {}",
        if g.fragmentation {
            "fragmentation"
        } else {
            "nofragmentation"
        }
    );
    let _ = writeln!(out, "set dpd_check_interval {}", g.dpd_check_interval);
    let _ = writeln!(out, "set natt_keepalive {}", g.natt_keepalive);
    let _ = writeln!(out, "set {}", if g.mobike { "mobike" } else { "nomobike" });
    if g.sticky_address {
        let _ = writeln!(out, "set stickyaddress");
    }
    let _ = writeln!(out, "set cookie-threshold {}", g.cookie_threshold);
    let _ = writeln!(out, "set half-open-limit {}", g.half_open_limit);
    if g.sa_limit != 0 {
        let _ = writeln!(out, "set sa-limit {}", g.sa_limit);
    }
    let _ = writeln!(out, "set half-open-per-source {}", g.half_open_per_source);
    let _ = writeln!(out, "set half-open-per-prefix {}", g.half_open_per_prefix);
    let _ = writeln!(out, "set initiate-limit {}", g.initiate_limit);
    let _ = writeln!(out, "set window {}", g.window);
    if let Some(user) = &g.user {
        let _ = writeln!(out, "set user \"{user}\"");
    }
    if let Some(chroot) = &g.chroot {
        let _ = writeln!(out, "set chroot \"{chroot}\"");
    }
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let _ = writeln!(out, "set flush-on-start {}", yes_no(g.flush_on_start));
    let _ = writeln!(out, "set delete-on-exit {}", yes_no(g.delete_on_exit));
    for policy in &config.policies {
        out.push('\n');
        describe_policy(&mut out, config, policy);
    }
    out
}

fn net(n: &IpNet) -> String {
    if n.is_host() {
        n.addr.to_string()
    } else {
        n.to_string()
    }
}

fn flow(out: &mut String, p: &Policy, f: &Flow) {
    // `dynamic` was turned into the pools (`to`) or `any` (`from`).
    let src = if p.cp.request_address && f.src.prefix == 0 {
        "dynamic".to_string()
    } else {
        net(&f.src)
    };
    let dst = if p.cp.dynamic_peer && p.cp.addresses.contains(&f.dst) {
        "dynamic".to_string()
    } else {
        net(&f.dst)
    };
    let _ = write!(out, " \\\n\tfrom {src}");
    if let Some(p) = f.src_port {
        let _ = write!(out, " port {p}");
    }
    let _ = write!(out, " to {dst}");
    if let Some(p) = f.dst_port {
        let _ = write!(out, " port {p}");
    }
}

fn names<T: Copy>(out: &mut String, keyword: &str, items: &[T], name: impl Fn(T) -> &'static str) {
    for item in items {
        let _ = write!(out, " {keyword} {}", name(*item));
    }
}

fn ikesa(out: &mut String, p: &IkeProposal) {
    out.push_str(" \\\n\tikesa");
    names(out, "enc", &p.encryption, |e| e.name());
    names(out, "prf", &p.prf, |e| e.name());
    names(out, "auth", &p.integrity, |e| e.name());
    names(out, "group", &p.groups, |e| e.name());
}

fn childsa(out: &mut String, p: &ChildProposal) {
    out.push_str(" \\\n\tchildsa");
    names(out, "enc", &p.encryption, |e| e.name());
    names(out, "auth", &p.integrity, |e| e.name());
    if p.groups.is_empty() {
        out.push_str(" group none");
    }
    names(out, "group", &p.groups, |e| e.name());
    for esn in &p.esn {
        out.push_str(match esn {
            Esn::None => " noesn",
            Esn::Extended => " esn",
        });
    }
}

/// Comment lines saying how each side authenticates and where the key or
/// certificate comes from (no secret is printed).
fn describe_auth(out: &mut String, config: &Config, p: &Policy) {
    let method = match &p.auth {
        Auth::Psk(_) => {
            let _ = writeln!(out, "# auth: pre-shared key, both directions");
            return;
        }
        Auth::PublicKey(m) => *m,
    };
    let how = match method {
        PublicKeyMethod::Rfc7427 => "RFC 7427 signature (auth method 14)",
        PublicKeyMethod::Rsa => "RSA key, RFC 7427 signature (auth method 14)",
        PublicKeyMethod::Ecdsa256 => "ECDSA P-256 with SHA-256 (RFC 4754, auth method 9)",
        PublicKeyMethod::Ecdsa384 => "ECDSA P-384 with SHA-384 (RFC 4754, auth method 10)",
        PublicKeyMethod::Ecdsa521 => "ECDSA P-521 (auth method 11)",
    };
    let key = if config.local_key.is_some() {
        "private/local.key"
    } else {
        "private/local.key (not loaded)"
    };
    let _ = write!(out, "# auth (ours): {how} with {key}");
    match config.local_cert(p) {
        Some(cert) => {
            let _ = writeln!(
                out,
                ", sending certificate {} ({} in the chain)",
                cert.file.path,
                cert.file.ders.len()
            );
        }
        None => out.push_str(", no certificate (raw public key)\n"),
    }
    let _ = match config.peer_auth_source(p) {
        Some(PeerAuthSource::PublicKey(k)) => writeln!(
            out,
            "# auth (peer): signature checked with the raw public key pubkeys/{}/{}",
            k.id.pubkey_dir(),
            k.id
        ),
        Some(PeerAuthSource::Certificate) => {
            let files: Vec<&str> = config.ca_files.iter().map(|f| f.path.as_str()).collect();
            writeln!(
                out,
                "# auth (peer): certificate for {}, chain checked against {} CA certificate(s) from {}",
                p.peer_identity()
                    .map_or_else(|| "any identity".to_string(), |id| id.to_string()),
                config.ca_ders().count(),
                files.join(", ")
            )
        }
        Some(PeerAuthSource::Missing(id)) => writeln!(
            out,
            "# auth (peer): MISSING: no pubkeys/{}/{id} and no CA in ca/",
            id.pubkey_dir()
        ),
        Some(PeerAuthSource::Unknown) | None => writeln!(
            out,
            "# auth (peer): unknown: no dstid, no single peer address and no CA"
        ),
    };
}

fn describe_policy(out: &mut String, config: &Config, p: &Policy) {
    let _ = writeln!(out, "# {}", p.source);
    describe_auth(out, config, p);
    let _ = write!(out, "ikev2 \"{}\"", p.name);
    if p.quick {
        out.push_str(" quick");
    }
    if p.default {
        out.push_str(" default");
    }
    out.push_str(match p.mode {
        PolicyMode::Active => " active",
        PolicyMode::Passive => " passive",
    });
    out.push_str(match p.protocol {
        IpsecProtocol::Esp => " esp",
        IpsecProtocol::Ah => " ah",
    });
    out.push_str(match p.encapsulation {
        Encapsulation::Tunnel => " tunnel",
        Encapsulation::Transport => " transport",
    });
    // One line per (protocol) group of flows: `proto` is per policy in the
    // grammar, so flows with different protocols print as a proto list.
    let mut protos: Vec<u8> = p.flows.iter().filter_map(|f| f.proto).collect();
    protos.dedup();
    if !protos.is_empty() {
        let list: Vec<String> = protos.iter().map(u8::to_string).collect();
        let _ = write!(out, " proto {{ {} }}", list.join(" "));
    }
    let mut seen: Vec<(IpNet, Option<u16>, IpNet, Option<u16>)> = Vec::new();
    for f in &p.flows {
        let key = (f.src, f.src_port, f.dst, f.dst_port);
        if !seen.contains(&key) {
            seen.push(key);
            flow(out, p, f);
        }
    }
    if let Some(local) = p.local {
        let _ = write!(out, " \\\n\tlocal {local}");
    }
    match &p.peer {
        Some(peer) => {
            let _ = write!(out, " peer {}", net(peer));
        }
        None => out.push_str(" peer any"),
    }
    if p.natt {
        out.push_str(" natt");
    }
    for proposal in &p.ike_proposals {
        ikesa(out, proposal);
    }
    for proposal in &p.child_proposals {
        childsa(out, proposal);
    }
    if let Some(id) = &p.srcid {
        let _ = write!(out, " \\\n\tsrcid \"{id}\"");
    }
    if let Some(id) = &p.dstid {
        let _ = write!(out, " \\\n\tdstid \"{id}\"");
    }
    let _ = write!(
        out,
        " \\\n\tikelifetime {} lifetime {} bytes {}",
        p.ike_lifetime_seconds, p.lifetime.seconds, p.lifetime.bytes
    );
    match &p.auth {
        Auth::Psk(_) => {
            let _ = write!(out, " \\\n\tpsk \"{REDACTED_PSK}\"");
        }
        Auth::PublicKey(m) => {
            let _ = write!(out, " \\\n\t{}", m.name());
        }
    }
    config_payload(out, &p.cp);
    out.push('\n');
}

/// `config ...` and `request address any` (RFC 7296 3.15).
fn config_payload(out: &mut String, cp: &ike_ipc::config::CpConfig) {
    let mut kv = |k: &str, v: String| {
        let _ = write!(out, " \\\n\tconfig {k} {v}");
    };
    for a in &cp.addresses {
        kv("address", net(a));
    }
    if let Some(m) = cp.netmask {
        kv("netmask", m.to_string());
    }
    for a in &cp.name_servers {
        kv("name-server", a.to_string());
    }
    for a in &cp.netbios_servers {
        kv("netbios-server", a.to_string());
    }
    for a in &cp.dhcp_servers {
        kv("dhcp-server", a.to_string());
    }
    for a in &cp.protected_subnets {
        kv("protected-subnet", net(a));
    }
    for a in &cp.access_servers {
        kv("access-server", a.to_string());
    }
    if cp.request_address {
        out.push_str(" \\\n\trequest address any");
    }
}
