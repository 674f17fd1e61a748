//! pf-to-fd's listening socket: SOCK_SEQPACKET (the `ike_ipc::pfkey_unix`
//! protocol is one packet per message), mode 0600 from the moment it exists,
//! optionally handed to another owner and group.

use nix::sys::socket::{
    bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr,
};
use nix::sys::stat::{umask, Mode};
use nix::unistd::{chown, Gid, Uid};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

/// Removes a stale socket left by an earlier run; refuses to touch anything that is
/// not a socket (a typo must not delete a file).
fn clear_stale_socket(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket", path.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Binds and listens at `path` with mode 0600, then applies `owner`/`group`.
pub fn listen_owner_only(
    path: &Path,
    owner: Option<Uid>,
    group: Option<Gid>,
) -> io::Result<OwnedFd> {
    clear_stale_socket(path)?;
    let fd = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let addr = UnixAddr::new(path)?;
    // bind(2) creates the file with the umask applied: with 0177 it is never
    // connectable by others, not even between bind and the chmod below.
    // The helpers are single-threaded here, so the process-wide umask is safe to swap.
    let old = umask(Mode::from_bits_truncate(0o177));
    let bound = bind(fd.as_raw_fd(), &addr);
    umask(old);
    bound?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    if owner.is_some() || group.is_some() {
        chown(path, owner, group)?;
    }
    listen(&fd, Backlog::new(16)?)?;
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn tmp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("helper-ul-{}-{name}", std::process::id()))
    }

    #[test]
    fn socket_is_owner_only_and_replaces_a_stale_one() {
        let p = tmp("sock");
        let first = listen_owner_only(&p, None, None).unwrap();
        drop(first);
        // the file stays after close: a second start must replace it
        let _l = listen_owner_only(&p, None, None).unwrap();
        let m = std::fs::symlink_metadata(&p).unwrap();
        assert!(m.file_type().is_socket());
        assert_eq!(m.mode() & 0o777, 0o600);
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn refuses_to_replace_a_regular_file() {
        let p = tmp("file");
        std::fs::write(&p, b"keep me").unwrap();
        assert!(listen_owner_only(&p, None, None).is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"keep me");
        std::fs::remove_file(&p).unwrap();
    }
}
