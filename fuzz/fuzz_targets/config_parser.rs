//! Fuzz target: the iked.conf(5) parser on arbitrary text.
//!
//! The configuration is read as root before any privilege drop, and an admin
//! may include files written by others: the parser must answer every input
//! with a value or a `file:line:col` error, never a panic. Includes are
//! resolved against a directory that does not exist, so the target reads no
//! file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(e) = ike_parent::config::parse_str("fuzz.conf", &text, Path::new("/nonexistent")) {
        // Formatting the error must not panic either.
        let _ = e.to_string();
    }
});
