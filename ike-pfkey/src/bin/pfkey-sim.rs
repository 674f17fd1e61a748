//! pfkey-sim: a userspace PF_KEY v2 key engine for tests (see `ike_pfkey::sim`).
//!
//!   pfkey-sim serve --socket PATH [--control PATH] [--dialect linux|freebsd|openbsd]
//!   pfkey-sim dump --control PATH [--json]
//!   pfkey-sim trigger --control PATH SRC DST

use ike_pfkey::dialect::Dialect;
use ike_pfkey::sim::server::{control_request, Server, ServerConfig};
use ike_pfkey::sim::SimConfig;
use ike_pfkey::wire::Alg;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str =
    "usage: pfkey-sim serve --socket PATH [--control PATH] [--dialect linux|freebsd|openbsd]
       pfkey-sim dump --control PATH [--json]
       pfkey-sim trigger --control PATH SRC DST";

fn main() -> ExitCode {
    ike_ipc::childlog::init(ike_ipc::childlog::level_from_env(log::LevelFilter::Info));
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pfkey-sim: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Opts {
    socket: Option<PathBuf>,
    control: Option<PathBuf>,
    json: bool,
    dialect: Dialect,
    auth: Option<Vec<Alg>>,
    encrypt: Option<Vec<Alg>>,
    rest: Vec<String>,
}

/// `ID:MINBITS:MAXBITS[:IVLEN]`, comma separated: the REGISTER reply's list.
fn parse_algs(s: &str) -> Result<Vec<Alg>, String> {
    s.split(',')
        .map(|item| {
            let f: Vec<&str> = item.split(':').collect();
            let num = |i: usize| -> Result<u16, String> {
                f.get(i)
                    .ok_or(format!("{item}: want ID:MIN:MAX[:IVLEN]"))?
                    .parse()
                    .map_err(|e| format!("{item}: {e}"))
            };
            let byte = |v: u16| u8::try_from(v).map_err(|_| format!("{item}: {v} is not a byte"));
            let ivlen = if f.len() > 3 { byte(num(3)?)? } else { 0 };
            Ok(Alg {
                id: byte(num(0)?)?,
                ivlen,
                minbits: num(1)?,
                maxbits: num(2)?,
            })
        })
        .collect()
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        socket: None,
        control: None,
        json: false,
        dialect: Dialect::Linux,
        auth: None,
        encrypt: None,
        rest: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or(format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--socket" => o.socket = Some(value()?.into()),
            "--control" => o.control = Some(value()?.into()),
            "--json" => o.json = true,
            "--auth" => o.auth = Some(parse_algs(&value()?)?),
            "--encrypt" => o.encrypt = Some(parse_algs(&value()?)?),
            "--dialect" => {
                let name = value()?;
                o.dialect = Dialect::from_name(&name)
                    .ok_or(format!("unknown dialect {name} (linux, freebsd, openbsd)"))?;
            }
            s if s.starts_with("--") => return Err(format!("unknown option {s}\n{USAGE}")),
            s => o.rest.push(s.to_string()),
        }
    }
    Ok(o)
}

fn run(args: &[String]) -> Result<(), String> {
    let (cmd, args) = args.split_first().ok_or(USAGE)?;
    let o = parse(args)?;
    match cmd.as_str() {
        "serve" => {
            let socket = o.socket.ok_or(format!("serve needs --socket\n{USAGE}"))?;
            let mut sim = SimConfig::for_dialect(o.dialect);
            if let Some(a) = o.auth {
                sim.auth = a;
            }
            if let Some(e) = o.encrypt {
                sim.encrypt = e;
            }
            let shown = socket.display().to_string();
            let _server = Server::start(ServerConfig {
                socket,
                control: o.control,
                sim,
            })
            .map_err(|e| format!("cannot listen on {shown}: {e}"))?;
            log::info!("pfkey-sim: serving PF_KEY ({:?}) on {shown}", o.dialect);
            loop {
                std::thread::park();
            }
        }
        "dump" => {
            let control = o.control.ok_or(format!("dump needs --control\n{USAGE}"))?;
            let cmd = if o.json { "dump json" } else { "dump" };
            let out = control_request(&control, cmd)
                .map_err(|e| format!("{}: {e}", control.display()))?;
            print!("{out}");
            Ok(())
        }
        "trigger" => {
            let control = o
                .control
                .ok_or(format!("trigger needs --control\n{USAGE}"))?;
            let [src, dst] = o.rest.as_slice() else {
                return Err(format!("trigger needs SRC DST\n{USAGE}"));
            };
            let out = control_request(&control, &format!("trigger {src} {dst}"))
                .map_err(|e| format!("{}: {e}", control.display()))?;
            print!("{out}");
            if out.starts_with("ok") {
                Ok(())
            } else {
                Err(out.trim().to_string())
            }
        }
        _ => Err(USAGE.to_string()),
    }
}
