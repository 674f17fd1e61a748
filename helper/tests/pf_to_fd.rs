//! pf-to-fd, run as its real binary: it hands out usable PF_KEY sockets (here from
//! the PF_KEY simulator; the kernel path is exercised in the kernel lab by
//! tests/kernel-lab/selftest.sh) and refuses peers whose uid is not allowed.

mod common;

use common::*;
use ike_ipc::pfkey_unix::connect_pfkey;
use nix::sys::socket::{recv, send, MsgFlags};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

const PF_TO_FD: &str = env!("CARGO_BIN_EXE_pf-to-fd");
/// The environment variable that turns `probe_child` into the setuid client.
const PROBE_ENV: &str = "HELPER_PF_TO_FD_PROBE";
const NOBODY: u32 = 65534;

fn start(dir: &Path, sim: &Path, extra: &[&str]) -> (Reap, std::path::PathBuf) {
    let sock = dir.join("pf.sock");
    let mut child = Command::new(PF_TO_FD)
        .args(extra)
        .arg("--sim")
        .arg(sim)
        .arg(&sock)
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("pf-to-fd.log")).unwrap(),
        ))
        .spawn()
        .unwrap();
    wait_for_log(&dir.join("pf-to-fd.log"), "listening on", &mut child);
    (Reap(child), sock)
}

/// Gets a PF_KEY descriptor from pf-to-fd and runs one REGISTER on it.
fn register_through(sock: &Path) -> Result<(), String> {
    let fd = connect_pfkey(sock).map_err(|e| e.to_string())?;
    let seq = 0x5eed;
    send(fd.as_raw_fd(), &register_esp(seq), MsgFlags::empty()).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 65536];
    let n = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()).map_err(|e| e.to_string())?;
    assert_register_reply(&buf[..n], seq);
    Ok(())
}

#[test]
fn hands_out_a_usable_pfkey_socket() {
    let dir = scratch("fd-usable");
    let (_sim, sim_sock) = start_sim(&dir);
    let (_helper, sock) = start(&dir, &sim_sock, &[]);
    let meta = std::fs::symlink_metadata(&sock).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "socket mode");
    assert_eq!(meta.uid(), nix::unistd::geteuid().as_raw());
    // twice: every connection gets its own socket
    register_through(&sock).unwrap();
    register_through(&sock).unwrap();
    let log = std::fs::read_to_string(dir.join("pf-to-fd.log")).unwrap();
    assert_eq!(log.matches("handed a PF_KEY socket").count(), 2, "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Connects as uid 65534 (a forked child that setuid()s, then execs this test binary
/// running `probe_child`) and reports whether it received a working PF_KEY socket.
fn probe_as_nobody(sock: &Path) -> bool {
    // uid 65534 may not be able to reach the build directory (e.g. a checkout under
    // /root): run a copy of this test binary from the world-readable scratch directory.
    let dir = sock.parent().unwrap();
    let exe = dir.join("probe");
    if !exe.exists() {
        std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = Command::new(&exe)
        .args(["--exact", "probe_child", "--nocapture", "--test-threads=1"])
        .env(PROBE_ENV, sock)
        .gid(NOBODY)
        .uid(NOBODY)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("PROBE:"), "the probe did not run: {text}");
    text.contains("PROBE: got a working PF_KEY socket")
}

#[test]
fn probe_child() {
    // Only does something when started by probe_as_nobody.
    let Some(sock) = std::env::var_os(PROBE_ENV) else {
        return;
    };
    match register_through(Path::new(&sock)) {
        Ok(()) => println!(
            "PROBE: got a working PF_KEY socket as uid {}",
            nix::unistd::getuid()
        ),
        Err(e) => println!("PROBE: refused as uid {}: {e}", nix::unistd::getuid()),
    }
}

#[test]
fn refuses_a_peer_with_another_uid() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("refuses_a_peer_with_another_uid needs root (setuid to 65534); not run");
        return;
    }
    let dir = scratch("fd-uid");
    let (_sim, sim_sock) = start_sim(&dir);
    // --owner nobody: the file mode lets uid 65534 connect, so only the
    // peer-credential check stands between it and the PF_KEY socket
    let (helper, sock) = start(&dir, &sim_sock, &["--owner", "65534"]);
    assert_eq!(std::fs::symlink_metadata(&sock).unwrap().uid(), NOBODY);
    assert!(
        !probe_as_nobody(&sock),
        "uid 65534 must be refused by default"
    );
    register_through(&sock).expect("root is still served");
    drop(helper);
    let log = std::fs::read_to_string(dir.join("pf-to-fd.log")).unwrap();
    assert!(log.contains("refused a connection from uid 65534"), "{log}");

    // the positive control: the same client, once allowed, gets a working socket
    let (_helper, sock) = start(
        &dir,
        &sim_sock,
        &["--owner", "65534", "--allow-uid", "65534"],
    );
    assert!(probe_as_nobody(&sock), "uid 65534 is allowed now");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn refuses_to_replace_a_file_that_is_not_a_socket() {
    let dir = scratch("fd-file");
    let path = dir.join("not-a-socket");
    std::fs::write(&path, b"precious").unwrap();
    let out = Command::new(PF_TO_FD).arg(&path).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a socket"));
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
    let _ = std::fs::remove_dir_all(&dir);
}
