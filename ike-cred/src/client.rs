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
