//! `make install` with PREFIX and DESTDIR into a temporary directory, the
//! rc scripts under `sh -n`, the manual pages under `mandoc -Tlint`: all in
//! tests/install/check-install.sh, run here so `cargo test` covers it.

mod config_util;

use std::process::Command;

#[test]
fn install_layout_rc_scripts_and_manuals() {
    let script = config_util::repo().join("tests/install/check-install.sh");
    let out = Command::new("sh")
        .arg(&script)
        .output()
        .expect("run check-install.sh");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "check-install.sh failed:\n{text}");
    assert!(text.contains("install checks passed"), "{text}");
}
