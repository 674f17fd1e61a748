//! Shared by the integration tests: the builders of the unit tests (one file,
//! `src/test_support.rs`, compiled into both) and what only tests that run a
//! simulator server need. Each test binary uses part of it.
#![allow(dead_code)]

#[path = "../../src/test_support.rs"]
mod test_support;
pub use test_support::*;

use std::path::PathBuf;

/// A socket path of this test process in the temporary directory.
pub fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ike-pfkey-{}-{name}", std::process::id()))
}
