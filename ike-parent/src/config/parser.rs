//! The token stream of ike.conf: files, includes, macro expansion and the
//! limits that bound them, plus the error constructors. Statements are in
//! `statements.rs`, `ikev2` rules in `rule.rs`.

use super::error::{ConfigError, ErrorKind, Location};
use super::files::{read_checked, MAX_FILE_BYTES};
use super::lexer::{lex, lex_macro_value, LexError, Pos, Tok, Token};
use ike_ipc::config::secret::Zeroizing;
use ike_ipc::config::Config;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

/// Bounds on what a configuration may make the parser do: the file is
/// trusted-ish, but an include or a macro must not turn it into a memory
/// or CPU bomb.
pub const MAX_INCLUDE_DEPTH: usize = 8;
pub const MAX_TOTAL_BYTES: usize = 8 * 1024 * 1024;
pub const MAX_TOKENS: usize = 500_000;
pub const MAX_MACRO_DEPTH: usize = 16;
pub const MAX_MACROS: usize = 4096;
pub const MAX_MACRO_VALUE: usize = 4096;
pub const MAX_POLICIES: usize = 10_000;

/// A file the parse read (or the string it was given).
pub struct SourceFile {
    /// As shown in messages: the path as given / as resolved from an include.
    pub shown: String,
    /// Directory relative includes are resolved against.
    pub dir: PathBuf,
    /// Mode bits, for the secret check after parsing; `None` for strings.
    pub mode: Option<u32>,
}

struct Frame {
    tokens: Vec<Token>,
    next: usize,
    /// `Some` for a file frame (its identity), `None` for a macro expansion.
    file: Option<(u64, u64)>,
}

pub struct Parser {
    pub(super) files: Vec<SourceFile>,
    frames: Vec<Frame>,
    lookahead: VecDeque<Token>,
    pub(super) macros: HashMap<String, Zeroizing<String>>,
    tokens_seen: usize,
    bytes_read: usize,
    last_pos: Pos,
    pub(super) config: Config,
    /// The address family the rule being read named (`inet`: false,
    /// `inet6`: true), for picking an interface's address.
    pub(super) af_hint: Option<bool>,
}

pub type PResult<T> = Result<T, ConfigError>;

impl Parser {
    fn empty() -> Parser {
        Parser {
            files: Vec::new(),
            frames: Vec::new(),
            lookahead: VecDeque::new(),
            macros: HashMap::new(),
            tokens_seen: 0,
            bytes_read: 0,
            af_hint: None,
            last_pos: Pos {
                file: 0,
                line: 1,
                column: 1,
            },
            config: Config::default(),
        }
    }

    /// A parser over a file on disk (checked as `files.rs` says).
    pub fn for_file(path: &Path) -> PResult<Parser> {
        let mut p = Parser::empty();
        let shown = path.display().to_string();
        p.push_file(path, shown, (0, 0, None))?;
        Ok(p)
    }

    /// A parser over text that is not a file; includes are resolved
    /// against `dir`.
    pub fn for_text(name: &str, text: &str, dir: &Path) -> PResult<Parser> {
        let mut p = Parser::empty();
        p.files.push(SourceFile {
            shown: name.to_string(),
            dir: dir.to_path_buf(),
            mode: None,
        });
        p.bytes_read = text.len();
        if p.bytes_read > MAX_FILE_BYTES as usize {
            return Err(ConfigError::file(
                name,
                ErrorKind::Limit,
                "text larger than 1 MiB",
            ));
        }
        let tokens = lex(text.as_bytes(), 0).map_err(|e| p.lex_error(e))?;
        p.frames.push(Frame {
            tokens,
            next: 0,
            file: Some((0, 0)),
        });
        Ok(p)
    }

    /// Read, lex and push a file. `from` is the include statement's
    /// (line, column, file index) for error positions.
    pub(super) fn push_file(
        &mut self,
        path: &Path,
        shown: String,
        from: (u32, u32, Option<usize>),
    ) -> PResult<()> {
        let read = read_checked(path, &shown, MAX_FILE_BYTES).map_err(|mut e| {
            // Point at the include statement when there is one.
            if let Some(file) = from.2 {
                let includer = self
                    .files
                    .get(file)
                    .map(|f| f.shown.clone())
                    .unwrap_or_default();
                e.message = format!("{}: {}", shown, e.message);
                e.location = Some(Location {
                    file: includer,
                    line: from.0,
                    column: from.1,
                });
            }
            e
        })?;
        let here = |p: &Parser, message: String, kind| p.error_at_raw(from, kind, message);
        if self.frames.iter().any(|f| f.file == Some(read.identity)) {
            return Err(here(
                self,
                format!("'{shown}' includes itself (include loop)"),
                ErrorKind::Invalid,
            ));
        }
        let depth = self.frames.iter().filter(|f| f.file.is_some()).count();
        if depth > MAX_INCLUDE_DEPTH {
            return Err(here(
                self,
                format!("includes nested deeper than {MAX_INCLUDE_DEPTH}"),
                ErrorKind::Limit,
            ));
        }
        self.bytes_read = self.bytes_read.saturating_add(read.bytes.len());
        if self.bytes_read > MAX_TOTAL_BYTES {
            return Err(here(
                self,
                format!("more than {MAX_TOTAL_BYTES} bytes of configuration in all"),
                ErrorKind::Limit,
            ));
        }
        let index = self.files.len();
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        self.files.push(SourceFile {
            shown,
            dir,
            mode: Some(read.mode),
        });
        let tokens = lex(&read.bytes, index).map_err(|e| self.lex_error(e))?;
        self.frames.push(Frame {
            tokens,
            next: 0,
            file: Some(read.identity),
        });
        Ok(())
    }

    fn error_at_raw(
        &self,
        from: (u32, u32, Option<usize>),
        kind: ErrorKind,
        message: String,
    ) -> ConfigError {
        let file = from
            .2
            .and_then(|i| self.files.get(i))
            .map(|f| f.shown.clone())
            .unwrap_or_default();
        ConfigError {
            location: Some(Location {
                file,
                line: from.0,
                column: from.1,
            }),
            kind,
            keyword: None,
            message,
        }
    }

    fn lex_error(&self, e: LexError) -> ConfigError {
        self.error(e.pos, ErrorKind::Syntax, e.message)
    }

    pub fn location(&self, pos: Pos) -> Location {
        let file = self
            .files
            .get(pos.file)
            .map(|f| f.shown.clone())
            .unwrap_or_default();
        Location {
            file,
            line: pos.line,
            column: pos.column,
        }
    }

    pub fn error(&self, pos: Pos, kind: ErrorKind, message: impl Into<String>) -> ConfigError {
        ConfigError {
            location: Some(self.location(pos)),
            kind,
            keyword: None,
            message: message.into(),
        }
    }

    /// "This is iked.conf, but we refuse it": keyword and reason.
    pub fn unsupported(&self, pos: Pos, keyword: &str, why: &str) -> ConfigError {
        ConfigError {
            location: Some(self.location(pos)),
            kind: ErrorKind::Unsupported,
            keyword: Some(keyword.to_string()),
            message: why.to_string(),
        }
    }

    pub fn syntax(&self, tok: &Token, expected: &str) -> ConfigError {
        self.error(
            tok.pos,
            ErrorKind::Syntax,
            format!("expected {expected}, found {}", tok.tok.describe()),
        )
    }

    // ---- the token stream -------------------------------------------------

    /// The next token after macro expansion, across includes.
    fn fetch(&mut self) -> PResult<Token> {
        loop {
            let depth = self.frames.len();
            let Some(frame) = self.frames.last_mut() else {
                return Ok(Token {
                    tok: Tok::Eof,
                    pos: self.last_pos,
                });
            };
            let Some(token) = frame.tokens.get(frame.next).cloned() else {
                self.frames.pop();
                continue;
            };
            match token.tok {
                // The main file's end: stay there.
                Tok::Eof if depth == 1 => return Ok(token),
                // An included file's end ends its last statement, then the
                // includer continues.
                Tok::Eof => {
                    self.frames.pop();
                    return Ok(Token {
                        tok: Tok::Newline,
                        pos: token.pos,
                    });
                }
                Tok::Macro(ref name) => {
                    frame.next += 1;
                    self.expand(name, token.pos)?;
                }
                _ => {
                    frame.next += 1;
                    self.tokens_seen += 1;
                    if self.tokens_seen > MAX_TOKENS {
                        return Err(self.error(
                            token.pos,
                            ErrorKind::Limit,
                            format!("more than {MAX_TOKENS} tokens"),
                        ));
                    }
                    self.last_pos = token.pos;
                    return Ok(token);
                }
            }
        }
    }

    fn expand(&mut self, name: &str, pos: Pos) -> PResult<()> {
        let depth = self
            .frames
            .iter()
            .rev()
            .take_while(|f| f.file.is_none())
            .count();
        if depth >= MAX_MACRO_DEPTH {
            return Err(self.error(
                pos,
                ErrorKind::Limit,
                format!(
                    "macros nested deeper than {MAX_MACRO_DEPTH} (does ${name} refer to itself?)"
                ),
            ));
        }
        let Some(value) = self.macros.get(name) else {
            return Err(self.error(
                pos,
                ErrorKind::Invalid,
                format!("macro ${name} is not defined"),
            ));
        };
        let mut tokens = lex_macro_value(value, pos).map_err(|e| {
            self.error(
                e.pos,
                ErrorKind::Syntax,
                format!("in the value of ${name}: {}", e.message),
            )
        })?;
        tokens.retain(|t| !matches!(t.tok, Tok::Eof | Tok::Newline));
        self.frames.push(Frame {
            tokens,
            next: 0,
            file: None,
        });
        Ok(())
    }

    pub fn next(&mut self) -> PResult<Token> {
        match self.lookahead.pop_front() {
            Some(t) => Ok(t),
            None => self.fetch(),
        }
    }

    pub fn peek(&mut self) -> PResult<&Token> {
        if self.lookahead.is_empty() {
            let t = self.fetch()?;
            self.lookahead.push_back(t);
        }
        self.lookahead.front().ok_or_else(|| {
            self.error(
                self.last_pos,
                ErrorKind::Syntax,
                "internal: empty lookahead",
            )
        })
    }

    /// The unquoted word of the next token, if it is one.
    pub fn peek_word(&mut self) -> PResult<Option<String>> {
        Ok(match &self.peek()?.tok {
            Tok::Word(w) => Some(w.as_str().to_string()),
            _ => None,
        })
    }

    /// A value: a word or a quoted string.
    pub fn value(&mut self, expected: &str) -> PResult<(Zeroizing<String>, Pos)> {
        let t = self.next()?;
        match t.tok {
            Tok::Word(w) | Tok::Str(w) => Ok((w, t.pos)),
            _ => Err(self.syntax(&t, expected)),
        }
    }

    /// The end of a statement: a newline or the end of the file.
    pub fn end_of_statement(&mut self, after: &str) -> PResult<()> {
        let t = self.next()?;
        match t.tok {
            Tok::Newline | Tok::Eof => Ok(()),
            _ => Err(self.error(
                t.pos,
                ErrorKind::Syntax,
                format!("unexpected {} after {after}", t.tok.describe()),
            )),
        }
    }

    // ---- statements ---------------------------------------------------------
}
