//! Values inside statements: numbers with units, addresses, ports,
//! protocols, identities, pre-shared keys. Each returns a message on error;
//! the caller adds the position.

use ike_ipc::config::{Identity, IpNet, Secret};
use std::net::IpAddr;

/// Why an address was refused: a name we will not resolve, or garbage.
#[derive(Debug)]
pub enum AddrError {
    Hostname,
    Invalid(String),
}

/// A decimal number with an optional unit suffix, multiplied out with
/// overflow checks.
fn number_with_unit(text: &str, units: &[(char, u64)]) -> Result<u64, String> {
    let (digits, factor) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let factor = units
                .iter()
                .find(|(u, _)| *u == c)
                .map(|(_, f)| *f)
                .ok_or_else(|| format!("unknown unit '{c}' in '{text}'"))?;
            (&text[..i], factor)
        }
        _ => (text, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{text}' is not a number"));
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{text}' is too large"))?;
    n.checked_mul(factor)
        .ok_or_else(|| format!("'{text}' is too large"))
}

/// Seconds: `30`, `30s`, `10m`, `3h`, `1d`.
pub fn time(text: &str) -> Result<u64, String> {
    let t = number_with_unit(text, &[('s', 1), ('m', 60), ('h', 3600), ('d', 86_400)])?;
    // Ten years is longer than any sane SA lifetime and keeps later
    // arithmetic (now + lifetime) far from overflow.
    if t > 10 * 365 * 86_400 {
        return Err(format!("'{text}' is longer than ten years"));
    }
    Ok(t)
}

/// Bytes: `1000`, `512K`, `100M`, `4G` (binary multiples, either case).
pub fn bytes(text: &str) -> Result<u64, String> {
    let k = 1024u64;
    number_with_unit(
        text,
        &[
            ('K', k),
            ('k', k),
            ('M', k * k),
            ('m', k * k),
            ('G', k * k * k),
            ('g', k * k * k),
        ],
    )
}

/// A plain number in `min..=max`.
pub fn number(text: &str, min: u64, max: u64) -> Result<u64, String> {
    let n = number_with_unit(text, &[])?;
    if n < min || n > max {
        return Err(format!("'{text}' is out of range ({min}..{max})"));
    }
    Ok(n)
}

/// `ADDR` or `ADDR/LEN`, IPv4 or IPv6, host bits zero.
pub fn net(text: &str) -> Result<IpNet, AddrError> {
    let (addr_text, len_text) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let addr: IpAddr = match addr_text.parse() {
        Ok(a) => a,
        Err(_) if looks_like_hostname(addr_text) && len_text.is_none() => {
            return Err(AddrError::Hostname)
        }
        Err(_) => return Err(AddrError::Invalid(format!("'{text}' is not an IP address"))),
    };
    let max: u64 = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match len_text {
        None => max as u8,
        Some(l) => match number(l, 0, max) {
            Ok(p) => p as u8,
            Err(_) => {
                return Err(AddrError::Invalid(format!(
                    "bad prefix length in '{text}' (0..{max})"
                )))
            }
        },
    };
    IpNet::new(addr, prefix).ok_or_else(|| {
        let fixed = host_bits_cleared(addr, prefix);
        AddrError::Invalid(format!(
            "'{text}' has host bits set (did you mean {fixed}/{prefix}?)"
        ))
    })
}

fn host_bits_cleared(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            IpAddr::V6((u128::from(a) & mask).into())
        }
    }
}

/// A host name: a domain name (see [`looks_like_fqdn`]) of at most 253
/// characters that holds a letter.
fn looks_like_hostname(text: &str) -> bool {
    text.len() <= 253 && text.bytes().any(|b| b.is_ascii_alphabetic()) && looks_like_fqdn(text)
}

/// IP protocol by number or by the names /etc/protocols uses (a fixed
/// table: the parser reads no system database).
pub fn protocol(text: &str) -> Result<u8, String> {
    const NAMES: &[(&str, u8)] = &[
        ("icmp", 1),
        ("igmp", 2),
        ("ipencap", 4),
        ("ipip", 4),
        ("tcp", 6),
        ("udp", 17),
        ("ipv6", 41),
        ("gre", 47),
        ("esp", 50),
        ("ah", 51),
        ("icmp6", 58),
        ("ipv6-icmp", 58),
        ("ospf", 89),
        ("pim", 103),
        ("carp", 112),
        ("vrrp", 112),
        ("l2tp", 115),
        ("sctp", 132),
    ];
    if let Some((_, n)) = NAMES.iter().find(|(name, _)| *name == text) {
        return Ok(*n);
    }
    number(text, 0, 255).map(|n| n as u8).map_err(|_| {
        format!("unknown protocol '{text}' (use a name like tcp, udp, icmp or a number)")
    })
}

/// Whether a protocol has ports (traffic selectors may name them).
pub fn has_ports(proto: u8) -> bool {
    matches!(proto, 6 | 17 | 132)
}

/// A port by number or by a few well-known service names.
pub fn port(text: &str) -> Result<u16, String> {
    const NAMES: &[(&str, u16)] = &[
        ("ssh", 22),
        ("smtp", 25),
        ("domain", 53),
        ("http", 80),
        ("ntp", 123),
        ("bgp", 179),
        ("https", 443),
        ("isakmp", 500),
        ("ipsec-nat-t", 4500),
    ];
    if let Some((_, n)) = NAMES.iter().find(|(name, _)| *name == text) {
        return Ok(*n);
    }
    number(text, 1, 65_535)
        .map(|n| n as u16)
        .map_err(|_| format!("bad port '{text}' (1..65535 or a service name like ssh, https)"))
}

/// Why an identity was refused.
#[derive(Debug)]
pub enum IdError {
    /// A Distinguished Name (needs certificates).
    Dn,
    Invalid(String),
}

/// `srcid`/`dstid`: the type is inferred as iked does it.
pub fn identity(text: &str) -> Result<Identity, IdError> {
    if let Ok(IpAddr::V4(a)) = text.parse() {
        return Ok(Identity::Ipv4(a));
    }
    if let Ok(IpAddr::V6(a)) = text.parse() {
        return Ok(Identity::Ipv6(a));
    }
    if text.starts_with('/') || text.contains('=') {
        return Err(IdError::Dn);
    }
    if text.is_empty() || text.len() > 255 || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(IdError::Invalid(format!(
            "'{text}' is not an identity (address, name or user@name)"
        )));
    }
    if let Some((user, domain)) = text.split_once('@') {
        if user.is_empty() || domain.is_empty() || domain.contains('@') {
            return Err(IdError::Invalid(format!(
                "'{text}' is not of the form user@domain"
            )));
        }
        return Ok(Identity::Ufqdn(text.to_string()));
    }
    let name = text.strip_suffix('.').unwrap_or(text);
    if !looks_like_fqdn(name) {
        return Err(IdError::Invalid(format!("'{text}' is not a domain name")));
    }
    Ok(Identity::Fqdn(name.to_string()))
}

/// Dot-separated labels of 1 to 63 letters, digits, '-' or '_'.
fn looks_like_fqdn(text: &str) -> bool {
    !text.is_empty()
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// `psk "text"` or `psk 0xHEX` (iked accepts both).
pub fn psk(text: &str) -> Result<Secret, String> {
    let bytes = match text.strip_prefix("0x") {
        Some(hex) => {
            if hex.is_empty() || !hex.as_bytes().chunks_exact(2).remainder().is_empty() {
                return Err("a hexadecimal psk needs an even, non-zero number of digits".into());
            }
            let mut out = Vec::with_capacity(hex.len() / 2);
            for pair in hex.as_bytes().chunks(2) {
                let digit = |b: u8| char::from(b).to_digit(16);
                match (
                    pair.first().and_then(|b| digit(*b)),
                    pair.get(1).and_then(|b| digit(*b)),
                ) {
                    (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                    _ => return Err("bad hexadecimal digit in psk".into()),
                }
            }
            out
        }
        None => text.as_bytes().to_vec(),
    };
    if bytes.is_empty() {
        return Err("the psk is empty".into());
    }
    Ok(Secret::new(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_bytes() {
        assert_eq!(time("90").unwrap(), 90);
        assert_eq!(time("10m").unwrap(), 600);
        assert_eq!(time("3h").unwrap(), 10_800);
        assert_eq!(time("2d").unwrap(), 172_800);
        assert!(time("3x").is_err());
        assert!(time("h").is_err());
        assert!(time("99999999999999999999").is_err());
        assert!(time("99999999999d").is_err());
        assert_eq!(bytes("4G").unwrap(), 4 << 30);
        assert_eq!(bytes("512k").unwrap(), 512 << 10);
        assert!(bytes("18446744073709551615G").is_err());
    }

    #[test]
    fn addresses() {
        assert_eq!(net("10.0.0.0/8").unwrap().prefix, 8);
        assert_eq!(net("::1").unwrap().prefix, 128);
        assert!(matches!(net("gw.example.org"), Err(AddrError::Hostname)));
        assert!(
            matches!(net("10.0.0.1/8"), Err(AddrError::Invalid(m)) if m.contains("10.0.0.0/8"))
        );
        assert!(matches!(net("10.0.0.0/33"), Err(AddrError::Invalid(_))));
        assert!(matches!(net("10.0.0/8"), Err(AddrError::Invalid(_))));
    }

    #[test]
    fn identities_and_psk() {
        assert_eq!(
            identity("a.example.").unwrap(),
            Identity::Fqdn("a.example".into())
        );
        assert!(matches!(
            identity("u@a.example").unwrap(),
            Identity::Ufqdn(_)
        ));
        assert!(matches!(identity("10.0.0.1").unwrap(), Identity::Ipv4(_)));
        assert!(matches!(identity("/C=DE/CN=x"), Err(IdError::Dn)));
        assert!(matches!(identity("@x"), Err(IdError::Invalid(_))));
        assert_eq!(psk("0x0aff").unwrap().expose(), &[0x0a, 0xff]);
        assert!(psk("0xabc").is_err());
        assert!(psk("0xzz").is_err());
        assert_eq!(psk("secret").unwrap().expose(), b"secret");
    }
}
