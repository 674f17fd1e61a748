//! Bytes of one file to tokens, iked.conf(5) style: `#` comments, a
//! backslash before a newline continues the line, double-quoted strings,
//! `$macro` references, and newlines as statement ends.
//!
//! Input is untrusted-ish (an admin's file, maybe an attacker-supplied
//! include): every path returns an error value; no indexing without a check.

use ike_ipc::config::secret::Zeroizing;

/// A position in the files table of the parse: file index, 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub file: usize,
    pub line: u32,
    pub column: u32,
}

/// Text tokens are zeroized when dropped: one of them may be a PSK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// An unquoted word: a keyword, or a value.
    Word(Zeroizing<String>),
    /// A double-quoted string: always a value, never a keyword.
    Str(Zeroizing<String>),
    /// `$name`.
    Macro(String),
    LBrace,
    RBrace,
    LParen,
    RParen,
    Comma,
    Equals,
    Newline,
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("'{}'", w.as_str()),
            Tok::Str(_) => "a quoted string".to_string(),
            Tok::Macro(m) => format!("'${m}'"),
            Tok::LBrace => "'{'".to_string(),
            Tok::RBrace => "'}'".to_string(),
            Tok::LParen => "'('".to_string(),
            Tok::RParen => "')'".to_string(),
            Tok::Comma => "','".to_string(),
            Tok::Equals => "'='".to_string(),
            Tok::Newline => "end of line".to_string(),
            Tok::Eof => "end of file".to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub pos: Pos,
}

/// A lexical error: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    pub pos: Pos,
    pub message: String,
}

/// Characters allowed in an unquoted word (addresses, names, algorithm
/// names, `user@domain` identities, paths).
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/' | b':' | b'@' | b'+' | b'%')
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
    pos: Pos,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn peek2(&self) -> Option<u8> {
        self.bytes.get(self.at.saturating_add(1)).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        if b == b'\n' {
            self.pos.line = self.pos.line.saturating_add(1);
            self.pos.column = 1;
        } else if b & 0xC0 != 0x80 {
            // Count characters, not UTF-8 continuation bytes.
            self.pos.column = self.pos.column.saturating_add(1);
        }
        Some(b)
    }

    /// A backslash-newline (or backslash-CR-LF) pair: skip it.
    fn continuation(&mut self) -> bool {
        match (self.peek(), self.peek2()) {
            (Some(b'\\'), Some(b'\n')) => {
                self.bump();
                self.bump();
                true
            }
            (Some(b'\\'), Some(b'\r'))
                if self.bytes.get(self.at.saturating_add(2)) == Some(&b'\n') =>
            {
                self.bump();
                self.bump();
                self.bump();
                true
            }
            _ => false,
        }
    }
}

/// Tokenize one file. `file` is its index in the parse's files table.
/// The result ends with `Tok::Eof`.
pub fn lex(bytes: &[u8], file: usize) -> Result<Vec<Token>, LexError> {
    lex_at(
        bytes,
        Pos {
            file,
            line: 1,
            column: 1,
        },
        None,
    )
}

/// Tokenize a macro's value; every token gets the position of the `$name`
/// that used it, so errors point at the use.
pub fn lex_macro_value(value: &str, at: Pos) -> Result<Vec<Token>, LexError> {
    lex_at(value.as_bytes(), at, Some(at))
}

fn lex_at(bytes: &[u8], start: Pos, fixed: Option<Pos>) -> Result<Vec<Token>, LexError> {
    let mut c = Cursor {
        bytes,
        at: 0,
        pos: start,
    };
    let mut out = Vec::new();
    loop {
        while c.continuation() {}
        let pos = fixed.unwrap_or(c.pos);
        let err = |message: String| LexError { pos, message };
        let Some(b) = c.peek() else {
            out.push(Token { tok: Tok::Eof, pos });
            return Ok(out);
        };
        let tok = match b {
            b' ' | b'\t' | b'\r' => {
                c.bump();
                continue;
            }
            b'#' => {
                while let Some(b) = c.peek() {
                    if b == b'\n' {
                        break;
                    }
                    c.bump();
                }
                continue;
            }
            b'\n' => {
                c.bump();
                Tok::Newline
            }
            b'{' | b'}' | b'(' | b')' | b',' | b'=' => {
                c.bump();
                match b {
                    b'{' => Tok::LBrace,
                    b'}' => Tok::RBrace,
                    b'(' => Tok::LParen,
                    b')' => Tok::RParen,
                    b',' => Tok::Comma,
                    _ => Tok::Equals,
                }
            }
            b'"' => {
                c.bump();
                Tok::Str(quoted(&mut c).map_err(err)?)
            }
            b'$' => {
                c.bump();
                let mut name = String::new();
                while let Some(b) = c.peek() {
                    if !(b.is_ascii_alphanumeric() || b == b'_') {
                        break;
                    }
                    name.push(char::from(b));
                    c.bump();
                }
                if name.is_empty() {
                    return Err(err("'$' must be followed by a macro name".into()));
                }
                Tok::Macro(name)
            }
            b'\\' => return Err(err("a backslash outside quotes must end the line".into())),
            b if is_word_byte(b) => {
                let mut word = Zeroizing::new(String::new());
                while let Some(b) = c.peek() {
                    if !is_word_byte(b) {
                        break;
                    }
                    word.push(char::from(b));
                    c.bump();
                }
                Tok::Word(word)
            }
            b if b.is_ascii_graphic() => {
                return Err(err(format!("unexpected character '{}'", char::from(b))))
            }
            b => {
                return Err(err(format!(
                    "unexpected byte 0x{b:02x} outside a quoted string"
                )))
            }
        };
        out.push(Token { tok, pos });
    }
}

/// The rest of a double-quoted string (the opening quote is consumed).
/// `\"` and `\\` escape; backslash-newline continues; a bare newline or the
/// end of input before the closing quote is an error.
fn quoted(c: &mut Cursor<'_>) -> Result<Zeroizing<String>, String> {
    let mut raw = Zeroizing::new(Vec::new());
    loop {
        if c.continuation() {
            continue;
        }
        match c.bump() {
            None => return Err("unterminated quoted string".into()),
            Some(b'\n') => return Err("unterminated quoted string (end of line)".into()),
            Some(b'"') => break,
            Some(b'\\') => match c.peek() {
                Some(b'"') | Some(b'\\') => {
                    if let Some(b) = c.bump() {
                        raw.push(b);
                    }
                }
                _ => raw.push(b'\\'),
            },
            Some(0) => return Err("NUL byte in a quoted string".into()),
            Some(b) => raw.push(b),
        }
    }
    match std::str::from_utf8(&raw) {
        Ok(s) => Ok(Zeroizing::new(s.to_string())),
        Err(_) => Err("quoted string is not valid UTF-8".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Tok> {
        lex(text.as_bytes(), 0)
            .unwrap()
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    fn word(s: &str) -> Tok {
        Tok::Word(Zeroizing::new(s.to_string()))
    }

    #[test]
    fn words_strings_comments_continuations() {
        let toks = kinds("ikev2 \"a b\" # comment\nfrom 10.0.0.0/8 \\\n to $x\n");
        assert_eq!(
            toks,
            vec![
                word("ikev2"),
                Tok::Str(Zeroizing::new("a b".into())),
                Tok::Newline,
                word("from"),
                word("10.0.0.0/8"),
                word("to"),
                Tok::Macro("x".into()),
                Tok::Newline,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn positions_are_line_and_column() {
        let toks = lex(b"a\n  bb \\\n   c", 3).unwrap();
        let pos: Vec<(u32, u32)> = toks.iter().map(|t| (t.pos.line, t.pos.column)).collect();
        assert_eq!(pos, vec![(1, 1), (1, 2), (2, 3), (3, 4), (3, 5)]);
        assert_eq!(toks[0].pos.file, 3);
    }

    #[test]
    fn escapes_in_strings() {
        assert_eq!(
            kinds(r#""a\"b\\c\d""#)[0],
            Tok::Str(Zeroizing::new(r#"a"b\c\d"#.into()))
        );
    }

    #[test]
    fn errors_have_positions() {
        let e = lex(b"a\n  \"open", 0).unwrap_err();
        assert_eq!((e.pos.line, e.pos.column), (2, 3));
        let e = lex(b"x ; y", 0).unwrap_err();
        assert_eq!((e.pos.line, e.pos.column), (1, 3));
        assert!(lex(b"$ x", 0).is_err());
        assert!(lex(b"\\ x", 0).is_err());
        assert!(lex(b"\xff", 0).is_err());
        assert!(lex(b"\"\xff\"", 0).is_err());
    }
}
