//! IKEv2 wire format: checked views over bytes and plain `Repr` values.
