//! `ike-net --check-config`: the configuration check behind
//! `ike-parent -n`. Reads one `CheckRequest` envelope on stdin, runs the
//! same conversion as the worker (`policy::engine_config`) and prints one
//! line per policy the worker would leave out, with the reason.
//! Exit 0: every policy is usable; 1: some are not, or the input is bad.
//!
//! Started as root by a root ike-parent, it reads the request first (the
//! parent's own data, decoded as the worker decodes its Init), then drops
//! to the daemon user and chroot the request names, then enters the
//! worker's OS sandbox, and only then parses keys and certificates
//! (DESIGN.md "Processes and trust"). It opens no file, socket or channel:
//! stdin, stdout and stderr are all it has (the parent closes the rest).

use crate::policy::{self, Listen};
use ike_ipc::config::check::{skipped_line, summary_line, CheckRequest};
use ike_ipc::config::secret::Zeroizing;
use ike_ipc::envelope::MAX_LARGE_MESSAGE;
use ike_ipc::sandbox::{FdUse, Role};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::process::ExitCode;

pub fn run() -> ExitCode {
    // One byte more than the cap: an oversized input is then reported as
    // such instead of being silently cut at the cap.
    // The request holds PSKs and private keys: wiped when dropped.
    let mut bytes = Zeroizing::new(Vec::new());
    let cap = MAX_LARGE_MESSAGE as u64 + 1;
    if let Err(e) = std::io::stdin().lock().take(cap).read_to_end(&mut bytes) {
        eprintln!("ike-net: cannot read the configuration on stdin: {e}");
        return ExitCode::FAILURE;
    }
    let request = match CheckRequest::decode(&bytes) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ike-net: cannot decode the configuration on stdin: {e}");
            return ExitCode::FAILURE;
        }
    };
    drop(bytes);
    if let Err(e) = confine(&request) {
        eprintln!("ike-net: {e}");
        return ExitCode::FAILURE;
    }
    let skipped = check(&request);
    let mut out = std::io::stdout().lock();
    let summary = summary_line(request.config.policies.len());
    for line in skipped.iter().chain(std::iter::once(&summary)) {
        if writeln!(out, "{line}").is_err() {
            return ExitCode::FAILURE;
        }
    }
    if out.flush().is_err() || !skipped.is_empty() {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Privilege drop and sandbox, as in the worker; without a `privdrop` in
/// the request (a parent that is not root) only the sandbox.
fn confine(request: &CheckRequest) -> Result<(), String> {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let fds = [(stdout.as_fd(), FdUse::Log), (stderr.as_fd(), FdUse::Log)];
    match &request.privdrop {
        Some(pd) => ike_ipc::child::lock_down(pd, Role::Net, &fds),
        None => ike_ipc::sandbox::enter(Role::Net, &fds).map_err(|e| e.to_string()),
    }
}

/// The lines for the policies the worker would leave out.
fn check(request: &CheckRequest) -> Vec<String> {
    let listen = Listen::from_sockets(&request.listen);
    let (_, skipped) = policy::engine_config(&request.config, &listen);
    skipped
        .iter()
        .map(|(name, why)| skipped_line(name, why))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ike_ipc::config::{Auth, Config, IpNet, IpsecProtocol, Policy, Secret};
    use ike_ipc::msg::ListenSocket;

    fn psk(name: &str) -> Policy {
        let mut p = Policy::new(name);
        p.peer = Some(IpNet::host("192.0.2.2".parse().unwrap()));
        p.auth = Auth::Psk(Secret::new(b"a pre-shared key".to_vec()));
        p
    }

    fn request(policies: Vec<Policy>, listen: &[&str]) -> CheckRequest {
        CheckRequest {
            config: Config {
                policies,
                ..Config::default()
            },
            listen: listen
                .iter()
                .map(|a| ListenSocket {
                    addr: a.parse().unwrap(),
                    natt: false,
                })
                .collect(),
            privdrop: None,
        }
    }

    #[test]
    fn usable_policies_give_no_line() {
        assert!(check(&request(vec![psk("ok")], &["192.0.2.1:500"])).is_empty());
    }

    #[test]
    fn each_left_out_policy_gets_a_line_with_its_reason() {
        let mut ah = psk("ah");
        ah.protocol = IpsecProtocol::Ah;
        let lines = check(&request(vec![psk("ok"), ah], &["192.0.2.1:500"]));
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].starts_with("policy \"ah\": AH is not negotiated"));
    }

    /// The listen addresses matter as at run time: without them a policy
    /// with neither srcid nor local has no identity.
    #[test]
    fn the_listen_addresses_give_the_default_identity() {
        let lines = check(&request(vec![psk("p")], &["0.0.0.0:500"]));
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("no srcid, no local address"), "{lines:?}");
    }
}
