//! The `pfkey-sim` executable as the daemon meets it: spawned, reached over
//! its socket with the `ike_ipc::pfkey_unix` hello, driven by the broker's
//! code path, inspected and poked with `pfkey-sim dump` / `trigger`.

mod common;

use common::*;
use ike_ipc::config::{Encapsulation, Encryption, Integrity};
use ike_ipc::msg::pfkey::{
    BrokerEvent, BrokerRequest, BrokerSaParams, ExpireKind, KernelReply, PolicyDir, Supported,
};
use ike_ipc::pfkey_unix::connect_pfkey;
use ike_pfkey::broker::allow::AllowedSet;
use ike_pfkey::broker::blocking::BlockingBroker;
use ike_pfkey::broker::BrokerConfig;
use ike_pfkey::dialect::Dialect;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const SIM: &str = env!("CARGO_BIN_EXE_pfkey-sim");

struct Sim {
    child: Child,
    socket: PathBuf,
    control: PathBuf,
}

impl Sim {
    fn spawn(tag: &str, dialect: &str) -> Sim {
        Sim::spawn_with(tag, &["--dialect", dialect])
    }

    fn spawn_with(tag: &str, extra: &[&str]) -> Sim {
        let socket = tmp(&format!("sim-{tag}.sock"));
        let control = tmp(&format!("sim-{tag}.ctl"));
        let child = Command::new(SIM)
            .args(["serve", "--socket"])
            .arg(&socket)
            .arg("--control")
            .arg(&control)
            .args(extra)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(socket.exists() && control.exists()) {
            assert!(Instant::now() < deadline, "pfkey-sim did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Sim {
            child,
            socket,
            control,
        }
    }

    fn ctl(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(SIM)
            .arg(args[0])
            .arg("--control")
            .arg(&self.control)
            .args(&args[1..])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_file(&self.control);
    }
}

/// The broker's code path on `socket`; the simulator's replies go to the
/// pid in the header, so use this process's own.
fn broker_with(
    socket: &Path,
    dialect: Dialect,
    allowed: AllowedSet,
) -> (BlockingBroker, Supported) {
    let cfg = BrokerConfig {
        pid: std::process::id(),
        ..broker_config(dialect, allowed)
    };
    BlockingBroker::start(connect_pfkey(socket).unwrap(), cfg).unwrap()
}

fn broker(socket: &Path, dialect: Dialect) -> BlockingBroker {
    let (bb, supported) = broker_with(socket, dialect, allowed_tunnel());
    assert!(supported.encryption.contains(&Encryption::Aes128Cbc));
    bb
}

/// An outbound-tunnel SA with add-time limits in seconds (the broker
/// refuses 0, no limit).
fn sa(spi: u32, src: &str, dst: &str, soft: u64, hard: u64) -> BrokerSaParams {
    BrokerSaParams {
        soft: seconds(soft),
        hard: seconds(hard),
        ..sa_params(spi, src, dst, Encapsulation::Tunnel)
    }
}

#[test]
fn broker_against_the_spawned_simulator() {
    let sim = Sim::spawn("main", "linux");
    let mut bb = broker(&sim.socket, Dialect::Linux);
    // Pipelined: GETSPI, ADD and SPDADD in one go.
    let r = bb
        .requests(vec![
            getspi("192.0.2.2", "192.0.2.1", Encapsulation::Tunnel),
            BrokerRequest::AddSa(Box::new(sa(0x4001, "192.0.2.1", "192.0.2.2", 3000, 3600))),
            BrokerRequest::AddPolicy(tunnel_policy(PolicyDir::Out)),
        ])
        .unwrap();
    let Ok(KernelReply::Spi(spi)) = r[0] else {
        panic!("{r:?}")
    };
    assert_eq!(r[1..], [Ok(KernelReply::Done), Ok(KernelReply::Done)]);
    let upd = sa(spi, "192.0.2.2", "192.0.2.1", 1, 2);
    assert_eq!(
        bb.request(BrokerRequest::UpdateSa(Box::new(upd))).unwrap(),
        Ok(KernelReply::Done)
    );

    let (ok, text) = sim.ctl(&["dump"]);
    assert!(ok);
    assert!(
        text.contains(&format!(
            "192.0.2.1 192.0.2.2\n\tesp mode=tunnel spi=16385(0x00004001) reqid={REQID}"
        )),
        "{text}"
    );
    assert!(
        text.contains("10.1.0.0/16[any] 10.2.0.0/16[any] any\n\tout prio 0 ipsec"),
        "{text}"
    );
    let (_, json) = sim.ctl(&["dump", "--json"]);
    assert!(
        json.contains("\"spi\":16385") && json.contains(&format!("\"spi\":{spi}")),
        "{json}"
    );

    // Multi-message DUMP through the broker.
    let parts = bb.dump(false).unwrap().unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts.last().unwrap().header.seq, 0);

    // ACQUIRE: a packet that the outbound policy covers, but for which the
    // needed SA (reqid REQID, 192.0.2.1 -> 192.0.2.2) must first be removed.
    let out_id = esp_id(0x4001, "192.0.2.1", "192.0.2.2");
    assert_eq!(
        bb.request(BrokerRequest::DeleteSa(out_id)).unwrap(),
        Ok(KernelReply::Done)
    );
    let (ok, said) = sim.ctl(&["trigger", "10.1.0.1", "10.2.0.1"]);
    assert!(ok, "{said}");
    let ev = bb.next_event(Duration::from_secs(5)).unwrap();
    match ev {
        Some(BrokerEvent::Acquire {
            policy: Some(sel),
            dst,
            ..
        }) => {
            assert_eq!(sel.dst, net("10.2.0.0/16"));
            assert_eq!(dst, ip("192.0.2.2"));
        }
        other => panic!("{other:?}"),
    }
    let (ok, said) = sim.ctl(&["trigger", "10.9.0.1", "10.2.0.1"]);
    assert!(!ok && said.contains("no outbound policy"), "{said}");

    // EXPIRE in real time: soft after 1 s, hard after 2 s.
    let in_id = esp_id(spi, "192.0.2.2", "192.0.2.1");
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match bb.next_event(Duration::from_secs(5)).unwrap() {
            Some(BrokerEvent::Expire { kind, sa }) => {
                assert_eq!(sa, in_id);
                seen.push(kind);
            }
            Some(other) => panic!("{other:?}"),
            None => panic!("no EXPIRE after {seen:?}"),
        }
    }
    assert_eq!(seen, [ExpireKind::Soft, ExpireKind::Hard]);

    bb.shutdown(Duration::from_secs(5)).unwrap();
    let (_, text) = sim.ctl(&["dump"]);
    assert!(
        text.contains("No SAD entries.") && text.contains("No SPD entries."),
        "{text}"
    );
}

#[test]
fn freebsd_dialect_dump_counts_down() {
    let sim = Sim::spawn("fbsd", "freebsd");
    let mut bb = broker(&sim.socket, Dialect::FreeBsd);
    for spi in [0x4101, 0x4102, 0x4103] {
        let r = bb
            .request(BrokerRequest::AddSa(Box::new(sa(
                spi,
                "192.0.2.1",
                "192.0.2.2",
                3000,
                3600,
            ))))
            .unwrap();
        assert_eq!(r, Ok(KernelReply::Done));
    }
    assert_eq!(
        bb.request(BrokerRequest::AddPolicy(tunnel_policy(PolicyDir::Out)))
            .unwrap(),
        Ok(KernelReply::Done)
    );
    let parts = bb.dump(false).unwrap().unwrap();
    let seqs: Vec<u32> = parts.iter().map(|m| m.header.seq).collect();
    assert_eq!(seqs, [2, 1, 0]);
    let spd = bb.dump(true).unwrap().unwrap();
    assert_eq!(spd.len(), 1);
    assert_eq!(
        spd[0].policy().unwrap().requests[0].reqid,
        REQID,
        "8-byte FreeBSD request carried the reqid"
    );
}

#[test]
fn the_algorithm_list_is_configurable() {
    let sim = Sim::spawn_with(
        "algs",
        &[
            "--encrypt",
            "12:128:256:16,20:160:288:8",
            "--auth",
            "3:160:160",
        ],
    );
    let (_bb, s) = broker_with(&sim.socket, Dialect::Linux, AllowedSet::default());
    assert_eq!(
        s.encryption,
        [
            Encryption::Aes128Cbc,
            Encryption::Aes192Cbc,
            Encryption::Aes256Cbc,
            Encryption::Aes128Gcm16,
            Encryption::Aes192Gcm16,
            Encryption::Aes256Gcm16
        ]
    );
    assert_eq!(s.integrity, [Integrity::HmacSha1]);
    let bad = Command::new(SIM)
        .args(["serve", "--socket", "/nonexistent/x", "--auth", "3:160"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("ID:MIN:MAX"));
}

/// Context switches and CPU ticks of every thread of `pid` so far.
fn switches_and_ticks(pid: u32) -> (u64, u64) {
    let mut switches = 0;
    let mut ticks = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let dir = task.unwrap().path();
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        for l in status.lines() {
            if let Some(v) = l
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| l.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                switches += v.trim().parse::<u64>().unwrap();
            }
        }
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
        // Fields after the ")" that ends the command name: utime is the 12th, stime the 13th.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 12 {
            ticks += f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
        }
    }
    (switches, ticks)
}

/// Issue 12: a simulator left holding SAs after its client went away must
/// sleep. It used to scan the whole SAD every 100 ms on a clock (a quarter
/// of a core with thousands of SAs); now the lifetime thread sleeps until
/// the next deadline (an hour away here), so no thread wakes at all.
#[test]
fn an_abandoned_simulator_sleeps() {
    let sim = Sim::spawn("idle", "linux");
    {
        let mut bb = broker(&sim.socket, Dialect::Linux);
        // In batches: like a kernel, the simulator drops replies that do
        // not fit the client's receive buffer.
        for batch in 0..20u32 {
            let reqs: Vec<BrokerRequest> = (0..100u32)
                .map(|i| {
                    let s = sa(
                        0x10000 + batch * 100 + i,
                        "192.0.2.1",
                        "192.0.2.2",
                        3000,
                        3600,
                    );
                    BrokerRequest::AddSa(Box::new(s))
                })
                .collect();
            let r = bb.requests(reqs).unwrap();
            let done = r.iter().filter(|r| **r == Ok(KernelReply::Done)).count();
            assert_eq!(done, 100, "batch {batch}");
        }
        // Dropped without a shutdown: the SAs stay, as in a kernel whose
        // daemon died.
    }
    let (_, json) = sim.ctl(&["dump", "--json"]);
    assert_eq!(json.matches("\"spi\":").count(), 2000);
    std::thread::sleep(Duration::from_millis(300));
    let pid = sim.child.id();
    let (s0, t0) = switches_and_ticks(pid);
    std::thread::sleep(Duration::from_secs(1));
    let (s1, t1) = switches_and_ticks(pid);
    assert!(
        s1 - s0 <= 2,
        "pfkey-sim's threads woke {} times in 1 s with no client",
        s1 - s0
    );
    assert!(t1 - t0 <= 2, "pfkey-sim used {} ticks of CPU idle", t1 - t0);
}

/// OpenBSD's parser wants `sadb_msg_pid` to be the writer's own pid; the
/// simulator learns the writer from SCM_CREDENTIALS and refuses a message
/// with another pid the way the kernel does: the write "fails", nothing
/// comes back, and the refusal is counted.
#[test]
fn openbsd_dialect_checks_the_writers_pid() {
    use ike_pfkey::dialect::{MsgType, SaType};
    use ike_pfkey::wire::{Header, Message};
    use std::os::fd::AsRawFd;
    let sim = Sim::spawn("obsdpid", "openbsd");
    let fd = connect_pfkey(&sim.socket).unwrap();
    // Fail, never hang, if no answer comes.
    let limit = nix::sys::time::TimeVal::new(10, 0);
    nix::sys::socket::setsockopt(&fd, nix::sys::socket::sockopt::ReceiveTimeout, &limit).unwrap();
    let d = Dialect::OpenBsd;
    let register = |pid| {
        Message::new(Header::new(MsgType::Register, SaType::Esp, 1, pid))
            .emit(d)
            .unwrap()
    };
    let me = std::process::id();
    nix::sys::socket::send(
        fd.as_raw_fd(),
        &register(me + 1),
        nix::sys::socket::MsgFlags::empty(),
    )
    .unwrap();
    nix::sys::socket::send(
        fd.as_raw_fd(),
        &register(me),
        nix::sys::socket::MsgFlags::empty(),
    )
    .unwrap();
    // Only the second one is answered.
    let mut buf = [0u8; 4096];
    let n = nix::sys::socket::recv(
        fd.as_raw_fd(),
        &mut buf,
        nix::sys::socket::MsgFlags::empty(),
    )
    .unwrap();
    let reply = Message::parse(d, &buf[..n]).unwrap();
    assert_eq!(reply.header.pid, me);
    assert_eq!(reply.header.errno, 0);
    let (_, json) = sim.ctl(&["dump", "--json"]);
    assert!(
        json.contains("\"refused\":1") && json.contains("is not the sender's pid"),
        "{json}"
    );
}
