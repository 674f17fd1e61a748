//! Shared code of the two PF_KEY helpers (issue 5, "Helpers"):
//!
//! - `pf-to-fd SOCKETPATH`: hands PF_KEY sockets (opened as root) to permitted local
//!   users over a Unix socket, so an unprivileged developer can run the daemon with
//!   `ike-parent --pfkey unix:SOCKETPATH` against the real kernel or the simulator.
//! - `pf-to-tcp`: a debugging proxy between one PF_KEY socket and one TCP client on
//!   loopback, printing every message decoded and in hex.
//!
//! Modules:
//! - [`pfkey_socket`]: opening the kernel's PF_KEY socket, or a simulator connection.
//! - [`peercred`]: the uid at the other end of a Unix socket.
//! - [`unix_listener`]: the owner-only listening socket of pf-to-fd.
//! - [`loopback`]: pf-to-tcp's listen-address check.
//! - [`framing`]: cutting PF_KEY messages out of a TCP byte stream.
//! - [`dump`]: the decoded and hex rendering of a message.
//! - [`ids`]: user and group names or numbers on the command line.
//! - [`run`]: the `main` both binaries share.

pub mod dump;
pub mod framing;
pub mod ids;
pub mod loopback;
pub mod peercred;
pub mod pfkey_socket;
pub mod unix_listener;

use std::process::ExitCode;

/// The `main` of both helpers: logging (`RUST_LOG`, default info), then the
/// command line (a usage error exits 2), then the tool's work (a failure
/// exits 1). Every message starts with the tool's `name`.
pub fn run<O>(
    name: &str,
    parse: impl FnOnce(&[String]) -> Result<O, String>,
    serve: impl FnOnce(&O) -> Result<(), String>,
) -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(2);
        }
    };
    match serve(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}
