//! Dropping root in a child: chroot, then groups, gid, uid, then a check that
//! root cannot come back (DESIGN.md "Processes and trust"). The OS sandbox
//! ([`crate::sandbox`]) follows.
//!
//! The parent side of the same contract is here too: it checks the chroot
//! directory and resolves the user name, because a chrooted child can read
//! neither the file system nor /etc/passwd.

use crate::msg::PrivDrop;
use nix::unistd::{self, Gid, Uid, User};
use std::fmt;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

/// The default chroot directory: empty, root-owned on every target OS.
pub const DEFAULT_CHROOT: &str = "/var/empty";
/// The user the children run as where it exists (OpenBSD's convention)...
pub const DEFAULT_USER: &str = "_ike";
/// ...and the fallback everywhere else.
pub const FALLBACK_USER: &str = "nobody";

#[derive(Debug)]
pub struct PrivDropError(pub String);

impl fmt::Display for PrivDropError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PrivDropError {}

fn err(what: impl Into<String>) -> PrivDropError {
    PrivDropError(what.into())
}

/// Parent side: makes sure `dir` is a safe chroot. Creates it (root-owned,
/// 0755, empty) if missing; refuses one that is not a real directory, not
/// owned by root, writable by group or others, or not empty. A writable or
/// populated chroot would let a compromised child plant files (a `/etc`,
/// device nodes, setuid binaries on a shared mount) that matter later.
pub fn prepare_chroot_dir(dir: &Path) -> Result<(), PrivDropError> {
    let shown = dir.display();
    if !dir.is_absolute() {
        return Err(err(format!(
            "chroot directory {shown} is not an absolute path"
        )));
    }
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .mode(0o755)
                .create(dir)
                .map_err(|e| err(format!("cannot create chroot directory {shown}: {e}")))?;
            // The umask may have cut bits; set exactly 0755, owner root.
            fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
                .map_err(|e| err(format!("chmod {shown}: {e}")))?;
            unistd::chown(dir, Some(Uid::from_raw(0)), Some(Gid::from_raw(0)))
                .map_err(|e| err(format!("chown {shown}: {e}")))?;
            Ok(())
        }
        Err(e) => Err(err(format!("chroot directory {shown}: {e}"))),
        Ok(meta) => {
            if !meta.file_type().is_dir() {
                return Err(err(format!("chroot directory {shown} is not a directory")));
            }
            if meta.uid() != 0 {
                return Err(err(format!(
                    "chroot directory {shown} is owned by uid {}, not root",
                    meta.uid()
                )));
            }
            if meta.mode() & 0o022 != 0 {
                return Err(err(format!(
                    "chroot directory {shown} is writable by group or others (mode {:o})",
                    meta.mode() & 0o7777
                )));
            }
            let mut entries =
                fs::read_dir(dir).map_err(|e| err(format!("cannot list {shown}: {e}")))?;
            if entries.next().is_some() {
                return Err(err(format!("chroot directory {shown} is not empty")));
            }
            Ok(())
        }
    }
}

/// Parent side: resolves the user the children run as. `None` picks
/// [`DEFAULT_USER`] if it exists, else [`FALLBACK_USER`]. Root is refused.
pub fn resolve_user(name: Option<&str>) -> Result<(u32, u32), PrivDropError> {
    let lookup =
        |n: &str| User::from_name(n).map_err(|e| err(format!("cannot look up user {n}: {e}")));
    let user = match name {
        Some(n) => lookup(n)?.ok_or_else(|| err(format!("no such user: {n}")))?,
        None => match lookup(DEFAULT_USER)? {
            Some(u) => u,
            None => lookup(FALLBACK_USER)?.ok_or_else(|| {
                err(format!(
                    "neither {DEFAULT_USER} nor {FALLBACK_USER} exists; use --user"
                ))
            })?,
        },
    };
    if user.uid.is_root() || user.gid.as_raw() == 0 {
        return Err(err(format!(
            "user {} has uid {} gid {}: the children must not run as root",
            user.name, user.uid, user.gid
        )));
    }
    Ok((user.uid.as_raw(), user.gid.as_raw()))
}

/// Child side: chroot, setgroups, setresgid, setresuid, then verify.
///
/// Must run as root, before the sandbox, with no directory descriptors open
/// (a directory fd would be a way out of the chroot).
pub fn drop_privileges(pd: &PrivDrop) -> Result<(), PrivDropError> {
    if pd.uid == 0 || pd.gid == 0 {
        return Err(err("refusing to run a child as uid or gid 0"));
    }
    let uid = Uid::from_raw(pd.uid);
    let gid = Gid::from_raw(pd.gid);

    // 1. chroot, then chdir so the working directory is inside it too.
    unistd::chroot(Path::new(&pd.chroot)).map_err(|e| err(format!("chroot {}: {e}", pd.chroot)))?;
    unistd::chdir("/").map_err(|e| err(format!("chdir / in chroot: {e}")))?;

    // 2. Supplementary groups first: after setresgid we could still hold
    //    root's groups (gid 0 among them), and after setresuid we could no
    //    longer change them.
    unistd::setgroups(&[gid]).map_err(|e| err(format!("setgroups: {e}")))?;
    unistd::setresgid(gid, gid, gid).map_err(|e| err(format!("setresgid: {e}")))?;

    // 3. OS steps that need root's capabilities (Linux: the bounding set can
    //    only be cleared while CAP_SETPCAP is effective, i.e. before setresuid).
    crate::sandbox::before_setuid().map_err(|e| err(e.to_string()))?;

    // 4. Real, effective and saved uid at once, so no saved-set-uid 0 remains.
    unistd::setresuid(uid, uid, uid).map_err(|e| err(format!("setresuid: {e}")))?;

    verify_dropped(uid, gid)
}

/// Checks that the drop took and cannot be undone.
fn verify_dropped(uid: Uid, gid: Gid) -> Result<(), PrivDropError> {
    if unistd::setuid(Uid::from_raw(0)).is_ok() || unistd::seteuid(Uid::from_raw(0)).is_ok() {
        return Err(err("privilege drop failed: setuid(0) still succeeds"));
    }
    if unistd::setgid(Gid::from_raw(0)).is_ok() {
        return Err(err("privilege drop failed: setgid(0) still succeeds"));
    }
    let ids = unistd::getresuid().map_err(|e| err(format!("getresuid: {e}")))?;
    let gids = unistd::getresgid().map_err(|e| err(format!("getresgid: {e}")))?;
    if [ids.real, ids.effective, ids.saved] != [uid; 3]
        || [gids.real, gids.effective, gids.saved] != [gid; 3]
    {
        return Err(err("privilege drop failed: ids not as requested"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("ike-privdrop-{}-{name}", std::process::id()))
    }

    #[test]
    fn creates_missing_dir_root_owned_0755() {
        let d = tmp("new");
        let _ = fs::remove_dir(&d);
        prepare_chroot_dir(&d).unwrap();
        let m = fs::metadata(&d).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o755);
        if unistd::geteuid().is_root() {
            assert_eq!(m.uid(), 0);
        }
        // A second call accepts what the first made.
        prepare_chroot_dir(&d).unwrap();
        fs::remove_dir(&d).unwrap();
    }

    #[test]
    fn refuses_unsafe_dirs() {
        let d = tmp("unsafe");
        let _ = fs::remove_dir_all(&d);
        fs::create_dir(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o777)).unwrap();
        let e = prepare_chroot_dir(&d).unwrap_err();
        assert!(e.0.contains("writable"), "{e}");
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(d.join("file"), b"x").unwrap();
        let e = prepare_chroot_dir(&d).unwrap_err();
        if unistd::geteuid().is_root() {
            assert!(e.0.contains("not empty"), "{e}");
        }
        fs::remove_file(d.join("file")).unwrap();
        if unistd::geteuid().is_root() {
            unistd::chown(&d, Some(Uid::from_raw(65534)), None).unwrap();
            let e = prepare_chroot_dir(&d).unwrap_err();
            assert!(e.0.contains("not root"), "{e}");
        }
        assert!(prepare_chroot_dir(Path::new("relative/dir")).is_err());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn resolve_user_refuses_root_and_unknown() {
        assert!(resolve_user(Some("root")).is_err());
        assert!(resolve_user(Some("no-such-user-ike-test")).is_err());
        let (uid, gid) = resolve_user(None).unwrap();
        assert!(uid != 0 && gid != 0);
    }
}
