//! The openssl command for tests that need keys and certificates made on
//! the spot (`e2e_*`, `config_check`): each helper returns `false` when
//! openssl is not installed, so that the test can skip itself.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// Runs openssl; `false` when the command is not installed.
pub fn openssl(args: &[&str]) -> bool {
    match Command::new("openssl").args(args).output() {
        Ok(o) => {
            assert!(
                o.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            true
        }
        Err(_) => false,
    }
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A P-256 key as PKCS#8 PEM at `path`; `false` without openssl.
pub fn ec_key(path: &Path) -> bool {
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        s(path),
    ])
}

/// A self-signed CA certificate at `out` for the key at `key`, subject
/// `subj`, valid two days.
pub fn ca_cert(key: &Path, subj: &str, out: &Path) -> bool {
    openssl(&[
        "req",
        "-new",
        "-x509",
        "-key",
        s(key),
        "-subj",
        subj,
        "-days",
        "2",
        "-addext",
        "basicConstraints=critical,CA:true",
        "-addext",
        "keyUsage=critical,keyCertSign",
        "-out",
        s(out),
    ])
}

/// In `dir`: `FILE.crt` for the existing key `FILE.key`, subject `subj`,
/// subjectAltName DNS:`dns`, issued for two days by the CA `CA.crt` /
/// `CA.key` (by way of `FILE.csr` and `FILE.ext`).
pub fn issue_cert(dir: &Path, ca: &str, file: &str, subj: &str, dns: &str) -> bool {
    let csr = dir.join(format!("{file}.csr"));
    let ext = dir.join(format!("{file}.ext"));
    std::fs::write(
        &ext,
        format!(
            "basicConstraints=CA:false\nkeyUsage=critical,digitalSignature\nsubjectAltName=DNS:{dns}\n"
        ),
    )
    .unwrap();
    openssl(&[
        "req",
        "-new",
        "-key",
        s(&dir.join(format!("{file}.key"))),
        "-subj",
        subj,
        "-out",
        s(&csr),
    ]) && openssl(&[
        "x509",
        "-req",
        "-in",
        s(&csr),
        "-CA",
        s(&dir.join(format!("{ca}.crt"))),
        "-CAkey",
        s(&dir.join(format!("{ca}.key"))),
        "-CAcreateserial",
        "-days",
        "2",
        "-sha256",
        "-extfile",
        s(&ext),
        "-out",
        s(&dir.join(format!("{file}.crt"))),
    ])
}
