//! The openssl command for tests that need keys and certificates made on
//! the spot (`e2e_*`, `config_check`): each helper returns `false` when
//! openssl is not installed, so that the test can skip itself.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// Runs openssl; `false` when the command is not installed.
pub fn openssl(args: &[&str]) -> bool {
    match Command::new("openssl").args(args).output() {
        Ok(o) => {
            assert!(
                o.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            true
        }
        Err(_) => false,
    }
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A P-256 key as PKCS#8 PEM at `path`; `false` without openssl.
pub fn ec_key(path: &Path) -> bool {
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        s(path),
    ])
}
