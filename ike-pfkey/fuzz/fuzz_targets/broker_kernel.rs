//! Arbitrary bytes from "the kernel" into the broker, in every dialect, after
//! it has registered and has a request in flight: no panic, whatever arrives.
#![no_main]

use ike_ipc::config::{Encapsulation, IpsecProtocol};
use ike_ipc::msg::pfkey::{BrokerRequest, NetToPfkey};
use ike_pfkey::broker::allow::AllowedSet;
use ike_pfkey::broker::{Broker, BrokerConfig};
use ike_pfkey::dialect::Dialect;
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    for d in [Dialect::Linux, Dialect::FreeBsd, Dialect::OpenBsd] {
        let cfg = BrokerConfig {
            dialect: d,
            pid: 1,
            flush_on_start: false,
            delete_on_exit: true,
            allowed: AllowedSet::default(),
            timeout: Duration::from_secs(1),
        };
        let mut b = Broker::new(cfg, now);
        b.handle_net(
            NetToPfkey::Request {
                id: 1,
                req: BrokerRequest::GetSpi {
                    proto: IpsecProtocol::Esp,
                    src: "192.0.2.1".parse().unwrap(),
                    dst: "192.0.2.2".parse().unwrap(),
                    mode: Encapsulation::Tunnel,
                    reqid: 0,
                    acquire_seq: 0,
                },
            },
            now,
        );
        b.admin_dump(false, now);
        // The input may hold several messages: split on the declared lengths.
        let mut rest = data;
        while rest.len() >= 16 {
            let words = usize::from(u16::from_ne_bytes([rest[4], rest[5]])).max(2);
            let n = (words * 8).min(rest.len());
            b.handle_kernel(&rest[..n], now);
            rest = &rest[n..];
        }
        b.handle_timeout(now + Duration::from_secs(2));
        while b.poll_kernel_transmit().is_some() {}
        while b.poll_net().is_some() {}
    }
});
