//! Helpers shared by the config_*.rs test files.
#![allow(dead_code)]

use ike_ipc::config::Config;
use ike_parent::config::{parse_str, ConfigError, ErrorKind};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The repository root (tests run with the crate directory as cwd).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A fresh empty directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("ike-config-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Write `name` (relative) with `mode`.
    pub fn write(&self, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn parse(text: &str) -> Result<Config, ConfigError> {
    parse_str("test.conf", text, Path::new("/nonexistent"))
}

pub fn ok(text: &str) -> Config {
    match parse(text) {
        Ok(c) => c,
        Err(e) => panic!("expected to parse, got: {e}\n--- input ---\n{text}"),
    }
}

/// Parse `text`, expect an error of `kind` at `line:column`, return it.
pub fn err(text: &str, kind: ErrorKind, line: u32, column: u32) -> ConfigError {
    let e = match parse(text) {
        Ok(_) => panic!("expected an error, it parsed:\n{text}"),
        Err(e) => e,
    };
    let loc = e.location.clone().expect("error has a location");
    assert_eq!(
        (e.kind, loc.line, loc.column),
        (kind, line, column),
        "wrong error for:\n{text}\ngot: {e}"
    );
    assert!(
        e.to_string()
            .starts_with(&format!("test.conf:{line}:{column}: ")),
        "{e}"
    );
    e
}

/// Check many (input, kind, line, column) cases; report every mismatch at once.
pub fn check_all(cases: &[(&str, ErrorKind, u32, u32)]) -> Vec<ConfigError> {
    let mut wrong = Vec::new();
    let mut errors = Vec::new();
    for (input, kind, line, column) in cases {
        match parse(input) {
            Ok(_) => wrong.push(format!("parsed: {input:?}")),
            Err(e) => {
                let at = e.location.as_ref().map(|l| (l.line, l.column));
                if (e.kind, at) != (*kind, Some((*line, *column))) {
                    wrong.push(format!(
                        "{input:?}: want {kind:?} at {line}:{column}, got {e}"
                    ));
                }
                errors.push(e);
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    errors
}
