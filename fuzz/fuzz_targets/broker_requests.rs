//! A compromised ike-net against the broker: whatever bytes it writes on the
//! broker channel are read with `Channel::recv` (the broker's real receive
//! path, one-packet bound), and every request that decodes goes to the
//! sans-IO `Broker`, which talks to the simulated key engine in memory, in
//! each PF_KEY dialect (Linux, FreeBSD, OpenBSD).
//!
//! The broker's configuration allows two children (as in its unit tests):
//! an ESP tunnel 192.0.2.1 <-> 192.0.2.2 for 10.1.0.0/16 <-> 10.2.0.0/16,
//! and ESP transport 2001:db8::1 <-> 2001:db8::2. Before the input, another
//! PF_KEY user (pid 999) installed an SA 198.51.100.1 -> 198.51.100.2.
//!
//! Input records (`ipc_common::records`), by `op`:
//! - 0: a packet on the broker channel;
//! - 1: the clock moves on by the record's length in seconds (larval SAs
//!   expire, requests time out);
//! - 2: traffic 10.1.0.1 -> 10.2.0.1 makes the kernel ACQUIRE (so that
//!   `AcquireFailed` can name a sequence number the broker passed on);
//! - 3: a packet whose requests, where they name SPI 0, name instead the
//!   SPI of the broker's last GETSPI reply (the worker sees the replies; a
//!   fuzzer cannot guess the simulator's random SPIs).
//!
//! Checks, after every request and at the end, on the simulator's state
//! (not on the broker's own bookkeeping): every SA not the other user's is
//! ESP between the two configured pairs of addresses, every policy's (or
//! OpenBSD flow's) selectors lie inside a configured flow, and the other
//! user's SA is still there, also after the broker shut down.
#![no_main]

#[path = "ipc_common/mod.rs"]
mod ipc_common;
#[path = "../../ike-pfkey/src/test_support.rs"]
#[allow(dead_code)]
mod test_support;

use ike_ipc::channel::{pair, send_packet, Channel};
use ike_ipc::config::Encapsulation;
use ike_ipc::msg::pfkey::{
    KernelReply, BrokerRequest, NetToPfkey, PfkeyToNet, PolicyDir, BrokerRequestId,
};
use ike_pfkey::broker::allow::AllowedSet;
use ike_pfkey::broker::{Broker, BrokerConfig};
use ike_pfkey::dialect::{Dialect, MsgType, SaType};
use ike_pfkey::sim::flows::mask_len;
use ike_pfkey::sim::{ConnId, SimKernel, SimConfig};
use ike_pfkey::wire::Header;
use ipc_common::{batch, one, record};
use libfuzzer_sys::fuzz_target;
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};
use test_support::*;

#[global_allocator]
static ALLOC: ipc_common::Counting = ipc_common::Counting;

const FOREIGN_SPI: u32 = 0x4242;
const FOREIGN_SRC: &str = "198.51.100.1";
const FOREIGN_DST: &str = "198.51.100.2";

fuzz_target!(init: ipc_common::maybe_write_seeds(seeds), |data: &[u8]| {
    let recs = ipc_common::records(data);
    for d in [Dialect::Linux, Dialect::FreeBsd, Dialect::OpenBsd] {
        let mut rig = Rig::new(d);
        let (tx, mut rx): (Channel<NetToPfkey, NetToPfkey>, _) = pair().expect("socketpair");
        rx.set_nonblocking(true).expect("non-blocking");
        for r in &recs {
            match r.op & 3 {
                1 => {
                    let secs = u16::try_from(r.bytes.len()).unwrap_or(u16::MAX);
                    rig.advance(u64::from(secs));
                }
                2 => rig.acquire(),
                op => {
                    if send_packet(tx.as_fd(), &r.bytes, &[]).is_err() {
                        continue;
                    }
                    loop {
                        match rx.recv() {
                            Ok(m) => {
                                let (id, mut req) = match m.msg {
                                    NetToPfkey::Request { id, req } => (id, req),
                                    // A lease (issue 15) goes to the broker as it is.
                                    lease @ NetToPfkey::Lease { .. } => {
                                        rig.broker.handle_net(lease, rig.now);
                                        continue;
                                    }
                                };
                                if op == 3 {
                                    rig.patch_spi(&mut req);
                                }
                                rig.submit(id, req);
                            }
                            Err(e) if e.is_would_block() => break,
                            Err(_) => {}
                        }
                    }
                }
            }
        }
        rig.advance(1);
        if ipc_common::verbose() {
            eprintln!(
                "{d:?}: {} requests, {} accepted; in the kernel {} SAs, {} policies, {} flows",
                rig.requests,
                rig.accepted,
                rig.engine.sas().count(),
                rig.engine.policies().len(),
                rig.engine.flows().len()
            );
        }
        rig.broker.shutdown(rig.now);
        rig.run();
        rig.check();
    }
});

/// The configured children: the unit tests' tunnel and an IPv6 transport child.
fn allowed() -> AllowedSet {
    AllowedSet {
        children: vec![
            tunnel_child(),
            esp_child(
                "2001:db8::1",
                "2001:db8::2/128",
                Encapsulation::Transport,
                flow("2001:db8::1/128", "2001:db8::2/128"),
            ),
        ],
        natt_port: 0,
        pools: Vec::new(),
    }
}

/// The address pairs an SA may join, and the flows (ours, theirs) a policy
/// may cover, written out again here rather than taken from the broker.
const PAIRS: [(&str, &str); 2] = [("192.0.2.1", "192.0.2.2"), ("2001:db8::1", "2001:db8::2")];
/// An address prefix: (network, length).
type Net = (&'static str, u8);
const FLOWS: [(Net, Net); 2] = [
    (("10.1.0.0", 16), ("10.2.0.0", 16)),
    (("2001:db8::1", 128), ("2001:db8::2", 128)),
];

fn pair_ok(a: IpAddr, b: IpAddr) -> bool {
    PAIRS.iter().any(|(x, y)| {
        let (x, y) = (ip(x), ip(y));
        (a, b) == (x, y) || (a, b) == (y, x)
    })
}

fn inside(net: Net, addr: IpAddr, len: u32) -> bool {
    len >= u32::from(net.1) && ike_pfkey::sim::prefix_contains(ip(net.0), net.1, addr)
}

/// Selectors (src, dst) inside a configured flow, either way round.
fn flow_ok(src: (IpAddr, u32), dst: (IpAddr, u32)) -> bool {
    FLOWS.iter().any(|&(ours, theirs)| {
        (inside(ours, src.0, src.1) && inside(theirs, dst.0, dst.1))
            || (inside(theirs, src.0, src.1) && inside(ours, dst.0, dst.1))
    })
}

struct Rig {
    engine: SimKernel,
    broker: Broker,
    me: ConnId,
    now: Instant,
    last_spi: u32,
    requests: usize,
    /// Requests answered with success.
    accepted: usize,
}

impl Rig {
    fn new(d: Dialect) -> Rig {
        let now = Instant::now();
        let mut engine = SimKernel::new(SimConfig::for_dialect(d), now);
        let me = engine.connect();
        let other = engine.connect();
        let foreign = raw_sa(
            Header::new(MsgType::Add, SaType::Esp, 1, 999),
            FOREIGN_SPI,
            FOREIGN_SRC,
            FOREIGN_DST,
            1,
        );
        let bytes = foreign.emit(d).expect("a valid SA message");
        engine.handle(other, &bytes, now);
        let cfg: BrokerConfig = broker_config(d, allowed());
        let mut rig = Rig {
            engine,
            broker: Broker::new(cfg, now),
            me,
            now,
            last_spi: 0,
            requests: 0,
            accepted: 0,
        };
        rig.run();
        // A small SA limit, so that the fuzzer reaches it.
        rig.broker.set_sa_limit(64);
        assert!(rig.foreign_present(), "the other user's SA was installed");
        rig
    }

    fn run(&mut self) {
        loop {
            let mut moved = false;
            while let Some(bytes) = self.broker.poll_kernel_transmit() {
                moved = true;
                for d in self.engine.handle(self.me, &bytes, self.now) {
                    if d.to == self.me {
                        self.broker.handle_kernel(&d.bytes, self.now);
                    }
                }
            }
            while let Some(m) = self.broker.poll_net() {
                moved = true;
                if let PfkeyToNet::Reply { result: Ok(r), .. } = m {
                    self.accepted += 1;
                    if let KernelReply::Spi(s) = r {
                        self.last_spi = s;
                    }
                }
            }
            if !moved {
                break;
            }
        }
    }

    fn submit(&mut self, id: BrokerRequestId, req: BrokerRequest) {
        self.requests += 1;
        self.broker
            .handle_net(NetToPfkey::Request { id, req }, self.now);
        self.run();
        self.check();
    }

    fn advance(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
        for d in self.engine.tick(self.now) {
            if d.to == self.me {
                self.broker.handle_kernel(&d.bytes, self.now);
            }
        }
        self.broker.handle_timeout(self.now);
        self.run();
        self.check();
    }

    fn acquire(&mut self) {
        if let Ok((_, out)) = self
            .engine
            .trigger(ip("10.1.0.1"), ip("10.2.0.1"), self.now)
        {
            for d in out {
                if d.to == self.me {
                    self.broker.handle_kernel(&d.bytes, self.now);
                }
            }
        }
        self.run();
        self.check();
    }

    fn patch_spi(&self, req: &mut BrokerRequest) {
        let spi = match req {
            BrokerRequest::AddSa(p) | BrokerRequest::UpdateSa(p) => &mut p.id.spi,
            BrokerRequest::DeleteSa(id)
            | BrokerRequest::GetSa(id)
            | BrokerRequest::UpdateEncap { id, .. } => &mut id.spi,
            _ => return,
        };
        if *spi == 0 {
            *spi = self.last_spi;
        }
    }

    fn foreign_present(&self) -> bool {
        self.engine
            .sas()
            .any(|s| s.spi == FOREIGN_SPI && s.dst.ip() == ip(FOREIGN_DST))
    }

    fn check(&self) {
        assert!(
            self.foreign_present(),
            "the other PF_KEY user's SA was removed ({} requests)",
            self.requests
        );
        for s in self.engine.sas() {
            if s.spi == FOREIGN_SPI && s.dst.ip() == ip(FOREIGN_DST) {
                continue;
            }
            assert!(
                s.satype == SaType::Esp && pair_ok(s.src.ip(), s.dst.ip()),
                "SA outside the configuration in the kernel: {:?} {} -> {} spi {:#x}",
                s.satype,
                s.src.ip(),
                s.dst.ip(),
                s.spi
            );
        }
        for p in self.engine.policies() {
            let src = (p.src.ip(), u32::from(p.src.prefix_len));
            let dst = (p.dst.ip(), u32::from(p.dst.prefix_len));
            assert!(
                flow_ok(src, dst),
                "policy outside the configuration in the kernel: {src:?} -> {dst:?}"
            );
        }
        for f in self.engine.flows() {
            let src = (f.src, mask_len(f.src_mask));
            let dst = (f.dst, mask_len(f.dst_mask));
            assert!(
                flow_ok(src, dst),
                "flow outside the configuration in the kernel: {src:?} -> {dst:?}"
            );
        }
    }
}

/// Request sequences an honest ike-net sends for the configured tunnel (as
/// a responder would: GETSPI, the outbound SA, the inbound UPDATE via op 3,
/// the policies), and some it must be refused.
fn seeds() -> Vec<(String, Vec<u8>)> {
    let req = |id: u64, req: BrokerRequest| NetToPfkey::Request { id, req };
    let t = Encapsulation::Tunnel;
    let tunnel = vec![
        record(0, &one(&req(1, getspi("192.0.2.2", "192.0.2.1", t)))),
        record(
            0,
            &one(&req(
                2,
                BrokerRequest::AddSa(Box::new(sa_params(0x2000, "192.0.2.1", "192.0.2.2", t))),
            )),
        ),
        record(
            3,
            &one(&req(
                3,
                BrokerRequest::UpdateSa(Box::new(sa_params(0, "192.0.2.2", "192.0.2.1", t))),
            )),
        ),
        record(
            0,
            &one(&req(
                4,
                BrokerRequest::AddPolicy(tunnel_policy(PolicyDir::Out)),
            )),
        ),
        record(
            0,
            &one(&req(
                5,
                BrokerRequest::AddPolicy(tunnel_policy(PolicyDir::In)),
            )),
        ),
        record(
            0,
            &one(&req(
                6,
                BrokerRequest::AddPolicy(tunnel_policy(PolicyDir::Fwd)),
            )),
        ),
    ];
    let mut out = vec![("tunnel".to_string(), tunnel.concat())];
    // The same, then traffic, a failed ACQUIRE, deletes and time.
    let mut more = tunnel.clone();
    more.push(record(2, &[]));
    more.push(record(
        0,
        &one(&req(
            7,
            BrokerRequest::AcquireFailed {
                seq: 1,
                proto: ike_ipc::config::IpsecProtocol::Esp,
            },
        )),
    ));
    more.push(record(
        3,
        &one(&req(
            8,
            BrokerRequest::DeleteSa(esp_id(0, "192.0.2.2", "192.0.2.1")),
        )),
    ));
    more.push(record(
        0,
        &one(&req(
            9,
            BrokerRequest::DeletePolicy(tunnel_policy(PolicyDir::Out)),
        )),
    ));
    more.push(record(1, &[0; 40]));
    out.push(("tunnel-acquire-delete".to_string(), more.concat()));
    // IPv6 transport, in one batch.
    let tr = Encapsulation::Transport;
    let v6 = [
        req(
            1,
            BrokerRequest::AddSa(Box::new(sa_params(
                0x3000,
                "2001:db8::1",
                "2001:db8::2",
                tr,
            ))),
        ),
        req(2, getspi("2001:db8::2", "2001:db8::1", tr)),
        req(
            3,
            BrokerRequest::AddPolicy(ike_ipc::msg::pfkey::BrokerPolicyParams {
                tunnel: None,
                mode: tr,
                ..policy(
                    PolicyDir::Out,
                    "2001:db8::1/128",
                    "2001:db8::2/128",
                    ("2001:db8::1", "2001:db8::2"),
                )
            }),
        ),
    ];
    out.push(("transport-batch".to_string(), record(0, &batch(&v6))));
    // Refused: outside the configuration, the other user's SA, flushes.
    let refused = [
        req(
            1,
            BrokerRequest::AddSa(Box::new(sa_params(0x4000, "192.0.2.1", "192.0.2.9", t))),
        ),
        req(
            2,
            BrokerRequest::DeleteSa(esp_id(FOREIGN_SPI, FOREIGN_SRC, FOREIGN_DST)),
        ),
        req(
            3,
            BrokerRequest::AddPolicy(policy(
                PolicyDir::Out,
                "10.0.0.0/8",
                "0.0.0.0/0",
                ("192.0.2.1", "192.0.2.2"),
            )),
        ),
        req(4, BrokerRequest::Flush),
        req(5, BrokerRequest::SpdFlush),
    ];
    out.push(("refused-batch".to_string(), record(0, &batch(&refused))));
    out
}
