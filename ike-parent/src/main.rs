//! ike-parent: the privileged parent of the ike daemon (see ike-parent(8)).

use ike_parent::cli::{self, Command, USAGE};
use ike_parent::{logging, settings, startup};
use std::process::ExitCode;

fn main() -> ExitCode {
    let opts = match cli::parse(std::env::args().skip(1)) {
        Ok(Command::Run(o)) => *o,
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("ike-parent: {e}");
            return ExitCode::from(2);
        }
    };
    if opts.check_only {
        return match settings::check_only(&opts) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ike-parent: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let level = ike_ipc::msg::LogLevel::from_verbosity(opts.verbosity).to_filter();
    if opts.foreground {
        logging::init_stderr(level);
    } else {
        logging::init_syslog(level);
    }
    match startup::run(opts) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            // Before daemonizing stderr is still the terminal: say it there too.
            eprintln!("ike-parent: {e}");
            log::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
