//! ike-ctl: talk to a running ike daemon over its control socket
//! (see ike-ctl(8)).

use ike_ipc::msg::{CtlRequest, CtlResponse};
use ike_parent::cli::DEFAULT_CONTROL;
use ike_parent::ctl::{self, USAGE};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut socket = PathBuf::from(DEFAULT_CONTROL);
    if args.first().map(String::as_str) == Some("-s") {
        if args.len() < 2 {
            eprintln!("ike-ctl: -s needs a path\n{USAGE}");
            return ExitCode::from(2);
        }
        socket = PathBuf::from(args.remove(1));
        args.remove(0);
    }
    let req = match ctl::parse_command(&args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ike-ctl: {e}");
            return ExitCode::from(2);
        }
    };
    let mut client = match ctl::connect_control(&socket) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ike-ctl: {e}");
            return ExitCode::FAILURE;
        }
    };
    // If the send fails the daemon may have refused us already: the loop
    // below reads and prints its reason.
    let sent = client.send(&req);
    loop {
        let resp = match client.recv() {
            Ok(r) => r.msg,
            Err(e) => {
                match &sent {
                    Err(s) => eprintln!("ike-ctl: send: {s}"),
                    Ok(()) => eprintln!("ike-ctl: {e}"),
                }
                return ExitCode::FAILURE;
            }
        };
        match resp {
            CtlResponse::Ok if req == CtlRequest::Monitor => continue,
            CtlResponse::Ok => return ExitCode::SUCCESS,
            CtlResponse::Stats(s) if ctl::wants_json(&args) => {
                print!("{}", ctl::format_stats_json(&s))
            }
            CtlResponse::Stats(s) => print!("{}", ctl::format_stats(&s)),
            // A long answer: print each part as it comes.
            CtlResponse::Part(t) => {
                print!("{t}");
                continue;
            }
            CtlResponse::Text(t) => print!("{t}"),
            CtlResponse::Event(e) => println!("{e}"),
            CtlResponse::Error(e) => {
                eprintln!("ike-ctl: {e}");
                return ExitCode::FAILURE;
            }
        }
        if req != CtlRequest::Monitor {
            return ExitCode::SUCCESS;
        }
    }
}
