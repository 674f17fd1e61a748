//! ike-load: an IKEv2 load generator and benchmark of the project's own
//! (issue 12). ike-proto's engine initiates N IKE SAs (PSK, X25519 or
//! ECP-256, AES-256-GCM), C at a time, from many source addresses and
//! identities, over real UDP sockets, against any responder (our daemon,
//! strongSwan's charon). It reports handshakes per second and, from /proc,
//! the CPU time per handshake and the resident memory per IKE SA of every
//! watched daemon process.
//!
//!   ike-load --target IP:PORT --count N --concurrency C [--child]
//!            [--group x25519|ecp256] [--psk SECRET]
//!            [--sources FIRST_IPV4 --source-count K] [--ids M] [--local-port P]
//!            [--watch PID]... [--aside PID]... [--label NAME] [--settle-ms MS]
//!            [--timeout-s S]
//!
//! `--watch PID` watches PID and its descendants (ike-parent, ike-net,
//! ike-pfkey) and sums them; `--aside PID` is reported but not summed
//! (pfkey-sim, which stands in for the kernel). Every output line starts with `ike-load LABEL:` and carries
//! key=value pairs for scripts (tests/load/run.sh).

mod procstat;

use ike_proto::engine::{
    ChildProposal, Command, Config, Encr, Engine, Event, Identity, IkeProposal, KernelEvent,
    KernelRequest, KeyStore, Policy, StartAction, SystemRng, TrafficSelector,
};
use ike_proto::wire::{DhGroup, EncrId, PrfId};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use procstat::{Sample, Watched};
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: ike-load --target IP:PORT --count N --concurrency C [--child]
                [--group x25519|ecp256] [--psk SECRET]
                [--sources FIRST_IPV4 --source-count K] [--ids M] [--local-port P]
                [--watch PID]... [--aside PID]... [--label NAME] [--settle-ms MS]
                [--timeout-s S]";

struct Opts {
    target: SocketAddr,
    count: usize,
    concurrency: usize,
    child: bool,
    group: DhGroup,
    psk: String,
    first_source: Ipv4Addr,
    sources: usize,
    /// Identities `load-0.example` .. `load-(M-1).example`, round robin.
    ids: usize,
    local_port: u16,
    watch: Vec<u32>,
    aside: Vec<u32>,
    label: String,
    settle: Duration,
    timeout: Duration,
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        target: "127.0.0.1:500".parse().map_err(|_| "internal")?,
        count: 100,
        concurrency: 16,
        child: false,
        group: DhGroup::CURVE25519,
        psk: "ike-load pre-shared key".into(),
        first_source: Ipv4Addr::new(127, 1, 0, 1),
        sources: 64,
        ids: 16,
        local_port: 41000,
        watch: Vec::new(),
        aside: Vec::new(),
        label: "run".into(),
        settle: Duration::from_millis(500),
        timeout: Duration::from_secs(60),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut v = || {
            it.next()
                .cloned()
                .ok_or(format!("{a} needs a value\n{USAGE}"))
        };
        let num = |s: String| s.parse::<u64>().map_err(|e| format!("{a} {s}: {e}"));
        match a.as_str() {
            "--target" => o.target = v()?.parse().map_err(|e| format!("--target: {e}"))?,
            "--count" => o.count = num(v()?)? as usize,
            "--concurrency" => o.concurrency = (num(v()?)? as usize).max(1),
            "--child" => o.child = true,
            "--group" => {
                o.group = match v()?.as_str() {
                    "x25519" | "curve25519" => DhGroup::CURVE25519,
                    "ecp256" => DhGroup::ECP_256,
                    g => return Err(format!("--group {g}: x25519 or ecp256")),
                }
            }
            "--psk" => o.psk = v()?,
            "--sources" => o.first_source = v()?.parse().map_err(|e| format!("--sources: {e}"))?,
            "--source-count" => o.sources = (num(v()?)? as usize).max(1),
            "--ids" => o.ids = (num(v()?)? as usize).max(1),
            "--local-port" => o.local_port = num(v()?)? as u16,
            "--watch" => o.watch.push(num(v()?)? as u32),
            "--aside" => o.aside.push(num(v()?)? as u32),
            "--label" => o.label = v()?,
            "--settle-ms" => o.settle = Duration::from_millis(num(v()?)?),
            "--timeout-s" => o.timeout = Duration::from_secs(num(v()?)?),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(o)
}

fn source(o: &Opts, i: usize) -> IpAddr {
    let k = (i % o.sources) as u32;
    IpAddr::V4(Ipv4Addr::from(u32::from(o.first_source).wrapping_add(k)))
}

/// Policies per engine. The engine finds a policy by name and an IKE SA
/// for a policy by walking its tables; with all N in one engine starting
/// handshake i costs O(i), so large runs shard them over several engines
/// (responses are routed back by our IKE SPI).
const PER_ENGINE: usize = 1000;

fn policy_name(i: usize) -> String {
    format!("h{i}")
}

/// Handshake `i`: a source address and an identity `load-J.example`
/// (round robin over both pools), and with a child its own inner host
/// 10.128.0.0/9 + i towards 10.1.0.0/16.
fn policy(o: &Opts, i: usize) -> Policy {
    let src = source(o, i);
    let mut p = Policy::new(&policy_name(i), src, o.target.ip());
    p.local_port = o.local_port;
    p.peer_port = o.target.port();
    p.local_id = Identity::fqdn(&format!("load-{}.example", i % o.ids));
    p.ike_proposals = vec![IkeProposal {
        encr: vec![Encr {
            id: EncrId::AES_GCM_16,
            key_bits: Some(256),
        }],
        prf: vec![PrfId::HMAC_SHA2_256],
        integ: vec![],
        dh: vec![o.group],
    }];
    p.child_proposals = vec![ChildProposal {
        encr: vec![Encr {
            id: EncrId::AES_GCM_16,
            key_bits: Some(256),
        }],
        integ: vec![],
        dh: vec![],
        esn: false,
    }];
    let inner = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 128, 0, 0)) + (i as u32 & 0x7f_ffff));
    p.local_ts = vec![TrafficSelector::host(IpAddr::V4(inner))];
    p.peer_ts = TrafficSelector::prefix(IpAddr::V4(Ipv4Addr::new(10, 1, 0, 0)), 16)
        .into_iter()
        .collect();
    p.childless = !o.child;
    // Identities repeat across handshakes: INITIAL_CONTACT would make the
    // responder delete every earlier IKE SA of the same identity, and the
    // run would measure 16 SAs instead of N.
    p.initial_contact = false;
    p.dpd_interval = None;
    p.fragmentation = false;
    p.start = StartAction::Passive;
    p
}

/// The kernel side of the initiator: SPIs from a counter, every install
/// accepted (the generator measures the responder, not its own kernel).
fn kernel(e: &mut Engine, now: Instant, next_spi: &mut u32) {
    while let Some(r) = e.poll_kernel_request() {
        let ev = match r {
            KernelRequest::AllocateSpi { request, .. } => {
                *next_spi = next_spi.wrapping_add(1).max(0x100);
                Some(KernelEvent::SpiAllocated {
                    request,
                    spi: *next_spi,
                })
            }
            KernelRequest::UpdateSa(p) | KernelRequest::AddSa(p) => {
                Some(KernelEvent::Installed { request: p.request })
            }
            KernelRequest::AddPolicy(p) => Some(KernelEvent::Installed { request: p.request }),
            _ => None,
        };
        if let Some(ev) = ev {
            e.handle_kernel_event(now, ev);
        }
    }
}

#[derive(Default)]
struct Tally {
    ok: usize,
    failed: usize,
    finished: HashSet<String>,
    first_failure: Option<String>,
    last_done: Option<Instant>,
}

impl Tally {
    fn done(&mut self, policy: &str, ok: bool, why: impl FnOnce() -> String, now: Instant) {
        if !self.finished.insert(policy.to_string()) {
            return;
        }
        if ok {
            self.ok += 1;
        } else {
            self.failed += 1;
            if self.first_failure.is_none() {
                self.first_failure = Some(why());
            }
        }
        self.last_done = Some(now);
    }
}

fn run(o: &Opts) -> Result<(), String> {
    // One socket per source address, all on the same port.
    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let mut sockets: Vec<UdpSocket> = Vec::new();
    let mut by_ip: HashMap<IpAddr, usize> = HashMap::new();
    for k in 0..o.sources.min(o.count.max(1)) {
        let ip = source(o, k);
        let mut s = UdpSocket::bind(SocketAddr::new(ip, o.local_port))
            .map_err(|e| format!("bind {ip}:{}: {e}", o.local_port))?;
        poll.registry()
            .register(&mut s, Token(k), Interest::READABLE)
            .map_err(|e| format!("register: {e}"))?;
        by_ip.insert(ip, k);
        sockets.push(s);
    }
    let start = Instant::now();
    let mut engines: Vec<Engine> = (0..o.count.div_ceil(PER_ENGINE).max(1))
        .map(|e| {
            let first = e * PER_ENGINE;
            let last = (first + PER_ENGINE).min(o.count);
            // ike-load is a test tool: its PSK stays in-process.
            let mut store = KeyStore::new();
            for i in first..last {
                store.add_psk(&policy_name(i), o.psk.as_bytes());
            }
            let cfg = Config {
                policies: (first..last).map(|i| Arc::new(policy(o, i))).collect(),
                credentials: Arc::new(store),
                ..Config::default()
            };
            Engine::new(cfg, Box::new(SystemRng::new()), start)
        })
        .collect();
    // Our IKE SPI (the first 8 bytes of every message of an IKE SA we
    // initiated) -> the engine that owns the SA.
    let mut by_spi: HashMap<[u8; 8], usize> = HashMap::new();

    let mut watched: Vec<Watched> = o.watch.iter().flat_map(|&p| procstat::tree(p)).collect();
    let summed = watched.len();
    watched.extend(o.aside.iter().map(|&pid| Watched {
        name: format!("{}(aside)", procstat::comm(pid)),
        pid,
    }));
    let before: Vec<Sample> = watched.iter().map(|w| procstat::sample(w.pid)).collect();
    let me = std::process::id();
    let my_before = procstat::sample(me);

    let mut tally = Tally::default();
    let mut started = 0usize;
    let mut next_spi = 0x1000u32;
    let mut pending: VecDeque<(usize, SocketAddr, Vec<u8>)> = VecDeque::new();
    let mut events = Events::with_capacity(256);
    let mut buf = vec![0u8; 65536];
    let t0 = Instant::now();
    while tally.ok + tally.failed < o.count {
        let now = Instant::now();
        if now - t0 > o.timeout {
            break;
        }
        let in_flight = started - (tally.ok + tally.failed);
        for _ in in_flight..o.concurrency {
            if started == o.count {
                break;
            }
            let name = policy_name(started);
            if let Some(e) = engines.get_mut(started / PER_ENGINE) {
                e.handle_command(now, Command::Initiate { policy: name });
            }
            started += 1;
        }
        for (ei, engine) in engines.iter_mut().enumerate() {
            kernel(engine, now, &mut next_spi);
            while let Some(t) = engine.poll_transmit() {
                log::debug!("{} -> {}: {} bytes", t.local, t.remote, t.bytes.len());
                if let Some(spi) = t.bytes.first_chunk::<8>() {
                    by_spi.insert(*spi, ei);
                }
                if let Some(&k) = by_ip.get(&t.local.ip()) {
                    pending.push_back((k, t.remote, t.bytes));
                }
            }
        }
        while let Some((k, to, bytes)) = pending.pop_front() {
            match sockets[k].send_to(&bytes, to) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    pending.push_front((k, to, bytes));
                    break;
                }
                Err(e) => log::debug!("send to {to}: {e}"),
            }
        }
        while let Some(ev) = engines.iter_mut().find_map(|e| e.poll_event()) {
            log::debug!("event {ev:?}");
            match ev {
                Event::IkeUp { policy, .. } if !o.child => {
                    tally.done(&policy, true, String::new, now)
                }
                Event::ChildUp { policy, .. } => tally.done(&policy, true, String::new, now),
                Event::Failed {
                    policy: Some(policy),
                    reason,
                    ..
                } => tally.done(&policy, false, || format!("{policy}: {reason:?}"), now),
                _ => {}
            }
        }
        let wait = engines
            .iter()
            .filter_map(|e| e.poll_timeout())
            .min()
            .map(|t| t.saturating_duration_since(now))
            .unwrap_or(Duration::from_millis(50))
            .min(if pending.is_empty() {
                Duration::from_millis(50)
            } else {
                Duration::from_millis(1)
            });
        if let Err(e) = poll.poll(&mut events, Some(wait)) {
            if e.kind() != ErrorKind::Interrupted {
                return Err(format!("poll: {e}"));
            }
        }
        let now = Instant::now();
        for ev in events.iter() {
            let k = ev.token().0;
            let Some(s) = sockets.get(k) else { continue };
            let local = SocketAddr::new(source(o, k), o.local_port);
            loop {
                match s.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        log::debug!("{from} -> {local}: {n} bytes");
                        let bytes = buf.get(..n).unwrap_or(&[]);
                        let owner = bytes.first_chunk::<8>().and_then(|spi| by_spi.get(spi));
                        if let Some(e) = owner.and_then(|&i| engines.get_mut(i)) {
                            e.handle_datagram(now, local, from, bytes);
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => {
                        log::debug!("recv: {e}");
                        break;
                    }
                }
            }
        }
        for e in engines.iter_mut() {
            if e.poll_timeout().is_some_and(|t| t <= now) {
                e.handle_timeout(now);
            }
        }
    }
    let elapsed = tally.last_done.unwrap_or_else(Instant::now) - t0;
    // Let the daemons finish logging and installing before reading them.
    std::thread::sleep(o.settle);
    let after: Vec<Sample> = watched.iter().map(|w| procstat::sample(w.pid)).collect();
    let my_after = procstat::sample(me);

    let l = &o.label;
    let secs = elapsed.as_secs_f64().max(1e-9);
    println!(
        "ike-load {l}: handshakes={} ok={} failed={} child={} group={:?} concurrency={} sources={} ids={} elapsed_s={:.3} rate_hs_per_s={:.1}",
        o.count,
        tally.ok,
        tally.failed,
        o.child,
        o.group,
        o.concurrency,
        o.sources,
        o.ids,
        secs,
        tally.ok as f64 / secs
    );
    if let Some(f) = &tally.first_failure {
        println!("ike-load {l}: first_failure={f}");
    }
    let per = |d: Duration| d.as_secs_f64() * 1000.0 / tally.ok.max(1) as f64;
    let mut total_cpu = Duration::ZERO;
    let mut total_rss: i64 = 0;
    for (i, ((w, b), a)) in watched.iter().zip(&before).zip(&after).enumerate() {
        let cpu = a.cpu.saturating_sub(b.cpu);
        let rss = a.rss_kib as i64 - b.rss_kib as i64;
        if i < summed {
            total_cpu += cpu;
            total_rss += rss;
        }
        println!(
            "ike-load {l}: proc {} pid={} cpu_ms={} cpu_ms_per_hs={:.4} rss_kib_before={} rss_kib_after={}",
            w.name,
            w.pid,
            cpu.as_millis(),
            per(cpu),
            b.rss_kib,
            a.rss_kib
        );
    }
    println!(
        "ike-load {l}: total cpu_ms_per_hs={:.4} rss_bytes_per_sa={:.0} generator_cpu_ms_per_hs={:.4}",
        per(total_cpu),
        total_rss as f64 * 1024.0 / tally.ok.max(1) as f64,
        per(my_after.cpu.saturating_sub(my_before.cpu))
    );
    if tally.ok < o.count {
        return Err(format!("{} of {} handshakes completed", tally.ok, o.count));
    }
    Ok(())
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ike-load: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&o) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ike-load: {e}");
            ExitCode::FAILURE
        }
    }
}
