//! X.509 certificates in OpenIKED's layout, next to the configuration:
//!
//! ```text
//! ca/*.crt, ca/*.pem, ca/*.der   trust anchors (PEM, several per file, or DER)
//! certs/<local id>.crt           our certificate, end entity first, then
//!                                any intermediates (PEM) - or one DER
//! crls/                          must be absent or empty: CRLs are not checked
//! ```
//!
//! The parent checks the files' shape only (armour, DER framing, sizes,
//! permissions); the engine in ike-net parses and validates the
//! certificates. The broker never receives them (`Config::broker_view`).

use super::error::{ConfigError, ErrorKind};
use super::files::{read_checked, require_safe_dir};
use super::keys::base64;
use ike_ipc::config::{Auth, CertFile, Config, LocalCert};
use std::path::Path;

/// One certificate file: a chain of a few certificates fits many times.
pub const MAX_CERT_FILE: u64 = 64 * 1024;
/// Files in `ca/`.
pub const MAX_CA_FILES: usize = 64;
/// Certificates in all of `ca/`.
pub const MAX_CA_CERTS: usize = 64;
/// Certificates in one `certs/<id>.crt` (end entity and intermediates).
pub const MAX_CHAIN: usize = 8;
/// DER bytes of all certificates together: the configuration travels to
/// ike-net in one IPC message of at most 64 KiB (DESIGN.md "IPC").
pub const MAX_CERT_BYTES: usize = 40 * 1024;

/// Load `ca/` and our `certs/<id>.crt` for the public-key policies, after
/// refusing a non-empty `crls/`.
pub fn load(config: &mut Config, dir: &Path) -> Result<(), ConfigError> {
    refuse_crls(&dir.join("crls"))?;
    let mut total = 0usize;
    let ca_dir = dir.join("ca");
    if ca_dir.exists() {
        require_safe_dir(&ca_dir, &ca_dir.display().to_string())?;
        let mut names = list(&ca_dir, MAX_CA_FILES)?;
        names.sort();
        let mut count = 0usize;
        for name in names {
            let path = ca_dir.join(&name);
            let shown = path.display().to_string();
            if ![".crt", ".pem", ".der"].iter().any(|e| name.ends_with(e)) {
                return Err(ConfigError::file(
                    &shown,
                    ErrorKind::Invalid,
                    "ca/ holds trust anchors named *.crt, *.pem or *.der; \
                     move other files out of it",
                ));
            }
            let file = read_cert_file(&path, &shown)?;
            count = count.saturating_add(file.ders.len());
            if count > MAX_CA_CERTS {
                return Err(ConfigError::file(
                    &shown,
                    ErrorKind::Limit,
                    format!("more than {MAX_CA_CERTS} CA certificates in ca/"),
                ));
            }
            total = add_bytes(total, &file)?;
            config.ca_files.push(file);
        }
    }
    let certs_dir = dir.join("certs");
    if certs_dir.exists() {
        require_safe_dir(&certs_dir, &certs_dir.display().to_string())?;
        for policy in &config.policies {
            if !matches!(policy.auth, Auth::PublicKey(_)) {
                continue;
            }
            let Some(id) = policy.local_identity() else {
                continue;
            };
            if config.local_certs.iter().any(|c| c.id == id) {
                continue;
            }
            let name = id.to_string();
            // A user@domain identity may contain '/': it must not reach
            // outside certs/.
            if name.contains('/') || name.starts_with('.') {
                return Err(ConfigError::file(
                    &certs_dir.display().to_string(),
                    ErrorKind::Invalid,
                    format!(
                        "policy '{}' ({}): identity {name} cannot name a file in certs/",
                        policy.name, policy.source
                    ),
                ));
            }
            let path = certs_dir.join(format!("{name}.crt"));
            if !path.exists() {
                continue; // we sign with the raw key and send no CERT
            }
            let shown = path.display().to_string();
            let file = read_cert_file(&path, &shown)?;
            if file.ders.len() > MAX_CHAIN {
                return Err(ConfigError::file(
                    &shown,
                    ErrorKind::Limit,
                    format!("more than {MAX_CHAIN} certificates in one chain"),
                ));
            }
            total = add_bytes(total, &file)?;
            config.local_certs.push(LocalCert { id, file });
        }
    }
    Ok(())
}

/// A CRL we would not check is a revocation the admin believes in but the
/// daemon ignores: refuse, never skip silently.
fn refuse_crls(crls: &Path) -> Result<(), ConfigError> {
    let shown = crls.display().to_string();
    let Ok(meta) = std::fs::metadata(crls) else {
        return Ok(()); // absent
    };
    let empty = meta.is_dir()
        && std::fs::read_dir(crls)
            .map_err(|e| ConfigError::file(&shown, ErrorKind::Io, e.to_string()))?
            .next()
            .is_none();
    if empty {
        return Ok(());
    }
    Err(ConfigError {
        keyword: Some("crls/".into()),
        ..ConfigError::file(
            &shown,
            ErrorKind::Unsupported,
            "certificate revocation lists are not checked by this daemon; \
             remove crls/ (or empty it) to run without revocation checks",
        )
    })
}

/// The names in `dir`, at most `max`.
fn list(dir: &Path, max: usize) -> Result<Vec<String>, ConfigError> {
    let shown = dir.display().to_string();
    let io = |e: std::io::Error| ConfigError::file(&shown, ErrorKind::Io, e.to_string());
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if names.len() >= max {
            return Err(ConfigError::file(
                &shown,
                ErrorKind::Limit,
                format!("more than {max} files"),
            ));
        }
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(ConfigError::file(
                &entry.path().display().to_string(),
                ErrorKind::Invalid,
                "the file name is not UTF-8",
            ));
        };
        names.push(name.to_string());
    }
    Ok(names)
}

fn add_bytes(total: usize, file: &CertFile) -> Result<usize, ConfigError> {
    let sum = file
        .ders
        .iter()
        .fold(total, |acc, d| acc.saturating_add(d.len()));
    if sum > MAX_CERT_BYTES {
        return Err(ConfigError::file(
            &file.path,
            ErrorKind::Limit,
            format!("the certificates together exceed {MAX_CERT_BYTES} bytes"),
        ));
    }
    Ok(sum)
}

/// Read a certificate file; certificates are public, so group and others
/// may read it, but as for every file, only its owner may write it.
fn read_cert_file(path: &Path, shown: &str) -> Result<CertFile, ConfigError> {
    let file = read_checked(path, shown, MAX_CERT_FILE)?;
    let ders =
        certificates(&file.bytes).map_err(|m| ConfigError::file(shown, ErrorKind::Invalid, m))?;
    Ok(CertFile {
        path: shown.to_string(),
        ders,
    })
}

/// The certificates of a file: one DER certificate, or PEM with one or more
/// `CERTIFICATE` blocks (RFC 7468 5; text between blocks, such as
/// openssl's `subject=` lines, is allowed). Any other PEM block is an
/// error: a private key in ca/ or certs/ would be a secret in a place that
/// others may read.
pub fn certificates(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    if bytes.first() == Some(&0x30) {
        der_shape(bytes)?;
        return Ok(vec![bytes.to_vec()]);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "neither PEM nor DER".to_string())?;
    let mut lines = text.lines().map(str::trim);
    let mut out = Vec::new();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix("-----BEGIN ") else {
            continue;
        };
        let label = rest.strip_suffix("-----").ok_or("malformed BEGIN line")?;
        if label != "CERTIFICATE" {
            return Err(format!(
                "holds a '{label}' PEM block; only CERTIFICATE blocks belong here"
            ));
        }
        let mut b64 = String::new();
        loop {
            let line = lines
                .next()
                .ok_or("no matching '-----END CERTIFICATE-----' line")?;
            if line == "-----END CERTIFICATE-----" {
                break;
            }
            b64.push_str(line);
        }
        let der = base64(&b64).ok_or("bad base64 in a CERTIFICATE block")?;
        der_shape(&der)?;
        out.push(der.to_vec());
    }
    if out.is_empty() {
        return Err("no certificate (expected PEM 'BEGIN CERTIFICATE' blocks or DER)".into());
    }
    Ok(out)
}

/// One DER SEQUENCE that spans exactly `der` (X.690 8.1.3): catches
/// truncated and concatenated files here, with the file's name, rather
/// than as a handshake failure later.
fn der_shape(der: &[u8]) -> Result<(), String> {
    let bad = || "not a DER certificate (bad SEQUENCE framing)".to_string();
    let (&tag, rest) = der.split_first().ok_or_else(bad)?;
    let (&first, rest) = rest.split_first().ok_or_else(bad)?;
    if tag != 0x30 {
        return Err(bad());
    }
    let (len, rest) = match first {
        0..=0x7f => (usize::from(first), rest),
        0x81..=0x84 => {
            let n = usize::from(first & 0x7f);
            if rest.len() < n {
                return Err(bad());
            }
            let (digits, rest) = rest.split_at(n);
            let len = digits
                .iter()
                .fold(0usize, |acc, &d| (acc << 8) | usize::from(d));
            (len, rest)
        }
        _ => return Err(bad()),
    };
    if len != rest.len() {
        return Err(bad());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_framing() {
        assert!(der_shape(&[0x30, 2, 5, 0]).is_ok());
        assert!(der_shape(&[0x30, 3, 5, 0]).is_err(), "truncated");
        assert!(der_shape(&[0x30, 1, 5, 0]).is_err(), "trailing bytes");
        assert!(der_shape(&[0x31, 0]).is_err());
        assert!(der_shape(&[0x30]).is_err());
        assert!(der_shape(&[]).is_err());
        let mut long = vec![0x30, 0x82, 0x01, 0x00];
        long.resize(4 + 256, 7);
        assert!(der_shape(&long).is_ok());
        assert!(der_shape(&long[..long.len() - 1]).is_err());
        assert!(der_shape(&[0x30, 0x82, 0x01]).is_err());
        assert!(der_shape(&[0x30, 0x80, 0, 0]).is_err(), "indefinite length");
        assert!(der_shape(&[0x30, 0x88, 0xff, 0xff, 0xff, 0xff]).is_err());
    }

    /// Random bytes and mutated valid files: an error or a result, never a
    /// panic (the files are admin input, but a corrupt one must not bring
    /// the daemon down with a backtrace).
    #[test]
    fn garbage_never_panics() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let valid = b"-----BEGIN CERTIFICATE-----\nMAIFAA==\n-----END CERTIFICATE-----\n".to_vec();
        for round in 0..20_000 {
            let input: Vec<u8> = if round % 2 == 0 {
                let len = (next() % 64) as usize;
                (0..len).map(|_| next() as u8).collect()
            } else {
                let mut m = valid.clone();
                for _ in 0..=(next() % 4) {
                    let i = (next() as usize) % m.len();
                    m[i] = next() as u8;
                }
                m
            };
            let _ = certificates(&input);
            let _ = der_shape(&input);
        }
    }

    #[test]
    fn pem_bundles_and_der() {
        // "MAIFAA==" is 30 02 05 00; "MAA=" is 30 00.
        let two =
            b"subject=CN=x\n-----BEGIN CERTIFICATE-----\nMAIFAA==\n-----END CERTIFICATE-----\n\
                    -----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
        assert_eq!(
            certificates(two).unwrap(),
            vec![vec![0x30, 2, 5, 0], vec![0x30, 0]]
        );
        assert_eq!(certificates(&[0x30, 0]).unwrap(), vec![vec![0x30, 0]]);
        assert!(certificates(&[0x30, 5]).is_err());
        assert!(certificates(b"").is_err());
        assert!(certificates(b"hello\n")
            .unwrap_err()
            .contains("no certificate"));
        assert!(certificates(&[0xff, 0xfe]).is_err());
        let key = b"-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n";
        assert!(certificates(key).unwrap_err().contains("PRIVATE KEY"));
        let open = b"-----BEGIN CERTIFICATE-----\nMAA=\n";
        assert!(certificates(open).is_err());
        let bad64 = b"-----BEGIN CERTIFICATE-----\nMA!=\n-----END CERTIFICATE-----\n";
        assert!(certificates(bad64).unwrap_err().contains("base64"));
        let not_der = b"-----BEGIN CERTIFICATE-----\nZm9v\n-----END CERTIFICATE-----\n";
        assert!(certificates(not_der).unwrap_err().contains("DER"));
    }
}
