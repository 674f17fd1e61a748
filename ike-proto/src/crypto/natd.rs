//! NAT detection hashes (RFC 7296 2.23).

use ring::digest;
use std::net::IpAddr;

/// `SHA-1(SPIi | SPIr | IP | Port)` for NAT_DETECTION_SOURCE_IP /
/// NAT_DETECTION_DESTINATION_IP. The address is 4 or 16 bytes in network
/// order and the port 2 bytes in network order. SHA-1 is what 2.23 fixes
/// for this notify; it only detects address rewriting and protects nothing.
pub fn nat_detection_hash(spi_i: &[u8; 8], spi_r: &[u8; 8], ip: IpAddr, port: u16) -> [u8; 20] {
    let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(spi_i);
    ctx.update(spi_r);
    match ip {
        IpAddr::V4(a) => ctx.update(&a.octets()),
        IpAddr::V6(a) => ctx.update(&a.octets()),
    }
    ctx.update(&port.to_be_bytes());
    let mut out = [0u8; 20];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}
