//! The parent after start-up: it only supervises. A child that exits, is
//! killed, says Fatal or sends anything undecodable stops the whole tree
//! (fail closed) with a log line naming the cause and a non-zero exit.
//! SIGTERM/SIGINT stop the children by message; SIGHUP reloads.

use crate::childlog::{Drained, LogPipe};
use crate::cli::Options;
use ike_ipc::channel::{Channel, ChannelError};
use ike_ipc::mio::{unix::SourceFd, Events, Interest, Poll, Registry, Token};
use ike_ipc::msg::{
    CredToParent, NetToParent, ParentToCred, ParentToNet, ParentToPfkey, PfkeyToParent,
};
use ike_ipc::signals::{Signals, SIGCHLD, SIGHUP, SIGINT, SIGTERM};
use ike_ipc::timers::Timers;
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

const NET_CH: Token = Token(0);
const PFKEY_CH: Token = Token(1);
const NET_LOG: Token = Token(2);
const PFKEY_LOG: Token = Token(3);
const SIGNALS: Token = Token(4);
const CRED_CH: Token = Token(5);
const CRED_LOG: Token = Token(6);

/// How long the children get to say Ready after start.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long children get to exit after Shutdown before SIGKILL. An upper
/// bound only: the parent exits as soon as its children have. ike-pfkey
/// deletes every SA and policy it installed before it exits; 20,000 SAs
/// took 3.6 to 3.9 s on a loaded 2-core machine (rfc/engine-notes.md), so
/// 5 s would kill it half-way through at 30,000 and leave SAs behind. 20 s
/// covers about 100,000, and stays under rc.d(8)'s default daemon_timeout
/// of 30 s on OpenBSD, after which rcctl gives up on the stop.
const ORDERLY_GRACE: Duration = Duration::from_secs(20);
/// After a failure the survivors get less: the tree must be gone quickly.
const FAILURE_GRACE: Duration = Duration::from_millis(1000);
/// At most this many messages from one child per readiness event: a child
/// cannot keep the parent busy (and blind to the other child and to
/// signals) by sending without pause.
const MAX_MESSAGES_PER_EVENT: usize = 64;
/// A closed channel with a live process behind it is a failure after this.
const CLOSED_GRACE: Duration = Duration::from_millis(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    ReadyDeadline,
    KillDeadline,
    ClosedCheck,
}

/// One supervised child.
pub struct ChildProc<Tx, Rx> {
    pub name: &'static str,
    pub child: Child,
    pub ch: Channel<Tx, Rx>,
    pub log: LogPipe,
    ch_open: bool,
    ready: bool,
    status: Option<ExitStatus>,
    last_fatal: Option<String>,
}

/// Which child a channel event belongs to.
#[derive(Clone, Copy)]
enum Which {
    Net,
    Pfkey,
    Cred,
}

/// How a batch of a child's messages ended (`ChildProc::drain`).
enum DrainEnd {
    WouldBlock,
    Capped,
    Closed,
    Misbehaved(String),
}

impl<Tx, Rx> ChildProc<Tx, Rx> {
    pub fn new(name: &'static str, child: Child, ch: Channel<Tx, Rx>, log: LogPipe) -> Self {
        Self {
            name,
            child,
            ch,
            log,
            ch_open: true,
            ready: false,
            status: None,
            last_fatal: None,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn alive(&self) -> bool {
        self.status.is_none()
    }

    fn kill(&mut self) {
        if self.alive() {
            let _ = self.child.kill();
        }
    }

    /// Reaps the child if it has exited; returns the status the first time.
    fn reap(&mut self) -> Option<ExitStatus> {
        if self.status.is_some() {
            return None;
        }
        match self.child.try_wait() {
            Ok(Some(st)) => {
                self.status = Some(st);
                Some(st)
            }
            _ => None,
        }
    }

    /// Reads up to [`MAX_MESSAGES_PER_EVENT`] messages, and says what
    /// ended the batch. Descriptors are never expected from a child, so
    /// any is a protocol violation (and is closed on drop).
    fn drain(&mut self) -> (Vec<Rx>, DrainEnd)
    where
        Rx: ike_ipc::serde::de::DeserializeOwned,
        Tx: ike_ipc::serde::Serialize,
    {
        let mut msgs = Vec::new();
        for _ in 0..MAX_MESSAGES_PER_EVENT {
            match self.ch.recv() {
                Ok(got) if !got.fds.is_empty() => {
                    return (msgs, DrainEnd::Misbehaved("sent descriptors".into()))
                }
                Ok(got) => msgs.push(got.msg),
                Err(e) if e.is_would_block() => return (msgs, DrainEnd::WouldBlock),
                Err(ChannelError::Closed) => return (msgs, DrainEnd::Closed),
                Err(e) => {
                    return (
                        msgs,
                        DrainEnd::Misbehaved(format!("undecodable message: {e}")),
                    )
                }
            }
        }
        (msgs, DrainEnd::Capped)
    }

    /// A child's last words before it exits, kept for the exit report.
    fn note_fatal(&mut self, m: &str) {
        // The child's words: untrusted text.
        let m = ike_ipc::childlog::sanitize(m.as_bytes());
        log::error!("{}: fatal: {m}", self.name);
        self.last_fatal = Some(m);
    }

    fn close_channel(&mut self, reg: &Registry) {
        if self.ch_open {
            self.ch_open = false;
            let _ = reg.deregister(&mut SourceFd(&self.ch.as_raw_fd()));
        }
    }

    fn describe_exit(&self, st: ExitStatus) -> String {
        let mut s = format!("{} (pid {}) {}", self.name, self.pid(), describe_status(st));
        if let Some(f) = &self.last_fatal {
            s.push_str(&format!(": {f}"));
        }
        s
    }
}

/// "exited with status 1", "killed by signal SIGSYS (...)".
pub fn describe_status(st: ExitStatus) -> String {
    if let Some(code) = st.code() {
        return format!("exited with status {code}");
    }
    match st.signal() {
        Some(sig) => {
            let name = nix::sys::signal::Signal::try_from(sig)
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|_| format!("signal {sig}"));
            let why = if sig == libc::SIGSYS {
                " (a system call outside its seccomp allow-list)"
            } else {
                ""
            };
            format!("killed by signal {name}{why}")
        }
        None => "ended in an unknown way".into(),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    Running,
    /// Stopping; `failed` decides the exit status.
    Stopping {
        failed: bool,
    },
}

pub struct Supervisor {
    poll: Poll,
    signals: Signals,
    timers: Timers<Timer>,
    state: State,
    net: ChildProc<ParentToNet, NetToParent>,
    pfkey: ChildProc<ParentToPfkey, PfkeyToParent>,
    /// ike-cred, the credential process (issue 16).
    cred: ChildProc<ParentToCred, CredToParent>,
    opts: Options,
    /// `set user` and `set chroot` as the children were started with: a
    /// reload cannot change them (the children dropped privileges already).
    started_with: (Option<String>, Option<String>),
    /// A reload asked for while the previous configuration was still going
    /// out: done once it is out (back-pressure; a burst of `ike-ctl reload`
    /// costs one more reload, not one queued configuration each).
    reload_deferred: Option<&'static str>,
}

impl Supervisor {
    pub fn new(
        opts: Options,
        started_with: (Option<String>, Option<String>),
        net: ChildProc<ParentToNet, NetToParent>,
        pfkey: ChildProc<ParentToPfkey, PfkeyToParent>,
        cred: ChildProc<ParentToCred, CredToParent>,
    ) -> Result<Self, String> {
        let poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
        let reg = poll.registry();
        for (fd, tok) in [
            (Some(net.ch.as_raw_fd()), NET_CH),
            (Some(pfkey.ch.as_raw_fd()), PFKEY_CH),
            (net.log.raw_fd(), NET_LOG),
            (pfkey.log.raw_fd(), PFKEY_LOG),
            (Some(cred.ch.as_raw_fd()), CRED_CH),
            (cred.log.raw_fd(), CRED_LOG),
        ] {
            if let Some(fd) = fd {
                // The channels also for WRITABLE: a configuration larger
                // than the socket buffer goes out in fragments as the child
                // reads (see `flush_channels`).
                let interest = if tok == NET_CH || tok == PFKEY_CH || tok == CRED_CH {
                    Interest::READABLE | Interest::WRITABLE
                } else {
                    Interest::READABLE
                };
                reg.register(&mut SourceFd(&fd), tok, interest)
                    .map_err(|e| format!("register: {e}"))?;
            }
        }
        net.ch.set_nonblocking(true).map_err(|e| e.to_string())?;
        pfkey.ch.set_nonblocking(true).map_err(|e| e.to_string())?;
        cred.ch.set_nonblocking(true).map_err(|e| e.to_string())?;
        let mut signals = Signals::new(&[SIGCHLD, SIGTERM, SIGINT, SIGHUP])?;
        reg.register(&mut signals, SIGNALS, Interest::READABLE)
            .map_err(|e| format!("signal pipe: {e}"))?;
        let mut timers = Timers::new();
        timers.arm(Instant::now() + READY_TIMEOUT, Timer::ReadyDeadline);
        Ok(Self {
            poll,
            signals,
            timers,
            state: State::Running,
            net,
            pfkey,
            cred,
            opts,
            started_with,
            reload_deferred: None,
        })
    }

    /// Runs until both children are gone. Returns the process exit status:
    /// 0 after an orderly stop, 1 after a failure.
    pub fn run(mut self) -> i32 {
        let mut events = Events::with_capacity(16);
        // A child may have died between spawn and here; SIGCHLD would be lost.
        self.reap_all();
        loop {
            if !self.net.alive() && !self.pfkey.alive() && !self.cred.alive() {
                break;
            }
            let timeout = self.timers.timeout(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    log::error!("poll: {e}");
                    self.fail("the parent's event loop failed".into());
                }
                continue;
            }
            for ev in events.iter() {
                match ev.token() {
                    NET_CH => self.on_net(),
                    PFKEY_CH => self.on_pfkey(),
                    NET_LOG => drain_log(self.poll.registry(), &mut self.net.log, NET_LOG),
                    PFKEY_LOG => drain_log(self.poll.registry(), &mut self.pfkey.log, PFKEY_LOG),
                    CRED_CH => self.on_cred(),
                    CRED_LOG => drain_log(self.poll.registry(), &mut self.cred.log, CRED_LOG),
                    SIGNALS => self.on_signals(),
                    Token(_) => {}
                }
            }
            self.reap_all();
            for t in self.timers.expired(Instant::now()) {
                self.on_timer(t);
            }
            self.flush_channels();
        }
        // Last words of the children (their "fatal: ..." lines).
        self.net.log.drain();
        self.pfkey.log.drain();
        self.cred.log.drain();
        match self.state {
            State::Stopping { failed: false } => {
                log::info!("stopped");
                0
            }
            _ => 1,
        }
    }

    /// Fail closed: log the cause, stop everything, exit non-zero.
    fn fail(&mut self, cause: String) {
        match self.state {
            State::Running => {
                log::error!("fail closed: {cause}; stopping all processes");
                self.state = State::Stopping { failed: true };
                self.stop_children(FAILURE_GRACE);
            }
            State::Stopping { .. } => {
                log::warn!("while stopping: {cause}");
                self.state = State::Stopping { failed: true };
            }
        }
    }

    /// Writes what the children's channels take of the queued messages
    /// (a reload's configuration may be many packets). A child that stopped
    /// reading is a child that died or hangs: its exit or the kill
    /// deadline handles it, so a write error is only logged here.
    fn flush_channels(&mut self) {
        if self.net.alive() {
            if let Err(e) = self.net.ch.flush() {
                log::debug!("ike-net channel: {e}");
            }
        }
        if self.pfkey.alive() {
            if let Err(e) = self.pfkey.ch.flush() {
                log::debug!("ike-pfkey channel: {e}");
            }
        }
        if self.cred.alive() {
            if let Err(e) = self.cred.ch.flush() {
                log::debug!("ike-cred channel: {e}");
            }
        }
        if !self.reload_in_flight() {
            if let Some(why) = self.reload_deferred.take() {
                self.reload(why);
                self.flush_channels();
            }
        }
    }

    /// The last configuration sent has not all been written yet.
    fn reload_in_flight(&self) -> bool {
        (self.net.alive() && self.net.ch.wants_write())
            || (self.pfkey.alive() && self.pfkey.ch.wants_write())
            || (self.cred.alive() && self.cred.ch.wants_write())
    }

    fn stop_children(&mut self, grace: Duration) {
        // Queued behind anything still going out (a reload), in order.
        if self.net.alive() {
            let _ = self.net.ch.queue(&ParentToNet::Shutdown);
        }
        if self.pfkey.alive() {
            let _ = self.pfkey.ch.queue(&ParentToPfkey::Shutdown);
        }
        if self.cred.alive() {
            let _ = self.cred.ch.queue(&ParentToCred::Shutdown);
        }
        self.timers.cancel(&Timer::KillDeadline);
        self.timers.arm(Instant::now() + grace, Timer::KillDeadline);
    }

    fn reap_all(&mut self) {
        let mut gone = Vec::new();
        if let Some(st) = self.net.reap() {
            gone.push((self.net.describe_exit(st), st));
        }
        if let Some(st) = self.pfkey.reap() {
            gone.push((self.pfkey.describe_exit(st), st));
        }
        if let Some(st) = self.cred.reap() {
            gone.push((self.cred.describe_exit(st), st));
        }
        // Both in one batch: name a death by signal first. It is the cause;
        // the other child's exit is usually its reaction to the lost sibling.
        gone.sort_by_key(|(_, st)| st.signal().is_none());
        for (what, st) in gone {
            self.child_exited(what, st);
        }
    }

    fn child_exited(&mut self, what: String, st: ExitStatus) {
        match self.state {
            State::Running => self.fail(what),
            State::Stopping { .. } if st.success() => log::info!("{what}"),
            State::Stopping { .. } => self.fail(what),
        }
    }

    fn on_signals(&mut self) {
        let pending: Vec<i32> = self.signals.pending().collect();
        for sig in pending {
            match sig {
                SIGCHLD => {} // reap_all runs after every batch of events
                SIGTERM | SIGINT if self.state == State::Running => {
                    log::info!("signal {}: orderly shutdown", signame(sig));
                    self.state = State::Stopping { failed: false };
                    self.stop_children(ORDERLY_GRACE);
                }
                SIGHUP => self.reload("SIGHUP"),
                _ => {}
            }
        }
    }

    fn on_timer(&mut self, t: Timer) {
        match t {
            Timer::ReadyDeadline => {
                if self.state == State::Running && !self.all_ready() {
                    let late = if !self.net.ready {
                        self.net.name
                    } else if !self.pfkey.ready {
                        self.pfkey.name
                    } else {
                        self.cred.name
                    };
                    self.fail(format!(
                        "{late} did not report ready within {READY_TIMEOUT:?}"
                    ));
                }
            }
            Timer::KillDeadline => {
                for (name, alive) in [
                    (self.net.name, self.net.alive()),
                    (self.pfkey.name, self.pfkey.alive()),
                    (self.cred.name, self.cred.alive()),
                ] {
                    if alive {
                        log::warn!("{name} did not stop in time: SIGKILL");
                    }
                }
                self.net.kill();
                self.pfkey.kill();
                self.cred.kill();
            }
            Timer::ClosedCheck => {
                self.reap_all();
                if self.state == State::Running {
                    for (name, open, alive) in [
                        (self.net.name, self.net.ch_open, self.net.alive()),
                        (self.pfkey.name, self.pfkey.ch_open, self.pfkey.alive()),
                        (self.cred.name, self.cred.ch_open, self.cred.alive()),
                    ] {
                        if !open && alive {
                            self.fail(format!("{name} closed its channel to the parent"));
                            return;
                        }
                    }
                }
            }
        }
    }

    fn on_net(&mut self) {
        let (msgs, end) = self.net.drain();
        for m in msgs {
            match m {
                NetToParent::Ready => {
                    self.net.ready = true;
                    self.all_ready_now();
                }
                NetToParent::ReloadRequest => self.reload("ike-ctl reload"),
                NetToParent::Fatal(m) => self.net.note_fatal(&m),
            }
        }
        self.after_drain(Which::Net, end);
    }

    fn on_pfkey(&mut self) {
        let (msgs, end) = self.pfkey.drain();
        for m in msgs {
            match m {
                PfkeyToParent::Ready => {
                    self.pfkey.ready = true;
                    self.all_ready_now();
                }
                PfkeyToParent::Fatal(m) => self.pfkey.note_fatal(&m),
            }
        }
        self.after_drain(Which::Pfkey, end);
    }

    fn on_cred(&mut self) {
        let (msgs, end) = self.cred.drain();
        for m in msgs {
            match m {
                CredToParent::Ready => {
                    self.cred.ready = true;
                    self.all_ready_now();
                }
                CredToParent::Fatal(m) => self.cred.note_fatal(&m),
            }
        }
        self.after_drain(Which::Cred, end);
    }

    /// What ended a child's batch of messages: nothing (wait for the next
    /// event), the cap (let the other sources run first, then come back),
    /// a closed channel (the child is exiting: check it after a grace), or
    /// a protocol violation.
    fn after_drain(&mut self, which: Which, end: DrainEnd) {
        let reg = self.poll.registry();
        let (child_name, pid, open, fd, token) = match which {
            Which::Net => (
                self.net.name,
                self.net.pid(),
                self.net.ch_open,
                self.net.ch.as_raw_fd(),
                NET_CH,
            ),
            Which::Pfkey => (
                self.pfkey.name,
                self.pfkey.pid(),
                self.pfkey.ch_open,
                self.pfkey.ch.as_raw_fd(),
                PFKEY_CH,
            ),
            Which::Cred => (
                self.cred.name,
                self.cred.pid(),
                self.cred.ch_open,
                self.cred.ch.as_raw_fd(),
                CRED_CH,
            ),
        };
        match end {
            DrainEnd::WouldBlock => {}
            DrainEnd::Capped => {
                if open {
                    rearm(reg, fd, token);
                }
            }
            DrainEnd::Closed => {
                self.close_channel(which);
                self.timers
                    .arm(Instant::now() + CLOSED_GRACE, Timer::ClosedCheck);
            }
            DrainEnd::Misbehaved(what) => {
                // A child that speaks garbage may be compromised: kill it now.
                match which {
                    Which::Net => self.net.kill(),
                    Which::Pfkey => self.pfkey.kill(),
                    Which::Cred => self.cred.kill(),
                }
                self.fail(format!("{child_name} (pid {pid}) {what}"));
                self.close_channel(which);
            }
        }
    }

    /// Stops watching a child's channel.
    fn close_channel(&mut self, which: Which) {
        let reg = self.poll.registry();
        match which {
            Which::Net => self.net.close_channel(reg),
            Which::Pfkey => self.pfkey.close_channel(reg),
            Which::Cred => self.cred.close_channel(reg),
        }
    }

    fn all_ready(&self) -> bool {
        self.net.ready && self.pfkey.ready && self.cred.ready
    }

    fn all_ready_now(&mut self) {
        if self.all_ready() {
            self.timers.cancel(&Timer::ReadyDeadline);
            log::info!(
                "running: ike-net pid {}, ike-pfkey pid {}, ike-cred pid {}",
                self.net.pid(),
                self.pfkey.pid(),
                self.cred.pid()
            );
        }
    }

    /// Re-reads the configuration and sends it to both children. A bad
    /// file is logged and the running configuration stays.
    fn reload(&mut self, why: &'static str) {
        if self.state != State::Running {
            return;
        }
        if self.reload_in_flight() {
            if self.reload_deferred.is_none() {
                log::info!("reload ({why}): after the previous configuration is out");
            }
            self.reload_deferred = Some(why);
            return;
        }
        match crate::settings::load(&self.opts) {
            Err(e) => log::error!("reload ({why}): {e}; keeping the running configuration"),
            Ok(cfg) => {
                log::info!("reload ({why}): {}", self.opts.config_file.display());
                if (cfg.global.user.clone(), cfg.global.chroot.clone()) != self.started_with {
                    log::warn!(
                        "reload: 'set user' / 'set chroot' changed; they apply only after a restart"
                    );
                }
                let broker = crate::settings::broker_view(&cfg);
                // Queued: a large configuration goes in fragments as the
                // children read; never lost on a full socket. The secrets
                // go to ike-cred alone, first: ike-net's requests for new
                // policies find them (issue 16).
                let c = self.cred.ch.queue(&ParentToCred::Reload(Box::new(
                    crate::settings::cred_view(&cfg),
                )));
                let a = self
                    .pfkey
                    .ch
                    .queue(&ParentToPfkey::Reload(Box::new(broker)));
                let b =
                    self.net
                        .ch
                        .queue(&ParentToNet::Reload(Box::new(crate::settings::net_view(
                            &cfg,
                        ))));
                if let Err(e) = c.and(a).and(b) {
                    self.fail(format!("cannot send the new configuration: {e}"));
                }
            }
        }
    }
}

fn drain_log(reg: &Registry, log: &mut LogPipe, token: Token) {
    let fd = log.raw_fd();
    let Some(fd) = fd else { return };
    match log.drain() {
        Drained::Empty => {}
        // Edge-triggered: re-arming reports the fd again on the next poll,
        // after the other sources have had their turn.
        Drained::MoreLater => rearm(reg, fd, token),
        Drained::Closed => {
            let _ = reg.deregister(&mut SourceFd(&fd));
        }
    }
}

/// Re-arms an edge-triggered registration so that a source with data left
/// is reported again by the next poll.
fn rearm(reg: &Registry, fd: std::os::fd::RawFd, token: Token) {
    if let Err(e) = reg.reregister(&mut SourceFd(&fd), token, Interest::READABLE) {
        log::warn!("re-arm fd {fd}: {e}");
    }
}

fn signame(sig: i32) -> &'static str {
    nix::sys::signal::Signal::try_from(sig)
        .map(|s| s.as_str())
        .unwrap_or("?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_descriptions_name_the_signal() {
        let sys = ExitStatus::from_raw(libc::SIGSYS);
        assert!(describe_status(sys).contains("SIGSYS"));
        assert!(describe_status(sys).contains("seccomp"));
        assert_eq!(
            describe_status(ExitStatus::from_raw(libc::SIGKILL)),
            "killed by signal SIGKILL"
        );
        assert_eq!(
            describe_status(ExitStatus::from_raw(1 << 8)),
            "exited with status 1"
        );
    }
}
