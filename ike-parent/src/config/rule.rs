//! `ikev2` rules: iked.conf(5)'s policy grammar.
//!
//! ```text
//! ikev2 [name] [quick|default] [active|passive] [esp|ah] [tunnel|transport]
//!       [inet|inet6] [proto P | proto { P ... }]
//!       from SRC [port P] to DST [port P] [[,] from ... to ...]...
//!       [local ADDR] [peer ADDR[/LEN]]
//!       [ikesa TRANSFORMS]... [childsa TRANSFORMS]...
//!       [srcid ID] [dstid ID] [ikelifetime T] [lifetime T [bytes B]]
//!       [psk SECRET | rfc7427]
//! ```
//! The keywords after the name may come in any order (iked wants the order
//! above; every iked file therefore parses), each at most once, except
//! `from`, `ikesa` and `childsa`, which repeat.

use super::error::ErrorKind;
use super::flows::{single_host, FlowSpec, Host, MAX_FLOWS};
use super::lexer::{Pos, Tok};
use super::parser::{PResult, Parser};
use super::support;
use super::values::{self, IdError};
use ike_ipc::config::{
    Auth, ChildProposal, Encapsulation, Flow, Identity, IkeProposal, IpNet, IpsecProtocol,
    Lifetime, Policy, PolicyMode, PublicKeyMethod,
};
use std::net::IpAddr;

/// Words that are keywords inside a rule (so not taken as its name).
const KEYWORDS: &[&str] = &[
    "quick",
    "skip",
    "default",
    "active",
    "passive",
    "esp",
    "ah",
    "tunnel",
    "transport",
    "inet",
    "inet6",
    "proto",
    "rdomain",
    "from",
    "to",
    "port",
    "local",
    "peer",
    "ikesa",
    "childsa",
    "enc",
    "auth",
    "prf",
    "group",
    "esn",
    "noesn",
    "srcid",
    "dstid",
    "ikelifetime",
    "lifetime",
    "bytes",
    "psk",
    "rsa",
    "ecdsa256",
    "ecdsa384",
    "ecdsa521",
    "rfc7427",
    "eap",
    "tag",
    "tap",
    "iface",
    "config",
    "request",
    "any",
    "dynamic",
    "ikeauth",
    "natt",
];

pub fn is_keyword(word: &str) -> bool {
    KEYWORDS.contains(&word)
}

/// What the rule said, with positions for the checks at its end.
#[derive(Default)]
struct Seen {
    name: Option<(String, Pos)>,
    matching: Option<(String, Pos)>,
    mode: Option<(PolicyMode, Pos)>,
    protocol: Option<(IpsecProtocol, Pos)>,
    encap: Option<(Encapsulation, Pos)>,
    af_ipv6: Option<(bool, Pos)>,
    protos: Option<(Vec<u8>, Pos)>,
    flows: Vec<FlowSpec>,
    local: Option<(Option<IpAddr>, Pos)>,
    peer: Option<(Option<IpNet>, Pos)>,
    ike: Vec<IkeProposal>,
    child: Vec<(ChildProposal, Pos)>,
    srcid: Option<Pos>,
    dstid: Option<Pos>,
    ikelifetime: Option<Pos>,
    lifetime: Option<Pos>,
    auth: Option<Pos>,
    natt: Option<Pos>,
}

fn once<T>(p: &Parser, slot: &Option<(T, Pos)>, keyword: &str, pos: Pos) -> PResult<()> {
    once_pos(p, &slot.as_ref().map(|(_, first)| *first), keyword, pos)
}

fn once_pos(p: &Parser, slot: &Option<Pos>, keyword: &str, pos: Pos) -> PResult<()> {
    match slot {
        Some(first) => Err(p.error(
            pos,
            ErrorKind::Syntax,
            format!(
                "'{keyword}' conflicts with an earlier choice at line {}:{}",
                first.line, first.column
            ),
        )),
        None => Ok(()),
    }
}

/// `keyword` at `pos` fills `slot` with `value`, unless an earlier keyword
/// filled it (then the error of [`once`]).
fn set_once<T>(
    p: &Parser,
    slot: &mut Option<(T, Pos)>,
    keyword: &str,
    pos: Pos,
    value: T,
) -> PResult<()> {
    once(p, slot, keyword, pos)?;
    *slot = Some((value, pos));
    Ok(())
}

/// [`set_once`] for a slot that only records where its keyword stood.
fn mark_once(p: &Parser, slot: &mut Option<Pos>, keyword: &str, pos: Pos) -> PResult<()> {
    once_pos(p, slot, keyword, pos)?;
    *slot = Some(pos);
    Ok(())
}

impl Parser {
    /// Parse one rule; `at` is the position of the `ikev2` keyword.
    pub fn rule(&mut self, at: Pos) -> PResult<Policy> {
        let mut seen = Seen::default();
        let mut policy = Policy::new("");
        self.af_hint = None;
        let t = self.peek()?.clone();
        match &t.tok {
            Tok::Str(s) => {
                seen.name = Some((s.to_string(), t.pos));
                self.next()?;
            }
            Tok::Word(w) if !is_keyword(w) => {
                seen.name = Some((w.to_string(), t.pos));
                self.next()?;
            }
            _ => {}
        }
        let mut after_flow = false;
        loop {
            let t = self.next()?;
            let word = match &t.tok {
                Tok::Newline | Tok::Eof => break,
                Tok::Comma if after_flow => continue,
                Tok::Word(w) => w.to_string(),
                _ => return Err(self.syntax(&t, "a policy keyword")),
            };
            let pos = t.pos;
            after_flow = false;
            match word.as_str() {
                "quick" | "default" => {
                    set_once(self, &mut seen.matching, &word, pos, word.clone())?
                }
                "skip" => {
                    return Err(self.unsupported(pos, "skip", "policy skipping is not implemented"))
                }
                "active" => set_once(self, &mut seen.mode, &word, pos, PolicyMode::Active)?,
                "passive" => set_once(self, &mut seen.mode, &word, pos, PolicyMode::Passive)?,
                "esp" => set_once(self, &mut seen.protocol, &word, pos, IpsecProtocol::Esp)?,
                "ah" => set_once(self, &mut seen.protocol, &word, pos, IpsecProtocol::Ah)?,
                "tunnel" => set_once(self, &mut seen.encap, &word, pos, Encapsulation::Tunnel)?,
                // iked: UDP encapsulation even without a NAT in the path.
                "natt" => {
                    once_pos(self, &seen.natt, &word, pos)?;
                    seen.natt = Some(pos);
                }
                "transport" => {
                    set_once(self, &mut seen.encap, &word, pos, Encapsulation::Transport)?
                }
                "inet" | "inet6" => {
                    set_once(self, &mut seen.af_ipv6, &word, pos, word == "inet6")?;
                    self.af_hint = Some(word == "inet6");
                }
                "proto" => {
                    once(self, &seen.protos, &word, pos)?;
                    let protos = self.protocols()?;
                    seen.protos = Some((protos, pos));
                }
                "rdomain" => {
                    return Err(self.unsupported(
                        pos,
                        "rdomain",
                        "routing domains are OpenBSD-only and not supported",
                    ))
                }
                "from" => {
                    let flow = self.flow_spec()?;
                    seen.flows.push(flow);
                    after_flow = true;
                }
                "local" => {
                    once(self, &seen.local, &word, pos)?;
                    let addr = match self.host_value()? {
                        (Host::Any, _) => None,
                        (Host::Dynamic, dpos) => return Err(self.error(
                            dpos,
                            ErrorKind::Invalid,
                            "'dynamic' is for flows ('from dynamic', 'to dynamic'), not 'local'",
                        )),
                        (Host::Net(n), _) if n.is_host() => Some(n.addr),
                        (Host::Net(n), npos) => {
                            return Err(self.error(
                                npos,
                                ErrorKind::Invalid,
                                format!("local must be one address, not the prefix {n}"),
                            ))
                        }
                    };
                    seen.local = Some((addr, pos));
                }
                "peer" => {
                    once(self, &seen.peer, &word, pos)?;
                    let net =
                        match self.host_value()? {
                            (Host::Any, _) => None,
                            (Host::Dynamic, dpos) => return Err(self.error(
                                dpos,
                                ErrorKind::Invalid,
                                "'dynamic' is for flows ('from dynamic', 'to dynamic'), not 'peer'",
                            )),
                            (Host::Net(n), _) => Some(n),
                        };
                    seen.peer = Some((net, pos));
                }
                "ikesa" => {
                    let p = self.ike_proposal(pos)?;
                    seen.ike.push(p);
                }
                "childsa" => {
                    let p = self.child_proposal(pos)?;
                    seen.child.push((p, pos));
                }
                "srcid" | "dstid" => {
                    let slot = if word == "srcid" {
                        &seen.srcid
                    } else {
                        &seen.dstid
                    };
                    once_pos(self, slot, &word, pos)?;
                    let (v, vpos) = self.value("an identity")?;
                    let id = match values::identity(&v) {
                        Ok(id) => id,
                        Err(IdError::Dn) => {
                            return Err(self.unsupported(vpos, &v, "Distinguished Name identities cannot be written in ike.conf yet (use the certificate's subjectAltName: an address, FQDN or e-mail)"))
                        }
                        Err(IdError::Invalid(m)) => return Err(self.error(vpos, ErrorKind::Invalid, m)),
                    };
                    if word == "srcid" {
                        policy.srcid = Some(id);
                        seen.srcid = Some(pos);
                    } else {
                        policy.dstid = Some(id);
                        seen.dstid = Some(pos);
                    }
                }
                "ikelifetime" => {
                    mark_once(self, &mut seen.ikelifetime, &word, pos)?;
                    policy.ike_lifetime_seconds = self.lifetime_value()?;
                }
                "lifetime" => {
                    mark_once(self, &mut seen.lifetime, &word, pos)?;
                    let seconds = self.lifetime_value()?;
                    let mut lifetime = Lifetime {
                        seconds,
                        bytes: policy.lifetime.bytes,
                    };
                    if self.peek_word()?.as_deref() == Some("bytes") {
                        self.next()?;
                        let (v, vpos) = self.value("a byte count")?;
                        lifetime.bytes = values::bytes(&v)
                            .map_err(|m| self.error(vpos, ErrorKind::Invalid, m))?;
                        if lifetime.bytes == 0 {
                            return Err(self.error(
                                vpos,
                                ErrorKind::Invalid,
                                "a byte lifetime must be above zero",
                            ));
                        }
                    }
                    policy.lifetime = lifetime;
                }
                "psk" => {
                    mark_once(self, &mut seen.auth, &word, pos)?;
                    let (v, vpos) = self.value("a pre-shared key")?;
                    let secret =
                        values::psk(&v).map_err(|m| self.error(vpos, ErrorKind::Invalid, m))?;
                    policy.auth = Auth::Psk(secret);
                }
                "rsa" | "ecdsa256" | "ecdsa384" | "ecdsa521" | "rfc7427" => {
                    mark_once(self, &mut seen.auth, &word, pos)?;
                    let method = match word.as_str() {
                        "rsa" => PublicKeyMethod::Rsa,
                        "ecdsa256" => PublicKeyMethod::Ecdsa256,
                        "ecdsa384" => PublicKeyMethod::Ecdsa384,
                        "ecdsa521" => PublicKeyMethod::Ecdsa521,
                        _ => PublicKeyMethod::Rfc7427,
                    };
                    support::public_key_method(method)
                        .map_err(|why| self.unsupported(pos, &word, why))?;
                    policy.auth = Auth::PublicKey(method);
                }
                "eap" => {
                    return Err(self.unsupported(pos, "eap", "EAP authentication is not supported"))
                }
                "tag" => {
                    return Err(self.unsupported(
                        pos,
                        "tag",
                        "pf(4) tags are OpenBSD-only and not supported",
                    ))
                }
                "tap" => {
                    return Err(self.unsupported(
                        pos,
                        "tap",
                        "enc(4) interfaces are OpenBSD-only and not supported",
                    ))
                }
                "iface" => {
                    return Err(self.unsupported(
                        pos,
                        "iface",
                        "sec(4) route-based interfaces are not supported",
                    ))
                }
                "config" => self.cp_config(&mut policy.cp)?,
                "request" => self.cp_request(&mut policy.cp)?,
                "ipcomp" => {
                    return Err(self.unsupported(
                        pos,
                        "ipcomp",
                        "IP payload compression is not supported",
                    ))
                }
                "to" => {
                    return Err(self.error(
                        pos,
                        ErrorKind::Syntax,
                        "'to' without a 'from' before it",
                    ))
                }
                _ => {
                    return Err(self.error(
                        pos,
                        ErrorKind::Syntax,
                        format!("unexpected '{word}' in an ikev2 policy"),
                    ))
                }
            }
        }
        self.finish(at, seen, policy)
    }

    fn lifetime_value(&mut self) -> PResult<u64> {
        let (v, pos) = self.value("a time (seconds, or with s, m, h, d)")?;
        let t = values::time(&v).map_err(|m| self.error(pos, ErrorKind::Invalid, m))?;
        if t == 0 {
            return Err(self.error(pos, ErrorKind::Invalid, "a lifetime must be above zero"));
        }
        Ok(t)
    }

    /// Defaults, cross-checks and flow expansion once the rule is read.
    fn finish(&mut self, at: Pos, seen: Seen, mut policy: Policy) -> PResult<Policy> {
        let index = self.config.policies.len() + 1;
        let (name, name_pos) = match &seen.name {
            Some((n, p)) => (n.clone(), *p),
            None => (format!("policy{index}"), at),
        };
        // Spaces inside are allowed, as iked does ("catch all" in
        // iked.conf(5)'s EXAMPLES); quotes, backslashes, control characters
        // and spaces at either end are not (the name is shown quoted in
        // `ike-parent -n`, logs and `ike-ctl`, and must read back the same).
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && !name.starts_with(' ')
            && !name.ends_with(' ')
            && name
                .bytes()
                .all(|b| (b.is_ascii_graphic() || b == b' ') && b != b'"' && b != b'\\');
        if !name_ok {
            return Err(self.error(
                name_pos,
                ErrorKind::Invalid,
                "a policy name is 1 to 64 printable characters (spaces only between words) without quotes or backslashes",
            ));
        }
        if self.config.policies.iter().any(|p| p.name == name) {
            return Err(self.error(
                name_pos,
                ErrorKind::Invalid,
                format!("a policy named '{name}' already exists"),
            ));
        }
        policy.name = name;
        let loc = self.location(at);
        policy.source = format!("{}:{}", loc.file, loc.line);
        policy.natt = seen.natt.is_some();
        match seen.matching.as_ref().map(|(w, _)| w.as_str()) {
            Some("quick") => policy.quick = true,
            Some("default") => policy.default = true,
            _ => {}
        }
        if let Some((m, _)) = seen.mode {
            policy.mode = m;
        }
        if let Some((p, _)) = seen.protocol {
            policy.protocol = p;
        }
        if let Some((e, _)) = seen.encap {
            policy.encapsulation = e;
        }
        let af = seen.af_ipv6;
        let family_error = |p: &Parser, pos: Pos, what: &str| {
            p.error(
                pos,
                ErrorKind::Invalid,
                format!("{what} does not match the policy's address family"),
            )
        };
        if let Some((Some(local), pos)) = seen.local {
            if af.is_some_and(|(v6, _)| v6 != local.is_ipv6()) {
                return Err(family_error(self, pos, "the local address"));
            }
            policy.local = Some(local);
        }
        if let Some((Some(peer), pos)) = seen.peer {
            if af.is_some_and(|(v6, _)| v6 != peer.is_ipv6()) {
                return Err(family_error(self, pos, "the peer address"));
            }
            policy.peer = Some(peer);
        }

        // Flows: lists and protocols multiply out.
        if seen.flows.is_empty() {
            return Err(self.error(
                at,
                ErrorKind::Syntax,
                "an ikev2 policy needs 'from SRC to DST'",
            ));
        }
        let protos: Vec<Option<u8>> = match &seen.protos {
            Some((list, _)) => list.iter().map(|p| Some(*p)).collect(),
            None => vec![None],
        };
        let fallback_v6 = af
            .map(|(v6, _)| v6)
            .or(policy.peer.map(|p| p.is_ipv6()))
            .or(policy.local.map(|l| l.is_ipv6()));
        for spec in &seen.flows {
            for port in [spec.src_port, spec.dst_port].into_iter().flatten() {
                let ok = protos.iter().all(|p| p.is_some_and(values::has_ports));
                if !ok {
                    return Err(self.error(
                        port.1,
                        ErrorKind::Invalid,
                        "a port needs 'proto tcp', 'proto udp' or 'proto sctp'",
                    ));
                }
            }
            for (src, spos) in &spec.srcs {
                for (dst, dpos) in &self.dynamic_dsts(&mut policy, *src, &spec.dsts)? {
                    let src = self.dynamic_src(&mut policy, *src, *spos)?;
                    let (src, dst) = self.resolve_any(src, *spos, *dst, *dpos, fallback_v6)?;
                    if let Some((v6, _)) = af {
                        if src.is_ipv6() != v6 {
                            return Err(family_error(self, *spos, "this address"));
                        }
                    }
                    for proto in &protos {
                        if policy.flows.len() >= MAX_FLOWS {
                            return Err(self.error(
                                at,
                                ErrorKind::Limit,
                                format!("more than {MAX_FLOWS} flows in one policy"),
                            ));
                        }
                        policy.flows.push(Flow {
                            proto: *proto,
                            src,
                            src_port: spec.src_port.map(|p| p.0),
                            dst,
                            dst_port: spec.dst_port.map(|p| p.0),
                        });
                    }
                }
            }
        }

        // Transport mode protects traffic between the peers themselves:
        // without `peer`/`local`, the flow's hosts are the peers.
        if policy.encapsulation == Encapsulation::Transport {
            let dst = single_host(policy.flows.iter().map(|f| f.dst));
            let src = single_host(policy.flows.iter().map(|f| f.src));
            if policy.peer.is_none() && seen.peer.is_none() {
                policy.peer = dst;
            }
            if policy.local.is_none() && seen.local.is_none() {
                policy.local = src.map(|n| n.addr);
            }
        }
        if policy.mode == PolicyMode::Active && !policy.peer.is_some_and(|p| p.is_host()) {
            let pos = seen.mode.map(|(_, p)| p).unwrap_or(at);
            return Err(self.error(
                pos,
                ErrorKind::Invalid,
                "an active policy needs one peer address to send to ('peer ADDR')",
            ));
        }

        // iked.conf(5): without srcid the local identity is the host name,
        // as an FQDN. A policy with a local address (`local`, or a transport
        // flow's source) keeps identifying as that address, as this daemon
        // always did: its default dstid is the peer's address, so the two
        // defaults of a pair of ike daemons still match.
        if policy.srcid.is_none() && policy.local.is_none() {
            let id = host_name_identity().map_err(|m| self.error(at, ErrorKind::Invalid, m))?;
            policy.srcid = Some(id);
        }

        policy.ike_proposals = if seen.ike.is_empty() {
            support::default_ike_proposals()
        } else {
            seen.ike
        };
        let ah = policy.protocol == IpsecProtocol::Ah;
        if seen.child.is_empty() {
            policy.child_proposals = support::default_child_proposals(ah);
        }
        for (mut p, pos) in seen.child {
            if ah && !p.encryption.is_empty() {
                return Err(self.error(
                    pos,
                    ErrorKind::Invalid,
                    "ah has no encryption; remove 'enc' (or use esp)",
                ));
            }
            support::complete_child(&mut p, ah);
            policy.child_proposals.push(p);
        }
        Ok(policy)
    }
}

/// This host's name as an ID_FQDN identity (iked's default srcid), without
/// a trailing dot.
fn host_name_identity() -> Result<Identity, String> {
    let name = nix::unistd::gethostname()
        .map_err(|e| format!("no srcid, and the host name cannot be read: {e}"))?;
    let name = name.to_str().unwrap_or("").trim_end_matches('.');
    if name.is_empty() || name.len() > 255 || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "no srcid, and the host name {name:?} cannot serve as the FQDN identity iked would use: set srcid"
        ));
    }
    Ok(Identity::Fqdn(name.to_string()))
}
