//! Messages between ike-parent, ike-pfkey and ike-net, their framing, and the
//! privilege-drop helpers (DESIGN.md "IPC", "Processes and trust").
//!
//! - [`envelope`]: magic, version, postcard, 64 KiB cap; total decoding.
//! - [`channel`]: typed SOCK_SEQPACKET channels with SCM_RIGHTS.
//! - [`msg`]: one enum per channel and direction, and the control protocol.
//! - [`fds`]: the descriptor numbers at which children find their sockets.
//! - [`pfkey_unix`]: receiving a PF_KEY socket from pf-to-fd or the simulator.
//! - [`privdrop`], [`sandbox`]: chroot/setuid, then seccomp/Capsicum/pledge.
//! - [`timers`], [`childlog`]: event-loop timers and child logging.

pub mod channel;
pub mod child;
pub mod childlog;
pub mod config;
pub mod envelope;
pub mod fds;
pub mod msg;
pub mod pfkey_unix;
pub mod privdrop;
pub mod sandbox;
pub mod signals;
pub mod timers;

/// The children's event loops use this mio, so both agree on one version.
pub use mio;
