//! From flags to a running tree: every privileged step happens here, in the
//! parent, before the children exist (DESIGN.md "Processes and trust").

use crate::childlog::LogPipe;
use crate::cli::Options;
use crate::daemon::{self, Pidfile};
use crate::sockets;
use crate::spawn::{spawn, spawn_with_args};
use crate::supervisor::{ChildProc, Supervisor};
use ike_ipc::channel::{self, Channel};
use ike_ipc::fds;
use ike_ipc::msg::{
    CredInit, CredToParent, LogLevel, NetInit, NetToParent, ParentToCred, ParentToNet,
    ParentToPfkey, PfkeyInit, PfkeyToParent, PrivDrop,
};
use std::os::fd::{AsFd, BorrowedFd, RawFd};
use std::path::PathBuf;

pub const NET_EXE: &str = "ike-net";
pub const PFKEY_EXE: &str = "ike-pfkey";
pub const CRED_EXE: &str = "ike-cred";

/// Starts the tree and supervises it. Returns the exit status.
pub fn run(opts: Options) -> Result<i32, String> {
    let level = LogLevel::from_verbosity(opts.verbosity);
    if !nix::unistd::geteuid().is_root() {
        return Err("ike-parent must be started as root".into());
    }
    let config = crate::settings::load(&opts)?;

    // The command line wins over `set chroot` / `set user` in the file,
    // which win over the built-in defaults.
    let chroot = match (&config.global.chroot, opts.chroot_given) {
        (Some(c), false) => PathBuf::from(c),
        _ => opts.chroot.clone(),
    };
    let user = opts.user.clone().or_else(|| config.global.user.clone());
    ike_ipc::privdrop::prepare_chroot_dir(&chroot).map_err(|e| e.to_string())?;
    let (uid, gid) = ike_ipc::privdrop::resolve_user(user.as_deref()).map_err(|e| e.to_string())?;
    let privdrop = PrivDrop {
        chroot: chroot
            .to_str()
            .ok_or("the chroot directory must be valid UTF-8")?
            .to_string(),
        uid,
        gid,
    };
    let libexec = libexec_dir(&opts)?;
    let net_exe = libexec.join(NET_EXE);
    let pfkey_exe = libexec.join(PFKEY_EXE);
    let cred_exe = libexec.join(CRED_EXE);
    for exe in [&net_exe, &pfkey_exe, &cred_exe] {
        if !exe.is_file() {
            return Err(format!("{} not found (see --libexec)", exe.display()));
        }
    }

    let pfkey_sock = sockets::open_pfkey(&opts.pfkey)?;
    // --pfkey-dialect: only towards pfkey-sim, whose stream is a unix
    // socket; pf-to-fd hands over a real PF_KEY socket, refuse that.
    let pfkey_args: Vec<&str> = match &opts.pfkey_dialect {
        Some(d) => {
            if nix::sys::socket::getsockname::<nix::sys::socket::UnixAddr>(
                std::os::fd::AsRawFd::as_raw_fd(&pfkey_sock),
            )
            .is_err()
            {
                return Err(format!(
                    "--pfkey-dialect {d}: the PF_KEY descriptor is a kernel socket, not pfkey-sim"
                ));
            }
            vec!["--dialect", d.as_str()]
        }
        // The broker speaks XFRM on the netlink socket.
        None if opts.pfkey == crate::cli::PfkeySource::Xfrm => vec!["--kernel", "xfrm"],
        None => Vec::new(),
    };
    let listen = sockets::listen_addrs(&opts.listen, opts.port, opts.natt_port);
    if listen.len() > fds::NET_UDP_MAX {
        return Err(format!(
            "too many --listen addresses ({} sockets)",
            listen.len()
        ));
    }
    let mut udp = Vec::with_capacity(listen.len());
    for l in &listen {
        let s = sockets::bind_udp(l.addr)?;
        // IKE must never be caught by our own IPsec policies (see bypass.rs).
        if let crate::bypass::Outcome::NoKernelIpsec(e) = crate::bypass::exempt(s.as_fd(), l.addr)?
        {
            log::warn!(
                "no IPsec bypass on the UDP socket {}: the kernel refused it ({e}); \
                 fine without kernel IPsec (e.g. with --pfkey unix: and the simulator)",
                l.addr
            );
        }
        if l.natt {
            match sockets::enable_esp_in_udp(s.as_fd(), l.addr) {
                sockets::EspInUdp::Enabled => {
                    log::debug!("{}: the kernel decapsulates ESP-in-UDP", l.addr)
                }
                sockets::EspInUdp::Unavailable(e) => log::warn!(
                    "{}: no ESP-in-UDP decapsulation, ESP from peers behind NAT will be \
                     dropped: {e}",
                    l.addr
                ),
            }
        }
        udp.push(s);
    }
    let control = sockets::bind_control(&opts.control)?;
    let _control_path = RemoveOnDrop(opts.control.clone());

    if !opts.foreground {
        daemon::daemonize()?;
    }
    let _pidfile = if !opts.foreground || opts.pidfile_given {
        Some(Pidfile::create(&opts.pidfile)?)
    } else {
        None
    };

    let (net_parent, net_child) = channel::raw_pair().map_err(|e| format!("socketpair: {e}"))?;
    let (pfkey_parent, pfkey_child) =
        channel::raw_pair().map_err(|e| format!("socketpair: {e}"))?;
    let (peer_net, peer_pfkey) = channel::raw_pair().map_err(|e| format!("socketpair: {e}"))?;
    let (cred_parent, cred_child) = channel::raw_pair().map_err(|e| format!("socketpair: {e}"))?;
    let (net_cred, cred_net) = channel::raw_pair().map_err(|e| format!("socketpair: {e}"))?;

    // The credential process first: ike-net's requests wait in its
    // channel until it reads them.
    let mut cred_proc = spawn(
        &cred_exe,
        &[
            (cred_child.as_fd(), fds::PARENT),
            (cred_net.as_fd(), fds::PEER),
        ],
    )
    .map_err(|e| format!("cannot start {}: {e}", cred_exe.display()))?;

    let pfkey_proc = spawn_with_args(
        &pfkey_exe,
        &pfkey_args,
        &[
            (pfkey_child.as_fd(), fds::PARENT),
            (peer_pfkey.as_fd(), fds::PEER),
            (pfkey_sock.as_fd(), fds::PFKEY_SOCKET),
        ],
    )
    .map_err(|e| format!("cannot start {}: {e}", pfkey_exe.display()));
    let mut pfkey_proc = match pfkey_proc {
        Ok(c) => c,
        Err(e) => {
            let _ = cred_proc.kill();
            let _ = cred_proc.wait();
            return Err(e);
        }
    };
    let mut net_fds: Vec<(BorrowedFd<'_>, RawFd)> = vec![
        (net_child.as_fd(), fds::PARENT),
        (peer_net.as_fd(), fds::PEER),
        (control.as_fd(), fds::NET_CONTROL),
        (net_cred.as_fd(), fds::NET_CRED),
    ];
    for (i, s) in udp.iter().enumerate() {
        net_fds.push((s.as_fd(), fds::NET_UDP_FIRST + i as RawFd));
    }
    let mut net_proc = match spawn(&net_exe, &net_fds) {
        Ok(c) => c,
        Err(e) => {
            for c in [&mut pfkey_proc, &mut cred_proc] {
                let _ = c.kill();
                let _ = c.wait();
            }
            return Err(format!("cannot start {}: {e}", net_exe.display()));
        }
    };
    // The children hold their ends now; ours would only keep sockets alive
    // after a child died (and hide the closed channel).
    drop(net_fds);
    drop((
        net_child,
        pfkey_child,
        peer_net,
        peer_pfkey,
        pfkey_sock,
        control,
        udp,
    ));
    drop((cred_child, cred_net, net_cred));
    log::info!(
        "started {} (pid {}), {} (pid {}) and {} (pid {}) as uid {uid} gid {gid} in {}",
        NET_EXE,
        net_proc.id(),
        PFKEY_EXE,
        pfkey_proc.id(),
        CRED_EXE,
        cred_proc.id(),
        privdrop.chroot
    );

    let net_log = take_log(&mut net_proc, NET_EXE)?;
    let pfkey_log = take_log(&mut pfkey_proc, PFKEY_EXE)?;
    let cred_log = take_log(&mut cred_proc, CRED_EXE)?;
    let net_ch: Channel<ParentToNet, NetToParent> = Channel::from_fd(net_parent);
    let pfkey_ch: Channel<ParentToPfkey, PfkeyToParent> = Channel::from_fd(pfkey_parent);
    let net = ChildProc::new(NET_EXE, net_proc, net_ch, net_log);
    let pfkey = ChildProc::new(PFKEY_EXE, pfkey_proc, pfkey_ch, pfkey_log);
    let cred_ch: Channel<ParentToCred, CredToParent> = Channel::from_fd(cred_parent);
    let cred = ChildProc::new(CRED_EXE, cred_proc, cred_ch, cred_log);

    let started_with = (config.global.user.clone(), config.global.chroot.clone());
    let broker_config = crate::settings::broker_view(&config);
    let sent_pfkey = pfkey.ch.send(&ParentToPfkey::Init(Box::new(PfkeyInit {
        privdrop: privdrop.clone(),
        log_level: level,
        config: broker_config,
        natt_port: opts.natt_port,
    })));
    // The secrets go to ike-cred alone; ike-net gets the policy names and
    // public parts (issue 16).
    let sent_cred = cred.ch.send(&ParentToCred::Init(Box::new(CredInit {
        privdrop: privdrop.clone(),
        log_level: level,
        config: crate::settings::cred_view(&config),
    })));
    let sent_net = net.ch.send(&ParentToNet::Init(Box::new(NetInit {
        privdrop,
        log_level: level,
        listen,
        control_uid: 0,
        config: crate::settings::net_view(&config),
    })));
    drop(config);
    let supervisor = Supervisor::new(opts, started_with, net, pfkey, cred)?;
    if let Err(e) = sent_pfkey.and(sent_net).and(sent_cred) {
        // The supervisor sees the child's exit and names it; log this too.
        log::error!("cannot send Init to a child: {e}");
    }
    Ok(supervisor.run())
}

fn take_log(child: &mut std::process::Child, name: &'static str) -> Result<LogPipe, String> {
    let pipe = child.stderr.take().ok_or("child has no log pipe")?;
    LogPipe::new(name, pipe).map_err(|e| format!("{name} log pipe: {e}"))
}

/// --libexec; else the directory of our own executable if the children
/// are there (a build tree); else `<that>/../libexec/ike` (the installed
/// layout: sbin/ike-parent, libexec/ike/ike-net).
pub(crate) fn libexec_dir(opts: &Options) -> Result<PathBuf, String> {
    if let Some(d) = &opts.libexec {
        return Ok(d.clone());
    }
    let me = std::env::current_exe().map_err(|e| format!("cannot find our own executable: {e}"))?;
    let dir = me
        .parent()
        .ok_or("cannot find our own directory; use --libexec")?;
    let installed = dir.join("../libexec/ike");
    if !dir.join(NET_EXE).is_file() && installed.join(NET_EXE).is_file() {
        return Ok(installed);
    }
    Ok(dir.to_path_buf())
}

/// Removes the control socket file when the parent exits.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
