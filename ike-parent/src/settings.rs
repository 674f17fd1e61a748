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
///
/// Also resolves `set sa-limit` left to its default: sized from physical
/// memory here, because the sandboxed broker cannot ask.
pub fn broker_view(config: &Config) -> Config {
    let mut view = config.broker_view();
    if view.global.sa_limit == 0 {
        view.global.sa_limit = match physical_memory() {
            Some(total) => ike_ipc::config::sa_limit_for_memory(total),
            None => ike_ipc::config::FALLBACK_SA_LIMIT,
        };
    }
    view
}

/// Physical memory in bytes (sysinfo(2) on Linux; sysconf elsewhere).
fn physical_memory() -> Option<u64> {
    let pages = nix::unistd::sysconf(nix::unistd::SysconfVar::_PHYS_PAGES).ok()??;
    let size = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE).ok()??;
    u64::try_from(pages)
        .ok()?
        .checked_mul(u64::try_from(size).ok()?)
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

#[cfg(test)]
mod tests {
    #[test]
    fn an_unset_sa_limit_is_sized_from_memory_and_a_set_one_kept() {
        let mut c = ike_ipc::config::Config::default();
        let auto = super::broker_view(&c).global.sa_limit;
        assert!(auto >= ike_ipc::config::MIN_AUTO_SA_LIMIT, "{auto}");
        assert_ne!(auto, 4096);
        c.global.sa_limit = 123;
        assert_eq!(super::broker_view(&c).global.sa_limit, 123);
    }
}
