//! Public-key authentication material in OpenIKED's layout, next to the
//! configuration file:
//!
//! ```text
//! private/local.key                  our private key (PEM), mode 0600
//! pubkeys/ipv4/192.0.2.1             a peer's public key (PEM), by identity
//! pubkeys/ipv6/2001:db8::1
//! pubkeys/fqdn/gw.example.org
//! pubkeys/ufqdn/admin@example.org
//! ca/, certs/<id>.crt                certificates (see `certs`)
//! ```
//! The parent reads them (the children are chrooted and could not) and
//! sends them to ike-net only.

use super::error::{ConfigError, ErrorKind};
use super::files::{read_checked, require_private};
use super::values;
use ike_ipc::config::secret::Zeroizing;
use ike_ipc::config::{Auth, Config, KeyFormat, KeyMaterial, PeerAuthSource, PeerKey, Secret};
use std::path::Path;

const MAX_KEY_FILE: u64 = 64 * 1024;
const MAX_PEER_KEYS: usize = 4096;

/// Load `private/local.key` and `pubkeys/` if a policy needs them.
pub fn load(config: &mut Config, dir: &Path) -> Result<(), ConfigError> {
    let Some(user) = config
        .policies
        .iter()
        .find(|p| matches!(p.auth, Auth::PublicKey(_)))
    else {
        return Ok(());
    };
    let user = format!("policy '{}' ({})", user.name, user.source);
    let key_path = dir.join("private").join("local.key");
    let shown = key_path.display().to_string();
    let file = read_checked(&key_path, &shown, MAX_KEY_FILE).map_err(|mut e| {
        e.message = format!(
            "{} (needed by {user}, which uses public-key authentication)",
            e.message
        );
        e
    })?;
    require_private(&shown, file.mode, "it is a private key")?;
    let key = pem(&file.bytes).map_err(|m| ConfigError::file(&shown, ErrorKind::Invalid, m))?;
    if matches!(key.format, KeyFormat::Spki | KeyFormat::Pkcs1Public) {
        return Err(ConfigError::file(
            &shown,
            ErrorKind::Invalid,
            "holds a public key, not a private key",
        ));
    }
    config.local_key = Some(key);

    for kind in ["ipv4", "ipv6", "fqdn", "ufqdn"] {
        let sub = dir.join("pubkeys").join(kind);
        let Ok(entries) = std::fs::read_dir(&sub) else {
            continue;
        };
        for entry in entries {
            let entry = entry.map_err(|e| {
                ConfigError::file(&sub.display().to_string(), ErrorKind::Io, e.to_string())
            })?;
            let path = entry.path();
            let shown = path.display().to_string();
            let name = entry.file_name().to_string_lossy().to_string();
            let id = match values::identity(&name) {
                Ok(id) if id.pubkey_dir() == kind => id,
                _ => {
                    return Err(ConfigError::file(
                        &shown,
                        ErrorKind::Invalid,
                        format!("the file name is not an identity of type {kind}"),
                    ))
                }
            };
            if config.peer_keys.len() >= MAX_PEER_KEYS {
                return Err(ConfigError::file(
                    &shown,
                    ErrorKind::Limit,
                    format!("more than {MAX_PEER_KEYS} public keys"),
                ));
            }
            let file = read_checked(&path, &shown, MAX_KEY_FILE)?;
            let key =
                pem(&file.bytes).map_err(|m| ConfigError::file(&shown, ErrorKind::Invalid, m))?;
            if !matches!(key.format, KeyFormat::Spki | KeyFormat::Pkcs1Public) {
                // A private key where a public one belongs: a likely mistake
                // that would also spread a secret.
                return Err(ConfigError::file(
                    &shown,
                    ErrorKind::Invalid,
                    "holds a private key; pubkeys/ takes public keys",
                ));
            }
            config.peer_keys.push(PeerKey { id, key });
        }
    }
    super::certs::load(config, dir)?;
    // Every public-key policy must be able to check its peer: a raw key in
    // pubkeys/ for the peer's identity, or a CA for its certificate.
    for policy in &config.policies {
        if let Some(PeerAuthSource::Missing(id)) = config.peer_auth_source(policy) {
            return Err(ConfigError::file(
                &dir.join("pubkeys")
                    .join(id.pubkey_dir())
                    .join(id.to_string())
                    .display()
                    .to_string(),
                ErrorKind::Io,
                format!(
                    "missing: policy '{}' ({}) needs the public key of {id} here, \
                     or a CA certificate in {} to check the peer's certificate",
                    policy.name,
                    policy.source,
                    dir.join("ca").display()
                ),
            ));
        }
    }
    Ok(())
}

/// The one PEM block of a key file, as DER (RFC 7468).
pub fn pem(text: &[u8]) -> Result<KeyMaterial, String> {
    let text = std::str::from_utf8(text).map_err(|_| "not a PEM file (not text)".to_string())?;
    let mut lines = text.lines().map(str::trim);
    let label = loop {
        let line = lines
            .next()
            .ok_or("no '-----BEGIN' line (the key must be in PEM format)")?;
        if let Some(rest) = line.strip_prefix("-----BEGIN ") {
            break rest
                .strip_suffix("-----")
                .ok_or("malformed BEGIN line")?
                .to_string();
        }
    };
    let format = match label.as_str() {
        "PRIVATE KEY" => KeyFormat::Pkcs8,
        "EC PRIVATE KEY" => KeyFormat::Sec1,
        "RSA PRIVATE KEY" => KeyFormat::Pkcs1,
        "PUBLIC KEY" => KeyFormat::Spki,
        "RSA PUBLIC KEY" => KeyFormat::Pkcs1Public,
        "ENCRYPTED PRIVATE KEY" => return Err("encrypted private keys are not supported".into()),
        other => return Err(format!("unexpected PEM block '{other}'")),
    };
    let end = format!("-----END {label}-----");
    let mut b64 = Zeroizing::new(String::new());
    loop {
        let line = lines.next().ok_or("no matching '-----END' line")?;
        if line == end {
            break;
        }
        if line.contains(':') {
            return Err("PEM headers (encrypted keys) are not supported".into());
        }
        b64.push_str(line);
    }
    let der = base64(&b64).ok_or("bad base64 in the PEM block")?;
    if der.is_empty() {
        return Err("empty PEM block".into());
    }
    Ok(KeyMaterial {
        format,
        der: Secret::new(der.to_vec()),
    })
}

/// Standard base64 with padding (RFC 4648 4).
pub(super) fn base64(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes = text.as_bytes();
    if !bytes.chunks_exact(4).remainder().is_empty() {
        return None;
    }
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len() / 4 * 3));
    let groups = bytes.chunks(4).count();
    for (i, chunk) in bytes.chunks(4).enumerate() {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != groups) {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * pad as u32;
        let [_, a, b, c] = n.to_be_bytes();
        out.extend_from_slice(&[a, b, c][..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_known_answers() {
        // RFC 4648 10 test vectors.
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(enc).unwrap().as_slice(), plain.as_bytes());
        }
        assert!(base64("Zg=").is_none());
        assert!(base64("Z===").is_none());
        assert!(base64("Zg==Zm9v").is_none());
        assert!(base64("Z!9v").is_none());
    }

    #[test]
    fn pem_blocks() {
        let k = pem(b"junk\n-----BEGIN PUBLIC KEY-----\nZm9v\nYmFy\n-----END PUBLIC KEY-----\n")
            .unwrap();
        assert_eq!(k.format, KeyFormat::Spki);
        assert_eq!(k.der.expose(), b"foobar");
        assert!(pem(
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nZm9v\n-----END ENCRYPTED PRIVATE KEY-----\n"
        )
        .is_err());
        assert!(pem(b"-----BEGIN PUBLIC KEY-----\nZm9v\n").is_err());
        assert!(pem(b"nothing").is_err());
    }
}
