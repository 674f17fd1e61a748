//! The `pfkey-sim` executable as the daemon meets it: spawned, reached over
//! its socket with the `ike_ipc::pfkey_unix` hello, driven by the broker's
//! code path, inspected and poked with `pfkey-sim dump` / `trigger`.

use ike_ipc::config::{Encapsulation, Encryption, Flow, Integrity, IpNet, IpsecProtocol, Secret};
use ike_ipc::msg::pfkey::{
    ExpireKind, KernelEvent, KernelReply, KernelRequest, PolicyDir, PolicyParams, SaId, SaLifetime,
    SaParams, Selectors,
};
use ike_ipc::pfkey_unix::connect_pfkey;
use ike_pfkey::broker::allow::{AllowedChild, AllowedSet};
use ike_pfkey::broker::blocking::BlockingBroker;
use ike_pfkey::broker::BrokerConfig;
use ike_pfkey::dialect::Dialect;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const SIM: &str = env!("CARGO_BIN_EXE_pfkey-sim");

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}
fn net(s: &str) -> IpNet {
    let (a, p) = s.split_once('/').unwrap();
    IpNet::new(ip(a), p.parse().unwrap()).unwrap()
}

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
        let dir = std::env::temp_dir();
        let socket = dir.join(format!("pfkey-sim-{}-{tag}.sock", std::process::id()));
        let control = dir.join(format!("pfkey-sim-{}-{tag}.ctl", std::process::id()));
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

fn broker(socket: &Path, dialect: Dialect) -> BlockingBroker {
    let allowed = AllowedSet {
        children: vec![AllowedChild {
            local: Some(ip("192.0.2.1")),
            peer: Some(net("192.0.2.2/32")),
            protocol: IpsecProtocol::Esp,
            mode: Encapsulation::Tunnel,
            flows: vec![Flow {
                proto: None,
                src: net("10.1.0.0/16"),
                src_port: None,
                dst: net("10.2.0.0/16"),
                dst_port: None,
            }],
        }],
    };
    let cfg = BrokerConfig {
        dialect,
        pid: std::process::id(),
        flush_on_start: false,
        delete_on_exit: true,
        allowed,
        timeout: Duration::from_secs(5),
    };
    let (bb, supported) = BlockingBroker::start(connect_pfkey(socket).unwrap(), cfg).unwrap();
    assert!(supported.encryption.contains(&Encryption::Aes128Cbc));
    bb
}

fn sa(spi: u32, src: &str, dst: &str, soft: u64, hard: u64) -> SaParams {
    SaParams {
        id: SaId {
            proto: IpsecProtocol::Esp,
            spi,
            src: ip(src),
            dst: ip(dst),
        },
        mode: Encapsulation::Tunnel,
        reqid: 3,
        encryption: Some(Encryption::Aes128Cbc),
        enc_key: Secret::new(vec![1; 16]),
        integrity: Some(Integrity::HmacSha1),
        auth_key: Secret::new(vec![2; 20]),
        replay_window: 32,
        esn: false,
        soft: SaLifetime {
            seconds: soft,
            bytes: 0,
            packets: 0,
        },
        hard: SaLifetime {
            seconds: hard,
            bytes: 0,
            packets: 0,
        },
        natt: None,
        acquire_seq: 0,
    }
}

fn out_policy() -> PolicyParams {
    PolicyParams {
        dir: PolicyDir::Out,
        sel: Selectors {
            src: net("10.1.0.0/16"),
            dst: net("10.2.0.0/16"),
            proto: None,
            src_port: None,
            dst_port: None,
        },
        proto: IpsecProtocol::Esp,
        mode: Encapsulation::Tunnel,
        tunnel: Some((ip("192.0.2.1"), ip("192.0.2.2"))),
        reqid: 3,
    }
}

#[test]
fn broker_against_the_spawned_simulator() {
    let sim = Sim::spawn("main", "linux");
    let mut bb = broker(&sim.socket, Dialect::Linux);
    // Pipelined: GETSPI, ADD and SPDADD in one go.
    let r = bb
        .requests(vec![
            KernelRequest::GetSpi {
                proto: IpsecProtocol::Esp,
                src: ip("192.0.2.2"),
                dst: ip("192.0.2.1"),
                mode: Encapsulation::Tunnel,
                reqid: 3,
                acquire_seq: 0,
            },
            KernelRequest::AddSa(Box::new(sa(0x4001, "192.0.2.1", "192.0.2.2", 0, 0))),
            KernelRequest::AddPolicy(out_policy()),
        ])
        .unwrap();
    let Ok(KernelReply::Spi(spi)) = r[0] else {
        panic!("{r:?}")
    };
    assert_eq!(r[1..], [Ok(KernelReply::Done), Ok(KernelReply::Done)]);
    let upd = sa(spi, "192.0.2.2", "192.0.2.1", 1, 2);
    assert_eq!(
        bb.request(KernelRequest::UpdateSa(Box::new(upd))).unwrap(),
        Ok(KernelReply::Done)
    );

    let (ok, text) = sim.ctl(&["dump"]);
    assert!(ok);
    assert!(
        text.contains("192.0.2.1 192.0.2.2\n\tesp mode=tunnel spi=16385(0x00004001) reqid=3"),
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
    // needed SA (reqid 3, 192.0.2.1 -> 192.0.2.2) must first be removed.
    let out_id = SaId {
        proto: IpsecProtocol::Esp,
        spi: 0x4001,
        src: ip("192.0.2.1"),
        dst: ip("192.0.2.2"),
    };
    assert_eq!(
        bb.request(KernelRequest::DeleteSa(out_id)).unwrap(),
        Ok(KernelReply::Done)
    );
    let (ok, said) = sim.ctl(&["trigger", "10.1.0.1", "10.2.0.1"]);
    assert!(ok, "{said}");
    let ev = bb.next_event(Duration::from_secs(5)).unwrap();
    match ev {
        Some(KernelEvent::Acquire {
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
    let in_id = SaId {
        proto: IpsecProtocol::Esp,
        spi,
        src: ip("192.0.2.2"),
        dst: ip("192.0.2.1"),
    };
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match bb.next_event(Duration::from_secs(5)).unwrap() {
            Some(KernelEvent::Expire { kind, sa }) => {
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
            .request(KernelRequest::AddSa(Box::new(sa(
                spi,
                "192.0.2.1",
                "192.0.2.2",
                0,
                0,
            ))))
            .unwrap();
        assert_eq!(r, Ok(KernelReply::Done));
    }
    assert_eq!(
        bb.request(KernelRequest::AddPolicy(out_policy())).unwrap(),
        Ok(KernelReply::Done)
    );
    let parts = bb.dump(false).unwrap().unwrap();
    let seqs: Vec<u32> = parts.iter().map(|m| m.header.seq).collect();
    assert_eq!(seqs, [2, 1, 0]);
    let spd = bb.dump(true).unwrap().unwrap();
    assert_eq!(spd.len(), 1);
    assert_eq!(
        spd[0].policy().unwrap().requests[0].reqid,
        3,
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
    let cfg = BrokerConfig {
        dialect: Dialect::Linux,
        pid: std::process::id(),
        flush_on_start: false,
        delete_on_exit: true,
        allowed: AllowedSet::default(),
        timeout: Duration::from_secs(5),
    };
    let (_bb, s) = BlockingBroker::start(connect_pfkey(&sim.socket).unwrap(), cfg).unwrap();
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
