//! `ike-parent -n`, second half: what only ike-net can judge. The parser
//! checks the file's grammar, values and files; whether a policy's
//! certificate holds our key and names our ID, whether an RFC 4754 key is
//! on its curve, whether the CA files parse as certificates, is decided by
//! the IKE crypto, which the parent deliberately does not link (DESIGN.md
//! "Crates"). So the parent runs `ike-net --check-config` (the same
//! executable it starts as its network worker) and hands it the parsed
//! configuration on stdin; ike-net answers with one line per policy it
//! would leave out at run time.
//!
//! The check fails closed: an ike-net that cannot be found, cannot be run,
//! dies or answers nonsense makes `-n` fail, never pass.

use crate::cli::Options;
use crate::startup::{libexec_dir, NET_EXE};
use ike_ipc::config::check::{summary_line, CheckRequest, CHECK_FLAG};
use ike_ipc::config::secret::Zeroizing;
use ike_ipc::config::Config;
use ike_ipc::msg::PrivDrop;
use ike_ipc::privdrop;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// What we keep of each of the child's output streams; the rest is read
/// and dropped (so the child never blocks on a full pipe).
const OUTPUT_CAP: u64 = 64 * 1024;

/// How long the check may take. It converts the policies of one file
/// (milliseconds); a child that takes this long is stuck.
const CHECK_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the check for `config` as the daemon would run it with `opts`.
/// `Err` holds the message for the admin: the policies ike-net would
/// leave out and why, or why the check could not be made.
pub fn check(opts: &Options, config: &Config) -> Result<(), String> {
    let exe = libexec_dir(opts)?.join(NET_EXE);
    if !exe.is_file() {
        return Err(format!(
            "{} not found (see --libexec): the certificates and keys cannot be checked without it",
            exe.display()
        ));
    }
    let request = CheckRequest {
        // What ike-net gets at run time: no secret (issue 16).
        config: crate::settings::net_view(config),
        // The addresses the daemon would listen on: a policy without srcid
        // or local takes its identity from them.
        listen: crate::sockets::listen_addrs(&opts.listen, opts.port, opts.natt_port),
        privdrop: if nix::unistd::geteuid().is_root() {
            Some(privdrop(opts, config)?)
        } else {
            None
        },
    };
    // The encoded request holds PSKs and private keys: wiped when dropped.
    let bytes = Zeroizing::new(
        request
            .encode()
            .map_err(|e| format!("the configuration cannot be sent to {NET_EXE}: {e}"))?,
    );

    let mut cmd = Command::new(&exe);
    cmd.arg(CHECK_FLAG)
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    crate::spawn::inherit_stdio_only(&mut cmd);
    let (status, out, err) = run(cmd, &bytes, CHECK_TIMEOUT)
        .map_err(|e| format!("cannot run {} {CHECK_FLAG}: {e}", exe.display()))?;
    // The answer counts: the summary line last, naming as many policies as
    // we sent, one line per left-out policy before it, and the matching
    // exit status. Anything else is a failed check, not a pass.
    let mut lines: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    let answered = lines.last() == Some(&summary_line(config.policies.len()).as_str());
    if answered {
        lines.pop();
    }
    match status.code() {
        Some(0) if answered && lines.is_empty() => Ok(()),
        Some(1) if answered && !lines.is_empty() => {
            let mut msg = format!(
                "{NET_EXE} would leave out {} polic{} at run time:",
                lines.len(),
                if lines.len() == 1 { "y" } else { "ies" }
            );
            for l in &lines {
                msg.push_str("\n  ");
                msg.push_str(l);
            }
            if !err.trim().is_empty() {
                msg.push('\n');
                msg.push_str(err.trim_end());
            }
            Err(msg)
        }
        _ => Err(format!(
            "{} {CHECK_FLAG} failed ({status}{}){}{}",
            exe.display(),
            if answered { "" } else { ", no answer" },
            if err.trim().is_empty() { "" } else { ": " },
            err.trim_end()
        )),
    }
}

/// Runs `cmd` with `input` on its stdin; its exit status, stdout and
/// stderr. A child still running after `timeout` is killed: `-n` runs
/// from rc scripts and must not hang on a stuck helper.
fn run(
    mut cmd: Command,
    input: &[u8],
    timeout: Duration,
) -> Result<(ExitStatus, String, String), String> {
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    let stop = |child: &mut Child| {
        let _ = child.kill();
        let _ = child.wait();
    };
    let (stdin, stdout, stderr) =
        match (child.stdin.take(), child.stdout.take(), child.stderr.take()) {
            (Some(i), Some(o), Some(e)) => (i, o, e),
            _ => {
                stop(&mut child);
                return Err("no pipes to the child".into());
            }
        };
    // Write and read at once: neither side can then block the other.
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut stdin = stdin;
            // A child that exits without reading (an older ike-net, say)
            // makes this fail with EPIPE; its exit status tells the rest.
            let _ = stdin.write_all(input);
        });
        let out = s.spawn(move || read_capped(stdout));
        let err = s.spawn(move || read_capped(stderr));
        let deadline = Instant::now() + timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break Ok(st),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Ok(None) => {
                    stop(&mut child);
                    break Err(format!(
                        "no answer within {} ms: stopped it",
                        timeout.as_millis()
                    ));
                }
                Err(e) => {
                    stop(&mut child);
                    break Err(e.to_string());
                }
            }
        };
        // The pipes close with the child: the readers end.
        let out = out.join().unwrap_or_default();
        let err = err.join().unwrap_or_default();
        status.map(|st| (st, out, err))
    })
}

/// Whom ike-net becomes once it has read the request: the user the
/// children would run as (command line, then `set user`, then the
/// default), chrooted into the children's directory. The check parses
/// keys and certificates, so not with root's rights.
///
/// `-n` also runs at packaging time, before the user or the directory
/// exist, and must not create anything: a user that does not exist yet
/// is replaced by the fallback user (with a note), a chroot directory
/// that does not exist yet by `/` (the check opens no file anyway, and
/// it still runs unprivileged and in the OS sandbox).
fn privdrop(opts: &Options, config: &Config) -> Result<PrivDrop, String> {
    let user = opts.user.clone().or_else(|| config.global.user.clone());
    let (uid, gid) = match privdrop::resolve_user(user.as_deref()) {
        Ok(ids) => ids,
        Err(e) => {
            let fallback = privdrop::FALLBACK_USER;
            let ids = privdrop::resolve_user(Some(fallback))
                .map_err(|e2| format!("{e}; {e2}: no user to run the check as"))?;
            eprintln!("ike-parent: note: {e}; checking as {fallback}");
            ids
        }
    };
    let dir = match (&config.global.chroot, opts.chroot_given) {
        (Some(c), false) => PathBuf::from(c),
        _ => opts.chroot.clone(),
    };
    // An existing directory is checked (root-owned, not writable, empty)
    // and used; prepare_chroot_dir creates nothing for one that exists.
    let chroot = if dir.is_dir() {
        privdrop::prepare_chroot_dir(&dir).map_err(|e| e.to_string())?;
        dir.to_str()
            .ok_or("the chroot directory must be valid UTF-8")?
            .to_string()
    } else {
        "/".to_string()
    };
    Ok(PrivDrop { chroot, uid, gid })
}

/// Up to [`OUTPUT_CAP`] bytes of `r` as text, control characters (but
/// newlines) shown as `?`: the text goes to the admin's terminal. Reads
/// on to the end so that the writer is never stuck.
fn read_capped(r: impl Read) -> String {
    let mut r = r;
    let mut buf = Vec::new();
    let _ = (&mut r).take(OUTPUT_CAP).read_to_end(&mut buf);
    let _ = std::io::copy(&mut r, &mut std::io::sink());
    String::from_utf8_lossy(&buf)
        .chars()
        .map(|c| if c.is_control() && c != '\n' { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(tag: &str, body: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("ike-netcheck-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("child.sh");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        (dir, path)
    }

    fn piped(path: &std::path::Path) -> Command {
        let mut cmd = Command::new(path);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    #[test]
    fn a_stuck_child_is_stopped_at_the_deadline() {
        let (dir, path) = script("stuck", "exec sleep 30");
        let t0 = Instant::now();
        let e = run(piped(&path), b"request", Duration::from_millis(200)).unwrap_err();
        assert!(e.contains("no answer within 200 ms"), "{e}");
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn input_goes_in_and_both_outputs_come_back() {
        let (dir, path) = script("echo", "cat; echo oops >&2; exit 1");
        let (st, out, err) = run(piped(&path), b"request\n", Duration::from_secs(30)).unwrap();
        assert_eq!(
            (st.code(), out.as_str(), err.as_str()),
            (Some(1), "request\n", "oops\n")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn output_is_capped_and_terminal_safe() {
        let big = vec![b'a'; OUTPUT_CAP as usize * 2];
        assert_eq!(read_capped(&big[..]).len(), OUTPUT_CAP as usize);
        assert_eq!(read_capped(&b"x\x1b[2Jy\n\tz"[..]), "x?[2Jy\n?z");
    }
}
