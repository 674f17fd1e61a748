//! Loading the configuration file: the one seam between the supervisor and
//! the parser (crate::config, issue 6).

use crate::cli::Options;
use ike_ipc::config::Config;

/// Reads and checks the configuration named by -f. Without -f, a missing
/// default file means an empty configuration (the daemon then only answers
/// ike-ctl), so a fresh install can be started and inspected.
///
/// Limits left unset are sized from memory here ([`sized_from_memory`]).
pub fn load(opts: &Options) -> Result<Config, String> {
    if !opts.config_given && !opts.config_file.exists() {
        log::warn!(
            "{} does not exist: starting with an empty configuration",
            opts.config_file.display()
        );
        return Ok(sized_from_memory(Config::default()));
    }
    crate::config::load(&opts.config_file)
        .map(sized_from_memory)
        .map_err(|e| e.to_string())
}

/// Resolves `set half-open-limit` left unset (0): a 64th of physical
/// memory at 4 KiB per half-open IKE SA (2.9 KB measured), within
/// 1024..=262,144 (`ike_ipc::config::half_open_limit_for_memory`); 4096
/// if memory cannot be read. Done here, as for the SA limit, because
/// ike-net runs sandboxed and cannot ask. The cookie threshold stays a
/// fixed number (default 64): a cookie costs the initiator one round trip,
/// so it should start early whatever the memory size.
pub fn sized_from_memory(mut config: Config) -> Config {
    let g = &mut config.global;
    if g.half_open_limit == 0 {
        g.half_open_limit = match physical_memory() {
            Some(total) => ike_ipc::config::half_open_limit_for_memory(total),
            None => ike_ipc::config::DEFAULT_HALF_OPEN_LIMIT,
        };
        log::debug!(
            "half-open IKE SA limit {} (sized from memory)",
            g.half_open_limit
        );
    }
    config
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

/// The configuration ike-net gets: no PSK, no private key, our public key
/// instead (issue 16, `ike_cred::views::net_view`). A private key that does
/// not load is logged here; ike-net then leaves its policies out.
pub fn net_view(config: &Config) -> Config {
    let (view, problem) = ike_cred::views::net_view(config);
    if let Some(p) = problem {
        log::error!("{p}: the public-key policies cannot be used");
    }
    view
}

/// The configuration ike-cred gets: the policies with their secrets.
pub fn cred_view(config: &Config) -> Config {
    ike_cred::views::cred_view(config)
}

/// Physical memory in bytes, from sysconf(_SC_PHYS_PAGES) * page size.
/// nix offers _PHYS_PAGES on Linux only; Linux, FreeBSD (121) and OpenBSD
/// (500) all define it (the libc crate's copies of their unistd.h), so the
/// call goes through libc directly and is the same on the three systems.
fn physical_memory() -> Option<u64> {
    // SAFETY: sysconf(3) takes a name and returns a value; it touches no
    // memory of ours.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let pages = u64::try_from(pages).ok().filter(|&p| p > 0)?;
    let size = u64::try_from(size).ok().filter(|&s| s > 0)?;
    pages.checked_mul(size)
}

/// -n: check the file, then let ike-net check what only it can (keys,
/// certificates: crate::netcheck); print it with -v; exit status 0 or 1.
pub fn check_only(opts: &Options) -> Result<(), String> {
    let config = crate::config::load(&opts.config_file)
        .map(sized_from_memory)
        .map_err(|e| e.to_string())?;
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

    #[test]
    fn an_unset_half_open_limit_is_sized_from_memory_and_a_set_one_kept() {
        let mut c = ike_ipc::config::Config::default();
        assert_eq!(c.global.half_open_limit, 0, "unset by default");
        let total = super::physical_memory().expect("sysconf(_SC_PHYS_PAGES)");
        let auto = super::sized_from_memory(c.clone()).global.half_open_limit;
        assert_eq!(
            auto,
            ike_ipc::config::half_open_limit_for_memory(total),
            "{total} bytes of memory"
        );
        assert!(auto >= ike_ipc::config::MIN_AUTO_HALF_OPEN_LIMIT);
        c.global.half_open_limit = 100;
        assert_eq!(super::sized_from_memory(c).global.half_open_limit, 100);
    }

    /// The sysconf product agrees with the kernel's own MemTotal (which
    /// leaves out what firmware and the kernel image keep: within 10 %).
    #[test]
    fn physical_memory_matches_proc_meminfo() {
        let total = super::physical_memory().expect("sysconf(_SC_PHYS_PAGES)");
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
        let kib: u64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        let mem = kib * 1024;
        assert!(total >= mem && total <= mem + mem / 10, "{total} vs {mem}");
    }
}
