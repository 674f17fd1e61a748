//! IKEv2 wire format: checked views over bytes and plain `Repr` values.
//!
//! Decoding: [`Message::parse`] for a whole datagram (SK left encrypted),
//! [`ProtectedMessage`] to take an SK/SKF message apart for decryption, and
//! [`parse_inner_payloads`] for the decrypted contents. Encoding:
//! [`Message::to_bytes`], [`emit_inner_payloads`], [`pad_plaintext`] and
//! [`build_protected`]. Every decoder returns an [`Error`] for bad input and
//! never panics; see `rfc/wire-notes.md` for what is checked where.

mod be;
pub mod consts;
mod error;
mod generic;
mod header;
mod message;
mod nat_t;
mod payload;

pub mod auth;
pub mod cert;
pub mod cp;
pub mod cp_value;
pub mod delete;
pub mod id;
pub mod ke;
pub mod notify;
pub mod sa;
pub mod sk;
pub mod ts;

pub use auth::Authentication;
pub use cert::Certificate;
pub use consts::*;
pub use cp::{CfgAttribute, Configuration};
pub use cp_value::CfgValue;
pub use delete::Delete;
pub use error::{Error, Result};
pub use generic::{PayloadPacket, GENERIC_HEADER_LEN};
pub use header::{Flags, Header, HeaderPacket, HEADER_LEN};
pub use id::Identification;
pub use ke::KeyExchange;
pub use message::Message;
pub use nat_t::{
    add_non_esp_marker, classify_udp_4500, strip_non_esp_marker, Udp4500, NON_ESP_MARKER,
};
pub use notify::Notify;
pub use payload::{
    emit_inner_payloads, parse_inner_payloads, Payload, MAX_PAYLOADS, NONCE_MAX_LEN, NONCE_MIN_LEN,
};
pub use sa::{Attribute, AttributeValue, Proposal, Transform};
pub use sk::{
    build_protected, emit_protected, pad_plaintext, protected_aad, strip_padding, Encrypted,
    EncryptedKind, Fragment, ProtectedBuf, ProtectedMessage, ProtectedSlots, SkParts,
};
pub use ts::TrafficSelector;
