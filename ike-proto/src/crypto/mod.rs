//! The IKEv2 crypto suite: PRFs, key derivation, key exchange, SK protection, AUTH.
