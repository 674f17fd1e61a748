//! ike-dump: prints IKEv2 messages field by field.
//!
//! ```text
//! ike-dump [--keys KEYS] [FILE]
//! ```
//!
//! FILE (or standard input when absent or `-`) is either one IKE message as
//! hex (whitespace and `#` comment lines ignored, no non-ESP marker) or a
//! classic pcap file, of which every UDP/500 and UDP/4500 datagram is shown.
//! With `--keys`, a key file in the format of the strongSwan vector sets
//! (`[general] ike_proposal = ...`, `[IKE_SA n]` with SPIi, SPIr, SK_e*,
//! SK_a*), SK payloads of known IKE SAs are decrypted and their inner
//! payloads printed; RFC 7383 fragments are reassembled first. The exit status is 1 if any message is malformed or
//! fails its integrity check, 2 for usage or I/O errors.

use std::io::Read;
use std::process::ExitCode;

use ike_proto::crypto;
use ike_proto::wire::{
    classify_udp_4500, parse_inner_payloads, EncryptedKind, Message, Payload, PayloadType,
    ProtectedMessage, Udp4500,
};

#[path = "ike_dump/fragments.rs"]
mod fragments;
#[path = "ike_dump/keys.rs"]
mod keys;
#[path = "ike_dump/pcap.rs"]
mod pcap;
#[path = "ike_dump/print.rs"]
mod print;

use fragments::{Added, Fragments, MessageKey};
use keys::KeysFile;
use print::Out;

const USAGE: &str = "usage: ike-dump [--keys KEYS] [FILE|-]";

struct Args {
    keys: Option<String>,
    input: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        keys: None,
        input: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "-k" | "--keys" => args.keys = Some(it.next().ok_or("--keys needs a file")?),
            _ if args.input.is_none() => args.input = Some(a),
            _ => return Err(format!("unexpected argument {a:?}")),
        }
    }
    Ok(args)
}

fn read_input(path: Option<&str>) -> Result<Vec<u8>, String> {
    match path {
        None | Some("-") => {
            let mut v = Vec::new();
            std::io::stdin()
                .read_to_end(&mut v)
                .map_err(|e| format!("stdin: {e}"))?;
            Ok(v)
        }
        Some(p) => std::fs::read(p).map_err(|e| format!("{p}: {e}")),
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("ike-dump: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("ike-dump: {e}");
            ExitCode::from(2)
        }
    }
}

/// Returns the number of messages that failed.
fn run(args: &Args) -> Result<usize, String> {
    let input = read_input(args.input.as_deref())?;
    let keys = match &args.keys {
        Some(p) => {
            // The key file holds secrets: wipe our copy of its text.
            let text = zeroize::Zeroizing::new(
                std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}"))?,
            );
            Some(KeysFile::parse(&text).map_err(|e| format!("{p}: {e}"))?)
        }
        None => None,
    };
    let mut failures = 0;
    let mut frags = Fragments::default();
    if pcap::is_pcap(&input) {
        for d in pcap::read(&input)? {
            let natt = d.src.port() == 4500 || d.dst.port() == 4500;
            let (message, marker) = if natt {
                match classify_udp_4500(d.payload) {
                    Udp4500::Ike(m) => (m, " (non-ESP marker)"),
                    Udp4500::Esp(_) | Udp4500::Keepalive => continue,
                    Udp4500::Invalid => {
                        eprintln!("frame {}: error: UDP/4500 payload too short", d.frame);
                        failures += 1;
                        continue;
                    }
                }
            } else {
                (d.payload, "")
            };
            println!("frame {}: {} -> {}{marker}", d.frame, d.src, d.dst);
            if let Err(e) = dump_and_print(message, keys.as_ref(), &mut frags) {
                eprintln!("frame {}: error: {e}", d.frame);
                failures += 1;
            }
            println!();
        }
    } else {
        let text = String::from_utf8(input).map_err(|_| "input is neither pcap nor hex text")?;
        let hex: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect();
        let bytes = keys::decode_hex(&hex)?;
        if let Err(e) = dump_and_print(&bytes, keys.as_ref(), &mut frags) {
            eprintln!("error: {e}");
            failures += 1;
        }
    }
    Ok(failures)
}

/// Prints what could be decoded even when a later step fails.
fn dump_and_print(
    datagram: &[u8],
    keys: Option<&KeysFile>,
    frags: &mut Fragments,
) -> Result<(), String> {
    let mut o = Out::new();
    let r = dump(&mut o, datagram, keys, frags);
    print!("{}", o.text);
    r
}

fn dump(
    o: &mut Out,
    datagram: &[u8],
    keys: Option<&KeysFile>,
    frags: &mut Fragments,
) -> Result<(), String> {
    let m = Message::parse(datagram).map_err(|e| format!("malformed message: {e}"))?;
    print::header(o, &m.header);
    for p in &m.payloads {
        print::payload(o, p);
    }
    if !m.payloads.last().is_some_and(Payload::is_encrypted) {
        return Ok(());
    }
    let Some(keys) = keys else {
        o.line("(encrypted payload not decrypted: no --keys)");
        return Ok(());
    };
    let Some(sa) = keys.find(m.header.spi_i, m.header.spi_r) else {
        o.line("(encrypted payload not decrypted: no keys for these SPIs)");
        return Ok(());
    };
    let initiator = m.header.flags.initiator;
    let cipher = keys.cipher(sa, initiator)?;
    let pm = ProtectedMessage::parse(datagram).map_err(|e| format!("malformed message: {e}"))?;
    pm.split(cipher.iv_len(), cipher.icv_len())
        .map_err(|e| format!("malformed encrypted payload: {e}"))?;
    let plain = cipher.decrypt(pm.aad(), pm.body()).map_err(|e| match e {
        crypto::Error::IntegrityCheckFailed => format!(
            "ICV verification failed with {} SK_{} (wrong keys or corrupted message)",
            sa.name,
            if initiator { "ai/SK_ei" } else { "ar/SK_er" }
        ),
        other => format!("decryption failed: {other}"),
    })?;
    let key = if initiator { "SK_ei" } else { "SK_er" };
    let title = format!(
        "decrypted with {} {key} ({:?}, {:?})",
        sa.name,
        cipher.encr(),
        cipher.integ()
    );
    match pm.kind {
        EncryptedKind::Sk => {
            let mut r = Ok(());
            o.nested(title, |o| r = inner_tree(o, pm.first_inner, &plain));
            r
        }
        EncryptedKind::Skf { number, total } => {
            let key = MessageKey {
                spi_i: m.header.spi_i,
                spi_r: m.header.spi_r,
                message_id: m.header.message_id,
                response: m.header.flags.response,
            };
            o.nested(title, |o| o.line(format!("fragment {number} of {total}")));
            match frags.add(key, number, total, pm.first_inner, plain) {
                Added::Pending { missing } => {
                    o.line(format!(
                        "({missing} fragment(s) of this message still missing)"
                    ));
                    Ok(())
                }
                Added::Complete(first, joined) => {
                    let mut r = Ok(());
                    o.nested(format!("reassembled message ({total} fragments)"), |o| {
                        r = inner_tree(o, first, &joined)
                    });
                    r
                }
                Added::Rejected => Err(format!(
                    "fragment {number} of {total} does not fit the earlier fragments"
                )),
            }
        }
    }
}

/// Prints decrypted inner payloads, or their bytes if they do not decode.
fn inner_tree(o: &mut Out, first: PayloadType, plain: &[u8]) -> Result<(), String> {
    match parse_inner_payloads(first, plain) {
        Ok(payloads) => {
            payloads.iter().for_each(|p| print::payload(o, p));
            Ok(())
        }
        Err(e) => {
            o.hex("plaintext", plain);
            Err(format!("malformed inner payload: {e}"))
        }
    }
}
