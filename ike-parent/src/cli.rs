//! Command-line flags of ike-parent (see ike-parent(8)).

use std::net::IpAddr;
use std::path::PathBuf;

pub const USAGE: &str = "usage: ike-parent [-dnv] [-f file] [--pfkey kernel|xfrm|unix:PATH] \
[--pfkey-dialect linux|freebsd|openbsd] [--port N] [--natt-port N] [--listen ADDR]... [--control PATH] [--chroot DIR] \
[--user NAME] [--libexec DIR] [--pidfile PATH]";

/// The configuration file; keys live next to it (`private/`, `pubkeys/`).
pub const DEFAULT_CONFIG: &str = crate::config::DEFAULT_PATH;
pub const DEFAULT_CONTROL: &str = "/var/run/ike.sock";
pub const DEFAULT_PIDFILE: &str = "/var/run/ike-parent.pid";

/// Where the PF_KEY socket comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PfkeySource {
    /// `socket(PF_KEY, SOCK_RAW, PF_KEY_V2)` in the parent.
    Kernel,
    /// A server at this path hands it over (ike_ipc::pfkey_unix).
    Unix(PathBuf),
    /// Linux: `socket(AF_NETLINK, SOCK_RAW, NETLINK_XFRM)` bound to the
    /// ACQUIRE, EXPIRE and MAPPING groups; the broker speaks XFRM on it.
    Xfrm,
}

impl PfkeySource {
    /// XFRM on Linux: af_key is deprecated there and cannot install AES-GCM,
    /// ChaCha20-Poly1305, HMAC-SHA2-256-128 or ESN (issue 18); PF_KEY on the
    /// BSDs, where it is the kernel's interface.
    pub fn default_kernel() -> PfkeySource {
        if cfg!(target_os = "linux") {
            PfkeySource::Xfrm
        } else {
            PfkeySource::Kernel
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// -d: stay in the foreground, log to stderr.
    pub foreground: bool,
    /// -v count.
    pub verbosity: u8,
    /// -f FILE.
    pub config_file: PathBuf,
    /// Whether -f was given (a missing default file is not an error).
    pub config_given: bool,
    /// -n: check the configuration and exit.
    pub check_only: bool,
    pub pfkey: PfkeySource,
    /// --pfkey-dialect: speak another system's PF_KEY dialect, for tests
    /// against pfkey-sim only (needs `--pfkey unix:`; the parent also
    /// checks that the descriptor it got is the simulator's stream).
    pub pfkey_dialect: Option<String>,
    pub port: u16,
    pub natt_port: u16,
    /// --listen, repeatable; empty = all IPv4 and IPv6 addresses.
    pub listen: Vec<IpAddr>,
    pub control: PathBuf,
    /// --chroot; the default is `set chroot` from the file, then /var/empty.
    pub chroot: PathBuf,
    /// Whether --chroot was given (it then overrides `set chroot`).
    pub chroot_given: bool,
    /// --user; None = `set user` from the file, then _ike or nobody.
    pub user: Option<String>,
    /// None = the directory of the ike-parent executable.
    pub libexec: Option<PathBuf>,
    pub pidfile: PathBuf,
    /// Whether --pidfile was given (then it is written even with -d).
    pub pidfile_given: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            foreground: false,
            verbosity: 0,
            config_file: PathBuf::from(DEFAULT_CONFIG),
            config_given: false,
            check_only: false,
            pfkey: PfkeySource::default_kernel(),
            pfkey_dialect: None,
            port: 500,
            natt_port: 4500,
            listen: Vec::new(),
            control: PathBuf::from(DEFAULT_CONTROL),
            chroot: PathBuf::from(ike_ipc::privdrop::DEFAULT_CHROOT),
            chroot_given: false,
            user: None,
            libexec: None,
            pidfile: PathBuf::from(DEFAULT_PIDFILE),
            pidfile_given: false,
        }
    }
}

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Run(Box<Options>),
    Help,
}

/// Parses the arguments after the program name. Accepts `--flag value` and
/// `--flag=value`, and bundled short flags (`-dvv`).
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Command, String> {
    let mut o = Options::default();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-f" => {
                o.config_file = PathBuf::from(value("-f")?);
                o.config_given = true;
            }
            "--pfkey" => {
                let v = value("--pfkey")?;
                o.pfkey = match v.as_str() {
                    "kernel" => PfkeySource::Kernel,
                    "xfrm" if cfg!(target_os = "linux") => PfkeySource::Xfrm,
                    _ => match v.strip_prefix("unix:") {
                        Some(p) if !p.is_empty() => PfkeySource::Unix(PathBuf::from(p)),
                        _ => {
                            return Err(format!("--pfkey {v}: expected kernel, xfrm or unix:PATH"))
                        }
                    },
                };
            }
            "--pfkey-dialect" => {
                let v = value("--pfkey-dialect")?;
                if !matches!(v.as_str(), "linux" | "freebsd" | "openbsd") {
                    return Err(format!(
                        "--pfkey-dialect {v}: expected linux, freebsd or openbsd"
                    ));
                }
                o.pfkey_dialect = Some(v);
            }
            "--port" => o.port = port(&value("--port")?)?,
            "--natt-port" => o.natt_port = port(&value("--natt-port")?)?,
            "--listen" => {
                let v = value("--listen")?;
                o.listen.push(
                    v.parse()
                        .map_err(|_| format!("--listen {v}: not an IP address"))?,
                );
            }
            "--control" => o.control = PathBuf::from(value("--control")?),
            "--chroot" => {
                o.chroot = PathBuf::from(value("--chroot")?);
                o.chroot_given = true;
            }
            "--user" => o.user = Some(value("--user")?),
            "--libexec" => o.libexec = Some(PathBuf::from(value("--libexec")?)),
            "--pidfile" => {
                o.pidfile = PathBuf::from(value("--pidfile")?);
                o.pidfile_given = true;
            }
            s if s.starts_with('-') && !s.starts_with("--") && s.len() > 1 => {
                for c in s.chars().skip(1) {
                    match c {
                        'd' => o.foreground = true,
                        'n' => o.check_only = true,
                        'v' => o.verbosity = o.verbosity.saturating_add(1),
                        _ => return Err(format!("unknown flag -{c}\n{USAGE}")),
                    }
                }
            }
            _ => return Err(format!("unknown argument {arg}\n{USAGE}")),
        }
    }
    if o.port == o.natt_port {
        return Err("--port and --natt-port must differ".into());
    }
    // A kernel speaks its own dialect; another one only makes sense
    // towards the simulator.
    if o.pfkey_dialect.is_some() && !matches!(o.pfkey, PfkeySource::Unix(_)) {
        return Err("--pfkey-dialect needs --pfkey unix:PATH (pfkey-sim)".into());
    }
    Ok(Command::Run(Box::new(o)))
}

fn port(v: &str) -> Result<u16, String> {
    match v.parse::<u16>() {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(format!("{v}: not a port number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Options, String> {
        match parse(args.iter().map(|s| s.to_string()))? {
            Command::Run(o) => Ok(*o),
            Command::Help => Err("help".into()),
        }
    }

    #[test]
    fn defaults() {
        let o = run(&[]).unwrap();
        assert_eq!((o.port, o.natt_port), (500, 4500));
        if cfg!(target_os = "linux") {
            assert_eq!(o.pfkey, PfkeySource::Xfrm);
        } else {
            assert_eq!(o.pfkey, PfkeySource::Kernel);
        }
        assert_eq!(
            run(&["--pfkey", "kernel"]).unwrap().pfkey,
            PfkeySource::Kernel
        );
        assert_eq!(o.control, PathBuf::from("/var/run/ike.sock"));
        assert_eq!(o.chroot, PathBuf::from("/var/empty"));
        assert_eq!(o.config_file, PathBuf::from("/etc/ike/ike.conf"));
        assert!(!o.foreground && !o.check_only && o.listen.is_empty());
    }

    #[test]
    fn all_flags() {
        let o = run(&[
            "-dvv",
            "-n",
            "-f",
            "/x.conf",
            "--pfkey",
            "unix:/run/pf",
            "--port=1500",
            "--natt-port",
            "14500",
            "--listen",
            "127.0.0.1",
            "--listen",
            "::1",
            "--control",
            "/c",
            "--chroot",
            "/e",
            "--user",
            "nobody",
            "--libexec",
            "/l",
            "--pidfile",
            "/p",
        ])
        .unwrap();
        assert!(o.foreground && o.check_only && o.config_given && o.pidfile_given);
        assert!(o.chroot_given);
        assert_eq!(o.verbosity, 2);
        assert_eq!(o.pfkey, PfkeySource::Unix("/run/pf".into()));
        assert_eq!((o.port, o.natt_port), (1500, 14500));
        assert_eq!(o.listen.len(), 2);
        assert_eq!(o.user.as_deref(), Some("nobody"));
        assert_eq!(o.libexec, Some(PathBuf::from("/l")));
    }

    #[test]
    fn errors() {
        assert!(run(&["--port"]).is_err());
        assert!(run(&["--port", "0"]).is_err());
        assert!(run(&["--port", "70000"]).is_err());
        assert!(run(&["--pfkey", "tcp:1"]).is_err());
        assert!(run(&["--pfkey-dialect", "openbsd"]).is_err());
        assert!(run(&["--pfkey", "unix:/x", "--pfkey-dialect", "netbsd"]).is_err());
        let o = run(&["--pfkey", "unix:/x", "--pfkey-dialect", "openbsd"]).unwrap();
        assert_eq!(o.pfkey_dialect.as_deref(), Some("openbsd"));
        assert!(run(&["--pfkey", "unix:"]).is_err());
        if cfg!(target_os = "linux") {
            assert_eq!(run(&["--pfkey", "xfrm"]).unwrap().pfkey, PfkeySource::Xfrm);
            assert!(run(&["--pfkey", "xfrm", "--pfkey-dialect", "linux"]).is_err());
        } else {
            assert!(run(&["--pfkey", "xfrm"]).is_err());
        }
        assert!(run(&["--listen", "host"]).is_err());
        assert!(run(&["-x"]).is_err());
        assert!(run(&["stray"]).is_err());
        assert!(run(&["--port", "600", "--natt-port", "600"]).is_err());
        assert_eq!(parse(["-h".to_string()]).unwrap(), Command::Help);
    }
}
