//! Configuration errors: where (file:line:column) and what kind.
//!
//! The kinds are distinct on purpose: an admin moving an existing iked.conf
//! needs to tell "you mistyped this" (syntax) from "this is fine iked.conf
//! but this daemon does not do it" (unsupported).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: u32,
    pub column: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Not valid iked.conf grammar.
    Syntax,
    /// Valid iked.conf, but a feature this daemon refuses.
    Unsupported,
    /// Grammatical but meaningless or contradictory (bad address, duplicate name...).
    Invalid,
    /// A file could not be read.
    Io,
    /// A file's ownership or mode would expose or let others change secrets.
    Permission,
    /// A resource bound (size, depth, count) was exceeded.
    Limit,
}

impl ErrorKind {
    fn label(self) -> &'static str {
        match self {
            ErrorKind::Syntax => "syntax error",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Io => "cannot read",
            ErrorKind::Permission => "insecure permissions",
            ErrorKind::Limit => "too large",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// `None` for errors about a whole file (permissions, I/O).
    pub location: Option<Location>,
    pub kind: ErrorKind,
    /// For `Unsupported`: the keyword or value refused.
    pub keyword: Option<String>,
    pub message: String,
}

impl ConfigError {
    pub fn file(file: &str, kind: ErrorKind, message: impl Into<String>) -> ConfigError {
        ConfigError {
            location: Some(Location {
                file: file.to_string(),
                line: 0,
                column: 0,
            }),
            kind,
            keyword: None,
            message: message.into(),
        }
    }

    /// `file:line:column` as printed (for tests and tools).
    pub fn position(&self) -> String {
        match &self.location {
            Some(l) if l.line > 0 => format!("{}:{}:{}", l.file, l.line, l.column),
            Some(l) => l.file.clone(),
            None => String::new(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let position = self.position();
        if !position.is_empty() {
            write!(f, "{position}: ")?;
        }
        write!(f, "{}: ", self.kind.label())?;
        if let Some(keyword) = &self.keyword {
            write!(f, "'{keyword}': ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}
