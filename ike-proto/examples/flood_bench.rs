//! IKE_SA_INIT flood benchmark (issue 17): one responder `Engine` on this
//! thread, as in ike-net, processes a flood at the highest rate this
//! machine sustains (the engine is the bottleneck: every attack datagram
//! is handled back to back), while legitimate initiators from other
//! addresses do full handshakes (IKE_SA_INIT, the cookie round if asked,
//! IKE_AUTH). Prints the fraction of legitimate handshakes completed and
//! their latency.
//!
//! The shared socket queue is modelled: each legitimate datagram is
//! handled only after `QUEUE` flood datagrams (a full receive buffer of
//! about 200 KB of IKE_SA_INITs ahead of it), so its latency includes the
//! flood's cost. Wall-clock time drives the engine (timeouts, cookie
//! secret rotation).
//!
//!     cargo run --release -p ike-proto --example flood_bench -- [seconds] [mode]
//!
//! Modes: `spoofed` (random source addresses, cannot answer cookies),
//! `cookie` (one address answering every cookie), `botnet` (256 /24
//! prefixes answering cookies), `all` (the three in turn; default).

#[path = "../tests/hostile_common/mod.rs"]
mod hostile_common;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hostile_common::*;
use ike_proto::wire::{ExchangeType, Message, NotifyType, Payload};

/// Flood datagrams ahead of each legitimate one (socket queue depth).
const QUEUE: usize = 500;
/// A legitimate handshake counts as completed within this time.
const DEADLINE: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Spoofed,
    Cookie,
    Botnet,
}

/// A cheap attacker: one key share reused, SPI and nonce varied.
struct Attacker {
    template: Initiator,
    n: u64,
    mode: Mode,
    sent: u64,
}

impl Attacker {
    fn source(&self) -> SocketAddr {
        let n = self.n;
        let ip: IpAddr = match self.mode {
            Mode::Spoofed => IpAddr::from([10, (n >> 16) as u8, (n >> 8) as u8, n as u8]),
            Mode::Cookie => IpAddr::from([203, 0, 113, 66]),
            Mode::Botnet => IpAddr::from([100, 64 + (n % 64) as u8, (n >> 6) as u8 % 4, 7]),
        };
        SocketAddr::new(ip, 500)
    }

    /// One flood datagram (and, answering cookies, the retry).
    fn shoot(&mut self, r: &mut Responder) {
        self.n += 1;
        let from = self.source();
        let t = &mut self.template;
        t.spi_i = 0xa000_0000_0000_0000 | self.n;
        t.ni[..8].copy_from_slice(&self.n.to_be_bytes());
        let first = t.init_message(t.init_payloads(None, Vec::new()));
        let bytes = first.to_bytes().expect("encodes");
        let out = r.feed(from, &bytes);
        self.sent += 1;
        if self.mode == Mode::Spoofed {
            return;
        }
        let cookie = out.first().and_then(|a| {
            let m = Message::parse(a).ok()?;
            match m.payloads.first() {
                Some(Payload::Notify(n)) if n.notify_type == NotifyType::COOKIE => {
                    Some(n.data.clone())
                }
                _ => None,
            }
        });
        if let Some(c) = cookie {
            let retry = t.init_message(t.init_payloads(Some(&c), Vec::new()));
            r.feed(from, &retry.to_bytes().expect("encodes"));
            self.sent += 1;
        }
    }
}

/// One legitimate handshake with the flood running; its latency if it
/// completed.
fn legitimate(r: &mut Responder, a: &mut Attacker, k: u64) -> Option<Duration> {
    let started = Instant::now();
    let addr = format!("198.18.{}.{}", (k >> 8) as u8, k as u8);
    let mut i = Initiator::new(&addr, 0x1e91_0000 + k);
    let mut cookie: Option<Vec<u8>> = None;
    // IKE_SA_INIT, at most once more with a cookie.
    for _ in 0..2 {
        flood(r, a, QUEUE);
        let out = r.feed(i.addr, &i.init(cookie.as_deref()));
        let answer = out.first()?;
        match i.on_init_response(answer) {
            Ok(()) => break,
            Err(p) => match p.first() {
                Some(Payload::Notify(n)) if n.notify_type == NotifyType::COOKIE => {
                    cookie = Some(n.data.clone())
                }
                _ => return None,
            },
        }
    }
    i.tx.as_ref()?;
    flood(r, a, QUEUE);
    let before = ike_up_count(r);
    let m = i.protected(ExchangeType::IKE_AUTH, 1, &i.auth_payloads());
    r.feed(i.addr, &m);
    let took = started.elapsed();
    (ike_up_count(r) == before + 1 && took <= DEADLINE).then_some(took)
}

fn flood(r: &mut Responder, a: &mut Attacker, n: usize) {
    for _ in 0..n {
        a.shoot(r);
    }
    let now = Instant::now();
    r.now = r.now.max(now);
    if r.engine.poll_timeout().is_some_and(|t| t <= r.now) {
        r.engine.handle_timeout(r.now);
    }
    while r.engine.poll_transmit().is_some() {}
    r.events.truncate(r.events.len().min(1_000_000));
}

fn run(mode: Mode, seconds: u64) {
    let mut r = Responder::new(responder_config());
    r.now = Instant::now();
    let mut a = Attacker {
        template: Initiator::new("10.0.0.1", 1),
        n: 0,
        mode,
        sent: 0,
    };
    let start = Instant::now();
    let mut latencies = Vec::new();
    let mut tried = 0u64;
    while start.elapsed() < Duration::from_secs(seconds) {
        tried += 1;
        if let Some(l) = legitimate(&mut r, &mut a, tried) {
            latencies.push(l);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let stats = r.engine.admission_stats();
    let name = match mode {
        Mode::Spoofed => "spoofed",
        Mode::Cookie => "cookie",
        Mode::Botnet => "botnet",
    };
    println!(
        "{name:8} flood {:>7.0} datagrams/s | legitimate {}/{} completed within 2 s ({:.1} %) | latency ms median {:.1} p90 {:.1} max {:.1} | half-open at end {} cookie mode {}",
        a.sent as f64 / elapsed,
        latencies.len(),
        tried,
        100.0 * latencies.len() as f64 / tried.max(1) as f64,
        pct(0.5),
        pct(0.9),
        pct(1.0),
        stats.half_open,
        stats.cookie_mode,
    );
    let drops: Vec<String> = stats
        .drops
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(r, n)| format!("{} {n}", r.name()))
        .collect();
    println!("         drops: {}", drops.join(", "));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let modes = match args.get(2).map(String::as_str) {
        Some("spoofed") => vec![Mode::Spoofed],
        Some("cookie") => vec![Mode::Cookie],
        Some("botnet") => vec![Mode::Botnet],
        _ => vec![Mode::Spoofed, Mode::Cookie, Mode::Botnet],
    };
    for m in modes {
        run(m, seconds);
    }
}
