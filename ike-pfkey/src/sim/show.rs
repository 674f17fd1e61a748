//! The simulator's tables as text (laid out like `setkey -D` / `setkey -DP`)
//! and as JSON. Keys are shown by size only: this output ends up in logs.

use super::{SimKernel, SimPolicy, SimSa};
use crate::dialect::*;
use crate::wire::Address;
use std::fmt::Write;
use std::time::Instant;

fn satype_name(t: SaType) -> String {
    match t {
        SaType::Esp => "esp".into(),
        SaType::Ah => "ah".into(),
        SaType::IpComp => "ipcomp".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn mode_name(m: u8) -> &'static str {
    match m {
        IPSEC_MODE_TRANSPORT => "transport",
        IPSEC_MODE_TUNNEL => "tunnel",
        IPSEC_MODE_ANY => "any",
        _ => "other",
    }
}

fn state_name(s: u8) -> &'static str {
    match s {
        SADB_SASTATE_LARVAL => "larval",
        SADB_SASTATE_MATURE => "mature",
        SADB_SASTATE_DYING => "dying",
        _ => "dead",
    }
}

/// Linux/FreeBSD names (the numbers agree below 14 for what we list).
fn ealg_name(id: u8) -> String {
    match id {
        0 => "none".into(),
        2 => "des-cbc".into(),
        3 => "3des-cbc".into(),
        11 => "null".into(),
        12 => "aes-cbc".into(),
        13 => "aes-ctr".into(),
        18..=20 => "aes-gcm".into(),
        n => format!("ealg-{n}"),
    }
}

fn aalg_name(id: u8) -> String {
    match id {
        0 => "none".into(),
        2 => "hmac-md5".into(),
        3 => "hmac-sha1".into(),
        5 => "hmac-sha256".into(),
        6 => "hmac-sha384".into(),
        7 => "hmac-sha512".into(),
        n => format!("aalg-{n}"),
    }
}

fn dir_name(d: u8) -> &'static str {
    match d {
        IPSEC_DIR_INBOUND => "in",
        IPSEC_DIR_OUTBOUND => "out",
        3 => "fwd",
        _ => "any",
    }
}

fn policy_type_name(t: u16) -> &'static str {
    match t {
        IPSEC_POLICY_DISCARD => "discard",
        IPSEC_POLICY_NONE => "none",
        IPSEC_POLICY_IPSEC => "ipsec",
        _ => "other",
    }
}

fn level_name(l: u8) -> &'static str {
    match l {
        IPSEC_LEVEL_USE => "use",
        IPSEC_LEVEL_REQUIRE => "require",
        IPSEC_LEVEL_UNIQUE => "unique",
        _ => "default",
    }
}

fn proto_name(p: u16) -> &'static str {
    match p {
        IPPROTO_ESP => "esp",
        IPPROTO_AH => "ah",
        IPPROTO_IPCOMP => "ipcomp",
        _ => "?",
    }
}

fn selector(a: &Address) -> String {
    let port = if a.addr.port() == 0 {
        "any".to_string()
    } else {
        a.addr.port().to_string()
    };
    format!("{}/{}[{}]", a.ip(), a.prefix_len, port)
}

fn ulproto(p: u8) -> String {
    if p == IPSEC_ULPROTO_ANY {
        "any".into()
    } else {
        p.to_string()
    }
}

impl SimKernel {
    /// `setkey -D` style.
    pub fn show_sad(&self, now: Instant) -> String {
        let mut s = String::new();
        if self.sad.is_empty() {
            s.push_str("No SAD entries.\n");
        }
        for sa in self.sad.values() {
            let age = now.saturating_duration_since(sa.created).as_secs();
            let _ = writeln!(s, "{} {}", sa.src.ip(), sa.dst.ip());
            let _ = writeln!(
                s,
                "\t{} mode={} spi={}(0x{:08x}) reqid={}(0x{:08x})",
                satype_name(sa.satype),
                mode_name(sa.mode),
                sa.spi,
                sa.spi,
                sa.reqid,
                sa.reqid
            );
            if let Some((t, sp, dp)) = sa.natt {
                let _ = writeln!(s, "\tnat-t type={t} sport={sp} dport={dp}");
            }
            if sa.satype == SaType::Esp {
                let bits = sa.key_enc.as_ref().map_or(0, |k| k.bits);
                let _ = writeln!(s, "\tE: {} ({bits} bits)", ealg_name(sa.encrypt));
            }
            if sa.auth != 0 {
                let bits = sa.key_auth.as_ref().map_or(0, |k| k.bits);
                let _ = writeln!(s, "\tA: {} ({bits} bits)", aalg_name(sa.auth));
            }
            let _ = writeln!(
                s,
                "\treplay={} flags=0x{:08x} state={}",
                sa.replay,
                sa.flags,
                state_name(sa.state)
            );
            let _ = writeln!(s, "\tcreated: {} diff: {}(s)", sa.created_epoch, age);
            let _ = writeln!(
                s,
                "\thard: {}(s)\tsoft: {}(s)\thard bytes: {}\tsoft bytes: {}",
                sa.hard.addtime, sa.soft.addtime, sa.hard.bytes, sa.soft.bytes
            );
            let _ = writeln!(s, "\tsadb_seq={} pid={}", sa.seq, sa.pid);
        }
        s
    }

    /// `setkey -DP` style.
    /// OpenBSD flows, like `ipsecctl -sf`.
    pub fn show_flows(&self) -> String {
        let mut s = String::new();
        for f in self.flows() {
            let _ = writeln!(
                s,
                "flow {} {} from {} to {} peer {} type {} proto {}",
                satype_name(f.satype),
                flow_dir(f.direction),
                flow_net(f.src, f.src_mask, f.src_port),
                flow_net(f.dst, f.dst_mask, f.dst_port),
                f.peer.map_or("any".to_string(), |p| p.to_string()),
                flow_type_name(f.flow_type),
                f.proto
            );
        }
        s
    }

    pub fn show_spd(&self) -> String {
        let mut s = String::new();
        if self.dialect() == Dialect::OpenBsd {
            if self.flows().is_empty() {
                s.push_str("No flows.\n");
            }
            return s + &self.show_flows();
        }
        if self.spd.is_empty() {
            s.push_str("No SPD entries.\n");
        }
        for p in &self.spd {
            let _ = writeln!(
                s,
                "{} {} {}",
                selector(&p.src),
                selector(&p.dst),
                ulproto(p.src.proto)
            );
            let _ = writeln!(
                s,
                "\t{} prio {} {}",
                dir_name(p.policy.dir),
                p.policy.priority,
                policy_type_name(p.policy.policy_type)
            );
            for r in &p.policy.requests {
                let ends = r
                    .tunnel
                    .map(|(a, b)| format!("{}-{}", a.ip(), b.ip()))
                    .unwrap_or_default();
                let _ = writeln!(
                    s,
                    "\t{}/{}/{}/{}:{}",
                    proto_name(r.proto),
                    mode_name(r.mode),
                    ends,
                    level_name(r.level),
                    r.reqid
                );
            }
            let _ = writeln!(s, "\tspid={} created: {}", p.policy.id, p.created_epoch);
        }
        s
    }

    /// Both tables as one JSON object `{"sad": [...], "spd": [...]}`.
    pub fn show_json(&self, now: Instant) -> String {
        let sad: Vec<String> = self.sad.values().map(|sa| sa_json(sa, now)).collect();
        let spd: Vec<String> = self.spd.iter().map(policy_json).collect();
        let flows: Vec<String> = self.flows().iter().map(flow_json).collect();
        let (refused, why) = self.refused();
        format!(
            "{{\"dialect\":\"{}\",\"sad\":[{}],\"spd\":[{}],\"flows\":[{}],\"refused\":{refused},\"last_refused\":\"{}\"}}\n",
            self.dialect().name(),
            sad.join(","),
            spd.join(","),
            flows.join(","),
            why.replace('\\', "\\\\").replace('"', "\\\"")
        )
    }
}

fn hex(key: Option<&crate::wire::Key>) -> String {
    key.map(|k| k.data.iter().map(|b| format!("{b:02x}")).collect())
        .unwrap_or_default()
}

/// Every value we print is a number, an address, hex or one of our fixed
/// names: nothing needs escaping. The JSON carries the key bytes (as
/// `setkey -D` does) so that end-to-end tests can check both ends agree; the
/// simulator only ever holds test keys.
fn sa_json(sa: &SimSa, now: Instant) -> String {
    let natt = match sa.natt {
        Some((t, sp, dp)) => format!("{{\"type\":{t},\"sport\":{sp},\"dport\":{dp}}}"),
        None => "null".into(),
    };
    format!(
        "{{\"satype\":\"{}\",\"src\":\"{}\",\"dst\":\"{}\",\"spi\":{},\"mode\":\"{}\",\"reqid\":{},\
         \"state\":\"{}\",\"encrypt\":\"{}\",\"enc_key_bits\":{},\"auth\":\"{}\",\"auth_key_bits\":{},\
         \"enc_key\":\"{}\",\"auth_key\":\"{}\",\"replay\":{},\"flags\":{},\
         \"hard_addtime\":{},\"soft_addtime\":{},\"hard_bytes\":{},\"soft_bytes\":{},\"age\":{},\"natt\":{},\"pid\":{}}}",
        satype_name(sa.satype),
        sa.src.ip(),
        sa.dst.ip(),
        sa.spi,
        mode_name(sa.mode),
        sa.reqid,
        state_name(sa.state),
        ealg_name(sa.encrypt),
        sa.key_enc.as_ref().map_or(0, |k| k.bits),
        aalg_name(sa.auth),
        sa.key_auth.as_ref().map_or(0, |k| k.bits),
        hex(sa.key_enc.as_ref()),
        hex(sa.key_auth.as_ref()),
        sa.replay,
        sa.flags,
        sa.hard.addtime,
        sa.soft.addtime,
        sa.hard.bytes,
        sa.soft.bytes,
        now.saturating_duration_since(sa.created).as_secs(),
        natt,
        sa.pid
    )
}

fn policy_json(p: &SimPolicy) -> String {
    let reqs: Vec<String> = p
        .policy
        .requests
        .iter()
        .map(|r| {
            let tunnel = match r.tunnel {
                Some((a, b)) => format!("[\"{}\",\"{}\"]", a.ip(), b.ip()),
                None => "null".into(),
            };
            format!(
                "{{\"proto\":\"{}\",\"mode\":\"{}\",\"level\":\"{}\",\"reqid\":{},\"tunnel\":{}}}",
                proto_name(r.proto),
                mode_name(r.mode),
                level_name(r.level),
                r.reqid,
                tunnel
            )
        })
        .collect();
    format!(
        "{{\"id\":{},\"dir\":\"{}\",\"type\":\"{}\",\"priority\":{},\"src\":\"{}/{}\",\"src_port\":{},\
         \"dst\":\"{}/{}\",\"dst_port\":{},\"proto\":{},\"requests\":[{}]}}",
        p.policy.id,
        dir_name(p.policy.dir),
        policy_type_name(p.policy.policy_type),
        p.policy.priority,
        p.src.ip(),
        p.src.prefix_len,
        p.src.addr.port(),
        p.dst.ip(),
        p.dst.prefix_len,
        p.dst.addr.port(),
        p.src.proto,
        reqs.join(",")
    )
}

fn flow_dir(d: u8) -> &'static str {
    match d {
        openbsd::IPSP_DIRECTION_IN => "in",
        openbsd::IPSP_DIRECTION_OUT => "out",
        _ => "?",
    }
}

fn flow_type_name(t: u8) -> &'static str {
    match t {
        openbsd::SADB_X_FLOW_TYPE_USE => "use",
        openbsd::SADB_X_FLOW_TYPE_ACQUIRE => "acquire",
        openbsd::SADB_X_FLOW_TYPE_REQUIRE => "require",
        openbsd::SADB_X_FLOW_TYPE_BYPASS => "bypass",
        openbsd::SADB_X_FLOW_TYPE_DENY => "deny",
        openbsd::SADB_X_FLOW_TYPE_DONTACQ => "dontacq",
        _ => "?",
    }
}

fn flow_net(a: std::net::IpAddr, mask: std::net::IpAddr, port: u16) -> String {
    let net = format!("{a}/{}", super::flows::mask_len(mask));
    if port == 0 {
        net
    } else {
        format!("{net} port {port}")
    }
}

fn flow_json(f: &super::flows::SimFlow) -> String {
    let peer = f.peer.map_or("null".to_string(), |p| format!("\"{p}\""));
    format!(
        "{{\"dir\":\"{}\",\"type\":\"{}\",\"satype\":\"{}\",\"src\":\"{}/{}\",\"src_port\":{},\
         \"dst\":\"{}/{}\",\"dst_port\":{},\"proto\":{},\"peer\":{peer}}}",
        flow_dir(f.direction),
        flow_type_name(f.flow_type),
        satype_name(f.satype),
        f.src,
        super::flows::mask_len(f.src_mask),
        f.src_port,
        f.dst,
        super::flows::mask_len(f.dst_mask),
        f.dst_port,
        f.proto
    )
}
