//! IKEv2 (RFC 7296) without I/O: the wire codec (`wire`), the crypto suite
//! (`crypto`) and the sans-IO state machine (`engine`).
//!
//! Nothing in this crate opens a socket, reads a clock or draws randomness by
//! itself: the driver (`ike-net`) feeds it bytes, time and random bytes.
#![forbid(unsafe_code)]

pub mod crypto;
pub mod engine;
pub mod wire;
