//! pf-to-tcp, run as its real binary: loopback-only listening, and relaying PF_KEY
//! messages both ways between a TCP client and the PF_KEY simulator, with a dump.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

const PF_TO_TCP: &str = env!("CARGO_BIN_EXE_pf-to-tcp");

#[test]
fn refuses_non_loopback_addresses() {
    for addr in [
        "0.0.0.0:5757",
        "[::]:5757",
        "192.0.2.1:5757",
        "10.77.0.1:0",
        "localhost:5757",
    ] {
        let out = Command::new(PF_TO_TCP)
            .args(["--insecure-debug", "--listen", addr])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{addr}: {err}");
        assert!(
            err.contains("loopback") || err.contains("literal"),
            "{addr}: {err}"
        );
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("listening"),
            "{addr}"
        );
    }
}

/// Without --insecure-debug it does not start, and says why on stderr
/// (issue 16: it hands keys to any local user).
#[test]
fn refuses_to_start_without_insecure_debug() {
    let dir = scratch("tcp-noflag");
    let (_sim, sim_sock) = start_sim(&dir);
    let out = Command::new(PF_TO_TCP)
        .args(["--listen", "127.0.0.1:0", "--once", "--sim"])
        .arg(&sim_sock)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--insecure-debug") && err.contains("any local user"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"));
}

/// Reads one PF_KEY message from the stream (length from sadb_msg_len).
fn read_message(s: &mut TcpStream) -> Vec<u8> {
    let mut m = vec![0u8; 16];
    s.read_exact(&mut m).unwrap();
    let words = u16::from_ne_bytes([m[4], m[5]]);
    m.resize(usize::from(words) * 8, 0);
    s.read_exact(&mut m[16..]).unwrap();
    m
}

#[test]
fn relays_both_ways_and_dumps_every_message() {
    let dir = scratch("tcp-relay");
    let (_sim, sim_sock) = start_sim(&dir);
    let mut child = Command::new(PF_TO_TCP)
        .args([
            "--insecure-debug",
            "--listen",
            "127.0.0.1:0",
            "--once",
            "--sim",
        ])
        .arg(&sim_sock)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let addr = first
        .strip_prefix("pf-to-tcp: listening on ")
        .and_then(|r| r.split(',').next())
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string();
    let child = Reap(child);

    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // two requests in one TCP write: the relay must cut them apart by sadb_msg_len.
    // The second REGISTER on the same socket is refused with EEXIST, as by Linux
    // af_key: error replies must come back too.
    let mut two = register_esp(41);
    two.extend_from_slice(&register_esp(42));
    s.write_all(&two).unwrap();
    let first = read_message(&mut s);
    assert_register_reply(&first, 41);
    let second = read_message(&mut s);
    assert_eq!(second.len(), 16, "an error reply is the header alone");
    assert_eq!((second[1], second[2]), (7, 17), "REGISTER, EEXIST");
    assert_eq!(
        u32::from_ne_bytes([second[8], second[9], second[10], second[11]]),
        42
    );
    drop(s);

    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap(); // --once: ends when the client is done
    drop(child);
    assert_eq!(
        rest.matches("=== client -> kernel: 16 bytes").count(),
        2,
        "{rest}"
    );
    assert!(
        rest.matches("=== kernel -> client: ").count() >= 2,
        "{rest}"
    );
    assert!(rest.contains("Register"), "{rest}");
    assert!(rest.contains("SupportedEncrypt"), "{rest}");
    assert!(rest.contains("  0000: 02 07 00 03"), "{rest}");
    let _ = std::fs::remove_dir_all(&dir);
}
