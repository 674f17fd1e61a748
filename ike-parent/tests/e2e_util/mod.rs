//! Shared harness of the end-to-end suites (`e2e_loopback`, `e2e_certs`):
//! one complete daemon (ike-parent with ike-net and ike-pfkey, as root,
//! privileges dropped) with its own `pfkey-sim` as the kernel, driven and
//! observed from the outside only (`ike-ctl`, `pfkey-sim dump`, the log).
#![allow(dead_code)]

use crate::common::{bin_dir, scratch};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Skips the test (returns) unless it runs as root, which CI does.
#[allow(unused_macros)]
macro_rules! require_root {
    () => {
        if !common::is_root() {
            eprintln!("skipped: needs root (CI runs as root)");
            return;
        }
    };
}

/// Deadline of every wait; waits poll and return as soon as the state is
/// reached, so a generous one costs nothing when the machine is idle and
/// keeps a loaded CI machine from failing the suite.
pub const LIMIT: Duration = Duration::from_secs(30);
pub const ALICE: &str = "127.0.0.1";
pub const BOB: &str = "127.0.0.2";

/// One daemon and its simulated kernel.
pub struct Daemon {
    pub name: &'static str,
    pub addr: &'static str,
    /// The PF_KEY dialect of the simulator and the broker (`linux`,
    /// `freebsd`, `openbsd`): pfkey-sim `--dialect`, ike-parent
    /// `--pfkey-dialect`.
    pub dialect: &'static str,
    pub dir: PathBuf,
    pub conf: PathBuf,
    pub parent: Option<Child>,
    sim: Option<Child>,
}

impl Daemon {
    pub fn start(name: &'static str, addr: &'static str, conf: &str, ports: (u16, u16)) -> Daemon {
        Self::start_with(name, addr, conf, ports, |_| {})
    }

    /// `setup` prepares the directory (keys next to ike.conf) first.
    pub fn start_with(
        name: &'static str,
        addr: &'static str,
        conf: &str,
        ports: (u16, u16),
        setup: impl FnOnce(&Path),
    ) -> Daemon {
        let dir = scratch(name);
        setup(&dir);
        write_conf(&dir.join("ike.conf"), conf);
        Self::start_in(name, addr, dir, ports)
    }

    /// `dir` already holds ike.conf and its key and certificate files.
    pub fn start_in(
        name: &'static str,
        addr: &'static str,
        dir: PathBuf,
        ports: (u16, u16),
    ) -> Daemon {
        Self::start_in_dialect(name, addr, dir, ports, "linux")
    }

    /// A daemon whose broker speaks `dialect` to a simulator of that dialect.
    pub fn start_dialect(
        name: &'static str,
        addr: &'static str,
        conf: &str,
        ports: (u16, u16),
        dialect: &'static str,
    ) -> Daemon {
        let dir = scratch(name);
        write_conf(&dir.join("ike.conf"), conf);
        Self::start_in_dialect(name, addr, dir, ports, dialect)
    }

    pub fn start_in_dialect(
        name: &'static str,
        addr: &'static str,
        dir: PathBuf,
        ports: (u16, u16),
        dialect: &'static str,
    ) -> Daemon {
        let sim = Command::new(bin_dir().join("pfkey-sim"))
            .arg("serve")
            .args(["--dialect", dialect])
            .arg("--socket")
            .arg(dir.join("pfkey.sock"))
            .arg("--control")
            .arg(dir.join("sim.sock"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("sim.log")).unwrap())
            .spawn()
            .expect("start pfkey-sim");
        let t0 = Instant::now();
        while !dir.join("sim.sock").exists() || !dir.join("pfkey.sock").exists() {
            assert!(t0.elapsed() < LIMIT, "pfkey-sim for {name} did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        let conf = dir.join("ike.conf");
        let parent = Command::new(env!("CARGO_BIN_EXE_ike-parent"))
            .arg("-d")
            .arg("-f")
            .arg(&conf)
            .arg("--pfkey")
            .arg(format!("unix:{}", dir.join("pfkey.sock").display()))
            .args(["--pfkey-dialect", dialect])
            .args(["--listen", addr])
            .args(["--port", &ports.0.to_string()])
            .args(["--natt-port", &ports.1.to_string()])
            .arg("--control")
            .arg(dir.join("ctl.sock"))
            .arg("--chroot")
            .arg(dir.join("empty"))
            .args(["--user", "nobody"])
            .arg("--libexec")
            .arg(bin_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("daemon.log")).unwrap())
            .spawn()
            .expect("start ike-parent");
        let mut d = Daemon {
            name,
            addr,
            dialect,
            dir,
            conf,
            parent: Some(parent),
            sim: Some(sim),
        };
        d.wait_log("broker ready");
        d
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }

    /// Waits for a log line containing `needle` and returns it; fails
    /// early when the daemon exited.
    pub fn wait_log(&mut self, needle: &str) -> String {
        let t0 = Instant::now();
        loop {
            if let Some(l) = self.log().lines().find(|l| l.contains(needle)) {
                return l.to_string();
            }
            if let Some(st) = self
                .parent
                .as_mut()
                .and_then(|p| p.try_wait().ok().flatten())
            {
                panic!("{} exited ({st:?}):\n{}", self.name, self.log());
            }
            assert!(
                t0.elapsed() < LIMIT,
                "{}: no '{needle}' in the log:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `ike-ctl -s SOCKET ARGS`; stdout on success.
    pub fn ctl(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_ike-ctl"))
            .arg("-s")
            .arg(self.dir.join("ctl.sock"))
            .args(args)
            .output()
            .expect("run ike-ctl");
        assert!(
            out.status.success(),
            "{}: ike-ctl {args:?}: {}\n{}",
            self.name,
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn show_sa(&self) -> Value {
        let text = self.ctl(&["show", "sa", "--json"]);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    /// The simulator's SAD and SPD.
    pub fn kernel(&self) -> Value {
        let out = Command::new(bin_dir().join("pfkey-sim"))
            .arg("dump")
            .arg("--control")
            .arg(self.dir.join("sim.sock"))
            .arg("--json")
            .output()
            .expect("run pfkey-sim dump");
        assert!(out.status.success(), "pfkey-sim dump for {}", self.name);
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn rewrite_conf(&self, conf: &str) {
        write_conf(&self.conf, conf);
    }

    pub fn sigterm(&mut self) -> ExitStatus {
        let p = self.parent.as_mut().unwrap();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(p.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let t0 = Instant::now();
        loop {
            if let Some(st) = p.try_wait().unwrap() {
                self.parent = None;
                return st;
            }
            assert!(t0.elapsed() < LIMIT, "{} did not stop", self.name);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        for c in [self.parent.as_mut(), self.sim.as_mut()]
            .into_iter()
            .flatten()
        {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- {} log:\n{}", self.name, self.log());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A PSK config must be 0600 or the parser refuses it.
pub fn write_conf(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}
