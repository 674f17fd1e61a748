//! ike-ctl <-> ike-net over the control socket (issue 6 fills in the behaviour).
//!
//! The control socket is a `SOCK_SEQPACKET` unix socket: one request per
//! packet, in the same envelope as every other channel. A long answer goes
//! as `Part`s then one `Text` (any number of SAs, no 64 KiB ceiling). ike-net checks the
//! peer's credentials (SO_PEERCRED / getpeereid) before it answers anything.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CtlRequest {
    ShowSa,
    ShowPolicy,
    ShowStats,
    /// Initiate the named policy.
    Up(String),
    /// Tear down the SAs of the named policy.
    Down(String),
    Rekey(String),
    Reload,
    /// `log verbose` (true) or `log brief` (false).
    LogVerbose(bool),
    /// Stream events until the client disconnects.
    Monitor,
    // Appended (not inserted) so the encodings of the variants above keep
    // their indices.
    /// `show sa --json`: answered with `CtlResponse::Text` holding JSON.
    ShowSaJson,
    /// `show policy --json`: answered with `CtlResponse::Text` holding JSON.
    ShowPolicyJson,
    /// `move NAME ADDRESS`: our address changed; the IKE SAs of policy
    /// NAME that we initiated move there with MOBIKE (RFC 4555 3.5).
    Move(String, std::net::IpAddr),
}

/// Counters ike-net keeps; `show stats` prints them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Seconds since ike-net entered its event loop.
    pub uptime_secs: u64,
    pub udp_rx_datagrams: u64,
    pub udp_rx_bytes: u64,
    pub udp_tx_datagrams: u64,
    pub udp_tx_bytes: u64,
    /// Messages from the broker.
    pub pfkey_rx_messages: u64,
    pub pfkey_tx_messages: u64,
    /// Control requests answered / refused (wrong uid or undecodable).
    pub ctl_requests: u64,
    pub ctl_refused: u64,
    pub ike_sas: u64,
    pub child_sas: u64,
    // Appended (issue 12): flow control on the broker channel.
    /// Packets written to the broker (fewer than messages: batches).
    pub pfkey_tx_packets: u64,
    /// Times the queue to the broker crossed its high-water mark (ike-net
    /// then paused reading datagrams until the broker caught up).
    pub pfkey_queue_full: u64,
    // Appended (issue 17): the engine's admission state.
    /// Responder IKE SAs waiting for IKE_AUTH (not in `ike_sas`).
    pub half_open_sas: u64,
    /// 1 while IKE_SA_INIT requests must carry a cookie (RFC 7296 2.6).
    pub cookie_mode: u64,
    /// Inputs dropped or refused without state, by reason (the engine's
    /// `DropReason` names), in a fixed order.
    pub drops: Vec<(String, u64)>,
    // Appended (issue 15): configuration-payload address pools.
    /// Virtual addresses leased to peers now.
    pub leases: u64,
    /// Address requests refused because the pool was empty.
    pub lease_failures: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CtlResponse {
    Ok,
    Stats(Stats),
    /// Human-readable lines (show sa / show policy until issue 6 types them).
    Text(String),
    /// One event line for `monitor`.
    Event(String),
    Error(String),
    // Appended: the variants above keep their indices.
    /// A part of a long `Text` answer (`show sa` of many SAs): more parts
    /// follow, and the answer ends with one `Text` holding the rest. Each
    /// part fits one packet; the client prints them as they come, so no
    /// side holds a message larger than a packet.
    Part(String),
}
