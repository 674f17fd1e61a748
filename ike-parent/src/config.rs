//! The ike.conf parser: OpenBSD iked.conf(5) grammar, our data model
//! (`ike_ipc::config`).
//!
//! - `lexer`: bytes to tokens;
//! - `parser`: the token stream (macros, includes, limits) and errors;
//! - `statements`: macro definitions, `include`, `set`;
//! - `rule`: `ikev2` policies, with `flows` (from/to, proto) and
//!   `proposals` (ikesa/childsa); `values`: addresses, times, identities...;
//! - `support`: which algorithms we do and why the rest are refused;
//! - `files`: size bounds and permission checks; `keys`: `local.key`, `pubkeys/`;
//!   `certs`: `ca/`, `certs/<id>.crt`, and the refusal of `crls/`;
//! - `describe`: the configuration printed back (`ike-parent -n -v`).
//!
//! Every error carries file:line:column and says whether the input is
//! broken (syntax, invalid) or valid iked.conf that we refuse (unsupported).

mod certs;
mod cp;
mod describe;
mod error;
mod files;
mod flows;
mod interfaces;
mod keys;
mod lexer;
mod parser;
mod proposals;
mod rule;
mod statements;
mod support;
mod values;

pub use describe::{describe, REDACTED_PSK};
pub use error::{ConfigError, ErrorKind, Location};
pub use parser::{MAX_INCLUDE_DEPTH, MAX_TOKENS};

use ike_ipc::config::{Auth, Config};
use std::path::{Path, PathBuf};

/// Where the configuration file is when `-f` is not given: FreeBSD keeps
/// local (non-base) configuration under /usr/local/etc (hier(7)); OpenBSD
/// and Linux under /etc. The Makefile's per-OS layout installs there.
pub const DEFAULT_PATH: &str = if cfg!(target_os = "freebsd") {
    "/usr/local/etc/ike/ike.conf"
} else {
    "/etc/ike/ike.conf"
};

#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// The directory holding `private/local.key`, `pubkeys/`, `ca/` and
    /// `certs/`; by default
    /// the directory of the configuration file.
    pub key_dir: Option<PathBuf>,
}

/// Parse and check `path`, load the keys its policies need. What the
/// daemon calls at start, for `-n` and on reload.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    parse_file(path, &ParseOptions::default())
}

pub fn parse_file(path: &Path, options: &ParseOptions) -> Result<Config, ConfigError> {
    let mut parser = parser::Parser::for_file(path)?;
    parser.run()?;
    let mut config = std::mem::take(&mut parser.config);
    // A configuration with a PSK must be private in every file it came
    // from: a macro may carry the key from one file into another.
    if config
        .policies
        .iter()
        .any(|p| matches!(p.auth, Auth::Psk(_)))
    {
        for file in &parser.files {
            if let Some(mode) = file.mode {
                files::require_private(
                    &file.shown,
                    mode,
                    "the configuration holds pre-shared keys",
                )?;
            }
        }
    }
    let dir = match &options.key_dir {
        Some(d) => d.clone(),
        None => path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    keys::load(&mut config, &dir)?;
    Ok(config)
}

/// Parse text that is not a file (tests, tools). `include` is resolved
/// against `include_dir` (files read are checked as usual); keys are not
/// loaded and the text's own permissions are not checked.
pub fn parse_str(name: &str, text: &str, include_dir: &Path) -> Result<Config, ConfigError> {
    let mut parser = parser::Parser::for_text(name, text, include_dir)?;
    parser.run()?;
    Ok(std::mem::take(&mut parser.config))
}

/// `ike-parent -n [-v] -f FILE`: check the file; print the policies with
/// `verbose`. The caller prints the error and exits 1 on `Err`.
pub fn check_and_print(path: &Path, verbose: bool) -> Result<(), ConfigError> {
    let config = load(path)?;
    if verbose {
        print!("{}", describe(&config));
    }
    println!("configuration OK");
    Ok(())
}
