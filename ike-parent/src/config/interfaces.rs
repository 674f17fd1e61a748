//! Interface names as addresses. iked.conf(5) lets an address be "a
//! symbolic host name, an interface name or an interface group name"; this
//! parser resolves interface names when the file is loaded (getifaddrs) and
//! refuses the other two with a message that says why: it does no DNS
//! lookups, and interface groups (`egress`, `carp`, ...) exist only on
//! OpenBSD and are not read here.

use std::net::IpAddr;

/// The group OpenBSD puts every interface with a default route in; the one
/// group name iked.conf files use in practice (`local egress`).
const EGRESS: &str = "egress";

/// The addresses of the interface `name` usable as IKE endpoints or traffic
/// selectors, of the family `ipv6` if given: IPv6 link-local addresses are
/// left out (they need a scope, which neither carries). `None` if there is
/// no interface of that name.
pub fn interface_addrs(name: &str, ipv6: Option<bool>) -> Option<Vec<IpAddr>> {
    let ifaces = nix::ifaddrs::getifaddrs().ok()?;
    let mut found = false;
    let mut out = Vec::new();
    for ifa in ifaces.filter(|i| i.interface_name == name) {
        found = true;
        let Some(sa) = ifa.address else { continue };
        let ip = if let Some(v4) = sa.as_sockaddr_in() {
            IpAddr::V4(v4.ip())
        } else if let Some(v6) = sa.as_sockaddr_in6() {
            IpAddr::V6(v6.ip())
        } else {
            continue;
        };
        let link_local = matches!(ip, IpAddr::V6(a) if (a.segments()[0] & 0xffc0) == 0xfe80);
        if link_local || ipv6.is_some_and(|want| want != ip.is_ipv6()) || out.contains(&ip) {
            continue;
        }
        out.push(ip);
    }
    found.then_some(out)
}

/// `name`'s one address, or why there is not exactly one: the message names
/// what is not supported (host names, interface groups) or lists the
/// addresses to choose from.
pub fn interface_addr(name: &str, ipv6: Option<bool>) -> Result<IpAddr, String> {
    let family = match ipv6 {
        Some(true) => "IPv6 ",
        Some(false) => "IPv4 ",
        None => "",
    };
    match interface_addrs(name, ipv6) {
        Some(addrs) => {
            match addrs.as_slice() {
                [one] => Ok(*one),
                [] => Err(format!("interface {name} has no {family}address")),
                many => {
                    let list: Vec<String> = many.iter().map(IpAddr::to_string).collect();
                    Err(format!(
                    "interface {name} has several {family}addresses ({}): write the one to use{}",
                    list.join(", "),
                    if ipv6.is_none() { ", or restrict the policy with inet or inet6" } else { "" }
                ))
                }
            }
        }
        None if name == EGRESS => Err(format!(
            "'{EGRESS}' is an interface group; interface groups are OpenBSD-only and are not \
             resolved here: name the interface or write the address"
        )),
        None => Err(format!(
            "'{name}' is not an address or an interface of this host; host names are not \
             resolved (no DNS lookups at load) and interface groups are OpenBSD-only and not \
             resolved: write the address"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loopback interface: lo on Linux, lo0 on the BSDs.
    fn loopback() -> String {
        ["lo", "lo0"]
            .into_iter()
            .find(|n| interface_addrs(n, None).is_some())
            .expect("a loopback interface")
            .to_string()
    }

    #[test]
    fn the_loopback_resolves_per_family() {
        let lo = loopback();
        assert_eq!(
            interface_addr(&lo, Some(false)).unwrap(),
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
        let all = interface_addrs(&lo, None).unwrap();
        assert!(all.contains(&"127.0.0.1".parse().unwrap()));
        if all.len() > 1 {
            let e = interface_addr(&lo, None).unwrap_err();
            assert!(
                e.contains("several addresses") && e.contains("inet6"),
                "{e}"
            );
        }
    }

    #[test]
    fn groups_and_unknown_names_are_refused_by_name() {
        if interface_addrs(EGRESS, None).is_none() {
            let e = interface_addr(EGRESS, None).unwrap_err();
            assert!(
                e.contains("interface group") && e.contains("OpenBSD-only"),
                "{e}"
            );
        }
        let e = interface_addr("no-such-if0", None).unwrap_err();
        assert!(
            e.contains("not an address or an interface") && e.contains("DNS"),
            "{e}"
        );
    }
}
