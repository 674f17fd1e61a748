//! parent <-> ike-pfkey (fd 3 in ike-pfkey).

use super::common::{LogLevel, PrivDrop};
use crate::config::Config;
use serde::{Deserialize, Serialize};

/// Everything the broker needs to start; the first message on its channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PfkeyInit {
    pub privdrop: PrivDrop,
    pub log_level: LogLevel,
    /// The configuration the broker derives its allowed set from.
    pub config: Config,
    /// Our NAT-T port (`--natt-port`): UDP-encapsulated SAs must use it at
    /// our end (issue 16). 0 = 4500.
    pub natt_port: u16,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ParentToPfkey {
    Init(Box<PfkeyInit>),
    /// New allowed set after a reload (issue 6).
    Reload(Box<Config>),
    SetLogLevel(LogLevel),
    /// Orderly stop: finish, then exit 0.
    Shutdown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PfkeyToParent {
    /// Privileges dropped, sandbox entered, event loop running.
    Ready,
    /// The child is about to exit because of this error.
    Fatal(String),
}
