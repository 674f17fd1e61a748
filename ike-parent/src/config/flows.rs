//! Flows of an `ikev2` rule: `proto`, `from SRC [port P] to DST [port P]`
//! with `{ }` lists, and how `any` gets its address family.

use super::error::ErrorKind;
use super::interfaces;
use super::lexer::{Pos, Tok};
use super::parser::{PResult, Parser};
use super::values::{self, AddrError};
use ike_ipc::config::IpNet;

/// At most this many flows per policy after expanding lists.
pub const MAX_FLOWS: usize = 1024;

#[derive(Clone, Copy)]
pub(super) enum Host {
    Any,
    Net(IpNet),
    /// `dynamic`: the address a configuration payload lends (`to
    /// dynamic`, gateway) or receives (`from dynamic`, client); the rule
    /// replaces it once the policy is read (`cp.rs`).
    Dynamic,
}

pub(super) struct FlowSpec {
    pub(super) srcs: Vec<(Host, Pos)>,
    pub(super) src_port: Option<(u16, Pos)>,
    pub(super) dsts: Vec<(Host, Pos)>,
    pub(super) dst_port: Option<(u16, Pos)>,
}

impl Parser {
    /// `proto P` or `proto { P [,] P ... }`.
    pub(super) fn protocols(&mut self) -> PResult<Vec<u8>> {
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
    pub(super) fn host_value(&mut self) -> PResult<(Host, Pos)> {
        let (v, pos) = self.value("an address, a prefix or 'any'")?;
        match v.as_str() {
            "any" => Ok((Host::Any, pos)),
            "dynamic" => Ok((Host::Dynamic, pos)),
            text => match values::net(text) {
                Ok(n) => Ok((Host::Net(n), pos)),
                // Not an address: an interface name, resolved now
                // (iked.conf(5) allows interface names as addresses).
                Err(AddrError::Hostname) => match interfaces::interface_addr(text, self.af_hint) {
                    Ok(ip) => Ok((Host::Net(IpNet::host(ip)), pos)),
                    Err(m) if interfaces::interface_addrs(text, None).is_some() => {
                        Err(self.error(pos, ErrorKind::Invalid, m))
                    }
                    Err(m) => Err(self.unsupported(pos, text, &m)),
                },
                Err(AddrError::Invalid(m)) => Err(self.error(pos, ErrorKind::Invalid, m)),
            },
        }
    }

    pub(super) fn hosts(&mut self) -> PResult<Vec<(Host, Pos)>> {
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

    pub(super) fn port_opt(&mut self) -> PResult<Option<(u16, Pos)>> {
        if self.peek_word()?.as_deref() != Some("port") {
            return Ok(None);
        }
        self.next()?;
        let (v, pos) = self.value("a port")?;
        let port = values::port(&v).map_err(|m| self.error(pos, ErrorKind::Invalid, m))?;
        Ok(Some((port, pos)))
    }

    /// After `from`: `SRC [port P] to DST [port P]`.
    pub(super) fn flow_spec(&mut self) -> PResult<FlowSpec> {
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

    /// Give `any` a family: from the other side, else the policy's.
    pub(super) fn resolve_any(
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
            // The rule replaced `dynamic` before; never reached.
            (Host::Dynamic, _) | (_, Host::Dynamic) => {
                Err(self.error(spos, ErrorKind::Invalid, "'dynamic' is not allowed here"))
            }
            (Host::Any, Host::Any) => match fallback_v6 {
                Some(v6) => Ok((IpNet::any(v6), IpNet::any(v6))),
                None => Err(unknown(self, spos)),
            },
        }
    }
}

/// The one host all of `nets` name, if they are one and the same host.
pub(super) fn single_host(mut nets: impl Iterator<Item = IpNet>) -> Option<IpNet> {
    let first = nets.next()?;
    if first.is_host() && nets.all(|n| n == first) {
        Some(first)
    } else {
        None
    }
}
