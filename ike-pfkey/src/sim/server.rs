//! The simulator behind sockets: a SOCK_SEQPACKET listener where every accepted
//! connection is one PF_KEY socket (after the `ike_ipc::pfkey_unix` stream
//! hello), and a control socket for `dump` and `trigger`.
//!
//! One thread accepts, one thread per connection reads, one thread runs the
//! lifetimes; the engine sits behind a mutex. Sends never block: like a
//! kernel, a message for a socket whose buffer is full is dropped.
//!
//! Every thread blocks while there is nothing to do: readers in recv, the
//! acceptor in accept, the lifetime thread on a condition variable until
//! the engine's next deadline (or forever when no SA has one). A simulator
//! whose clients are gone uses no CPU (issue 12).

use super::{ConnId, Delivery, SimConfig, SimKernel};
use ike_ipc::pfkey_unix::send_hello_stream;
use nix::sys::socket::{
    accept, bind, listen, send, socket, AddressFamily, Backlog, MsgFlags, SockFlag, SockType,
    UnixAddr,
};
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// Largest PF_KEY message we read (the 16-bit word count allows 512 KiB;
/// nothing we model comes near 64 KiB).
const MAX_MSG: usize = 65536;
/// Longest control command line.
const MAX_CONTROL_LINE: u64 = 1024;

pub struct ServerConfig {
    pub socket: PathBuf,
    pub control: Option<PathBuf>,
    pub sim: SimConfig,
}

struct Shared {
    engine: SimKernel,
    conns: BTreeMap<ConnId, Arc<OwnedFd>>,
    /// When the lifetime thread will look at the engine next (None: it
    /// waits until woken).
    tick_at: Option<Instant>,
}

struct Sim {
    state: Mutex<Shared>,
    /// Wakes the lifetime thread when a message brought a deadline earlier
    /// than the one it sleeps towards.
    wake: Condvar,
}

type SharedRef = Arc<Sim>;

fn lock(s: &SharedRef) -> MutexGuard<'_, Shared> {
    // A panicking reader thread must not take the whole simulator down.
    s.state.lock().unwrap_or_else(|e| e.into_inner())
}

/// After the engine changed: wake the lifetime thread only if it now has
/// to run earlier than it planned.
fn kick(s: &SharedRef, g: &Shared) {
    if let Some(next) = g.engine.next_deadline() {
        if g.tick_at.is_none_or(|planned| next < planned) {
            s.wake.notify_one();
        }
    }
}

fn deliver(shared: &Shared, out: Vec<Delivery>) {
    for d in out {
        if let Some(fd) = shared.conns.get(&d.to) {
            let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
            if let Err(e) = send(fd.as_raw_fd(), &d.bytes, flags) {
                log::debug!("pfkey-sim: dropped a message for socket {}: {e}", d.to);
            }
        }
    }
}

/// Replace a stale socket file, but never anything else.
fn clear_socket_path(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists", path.display()),
        )),
        Err(_) => Ok(()),
    }
}

fn seqpacket_listener(path: &Path) -> io::Result<OwnedFd> {
    clear_socket_path(path)?;
    let fd = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    bind(fd.as_raw_fd(), &UnixAddr::new(path)?)?;
    // PF_KEY access is root-only on every kernel: keep the model owner-only.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    // Linux bounds each accepted SEQPACKET connection's receive queue by
    // the listener's backlog (in messages, not bytes): with 16 a broker
    // pipelining a few dozen requests got EAGAIN where a kernel PF_KEY
    // socket (bounded by bytes, 200 KiB and more) takes them all. The
    // system maximum keeps the model from being the bottleneck under load.
    listen(&fd, Backlog::MAXCONN)?;
    Ok(fd)
}

/// A running simulator (threads stop when the process exits).
pub struct Server {
    shared: SharedRef,
}

impl Server {
    /// Bind the sockets and start the threads.
    pub fn start(cfg: ServerConfig) -> io::Result<Server> {
        let listener = seqpacket_listener(&cfg.socket)?;
        let control = match &cfg.control {
            Some(p) => {
                clear_socket_path(p)?;
                let l = UnixListener::bind(p)?;
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600))?;
                Some(l)
            }
            None => None,
        };
        let shared = Arc::new(Sim {
            state: Mutex::new(Shared {
                engine: SimKernel::new(cfg.sim, Instant::now()),
                conns: BTreeMap::new(),
                tick_at: None,
            }),
            wake: Condvar::new(),
        });
        let s = shared.clone();
        thread::Builder::new()
            .name("accept".into())
            .spawn(move || accept_loop(listener, s))?;
        let s = shared.clone();
        thread::Builder::new()
            .name("lifetimes".into())
            .spawn(move || tick_loop(s))?;
        if let Some(l) = control {
            let s = shared.clone();
            thread::Builder::new()
                .name("control".into())
                .spawn(move || control_loop(l, s))?;
        }
        Ok(Server { shared })
    }

    /// Run `f` on the engine (tests and the control socket).
    pub fn with_engine<R>(&self, f: impl FnOnce(&mut SimKernel) -> R) -> R {
        f(&mut lock(&self.shared).engine)
    }

    /// `pfkey-sim trigger` without the control socket.
    pub fn trigger(&self, src: IpAddr, dst: IpAddr) -> Result<String, String> {
        trigger(&self.shared, src, dst)
    }
}

fn accept_loop(listener: OwnedFd, shared: SharedRef) {
    loop {
        let raw = match accept(listener.as_raw_fd()) {
            Ok(fd) => fd,
            Err(e) => {
                log::warn!("pfkey-sim: accept: {e}");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        // SAFETY: accept() just returned this descriptor; nothing else owns it.
        let conn = unsafe { OwnedFd::from_raw_fd(raw) };
        // Before the hello: the client writes nothing before it has read
        // the hello, so every message it sends carries its credentials.
        #[cfg(target_os = "linux")]
        if let Err(e) =
            nix::sys::socket::setsockopt(&conn, nix::sys::socket::sockopt::PassCred, &true)
        {
            log::warn!("pfkey-sim: SO_PASSCRED: {e} (no pid checks on this socket)");
        }
        if let Err(e) = send_hello_stream(conn.as_fd()) {
            log::warn!("pfkey-sim: hello: {e}");
            continue;
        }
        let conn = Arc::new(conn);
        let id = {
            let mut g = lock(&shared);
            let id = g.engine.connect();
            g.conns.insert(id, conn.clone());
            id
        };
        log::debug!("pfkey-sim: socket {id} connected");
        let s = shared.clone();
        let spawned = thread::Builder::new()
            .name(format!("sock{id}"))
            .spawn(move || read_loop(id, conn, s));
        if let Err(e) = spawned {
            log::warn!("pfkey-sim: cannot start a reader: {e}");
            let mut g = lock(&shared);
            g.engine.disconnect(id);
            g.conns.remove(&id);
        }
    }
}

/// One message and, on Linux, the pid of the process that wrote it (the
/// kernel attaches SCM_CREDENTIALS once SO_PASSCRED is set): OpenBSD's
/// parser compares `sadb_msg_pid` with the writer's pid, and the writer is
/// ike-pfkey, not the ike-parent that connected.
#[cfg(target_os = "linux")]
fn recv_message(fd: &OwnedFd, buf: &mut [u8]) -> nix::Result<(usize, Option<u32>)> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, UnixCredentials};
    let mut iov = [std::io::IoSliceMut::new(buf)];
    let mut space = nix::cmsg_space!(UnixCredentials);
    let m = recvmsg::<()>(
        fd.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )?;
    // pid 0: the message was queued without credentials (not expected
    // once SO_PASSCRED is set before the hello); then no pid check.
    let pid = m.cmsgs()?.find_map(|c| match c {
        ControlMessageOwned::ScmCredentials(cr) => u32::try_from(cr.pid()).ok().filter(|&p| p != 0),
        _ => None,
    });
    Ok((m.bytes, pid))
}

#[cfg(not(target_os = "linux"))]
fn recv_message(fd: &OwnedFd, buf: &mut [u8]) -> nix::Result<(usize, Option<u32>)> {
    nix::sys::socket::recv(fd.as_raw_fd(), buf, MsgFlags::empty()).map(|n| (n, None))
}

/// Messages read from one connection but not yet handled. A kernel
/// handles a PF_KEY message inside write(), so a writer never sees EAGAIN;
/// here the reader empties the socket at once into this queue (the
/// writer's send buffer is freed as soon as a message is read) and a
/// second thread handles them in order. Bounded: a writer that floods
/// beyond it is slowed down by its own send buffer, not refused at once.
const MAX_QUEUED: usize = 65536;

fn read_loop(id: ConnId, conn: Arc<OwnedFd>, shared: SharedRef) {
    let (tx, rx) = std::sync::mpsc::sync_channel::<(Vec<u8>, Option<u32>)>(MAX_QUEUED);
    let s = shared.clone();
    let handler = thread::Builder::new()
        .name(format!("handle{id}"))
        .spawn(move || {
            for (msg, pid) in rx {
                let mut g = lock(&s);
                let out = g.engine.handle_as(id, pid, &msg, Instant::now());
                deliver(&g, out);
                kick(&s, &g);
            }
        });
    let mut buf = vec![0u8; MAX_MSG];
    match handler {
        Ok(handler) => {
            loop {
                match recv_message(&conn, &mut buf) {
                    Ok((0, _)) | Err(_) => break,
                    Ok((n, pid)) => {
                        let msg = buf.get(..n).unwrap_or(&[]).to_vec();
                        if tx.send((msg, pid)).is_err() {
                            break;
                        }
                    }
                }
            }
            // Everything read is handled before the socket counts as closed.
            drop(tx);
            let _ = handler.join();
        }
        Err(e) => log::warn!("pfkey-sim: cannot start a handler for socket {id}: {e}"),
    }
    let mut g = lock(&shared);
    g.engine.disconnect(id);
    g.conns.remove(&id);
    log::debug!("pfkey-sim: socket {id} closed");
}

/// Fires lifetimes when they fall due and sleeps in between: no polling.
fn tick_loop(shared: SharedRef) {
    let mut g = lock(&shared);
    loop {
        let now = Instant::now();
        let out = g.engine.tick(now);
        deliver(&g, out);
        let next = g.engine.next_deadline();
        g.tick_at = next;
        g = match next {
            None => shared.wake.wait(g).unwrap_or_else(|e| e.into_inner()),
            Some(t) => match shared
                .wake
                .wait_timeout(g, t.saturating_duration_since(now))
            {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            },
        };
    }
}

fn trigger(shared: &SharedRef, src: IpAddr, dst: IpAddr) -> Result<String, String> {
    let mut g = lock(shared);
    let (what, out) = g.engine.trigger(src, dst, Instant::now())?;
    deliver(&g, out);
    kick(shared, &g);
    Ok(what)
}

/// One command per connection: `dump [json|sad|spd]` or `trigger SRC DST`.
fn control_command(shared: &SharedRef, line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["dump"] => {
            let g = lock(shared);
            let now = Instant::now();
            format!("{}{}", g.engine.show_sad(now), g.engine.show_spd())
        }
        ["dump", "sad"] => lock(shared).engine.show_sad(Instant::now()),
        ["dump", "spd"] => lock(shared).engine.show_spd(),
        ["dump", "json"] => lock(shared).engine.show_json(Instant::now()),
        ["trigger", src, dst] => match (src.parse::<IpAddr>(), dst.parse::<IpAddr>()) {
            (Ok(s), Ok(d)) => match trigger(shared, s, d) {
                Ok(what) => format!("ok {what}\n"),
                Err(why) => format!("error {why}\n"),
            },
            _ => "error bad address\n".into(),
        },
        _ => "error unknown command\n".into(),
    }
}

fn control_loop(listener: UnixListener, shared: SharedRef) {
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
        let mut line = String::new();
        let read = BufReader::new((&conn).take(MAX_CONTROL_LINE)).read_line(&mut line);
        let answer = match read {
            Ok(_) => control_command(&shared, &line),
            Err(_) => "error unreadable command\n".into(),
        };
        let _ = conn.write_all(answer.as_bytes());
    }
}

/// Client side of the control socket: send one command, return the answer.
pub fn control_request(path: &Path, command: &str) -> io::Result<String> {
    let mut s = UnixStream::connect(path)?;
    s.write_all(command.as_bytes())?;
    s.write_all(b"\n")?;
    s.shutdown(std::net::Shutdown::Write)?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}
