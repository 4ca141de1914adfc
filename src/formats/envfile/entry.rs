//! What parsing an env file yields: its entries, their quoting, and the parse error.

use std::fmt;
use std::ops::Range;

/// How a value is quoted in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quote {
    /// `KEY=value`
    None,
    /// `KEY='value'`
    Single,
    /// `KEY="value"`
    Double,
}

/// One `KEY=value` entry and where it stands in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// The value with quotes removed and escapes decoded (not interpolated).
    pub value: String,
    /// How the value was quoted.
    pub quote: Quote,
    /// Whether the line starts with `export `.
    pub export: bool,
    /// The 1-based line the entry starts on.
    pub line: usize,
    /// The bytes of the value as written, quotes included.
    pub(super) value_span: Range<usize>,
    /// The whole entry: from the start of its line to the end of its (last) line ending.
    pub(super) span: Range<usize>,
    /// The entry has no `=` (`KEY` alone: compose takes it from the environment).
    pub(super) key_only: bool,
}

/// A parse error, with the 1-based line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The line the problem is on.
    pub line: usize,
    /// What is wrong.
    pub msg: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.msg)
    }
}

impl std::error::Error for ParseError {}
