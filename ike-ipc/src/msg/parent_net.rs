//! parent <-> ike-net (fd 3 in ike-net).

use super::common::{LogLevel, PrivDrop};
use crate::config::Config;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// One UDP socket the parent bound for ike-net. The socket itself is at
/// fd `fds::NET_UDP_FIRST + index` in ike-net, index = position in
/// [`NetInit::listen`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenSocket {
    pub addr: SocketAddr,
    /// True for the NAT-traversal port (RFC 7296 2.23: 4500, non-ESP marker).
    pub natt: bool,
}

/// Everything ike-net needs to start; the first message on its channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetInit {
    pub privdrop: PrivDrop,
    pub log_level: LogLevel,
    pub listen: Vec<ListenSocket>,
    /// The uid allowed to use the control socket (root).
    pub control_uid: u32,
    pub config: Config,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ParentToNet {
    Init(Box<NetInit>),
    /// A new configuration after SIGHUP or `ike-ctl reload` (issue 6 applies it).
    Reload(Box<Config>),
    SetLogLevel(LogLevel),
    /// Orderly stop: finish, then exit 0.
    Shutdown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetToParent {
    /// Privileges dropped, sandbox entered, event loop running.
    Ready,
    /// `ike-ctl reload` arrived on the control socket; the parent re-reads the file.
    ReloadRequest,
    /// The child is about to exit because of this error.
    Fatal(String),
}
