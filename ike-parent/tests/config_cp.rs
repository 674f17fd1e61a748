//! Road-warrior keywords (issue 15, RFC 7296 3.15): `config ...`,
//! `request address any`, `from X to dynamic`, `set stickyaddress`.

mod config_util;

use config_util::{ok, parse};
use ike_ipc::config::IpNet;
use ike_parent::config::ErrorKind;
use std::net::IpAddr;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(s: &str, len: u8) -> IpNet {
    IpNet::new(ip(s), len).unwrap()
}

const GW: &str = "ikev2 gw passive esp from 10.1.0.0/24 to dynamic peer any psk x";

#[test]
fn a_gateway_with_every_config_attribute() {
    let c = ok(&format!(
        "set stickyaddress\n{GW} \\\n config address 10.2.0.0/24 config address fd00:2::/64 \
         config netmask 255.255.255.0 config name-server 10.1.0.2 config name-server fd00:1::53 \
         config netbios-server 10.1.0.3 config dhcp-server 10.1.0.4 \
         config protected-subnet 10.1.0.0/24 config access-server 10.1.0.5\n"
    ));
    assert!(c.global.sticky_address);
    let p = &c.policies[0];
    let cp = &p.cp;
    assert_eq!(cp.addresses, vec![net("10.2.0.0", 24), net("fd00:2::", 64)]);
    assert_eq!(cp.netmask, Some("255.255.255.0".parse().unwrap()));
    assert_eq!(cp.name_servers, vec![ip("10.1.0.2"), ip("fd00:1::53")]);
    assert_eq!(
        cp.netbios_servers,
        vec!["10.1.0.3".parse::<std::net::Ipv4Addr>().unwrap()]
    );
    assert_eq!(
        cp.dhcp_servers,
        vec!["10.1.0.4".parse::<std::net::Ipv4Addr>().unwrap()]
    );
    assert_eq!(cp.protected_subnets, vec![net("10.1.0.0", 24)]);
    assert_eq!(cp.access_servers, vec![ip("10.1.0.5")]);
    assert!(cp.dynamic_peer && !cp.request_address);
    // `to dynamic` from an IPv4 source is the IPv4 pool.
    assert_eq!(p.flows.len(), 1);
    assert_eq!(p.flows[0].dst, net("10.2.0.0", 24));
    // No dstid, peer any: any identity (ike-net sets `any_peer_id`).
    assert!(p.dstid.is_none() && p.peer.is_none());
    // `nostickyaddress` is the default.
    assert!(
        !ok(&format!("{GW} config address 10.2.0.0/24\n"))
            .global
            .sticky_address
    );
}

#[test]
fn from_any_to_dynamic_covers_every_pool_and_a_static_address_is_one_host() {
    let c = ok("ikev2 gw passive esp from any to dynamic peer any psk x \
         config address 10.2.0.7 config address fd00:2::/64\n");
    let dsts: Vec<IpNet> = c.policies[0].flows.iter().map(|f| f.dst).collect();
    assert_eq!(dsts, vec![net("10.2.0.7", 32), net("fd00:2::", 64)]);
    assert_eq!(c.policies[0].flows[0].src, IpNet::any(false));
    assert_eq!(c.policies[0].flows[1].src, IpNet::any(true));
}

#[test]
fn a_client_requests_an_address_from_dynamic() {
    let c = ok(
        "ikev2 rw active esp from dynamic to 10.1.0.0/24 peer 192.0.2.1 \
         srcid laptop.test dstid gw.test psk x request address any\n",
    );
    let p = &c.policies[0];
    assert!(p.cp.request_address);
    assert_eq!(p.flows[0].src, IpNet::any(false));
}

#[test]
fn mistakes_are_refused_with_their_position() {
    let cases: &[(&str, ErrorKind, &str)] = &[
        (
            "ikev2 gw passive esp from 10.1.0.0/24 to dynamic peer any psk x\n",
            ErrorKind::Invalid,
            "needs a 'config address'",
        ),
        (
            "ikev2 gw passive esp from 10.1.0.0/24 to dynamic peer any psk x config address fd00::/64\n",
            ErrorKind::Invalid,
            "same address family",
        ),
        (
            "ikev2 rw active esp from dynamic to 10.1.0.0/24 peer 192.0.2.1 psk x\n",
            ErrorKind::Invalid,
            "request address any",
        ),
        (
            &format!("{GW} config address 10.2.0.1/24\n"),
            ErrorKind::Invalid,
            "host bits",
        ),
        (
            &format!("{GW} config address 10.2.0.0/24 config address 10.3.0.0/24\n"),
            ErrorKind::Invalid,
            "one 'config address' per address family",
        ),
        (
            &format!("{GW} config address 10.2.0.0/24 config netbios-server fd00::1\n"),
            ErrorKind::Invalid,
            "IPv4 only",
        ),
        (
            &format!("{GW} config address 10.2.0.0/24 config name-server dns.example\n"),
            ErrorKind::Invalid,
            "not an address",
        ),
        (
            &format!("{GW} config address 10.2.0.0/24 config netmask 255.0.0.0 config netmask 255.0.0.0\n"),
            ErrorKind::Invalid,
            "twice",
        ),
        (
            &format!("{GW} config address 10.2.0.0/24 config wins-server 10.0.0.1\n"),
            ErrorKind::Unsupported,
            "not a configuration attribute",
        ),
        (
            "ikev2 rw active esp from 10.0.0.0/8 to any peer 192.0.2.1 psk x request address 10.2.0.9\n",
            ErrorKind::Unsupported,
            "request address any",
        ),
        (
            "ikev2 rw passive esp from 10.0.0.0/8 to any peer dynamic psk x\n",
            ErrorKind::Invalid,
            "not 'peer'",
        ),
    ];
    for (text, kind, why) in cases {
        let e = parse(text).expect_err(text);
        assert_eq!(e.kind, *kind, "{text}: {e}");
        assert!(e.message.contains(why), "{text}: {e}");
        assert_eq!(e.location.as_ref().map(|l| l.line), Some(1), "{text}: {e}");
    }
}

#[test]
fn config_values_are_bounded() {
    let many: String = (0..17)
        .map(|i| format!(" config name-server 10.1.0.{i}"))
        .collect();
    let e = parse(&format!("{GW} config address 10.2.0.0/24{many}\n")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit, "{e}");
}

#[test]
fn the_printed_configuration_parses_back_the_same() {
    let text = format!(
        "set stickyaddress\n{GW} config address 10.2.0.0/24 config name-server 10.1.0.2\n\
         ikev2 rw active esp from dynamic to 10.1.0.0/24 peer 192.0.2.1 srcid a.test dstid b.test psk x request address any\n"
    );
    let c = ok(&text);
    let again = ok(&ike_parent::config::describe(&c).replace("<redacted>", "x"));
    assert_eq!(again.global.sticky_address, c.global.sticky_address);
    for (a, b) in c.policies.iter().zip(&again.policies) {
        assert_eq!(a.cp, b.cp);
        assert_eq!(a.flows, b.flows);
    }
}
