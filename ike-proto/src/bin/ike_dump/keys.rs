//! Reader for the key files of the strongSwan vector sets (`keys.txt`):
//! `[section]` lines, `name = value` lines, `#` comments. Only what the
//! dumper needs is kept: the negotiated IKE proposal from `[general]` and,
//! per `[IKE_SA n]` section, the SPIs and SK_e/SK_a keys.

use ike_proto::crypto::{EncrAlg, IntegAlg, Secret, SkCipher};

/// The SK keys of one IKE SA.
#[derive(Debug)]
pub struct IkeSaKeys {
    pub name: String,
    pub spi_i: u64,
    pub spi_r: u64,
    sk_ei: Secret,
    sk_er: Secret,
    sk_ai: Secret,
    sk_ar: Secret,
}

/// A parsed key file.
#[derive(Debug)]
pub struct KeysFile {
    pub encr: EncrAlg,
    pub integ: IntegAlg,
    pub sas: Vec<IkeSaKeys>,
}

impl KeysFile {
    pub fn parse(text: &str) -> Result<KeysFile, String> {
        let mut section = String::new();
        let mut proposal = None;
        let mut sas: Vec<IkeSaKeys> = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.trim().to_string();
                if section.starts_with("IKE_SA") {
                    sas.push(IkeSaKeys {
                        name: section.clone(),
                        spi_i: 0,
                        spi_r: 0,
                        sk_ei: Secret::new(Vec::new()),
                        sk_er: Secret::new(Vec::new()),
                        sk_ai: Secret::new(Vec::new()),
                        sk_ar: Secret::new(Vec::new()),
                    });
                }
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .map(|(k, v)| (k.trim(), v.trim()))
                .ok_or_else(|| format!("line {}: expected name = value", n + 1))?;
            if section == "general" && key == "ike_proposal" {
                proposal = Some(parse_proposal(value)?);
            } else if let Some(sa) = sas.last_mut().filter(|_| section.starts_with("IKE_SA")) {
                let ctx = |e: String| format!("line {}: {key}: {e}", n + 1);
                match key {
                    "SPIi" => sa.spi_i = parse_spi(value).map_err(ctx)?,
                    "SPIr" => sa.spi_r = parse_spi(value).map_err(ctx)?,
                    "SK_ei" => sa.sk_ei = parse_key(value).map_err(ctx)?,
                    "SK_er" => sa.sk_er = parse_key(value).map_err(ctx)?,
                    "SK_ai" => sa.sk_ai = parse_key(value).map_err(ctx)?,
                    "SK_ar" => sa.sk_ar = parse_key(value).map_err(ctx)?,
                    _ => {}
                }
            }
        }
        let (encr, integ) = proposal.ok_or("no ike_proposal in [general]")?;
        Ok(KeysFile { encr, integ, sas })
    }

    /// The IKE SA whose SPIs are in a message header.
    pub fn find(&self, spi_i: u64, spi_r: u64) -> Option<&IkeSaKeys> {
        self.sas
            .iter()
            .find(|s| s.spi_i == spi_i && s.spi_r == spi_r)
    }

    /// The cipher protecting messages sent by the original initiator
    /// (`initiator` = the header's I flag) or by the responder.
    pub fn cipher(&self, sa: &IkeSaKeys, initiator: bool) -> Result<SkCipher, String> {
        let (e, a) = if initiator {
            (&sa.sk_ei, &sa.sk_ai)
        } else {
            (&sa.sk_er, &sa.sk_ar)
        };
        SkCipher::new(self.encr, self.integ, e.as_bytes(), a.as_bytes()).map_err(|err| {
            format!(
                "{}: keys do not fit {:?}/{:?}: {err}",
                sa.name, self.encr, self.integ
            )
        })
    }
}

/// strongSwan's proposal string, e.g. `AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519`
/// or `AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/ECP_256`. PRF and
/// group do not matter for decryption.
fn parse_proposal(s: &str) -> Result<(EncrAlg, IntegAlg), String> {
    let mut encr = None;
    let mut integ = IntegAlg::None;
    for part in s.split('/').map(str::trim) {
        match part {
            "AES_GCM_16_128" => encr = Some(EncrAlg::AesGcm16_128),
            "AES_GCM_16_256" => encr = Some(EncrAlg::AesGcm16_256),
            "CHACHA20_POLY1305" | "CHACHA20_POLY1305_256" => encr = Some(EncrAlg::ChaCha20Poly1305),
            "AES_CBC_128" => encr = Some(EncrAlg::AesCbc128),
            "AES_CBC_256" => encr = Some(EncrAlg::AesCbc256),
            "HMAC_SHA2_256_128" => integ = IntegAlg::HmacSha256_128,
            "HMAC_SHA2_384_192" => integ = IntegAlg::HmacSha384_192,
            "HMAC_SHA2_512_256" => integ = IntegAlg::HmacSha512_256,
            p if p.starts_with("AES_") || p.starts_with("HMAC_") || p.starts_with("CHACHA") => {
                return Err(format!("unsupported algorithm {p} in ike_proposal"))
            }
            _ => {}
        }
    }
    Ok((
        encr.ok_or("no encryption algorithm in ike_proposal")?,
        integ,
    ))
}

fn parse_spi(v: &str) -> Result<u64, String> {
    if v.len() != 16 {
        return Err("SPI must be 16 hex digits".into());
    }
    u64::from_str_radix(v, 16).map_err(|e| e.to_string())
}

/// Hex key, or `none` for the integrity keys of AEAD suites.
fn parse_key(v: &str) -> Result<Secret, String> {
    if v == "none" {
        return Ok(Secret::new(Vec::new()));
    }
    decode_hex(v).map(Secret::new)
}

/// Hex digits to bytes; whitespace is skipped.
pub fn decode_hex(s: &str) -> Result<Vec<u8>, String> {
    // Key digits are as secret as the key: wipe the copy when done.
    let digits = zeroize::Zeroizing::new(
        s.bytes()
            .filter(|b| !b.is_ascii_whitespace())
            .collect::<Vec<u8>>(),
    );
    if digits.len() % 2 != 0 {
        return Err("odd number of hex digits".into());
    }
    digits
        .chunks_exact(2)
        .map(|pair| {
            let hi = (pair[0] as char).to_digit(16);
            let lo = (pair[1] as char).to_digit(16);
            match (hi, lo) {
                (Some(h), Some(l)) => Ok((h * 16 + l) as u8),
                _ => Err(format!(
                    "not a hex digit in {:?}",
                    String::from_utf8_lossy(pair)
                )),
            }
        })
        .collect()
}
