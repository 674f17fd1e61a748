//! Messages between ike-parent, ike-pfkey and ike-net, their framing, and the privilege-drop helpers.

pub mod config;
pub mod msg;
