//! Malformed messages on every channel: the receiver reports an error and
//! fails closed, never panics (issue 2 "Done when").
//!
//! - child -> parent: fake children (shell scripts in a --libexec dir) write
//!   one bad packet on fd 3; the real parent must stop the tree.
//! - parent -> child and peer -> child: the real ike-net and ike-pfkey,
//!   started by the test with their descriptors at the fixed numbers, get a
//!   bad packet as first message, or after a valid Init, on fd 3 or fd 4.

mod common;

use common::*;
use ike_ipc::channel::{raw_pair, recv_packet, send_packet};
use ike_ipc::config::Config;
use ike_ipc::envelope::MAX_MESSAGE;
use ike_ipc::fds;
use ike_ipc::msg::{
    CredInit, LogLevel, NetInit, ParentToCred, ParentToNet, ParentToPfkey, PfkeyInit, PrivDrop,
};
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// (name, bytes, what the error message must mention)
fn bad_packets() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    vec![
        ("garbage", b"this is not an envelope".to_vec(), "bad magic"),
        ("truncated", b"ik".to_vec(), "truncated"),
        (
            "wrong-version",
            b"ik\x00\xff\x00".to_vec(),
            "version mismatch",
        ),
        (
            "bad-payload",
            b"ik\x00\x02\x00\xff\xff\xff".to_vec(),
            "undecodable payload",
        ),
        ("oversized", vec![0u8; MAX_MESSAGE + 1000], "oversized"),
    ]
}

/// Shell that writes `bytes` as one packet to fd 3 (dd: one write(2), so
/// one SOCK_SEQPACKET packet), then waits.
fn speaker_script(dir: &Path, bytes: &[u8]) -> String {
    let payload = dir.join("payload");
    std::fs::write(&payload, bytes).unwrap();
    format!(
        "#!/bin/sh\n/bin/dd if={} bs={} count=1 2>/dev/null >&3\nexec /bin/sleep 30\n",
        payload.display(),
        bytes.len()
    )
}

fn write_exe(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn parent_rejects(speaker: &str) {
    for (case, bytes, mention) in bad_packets() {
        let libexec = scratch(&format!("fake-{speaker}-{case}"));
        write_exe(&libexec.join(speaker), &speaker_script(&libexec, &bytes));
        for quiet in ["ike-net", "ike-pfkey", "ike-cred"] {
            if quiet != speaker {
                write_exe(&libexec.join(quiet), "#!/bin/sh\nexec /bin/sleep 30\n");
            }
        }
        let mut t = Tree::start(
            &format!("g-{speaker}-{case}"),
            TreeOpts {
                libexec: Some(&libexec),
                wait_ready: false,
                ..TreeOpts::default()
            },
        );
        let st = t
            .wait_exit(Duration::from_secs(3))
            .unwrap_or_else(|| panic!("{speaker}/{case}: parent still running\n{}", t.log_text()));
        let log = t.log_text();
        assert_eq!(st.code(), Some(1), "{speaker}/{case}: {st:?}\n{log}");
        let line = log
            .lines()
            .find(|l| l.contains("fail closed:"))
            .unwrap_or_else(|| panic!("{speaker}/{case}: no fail-closed line\n{log}"));
        assert!(
            line.contains(&format!("{speaker} (pid")) && line.contains("undecodable message"),
            "{speaker}/{case}: {line}"
        );
        assert!(
            line.contains(mention),
            "{speaker}/{case}: {line} lacks {mention:?}"
        );
        assert!(!log.contains("panicked"), "{log}");
        let _ = std::fs::remove_dir_all(&libexec);
    }
}

#[test]
fn parent_fails_closed_on_bad_packets_from_ike_net() {
    if !is_root() {
        return;
    }
    parent_rejects("ike-net");
}

#[test]
fn parent_fails_closed_on_bad_packets_from_ike_pfkey() {
    if !is_root() {
        return;
    }
    parent_rejects("ike-pfkey");
}

#[test]
fn parent_fails_closed_on_bad_packets_from_ike_cred() {
    if !is_root() {
        return;
    }
    parent_rejects("ike-cred");
}

/// A real child started by hand: our ends of its channels and its log.
struct Solo {
    child: std::process::Child,
    parent: OwnedFd,
    peer: OwnedFd,
    _keep: Vec<OwnedFd>,
    chroot: std::path::PathBuf,
    dir: std::path::PathBuf,
}

impl Drop for Solo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Solo {
    fn start(name: &str) -> Solo {
        let dir = scratch(&format!("solo-{name}"));
        let chroot = dir.join("empty");
        ike_ipc::privdrop::prepare_chroot_dir(&chroot).unwrap();
        let (parent, parent_child) = raw_pair().unwrap();
        let (peer, peer_child) = raw_pair().unwrap();
        let (fd5, fd5_keep) = if name == "ike-net" {
            let l = ike_parent::sockets::bind_control(&dir.join("ctl.sock")).unwrap();
            (l, None)
        } else {
            let (a, b) = raw_pair().unwrap();
            (a, Some(b))
        };
        // ike-net's channel to ike-cred (issue 16).
        let (cred, cred_child) = raw_pair().unwrap();
        let mut fds: Vec<(BorrowedFd<'_>, RawFd)> = vec![
            (parent_child.as_fd(), fds::PARENT),
            (peer_child.as_fd(), fds::PEER),
        ];
        match name {
            "ike-net" => {
                fds.push((fd5.as_fd(), 5));
                fds.push((cred_child.as_fd(), fds::NET_CRED));
            }
            "ike-pfkey" => fds.push((fd5.as_fd(), 5)),
            _ => {}
        }
        let child = ike_parent::spawn::spawn(&bin_dir().join(name), &fds).unwrap();
        drop(fds);
        let mut keep = vec![cred];
        keep.extend(fd5_keep);
        Solo {
            child,
            parent,
            peer,
            _keep: keep,
            chroot,
            dir,
        }
    }

    fn init(&self, name: &str) {
        let pd = PrivDrop {
            chroot: self.chroot.to_str().unwrap().into(),
            uid: 65534,
            gid: 65534,
        };
        let bytes = if name == "ike-net" {
            ike_ipc::envelope::encode(&ParentToNet::Init(Box::new(NetInit {
                privdrop: pd,
                log_level: LogLevel::Info,
                listen: vec![],
                control_uid: 0,
                config: Config::default(),
            })))
        } else if name == "ike-cred" {
            ike_ipc::envelope::encode(&ParentToCred::Init(Box::new(CredInit {
                privdrop: pd,
                log_level: LogLevel::Info,
                config: Config::default(),
            })))
        } else {
            ike_ipc::envelope::encode(&ParentToPfkey::Init(Box::new(PfkeyInit {
                privdrop: pd,
                log_level: LogLevel::Info,
                config: Config::default(),
                natt_port: 4500,
            })))
        }
        .unwrap();
        send_packet(self.parent.as_fd(), &bytes, &[]).unwrap();
        // Ready comes back as one packet.
        let mut buf = vec![0u8; 256];
        let (n, _) = recv_packet(self.parent.as_fd(), &mut buf).unwrap();
        let ready = &buf[..n];
        assert_eq!(&ready[..5], b"ik\x00\x02\x00", "not an envelope: {ready:?}");
        assert_eq!(
            ready.len(),
            6,
            "Ready is variant 0 with no payload: {ready:?}"
        );
    }

    /// Waits for the exit; returns (status, stderr).
    fn finish(mut self) -> (std::process::ExitStatus, String) {
        let t0 = Instant::now();
        let st = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            if t0.elapsed() > Duration::from_secs(3) {
                let _ = self.child.kill();
                panic!("child did not exit on a bad packet");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (st, err)
    }
}

fn child_rejects(name: &str) {
    let peer_label = if name == "ike-net" {
        "broker channel"
    } else {
        "ike-net channel"
    };
    for (case, bytes, mention) in bad_packets() {
        // Sends the packet to a started child, on the parent channel or
        // the one between the children; the child must exit 1 saying
        // `says` and naming what is wrong, without a panic.
        let refused = |when: &str, s: Solo, to_peer: bool, says: &str| {
            let fd = if to_peer { &s.peer } else { &s.parent };
            send_packet(fd.as_fd(), &bytes, &[]).unwrap();
            let (st, err) = s.finish();
            assert_eq!(st.code(), Some(1), "{name}/{case} {when}: {st:?}\n{err}");
            assert!(err.contains(says), "{name}/{case}: {err}");
            assert!(err.contains(mention), "{name}/{case}: {err}");
            assert!(!err.contains("panicked"), "{err}");
        };
        // 1. As the first message.
        refused(
            "first",
            Solo::start(name),
            false,
            "first message from the parent",
        );

        // 2. After Init and Ready, on the parent channel.
        let s = Solo::start(name);
        s.init(name);
        refused("running", s, false, "undecodable message from the parent");

        // 3. After Init and Ready, on the channel between the children.
        let s = Solo::start(name);
        s.init(name);
        refused("peer", s, true, peer_label);
    }
}

#[test]
fn ike_net_fails_closed_on_bad_packets() {
    if !is_root() {
        return;
    }
    child_rejects("ike-net");
}

#[test]
fn ike_pfkey_fails_closed_on_bad_packets() {
    if !is_root() {
        return;
    }
    child_rejects("ike-pfkey");
}

#[test]
fn ike_cred_fails_closed_on_bad_packets() {
    if !is_root() {
        return;
    }
    child_rejects("ike-cred");
}

#[test]
fn children_refuse_to_start_without_their_descriptors() {
    // Started by hand, not by ike-parent: fd 3 is not a channel.
    for name in ["ike-net", "ike-pfkey", "ike-cred"] {
        let out = std::process::Command::new(bin_dir().join(name))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("must be started by ike-parent"),
            "{name}: {err}"
        );
    }
}
