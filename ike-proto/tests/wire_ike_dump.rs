//! Runs the `ike-dump` binary on the captured vector sets.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ike_proto::wire::{
    add_non_esp_marker, build_protected, EncryptedKind, ExchangeType, Flags, Header, PayloadType,
};

#[path = "../src/bin/ike_dump/keys.rs"]
#[allow(dead_code)]
mod keys;

const GCM: &str = "strongswan-psk-x25519-aes256gcm";
const CBC: &str = "strongswan-psk-ecp256-aes128cbc-sha256";

fn data(set: &str, file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(set)
        .join(file)
}

fn ike_dump(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ike-dump"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn with_keys(set: &str, keys: &Path) -> Output {
    ike_dump(&[Path::new("--keys"), keys, &data(set, "capture.pcap")])
}

/// The text of the decrypted tree of one frame.
fn frame_text(stdout: &str, frame: usize) -> String {
    let start = format!("frame {frame}:");
    stdout
        .split("\n\n")
        .find(|block| block.starts_with(&start))
        .unwrap_or_else(|| panic!("no frame {frame} in output"))
        .to_string()
}

#[test]
fn decrypts_both_captures() {
    for (set, frames) in [(GCM, 14), (CBC, 6)] {
        let out = with_keys(set, &data(set, "keys.txt"));
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            out.status.success(),
            "{set}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout.matches("IKE header").count(), frames, "{set}");
        // IKE_AUTH request (frame 3) and response (frame 4), decrypted.
        let auth_i = frame_text(&stdout, 3);
        assert!(auth_i.contains("exchange = IKE_AUTH(35)"));
        assert!(auth_i.contains("decrypted with IKE_SA 1 SK_ei"));
        assert!(
            auth_i.contains("IDi\n    id_type = FQDN(2)\n    data = a.test"),
            "{auth_i}"
        );
        assert!(auth_i.contains("IDr\n    id_type = FQDN(2)\n    data = b.test"));
        assert!(auth_i.contains("method = PSK(2)"));
        assert!(auth_i.contains("addresses=10.1.0.0-10.1.0.255"));
        let auth_r = frame_text(&stdout, 4);
        assert!(auth_r.contains("decrypted with IKE_SA 1 SK_er"));
        assert!(auth_r.contains("data = b.test"));
        assert!(!auth_r.contains("a.test"));
        assert!(auth_r.contains("(non-ESP marker)"));
    }
}

#[test]
fn rekeyed_ike_sa_uses_its_own_keys() {
    let out = with_keys(GCM, &data(GCM, "keys.txt"));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last = frame_text(&stdout, 13);
    assert!(last.contains("spi_i = 5a39587a9fe97c4b"));
    assert!(last.contains("decrypted with IKE_SA 2 SK_ei"));
    assert!(last.contains("Delete\n    protocol = IKE(1)"));
}

/// Writes a copy of a key file with one bit of `key` flipped.
fn flipped_keys(set: &str, key: &str) -> PathBuf {
    let text = std::fs::read_to_string(data(set, "keys.txt")).unwrap();
    let prefix = format!("{key} = ");
    let mut done = false;
    let changed: Vec<String> = text
        .lines()
        .map(|l| match l.strip_prefix(&prefix) {
            Some(hex) if !done => {
                done = true;
                let first = u8::from_str_radix(&hex[..2], 16).unwrap() ^ 0x01;
                format!("{prefix}{first:02x}{}", &hex[2..])
            }
            _ => l.to_string(),
        })
        .collect();
    assert!(done);
    let path =
        std::env::temp_dir().join(format!("ike-dump-{}-{set}-{key}.txt", std::process::id()));
    std::fs::write(&path, changed.join("\n")).unwrap();
    path
}

#[test]
fn flipped_key_bit_is_refused() {
    // AES-GCM: a wrong SK_ei fails the tag of every initiator message.
    // CBC + HMAC: a wrong SK_ai fails the ICV.
    for (set, key) in [(GCM, "SK_ei"), (CBC, "SK_ai")] {
        let keys = flipped_keys(set, key);
        let out = with_keys(set, &keys);
        std::fs::remove_file(&keys).unwrap();
        assert_eq!(out.status.code(), Some(1), "{set}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            stderr.contains("frame 3: error: ICV verification failed"),
            "{stderr}"
        );
        // Responder messages use the other key and still decrypt.
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(frame_text(&stdout, 4).contains("data = b.test"));
        assert!(!stdout.contains("data = a.test"));
    }
}

#[test]
fn hex_input_and_malformed_message() {
    let out = ike_dump(&[&data(GCM, "01-i2r-IKE_SA_INIT.hex")]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("transform type=ENCR(1) id=AES_GCM_16(20) key_length=256"));
    assert!(stdout.contains("notify_type = NAT_DETECTION_SOURCE_IP(16388)"));

    // The same message without its last 4 bytes: header length disagrees.
    let text = std::fs::read_to_string(data(GCM, "01-i2r-IKE_SA_INIT.hex")).unwrap();
    let hex: String = text.split_whitespace().collect();
    let short = std::env::temp_dir().join(format!("ike-dump-short-{}.hex", std::process::id()));
    std::fs::write(&short, &hex[..hex.len() - 8]).unwrap();
    let out = ike_dump(&[&short]);
    std::fs::remove_file(&short).unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("malformed message: IKE header length 232"),
        "{stderr}"
    );
}

#[test]
fn without_keys_sk_is_shown_encrypted() {
    let out = ike_dump(&[&data(CBC, "capture.pcap")]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.matches("no --keys").count(), 4);
    assert!(!stdout.contains("a.test"));
}

/// A classic pcap (raw IPv4 link type) of UDP 4500 datagrams.
fn pcap_raw_ipv4(datagrams: &[Vec<u8>]) -> Vec<u8> {
    let mut f = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    f.extend_from_slice(&65535u32.to_le_bytes());
    f.extend_from_slice(&101u32.to_le_bytes());
    for d in datagrams {
        let udp_len = 8 + d.len();
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&((20 + udp_len) as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0, 10, 77, 0, 1, 10, 77, 0, 2]);
        ip.extend_from_slice(&4500u16.to_be_bytes());
        ip.extend_from_slice(&4500u16.to_be_bytes());
        ip.extend_from_slice(&(udp_len as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 0]);
        ip.extend_from_slice(d);
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&(ip.len() as u32).to_le_bytes());
        f.extend_from_slice(&(ip.len() as u32).to_le_bytes());
        f.extend_from_slice(&ip);
    }
    f
}

/// IKE_AUTH of the GCM set re-sent as three RFC 7383 fragments (sent out
/// of order) under the same keys: ike-dump decrypts and reassembles them.
#[test]
fn reassembles_fragments() {
    let text = std::fs::read_to_string(data(GCM, "keys.txt")).unwrap();
    let keys = keys::KeysFile::parse(&text).unwrap();
    let sa = keys.find(0x7e02bfa8def98971, 0x0d9521be2b4ac111).unwrap();
    let cipher = keys.cipher(sa, true).unwrap();
    let plain_text =
        std::fs::read_to_string(data(GCM, "decrypted/03-i2r-IKE_AUTH.plain.hex")).unwrap();
    let hex: String = plain_text.lines().filter(|l| !l.starts_with('#')).collect();
    let inner = keys::decode_hex(&hex).unwrap();

    let header = Header::new(
        sa.spi_i,
        sa.spi_r,
        ExchangeType::IKE_AUTH,
        Flags {
            initiator: true,
            ..Flags::default()
        },
        1,
    );
    let pieces: Vec<&[u8]> = inner.chunks(inner.len() / 3 + 1).collect();
    assert_eq!(pieces.len(), 3);
    let mut datagrams = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        let number = i as u16 + 1;
        let first = if number == 1 {
            PayloadType::IDI
        } else {
            PayloadType::NONE
        };
        let kind = EncryptedKind::Skf { number, total: 3 };
        let ct_len = cipher.sealed_len(piece.len()) - cipher.iv_len() - cipher.icv_len();
        let mut buf = build_protected(
            &header,
            &[],
            kind,
            first,
            cipher.iv_len(),
            ct_len,
            cipher.icv_len(),
        )
        .unwrap();
        let iv = (0x1000 + u64::from(number)).to_be_bytes();
        let sealed = cipher.encrypt(buf.aad(), piece, &iv).unwrap();
        buf.set_body(&sealed).unwrap();
        datagrams.push(add_non_esp_marker(&buf.into_bytes()));
    }
    datagrams.swap(0, 2);
    let pcap = std::env::temp_dir().join(format!("ike-dump-frag-{}.pcap", std::process::id()));
    std::fs::write(&pcap, pcap_raw_ipv4(&datagrams)).unwrap();
    let out = ike_dump(&[Path::new("--keys"), &data(GCM, "keys.txt"), &pcap]);
    std::fs::remove_file(&pcap).unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(frame_text(&stdout, 1).contains("fragment 3 of 3"));
    assert!(frame_text(&stdout, 1).contains("2 fragment(s) of this message still missing"));
    let last = frame_text(&stdout, 3);
    assert!(last.contains("reassembled message (3 fragments)"), "{last}");
    assert!(last.contains("data = a.test"));
    assert!(last.contains("data = b.test"));
    assert!(last.contains("notify_type = IKEV2_MESSAGE_ID_SYNC_SUPPORTED(16420)"));
}
