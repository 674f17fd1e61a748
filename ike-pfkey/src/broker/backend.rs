//! The seam between the broker's loop and its two kernel interfaces: PF_KEY
//! ([`super::Broker`], every dialect) and Linux XFRM over netlink
//! ([`super::xfrm::XfrmBroker`]). Both check each IPC request against the
//! same allow-list before encoding it for their kernel, and both answer
//! with the same IPC replies and events: ike-net and the engine cannot
//! tell which interface installs their SAs.

use super::allow::{AllowedSet, Owned};
use super::xfrm::XfrmBroker;
use super::{AdminResult, Broker, BrokerConfig};
use ike_ipc::msg::pfkey::{NetToPfkey, PfkeyToNet};
use std::time::Instant;

/// Which kernel interface the broker's descriptor speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interface {
    /// PF_KEY v2 in `BrokerConfig::dialect` (a kernel socket or pfkey-sim).
    PfKey,
    /// NETLINK_XFRM (Linux only), bound to `xfrm::consts::BROKER_GROUPS`.
    Xfrm,
}

impl Interface {
    pub fn name(self) -> &'static str {
        match self {
            Interface::PfKey => "pfkey",
            Interface::Xfrm => "xfrm",
        }
    }
}

pub enum KernelBroker {
    PfKey(Box<Broker>),
    Xfrm(Box<XfrmBroker>),
}

macro_rules! both {
    ($self:ident, $b:ident => $e:expr) => {
        match $self {
            KernelBroker::PfKey($b) => $e,
            KernelBroker::Xfrm($b) => $e,
        }
    };
}

impl KernelBroker {
    pub fn new(interface: Interface, cfg: BrokerConfig, now: Instant) -> KernelBroker {
        match interface {
            Interface::PfKey => KernelBroker::PfKey(Box::new(Broker::new(cfg, now))),
            Interface::Xfrm => KernelBroker::Xfrm(Box::new(XfrmBroker::new(cfg, now))),
        }
    }
    pub fn handle_kernel(&mut self, bytes: &[u8], now: Instant) {
        both!(self, b => b.handle_kernel(bytes, now))
    }
    pub fn handle_net(&mut self, msg: NetToPfkey, now: Instant) {
        both!(self, b => b.handle_net(msg, now))
    }
    pub fn handle_timeout(&mut self, now: Instant) {
        both!(self, b => b.handle_timeout(now))
    }
    pub fn poll_kernel_transmit_at(&mut self, now: Instant) -> Option<Vec<u8>> {
        both!(self, b => b.poll_kernel_transmit_at(now))
    }
    pub fn poll_net(&mut self) -> Option<PfkeyToNet> {
        both!(self, b => b.poll_net())
    }
    pub fn poll_admin(&mut self) -> Option<AdminResult> {
        both!(self, b => b.poll_admin())
    }
    pub fn poll_timeout(&self) -> Option<Instant> {
        both!(self, b => b.poll_timeout())
    }
    pub fn kernel_in_flight(&self) -> usize {
        both!(self, b => b.kernel_in_flight())
    }
    pub fn is_idle(&self) -> bool {
        both!(self, b => b.is_idle())
    }
    pub fn shutdown(&mut self, now: Instant) {
        both!(self, b => b.shutdown(now))
    }
    pub fn set_allowed(&mut self, allowed: AllowedSet) {
        both!(self, b => b.set_allowed(allowed))
    }
    pub fn set_sa_limit(&mut self, sa_limit: u32) {
        both!(self, b => b.set_sa_limit(sa_limit))
    }
    pub fn owned(&self) -> &Owned {
        both!(self, b => b.owned())
    }
}
