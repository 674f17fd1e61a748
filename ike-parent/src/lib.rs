//! The parent daemon's library: the configuration parser and the supervisor.
pub mod config;
