//! Arbitrary bytes through every decoder of NETLINK_XFRM kernel messages:
//! a datagram split into messages (`nlmsghdr`), each decoded (`nlmsgerr`,
//! NEWSA/NEWPOLICY replies, ACQUIRE, EXPIRE, POLEXPIRE, MAPPING with their
//! attributes) and turned into the IPC's events and GETSA counters. Never a
//! panic; the fixed structs that decode re-encode to the bytes they came
//! from (padding aside), and the same bytes as a bare attribute list.
#![no_main]

use ike_pfkey::xfrm::attr::AttrSet;
use ike_pfkey::xfrm::event::{sa_info, to_event};
use ike_pfkey::xfrm::message::{parse_datagram, Body};
use ike_pfkey::xfrm::structs::{UserAcquire, UserMapping, UsersaInfo};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for m in parse_datagram(data).into_iter().flatten() {
        let _ = to_event(&m);
        match &m.body {
            Body::Sa(info, attrs) => {
                let _ = sa_info(info, attrs);
                let mut b = Vec::new();
                info.emit(&mut b);
                assert_eq!(UsersaInfo::parse(&b).as_ref(), Ok(info.as_ref()));
            }
            Body::Acquire(a, _) => {
                let mut b = Vec::new();
                a.emit(&mut b);
                assert_eq!(UserAcquire::parse(&b).as_ref(), Ok(a.as_ref()));
            }
            Body::Mapping(mp) => {
                let mut b = Vec::new();
                mp.emit(&mut b);
                assert_eq!(UserMapping::parse(&b), Ok(*mp));
            }
            _ => {}
        }
    }
    let _ = AttrSet::parse(data);
});
