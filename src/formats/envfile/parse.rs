//! The parser: a cursor over the text of an env file that yields its entries.

use super::entry::{Entry, ParseError, Quote};

const BOM: &str = "\u{feff}";

/// The 1-based line that byte `pos` of `bytes` is on.
pub(super) fn line_of(bytes: &[u8], pos: usize) -> usize {
    1 + bytes[..pos].iter().filter(|&&b| b == b'\n').count()
}

/// A cursor over the text that yields entries.
pub(super) struct Parser<'a> {
    text: &'a str,
    pos: usize,
    /// The line number at `counted`: lines are counted once, as the cursor moves on, so
    /// that parsing stays linear in the size of the file.
    line: usize,
    counted: usize,
}

impl<'a> Parser<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        let pos = if text.starts_with(BOM) { BOM.len() } else { 0 };
        Parser {
            text,
            pos,
            line: 1,
            counted: 0,
        }
    }

    fn line(&mut self) -> usize {
        if self.pos >= self.counted {
            let newlines = self.text.as_bytes()[self.counted..self.pos]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            self.line += newlines;
            self.counted = self.pos;
            self.line
        } else {
            line_of(self.text.as_bytes(), self.pos)
        }
    }

    fn err<T>(&self, line: usize, msg: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            line,
            msg: msg.into(),
        })
    }

    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn skip_blanks(&mut self) {
        while let Some(c) = self.peek() {
            if c == ' ' || c == '\t' {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    /// Moves past the rest of the line, line ending included.
    fn skip_line(&mut self) {
        match self.text[self.pos..].find('\n') {
            Some(n) => self.pos += n + 1,
            None => self.pos = self.text.len(),
        }
    }

    fn at_line_end(&self) -> bool {
        let rest = &self.text[self.pos..];
        // A lone CR ending the file counts as a line ending too.
        rest.is_empty() || rest.starts_with('\n') || rest.starts_with("\r\n") || rest == "\r"
    }

    pub(super) fn entries(mut self) -> Result<Vec<Entry>, ParseError> {
        let mut entries = Vec::new();
        while self.pos < self.text.len() {
            let line_start = self.pos;
            self.skip_blanks();
            if self.at_line_end() || self.peek() == Some('#') {
                self.skip_line();
                continue;
            }
            entries.push(self.entry(line_start)?);
        }
        Ok(entries)
    }

    fn entry(&mut self, line_start: usize) -> Result<Entry, ParseError> {
        let line = self.line();
        let export = self.export();
        let key = self.key(line)?;
        self.skip_blanks();
        if self.at_line_end() || self.peek() == Some('#') {
            let value_pos = self.pos;
            self.skip_line();
            return Ok(Entry {
                key,
                value: String::new(),
                quote: Quote::None,
                export,
                line,
                value_span: value_pos..value_pos,
                span: line_start..self.pos,
                key_only: true,
            });
        }
        if self.peek() != Some('=') {
            return self.err(line, format!("expected `=` after `{key}`"));
        }
        self.pos += 1;
        self.skip_blanks();
        let value_start = self.pos;
        let (value, quote, value_span) = match self.peek() {
            Some(q @ ('"' | '\'')) => {
                let value = self.quoted(q, line)?;
                let value_end = self.pos;
                self.trailing_comment(&key)?;
                let quote = if q == '"' {
                    Quote::Double
                } else {
                    Quote::Single
                };
                (value, quote, value_start..value_end)
            }
            _ => {
                let value = self.unquoted_value();
                let value_end = value_start + value.len();
                (value, Quote::None, value_start..value_end)
            }
        };
        self.skip_line();
        Ok(Entry {
            key,
            value,
            quote,
            export,
            line,
            value_span,
            span: line_start..self.pos,
            key_only: false,
        })
    }

    /// Moves past an `export ` prefix and the blanks after it; whether there was one.
    fn export(&mut self) -> bool {
        if let Some(rest) = self.text[self.pos..].strip_prefix("export") {
            if rest.starts_with([' ', '\t']) {
                self.pos += "export".len();
                self.skip_blanks();
                return true;
            }
        }
        false
    }

    /// Reads the key of the entry that starts on `line`; leaves the cursor after it.
    fn key(&mut self, line: usize) -> Result<String, ParseError> {
        let key_start = self.pos;
        while let Some(c) = self.peek() {
            // The key characters compose-go accepts (python-dotenv takes more).
            if c.is_alphanumeric() || "_.-[]".contains(c) {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
        let key = self.text[key_start..self.pos].to_owned();
        if key.is_empty() {
            let shown: String = self.text[self.pos..].chars().take(20).collect();
            return self.err(
                line,
                format!("expected a variable name, found `{}`", shown.trim_end()),
            );
        }
        Ok(key)
    }

    /// Reads an unquoted value at the cursor, without its comment and trailing blanks;
    /// leaves the cursor where it is.
    fn unquoted_value(&self) -> String {
        let value_start = self.pos;
        let rest = &self.text[self.pos..];
        let line_end = rest.find('\n').unwrap_or(rest.len());
        let raw = rest[..line_end]
            .strip_suffix('\r')
            .unwrap_or(&rest[..line_end]);
        // `#` starts a comment only after white space: `KEY=#x` is the value `#x`
        // for every compose tool.
        let after_blank = value_start > 0 && self.text[..value_start].ends_with([' ', '\t']);
        let mut value_len = raw.len();
        for (i, c) in raw.char_indices() {
            if c == '#' && ((i == 0 && after_blank) || raw[..i].ends_with([' ', '\t'])) {
                value_len = i;
                break;
            }
        }
        raw[..value_len].trim_end_matches([' ', '\t']).to_owned()
    }

    /// Checks that only blanks and a comment follow the closing quote of the value of
    /// `key`; leaves the cursor after the blanks.
    fn trailing_comment(&mut self, key: &str) -> Result<(), ParseError> {
        self.skip_blanks();
        if !self.at_line_end() && self.peek() != Some('#') {
            let line = self.line();
            return self.err(
                line,
                format!("unexpected text after the closing quote of `{key}`"),
            );
        }
        Ok(())
    }

    /// Reads a quoted value starting at the opening quote `q`; leaves the cursor after the
    /// closing quote.
    fn quoted(&mut self, q: char, line: usize) -> Result<String, ParseError> {
        self.pos += 1;
        let mut value = String::new();
        let mut chars = self.text[self.pos..].char_indices();
        while let Some((i, c)) = chars.next() {
            if c == q {
                self.pos += i + 1;
                return Ok(value);
            }
            if q == '\'' && c == '\\' && self.text[self.pos + i + 1..].starts_with('\'') {
                // `\'` does not end a single-quoted value for any compose tool.
                chars.next();
                value.push_str("\\'");
                continue;
            }
            if q == '"' && c == '\\' {
                match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, 'r')) => value.push('\r'),
                    Some((_, 't')) => value.push('\t'),
                    Some((_, e @ ('"' | '\\' | '$'))) => value.push(e),
                    Some((_, other)) => {
                        value.push('\\');
                        value.push(other);
                    }
                    None => break,
                }
                continue;
            }
            value.push(c);
        }
        self.err(
            line,
            format!(
                "unterminated {} quote",
                if q == '"' { "double" } else { "single" }
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::formats::envfile::{EnvFile, Quote};

    fn parse(text: &str) -> EnvFile {
        EnvFile::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn values_table() {
        let cases: &[(&str, &str, &str, Quote)] = &[
            ("A=b", "A", "b", Quote::None),
            ("A=b # comment", "A", "b", Quote::None),
            ("A=b#notcomment", "A", "b#notcomment", Quote::None),
            ("A=#x", "A", "#x", Quote::None),
            ("A= #x", "A", "", Quote::None),
            ("A = spaced  ", "A", "spaced", Quote::None),
            ("export A=b", "A", "b", Quote::None),
            ("A='lit $X \\n'", "A", "lit $X \\n", Quote::Single),
            ("A=\"a\\nb\\\"c\\\\\"", "A", "a\nb\"c\\", Quote::Double),
            ("A=\"x\" # c", "A", "x", Quote::Double),
            ("A=", "A", "", Quote::None),
            ("A=b\r\n", "A", "b", Quote::None),
            ("\u{feff}A=b", "A", "b", Quote::None),
            ("A=\"multi\nline\"", "A", "multi\nline", Quote::Double),
            ("A='multi\r\nline'", "A", "multi\r\nline", Quote::Single),
            ("my.key-1=v", "my.key-1", "v", Quote::None),
        ];
        for (text, key, value, quote) in cases {
            let file = parse(text);
            let entry = file.get(key).unwrap_or_else(|| panic!("{text:?}"));
            assert_eq!(entry.value, *value, "{text:?}");
            assert_eq!(entry.quote, *quote, "{text:?}");
            assert_eq!(file.render(), *text);
        }
    }

    #[test]
    fn errors_name_the_line() {
        let cases: &[(&[u8], usize, &str)] = &[
            (b"A=1\nB=\"open\nC=3\n", 2, "unterminated double quote"),
            (b"A=1\n\nB='x\n", 3, "unterminated single quote"),
            (b"A=1\nB=\"x\" tail\n", 2, "unexpected text"),
            (b"A=1\n=x\n", 2, "expected a variable name"),
            (b"A=1\nB x\n", 2, "expected `=`"),
            (b"A=1\nB=\0\n", 2, "NUL"),
            (b"A=1\nB=\xff\n", 2, "UTF-8"),
        ];
        for (text, line, msg) in cases {
            let err = EnvFile::parse(text).unwrap_err();
            assert_eq!(
                err.line,
                *line,
                "{:?}: {err}",
                String::from_utf8_lossy(text)
            );
            assert!(err.msg.contains(msg), "{err}");
        }
    }
}
