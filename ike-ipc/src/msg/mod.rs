//! One message enum per channel and direction.

pub mod pfkey;
