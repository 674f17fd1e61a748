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
//! - [`config`]: the configuration model.
//!
//! Only `config` and `msg` are built without the default feature `os`
//! (serde alone): that is the part ike-proto's engine links.

#[cfg(feature = "os")]
pub mod channel;
#[cfg(feature = "os")]
pub mod child;
#[cfg(feature = "os")]
pub mod childlog;
pub mod config;
#[cfg(feature = "os")]
pub mod envelope;
#[cfg(feature = "os")]
pub mod fds;
pub mod msg;
#[cfg(feature = "os")]
pub mod pfkey_unix;
#[cfg(feature = "os")]
pub mod privdrop;
#[cfg(feature = "os")]
pub mod sandbox;
#[cfg(feature = "os")]
pub mod signals;
#[cfg(feature = "os")]
pub mod timers;

/// The children's event loops use this mio, so both agree on one version.
#[cfg(feature = "os")]
pub use mio;

/// The bounds of `Channel`'s send and receive (`Serialize`,
/// `DeserializeOwned`), for code generic over channels.
pub use serde;
