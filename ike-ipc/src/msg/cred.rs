//! The credential process, ike-cred (issue 16): parent <-> ike-cred (fd 3
//! in ike-cred) and ike-net <-> ike-cred (fd 4 in ike-cred,
//! [`crate::fds::NET_CRED`] in ike-net).
//!
//! ike-cred alone holds the PSKs and our private key. ike-net names the key
//! by its policy and sends the octets; ike-cred answers with the AUTH value,
//! the signature or a yes/no, never with a secret.

use super::common::{LogLevel, PrivDrop};
use crate::config::Config;
use serde::{Deserialize, Serialize};

/// The largest request or answer on the ike-net channel: an IKE_SA_INIT
/// message of up to 65,535 bytes, a nonce and a PRF output, plus framing.
/// Both ends raise their reassembly cap to this (`Channel::set_max_message`).
pub const MAX_CRED_MESSAGE: usize = 80 * 1024;

/// Everything ike-cred needs to start; the first message on its channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CredInit {
    pub privdrop: PrivDrop,
    pub log_level: LogLevel,
    /// The policies with their PSKs, and `private/local.key`: the secrets
    /// ike-cred serves (`ike_cred::cred_view`).
    pub config: Config,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ParentToCred {
    Init(Box<CredInit>),
    /// The secrets of a reloaded configuration (they replace the old ones).
    Reload(Box<Config>),
    SetLogLevel(LogLevel),
    /// Orderly stop: exit 0.
    Shutdown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CredToParent {
    /// Privileges dropped, sandbox entered, event loop running.
    Ready,
    /// The child is about to exit because of this error.
    Fatal(String),
}

/// How to sign (ike_proto::engine::SignHow, by number: ike-ipc does not
/// depend on the IKE crate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignMethod {
    /// RFC 7427 with the scheme at this index of
    /// `ike_proto::crypto::SignatureScheme::ALL`.
    Rfc7427(u8),
    /// RFC 4754 (methods 9/10).
    Rfc4754,
}

/// What ike-net asks for. `prf` is the IKE SA's PRF transform ID (RFC 7296
/// 3.3.2); `octets` the AUTH octet string ike-cred checks the shape of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CredOp {
    PskAuth {
        prf: u16,
        octets: Vec<u8>,
    },
    PskVerify {
        prf: u16,
        octets: Vec<u8>,
        value: Vec<u8>,
    },
    Sign {
        how: SignMethod,
        prf: u16,
        octets: Vec<u8>,
    },
}

/// ike-net -> ike-cred.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetToCred {
    /// Echoed in the answer: a late answer to a timed-out request is
    /// recognised and dropped.
    pub id: u64,
    /// The key reference: the name of the policy whose secret is meant.
    pub policy: String,
    pub op: CredOp,
}

/// ike-cred's answer to one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CredAnswer {
    /// The AUTH value or signature.
    Value(Vec<u8>),
    /// Whether the peer's PSK AUTH value is right.
    Verdict(bool),
    /// Refused (unknown policy, wrong kind, malformed octets), with why.
    Refused(String),
}

/// ike-cred -> ike-net.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredToNet {
    pub id: u64,
    pub answer: CredAnswer,
}
