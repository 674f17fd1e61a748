//! The credential process (issue 16, DESIGN.md section 2 and 14).
//!
//! ike-cred alone holds the PSKs and our private key. ike-net, which parses
//! the network, sees a policy name and public parts only; for an AUTH value
//! it asks ike-cred over its own socketpair ([`client::CredClient`]), and
//! ike-cred answers from a [`KeyStore`], the same code the engine tests
//! and tools run in-process ([`ike_proto::engine::KeyStore`]).
//!
//! This crate holds the three sides of that protocol: what each process may
//! see of the configuration ([`views`]), the answering side ([`serve`]) and
//! the asking side ([`client`]). The process itself is `ike-cred/src/main.rs`.

pub mod client;
pub mod serve;
pub mod views;

pub use ike_proto::engine::KeyStore;
