//! `ikesa` and `childsa` proposals: transform lists, algorithm names,
//! what is supported (`support.rs`) and the AEAD rules.

use super::error::ErrorKind;
use super::lexer::Pos;
use super::parser::{PResult, Parser};
use super::support;
use ike_ipc::config::{ChildProposal, DhGroup, Encryption, Esn, IkeProposal, Integrity, Prf};

/// keyword, value, value position, keyword position.
type Transform = (String, String, Pos, Pos);

impl Parser {
    /// The transforms after `ikesa` or `childsa`: (keyword, value, value
    /// position, keyword position) for each, until a word that is not a transform keyword.
    pub(super) fn transforms(&mut self, what: &str, at: Pos) -> PResult<Vec<Transform>> {
        let mut out = Vec::new();
        while let Some(word) = self.peek_word()? {
            if !matches!(
                word.as_str(),
                "enc" | "auth" | "prf" | "group" | "esn" | "noesn"
            ) {
                break;
            }
            let t = self.next()?;
            if word == "esn" || word == "noesn" {
                out.push((word.clone(), word, t.pos, t.pos));
            } else {
                let (v, vpos) = self.value(&format!("an algorithm after '{word}'"))?;
                out.push((word, v.to_string(), vpos, t.pos));
            }
        }
        if out.is_empty() {
            return Err(self.error(
                at,
                ErrorKind::Syntax,
                format!("'{what}' needs at least one of enc, auth, prf, group"),
            ));
        }
        Ok(out)
    }

    pub(super) fn ike_proposal(&mut self, at: Pos) -> PResult<IkeProposal> {
        let mut p = IkeProposal {
            encryption: vec![],
            prf: vec![],
            integrity: vec![],
            groups: vec![],
        };
        for (kw, v, pos, kwpos) in self.transforms("ikesa", at)? {
            match kw.as_str() {
                "enc" => {
                    let e = self.encryption(&v, pos)?;
                    support::ike_encryption(e).map_err(|why| self.unsupported(pos, &v, why))?;
                    push_unique(&mut p.encryption, e);
                }
                "auth" => push_unique(&mut p.integrity, self.integrity(&v, pos)?),
                "prf" => push_unique(&mut p.prf, self.prf(&v, pos)?),
                "group" => match self.group(&v, pos)? {
                    Some(g) => push_unique(&mut p.groups, g),
                    None => {
                        return Err(self.error(
                            pos,
                            ErrorKind::Invalid,
                            "an IKE SA needs a key exchange group; 'none' is only for childsa",
                        ))
                    }
                },
                _ => {
                    return Err(self.error(
                        kwpos,
                        ErrorKind::Syntax,
                        format!("'{kw}' applies to childsa, not ikesa"),
                    ))
                }
            }
        }
        self.check_aead(&p.encryption, !p.integrity.is_empty(), at, "ikesa")?;
        support::complete_ike(&mut p);
        Ok(p)
    }

    pub(super) fn child_proposal(&mut self, at: Pos) -> PResult<ChildProposal> {
        let mut p = ChildProposal {
            encryption: vec![],
            integrity: vec![],
            groups: vec![],
            esn: vec![],
        };
        let mut no_pfs = false;
        for (kw, v, pos, kwpos) in self.transforms("childsa", at)? {
            match kw.as_str() {
                "enc" => {
                    let e = self.encryption(&v, pos)?;
                    support::child_encryption(e).map_err(|why| self.unsupported(pos, &v, why))?;
                    push_unique(&mut p.encryption, e);
                }
                "auth" => push_unique(&mut p.integrity, self.integrity(&v, pos)?),
                "group" => match self.group(&v, pos)? {
                    Some(g) => push_unique(&mut p.groups, g),
                    None => no_pfs = true,
                },
                "esn" => push_unique(&mut p.esn, Esn::Extended),
                "noesn" => push_unique(&mut p.esn, Esn::None),
                _ => {
                    return Err(self.error(
                        kwpos,
                        ErrorKind::Syntax,
                        format!("'{kw}' applies to ikesa, not childsa"),
                    ))
                }
            }
        }
        if no_pfs && !p.groups.is_empty() {
            return Err(self.error(
                at,
                ErrorKind::Invalid,
                "'group none' cannot be combined with other groups",
            ));
        }
        self.check_aead(&p.encryption, !p.integrity.is_empty(), at, "childsa")?;
        Ok(p)
    }

    /// RFC 5282 8: AEAD ciphers take no integrity transform, and are
    /// proposed apart from the others.
    pub(super) fn check_aead(
        &self,
        enc: &[Encryption],
        has_integ: bool,
        at: Pos,
        what: &str,
    ) -> PResult<()> {
        let aead = enc.iter().filter(|e| e.is_aead()).count();
        if aead > 0 && aead < enc.len() {
            return Err(self.error(
                at,
                ErrorKind::Invalid,
                format!("put AEAD and non-AEAD ciphers in separate {what} proposals (RFC 5282 8)"),
            ));
        }
        if aead > 0 && has_integ {
            return Err(self.error(
                at,
                ErrorKind::Invalid,
                format!("an AEAD cipher carries its own integrity; remove 'auth' from this {what}"),
            ));
        }
        Ok(())
    }

    pub(super) fn encryption(&self, v: &str, pos: Pos) -> PResult<Encryption> {
        Encryption::from_name(v).ok_or_else(|| {
            let known: Vec<&str> = Encryption::ALL
                .iter()
                .filter(|e| support::child_encryption(**e).is_ok())
                .map(|e| e.name())
                .collect();
            self.error(
                pos,
                ErrorKind::Invalid,
                format!(
                    "unknown encryption algorithm '{v}' (supported: {})",
                    known.join(", ")
                ),
            )
        })
    }

    pub(super) fn integrity(&self, v: &str, pos: Pos) -> PResult<Integrity> {
        let i = Integrity::from_name(v).or_else(|| Integrity::from_name(&format!("hmac-{v}")));
        let i = i.ok_or_else(|| {
            self.error(pos, ErrorKind::Invalid, format!("unknown integrity algorithm '{v}' (supported: hmac-sha2-256, hmac-sha2-384, hmac-sha2-512)"))
        })?;
        support::integrity(i).map_err(|why| self.unsupported(pos, v, why))?;
        Ok(i)
    }

    pub(super) fn prf(&self, v: &str, pos: Pos) -> PResult<Prf> {
        // iked spells PRFs like integrity algorithms; `sha2-256` is accepted too.
        let p = Prf::from_name(v).or_else(|| Prf::from_name(&format!("hmac-{v}")));
        let p = p.ok_or_else(|| {
            self.error(
                pos,
                ErrorKind::Invalid,
                format!(
                    "unknown prf '{v}' (supported: hmac-sha2-256, hmac-sha2-384, hmac-sha2-512)"
                ),
            )
        })?;
        support::prf(p).map_err(|why| self.unsupported(pos, v, why))?;
        Ok(p)
    }

    /// `None` for `group none`.
    pub(super) fn group(&self, v: &str, pos: Pos) -> PResult<Option<DhGroup>> {
        if v == "none" {
            return Ok(None);
        }
        let g = DhGroup::from_name_or_number(v).ok_or_else(|| {
            let known: Vec<&str> = DhGroup::ALL
                .iter()
                .filter(|g| support::group(**g).is_ok())
                .map(|g| g.name())
                .collect();
            self.error(
                pos,
                ErrorKind::Invalid,
                format!("unknown group '{v}' (supported: {})", known.join(", ")),
            )
        })?;
        support::group(g).map_err(|why| self.unsupported(pos, v, why))?;
        Ok(Some(g))
    }
}

fn push_unique<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}
