//! ID_RFC822_ADDR against a certificate's rfc822Name subjectAltNames
//! (RFC 4945 3.1, RFC 5280 4.2.1.6). rustls-webpki validates chains but
//! does not match e-mail names, so this walks the extension itself. It
//! runs only on a certificate rustls-webpki has already parsed as X.509
//! v3, and still treats every byte as untrusted: the DER reader is bounds
//! checked and any surprise is "no match".

use super::super::der::{self, read_tlv};

/// `[3]` EXPLICIT Extensions in TBSCertificate (RFC 5280 4.1).
const TAG_EXTENSIONS: u8 = 0xa3;
/// rfc822Name: `[1]` IMPLICIT IA5String in GeneralName (RFC 5280 4.2.1.6).
const TAG_RFC822_NAME: u8 = 0x81;
/// id-ce-subjectAltName 2.5.29.17 (RFC 5280 4.2.1.6), value bytes.
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

/// The rfc822Name entries of the certificate's subjectAltName.
fn rfc822_names(cert: &[u8]) -> Result<Vec<&[u8]>, crate::crypto::Error> {
    let (certificate, _) = der::expect(cert, der::TAG_SEQUENCE)?;
    let (tbs, _) = der::expect(certificate, der::TAG_SEQUENCE)?;
    // The extensions are the last, optional, element of TBSCertificate.
    let mut rest = tbs;
    let mut extensions = None;
    while !rest.is_empty() {
        let (tag, value, next) = read_tlv(rest)?;
        if tag == TAG_EXTENSIONS {
            extensions = Some(value);
        }
        rest = next;
    }
    let Some(extensions) = extensions else {
        return Ok(Vec::new());
    };
    let (mut list, _) = der::expect(extensions, der::TAG_SEQUENCE)?;
    let mut names = Vec::new();
    while !list.is_empty() {
        let (extension, next) = der::expect(list, der::TAG_SEQUENCE)?;
        list = next;
        // Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE,
        // extnValue OCTET STRING }: the value is the last element.
        let (oid, mut fields) = der::expect(extension, der::TAG_OID)?;
        if oid != OID_SUBJECT_ALT_NAME {
            continue;
        }
        let mut value = None;
        while !fields.is_empty() {
            let (tag, v, next) = read_tlv(fields)?;
            if tag == der::TAG_OCTET_STRING {
                value = Some(v);
            }
            fields = next;
        }
        let Some(value) = value else { continue };
        let (mut general_names, _) = der::expect(value, der::TAG_SEQUENCE)?;
        while !general_names.is_empty() {
            let (tag, name, next) = read_tlv(general_names)?;
            if tag == TAG_RFC822_NAME {
                names.push(name);
            }
            general_names = next;
        }
    }
    Ok(names)
}

/// Mailbox comparison (RFC 5280 7.5): the local part exactly, the domain
/// without regard to ASCII case. Names without exactly one '@' (domain-
/// or host-only constraints) never match an identity.
fn same_mailbox(a: &[u8], b: &[u8]) -> bool {
    let split = |m: &[u8]| -> Option<usize> {
        let at = m.iter().position(|&c| c == b'@')?;
        let again = m.iter().skip(at + 1).any(|&c| c == b'@');
        (!again && at > 0 && at + 1 < m.len()).then_some(at)
    };
    match (split(a), split(b)) {
        (Some(ia), Some(ib)) => {
            a[..ia] == b[..ib] && a[ia + 1..].eq_ignore_ascii_case(&b[ib + 1..])
        }
        _ => false,
    }
}

/// Whether `cert` (DER) names the mailbox `id` in an rfc822Name.
pub(super) fn names_mailbox(cert: &[u8], id: &[u8]) -> bool {
    rfc822_names(cert).is_ok_and(|names| names.iter().any(|n| same_mailbox(n, id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_comparison() {
        assert!(same_mailbox(b"a@a.test", b"a@A.TEST"));
        assert!(!same_mailbox(b"a@a.test", b"A@a.test"));
        assert!(!same_mailbox(b"a@a.test", b"a@b.test"));
        assert!(!same_mailbox(b"a.test", b"a.test"));
        assert!(!same_mailbox(b"@a.test", b"@a.test"));
        assert!(!same_mailbox(b"a@", b"a@"));
        assert!(!same_mailbox(b"a@b@c", b"a@b@c"));
    }

    #[test]
    fn garbage_has_no_names() {
        for bad in [&[][..], &[0x30], &[0x30, 0x03, 0x30, 0x01], &[0xff; 8]] {
            assert!(!names_mailbox(bad, b"a@a.test"));
        }
    }
}
