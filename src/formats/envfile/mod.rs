//! Lossless `.env` files: parse, read values, edit one value, render byte for byte.
//!
//! The syntax is the dotenv dialect that compose tools accept: `KEY=value` lines, an optional
//! `export ` prefix, `#` comments (inline after white space for unquoted values), single
//! quotes (literal, may span lines), double quotes (backslash escapes, may span lines), LF or
//! CRLF line endings and an optional UTF-8 byte order mark. Parsing keeps the exact text; an
//! edit replaces only the bytes of one value (or inserts one line), so everything else stays
//! byte-identical. This module does no I/O; [`crate::envfile_io`] reads and writes files.

mod entry;
mod interpolate;
mod parse;
mod render;

use std::collections::HashMap;
use std::ops::Range;

pub use entry::{Entry, ParseError, Quote};
pub use interpolate::{interpolate, InterpolateError};
pub use render::render_value;

use parse::{line_of, Parser};

/// A parsed env file that renders back to exactly the bytes it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFile {
    text: String,
    entries: Vec<Entry>,
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> EnvFile {
        EnvFile::parse(text.as_bytes()).unwrap()
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
    fn variables_expand_sequentially() {
        let file = parse("REG=r.io\nTAG='${X}'\nIMG=${REG}/app\n");
        let vars = file.variables();
        assert_eq!(vars["IMG"], "r.io/app");
        assert_eq!(vars["TAG"], "${X}");
    }
}
