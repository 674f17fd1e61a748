//! Shared by the helper binaries' tests: a scratch directory, the real PF_KEY
//! simulator from ike-pfkey running in this process, and PF_KEY message bytes.

#![allow(dead_code)]

use ike_pfkey::dialect::{Dialect, MsgType};
use ike_pfkey::sim::server::{Server, ServerConfig};
use ike_pfkey::sim::SimConfig;
use ike_pfkey::wire::Message;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

/// A fresh directory, mode 0755 so that the setuid probe can reach sockets in it.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("helper-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

/// Starts pfkey-sim's engine on `dir/sim.sock`.
pub fn start_sim(dir: &Path) -> (Server, PathBuf) {
    let socket = dir.join("sim.sock");
    let server = Server::start(ServerConfig {
        socket: socket.clone(),
        control: None,
        sim: SimConfig::default(),
    })
    .expect("start the PF_KEY simulator");
    (server, socket)
}

/// SADB_REGISTER for ESP (RFC 2367 3.1.7): version 2, type 7, satype 3, 2 words.
pub fn register_esp(seq: u32) -> Vec<u8> {
    let mut m = vec![2u8, 7, 0, 3];
    m.extend_from_slice(&2u16.to_ne_bytes());
    m.extend_from_slice(&0u16.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&std::process::id().to_ne_bytes());
    m
}

/// Checks a REGISTER reply: errno 0, our seq, AES-CBC (12) among the ciphers.
pub fn assert_register_reply(bytes: &[u8], seq: u32) {
    let m = Message::parse(Dialect::Linux, bytes).expect("reply decodes");
    assert_eq!(m.header.msg_type, MsgType::Register, "{m:?}");
    assert_eq!(m.header.errno, 0, "{m:?}");
    assert_eq!(m.header.seq, seq, "{m:?}");
    let ciphers = m
        .supported(ike_pfkey::dialect::ExtKind::SupportedEncrypt)
        .expect("SUPPORTED_ENCRYPT");
    assert!(ciphers.iter().any(|a| a.id == 12), "{ciphers:?}");
}

/// Waits until the helper's log (its stderr, in `log`) holds `ready`: the
/// line it writes once it listens. Waiting for the socket file instead is a
/// race: bind(2) creates it before chown and listen(2), and a socket file a
/// killed earlier instance left behind exists from the start.
pub fn wait_for_log(log: &Path, ready: &str, child: &mut Child) {
    let t0 = Instant::now();
    while !std::fs::read_to_string(log).is_ok_and(|t| t.contains(ready)) {
        if let Ok(Some(st)) = child.try_wait() {
            panic!("helper exited early: {st}");
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{} never logged {ready:?}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills a helper at the end of a test.
pub struct Reap(pub Child);
impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
