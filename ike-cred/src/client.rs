//! ike-net's side: [`Credentials`] by a blocking round trip to ike-cred.
//!
//! The engine is synchronous (sans-IO) and asks where it computes AUTH
//! today; one round trip on a local socketpair is a few microseconds next
//! to the key exchange. A credential process that does not answer within
//! [`TIMEOUT`] fails that authentication with a log line; ike-net goes on
//! (and the parent stops the tree if ike-cred died).

use ike_ipc::channel::{Channel, ChannelError};
use ike_ipc::msg::cred::{CredAnswer, CredOp, CredToNet, NetToCred, MAX_CRED_MESSAGE};
use ike_proto::crypto::PrfAlg;
use ike_proto::engine::{Credentials, SignHow};
use std::fmt;
use std::os::fd::OwnedFd;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long ike-net waits for one answer.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// The channel to ike-cred and the next request id.
pub struct CredClient {
    inner: Mutex<(Channel<NetToCred, CredToNet>, u64)>,
    timeout: Duration,
}

impl fmt::Debug for CredClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CredClient(ike-cred)")
    }
}

impl CredClient {
    /// Wraps ike-net's end of the socketpair. Sets the receive timeout now:
    /// setsockopt is outside ike-net's sandbox.
    pub fn new(fd: OwnedFd, timeout: Duration) -> Result<CredClient, String> {
        use nix::sys::socket::{setsockopt, sockopt::ReceiveTimeout};
        use nix::sys::time::TimeVal;
        let tv = TimeVal::new(timeout.as_secs() as _, timeout.subsec_micros() as _);
        setsockopt(&fd, ReceiveTimeout, &tv).map_err(|e| format!("SO_RCVTIMEO: {e}"))?;
        let mut ch: Channel<NetToCred, CredToNet> = Channel::from_fd(fd);
        ch.set_name("ike-cred channel");
        ch.set_max_message(MAX_CRED_MESSAGE);
        ch.set_nonblocking(false)
            .map_err(|e| format!("ike-cred channel: {e}"))?;
        Ok(CredClient {
            inner: Mutex::new((ch, 1)),
            timeout,
        })
    }

    /// The descriptor, for the sandbox's list.
    pub fn with_fd<R>(&self, f: impl FnOnce(std::os::fd::BorrowedFd<'_>) -> R) -> Option<R> {
        use std::os::fd::AsFd;
        let g = self.inner.lock().ok()?;
        Some(f(g.0.as_fd()))
    }

    fn ask(&self, policy: &str, op: CredOp) -> Result<CredAnswer, String> {
        let mut g = self
            .inner
            .lock()
            .map_err(|_| "ike-cred channel poisoned".to_string())?;
        let (ch, next) = &mut *g;
        let id = *next;
        *next += 1;
        ch.send(&NetToCred {
            id,
            policy: policy.to_string(),
            op,
        })
        .map_err(|e| format!("ike-cred: {e}"))?;
        let deadline = Instant::now() + self.timeout;
        loop {
            match ch.recv() {
                // An answer to an earlier request that timed out: skip it.
                Ok(got) if got.msg.id < id && got.fds.is_empty() => {}
                Ok(got) if got.msg.id == id && got.fds.is_empty() => return Ok(got.msg.answer),
                Ok(_) => return Err("ike-cred sent an unexpected answer".into()),
                Err(e) if e.is_would_block() => {
                    if Instant::now() >= deadline {
                        return Err(format!("ike-cred did not answer within {:?}", self.timeout));
                    }
                }
                Err(ChannelError::Io(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("ike-cred: {e}")),
            }
            if Instant::now() >= deadline {
                return Err(format!("ike-cred did not answer within {:?}", self.timeout));
            }
        }
    }

    fn value(&self, policy: &str, op: CredOp) -> Result<Vec<u8>, String> {
        match self.ask(policy, op)? {
            CredAnswer::Value(v) => Ok(v),
            CredAnswer::Refused(why) => Err(format!("ike-cred refused: {why}")),
            CredAnswer::Verdict(_) => Err("ike-cred answered a verdict, not a value".into()),
        }
    }
}

impl Credentials for CredClient {
    fn psk_auth(&self, policy: &str, prf: PrfAlg, octets: &[u8]) -> Result<Vec<u8>, String> {
        self.value(
            policy,
            CredOp::PskAuth {
                prf: prf.transform_id(),
                octets: octets.to_vec(),
            },
        )
    }

    fn psk_verify(
        &self,
        policy: &str,
        prf: PrfAlg,
        octets: &[u8],
        value: &[u8],
    ) -> Result<bool, String> {
        let op = CredOp::PskVerify {
            prf: prf.transform_id(),
            octets: octets.to_vec(),
            value: value.to_vec(),
        };
        match self.ask(policy, op)? {
            CredAnswer::Verdict(yes) => Ok(yes),
            CredAnswer::Refused(why) => Err(format!("ike-cred refused: {why}")),
            CredAnswer::Value(_) => Err("ike-cred answered a value, not a verdict".into()),
        }
    }

    fn sign(
        &self,
        policy: &str,
        how: SignHow,
        prf: PrfAlg,
        octets: &[u8],
    ) -> Result<Vec<u8>, String> {
        self.value(
            policy,
            CredOp::Sign {
                how: crate::serve::sign_method(how),
                prf: prf.transform_id(),
                octets: octets.to_vec(),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyStore;
    use ike_ipc::channel::raw_pair;

    /// An AUTH octet string as the initiator signs it (see
    /// `ike_proto::engine::check_signed_octets`).
    fn octets() -> Vec<u8> {
        let mut m = vec![0u8; 28];
        m[0..8].copy_from_slice(&[1; 8]);
        m[17] = 0x20;
        m[18] = 34;
        m[19] = 0x08;
        m[24..28].copy_from_slice(&28u32.to_be_bytes());
        m.extend([7u8; 32]);
        m.extend([9u8; 32]);
        m
    }

    #[test]
    fn a_silent_credential_process_fails_the_request_in_time() {
        let (ours, theirs) = raw_pair().unwrap();
        let client = CredClient::new(ours, Duration::from_millis(200)).unwrap();
        let t0 = Instant::now();
        let e = client
            .psk_auth("p", PrfAlg::HmacSha256, &octets())
            .unwrap_err();
        assert!(e.contains("did not answer"), "{e}");
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
        // A gone credential process is an error at once, not a hang.
        drop(theirs);
        let e = client
            .psk_auth("p", PrfAlg::HmacSha256, &octets())
            .unwrap_err();
        assert!(e.contains("ike-cred"), "{e}");
    }

    /// The cost of asking ike-cred instead of computing in-process, per
    /// PSK AUTH (a PSK handshake makes two: ours and the check of the
    /// peer's). A measurement, run by hand:
    /// `cargo test -p ike-cred --release -- --ignored --nocapture round_trip_cost`.
    #[test]
    #[ignore]
    fn round_trip_cost() {
        const N: u32 = 20_000;
        let (ours, theirs) = raw_pair().unwrap();
        let client = CredClient::new(ours, TIMEOUT).unwrap();
        let server = std::thread::spawn(move || {
            let store = KeyStore::new().with_psk("p", b"the psk");
            let mut ch: Channel<CredToNet, NetToCred> = Channel::from_fd(theirs);
            ch.set_max_message(MAX_CRED_MESSAGE);
            while let Ok(got) = ch.recv() {
                ch.send(&crate::serve::answer(&store, &got.msg)).unwrap();
            }
        });
        // An IKE_SA_INIT of a realistic size (X25519, 2 proposals, NAT-D).
        let mut m = octets();
        m[24..28].copy_from_slice(&300u32.to_be_bytes());
        m.splice(28..28, vec![0u8; 272]);
        let store = KeyStore::new().with_psk("p", b"the psk");
        let t0 = Instant::now();
        for _ in 0..N {
            store.psk_auth("p", PrfAlg::HmacSha256, &m).unwrap();
        }
        let local = t0.elapsed() / N;
        let t0 = Instant::now();
        for _ in 0..N {
            client.psk_auth("p", PrfAlg::HmacSha256, &m).unwrap();
        }
        let remote = t0.elapsed() / N;
        println!("psk_auth in-process {local:?}, through ike-cred {remote:?}");
        drop(client);
        server.join().unwrap();
        assert!(remote >= local);
    }

    /// The whole protocol: ike-net's client against ike-cred's answering
    /// side on a socketpair, late answers to timed-out requests skipped.
    #[test]
    fn round_trips_through_the_answering_side() {
        let (ours, theirs) = raw_pair().unwrap();
        let client = CredClient::new(ours, TIMEOUT).unwrap();
        let server = std::thread::spawn(move || {
            let store = KeyStore::new().with_psk("p", b"the psk");
            let mut ch: Channel<CredToNet, NetToCred> = Channel::from_fd(theirs);
            ch.set_max_message(MAX_CRED_MESSAGE);
            // A stale answer first: the client must skip it.
            ch.send(&CredToNet {
                id: 0,
                answer: CredAnswer::Value(vec![0xee]),
            })
            .unwrap();
            for _ in 0..3 {
                let req = ch.recv().unwrap().msg;
                ch.send(&crate::serve::answer(&store, &req)).unwrap();
            }
        });
        let m = octets();
        let mac = client.psk_auth("p", PrfAlg::HmacSha256, &m).unwrap();
        assert_eq!(
            mac,
            ike_proto::crypto::psk_auth(PrfAlg::HmacSha256, b"the psk", &m)
        );
        assert_eq!(
            client.psk_verify("p", PrfAlg::HmacSha256, &m, &mac),
            Ok(true)
        );
        let e = client.psk_auth("nope", PrfAlg::HmacSha256, &m).unwrap_err();
        assert!(
            e.contains("refused") && e.contains("no pre-shared key"),
            "{e}"
        );
        server.join().unwrap();
    }
}
