//! A policy's configuration-payload settings (`ike_ipc::config::CpConfig`,
//! from ike.conf) as the engine's `CpPolicy` (RFC 7296 3.15).

use ike_ipc::config::{CpConfig, Global};
use ike_proto::engine::{CpPolicy, PoolSpec};

pub fn engine_cp(global: &Global, cp: &CpConfig) -> CpPolicy {
    if cp.is_empty() {
        return CpPolicy::default();
    }
    if !cp.access_servers.is_empty() {
        // IKEv2 has no attribute for it (RFC 7296 3.15.1 lists none).
        log::info!(
            "config access-server {:?}: accepted, not sent (no IKEv2 configuration attribute)",
            cp.access_servers
        );
    }
    CpPolicy {
        pools: cp
            .addresses
            .iter()
            .map(|n| PoolSpec {
                addr: n.addr,
                prefix: n.prefix,
            })
            .collect(),
        netmask: cp.netmask,
        dns: cp.name_servers.clone(),
        nbns: cp.netbios_servers.clone(),
        dhcp: cp.dhcp_servers.clone(),
        subnets: cp
            .protected_subnets
            .iter()
            .map(|n| (n.addr, n.prefix))
            .collect(),
        sticky: global.sticky_address,
        dynamic_peer: cp.dynamic_peer,
        request_v4: cp.request_address,
        request_v6: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ike_ipc::config::IpNet;

    #[test]
    fn pools_servers_and_sticky_carry_over() {
        let cp = CpConfig {
            addresses: vec![IpNet::new("10.9.0.0".parse().unwrap(), 24).unwrap()],
            name_servers: vec!["10.1.0.2".parse().unwrap()],
            dynamic_peer: true,
            ..CpConfig::default()
        };
        let g = Global {
            sticky_address: true,
            ..Global::default()
        };
        let e = engine_cp(&g, &cp);
        assert_eq!(e.pools.len(), 1);
        assert_eq!(e.pools[0].prefix, 24);
        assert!(e.sticky && e.dynamic_peer && !e.request_v4);
        assert_eq!(e.dns, cp.name_servers);
        assert!(engine_cp(&g, &CpConfig::default()).is_empty());
    }
}
