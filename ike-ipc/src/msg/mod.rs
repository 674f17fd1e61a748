//! One message enum per channel and direction.
//!
//! | channel (fd in the child)      | parent/ctl side sends | child sends      |
//! |--------------------------------|-----------------------|------------------|
//! | parent <-> ike-net (3)         | [`ParentToNet`]       | [`NetToParent`]  |
//! | parent <-> ike-pfkey (3)       | [`ParentToPfkey`]     | [`PfkeyToParent`]|
//! | ike-net <-> ike-pfkey (4)      | see [`pfkey`]         |                  |
//! | ike-ctl <-> ike-net (control)  | [`CtlRequest`]        | [`CtlResponse`]  |
//! | parent <-> ike-cred (3)        | [`ParentToCred`]      | [`CredToParent`] |
//! | ike-net <-> ike-cred (4)       | see [`cred`]          |                  |
//!
//! The parent accepts from its children only `Ready`, a reload request and
//! `Fatal` (DESIGN.md "Processes and trust"): everything else they could say
//! has no variant to say it with.

pub mod common;
pub mod control;
pub mod cred;
pub mod parent_net;
pub mod parent_pfkey;
pub mod pfkey;

pub use common::{LogLevel, PrivDrop};
pub use control::{CtlRequest, CtlResponse, Stats};
pub use cred::{CredInit, CredToParent, ParentToCred};
pub use parent_net::{ListenSocket, NetInit, NetToParent, ParentToNet};
pub use parent_pfkey::{ParentToPfkey, PfkeyInit, PfkeyToParent};

#[cfg(all(test, feature = "os"))]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::envelope::{decode, encode, EnvelopeError};
    use serde::{de::DeserializeOwned, Serialize};
    use std::fmt::Debug;

    /// Round trip, plus every truncation of the encoding is an error.
    fn check<T: Serialize + DeserializeOwned + PartialEq + Debug>(m: T) {
        let bytes = encode(&m).unwrap();
        assert_eq!(decode::<T>(&bytes).unwrap(), m);
        for cut in 0..bytes.len() {
            assert!(decode::<T>(&bytes[..cut]).is_err(), "{m:?} cut at {cut}");
        }
        let mut wrong = bytes.clone();
        wrong[3] ^= 0x80;
        assert!(matches!(
            decode::<T>(&wrong),
            Err(EnvelopeError::VersionMismatch { .. })
        ));
    }

    fn privdrop() -> PrivDrop {
        PrivDrop {
            chroot: "/var/empty".into(),
            uid: 65534,
            gid: 65534,
        }
    }

    #[test]
    fn cred_round_trips() {
        use cred::*;
        check(ParentToCred::Init(Box::new(CredInit {
            privdrop: privdrop(),
            log_level: LogLevel::Info,
            config: Config::default(),
        })));
        check(ParentToCred::Reload(Box::default()));
        check(ParentToCred::Shutdown);
        check(CredToParent::Ready);
        check(CredToParent::Fatal("x".into()));
        for op in [
            CredOp::PskAuth {
                prf: 5,
                octets: vec![1, 2, 3],
            },
            CredOp::PskVerify {
                prf: 5,
                octets: vec![1],
                value: vec![9; 32],
            },
            CredOp::Sign {
                how: SignMethod::Rfc7427(2),
                prf: 7,
                octets: vec![4; 40],
            },
            CredOp::Sign {
                how: SignMethod::Rfc4754,
                prf: 5,
                octets: vec![],
            },
        ] {
            check(NetToCred {
                id: 7,
                policy: "p".into(),
                op,
            });
        }
        for answer in [
            CredAnswer::Value(vec![1; 64]),
            CredAnswer::Verdict(true),
            CredAnswer::Refused("no".into()),
        ] {
            check(CredToNet { id: 1, answer });
        }
    }

    #[test]
    fn parent_net_round_trips() {
        check(ParentToNet::Init(Box::new(NetInit {
            privdrop: privdrop(),
            log_level: LogLevel::Debug,
            listen: vec![
                ListenSocket {
                    addr: "127.0.0.1:500".parse().unwrap(),
                    natt: false,
                },
                ListenSocket {
                    addr: "[::1]:4500".parse().unwrap(),
                    natt: true,
                },
            ],
            control_uid: 0,
            config: Config::default(),
        })));
        check(ParentToNet::Reload(Box::default()));
        check(ParentToNet::SetLogLevel(LogLevel::Trace));
        check(ParentToNet::Shutdown);
        check(NetToParent::Ready);
        check(NetToParent::ReloadRequest);
        check(NetToParent::Fatal("bad".into()));
    }

    #[test]
    fn parent_pfkey_round_trips() {
        check(ParentToPfkey::Init(Box::new(PfkeyInit {
            privdrop: privdrop(),
            log_level: LogLevel::Info,
            config: Config::default(),
            natt_port: 4500,
        })));
        check(ParentToPfkey::Reload(Box::default()));
        check(ParentToPfkey::SetLogLevel(LogLevel::Error));
        check(ParentToPfkey::Shutdown);
        check(PfkeyToParent::Ready);
        check(PfkeyToParent::Fatal("x".into()));
    }

    #[test]
    fn control_round_trips() {
        for r in [
            CtlRequest::ShowSa,
            CtlRequest::ShowPolicy,
            CtlRequest::ShowStats,
            CtlRequest::Up("a".into()),
            CtlRequest::Down("b".into()),
            CtlRequest::Rekey("c".into()),
            CtlRequest::Reload,
            CtlRequest::LogVerbose(true),
            CtlRequest::Monitor,
            CtlRequest::ShowSaJson,
            CtlRequest::ShowPolicyJson,
            CtlRequest::Move("d".into(), "192.0.2.7".parse().unwrap()),
        ] {
            check(r);
        }
        let stats = Stats {
            uptime_secs: 1,
            udp_rx_datagrams: 2,
            udp_rx_bytes: u64::MAX,
            ..Stats::default()
        };
        for r in [
            CtlResponse::Ok,
            CtlResponse::Stats(stats),
            CtlResponse::Text("t".into()),
            CtlResponse::Event("e".into()),
            CtlResponse::Error("x".into()),
            CtlResponse::Part("p".into()),
        ] {
            check(r);
        }
    }

    /// Every byte of a valid encoding flipped, and random tails: decoding
    /// each channel's types returns a value or an error, never panics.
    #[test]
    fn mutated_messages_never_panic() {
        let seeds = [
            encode(&ParentToNet::Init(Box::new(NetInit {
                privdrop: privdrop(),
                log_level: LogLevel::Info,
                listen: vec![ListenSocket {
                    addr: "[::1]:500".parse().unwrap(),
                    natt: false,
                }],
                control_uid: 0,
                config: Config::default(),
            })))
            .unwrap(),
            encode(&ParentToPfkey::Reload(Box::default())).unwrap(),
            encode(&NetToParent::Fatal("why".into())).unwrap(),
            encode(&CtlResponse::Stats(Stats::default())).unwrap(),
            encode(&CtlRequest::Up("peer".into())).unwrap(),
        ];
        let mut x: u32 = 0x9e37_79b9;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        for seed in &seeds {
            for i in 4..seed.len() {
                for bit in 0..8 {
                    let mut m = seed.clone();
                    m[i] ^= 1 << bit;
                    try_all(&m);
                }
            }
            for _ in 0..200 {
                let mut m = seed.clone();
                let cut = 4 + next() as usize % (m.len() - 3);
                m.truncate(cut);
                for _ in 0..next() % 32 {
                    m.push(next() as u8);
                }
                try_all(&m);
            }
        }
    }

    fn try_all(m: &[u8]) {
        let _ = decode::<ParentToNet>(m);
        let _ = decode::<NetToParent>(m);
        let _ = decode::<ParentToPfkey>(m);
        let _ = decode::<PfkeyToParent>(m);
        let _ = decode::<CtlRequest>(m);
        let _ = decode::<CtlResponse>(m);
        let _ = decode::<pfkey::NetToPfkey>(m);
        let _ = decode::<pfkey::PfkeyToNet>(m);
    }

    /// Issue 12: the configuration used to be one message of at most
    /// 64 KiB. 10,000 policies and 100 certificates (several MiB) now go
    /// across in fragments, and the child's end takes them (`recv_first`).
    #[test]
    fn a_configuration_of_10000_policies_and_100_certificates_crosses() {
        use crate::config::{Auth, CertFile, Identity, LocalCert, Policy, Secret};
        let mut config = Config::default();
        for i in 0..10_000 {
            let mut p = Policy::new(&format!("policy-{i}"));
            p.auth = Auth::Psk(Secret::new(format!("secret {i}").into_bytes()));
            config.policies.push(p);
        }
        for i in 0..100u32 {
            // A certificate's size; the bytes are not parsed on this path.
            let der: Vec<u8> = (0..1500u32).map(|b| (b * 31 + i) as u8).collect();
            let file = CertFile {
                path: format!("certs/host{i}.crt"),
                ders: vec![der],
            };
            config.local_certs.push(LocalCert {
                id: Identity::Fqdn(format!("host{i}.example")),
                file: file.clone(),
            });
            config.ca_files.push(file);
        }
        let init = ParentToNet::Init(Box::new(NetInit {
            privdrop: privdrop(),
            log_level: LogLevel::Info,
            listen: vec![],
            control_uid: 0,
            config: config.clone(),
        }));
        let size = crate::envelope::payload(&init).unwrap().len();
        assert!(size > 10 * crate::envelope::MAX_MESSAGE, "{size}");

        let (mut parent, mut child) = crate::channel::pair::<ParentToNet, NetToParent>().unwrap();
        let sent = init.clone();
        let t = std::thread::spawn(move || {
            parent.queue(&sent).unwrap();
            parent.queue(&ParentToNet::Shutdown).unwrap();
        });
        let got = crate::child::recv_first(&mut child).unwrap();
        assert_eq!(got, init);
        t.join().unwrap();

        // Without the raised bound (any other channel) it is refused.
        let (parent, mut other) = crate::channel::pair::<ParentToNet, NetToParent>().unwrap();
        let t = std::thread::spawn(move || {
            let _ = parent.send(&init);
        });
        assert!(matches!(
            other.recv(),
            Err(crate::channel::ChannelError::Decode(
                EnvelopeError::TooLarge { .. }
            ))
        ));
        drop(other);
        t.join().unwrap();
    }

    #[test]
    fn a_message_of_one_channel_is_not_accepted_on_another() {
        // Variant indexes overlap between enums, so this is about payload
        // shape: a Fatal(String) for the parent is not a valid CtlRequest.
        let bytes = encode(&NetToParent::Fatal("x".into())).unwrap();
        assert!(decode::<ParentToPfkey>(&bytes).is_err());
    }
}
