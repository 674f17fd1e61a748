//! pf-to-tcp exposes key material (every SA's keys pass through it): it must only
//! ever listen where nothing but this machine can connect.

use std::net::SocketAddr;

/// Parses a literal `ADDR:PORT` and accepts it only on a loopback address
/// (127.0.0.0/8 or ::1). Host names are refused: they could resolve elsewhere.
pub fn parse_loopback(s: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = s.parse().map_err(|_| {
        format!("{s}: not a literal ADDRESS:PORT (e.g. 127.0.0.1:5757 or [::1]:5757)")
    })?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "refusing to listen on {addr}: pf-to-tcp relays key material and binds loopback addresses only (127.0.0.0/8, ::1)"
        ));
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_only() {
        assert!(parse_loopback("127.0.0.1:5757").is_ok());
        assert!(parse_loopback("127.1.2.3:0").is_ok());
        assert!(parse_loopback("[::1]:5757").is_ok());
        for bad in [
            "0.0.0.0:5757",
            "10.0.0.1:1",
            "[::]:5757",
            "[fe80::1]:1",
            "192.168.1.1:80",
        ] {
            let e = parse_loopback(bad).unwrap_err();
            assert!(e.contains("loopback"), "{bad}: {e}");
        }
        for bad in ["localhost:5757", "127.0.0.1", "", "[::1]"] {
            assert!(parse_loopback(bad).is_err(), "{bad}");
        }
    }
}
