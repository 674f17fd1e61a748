//! UDP port 4500 framing (RFC 3948 2.2, 2.3; RFC 7296 2.23): IKE messages
//! there start with a four-byte zero "non-ESP marker", which cannot be an
//! ESP SPI; a single 0xFF byte is a NAT-keepalive.

/// The non-ESP marker.
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// What a UDP payload received on port 4500 is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Udp4500<'a> {
    /// An IKE message, marker removed.
    Ike(&'a [u8]),
    /// An ESP packet (starts with a non-zero SPI).
    Esp(&'a [u8]),
    /// NAT-keepalive (RFC 3948 2.3).
    Keepalive,
    /// Too short to be any of the above.
    Invalid,
}

/// Classifies a UDP payload from port 4500.
pub fn classify_udp_4500(payload: &[u8]) -> Udp4500<'_> {
    if payload == [0xff] {
        return Udp4500::Keepalive;
    }
    match payload.get(..4) {
        Some(m) if m == NON_ESP_MARKER => Udp4500::Ike(payload.get(4..).unwrap_or(&[])),
        Some(_) => Udp4500::Esp(payload),
        None => Udp4500::Invalid,
    }
}

/// The IKE message inside a port-4500 UDP payload, or `None` if the payload
/// does not start with the non-ESP marker.
pub fn strip_non_esp_marker(payload: &[u8]) -> Option<&[u8]> {
    match classify_udp_4500(payload) {
        Udp4500::Ike(m) => Some(m),
        _ => None,
    }
}

/// Prefixes an IKE message with the marker, for sending on port 4500.
pub fn add_non_esp_marker(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len().saturating_add(4));
    out.extend_from_slice(&NON_ESP_MARKER);
    out.extend_from_slice(message);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify() {
        assert_eq!(
            strip_non_esp_marker(&[0, 0, 0, 0, 1, 2]),
            Some(&[1u8, 2][..])
        );
        assert_eq!(strip_non_esp_marker(&[0, 0, 0, 1, 1, 2]), None);
        assert_eq!(classify_udp_4500(&[0xff]), Udp4500::Keepalive);
        assert_eq!(classify_udp_4500(&[0, 0]), Udp4500::Invalid);
        assert_eq!(
            classify_udp_4500(&[1, 2, 3, 4, 5]),
            Udp4500::Esp(&[1, 2, 3, 4, 5])
        );
        assert_eq!(add_non_esp_marker(&[7]), vec![0, 0, 0, 0, 7]);
    }
}
