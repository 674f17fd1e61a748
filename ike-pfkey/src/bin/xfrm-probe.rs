//! xfrm-probe: drive a real kernel's NETLINK_XFRM with the broker's XFRM
//! requests and store every datagram the kernel answers with, for the
//! known-answer tests (ike-pfkey/tests/data/xfrm/) and for the kernel lab.
//!
//!   xfrm-probe capture DIR
//!
//! Run as root in a network namespace of its own (`unshare -n`, or the
//! kernel lab's VM: tests/kernel-lab/xfrm-capture.sh): it installs SAs and
//! policies between 10.77.0.1 and 10.77.0.2 and removes them again. Steps:
//! ALLOCSPI, UPDSA (AES-256-GCM-16 + ESN), NEWSA (AES-128-CBC +
//! HMAC-SHA2-256-128 + UDP encapsulation), NEWSA (ChaCha20-Poly1305), a
//! duplicate NEWSA (EEXIST), GETSA, NEWPOLICY out/in/fwd, an ACQUIRE
//! (a packet to a policy without SA), soft and hard EXPIRE (1 s / 2 s
//! lifetimes), a POLEXPIRE, DELSA, DELSA again (ESRCH), DELPOLICY. Each
//! datagram goes to DIR/NAME.bin; exit status 0 only if every step
//! answered as expected.

// NETLINK_XFRM is Linux only: elsewhere the binary only says so.
#[cfg(target_os = "linux")]
mod probe {
    use ike_ipc::config::{Encapsulation, Encryption, Integrity, IpNet, IpsecProtocol, Secret};
    use ike_ipc::msg::pfkey::{
        BrokerPolicyParams, BrokerSaParams, NatT, PolicyDir, SaId, SaLifetime, Selectors,
    };
    use ike_pfkey::xfrm::consts::*;
    use ike_pfkey::xfrm::message::{parse_datagram, Body, KernelMsg};
    use ike_pfkey::xfrm::request;
    use std::net::{IpAddr, UdpSocket};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::path::{Path, PathBuf};
    use std::process::ExitCode;
    use std::time::{Duration, Instant};

    struct Nl {
        fd: OwnedFd,
        dir: PathBuf,
        seq: u32,
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    impl Nl {
        fn open(dir: &Path) -> std::io::Result<Nl> {
            // SAFETY: plain socket(2)/bind(2)/setsockopt(2) on a fresh fd with
            // correctly sized arguments.
            unsafe {
                let fd = libc::socket(
                    libc::AF_NETLINK,
                    libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                    NETLINK_XFRM,
                );
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let fd = OwnedFd::from_raw_fd(fd);
                let mut sa: libc::sockaddr_nl = std::mem::zeroed();
                sa.nl_family = libc::AF_NETLINK as u16;
                sa.nl_groups = BROKER_GROUPS;
                if libc::bind(
                    fd.as_raw_fd(),
                    &sa as *const _ as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_nl>() as u32,
                ) < 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                let tv = libc::timeval {
                    tv_sec: 0,
                    tv_usec: 200_000,
                };
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_RCVTIMEO,
                    &tv as *const _ as *const libc::c_void,
                    std::mem::size_of::<libc::timeval>() as u32,
                );
                Ok(Nl {
                    fd,
                    dir: dir.to_path_buf(),
                    seq: 100,
                })
            }
        }

        fn send(&self, bytes: &[u8]) -> std::io::Result<()> {
            // SAFETY: the kernel's address (all zero) and a buffer we own.
            let mut to: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
            to.nl_family = libc::AF_NETLINK as u16;
            let n = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    bytes.as_ptr() as *const libc::c_void,
                    bytes.len(),
                    0,
                    &to as *const _ as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_nl>() as u32,
                )
            };
            if n < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        }

        fn recv(&self) -> Option<Vec<u8>> {
            let mut buf = vec![0u8; 65536];
            // SAFETY: reads into a buffer of the given size.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    0,
                )
            };
            if n <= 0 {
                return None;
            }
            buf.truncate(n as usize);
            Some(buf)
        }

        /// Wait up to `wait` for a datagram whose first message `want` accepts;
        /// store it as NAME.bin.
        fn expect(
            &self,
            name: &str,
            wait: Duration,
            want: impl Fn(&KernelMsg) -> bool,
        ) -> Result<KernelMsg, String> {
            let end = Instant::now() + wait;
            while Instant::now() < end {
                let Some(d) = self.recv() else { continue };
                let msgs = parse_datagram(&d);
                let Some(Ok(m)) = msgs.into_iter().next() else {
                    return Err(format!("{name}: undecodable datagram {d:02x?}"));
                };
                if want(&m) {
                    std::fs::write(self.dir.join(format!("{name}.bin")), &d)
                        .map_err(|e| format!("{name}: {e}"))?;
                    println!("{name}: {:?}", m.body);
                    return Ok(m);
                }
                println!("{name}: skipped {:?}", m.body);
            }
            Err(format!("{name}: nothing in {wait:?}"))
        }

        fn next_seq(&mut self) -> u32 {
            self.seq += 1;
            self.seq
        }

        /// Send `req` (built with seq `seq`) and expect an ACK or the errno `errno`.
        fn ack(&mut self, name: &str, req: Vec<u8>, seq: u32, errno: i32) -> Result<(), String> {
            self.send(&req).map_err(|e| format!("{name}: {e}"))?;
            let m = self.expect(
                name,
                Duration::from_secs(5),
                |m| matches!(&m.body, Body::Ack(h) | Body::Failed { request: h, .. } if h.seq == seq),
            )?;
            match m.body {
                Body::Ack(_) if errno == 0 => Ok(()),
                Body::Failed { errno: e, .. } if e == errno => Ok(()),
                b => Err(format!("{name}: wanted errno {errno}, got {b:?}")),
            }
        }
    }

    fn sa(
        spi: u32,
        src: &str,
        dst: &str,
        enc: Encryption,
        integ: Option<Integrity>,
    ) -> BrokerSaParams {
        let ek = ike_pfkey::broker::algs::encryption_key_bits(enc) / 8;
        let ak = match integ {
            Some(Integrity::HmacSha2_256) => 32,
            Some(Integrity::HmacSha2_384) => 48,
            Some(Integrity::HmacSha2_512) => 64,
            Some(Integrity::HmacSha1) => 20,
            Some(Integrity::HmacMd5) => 16,
            None => 0,
        };
        BrokerSaParams {
            id: SaId {
                proto: IpsecProtocol::Esp,
                spi,
                src: ip(src),
                dst: ip(dst),
            },
            mode: Encapsulation::Tunnel,
            reqid: 1,
            encryption: Some(enc),
            enc_key: Secret::new((0..ek as u8).collect()),
            integrity: integ,
            auth_key: Secret::new((0x40..0x40 + ak).collect()),
            replay_window: 32,
            esn: false,
            soft: SaLifetime::default(),
            hard: SaLifetime::default(),
            natt: None,
            acquire_seq: 0,
        }
    }

    fn net(s: &str, p: u8) -> IpNet {
        IpNet::new(ip(s), p).unwrap_or(IpNet {
            addr: ip(s),
            prefix: p,
        })
    }

    fn pol(
        dir: PolicyDir,
        reqid: u32,
        src: IpNet,
        dst: IpNet,
        tun: (&str, &str),
    ) -> BrokerPolicyParams {
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
            tunnel: Some((ip(tun.0), ip(tun.1))),
            reqid,
        }
    }

    fn capture(dir: &Path) -> Result<(), String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let mut nl = Nl::open(dir).map_err(|e| format!("NETLINK_XFRM: {e}"))?;
        let (a, b) = ("10.77.0.1", "10.77.0.2");
        let e = |e: ike_pfkey::xfrm::Error| e.to_string();

        // ALLOCSPI: inbound b -> a.
        let s = nl.next_seq();
        let req = request::allocspi(
            s,
            IpsecProtocol::Esp,
            &ip(b),
            &ip(a),
            Encapsulation::Tunnel,
            1,
            0,
        )
        .map_err(e)?;
        nl.send(&req).map_err(|e| e.to_string())?;
        let m = nl.expect("allocspi-reply", Duration::from_secs(5), |m| {
            m.header.seq == s
        })?;
        let Body::Sa(info, _) = m.body else {
            return Err(format!("ALLOCSPI answered {:?}", m.body));
        };
        let spi = info.id.spi;

        // UPDSA: AES-256-GCM-16 with ESN on the larval SA.
        let mut p = sa(spi, b, a, Encryption::Aes256Gcm16, None);
        p.esn = true;
        p.replay_window = 128;
        p.soft = SaLifetime {
            bytes: 1 << 30,
            seconds: 3000,
            packets: 0,
        };
        p.hard = SaLifetime {
            bytes: 1 << 31,
            seconds: 3600,
            packets: 0,
        };
        let s = nl.next_seq();
        nl.ack(
            "updsa-gcm-esn-ack",
            request::sa(s, &p, true).map_err(e)?,
            s,
            0,
        )?;

        // NEWSA: AES-128-CBC + HMAC-SHA2-256-128 in UDP.
        let mut p = sa(
            0x1000,
            a,
            b,
            Encryption::Aes128Cbc,
            Some(Integrity::HmacSha2_256),
        );
        p.natt = Some(NatT {
            sport: 4500,
            dport: 4501,
        });
        let s = nl.next_seq();
        nl.ack(
            "newsa-cbc-sha256-ack",
            request::sa(s, &p, false).map_err(e)?,
            s,
            0,
        )?;
        let s = nl.next_seq();
        nl.ack("newsa-eexist", request::sa(s, &p, false).map_err(e)?, s, 17)?;

        let p = sa(0x1001, a, b, Encryption::ChaCha20Poly1305, None);
        let s = nl.next_seq();
        nl.ack(
            "newsa-chacha-ack",
            request::sa(s, &p, false).map_err(e)?,
            s,
            0,
        )?;

        let p = sa(
            0x1002,
            a,
            b,
            Encryption::Aes256Cbc,
            Some(Integrity::HmacSha2_512),
        );
        let s = nl.next_seq();
        nl.ack(
            "newsa-sha512-ack",
            request::sa(s, &p, false).map_err(e)?,
            s,
            0,
        )?;

        // GETSA of the CBC SA: NEWSA with counters (and the keys we chose).
        let id = SaId {
            proto: IpsecProtocol::Esp,
            spi: 0x1000,
            src: ip(a),
            dst: ip(b),
        };
        let s = nl.next_seq();
        nl.send(&request::sa_id(s, &id, true).map_err(e)?)
            .map_err(|e| e.to_string())?;
        nl.expect("getsa-reply", Duration::from_secs(5), |m| m.header.seq == s)?;

        // Policies out/in/fwd for 10.78.1.0/24 <-> 10.78.2.0/24.
        let (l, r) = (net("10.78.1.0", 24), net("10.78.2.0", 24));
        let out = pol(PolicyDir::Out, 1, l, r, (a, b));
        let inb = pol(PolicyDir::In, 1, r, l, (b, a));
        let fwd = pol(PolicyDir::Fwd, 1, r, l, (b, a));
        for (name, p) in [("out", &out), ("in", &inb), ("fwd", &fwd)] {
            let s = nl.next_seq();
            nl.ack(
                &format!("newpolicy-{name}-ack"),
                request::policy(s, p, false).map_err(e)?,
                s,
                0,
            )?;
        }
        let s = nl.next_seq();
        nl.ack(
            "newpolicy-eexist",
            request::policy(s, &out, false).map_err(e)?,
            s,
            17,
        )?;

        // ACQUIRE: a policy to 10.77.0.3 (reqid 2) without SA, then a packet.
        let acq = pol(
            PolicyDir::Out,
            2,
            net(a, 32),
            net("10.77.0.3", 32),
            (a, "10.77.0.3"),
        );
        let s = nl.next_seq();
        nl.ack(
            "newpolicy-acq-ack",
            request::policy(s, &acq, false).map_err(e)?,
            s,
            0,
        )?;
        if let Ok(u) = UdpSocket::bind((ip(a), 0)) {
            let _ = u.send_to(b"acquire", ("10.77.0.3", 9));
        }
        nl.expect("acquire", Duration::from_secs(5), |m| {
            matches!(m.body, Body::Acquire(..))
        })?;

        // EXPIRE: soft after 1 s, hard after 2 s.
        let mut p = sa(0x2000, a, b, Encryption::Aes128Gcm12, None);
        p.soft.seconds = 1;
        p.hard.seconds = 2;
        let s = nl.next_seq();
        nl.ack(
            "newsa-short-ack",
            request::sa(s, &p, false).map_err(e)?,
            s,
            0,
        )?;
        nl.expect(
            "expire-soft",
            Duration::from_secs(10),
            |m| matches!(&m.body, Body::Expire(x, _) if !x.hard),
        )?;
        nl.expect(
            "expire-hard",
            Duration::from_secs(10),
            |m| matches!(&m.body, Body::Expire(x, _) if x.hard),
        )?;

        // POLEXPIRE: a policy with a 1 s hard lifetime, written by hand since
        // the broker never sets policy lifetimes.
        let s = nl.next_seq();
        let mut pe = request::policy(
            s,
            &pol(
                PolicyDir::Out,
                3,
                net("10.79.0.0", 16),
                net("10.79.1.0", 24),
                (a, b),
            ),
            false,
        )
        .map_err(e)?;
        // lft.hard_add_expires_seconds sits at 16 + 56 + 40 (nlmsghdr, selector).
        if let Some(f) = pe.get_mut(16 + 56 + 40..16 + 56 + 48) {
            f.copy_from_slice(&1u64.to_ne_bytes());
        }
        nl.ack("newpolicy-short-ack", pe, s, 0)?;
        nl.expect("polexpire", Duration::from_secs(10), |m| {
            matches!(m.body, Body::PolExpire(..))
        })?;

        // Deletions.
        let s = nl.next_seq();
        nl.ack("delsa-ack", request::sa_id(s, &id, false).map_err(e)?, s, 0)?;
        let s = nl.next_seq();
        nl.ack(
            "delsa-esrch",
            request::sa_id(s, &id, false).map_err(e)?,
            s,
            3,
        )?;
        for p in [&out, &inb, &fwd, &acq] {
            let s = nl.next_seq();
            nl.ack(
                "delpolicy-ack",
                request::delete_policy(s, p).map_err(e)?,
                s,
                0,
            )?;
        }
        let s = nl.next_seq();
        nl.ack(
            "delpolicy-enoent",
            request::delete_policy(s, &out).map_err(e)?,
            s,
            2,
        )?;
        Ok(())
    }

    pub fn main() -> ExitCode {
        let args: Vec<String> = std::env::args().skip(1).collect();
        match args.as_slice() {
            [cmd, dir] if cmd == "capture" => match capture(Path::new(dir)) {
                Ok(()) => {
                    println!("xfrm-probe: every step answered as expected");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("xfrm-probe: {e}");
                    ExitCode::FAILURE
                }
            },
            _ => {
                eprintln!("usage: xfrm-probe capture DIR");
                ExitCode::from(2)
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    probe::main()
}

#[cfg(not(target_os = "linux"))]
fn main() -> std::process::ExitCode {
    eprintln!("xfrm-probe: NETLINK_XFRM is Linux only");
    std::process::ExitCode::from(2)
}
