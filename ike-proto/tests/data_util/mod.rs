//! Reading the files under tests/data, shared by the test files that use
//! recorded vectors, keys and certificates.
#![allow(dead_code)]

use std::path::PathBuf;

/// The bytes of `tests/data/<dir>/<name>`.
pub fn data_file(dir: &str, name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(dir)
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p:?}: {e}"))
}

/// Hex text to bytes; white space (line breaks in the vector files) is
/// skipped, anything else must be a hex digit, in pairs.
pub fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    assert_eq!(s.len() & 1, 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}
