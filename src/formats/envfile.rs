//! Lossless `.env` files: parse, read values, edit one value, render byte for byte.
//!
//! The syntax is the dotenv dialect that compose tools accept: `KEY=value` lines, an optional
//! `export ` prefix, `#` comments (inline after white space for unquoted values), single
//! quotes (literal, may span lines), double quotes (backslash escapes, may span lines), LF or
//! CRLF line endings and an optional UTF-8 byte order mark. Parsing keeps the exact text; an
//! edit replaces only the bytes of one value (or inserts one line), so everything else stays
//! byte-identical. This module does no I/O; [`crate::envfile_io`] reads and writes files.

use std::collections::HashMap;
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
    value_span: Range<usize>,
    /// The whole entry: from the start of its line to the end of its (last) line ending.
    span: Range<usize>,
    /// The entry has no `=` (`KEY` alone: compose takes it from the environment).
    key_only: bool,
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

/// A parsed env file that renders back to exactly the bytes it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFile {
    text: String,
    entries: Vec<Entry>,
}

const BOM: &str = "\u{feff}";

impl EnvFile {
    /// Parses `bytes`. Fails on invalid UTF-8, NUL bytes and syntax errors, naming the line.
    pub fn parse(bytes: &[u8]) -> Result<EnvFile, ParseError> {
        if let Some(pos) = bytes.iter().position(|&b| b == 0) {
            return Err(ParseError {
                line: line_of(bytes, pos),
                msg: "NUL byte in file".into(),
            });
        }
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text.to_owned(),
            Err(err) => {
                return Err(ParseError {
                    line: line_of(bytes, err.valid_up_to()),
                    msg: "invalid UTF-8".into(),
                })
            }
        };
        let entries = Parser::new(&text).entries()?;
        Ok(EnvFile { text, entries })
    }

    /// The exact text of the file.
    pub fn render(&self) -> &str {
        &self.text
    }

    /// All entries in file order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The last entry with `key` (the one compose uses).
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.key == key)
    }

    /// The values of all entries, later ones winning, each interpolated with the ones
    /// before it as compose does. Unknown variables expand to nothing here.
    pub fn variables(&self) -> HashMap<String, String> {
        let mut vars: HashMap<String, String> = HashMap::new();
        for entry in &self.entries {
            let value = match entry.quote {
                Quote::Single => entry.value.clone(),
                _ => interpolate(&entry.value, |name| {
                    Some(vars.get(name).cloned().unwrap_or_default())
                })
                .unwrap_or_else(|_| entry.value.clone()),
            };
            vars.insert(entry.key.clone(), value);
        }
        vars
    }

    /// Sets the value of the last entry named `key`, keeping its quoting and everything
    /// else in the file. If there is none, inserts `key=value` on a new line right after
    /// the last entry named `after` (or at the end), with that entry's `export` prefix,
    /// quoting and line ending.
    pub fn set(&mut self, key: &str, value: &str, after: Option<&str>) {
        if let Some(index) = self.entries.iter().rposition(|e| e.key == key) {
            let entry = &self.entries[index];
            let quote = if entry.key_only {
                Quote::None
            } else {
                entry.quote
            };
            let rendered = render_value(value, quote);
            let (range, mut replacement) = if entry.key_only {
                let end = entry.value_span.start;
                (end..end, format!("={rendered}"))
            } else {
                (entry.value_span.clone(), rendered)
            };
            // An unquoted value needs a blank before a comment that follows it directly
            // (`KEY=#c`, `KEY#c`), or the `#` would become part of the value.
            if self.text[range.end..].starts_with('#') && !replacement.ends_with(['"', '\'']) {
                replacement.push(' ');
            }
            self.replace(range, &replacement);
        } else {
            let anchor = after.and_then(|a| self.entries.iter().rev().find(|e| e.key == a));
            let (pos, export, quote, eol) = match anchor {
                Some(a) => (a.span.end, a.export, a.quote, self.line_ending_of(a)),
                None => (
                    self.text.len(),
                    false,
                    Quote::None,
                    self.dominant_line_ending(),
                ),
            };
            let mut line = String::new();
            if pos > 0 && !self.text[..pos].ends_with('\n') {
                // A last line ending in a lone CR gets its LF; others the file's line ending.
                line.push_str(if self.text[..pos].ends_with('\r') {
                    "\n"
                } else {
                    eol
                });
            }
            if export {
                line.push_str("export ");
            }
            line.push_str(key);
            line.push('=');
            line.push_str(&render_value(value, quote));
            line.push_str(eol);
            if pos == self.text.len() && !self.text.is_empty() && !self.text.ends_with('\n') {
                // Inserting after a last line without a line ending: end the file as it was,
                // without one.
                line.truncate(line.len() - eol.len());
            }
            self.replace(pos..pos, &line);
        }
    }

    fn replace(&mut self, range: Range<usize>, with: &str) {
        self.text.replace_range(range, with);
        // Re-parse: the edit produced valid syntax, and parsing is cheap.
        self.entries = Parser::new(&self.text)
            .entries()
            .expect("an edit of a valid env file stays valid");
    }

    fn line_ending_of(&self, entry: &Entry) -> &'static str {
        if self.text[entry.span.clone()].ends_with("\r\n") {
            "\r\n"
        } else if self.text[entry.span.clone()].ends_with('\n') {
            "\n"
        } else {
            self.dominant_line_ending()
        }
    }

    fn dominant_line_ending(&self) -> &'static str {
        let crlf = self.text.matches("\r\n").count();
        let lf = self.text.matches('\n').count();
        if crlf * 2 > lf {
            "\r\n"
        } else {
            "\n"
        }
    }
}

/// Renders `value` for a file, in the given quoting. Characters that the quoting cannot
/// carry switch it to double quotes with escapes, so a value can never add lines or keys.
pub fn render_value(value: &str, quote: Quote) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c);
    match quote {
        Quote::None if value.chars().all(plain) && !value.is_empty() => value.to_owned(),
        Quote::Single if !value.contains(['\'', '\n', '\r']) => format!("'{value}'"),
        _ => {
            let mut out = String::from("\"");
            for c in value.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '$' => out.push_str("\\$"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
    }
}

/// Expands `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`, `$VAR` and
/// `$$` in `value`. `lookup` returns `None` for an unset variable. An unset variable without
/// a default is an error naming it.
pub fn interpolate(value: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    interpolate_with(value, &lookup)
}

fn interpolate_with(
    value: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(inner) = rest.strip_prefix('{') {
            let end =
                matching_brace(inner).ok_or_else(|| format!("unterminated `${{` in `{value}`"))?;
            let expr = &inner[..end];
            rest = &inner[end + 1..];
            let name_len = expr
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(expr.len());
            let (name, op) = expr.split_at(name_len);
            if name.is_empty() {
                return Err(format!("bad substitution `${{{expr}}}` in `{value}`"));
            }
            let current = lookup(name);
            let expanded = if op.is_empty() {
                current.ok_or_else(|| format!("variable `{name}` is not set"))?
            } else if let Some(default) = op.strip_prefix(":-") {
                match current {
                    Some(v) if !v.is_empty() => v,
                    _ => interpolate_with(default, lookup)?,
                }
            } else if let Some(default) = op.strip_prefix('-') {
                match current {
                    Some(v) => v,
                    None => interpolate_with(default, lookup)?,
                }
            } else if let Some(msg) = op.strip_prefix(":?").or_else(|| op.strip_prefix('?')) {
                match current {
                    Some(v) if !v.is_empty() || op.starts_with('?') => v,
                    _ => return Err(format!("variable `{name}` is required: {msg}")),
                }
            } else {
                return Err(format!("bad substitution `${{{expr}}}` in `{value}`"));
            };
            out.push_str(&expanded);
        } else {
            let name_len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if name_len == 0 {
                out.push('$');
                continue;
            }
            let (name, after) = rest.split_at(name_len);
            out.push_str(&lookup(name).ok_or_else(|| format!("variable `{name}` is not set"))?);
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The position of the `}` that closes an already opened `${`.
fn matching_brace(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

fn line_of(bytes: &[u8], pos: usize) -> usize {
    1 + bytes[..pos].iter().filter(|&&b| b == b'\n').count()
}

/// A cursor over the text that yields entries.
struct Parser<'a> {
    text: &'a str,
    pos: usize,
    /// The line number at `counted`: lines are counted once, as the cursor moves on, so
    /// that parsing stays linear in the size of the file.
    line: usize,
    counted: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
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

    fn entries(mut self) -> Result<Vec<Entry>, ParseError> {
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
        let mut export = false;
        if let Some(rest) = self.text[self.pos..].strip_prefix("export") {
            if rest.starts_with([' ', '\t']) {
                export = true;
                self.pos += "export".len();
                self.skip_blanks();
            }
        }
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
                self.skip_blanks();
                if !self.at_line_end() && self.peek() != Some('#') {
                    let line = self.line();
                    return self.err(
                        line,
                        format!("unexpected text after the closing quote of `{key}`"),
                    );
                }
                let quote = if q == '"' {
                    Quote::Double
                } else {
                    Quote::Single
                };
                (value, quote, value_start..value_end)
            }
            _ => {
                let rest = &self.text[self.pos..];
                let line_end = rest.find('\n').unwrap_or(rest.len());
                let raw = rest[..line_end]
                    .strip_suffix('\r')
                    .unwrap_or(&rest[..line_end]);
                // `#` starts a comment only after white space: `KEY=#x` is the value `#x`
                // for every compose tool.
                let after_blank =
                    value_start > 0 && self.text[..value_start].ends_with([' ', '\t']);
                let mut value_len = raw.len();
                for (i, c) in raw.char_indices() {
                    if c == '#' && ((i == 0 && after_blank) || raw[..i].ends_with([' ', '\t'])) {
                        value_len = i;
                        break;
                    }
                }
                let value = raw[..value_len].trim_end_matches([' ', '\t']);
                (
                    value.to_owned(),
                    Quote::None,
                    value_start..value_start + value.len(),
                )
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
    use super::*;

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

    #[test]
    fn set_replaces_only_the_value() {
        let text = "# head\r\nexport A=\"old\" # keep\r\nB='x'\r\nC=old\r\n";
        let mut file = parse(text);
        file.set("A", "new@sha256:1", None);
        file.set("B", "y", None);
        file.set("C", "z", None);
        assert_eq!(
            file.render(),
            "# head\r\nexport A=\"new@sha256:1\" # keep\r\nB='y'\r\nC=z\r\n"
        );
    }

    #[test]
    fn set_inserts_after_anchor_with_its_style() {
        let mut file = parse("X=1\r\nexport T=img\r\nY=2\r\n");
        file.set("H", "img@sha256:0", Some("T"));
        assert_eq!(
            file.render(),
            "X=1\r\nexport T=img\r\nexport H=img@sha256:0\r\nY=2\r\n"
        );

        let mut file = parse("T=\"img\"");
        file.set("H", "v", Some("T"));
        assert_eq!(file.render(), "T=\"img\"\nH=\"v\"");

        let mut file = parse("T=img\nlast");
        file.set("H", "v", None);
        assert_eq!(file.render(), "T=img\nlast\nH=v");
    }

    #[test]
    fn set_before_a_lone_cr_at_the_end_of_the_file() {
        // Found by fuzzing: `N=\r` set to a value that needs quotes panicked.
        for (text, value) in [("N=\r", ""), ("L=M\r", "x y"), ("N='a'\r", "b")] {
            let mut file = parse(text);
            file.set(&text[..1], value, None);
            assert_eq!(file.get(&text[..1]).unwrap().value, value, "{text:?}");
            assert!(file.render().ends_with('\r'), "{text:?}");
        }
    }

    #[test]
    fn insert_after_a_last_line_ending_in_a_lone_cr() {
        // Found by fuzzing: the new line made `TCE="x"\r\r\n`, which did not parse again.
        let mut file = parse("CE\r\nTCE=\"x\"\r");
        file.set("NEW", "v", Some("TCE"));
        assert_eq!(file.render(), "CE\r\nTCE=\"x\"\r\nNEW=\"v\"");
        assert_eq!(file.entries().len(), 3);
    }

    #[test]
    fn set_before_a_comment_that_touches_the_value() {
        // Found by fuzzing: `L#` set to `=` became `L==#` with the value `=#`.
        for (text, value, want) in [
            ("L#", "=", "L== #"),
            ("A # c", "v", "A =v # c"),
            ("A=#c", "v", "A=v"),
            ("A= #c", "v", "A= v #c"),
        ] {
            let mut file = parse(text);
            file.set(&text[..1], value, None);
            assert_eq!(file.render(), want, "{text:?}");
            assert_eq!(file.get(&text[..1]).unwrap().value, value, "{text:?}");
        }
    }

    #[test]
    fn rendered_values_cannot_inject_lines() {
        let mut file = parse("A=1\n");
        file.set("A", "x\nEVIL=1 # '\"$", None);
        assert_eq!(file.entries().len(), 1);
        assert_eq!(file.get("A").unwrap().value, "x\nEVIL=1 # '\"$");
    }

    #[test]
    fn interpolation_table() {
        let vars: HashMap<&str, &str> = [("A", "a"), ("E", "")].into_iter().collect();
        let lookup = |n: &str| vars.get(n).map(|v| v.to_string());
        let ok: &[(&str, &str)] = &[
            ("${A}", "a"),
            ("x$A-y", "xa-y"),
            ("${B:-def}", "def"),
            ("${E:-def}", "def"),
            ("${E-def}", ""),
            ("${B-${A}}", "a"),
            ("$$A", "$A"),
            ("reg/${A}:${B:-latest}", "reg/a:latest"),
            ("end$", "end$"),
        ];
        for (input, want) in ok {
            assert_eq!(interpolate(input, lookup).as_deref(), Ok(*want), "{input}");
        }
        for bad in ["${B}", "$B", "${A", "${}", "${A:+x}", "${B:?needed}"] {
            assert!(interpolate(bad, lookup).is_err(), "{bad}");
        }
    }

    #[test]
    fn variables_expand_sequentially() {
        let file = parse("REG=r.io\nTAG='${X}'\nIMG=${REG}/app\n");
        let vars = file.variables();
        assert_eq!(vars["IMG"], "r.io/app");
        assert_eq!(vars["TAG"], "${X}");
    }
}
