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
use super::lexer::{Pos, Tok};
use super::parser::{PResult, Parser};
use super::support;
use super::values::{self, AddrError, IdError};
use ike_ipc::config::{
    Auth, ChildProposal, DhGroup, Encapsulation, Encryption, Esn, Flow, IkeProposal, Integrity,
    IpNet, IpsecProtocol, Lifetime, Policy, PolicyMode, Prf, PublicKeyMethod,
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
];

pub fn is_keyword(word: &str) -> bool {
    KEYWORDS.contains(&word)
}

/// keyword, value, value position, keyword position.
type Transform = (String, String, Pos, Pos);

/// At most this many flows per policy after expanding lists.
pub const MAX_FLOWS: usize = 1024;

#[derive(Clone, Copy)]
enum Host {
    Any,
    Net(IpNet),
}

struct FlowSpec {
    srcs: Vec<(Host, Pos)>,
    src_port: Option<(u16, Pos)>,
    dsts: Vec<(Host, Pos)>,
    dst_port: Option<(u16, Pos)>,
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
}

fn once<T>(p: &Parser, slot: &Option<(T, Pos)>, keyword: &str, pos: Pos) -> PResult<()> {
    match slot {
        Some((_, first)) => Err(p.error(
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

impl Parser {
    /// Parse one rule; `at` is the position of the `ikev2` keyword.
    pub fn rule(&mut self, at: Pos) -> PResult<Policy> {
        let mut seen = Seen::default();
        let mut policy = Policy::new("");
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
                    once(self, &seen.matching, &word, pos)?;
                    seen.matching = Some((word.clone(), pos));
                }
                "skip" => {
                    return Err(self.unsupported(pos, "skip", "policy skipping is not implemented"))
                }
                "active" | "passive" => {
                    once(self, &seen.mode, &word, pos)?;
                    let m = if word == "active" {
                        PolicyMode::Active
                    } else {
                        PolicyMode::Passive
                    };
                    seen.mode = Some((m, pos));
                }
                "esp" | "ah" => {
                    once(self, &seen.protocol, &word, pos)?;
                    let p = if word == "esp" {
                        IpsecProtocol::Esp
                    } else {
                        IpsecProtocol::Ah
                    };
                    seen.protocol = Some((p, pos));
                }
                "tunnel" | "transport" => {
                    once(self, &seen.encap, &word, pos)?;
                    let e = if word == "tunnel" {
                        Encapsulation::Tunnel
                    } else {
                        Encapsulation::Transport
                    };
                    seen.encap = Some((e, pos));
                }
                "inet" | "inet6" => {
                    once(self, &seen.af_ipv6, &word, pos)?;
                    seen.af_ipv6 = Some((word == "inet6", pos));
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
                    let net = match self.host_value()? {
                        (Host::Any, _) => None,
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
                            return Err(self.unsupported(vpos, &v, "Distinguished Name identities need certificates, which are not supported"))
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
                    once_pos(self, &seen.ikelifetime, &word, pos)?;
                    seen.ikelifetime = Some(pos);
                    policy.ike_lifetime_seconds = self.lifetime_value()?;
                }
                "lifetime" => {
                    once_pos(self, &seen.lifetime, &word, pos)?;
                    seen.lifetime = Some(pos);
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
                    once_pos(self, &seen.auth, &word, pos)?;
                    seen.auth = Some(pos);
                    let (v, vpos) = self.value("a pre-shared key")?;
                    let secret =
                        values::psk(&v).map_err(|m| self.error(vpos, ErrorKind::Invalid, m))?;
                    policy.auth = Auth::Psk(secret);
                }
                "rsa" | "ecdsa256" | "ecdsa384" | "ecdsa521" | "rfc7427" => {
                    once_pos(self, &seen.auth, &word, pos)?;
                    seen.auth = Some(pos);
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
                "config" | "request" => {
                    return Err(self.unsupported(
                        pos,
                        &word,
                        "IKEv2 configuration payloads (RFC 7296 3.15) are not supported",
                    ))
                }
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

    /// `proto P` or `proto { P [,] P ... }`.
    fn protocols(&mut self) -> PResult<Vec<u8>> {
        let mut out = Vec::new();
        if matches!(self.peek()?.tok, Tok::LBrace) {
            self.next()?;
            loop {
                let t = self.next()?;
                match &t.tok {
                    Tok::RBrace if !out.is_empty() => break,
                    Tok::Comma | Tok::Newline => continue,
                    Tok::Word(w) | Tok::Str(w) => {
                        let n = values::protocol(w)
                            .map_err(|m| self.error(t.pos, ErrorKind::Invalid, m))?;
                        if !out.contains(&n) {
                            out.push(n);
                        }
                    }
                    _ => return Err(self.syntax(&t, "a protocol or '}'")),
                }
            }
        } else {
            let (v, vpos) = self.value("a protocol")?;
            out.push(values::protocol(&v).map_err(|m| self.error(vpos, ErrorKind::Invalid, m))?);
        }
        Ok(out)
    }

    /// One address, a prefix or `any` (`hosts` handles `{ }` lists).
    fn host_value(&mut self) -> PResult<(Host, Pos)> {
        let (v, pos) = self.value("an address, a prefix or 'any'")?;
        match v.as_str() {
            "any" => Ok((Host::Any, pos)),
            "dynamic" => Err(self.unsupported(pos, "dynamic", "dynamic addresses come from configuration payloads, which are not supported")),
            text => match values::net(text) {
                Ok(n) => Ok((Host::Net(n), pos)),
                Err(AddrError::Hostname) => Err(self.unsupported(
                    pos,
                    text,
                    "host names are not resolved (the parser does no DNS lookups); write the address",
                )),
                Err(AddrError::Invalid(m)) => Err(self.error(pos, ErrorKind::Invalid, m)),
            },
        }
    }

    fn hosts(&mut self) -> PResult<Vec<(Host, Pos)>> {
        if !matches!(self.peek()?.tok, Tok::LBrace) {
            return Ok(vec![self.host_value()?]);
        }
        self.next()?;
        let mut out = Vec::new();
        loop {
            match self.peek()?.tok {
                Tok::RBrace if !out.is_empty() => {
                    self.next()?;
                    return Ok(out);
                }
                Tok::Comma | Tok::Newline => {
                    self.next()?;
                }
                _ => {
                    if out.len() >= MAX_FLOWS {
                        let pos = self.peek()?.pos;
                        return Err(self.error(
                            pos,
                            ErrorKind::Limit,
                            format!("more than {MAX_FLOWS} addresses in a list"),
                        ));
                    }
                    out.push(self.host_value()?);
                }
            }
        }
    }

    fn port_opt(&mut self) -> PResult<Option<(u16, Pos)>> {
        if self.peek_word()?.as_deref() != Some("port") {
            return Ok(None);
        }
        self.next()?;
        let (v, pos) = self.value("a port")?;
        let port = values::port(&v).map_err(|m| self.error(pos, ErrorKind::Invalid, m))?;
        Ok(Some((port, pos)))
    }

    /// After `from`: `SRC [port P] to DST [port P]`.
    fn flow_spec(&mut self) -> PResult<FlowSpec> {
        let srcs = self.hosts()?;
        let src_port = self.port_opt()?;
        let t = self.next()?;
        match &t.tok {
            Tok::Word(w) if w.as_str() == "to" => {}
            Tok::LParen => {
                return Err(self.unsupported(
                    t.pos,
                    "(srcnat)",
                    "NAT'ed flow sources are not supported",
                ))
            }
            _ => return Err(self.syntax(&t, "'to'")),
        }
        let dsts = self.hosts()?;
        let dst_port = self.port_opt()?;
        Ok(FlowSpec {
            srcs,
            src_port,
            dsts,
            dst_port,
        })
    }

    fn lifetime_value(&mut self) -> PResult<u64> {
        let (v, pos) = self.value("a time (seconds, or with s, m, h, d)")?;
        let t = values::time(&v).map_err(|m| self.error(pos, ErrorKind::Invalid, m))?;
        if t == 0 {
            return Err(self.error(pos, ErrorKind::Invalid, "a lifetime must be above zero"));
        }
        Ok(t)
    }

    /// The transforms after `ikesa` or `childsa`: (keyword, value, value
    /// position, keyword position) for each, until a word that is not a transform keyword.
    fn transforms(&mut self, what: &str, at: Pos) -> PResult<Vec<Transform>> {
        let mut out = Vec::new();
        while let Some(word) = self.peek_word()? {
            if !matches!(
                word.as_str(),
                "enc" | "auth" | "prf" | "group" | "esn" | "noesn"
            ) {
                break;
            }
            let t = self.next()?;
            if word == "esn" || word == "noesn" {
                out.push((word.clone(), word, t.pos, t.pos));
            } else {
                let (v, vpos) = self.value(&format!("an algorithm after '{word}'"))?;
                out.push((word, v.to_string(), vpos, t.pos));
            }
        }
        if out.is_empty() {
            return Err(self.error(
                at,
                ErrorKind::Syntax,
                format!("'{what}' needs at least one of enc, auth, prf, group"),
            ));
        }
        Ok(out)
    }

    fn ike_proposal(&mut self, at: Pos) -> PResult<IkeProposal> {
        let mut p = IkeProposal {
            encryption: vec![],
            prf: vec![],
            integrity: vec![],
            groups: vec![],
        };
        for (kw, v, pos, kwpos) in self.transforms("ikesa", at)? {
            match kw.as_str() {
                "enc" => {
                    let e = self.encryption(&v, pos)?;
                    support::ike_encryption(e).map_err(|why| self.unsupported(pos, &v, why))?;
                    push_unique(&mut p.encryption, e);
                }
                "auth" => push_unique(&mut p.integrity, self.integrity(&v, pos)?),
                "prf" => push_unique(&mut p.prf, self.prf(&v, pos)?),
                "group" => match self.group(&v, pos)? {
                    Some(g) => push_unique(&mut p.groups, g),
                    None => {
                        return Err(self.error(
                            pos,
                            ErrorKind::Invalid,
                            "an IKE SA needs a key exchange group; 'none' is only for childsa",
                        ))
                    }
                },
                _ => {
                    return Err(self.error(
                        kwpos,
                        ErrorKind::Syntax,
                        format!("'{kw}' applies to childsa, not ikesa"),
                    ))
                }
            }
        }
        self.check_aead(&p.encryption, !p.integrity.is_empty(), at, "ikesa")?;
        support::complete_ike(&mut p);
        Ok(p)
    }

    fn child_proposal(&mut self, at: Pos) -> PResult<ChildProposal> {
        let mut p = ChildProposal {
            encryption: vec![],
            integrity: vec![],
            groups: vec![],
            esn: vec![],
        };
        let mut no_pfs = false;
        for (kw, v, pos, kwpos) in self.transforms("childsa", at)? {
            match kw.as_str() {
                "enc" => {
                    let e = self.encryption(&v, pos)?;
                    support::child_encryption(e).map_err(|why| self.unsupported(pos, &v, why))?;
                    push_unique(&mut p.encryption, e);
                }
                "auth" => push_unique(&mut p.integrity, self.integrity(&v, pos)?),
                "group" => match self.group(&v, pos)? {
                    Some(g) => push_unique(&mut p.groups, g),
                    None => no_pfs = true,
                },
                "esn" => push_unique(&mut p.esn, Esn::Extended),
                "noesn" => push_unique(&mut p.esn, Esn::None),
                _ => {
                    return Err(self.error(
                        kwpos,
                        ErrorKind::Syntax,
                        format!("'{kw}' applies to ikesa, not childsa"),
                    ))
                }
            }
        }
        if no_pfs && !p.groups.is_empty() {
            return Err(self.error(
                at,
                ErrorKind::Invalid,
                "'group none' cannot be combined with other groups",
            ));
        }
        self.check_aead(&p.encryption, !p.integrity.is_empty(), at, "childsa")?;
        Ok(p)
    }

    /// RFC 5282 8: AEAD ciphers take no integrity transform, and are
    /// proposed apart from the others.
    fn check_aead(&self, enc: &[Encryption], has_integ: bool, at: Pos, what: &str) -> PResult<()> {
        let aead = enc.iter().filter(|e| e.is_aead()).count();
        if aead > 0 && aead < enc.len() {
            return Err(self.error(
                at,
                ErrorKind::Invalid,
                format!("put AEAD and non-AEAD ciphers in separate {what} proposals (RFC 5282 8)"),
            ));
        }
        if aead > 0 && has_integ {
            return Err(self.error(
                at,
                ErrorKind::Invalid,
                format!("an AEAD cipher carries its own integrity; remove 'auth' from this {what}"),
            ));
        }
        Ok(())
    }

    fn encryption(&self, v: &str, pos: Pos) -> PResult<Encryption> {
        Encryption::from_name(v).ok_or_else(|| {
            let known: Vec<&str> = Encryption::ALL
                .iter()
                .filter(|e| support::child_encryption(**e).is_ok())
                .map(|e| e.name())
                .collect();
            self.error(
                pos,
                ErrorKind::Invalid,
                format!(
                    "unknown encryption algorithm '{v}' (supported: {})",
                    known.join(", ")
                ),
            )
        })
    }

    fn integrity(&self, v: &str, pos: Pos) -> PResult<Integrity> {
        let i = Integrity::from_name(v).or_else(|| Integrity::from_name(&format!("hmac-{v}")));
        let i = i.ok_or_else(|| {
            self.error(pos, ErrorKind::Invalid, format!("unknown integrity algorithm '{v}' (supported: hmac-sha2-256, hmac-sha2-384, hmac-sha2-512)"))
        })?;
        support::integrity(i).map_err(|why| self.unsupported(pos, v, why))?;
        Ok(i)
    }

    fn prf(&self, v: &str, pos: Pos) -> PResult<Prf> {
        // iked spells PRFs like integrity algorithms; `sha2-256` is accepted too.
        let p = Prf::from_name(v).or_else(|| Prf::from_name(&format!("hmac-{v}")));
        let p = p.ok_or_else(|| {
            self.error(
                pos,
                ErrorKind::Invalid,
                format!(
                    "unknown prf '{v}' (supported: hmac-sha2-256, hmac-sha2-384, hmac-sha2-512)"
                ),
            )
        })?;
        support::prf(p).map_err(|why| self.unsupported(pos, v, why))?;
        Ok(p)
    }

    /// `None` for `group none`.
    fn group(&self, v: &str, pos: Pos) -> PResult<Option<DhGroup>> {
        if v == "none" {
            return Ok(None);
        }
        let g = DhGroup::from_name_or_number(v).ok_or_else(|| {
            let known: Vec<&str> = DhGroup::ALL
                .iter()
                .filter(|g| support::group(**g).is_ok())
                .map(|g| g.name())
                .collect();
            self.error(
                pos,
                ErrorKind::Invalid,
                format!("unknown group '{v}' (supported: {})", known.join(", ")),
            )
        })?;
        support::group(g).map_err(|why| self.unsupported(pos, v, why))?;
        Ok(Some(g))
    }

    /// Defaults, cross-checks and flow expansion once the rule is read.
    fn finish(&mut self, at: Pos, seen: Seen, mut policy: Policy) -> PResult<Policy> {
        let index = self.config.policies.len() + 1;
        let (name, name_pos) = match &seen.name {
            Some((n, p)) => (n.clone(), *p),
            None => (format!("policy{index}"), at),
        };
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
        if !name_ok {
            return Err(self.error(
                name_pos,
                ErrorKind::Invalid,
                "a policy name is 1 to 64 printable characters without quotes or backslashes",
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
                for (dst, dpos) in &spec.dsts {
                    let (src, dst) = self.resolve_any(*src, *spos, *dst, *dpos, fallback_v6)?;
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

    /// Give `any` a family: from the other side, else the policy's.
    fn resolve_any(
        &self,
        src: Host,
        spos: Pos,
        dst: Host,
        dpos: Pos,
        fallback_v6: Option<bool>,
    ) -> PResult<(IpNet, IpNet)> {
        let unknown = |p: &Parser, pos| {
            p.error(pos, ErrorKind::Invalid, "cannot tell whether 'any' means IPv4 or IPv6 here; add 'inet' or 'inet6' to the policy")
        };
        match (src, dst) {
            (Host::Net(s), Host::Net(d)) => {
                if s.is_ipv6() != d.is_ipv6() {
                    return Err(self.error(
                        dpos,
                        ErrorKind::Invalid,
                        format!("from {s} to {d} mixes IPv4 and IPv6"),
                    ));
                }
                Ok((s, d))
            }
            (Host::Net(s), Host::Any) => Ok((s, IpNet::any(s.is_ipv6()))),
            (Host::Any, Host::Net(d)) => Ok((IpNet::any(d.is_ipv6()), d)),
            (Host::Any, Host::Any) => match fallback_v6 {
                Some(v6) => Ok((IpNet::any(v6), IpNet::any(v6))),
                None => Err(unknown(self, spos)),
            },
        }
    }
}

fn push_unique<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// The one host all of `nets` name, if they are one and the same host.
fn single_host(mut nets: impl Iterator<Item = IpNet>) -> Option<IpNet> {
    let first = nets.next()?;
    if first.is_host() && nets.all(|n| n == first) {
        Some(first)
    } else {
        None
    }
}
