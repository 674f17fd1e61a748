//! pf-to-tcp: a debugging proxy between a PF_KEY socket and one TCP client.
//!
//!   pf-to-tcp --insecure-debug [--listen ADDR:PORT] [--sim PATH]
//!             [--dialect linux|freebsd|openbsd] [--once]
//!
//! It refuses to start without `--insecure-debug` (issue 16): any local user
//! who connects gets a root PF_KEY socket, every SA's keys included (a TCP
//! connection on loopback carries no credentials to check).
//!
//! Listens on ADDR:PORT (default 127.0.0.1:5757; loopback addresses only: every SA's
//! keys pass through here). For each TCP client, one at a time, it opens a PF_KEY
//! socket (or with --sim a connection to the PF_KEY simulator at PATH) and relays
//! messages both ways, printing each one decoded and in hex on stdout. On TCP the
//! messages are simply concatenated: each is delimited by its own sadb_msg_len.
//! With --once it exits after the first client.

use helper::dump::render;
use helper::framing::{Deframer, MAX_MESSAGE_LEN};
use helper::loopback::parse_loopback;
use helper::pfkey_socket::Source;
use ike_pfkey::dialect::Dialect;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recv, send, MsgFlags};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: pf-to-tcp --insecure-debug [--listen ADDR:PORT] [--sim PATH] \
     [--dialect linux|freebsd|openbsd] [--once]";

/// Why the flag is needed, printed when it is missing and as a warning when given.
const INSECURE: &str = "pf-to-tcp hands a PF_KEY socket, and so every SA's keys, to any \
     local user who connects to its TCP port; it is for debugging on a test machine only";

#[derive(Debug)]
struct Opts {
    listen: SocketAddr,
    source: Source,
    dialect: Dialect,
    once: bool,
    insecure_debug: bool,
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        listen: parse_loopback("127.0.0.1:5757")?,
        source: Source::Kernel,
        dialect: Dialect::native(),
        once: false,
        insecure_debug: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value\n{USAGE}"));
        match a.as_str() {
            "--listen" => o.listen = parse_loopback(value()?)?,
            "--sim" => o.source = Source::Sim(PathBuf::from(value()?)),
            "--dialect" => {
                o.dialect = match value()?.as_str() {
                    "linux" => Dialect::Linux,
                    "freebsd" => Dialect::FreeBsd,
                    "openbsd" => Dialect::OpenBsd,
                    d => return Err(format!("unknown dialect {d} (linux, freebsd, openbsd)")),
                }
            }
            "--once" => o.once = true,
            "--insecure-debug" => o.insecure_debug = true,
            "-h" | "--help" => return Err(USAGE.to_string()),
            s => return Err(format!("unexpected argument {s}\n{USAGE}")),
        }
    }
    if !o.insecure_debug {
        return Err(format!(
            "refusing to start without --insecure-debug: {INSECURE}\n{USAGE}"
        ));
    }
    Ok(o)
}

fn main() -> ExitCode {
    helper::run("pf-to-tcp", parse, serve)
}

fn serve(o: &Opts) -> Result<(), String> {
    eprintln!("pf-to-tcp: WARNING: {INSECURE}");
    let listener =
        TcpListener::bind(o.listen).map_err(|e| format!("cannot listen on {}: {e}", o.listen))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    // tests and scripts wait for this line (and learn the port when it was 0)
    println!(
        "pf-to-tcp: listening on {local}, relaying {}",
        o.source.describe()
    );
    loop {
        let (client, peer) = listener.accept().map_err(|e| format!("accept: {e}"))?;
        println!("pf-to-tcp: client {peer} connected");
        match o.source.open() {
            Ok(pfkey) => match relay(o.dialect, client, pfkey) {
                Ok(()) => println!("pf-to-tcp: client {peer} done"),
                Err(e) => println!("pf-to-tcp: client {peer} dropped: {e}"),
            },
            Err(e) => println!(
                "pf-to-tcp: cannot open {}: {e}; client {peer} dropped",
                o.source.describe()
            ),
        }
        if o.once {
            return Ok(());
        }
    }
}

/// Relays until either side closes. Every message is printed before it is passed on.
fn relay(dialect: Dialect, mut client: TcpStream, pfkey: OwnedFd) -> Result<(), String> {
    let mut deframer = Deframer::new();
    let mut tcp_buf = vec![0u8; 65536];
    // one PF_KEY read is one whole message, which can be as long as the word count allows
    let mut key_buf = vec![0u8; MAX_MESSAGE_LEN];
    loop {
        let (tcp_ready, key_ready) = {
            let mut fds = [
                PollFd::new(client.as_fd(), PollFlags::POLLIN),
                PollFd::new(pfkey.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(format!("poll: {e}")),
            }
            let ready = |f: &PollFd<'_>| f.revents().is_some_and(|r| !r.is_empty());
            (ready(&fds[0]), ready(&fds[1]))
        };
        if key_ready {
            let n = match recv(pfkey.as_raw_fd(), &mut key_buf, MsgFlags::empty()) {
                Ok(0) => return Err("the PF_KEY side closed".to_string()),
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(format!("PF_KEY read: {e}")),
            };
            let msg = key_buf.get(..n).unwrap_or(&[]);
            print!("{}", render("kernel -> client", dialect, msg));
            client
                .write_all(msg)
                .map_err(|e| format!("TCP write: {e}"))?;
        }
        if tcp_ready {
            let n = match client.read(&mut tcp_buf) {
                Ok(0) => {
                    if deframer.pending() > 0 {
                        println!(
                            "pf-to-tcp: {} bytes of an incomplete message discarded",
                            deframer.pending()
                        );
                    }
                    return Ok(());
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("TCP read: {e}")),
            };
            deframer.push(tcp_buf.get(..n).unwrap_or(&[]));
            while let Some(msg) = deframer
                .next_message()
                .map_err(|e| format!("from the client: {e}"))?
            {
                print!("{}", render("client -> kernel", dialect, &msg));
                // The kernel checks the message; its verdict comes back as an error
                // from the write or as a reply with sadb_msg_errno set.
                if let Err(e) = send(pfkey.as_raw_fd(), &msg, MsgFlags::MSG_NOSIGNAL) {
                    println!("pf-to-tcp: the PF_KEY side refused the write: {e}");
                }
            }
        }
        std::io::stdout().flush().map_err(|e| e.to_string())?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options() {
        // Nothing starts without the flag that says keys go to any local user.
        assert!(parse(&args("")).unwrap_err().contains("--insecure-debug"));
        let o = parse(&args("--insecure-debug")).unwrap();
        assert!(o.insecure_debug);
        assert_eq!(o.listen, "127.0.0.1:5757".parse().unwrap());
        assert_eq!(o.source, Source::Kernel);
        let o = parse(&args(
            "--insecure-debug --listen [::1]:99 --sim /s --dialect freebsd --once",
        ))
        .unwrap();
        assert_eq!(o.listen, "[::1]:99".parse().unwrap());
        assert_eq!(o.source, Source::Sim(PathBuf::from("/s")));
        assert_eq!(o.dialect, Dialect::FreeBsd);
        assert!(o.once);
        assert!(parse(&args("--listen 0.0.0.0:5757"))
            .unwrap_err()
            .contains("loopback"));
        assert!(parse(&args("--dialect plan9")).is_err());
    }
}
