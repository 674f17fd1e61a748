//! `ike-parent -n` asking `ike-net --check-config` what only ike-net can
//! judge: whether each policy becomes an engine policy (our certificate
//! holds our key and names our ID, an RFC 4754 key is on its curve, the CA
//! files parse...). The parent does not link the IKE crypto (DESIGN.md
//! "Crates"), so it runs the network worker's own conversion in a child.
//!
//! The request travels on the child's stdin in the usual envelope
//! (`crate::envelope`: magic, version, at most
//! [`MAX_LARGE_MESSAGE`](crate::envelope::MAX_LARGE_MESSAGE), total decoding);
//! the answer is its exit status (0: every policy is usable; 1: not, or
//! the check could not run), one [`skipped_line`] per left-out policy on
//! its stdout, then a [`summary_line`] (so that a program that merely
//! exits 0 is not taken for a passed check), and any error on its stderr.

use super::Config;
use crate::envelope::{self, EnvelopeError};
use crate::msg::{ListenSocket, PrivDrop};
use serde::{Deserialize, Serialize};

/// The command-line switch of ike-net that selects the check mode.
pub const CHECK_FLAG: &str = "--check-config";

/// What `ike-net --check-config` reads on stdin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRequest {
    pub config: Config,
    /// The sockets the daemon would bind: a policy without `srcid` or
    /// `local` takes its identity from them, exactly as at run time.
    pub listen: Vec<ListenSocket>,
    /// Set when the parent is root: ike-net drops to this user (and
    /// chroot) right after reading the request, before it parses any key
    /// or certificate, as the worker does after its Init. Dropping there
    /// rather than before exec also leaves the process non-dumpable (the
    /// kernel clears the flag on the uid change), so other processes of
    /// that user cannot read the keys it holds.
    pub privdrop: Option<PrivDrop>,
}

impl CheckRequest {
    /// The envelope; fails (rather than truncating) over
    /// [`envelope::MAX_LARGE_MESSAGE`], which is also the bound the
    /// configuration must fit in at run time (`NetInit`, in fragments).
    pub fn encode(&self) -> Result<Vec<u8>, EnvelopeError> {
        envelope::encode_large(self, envelope::MAX_LARGE_MESSAGE)
    }

    /// Total: any input gives a request or an error, never a panic, and
    /// nothing is allocated beyond what the (capped) input backs.
    pub fn decode(bytes: &[u8]) -> Result<CheckRequest, EnvelopeError> {
        envelope::decode_large(bytes, envelope::MAX_LARGE_MESSAGE)
    }
}

/// The line ike-net prints for a policy it would leave out.
pub fn skipped_line(policy: &str, why: &str) -> String {
    format!("policy \"{policy}\": {why}")
}

/// The last line ike-net prints when it ran the check: how many policies
/// it looked at (the parent compares it with what it sent).
pub fn summary_line(policies: usize) -> String {
    format!("checked {policies} policies")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Auth, Policy, Secret};

    fn request() -> CheckRequest {
        let mut p = Policy::new("p1");
        p.auth = Auth::Psk(Secret::new(b"a pre-shared key".to_vec()));
        CheckRequest {
            config: Config {
                policies: vec![p],
                ..Config::default()
            },
            listen: vec![ListenSocket {
                addr: "127.0.0.1:500".parse().unwrap(),
                natt: false,
            }],
            privdrop: Some(PrivDrop {
                chroot: "/var/empty".into(),
                uid: 65534,
                gid: 65534,
            }),
        }
    }

    #[test]
    fn round_trip() {
        let r = request();
        assert_eq!(CheckRequest::decode(&r.encode().unwrap()).unwrap(), r);
    }

    #[test]
    fn garbage_truncation_and_oversize_are_errors() {
        let bytes = request().encode().unwrap();
        for len in 0..bytes.len() {
            assert!(CheckRequest::decode(&bytes[..len]).is_err(), "{len}");
        }
        assert!(CheckRequest::decode(b"not an envelope at all").is_err());
        let mut big = bytes.clone();
        big.resize(envelope::MAX_LARGE_MESSAGE + 1, 0);
        assert!(matches!(
            CheckRequest::decode(&big),
            Err(EnvelopeError::TooLarge { .. })
        ));
    }
}
