//! The statement level of ike.conf: macro definitions, `include`, `set`;
//! `ikev2` rules are parsed in `rule.rs`.

use super::error::ErrorKind;
use super::lexer::{Pos, Tok};
use super::parser::{PResult, Parser, MAX_MACROS, MAX_MACRO_VALUE, MAX_POLICIES};
use super::values;
use ike_ipc::config::secret::Zeroizing;
use ike_ipc::config::{GlobalMode, MAX_WINDOW};

impl Parser {
    /// Parse everything; the configuration is in `self.config`.
    pub fn run(&mut self) -> PResult<()> {
        loop {
            let t = self.next()?;
            let word = match &t.tok {
                Tok::Eof => return Ok(()),
                Tok::Newline => continue,
                Tok::Word(w) => w.as_str().to_string(),
                _ => {
                    return Err(self.syntax(
                        &t,
                        "a statement (ikev2, set, include or a macro definition)",
                    ))
                }
            };
            if matches!(self.peek()?.tok, Tok::Equals) {
                self.macro_definition(&word, t.pos)?;
                continue;
            }
            match word.as_str() {
                "include" => self.include(t.pos)?,
                "set" => self.set()?,
                "ikev2" => {
                    if self.config.policies.len() >= MAX_POLICIES {
                        return Err(self.error(
                            t.pos,
                            ErrorKind::Limit,
                            format!("more than {MAX_POLICIES} policies"),
                        ));
                    }
                    let policy = self.rule(t.pos)?;
                    self.config.policies.push(policy);
                }
                "ikev1" => {
                    return Err(self.unsupported(
                        t.pos,
                        "ikev1",
                        "IKEv1 is not supported (neither does iked support it)",
                    ))
                }
                "user" => {
                    return Err(self.unsupported(
                        t.pos,
                        "user",
                        "EAP user accounts are not supported (no EAP)",
                    ))
                }
                "radius" => {
                    return Err(self.unsupported(
                        t.pos,
                        "radius",
                        "RADIUS is not supported (no EAP)",
                    ))
                }
                _ => {
                    return Err(self.syntax(
                        &t,
                        "a statement (ikev2, set, include or a macro definition)",
                    ))
                }
            }
        }
    }

    fn macro_definition(&mut self, name: &str, pos: Pos) -> PResult<()> {
        self.next()?; // '='
        let valid = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(self.error(
                pos,
                ErrorKind::Syntax,
                format!("'{name}' is not a macro name (letters, digits, '_')"),
            ));
        }
        if super::rule::is_keyword(name)
            || matches!(
                name,
                "include" | "set" | "ikev2" | "ikev1" | "user" | "radius"
            )
        {
            return Err(self.error(
                pos,
                ErrorKind::Invalid,
                format!("'{name}' is a keyword and cannot be a macro name"),
            ));
        }
        // `name = "a" "b"` concatenates with a space, like pf and iked.
        let mut value = Zeroizing::new(String::new());
        loop {
            let t = self.next()?;
            match t.tok {
                Tok::Word(w) | Tok::Str(w) => {
                    if !value.is_empty() {
                        value.push(' ');
                    }
                    value.push_str(&w);
                    if value.len() > MAX_MACRO_VALUE {
                        return Err(self.error(
                            t.pos,
                            ErrorKind::Limit,
                            format!("macro value longer than {MAX_MACRO_VALUE} bytes"),
                        ));
                    }
                }
                Tok::Newline | Tok::Eof if !value.is_empty() => break,
                _ => return Err(self.syntax(&t, "a macro value (a word or a quoted string)")),
            }
        }
        if self.macros.len() >= MAX_MACROS && !self.macros.contains_key(name) {
            return Err(self.error(
                pos,
                ErrorKind::Limit,
                format!("more than {MAX_MACROS} macros"),
            ));
        }
        self.macros.insert(name.to_string(), value);
        Ok(())
    }

    fn include(&mut self, pos: Pos) -> PResult<()> {
        let (name, name_pos) = self.value("a file name in quotes")?;
        self.end_of_statement("the include file name")?;
        if name.is_empty() {
            return Err(self.error(name_pos, ErrorKind::Invalid, "empty include file name"));
        }
        let base = self
            .files
            .get(pos.file)
            .map(|f| f.dir.clone())
            .unwrap_or_default();
        let path = base.join(name.as_str());
        let shown = path.display().to_string();
        self.push_file(&path, shown, (pos.line, pos.column, Some(pos.file)))
    }

    fn set(&mut self) -> PResult<()> {
        let t = self.next()?;
        let option = match &t.tok {
            Tok::Word(w) => w.as_str().to_string(),
            _ => return Err(self.syntax(&t, "a set option")),
        };
        let pos = t.pos;
        let global = &mut self.config.global;
        match option.as_str() {
            "active" => global.mode = GlobalMode::Active,
            "passive" => global.mode = GlobalMode::Passive,
            "fragmentation" => global.fragmentation = true,
            "nofragmentation" => global.fragmentation = false,
            // iked's defaults that are also our only behaviour: accepted.
            "couple" | "novendorid" | "noenforcesingleikesa" => {}
            "nostickyaddress" => global.sticky_address = false,
            // RFC 4555, on by default as in iked.
            "mobike" => global.mobike = true,
            "nomobike" => global.mobike = false,
            "decouple" => {
                return Err(self.unsupported(
                    pos,
                    &option,
                    "SAs are always loaded into the kernel (coupled)",
                ))
            }
            "vendorid" => {
                return Err(self.unsupported(pos, &option, "no Vendor ID payload is ever sent"))
            }
            // A peer identity gets its earlier pool address back when free.
            "stickyaddress" => global.sticky_address = true,
            "enforcesingleikesa" => return Err(self.unsupported(pos, &option, "not implemented")),
            "ocsp" | "cert_partial_chain" => {
                return Err(self.unsupported(
                    pos,
                    &option,
                    "OCSP and partial chains are not implemented (peer certificates are validated against ca/ without revocation checks)",
                ))
            }
            "dpd_check_interval" => {
                let (v, vpos) = self.value("a time")?;
                let secs = values::time(&v).map_err(|m| self.error(vpos, ErrorKind::Invalid, m))?;
                self.config.global.dpd_check_interval = u32::try_from(secs).unwrap_or(u32::MAX);
            }
            "natt_keepalive" => {
                // RFC 3948 2.3: how often the side behind a NAT sends a
                // keepalive; 0 = never.
                let (v, vpos) = self.value("a time")?;
                let secs = values::time(&v).map_err(|m| self.error(vpos, ErrorKind::Invalid, m))?;
                self.config.global.natt_keepalive = u32::try_from(secs).unwrap_or(u32::MAX);
            }
            "cookie-threshold" | "half-open-limit" | "half-open-per-source"
            | "half-open-per-prefix" => {
                let (v, vpos) = self.value("a number")?;
                let n = values::number(&v, 0, 1_000_000)
                    .map_err(|m| self.error(vpos, ErrorKind::Invalid, m))?
                    as u32;
                let g = &mut self.config.global;
                match option.as_str() {
                    "cookie-threshold" => g.cookie_threshold = n,
                    "half-open-limit" => g.half_open_limit = n,
                    "half-open-per-source" => g.half_open_per_source = n,
                    _ => g.half_open_per_prefix = n,
                }
            }
            "initiate-limit" => {
                // Initiations in flight at once (issue 12): thousands of
                // active policies started at once overran the peer and
                // stretched bring-up through retransmission back-off.
                let (v, vpos) = self.value("a number")?;
                let n = values::number(&v, 1, 1_000_000)
                    .map_err(|m| self.error(vpos, ErrorKind::Invalid, m))?;
                self.config.global.initiate_limit = n as u32;
            }
            "sa-limit" => {
                // The broker's cap on installed SAs (issue 12); sized from
                // memory when absent.
                let (v, vpos) = self.value("a number")?;
                let n = values::number(&v, 1, u64::from(ike_ipc::config::MAX_SA_LIMIT))
                    .map_err(|m| self.error(vpos, ErrorKind::Invalid, m))?;
                self.config.global.sa_limit = n as u32;
            }
            "window" => {
                // RFC 7296 2.3: the window we announce with SET_WINDOW_SIZE.
                let (v, vpos) = self.value("a number")?;
                let n = values::number(&v, 1, u64::from(MAX_WINDOW))
                    .map_err(|m| self.error(vpos, ErrorKind::Invalid, m))?;
                self.config.global.window = n as u32;
            }
            "user" => {
                let (v, vpos) = self.value("a user name")?;
                let ok = !v.is_empty()
                    && v.len() <= 32
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
                if !ok {
                    return Err(self.error(
                        vpos,
                        ErrorKind::Invalid,
                        format!("'{}' is not a user name", v.as_str()),
                    ));
                }
                self.config.global.user = Some(v.to_string());
            }
            "chroot" => {
                let (v, vpos) = self.value("a directory")?;
                if !v.starts_with('/') || v.len() > 1024 {
                    return Err(self.error(
                        vpos,
                        ErrorKind::Invalid,
                        "the chroot directory must be an absolute path",
                    ));
                }
                self.config.global.chroot = Some(v.to_string());
            }
            "flush-on-start" | "delete-on-exit" => {
                let (v, vpos) = self.value("yes or no")?;
                let flag = match v.as_str() {
                    "yes" => true,
                    "no" => false,
                    other => {
                        return Err(self.error(
                            vpos,
                            ErrorKind::Invalid,
                            format!("expected yes or no, found '{other}'"),
                        ))
                    }
                };
                if option == "flush-on-start" {
                    self.config.global.flush_on_start = flag;
                } else {
                    self.config.global.delete_on_exit = flag;
                }
            }
            _ => {
                return Err(self.error(
                    pos,
                    ErrorKind::Syntax,
                    format!("unknown set option '{option}'"),
                ))
            }
        }
        self.end_of_statement(&format!("set {option}"))
    }
}
