//! `config ...` and `request address any` in an `ikev2` rule, and what
//! `dynamic` in a flow becomes (RFC 7296 3.15; iked.conf(5) "config",
//! "request").
//!
//! ```text
//! config address ADDR[/LEN]      a static address, or a pool
//! config netmask ADDR            sent with an IPv4 address
//! config name-server ADDR        INTERNAL_IP4_DNS / INTERNAL_IP6_DNS
//! config netbios-server ADDR     INTERNAL_IP4_NBNS
//! config dhcp-server ADDR        INTERNAL_IP4_DHCP
//! config protected-subnet NET    INTERNAL_IP4_SUBNET / INTERNAL_IP6_SUBNET
//! config access-server ADDR      accepted, not sent (no IKEv2 attribute)
//! request address any            ask the gateway for an IPv4 address
//! ```

use super::error::ErrorKind;
use super::flows::Host;
use super::lexer::Pos;
use super::parser::{PResult, Parser};
use super::values::{self, AddrError};
use ike_ipc::config::cp::MAX_CP_VALUES;
use ike_ipc::config::{CpConfig, IpNet};
use std::net::{IpAddr, Ipv4Addr};

impl Parser {
    /// After `config`: one `KEY VALUE` pair.
    pub(super) fn cp_config(&mut self, cp: &mut CpConfig) -> PResult<()> {
        let (key, kpos) = self.value("a config attribute (address, name-server, ...)")?;
        let (v, vpos) = self.value("a value")?;
        let full = |p: &Parser, n: usize| {
            if n >= MAX_CP_VALUES {
                Err(p.error(
                    vpos,
                    ErrorKind::Limit,
                    format!(
                        "more than {MAX_CP_VALUES} 'config {}' in one policy",
                        key.as_str()
                    ),
                ))
            } else {
                Ok(())
            }
        };
        match key.as_str() {
            "address" => {
                full(self, cp.addresses.len())?;
                let n = self.cp_net(&v, vpos)?;
                if cp.addresses.iter().any(|a| a.is_ipv6() == n.is_ipv6()) {
                    return Err(self.error(
                        vpos,
                        ErrorKind::Invalid,
                        "one 'config address' per address family (one pool each)",
                    ));
                }
                cp.addresses.push(n);
            }
            "netmask" => {
                if cp.netmask.is_some() {
                    return Err(self.error(kpos, ErrorKind::Invalid, "'config netmask' given twice"));
                }
                cp.netmask = Some(self.cp_v4(&v, vpos)?);
            }
            "name-server" => {
                full(self, cp.name_servers.len())?;
                cp.name_servers.push(self.cp_addr(&v, vpos)?);
            }
            "access-server" => {
                full(self, cp.access_servers.len())?;
                cp.access_servers.push(self.cp_addr(&v, vpos)?);
            }
            "netbios-server" => {
                full(self, cp.netbios_servers.len())?;
                cp.netbios_servers.push(self.cp_v4(&v, vpos)?);
            }
            "dhcp-server" => {
                full(self, cp.dhcp_servers.len())?;
                cp.dhcp_servers.push(self.cp_v4(&v, vpos)?);
            }
            "protected-subnet" => {
                full(self, cp.protected_subnets.len())?;
                let n = self.cp_net(&v, vpos)?;
                cp.protected_subnets.push(n);
            }
            other => {
                return Err(self.unsupported(
                    kpos,
                    other,
                    "not a configuration attribute this daemon sends (address, netmask, name-server, netbios-server, dhcp-server, protected-subnet, access-server)",
                ))
            }
        }
        Ok(())
    }

    /// After `request`: `address any`.
    pub(super) fn cp_request(&mut self, cp: &mut CpConfig) -> PResult<()> {
        let (what, wpos) = self.value("'address'")?;
        if what.as_str() != "address" {
            return Err(self.unsupported(
                wpos,
                what.as_str(),
                "only 'request address any' is supported",
            ));
        }
        let (v, vpos) = self.value("'any'")?;
        if v.as_str() != "any" {
            return Err(self.unsupported(
                vpos,
                v.as_str(),
                "only 'request address any' is supported (the gateway chooses the address)",
            ));
        }
        cp.request_address = true;
        Ok(())
    }

    fn cp_net(&self, v: &str, pos: Pos) -> PResult<IpNet> {
        values::net(v).map_err(|e| match e {
            AddrError::Invalid(m) => self.error(pos, ErrorKind::Invalid, m),
            AddrError::Hostname => self.error(
                pos,
                ErrorKind::Invalid,
                format!("'{v}' is not an address or prefix"),
            ),
        })
    }

    fn cp_addr(&self, v: &str, pos: Pos) -> PResult<IpAddr> {
        v.parse()
            .map_err(|_| self.error(pos, ErrorKind::Invalid, format!("'{v}' is not an address")))
    }

    fn cp_v4(&self, v: &str, pos: Pos) -> PResult<Ipv4Addr> {
        v.parse().map_err(|_| {
            self.error(
                pos,
                ErrorKind::Invalid,
                format!("'{v}' is not an IPv4 address (this attribute is IPv4 only)"),
            )
        })
    }
}

/// The pools of `cp` a `to dynamic` flow from `src` (a prefix of either
/// family, or `None` for `any`) stands for.
pub(super) fn dynamic_pools(cp: &CpConfig, src_v6: Option<bool>) -> Vec<IpNet> {
    cp.addresses
        .iter()
        .filter(|a| src_v6 != Some(!a.is_ipv6()))
        .copied()
        .collect()
}

impl Parser {
    /// `to dynamic` stands for each pool of the policy (of the source's
    /// family): the kernel and broker then know the flow covers the pool,
    /// and the engine narrows each CHILD_SA to the one address it lent.
    pub(super) fn dynamic_dsts(
        &self,
        policy: &mut ike_ipc::config::Policy,
        src: Host,
        dsts: &[(Host, Pos)],
    ) -> PResult<Vec<(Host, Pos)>> {
        let mut out = Vec::new();
        for (d, pos) in dsts {
            let Host::Dynamic = d else {
                out.push((*d, *pos));
                continue;
            };
            let v6 = match src {
                Host::Net(n) => Some(n.is_ipv6()),
                _ => None,
            };
            let pools = dynamic_pools(&policy.cp, v6);
            if pools.is_empty() {
                return Err(self.error(
                    *pos,
                    ErrorKind::Invalid,
                    "'to dynamic' needs a 'config address' pool of the same address family in the policy",
                ));
            }
            policy.cp.dynamic_peer = true;
            out.extend(pools.into_iter().map(|n| (Host::Net(n), *pos)));
        }
        Ok(out)
    }

    /// `from dynamic` (client): our side is whatever the gateway lends,
    /// so the flow's source is `any` and the policy must ask for it.
    pub(super) fn dynamic_src(
        &self,
        policy: &mut ike_ipc::config::Policy,
        src: Host,
        pos: Pos,
    ) -> PResult<Host> {
        match src {
            Host::Dynamic if !policy.cp.request_address => Err(self.error(
                pos,
                ErrorKind::Invalid,
                "'from dynamic' needs 'request address any' in the policy",
            )),
            Host::Dynamic => Ok(Host::Any),
            other => Ok(other),
        }
    }
}
