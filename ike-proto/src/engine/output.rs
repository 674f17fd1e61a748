//! The engine's output queues, and the context a per-SA method gets.
//!
//! Per-SA logic takes an [`SaCtx`] (configuration, randomness, these
//! queues) beside its `&mut IkeSa` instead of the whole `Engine`: what it
//! can touch is visible in its signature, and the SA table stays with the
//! endpoint (`endpoint.rs`).

use std::collections::VecDeque;
use std::net::SocketAddr;

use super::api::{Event, KernelRequest, Transmit};
use super::config::Config;
use super::rng::Rng;

/// What the driver drains after every input.
#[derive(Default)]
pub(super) struct Outputs {
    pub transmits: VecDeque<Transmit>,
    pub kernel_out: VecDeque<KernelRequest>,
    pub events: VecDeque<Event>,
}

impl Outputs {
    pub(super) fn emit(&mut self, local: SocketAddr, remote: SocketAddr, datagrams: &[Vec<u8>]) {
        for d in datagrams {
            self.transmits.push_back(Transmit {
                local,
                remote,
                bytes: d.clone(),
            });
        }
    }
}

/// What a method on one IKE SA may use besides the SA itself.
pub(super) struct SaCtx<'a> {
    pub cfg: &'a Config,
    pub rng: &'a mut dyn Rng,
    pub out: &'a mut Outputs,
}
