//! PF_KEY v2 (RFC 2367) with the KAME (FreeBSD, Linux af_key) and OpenBSD
//! extensions: the byte codec for every dialect, the kernel broker's logic, and a
//! userspace PF_KEY simulator for tests.
//!
//! - [`dialect`]: the numbers, one module per platform, each naming its header.
//! - [`wire`]: checked views and plain `Repr` values for messages and extensions.
//! - [`broker`]: the kernel broker's sans-IO logic and its allow-list.
//! - [`sim`]: `pfkey-sim`, a userspace KAME/Linux key engine for tests.
//! - [`xfrm`]: the Linux XFRM netlink codec, the broker's second kernel interface.

pub mod broker;
pub mod dialect;
pub mod sim;
pub mod wire;
pub mod xfrm;

/// Lets `test_support`, which the integration tests include too, name this
/// crate `ike_pfkey` from inside it.
#[cfg(test)]
extern crate self as ike_pfkey;
#[cfg(test)]
mod test_support;
