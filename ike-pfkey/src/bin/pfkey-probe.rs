//! pfkey-probe: run the broker's code path against a PF_KEY socket and print
//! what each step did. For the kernel lab (a real kernel's af_key, checked with
//! `ip xfrm state` / `ip xfrm policy`) and for the simulator.
//!
//!   pfkey-probe [--pfkey kernel|unix:PATH] [--dialect linux|freebsd|openbsd]
//!               [--local IP] [--peer IP] [--local-net NET/LEN] [--peer-net NET/LEN]
//!               [--keep]
//!
//! Steps: REGISTER (ESP, AH), GETSPI + UPDATE (inbound SA), ADD (outbound SA),
//! SPDADD (out, in, and fwd on Linux), GET, DUMP, SPDDUMP, then DELETE of the
//! SAs and policies (unless --keep, which leaves them for inspection).
//! Exit status 0 only if every step succeeded.

use ike_ipc::config::{ChildScope, SaRules, Suite};
use ike_ipc::config::{Encapsulation, Encryption, Flow, Integrity, IpNet, IpsecProtocol, Secret};
use ike_ipc::msg::pfkey::{
    BrokerPolicyParams, BrokerRequest, BrokerSaParams, KernelReply, PolicyDir, SaId, SaLifetime,
    Selectors,
};
use ike_ipc::pfkey_unix::connect_pfkey;
use ike_pfkey::broker::allow::AllowedSet;
use ike_pfkey::broker::blocking::{open_pfkey_socket, BlockingBroker};
use ike_pfkey::broker::BrokerConfig;
use ike_pfkey::dialect::{Dialect, ExtKind};
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str =
    "usage: pfkey-probe [--pfkey kernel|unix:PATH] [--dialect linux|freebsd|openbsd]
                   [--local IP] [--peer IP] [--local-net NET/LEN] [--peer-net NET/LEN] [--keep]";

struct Opts {
    pfkey: String,
    dialect: Dialect,
    local: IpAddr,
    peer: IpAddr,
    local_net: IpNet,
    peer_net: IpNet,
    keep: bool,
    soft: u64,
    hard: u64,
    events: u64,
    poke_from: Option<IpAddr>,
}

fn parse_net(s: &str) -> Result<IpNet, String> {
    let (a, p) = s.split_once('/').ok_or(format!("{s}: want ADDR/LEN"))?;
    let addr: IpAddr = a.parse().map_err(|e| format!("{s}: {e}"))?;
    let len: u8 = p.parse().map_err(|e| format!("{s}: {e}"))?;
    IpNet::new(addr, len).ok_or(format!("{s}: not a network prefix"))
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        pfkey: "kernel".into(),
        dialect: Dialect::native(),
        local: "10.99.0.1".parse().map_err(|_| "default")?,
        peer: "10.99.0.2".parse().map_err(|_| "default")?,
        local_net: parse_net("10.98.1.0/24")?,
        peer_net: parse_net("10.98.2.0/24")?,
        keep: false,
        soft: 3000,
        hard: 3600,
        events: 0,
        poke_from: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or(format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--pfkey" => o.pfkey = value()?,
            "--dialect" => {
                o.dialect = match value()?.as_str() {
                    "linux" => Dialect::Linux,
                    "freebsd" => Dialect::FreeBsd,
                    "openbsd" => Dialect::OpenBsd,
                    d => return Err(format!("unknown dialect {d}")),
                }
            }
            "--local" => o.local = value()?.parse().map_err(|e| format!("--local: {e}"))?,
            "--peer" => o.peer = value()?.parse().map_err(|e| format!("--peer: {e}"))?,
            "--local-net" => o.local_net = parse_net(&value()?)?,
            "--peer-net" => o.peer_net = parse_net(&value()?)?,
            "--keep" => o.keep = true,
            "--lifetime" => {
                let v = value()?;
                let (a, b) = v.split_once(':').ok_or("--lifetime SOFT:HARD (seconds)")?;
                o.soft = a.parse().map_err(|e| format!("--lifetime: {e}"))?;
                o.hard = b.parse().map_err(|e| format!("--lifetime: {e}"))?;
            }
            "--events" => o.events = value()?.parse().map_err(|e| format!("--events: {e}"))?,
            "--poke-from" => {
                o.poke_from = Some(value()?.parse().map_err(|e| format!("--poke-from: {e}"))?)
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    ike_ipc::childlog::init(ike_ipc::childlog::level_from_env(log::LevelFilter::Warn));
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args).and_then(|o| run(&o)) {
        Ok(0) => {
            println!("pfkey-probe: all steps succeeded");
            ExitCode::SUCCESS
        }
        Ok(n) => {
            println!("pfkey-probe: {n} step(s) failed");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("pfkey-probe: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The byte lifetime of the probe's SAs (1 GiB: never reached by a probe).
const PROBE_BYTES: u64 = 1 << 30;

fn sa(o: &Opts, spi: u32, src: IpAddr, dst: IpAddr) -> BrokerSaParams {
    // Fixed, well-known test keys: this tool installs SAs for inspection only.
    BrokerSaParams {
        id: SaId {
            proto: IpsecProtocol::Esp,
            spi,
            src,
            dst,
        },
        mode: Encapsulation::Tunnel,
        reqid: 42,
        encryption: Some(Encryption::Aes128Cbc),
        enc_key: Secret::new((0u8..16).collect()),
        integrity: Some(Integrity::HmacSha1),
        auth_key: Secret::new((100u8..120).collect()),
        replay_window: if o.dialect == Dialect::Linux { 32 } else { 64 },
        esn: false,
        // The broker refuses unlimited lifetimes (issue 16): bytes too.
        soft: SaLifetime {
            seconds: o.soft,
            bytes: PROBE_BYTES / 10 * 9,
            packets: 0,
        },
        hard: SaLifetime {
            seconds: o.hard,
            bytes: PROBE_BYTES,
            packets: 0,
        },
        natt: None,
        acquire_seq: 0,
    }
}

fn policy(o: &Opts, dir: PolicyDir) -> BrokerPolicyParams {
    let (src, dst, tunnel) = match dir {
        PolicyDir::Out => (o.local_net, o.peer_net, (o.local, o.peer)),
        _ => (o.peer_net, o.local_net, (o.peer, o.local)),
    };
    BrokerPolicyParams {
        dir,
        sel: Selectors {
            src,
            dst,
            proto: None,
            src_port: None,
            dst_port: None,
        },
        proto: IpsecProtocol::Esp,
        mode: Encapsulation::Tunnel,
        tunnel: Some(tunnel),
        reqid: 42,
    }
}

fn run(o: &Opts) -> Result<usize, String> {
    let fd = if o.pfkey == "kernel" {
        open_pfkey_socket()
            .map_err(|e| format!("socket(PF_KEY): {e} (root / CAP_NET_ADMIN and af_key needed)"))?
    } else if let Some(path) = o.pfkey.strip_prefix("unix:") {
        connect_pfkey(std::path::Path::new(path)).map_err(|e| e.to_string())?
    } else {
        return Err(format!("--pfkey {}: want kernel or unix:PATH", o.pfkey));
    };
    let allowed = AllowedSet {
        children: vec![ChildScope {
            local: Some(o.local),
            peer: Some(IpNet::host(o.peer)),
            protocol: IpsecProtocol::Esp,
            mode: Encapsulation::Tunnel,
            flows: vec![Flow {
                proto: None,
                src: o.local_net,
                src_port: None,
                dst: o.peer_net,
                dst_port: None,
            }],
            sa: SaRules {
                suites: vec![Suite {
                    encryption: Some(Encryption::Aes128Cbc),
                    integrity: Some(Integrity::HmacSha1),
                    esn: false,
                }],
                max_seconds: o.hard,
                max_bytes: PROBE_BYTES,
            },
        }],
        natt_port: 0,
        pools: Vec::new(),
    };
    let cfg = BrokerConfig {
        dialect: o.dialect,
        pid: std::process::id(),
        flush_on_start: false,
        delete_on_exit: !o.keep,
        allowed,
        timeout: Duration::from_secs(5),
    };
    let (mut bb, supported) =
        BlockingBroker::start(fd, cfg).map_err(|e| format!("REGISTER: {e}"))?;
    println!("REGISTER ok: encryption {:?}", supported.encryption);
    println!("REGISTER ok: integrity {:?}", supported.integrity);
    let mut failed = 0;
    let mut step =
        |name: &str, r: std::io::Result<Result<KernelReply, ike_ipc::msg::pfkey::KernelError>>| {
            match &r {
                Ok(Ok(reply)) => println!("{name} ok: {reply:?}"),
                Ok(Err(e)) => {
                    failed += 1;
                    println!("{name} FAILED: {e:?}");
                }
                Err(e) => {
                    failed += 1;
                    println!("{name} FAILED: {e}");
                }
            }
            r.ok().and_then(|x| x.ok())
        };
    let getspi = BrokerRequest::GetSpi {
        proto: IpsecProtocol::Esp,
        src: o.peer,
        dst: o.local,
        mode: Encapsulation::Tunnel,
        reqid: 42,
        acquire_seq: 0,
    };
    let spi_in = match step("GETSPI", bb.request(getspi)) {
        Some(KernelReply::Spi(s)) => s,
        _ => 0,
    };
    let inbound = sa(o, spi_in, o.peer, o.local);
    step(
        "UPDATE",
        bb.request(BrokerRequest::UpdateSa(Box::new(inbound))),
    );
    let spi_out = 0x00c0_ffee;
    let outbound = sa(o, spi_out, o.local, o.peer);
    step("ADD", bb.request(BrokerRequest::AddSa(Box::new(outbound))));
    let mut dirs = vec![PolicyDir::Out, PolicyDir::In];
    if o.dialect == Dialect::Linux {
        dirs.push(PolicyDir::Fwd);
    }
    for d in &dirs {
        step(
            &format!("SPDADD {d:?}"),
            bb.request(BrokerRequest::AddPolicy(policy(o, *d))),
        );
    }
    let out_id = SaId {
        proto: IpsecProtocol::Esp,
        spi: spi_out,
        src: o.local,
        dst: o.peer,
    };
    let in_id = SaId {
        proto: IpsecProtocol::Esp,
        spi: spi_in,
        src: o.peer,
        dst: o.local,
    };
    step("GET", bb.request(BrokerRequest::GetSa(out_id)));
    match bb.dump(false) {
        Ok(Ok(parts)) => {
            println!("DUMP ok: {} SA(s)", parts.len());
            for m in &parts {
                let spi = m.sa().map_or(0, |s| s.spi);
                let src = m
                    .address(ExtKind::AddressSrc)
                    .map(|a| a.ip().to_string())
                    .unwrap_or_default();
                let dst = m
                    .address(ExtKind::AddressDst)
                    .map(|a| a.ip().to_string())
                    .unwrap_or_default();
                println!("  {:?} spi {spi:#010x} {src} -> {dst}", m.header.satype);
            }
        }
        other => {
            failed += 1;
            println!("DUMP FAILED: {other:?}");
        }
    }
    if o.dialect.is_kame() {
        match bb.dump(true) {
            Ok(Ok(parts)) => println!("SPDDUMP ok: {} polic(ies)", parts.len()),
            other => {
                failed += 1;
                println!("SPDDUMP FAILED: {other:?}");
            }
        }
    }
    let gone = if o.events > 0 {
        let (gone, bad) = watch_events(o, &mut bb, out_id)?;
        failed += bad;
        gone
    } else {
        Vec::new()
    };
    if o.keep {
        println!("--keep: SAs and policies left in place");
        return Ok(failed);
    }
    let mut step2 =
        |name: &str, r: std::io::Result<Result<KernelReply, ike_ipc::msg::pfkey::KernelError>>| {
            match r {
                Ok(Ok(reply)) => println!("{name} ok: {reply:?}"),
                other => {
                    failed += 1;
                    println!("{name} FAILED: {other:?}");
                }
            }
        };
    for (name, id) in [("DELETE out", out_id), ("DELETE in", in_id)] {
        if gone.contains(&id) {
            println!("{name} skipped: the kernel expired it");
        } else {
            step2(name, bb.request(BrokerRequest::DeleteSa(id)));
        }
    }
    for d in &dirs {
        step2(
            &format!("SPDDELETE {d:?}"),
            bb.request(BrokerRequest::DeletePolicy(policy(o, *d))),
        );
    }
    bb.shutdown(Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    Ok(failed)
}

/// Print kernel events for `o.events` seconds. With `--poke-from`, once the
/// outbound SA is gone (hard EXPIRE) or at once if it has no short lifetime,
/// one UDP datagram from that address to the peer network makes the kernel
/// look for an SA and send ACQUIRE. Returns the SAs the kernel expired and
/// the number of expected events that did not come.
fn watch_events(
    o: &Opts,
    bb: &mut BlockingBroker,
    out_id: SaId,
) -> Result<(Vec<SaId>, usize), String> {
    use ike_ipc::msg::pfkey::{BrokerEvent, ExpireKind};
    let deadline = std::time::Instant::now() + Duration::from_secs(o.events);
    let short = o.hard < o.events;
    let mut poked = false;
    let mut gone = Vec::new();
    let (mut soft, mut hard, mut acquire) = (0, 0, 0);
    let poke = |from: IpAddr| -> Result<(), String> {
        let (first, _) = o.peer_net.range();
        let to = match first {
            IpAddr::V4(a) => IpAddr::V4(std::net::Ipv4Addr::from(u32::from(a).wrapping_add(1))),
            IpAddr::V6(a) => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(a).wrapping_add(1))),
        };
        let s = std::net::UdpSocket::bind((from, 0)).map_err(|e| format!("bind {from}: {e}"))?;
        // The send may fail while no SA exists (EAGAIN): the ACQUIRE is what counts.
        let r = s.send_to(b"pfkey-probe", (to, 9));
        println!("poke: UDP {from} -> {to}:9 ({r:?})");
        Ok(())
    };
    loop {
        if let Some(from) = o.poke_from {
            if !poked && (!short || gone.contains(&out_id)) {
                poked = true;
                poke(from)?;
            }
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break;
        }
        match bb.next_event(left).map_err(|e| e.to_string())? {
            Some(BrokerEvent::Expire { kind, sa }) => {
                println!(
                    "EVENT expire {kind:?} spi {:#010x} {} -> {}",
                    sa.spi, sa.src, sa.dst
                );
                match kind {
                    ExpireKind::Soft => soft += 1,
                    ExpireKind::Hard => {
                        hard += 1;
                        gone.push(sa);
                    }
                }
            }
            Some(BrokerEvent::Acquire {
                seq,
                src,
                dst,
                policy,
                mode,
                reqid,
                ..
            }) => {
                acquire += 1;
                println!("EVENT acquire seq {seq} {src} -> {dst} mode {mode:?} reqid {reqid} selectors {policy:?}");
            }
            Some(BrokerEvent::NatMapping { sa, old, new }) => {
                println!("EVENT NAT mapping spi {:#010x}: {old} -> {new}", sa.spi);
            }
            None => break,
        }
    }
    let mut missing = 0;
    // Linux checks the hard limit first when its state timer runs: a timer
    // that fires late (as under emulation) skips the soft EXPIRE. Both hard
    // ones and at least one soft are required.
    if short && (soft < 1 || hard < 2) {
        println!("EVENTS FAILED: expected soft and hard EXPIREs, saw {soft} soft, {hard} hard");
        missing += 1;
    }
    if o.poke_from.is_some() && acquire == 0 {
        println!("EVENTS FAILED: no ACQUIRE after the poke");
        missing += 1;
    }
    Ok((gone, missing))
}
