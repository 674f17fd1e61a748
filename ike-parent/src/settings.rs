//! Loading the configuration file: the one seam between the supervisor and
//! the parser (crate::config, issue 6).

use crate::cli::Options;
use ike_ipc::config::Config;

/// Reads and checks the configuration named by -f. Without -f, a missing
/// default file means an empty configuration (the daemon then only answers
/// ike-ctl), so a fresh install can be started and inspected.
pub fn load(opts: &Options) -> Result<Config, String> {
    if !opts.config_given && !opts.config_file.exists() {
        log::warn!(
            "{} does not exist: starting with an empty configuration",
            opts.config_file.display()
        );
        return Ok(Config::default());
    }
    crate::config::load(&opts.config_file).map_err(|e| e.to_string())
}

/// The broker's view: the configuration without PSKs and private keys,
/// which only ike-net needs (DESIGN.md "Private keys and PSKs reach only the
/// process that needs them").
pub fn broker_view(config: &Config) -> Config {
    config.broker_view()
}

/// -n: check the file, then let ike-net check what only it can (keys,
/// certificates: crate::netcheck); print it with -v; exit status 0 or 1.
pub fn check_only(opts: &Options) -> Result<(), String> {
    let config = crate::config::load(&opts.config_file).map_err(|e| e.to_string())?;
    crate::netcheck::check(opts, &config)?;
    if opts.verbosity > 0 {
        print!("{}", crate::config::describe(&config));
    }
    println!("configuration OK");
    Ok(())
}
