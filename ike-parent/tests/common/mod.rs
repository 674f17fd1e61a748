//! Shared helpers for the process-tree tests: finding the binaries, a
//! PF_KEY stand-in server, starting a tree, reading /proc.
#![allow(dead_code)]

use ike_ipc::pfkey_unix::send_hello_stream;
use nix::sys::socket::{
    accept, bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr,
};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The directory holding ike-parent, ike-net, ike-pfkey and ike-cred. ike-parent is
/// built by cargo for this test; the other three belong to other packages, so
/// build them once into the same target directory and profile (a no-op when
/// `cargo build --workspace --bins` already ran).
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let parent = PathBuf::from(env!("CARGO_BIN_EXE_ike-parent"));
        let dir = parent.parent().expect("bin dir").to_path_buf();
        let profile_dir = dir
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or("debug")
            .to_string();
        let target = dir.parent().expect("target dir").to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "-q",
            "-p",
            "ike-net",
            "-p",
            "ike-pfkey",
            "-p",
            "ike-cred",
            "--bins",
        ])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir == "release" {
            cmd.arg("--release");
        }
        // Quiet unless it fails: other crates' warnings are not this test's.
        let out = cmd.output().expect("run cargo build");
        assert!(
            out.status.success(),
            "cargo build -p ike-net -p ike-pfkey -p ike-cred failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for b in ["ike-net", "ike-pfkey", "ike-cred"] {
            assert!(dir.join(b).is_file(), "{b} not built in {}", dir.display());
        }
        dir
    })
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A fresh scratch directory under /tmp (not the test's cwd: the chroot
/// check wants root-owned parents to be irrelevant, and paths short enough
/// for sun_path).
pub fn scratch(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("ike-t-{}-{tag}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

/// Two distinct free UDP ports on 127.0.0.1. Handed out from a counter so
/// that tests running in parallel in this process never pick the same pair
/// (asking the kernel for port 0 twice can return a port another test just
/// released), and checked by binding.
pub fn free_ports() -> (u16, u16) {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let base = 20000 + (std::process::id() % 2000) * 20;
    loop {
        let n = NEXT.fetch_add(2, std::sync::atomic::Ordering::Relaxed);
        let a = (base + n % 20000) as u16;
        let b = a.wrapping_add(1);
        let ok = |p: u16| std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok();
        if a > 1024 && b > 1024 && ok(a) && ok(b) {
            return (a, b);
        }
    }
}

/// The PF_KEY side of a test tree: the simulator (`pfkey-sim serve`) when
/// it was built, else an in-process stand-in speaking the `S` (stream)
/// hand-over of ike_ipc::pfkey_unix that holds connections open and
/// discards what arrives, like a quiet kernel.
pub struct PfkeyStandIn {
    pub path: PathBuf,
    sim: Option<Child>,
}

impl Drop for PfkeyStandIn {
    fn drop(&mut self) {
        if let Some(c) = self.sim.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl PfkeyStandIn {
    pub fn start(dir: &Path) -> Self {
        let path = dir.join("pfkey.sock");
        let sim = bin_dir().join("pfkey-sim");
        if sim.is_file() {
            let child = Command::new(&sim)
                .arg("serve")
                .arg("--socket")
                .arg(&path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start pfkey-sim");
            // Ready when a connection gets its hello (the file appears at
            // bind, before listen).
            let t0 = Instant::now();
            while ike_ipc::pfkey_unix::connect_pfkey(&path).is_err() {
                assert!(
                    t0.elapsed() < Duration::from_secs(5),
                    "pfkey-sim not serving on {}",
                    path.display()
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            return Self {
                path,
                sim: Some(child),
            };
        }
        let l = socket(
            AddressFamily::Unix,
            SockType::SeqPacket,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .unwrap();
        bind(l.as_raw_fd(), &UnixAddr::new(&path).unwrap()).unwrap();
        listen(&l, Backlog::new(8).unwrap()).unwrap();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            loop {
                let Ok(c) = accept(l.as_raw_fd()) else { return };
                // SAFETY: accept returned a fresh descriptor we own.
                let c = unsafe { OwnedFd::from_raw_fd(c) };
                if send_hello_stream(c.as_fd()).is_ok() {
                    held.push(c);
                }
            }
        });
        Self { path, sim: None }
    }
}

/// A running ike-parent -d and what the test needs to know about it.
pub struct Tree {
    pub parent: Child,
    pub log: PathBuf,
    pub control: PathBuf,
    pub chroot: PathBuf,
    pub ports: (u16, u16),
    pub net_pid: i32,
    pub pfkey_pid: i32,
    /// ike-cred, the credential process (issue 16).
    pub cred_pid: i32,
    pub dir: PathBuf,
    _pfkey: PfkeyStandIn,
}

pub struct TreeOpts<'a> {
    pub libexec: Option<&'a Path>,
    /// Configuration file text; `{chroot}` is replaced by the chroot path.
    pub conf: &'a str,
    /// Pass --chroot and --user (else the file or the defaults decide).
    pub privdrop_flags: bool,
    /// More command-line arguments.
    pub extra_args: Vec<&'a str>,
    pub env: Vec<(&'a str, &'a str)>,
    /// Wait for "running:" (both children ready) before returning.
    pub wait_ready: bool,
}

impl Default for TreeOpts<'_> {
    fn default() -> Self {
        Self {
            libexec: None,
            conf: "",
            privdrop_flags: true,
            extra_args: vec![],
            env: vec![],
            wait_ready: true,
        }
    }
}

impl Tree {
    pub fn start(tag: &str, o: TreeOpts<'_>) -> Tree {
        let dir = scratch(tag);
        let chroot = dir.join("empty");
        let control = dir.join("ctl.sock");
        let log = dir.join("parent.log");
        let conf = dir.join("ike.conf");
        std::fs::write(&conf, o.conf.replace("{chroot}", chroot.to_str().unwrap())).unwrap();
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600)).unwrap();
        let pf = PfkeyStandIn::start(&dir);
        let ports = free_ports();
        let libexec = o
            .libexec
            .map(Path::to_path_buf)
            .unwrap_or_else(|| bin_dir().to_path_buf());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ike-parent"));
        cmd.arg("-d")
            .arg("-f")
            .arg(&conf)
            .arg("--pfkey")
            .arg(format!("unix:{}", pf.path.display()))
            .args([
                "--port",
                &ports.0.to_string(),
                "--natt-port",
                &ports.1.to_string(),
            ])
            .args(["--listen", "127.0.0.1"])
            .arg("--control")
            .arg(&control)
            .arg("--libexec")
            .arg(&libexec)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        cmd.args(&o.extra_args);
        if o.privdrop_flags {
            cmd.arg("--chroot").arg(&chroot).args(["--user", "nobody"]);
        }
        for (k, v) in &o.env {
            cmd.env(k, v);
        }
        let parent = cmd.spawn().expect("start ike-parent");
        let mut t = Tree {
            parent,
            log,
            control,
            chroot,
            ports,
            net_pid: 0,
            pfkey_pid: 0,
            cred_pid: 0,
            dir,
            _pfkey: pf,
        };
        if o.wait_ready {
            let line = t
                .wait_log("running: ", Duration::from_secs(10))
                .unwrap_or_else(|| panic!("tree did not start:\n{}", t.log_text()));
            // "running: ike-net pid N, ike-pfkey pid M, ike-cred pid K"
            let pid_of = |name: &str| -> i32 {
                line.split(&format!("{name} pid "))
                    .nth(1)
                    .and_then(|rest| {
                        rest.split(|c: char| !c.is_ascii_digit())
                            .next()
                            .and_then(|w| w.parse().ok())
                    })
                    .unwrap_or_else(|| panic!("no {name} pid in {line}"))
            };
            t.net_pid = pid_of("ike-net");
            t.pfkey_pid = pid_of("ike-pfkey");
            t.cred_pid = pid_of("ike-cred");
        }
        t
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for a log line containing `needle`; returns it.
    pub fn wait_log(&mut self, needle: &str, limit: Duration) -> Option<String> {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if let Some(l) = self.log_text().lines().find(|l| l.contains(needle)) {
                return Some(l.to_string());
            }
            if let Ok(Some(_)) = self.parent.try_wait() {
                return self
                    .log_text()
                    .lines()
                    .find(|l| l.contains(needle))
                    .map(String::from);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Waits up to `limit` for the parent to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if let Ok(Some(st)) = self.parent.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = self.parent.kill();
        let _ = self.parent.wait();
        for p in [self.net_pid, self.pfkey_pid, self.cred_pid] {
            if p > 0 && alive(p) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p),
                    nix::sys::signal::SIGKILL,
                );
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A process exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/status")) {
        Ok(s) => !s
            .lines()
            .any(|l| l.starts_with("State:") && (l.contains('Z') || l.contains('X'))),
        Err(_) => false,
    }
}

/// Waits until none of `pids` is alive; true if that happened in time.
pub fn all_gone(pids: &[i32], limit: Duration) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if pids.iter().all(|p| !alive(*p)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// A field of /proc/PID/status, e.g. "CapEff".
pub fn status_field(pid: i32, key: &str) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
}
