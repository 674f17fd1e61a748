//! The ike-ctl client side: parse a command line into a typed request, send
//! it over the control socket, print the answer (issue 6 extends the output).

use ike_ipc::channel::Channel;
use ike_ipc::msg::{CtlRequest, CtlResponse, Stats};
use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};
use std::os::fd::AsRawFd;
use std::path::Path;

pub const USAGE: &str = "usage: ike-ctl [-s socket] command\n\
commands: show sa|policy|stats [--json] | up NAME | down NAME | rekey NAME |\n          \
move NAME ADDRESS | reload | log verbose | log brief | monitor";

pub type CtlClient = Channel<CtlRequest, CtlResponse>;

/// Parses the words after the flags into a request.
pub fn parse_command(words: &[String]) -> Result<CtlRequest, String> {
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    Ok(match w.as_slice() {
        ["show", "sa"] => CtlRequest::ShowSa,
        ["show", "sa", "--json"] => CtlRequest::ShowSaJson,
        ["show", "policy"] => CtlRequest::ShowPolicy,
        ["show", "policy", "--json"] => CtlRequest::ShowPolicyJson,
        // Stats are typed: ike-ctl formats the JSON itself (`wants_json`).
        ["show", "stats"] | ["show", "stats", "--json"] => CtlRequest::ShowStats,
        ["up", name] => CtlRequest::Up(name.to_string()),
        ["down", name] => CtlRequest::Down(name.to_string()),
        ["rekey", name] => CtlRequest::Rekey(name.to_string()),
        ["move", name, addr] => CtlRequest::Move(
            name.to_string(),
            addr.parse()
                .map_err(|_| format!("move: {addr} is not an IP address"))?,
        ),
        ["reload"] => CtlRequest::Reload,
        ["log", "verbose"] => CtlRequest::LogVerbose(true),
        ["log", "brief"] => CtlRequest::LogVerbose(false),
        ["monitor"] => CtlRequest::Monitor,
        _ => return Err(format!("unknown command: {}\n{USAGE}", w.join(" "))),
    })
}

/// Connects to the control socket at `path`.
pub fn connect_control(path: &Path) -> Result<CtlClient, String> {
    let shown = path.display();
    let s = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| format!("socket: {e}"))?;
    let addr = UnixAddr::new(path).map_err(|e| format!("{shown}: {e}"))?;
    connect(s.as_raw_fd(), &addr).map_err(|e| format!("connect {shown}: {e}"))?;
    Ok(Channel::from_fd(s))
}

/// Sends one request and waits for one response; a long answer's parts
/// (`CtlResponse::Part`) are joined into the one `Text` they end with.
pub fn request(path: &Path, req: &CtlRequest) -> Result<CtlResponse, String> {
    let mut c = connect_control(path)?;
    let sent = c.send(req);
    // A refused client (wrong uid) gets its answer and is closed at once,
    // so the send may fail: the reason is still waiting to be read.
    let mut parts = String::new();
    loop {
        match c.recv() {
            Ok(r) => match r.msg {
                CtlResponse::Part(p) => parts.push_str(&p),
                CtlResponse::Text(t) if !parts.is_empty() => {
                    parts.push_str(&t);
                    return Ok(CtlResponse::Text(parts));
                }
                other => return Ok(other),
            },
            Err(e) => {
                return match sent {
                    Err(s) => Err(format!("send: {s}")),
                    Ok(()) => Err(format!("receive: {e}")),
                }
            }
        }
    }
}

/// Whether the command line asked for JSON (`show ... --json`).
pub fn wants_json(words: &[String]) -> bool {
    words.first().map(String::as_str) == Some("show")
        && words.last().map(String::as_str) == Some("--json")
}

/// `show stats --json`: one object, the same names as the text form.
pub fn format_stats_json(s: &Stats) -> String {
    let body: Vec<String> = format_stats(s)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| format!("\"{k}\":{v}"))
        .collect();
    format!("{{{}}}\n", body.join(","))
}

/// `show stats` as `name value` lines.
pub fn format_stats(s: &Stats) -> String {
    let rows: [(&str, u64); 13] = [
        ("uptime_secs", s.uptime_secs),
        ("udp_rx_datagrams", s.udp_rx_datagrams),
        ("udp_rx_bytes", s.udp_rx_bytes),
        ("udp_tx_datagrams", s.udp_tx_datagrams),
        ("udp_tx_bytes", s.udp_tx_bytes),
        ("pfkey_rx_messages", s.pfkey_rx_messages),
        ("pfkey_tx_messages", s.pfkey_tx_messages),
        ("ctl_requests", s.ctl_requests),
        ("ctl_refused", s.ctl_refused),
        ("ike_sas", s.ike_sas),
        ("child_sas", s.child_sas),
        ("pfkey_tx_packets", s.pfkey_tx_packets),
        ("pfkey_queue_full", s.pfkey_queue_full),
    ];
    let mut out: String = rows.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
    out.push_str(&format!("half_open_sas {}\n", s.half_open_sas));
    out.push_str(&format!("cookie_mode {}\n", s.cookie_mode));
    out.push_str(&format!("leases {}\n", s.leases));
    out.push_str(&format!("lease_failures {}\n", s.lease_failures));
    for (reason, n) in &s.drops {
        // Names come from the engine; keep them one word, JSON-safe.
        let name: String = reason
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        out.push_str(&format!("drop_{name} {n}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn commands_parse() {
        assert_eq!(
            parse_command(&words("show stats")).unwrap(),
            CtlRequest::ShowStats
        );
        assert_eq!(
            parse_command(&words("up peer1")).unwrap(),
            CtlRequest::Up("peer1".into())
        );
        assert_eq!(
            parse_command(&words("log brief")).unwrap(),
            CtlRequest::LogVerbose(false)
        );
        assert!(parse_command(&words("show")).is_err());
        assert!(parse_command(&words("up")).is_err());
        assert!(parse_command(&words("frobnicate")).is_err());
        assert_eq!(
            parse_command(&words("move peer1 2001:db8::7")).unwrap(),
            CtlRequest::Move("peer1".into(), "2001:db8::7".parse().unwrap())
        );
        assert!(parse_command(&words("move peer1 nowhere")).is_err());
        assert!(parse_command(&words("move peer1")).is_err());
        assert_eq!(
            parse_command(&words("show sa --json")).unwrap(),
            CtlRequest::ShowSaJson
        );
        assert_eq!(
            parse_command(&words("show policy --json")).unwrap(),
            CtlRequest::ShowPolicyJson
        );
        assert!(wants_json(&words("show stats --json")));
        assert!(!wants_json(&words("show stats")));
        assert!(
            parse_command(&words("up --json")).is_ok_and(|r| r == CtlRequest::Up("--json".into()))
        );
    }

    #[test]
    fn stats_lines() {
        let s = Stats {
            udp_rx_datagrams: 3,
            half_open_sas: 64,
            drops: vec![("half-open-source-limit".into(), 7)],
            ..Stats::default()
        };
        let out = format_stats(&s);
        assert!(out.contains("udp_rx_datagrams 3\n"));
        assert!(out.contains("half_open_sas 64\ncookie_mode 0\n"), "{out}");
        assert!(out.contains("drop_half_open_source_limit 7\n"), "{out}");
        assert_eq!(out.lines().count(), 18);
        let j = format_stats_json(&s);
        assert!(j.starts_with("{\"uptime_secs\":0,"), "{j}");
        assert!(j.contains("\"udp_rx_datagrams\":3,"), "{j}");
        assert!(j.ends_with("}\n"), "{j}");
    }
}
