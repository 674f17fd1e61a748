//! The parent daemon's library: the configuration parser and the supervisor.
//!
//! - [`cli`]: flags. [`startup`]: the privileged opens, fork+exec of the
//!   children. [`supervisor`]: fail-closed supervision, shutdown, reload.
//! - [`sockets`], [`bypass`], [`spawn`], [`daemon`], [`logging`], [`childlog`]: the parts.
//! - [`config`]: the iked.conf(5)-style parser; [`settings`] calls it;
//!   [`netcheck`]: `-n`'s check of what only ike-net can judge.

pub mod bypass;
pub mod childlog;
pub mod cli;
pub mod config;
pub mod ctl;
pub mod daemon;
pub mod logging;
pub mod netcheck;
pub mod settings;
pub mod sockets;
pub mod spawn;
pub mod startup;
pub mod supervisor;
