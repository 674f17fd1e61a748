//! pf-to-fd: hand PF_KEY sockets to permitted local users.
//!
//!   pf-to-fd [--owner USER] [--group GROUP] [--allow-uid USER]... [--sim PATH] SOCKETPATH
//!
//! Listens on SOCKETPATH (a SOCK_SEQPACKET Unix socket, mode 0600, chowned to --owner/
//! --group). For each connection whose peer uid (SO_PEERCRED / getpeereid) is allowed
//! (--allow-uid, repeatable; default root only) it opens a PF_KEY socket, or with --sim
//! a connection to the PF_KEY simulator at PATH, and sends it with SCM_RIGHTS after the
//! `ike_ipc::pfkey_unix` hello ("IKEPFKEY" + 'F'); then it closes the connection.
//! Other peers are logged and disconnected without a byte. Use with
//! `ike-parent --pfkey unix:SOCKETPATH`.

use helper::ids::{parse_gid, parse_uid};
use helper::peercred::peer_uid;
use helper::pfkey_socket::Source;
use helper::unix_listener::listen_owner_only;
use nix::sys::socket::accept;
use nix::unistd::{Gid, Uid};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str =
    "usage: pf-to-fd [--owner USER] [--group GROUP] [--allow-uid USER]... [--sim PATH] SOCKETPATH";

#[derive(Debug)]
struct Opts {
    socket: PathBuf,
    owner: Option<Uid>,
    group: Option<Gid>,
    allowed: Vec<u32>,
    source: Source,
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut socket = None;
    let (mut owner, mut group, mut allowed, mut source) = (None, None, Vec::new(), Source::Kernel);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value\n{USAGE}"));
        match a.as_str() {
            "--owner" => owner = Some(parse_uid(value()?)?),
            "--group" => group = Some(parse_gid(value()?)?),
            "--allow-uid" => allowed.push(parse_uid(value()?)?.as_raw()),
            "--sim" => source = Source::Sim(PathBuf::from(value()?)),
            "-h" | "--help" => return Err(USAGE.to_string()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}\n{USAGE}")),
            s if socket.is_none() => socket = Some(PathBuf::from(s)),
            s => return Err(format!("unexpected argument {s}\n{USAGE}")),
        }
    }
    if allowed.is_empty() {
        allowed.push(0); // root only, unless told otherwise
    }
    let socket = socket.ok_or(USAGE.to_string())?;
    Ok(Opts {
        socket,
        owner,
        group,
        allowed,
        source,
    })
}

fn main() -> ExitCode {
    helper::run("pf-to-fd", parse, serve)
}

fn serve(o: &Opts) -> Result<(), String> {
    let listener = listen_owner_only(&o.socket, o.owner, o.group)
        .map_err(|e| format!("cannot listen on {}: {e}", o.socket.display()))?;
    log::info!(
        "listening on {} (mode 0600), handing out {} to uid {:?}",
        o.socket.display(),
        o.source.describe(),
        o.allowed
    );
    loop {
        let conn = match accept(std::os::fd::AsRawFd::as_raw_fd(&listener)) {
            // SAFETY: accept(2) returned a new descriptor that nothing else owns.
            Ok(fd) => unsafe { OwnedFd::from_raw_fd(fd) },
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("accept: {e}")),
        };
        handle(o, conn);
    }
}

/// One client: check who it is, then hand over one PF_KEY socket. Errors end this
/// connection only, never the helper.
fn handle(o: &Opts, conn: OwnedFd) {
    // The kernel's record of the connecting process: the only identity we trust.
    let uid = match peer_uid(&conn) {
        Ok(uid) => uid,
        Err(e) => {
            log::warn!("cannot read the peer's credentials ({e}): connection dropped");
            return;
        }
    };
    if !o.allowed.contains(&uid) {
        log::warn!(
            "refused a connection from uid {uid} (allowed: {:?})",
            o.allowed
        );
        return;
    }
    let pfkey = match o.source.open() {
        Ok(fd) => fd,
        Err(e) => {
            log::error!("cannot open {} for uid {uid}: {e}", o.source.describe());
            return;
        }
    };
    match ike_ipc::pfkey_unix::send_hello_fd(conn.as_fd(), pfkey.as_fd()) {
        Ok(()) => log::info!("handed a PF_KEY socket to uid {uid}"),
        Err(e) => log::warn!("sending the PF_KEY socket to uid {uid} failed: {e}"),
    }
    // our copy of the PF_KEY descriptor and the connection close here
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn defaults_allow_root_only() {
        let o = parse(&args("/run/pf.sock")).unwrap();
        assert_eq!(o.allowed, vec![0]);
        assert_eq!(o.source, Source::Kernel);
        assert_eq!(o.socket, PathBuf::from("/run/pf.sock"));
    }

    #[test]
    fn options() {
        let o = parse(&args(
            "--allow-uid 1000 --allow-uid root --owner 1000 --group 0 --sim /s /p",
        ))
        .unwrap();
        assert_eq!(o.allowed, vec![1000, 0]);
        assert_eq!(o.owner, Some(Uid::from_raw(1000)));
        assert_eq!(o.group, Some(Gid::from_raw(0)));
        assert_eq!(o.source, Source::Sim(PathBuf::from("/s")));
        assert!(parse(&args("")).is_err());
        assert!(parse(&args("--allow-uid")).is_err());
        assert!(parse(&args("/a /b")).is_err());
        assert!(parse(&args("--bogus /a")).is_err());
    }
}
