//! ike-net: the network worker. Started only by ike-parent, with its
//! descriptors at the numbers in `ike_ipc::fds`. It speaks IKEv2 on the UDP
//! sockets the parent bound, asks ike-pfkey for kernel changes, and answers
//! ike-ctl — all chrooted, unprivileged and sandboxed.
//!
//! `ike-net --check-config` is the one other mode: the check behind
//! `ike-parent -n` (see `check`).

mod caps;
mod check;
mod control;
mod cp;
mod engine;
mod kernel;
mod pacing;
mod policy;
mod reqid;
mod show;
mod udp;
mod worker;

use ike_ipc::channel::Channel;
use ike_ipc::msg::{NetToParent, ParentToNet};
use ike_ipc::{child, fds};
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    match (args.next(), args.next()) {
        (None, _) => {}
        (Some(flag), None) if flag == ike_ipc::config::check::CHECK_FLAG => return check::run(),
        _ => {
            eprintln!(
                "usage: ike-net (started by ike-parent) | ike-net {}",
                ike_ipc::config::check::CHECK_FLAG
            );
            return ExitCode::FAILURE;
        }
    }
    ike_ipc::childlog::init(log::LevelFilter::Info);
    let mut parent: Channel<NetToParent, ParentToNet> = match child::take_channel(fds::PARENT) {
        Ok(c) => c,
        Err(e) => {
            log::error!("ike-net must be started by ike-parent: {e}");
            return ExitCode::FAILURE;
        }
    };
    match worker::start(&mut parent).and_then(|mut w| w.run(&mut parent)) {
        Ok(()) => {
            log::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            log::error!("fatal: {e}");
            // Best effort: the parent also sees the exit status.
            let _ = parent.send(&NetToParent::Fatal(e));
            ExitCode::FAILURE
        }
    }
}
