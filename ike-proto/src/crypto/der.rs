//! A minimal DER reader: just enough to take apart a SubjectPublicKeyInfo
//! (RFC 5280 4.1.2.7) from a key file. Key files are configuration input,
//! so every read is bounds-checked and errors are values.

use super::Error;

pub(crate) const TAG_SEQUENCE: u8 = 0x30;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_BIT_STRING: u8 = 0x03;
pub(crate) const TAG_INTEGER: u8 = 0x02;
pub(crate) const TAG_OCTET_STRING: u8 = 0x04;
/// `[0]` constructed, context-specific (ECPrivateKey parameters).
pub(crate) const TAG_CONTEXT_0: u8 = 0xa0;

/// Splits one TLV off the front of `input`: returns (tag, value, rest).
/// Only single-byte tags and definite lengths up to 2^24-1 are accepted,
/// which covers every key this daemon loads.
pub(crate) fn read_tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), Error> {
    let (&tag, rest) = input.split_first().ok_or(Error::BadKey)?;
    if tag & 0x1f == 0x1f {
        return Err(Error::BadKey);
    }
    let (&first, rest) = rest.split_first().ok_or(Error::BadKey)?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 3 || rest.len() < n {
            return Err(Error::BadKey);
        }
        let (len_bytes, rest) = rest.split_at(n);
        let len = len_bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest)
    };
    if rest.len() < len {
        return Err(Error::BadKey);
    }
    let (value, rest) = rest.split_at(len);
    Ok((tag, value, rest))
}

/// Encodes one TLV with a definite DER length (short form below 128,
/// else the fewest length octets). Inputs are our own or already parsed
/// values, far below the 2^24 limit `read_tlv` accepts.
pub(crate) fn write_tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let len = value.len();
    let mut out = Vec::with_capacity(len + 5);
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let significant = &bytes[skip..];
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(value);
    out
}

/// Reads one TLV and requires its tag to be `want`.
pub(crate) fn expect(input: &[u8], want: u8) -> Result<(&[u8], &[u8]), Error> {
    let (tag, value, rest) = read_tlv(input)?;
    if tag != want {
        return Err(Error::BadKey);
    }
    Ok((value, rest))
}

/// A parsed SubjectPublicKeyInfo: algorithm OID (value bytes), the raw
/// parameters TLV (possibly empty) and the public key bits.
pub(crate) struct Spki<'a> {
    pub algorithm: &'a [u8],
    pub parameters: &'a [u8],
    pub public_key: &'a [u8],
}

pub(crate) fn parse_spki(der: &[u8]) -> Result<Spki<'_>, Error> {
    let (spki, trailing) = expect(der, TAG_SEQUENCE)?;
    if !trailing.is_empty() {
        return Err(Error::BadKey);
    }
    let (alg_id, rest) = expect(spki, TAG_SEQUENCE)?;
    let (algorithm, parameters) = expect(alg_id, TAG_OID)?;
    let (bits, rest) = expect(rest, TAG_BIT_STRING)?;
    if !rest.is_empty() {
        return Err(Error::BadKey);
    }
    // First octet of a BIT STRING counts unused bits; keys use whole bytes.
    match bits.split_first() {
        Some((0, public_key)) => Ok(Spki {
            algorithm,
            parameters,
            public_key,
        }),
        _ => Err(Error::BadKey),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlv_lengths() {
        assert_eq!(
            read_tlv(&[0x04, 0x01, 0xaa, 0xbb]).unwrap(),
            (0x04, &[0xaa][..], &[0xbb][..])
        );
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend_from_slice(&[7u8; 0x80]);
        assert_eq!(read_tlv(&long).unwrap().1.len(), 0x80);
        assert!(read_tlv(&[0x04, 0x05, 0x00]).is_err());
        assert!(read_tlv(&[0x04, 0x80]).is_err());
        assert!(read_tlv(&[0x04, 0x84, 0, 0, 0, 1, 0]).is_err());
        assert!(read_tlv(&[0x1f, 0x01, 0x00]).is_err());
        assert!(read_tlv(&[]).is_err());
        assert!(read_tlv(&[0x30]).is_err());
    }

    #[test]
    fn write_then_read() {
        for n in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let v = vec![0x5a; n];
            let tlv = write_tlv(0x04, &v);
            let (tag, value, rest) = read_tlv(&tlv).unwrap();
            assert_eq!((tag, value.len(), rest.len()), (0x04, n, 0));
        }
        assert_eq!(write_tlv(0x30, &[1; 200])[..3], [0x30, 0x81, 200]);
    }
}
