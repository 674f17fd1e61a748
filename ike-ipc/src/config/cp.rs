//! Configuration payload settings of a policy (RFC 7296 3.15): what a
//! road-warrior gateway hands out (`config ...`) and what a client asks
//! for (`request address any`).

use super::policy::IpNet;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr};

/// At most this many values per `config` keyword in one policy.
pub const MAX_CP_VALUES: usize = 16;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpConfig {
    /// `config address A` (a host: one static address) or `config address
    /// A/prefix` (a pool); IPv4 and/or IPv6. Never empty when a flow says
    /// `to dynamic` (the parser checks).
    pub addresses: Vec<IpNet>,
    /// `config netmask`.
    pub netmask: Option<Ipv4Addr>,
    /// `config name-server`.
    pub name_servers: Vec<IpAddr>,
    /// `config netbios-server`.
    pub netbios_servers: Vec<Ipv4Addr>,
    /// `config dhcp-server`.
    pub dhcp_servers: Vec<Ipv4Addr>,
    /// `config protected-subnet`.
    pub protected_subnets: Vec<IpNet>,
    /// `config access-server`: accepted and kept, but not sent (it is an
    /// IKEv1 mode-config attribute with no IKEv2 number; iked sends it
    /// only as a private attribute).
    pub access_servers: Vec<IpAddr>,
    /// A flow says `to dynamic`: the peer's side is the address lent to
    /// it, and the flow's destination was set to the pools.
    pub dynamic_peer: bool,
    /// `request address any`: ask the gateway for an IPv4 address; the
    /// flow says `from dynamic` (our side is that address).
    pub request_address: bool,
}

impl CpConfig {
    pub fn is_empty(&self) -> bool {
        *self == CpConfig::default()
    }
}
