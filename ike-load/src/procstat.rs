//! What the daemons under load cost, read from /proc: CPU time
//! (`/proc/PID/stat` utime + stime, in clock ticks) and resident memory
//! (`/proc/PID/status` VmRSS).

use std::time::Duration;

/// One watched process.
#[derive(Clone, Debug)]
pub struct Watched {
    /// What the report calls it (`ike-net`, `charon`, ...).
    pub name: String,
    pub pid: u32,
}

/// CPU time and RSS of one process at one moment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    pub cpu: Duration,
    pub rss_kib: u64,
}

/// The clock tick /proc counts in. USER_HZ is 100 on every Linux
/// architecture we run on (sysconf(_SC_CLK_TCK)); stated, not guessed at
/// run time, to keep this crate free of libc.
const TICKS_PER_SEC: u64 = 100;

/// utime + stime of `pid` (all its threads).
pub fn cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: count the
    // fields after the last ')'. utime and stime are fields 14 and 15 of
    // the line, the 12th and 13th after the name.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(Duration::from_millis(
        (utime + stime) * 1000 / TICKS_PER_SEC,
    ))
}

/// VmRSS of `pid` in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

pub fn sample(pid: u32) -> Sample {
    Sample {
        cpu: cpu(pid).unwrap_or_default(),
        rss_kib: rss_kib(pid).unwrap_or(0),
    }
}

/// The process's name as the kernel knows it (`/proc/PID/comm`).
pub fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| format!("pid{pid}"))
}

/// `pid` and all its descendants (ike-parent, then ike-net and ike-pfkey),
/// from `/proc/PID/task/TID/children`.
pub fn tree(pid: u32) -> Vec<Watched> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        if out.iter().any(|w: &Watched| w.pid == p) {
            continue;
        }
        out.push(Watched {
            name: comm(p),
            pid: p,
        });
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let kids = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
            todo.extend(
                kids.split_whitespace()
                    .filter_map(|k| k.parse::<u32>().ok()),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_process_has_cpu_time_and_memory() {
        let me = std::process::id();
        // Burn a little CPU so that the tick count can move.
        let t0 = std::time::Instant::now();
        let mut x = 0u64;
        while t0.elapsed() < Duration::from_millis(30) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        assert!(x != 1);
        assert!(rss_kib(me).unwrap() > 0);
        assert!(cpu(me).is_some());
        let t = tree(me);
        assert_eq!(t[0].pid, me);
        assert!(cpu(u32::MAX).is_none());
    }
}
