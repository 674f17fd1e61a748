//! `-vv` (trace level): one log line per IKE message sent or received,
//! with the peer, exchange, message ID and payload types. Notifies show
//! their type; no payload contents, so no key material or nonce, ever.

use std::fmt::Write;
use std::net::SocketAddr;

use crate::wire::Header;
use crate::wire::Payload;

/// Logs one message; costs nothing unless trace logging is on.
pub(super) fn message(sent: bool, peer: SocketAddr, header: &Header, payloads: &[Payload]) {
    if !log::log_enabled!(log::Level::Trace) {
        return;
    }
    log::trace!(
        "{} {peer}: {} {} #{} SPIs {:016x}/{:016x} [{}]",
        if sent { "sent to" } else { "received from" },
        header.exchange,
        if header.flags.response {
            "response"
        } else {
            "request"
        },
        header.message_id,
        header.spi_i,
        header.spi_r,
        summary(payloads)
    );
}

/// Payload types in order, notifies with their type: `SA KE NONCE N(COOKIE)`.
pub(super) fn summary(payloads: &[Payload]) -> String {
    let mut s = String::new();
    for (i, p) in payloads.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = match p {
            Payload::Notify(n) => write!(s, "N({})", n.notify_type),
            other => write!(s, "{}", other.payload_type()),
        };
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::consts::NotifyType;
    use crate::wire::notify::Notify;

    #[test]
    fn summary_names_types_only() {
        let p = vec![
            Payload::Nonce(vec![0x41; 32]),
            Payload::Notify(Notify::new(NotifyType::COOKIE, vec![0x42; 33])),
        ];
        let s = summary(&p);
        assert!(s.contains("COOKIE"), "{s}");
        assert!(!s.contains("41") && !s.contains("42"), "no contents: {s}");
    }
}
