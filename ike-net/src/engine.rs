//! Where the IKE engine (ike-proto's sans-IO state machine) plugs in.
//!
//! The worker feeds it inputs (a datagram arrived, time passed, the
//! configuration changed, an operator command) and carries out what it asks
//! for (send a datagram, arm a timer, ask the broker for a kernel change).
//! Until the engine is wired in, this skeleton keeps the same shape: it
//! accepts every input, keeps no IKE SA and asks for nothing, so the event
//! loop, the counters and the control socket are real and testable now.

use ike_ipc::config::Config;
use ike_ipc::msg::pfkey::{NetToPfkey, PfkeyToNet};
use std::net::SocketAddr;
use std::time::Instant;

/// A datagram the engine wants sent.
#[derive(Debug)]
pub struct Transmit {
    /// Index into the worker's UDP sockets.
    pub socket: usize,
    pub to: SocketAddr,
    pub bytes: Vec<u8>,
}

/// Everything the engine may ask the worker to do after an input.
#[derive(Debug, Default)]
pub struct Outputs {
    pub transmits: Vec<Transmit>,
    /// Requests for the broker (SPIs, SAs, policies).
    pub kernel: Vec<NetToPfkey>,
    /// When the engine next wants `on_timeout`.
    pub next_timeout: Option<Instant>,
}

#[derive(Debug)]
pub struct Engine {
    config: Config,
}

impl Engine {
    pub fn new(config: Config) -> Self {
        Self { config }
    }

    /// A datagram arrived on UDP socket `socket` (NAT-T sockets carry the
    /// RFC 3948 non-ESP marker; the engine strips it).
    pub fn on_datagram(
        &mut self,
        _now: Instant,
        socket: usize,
        from: SocketAddr,
        bytes: &[u8],
    ) -> Outputs {
        log::debug!(
            "datagram of {} bytes from {from} on socket {socket}: no IKE engine yet, dropped",
            bytes.len()
        );
        Outputs::default()
    }

    /// A reply or event from the broker (ACQUIRE, EXPIRE, GETSPI result...).
    pub fn on_kernel(&mut self, _now: Instant, msg: PfkeyToNet) -> Outputs {
        match msg {
            PfkeyToNet::Ready(supported) => log::info!(
                "broker ready: kernel offers {} encryption and {} integrity algorithms",
                supported.encryption.len(),
                supported.integrity.len()
            ),
            other => log::debug!("kernel message: {other:?}: no IKE engine yet, ignored"),
        }
        Outputs::default()
    }

    /// A timer the engine armed has expired.
    pub fn on_timeout(&mut self, _now: Instant) -> Outputs {
        Outputs::default()
    }

    /// A new configuration (SIGHUP / ike-ctl reload).
    pub fn reload(&mut self, config: Config) -> Outputs {
        self.config = config;
        Outputs::default()
    }

    /// Orderly stop: the engine would delete its SAs here (issue 6).
    pub fn shutdown(&mut self, _now: Instant) -> Outputs {
        Outputs::default()
    }

    /// Counts for `show stats`: (IKE SAs, child SAs).
    pub fn sa_counts(&self) -> (u64, u64) {
        (0, 0)
    }

    /// `show sa` / `show policy` text until issue 6 types them.
    pub fn describe_sas(&self) -> String {
        String::from("no IKE SAs\n")
    }

    pub fn config(&self) -> &Config {
        &self.config
    }
}
