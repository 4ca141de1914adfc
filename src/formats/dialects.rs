//! What each compose tool reads from a `.env` file, rule for rule.
//!
//! cipug pins the image that compose will run, so it must read a `.env` as the compose tool
//! does. The tools disagree on corner cases, so this module models each of them:
//!
//! - python-dotenv 0.21 (`dotenv_values`, what podman-compose 1.0 calls),
//! - python-dotenv 1.2 (what podman-compose 1.6 calls),
//! - docker compose v2 (compose-go's `dotenv` parser and its `template` interpolation).
//!
//! Each model returns the keys and values the tool ends up with, interpolated as the tool
//! does it against an empty process environment (cipug hands compose an environment without
//! the variables that decide a pin). Where a model cannot be sure what its tool does (an
//! interpolation form it does not know), the value is [`Value::Unknown`]: cipug then refuses
//! rather than guess. The models are checked against the real parsers in `tests/dialects.rs`.

use std::collections::HashMap;

/// One compose tool's way of reading a `.env`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// python-dotenv 0.21, as podman-compose 1.0 uses it.
    PythonDotenv021,
    /// python-dotenv 1.2, as podman-compose 1.6 uses it.
    PythonDotenv12,
    /// compose-go, as docker compose v2 uses it.
    ComposeGo,
}

impl Tool {
    /// Every modelled tool.
    pub const ALL: [Tool; 3] = [Tool::PythonDotenv021, Tool::PythonDotenv12, Tool::ComposeGo];

    /// The name shown in messages.
    pub fn name(self) -> &'static str {
        match self {
            Tool::PythonDotenv021 => "podman-compose 1.0 (python-dotenv 0.21)",
            Tool::PythonDotenv12 => "podman-compose 1.6 (python-dotenv 1.2)",
            Tool::ComposeGo => "docker compose v2 (compose-go)",
        }
    }
}

/// A value as a tool reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// The key is not set.
    Unset,
    /// The key holds this text.
    Text(String),
    /// The model does not know what the tool makes of it.
    Unknown,
}

/// What one tool reads from a file: the final value and the line of each key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reading {
    values: HashMap<String, (Value, usize)>,
}

impl Reading {
    /// The value of `key` (the last definition wins, as in every tool).
    pub fn get(&self, key: &str) -> Value {
        self.values
            .get(key)
            .map_or(Value::Unset, |(value, _)| value.clone())
    }

    /// The line of the definition of `key` that wins.
    pub fn line(&self, key: &str) -> Option<usize> {
        self.values.get(key).map(|(_, line)| *line)
    }

    /// All keys the tool sets.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    fn set(&mut self, key: String, value: Value, line: usize) {
        self.values.insert(key, (value, line));
    }

    fn text(&self, key: &str) -> Option<Option<&str>> {
        match self.values.get(key) {
            None => Some(None),
            Some((Value::Text(t), _)) => Some(Some(t)),
            Some((Value::Unset, _)) => Some(None),
            Some((Value::Unknown, _)) => None,
        }
    }
}

/// Reads `text` as `tool` does. An error means the tool refuses the whole file.
pub fn read(tool: Tool, text: &str) -> Result<Reading, (usize, String)> {
    match tool {
        Tool::PythonDotenv021 => Ok(python::read(text, false)),
        Tool::PythonDotenv12 => Ok(python::read(text, true)),
        Tool::ComposeGo => go::read(text),
    }
}

/// Byte offset to 1-based line, in O(log n) after one linear pass.
struct Lines(Vec<usize>);

impl Lines {
    fn new(text: &str) -> Self {
        Lines(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        )
    }

    fn of(&self, pos: usize) -> usize {
        1 + self.0.partition_point(|&nl| nl < pos)
    }
}

/// python-dotenv's `parser.py`, `variables.py` and `main.py` (`dotenv_values`,
/// `interpolate=True`, `override=True`).
mod python {
    use super::{Lines, Reading, Value};

    /// Whitespace as Python's `\s` sees it (`str.isspace`).
    fn space(c: char) -> bool {
        c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
    }

    /// `[^\S\r\n]`: white space on one line.
    fn blank(c: char) -> bool {
        space(c) && c != '\r' && c != '\n'
    }

    struct Reader<'a> {
        s: &'a str,
        pos: usize,
        new: bool,
    }

    impl Reader<'_> {
        fn rest(&self) -> &str {
            &self.s[self.pos..]
        }
        fn peek(&self) -> Option<char> {
            self.rest().chars().next()
        }
        fn skip_while(&mut self, f: impl Fn(char) -> bool) -> usize {
            let n = self.rest().find(|c| !f(c)).unwrap_or(self.rest().len());
            self.pos += n;
            n
        }

        /// A quoted value starting at the quote `q`; `None` when the regex does not match.
        fn quoted(&mut self, q: char) -> Option<String> {
            let s = self.s;
            let body = &s[self.pos + 1..];
            let end = if self.new {
                // `q((?:\\.|[^q\\])*)q`: a backslash always takes the next character.
                let mut chars = body.char_indices();
                loop {
                    match chars.next()? {
                        (i, c) if c == q => break i,
                        (_, '\\') => {
                            chars.next()?;
                        }
                        _ => {}
                    }
                }
            } else {
                // `q((?:\\q|[^q])*)q`, with the regex engine's backtracking: the value ends
                // at the first quote with no backslash before it, else at the last escaped
                // quote of the text.
                let mut last_escaped = None;
                let mut hard = None;
                for (i, c) in body.char_indices() {
                    if c == q {
                        if i > 0 && body.as_bytes()[i - 1] == b'\\' {
                            last_escaped = Some(i);
                        } else {
                            hard = Some(i);
                            break;
                        }
                    }
                }
                hard.or(last_escaped)?
            };
            let raw = &body[..end];
            self.pos += 1 + end + 1;
            Some(decode(raw, q))
        }
    }

    /// `decode_escapes`: `\\` and `\'` in single quotes; `\\ \' \" \a \b \f \n \r \t \v`
    /// in double quotes.
    fn decode(raw: &str, q: char) -> String {
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            let decoded = match (q, chars.peek()) {
                (_, Some('\\')) => Some('\\'),
                (_, Some('\'')) => Some('\''),
                ('"', Some('"')) => Some('"'),
                ('"', Some('a')) => Some('\u{7}'),
                ('"', Some('b')) => Some('\u{8}'),
                ('"', Some('f')) => Some('\u{c}'),
                ('"', Some('n')) => Some('\n'),
                ('"', Some('r')) => Some('\r'),
                ('"', Some('t')) => Some('\t'),
                ('"', Some('v')) => Some('\u{b}'),
                _ => None,
            };
            match decoded {
                Some(d) => {
                    out.push(d);
                    chars.next();
                }
                None => out.push('\\'),
            }
        }
        out
    }

    /// One binding: `Ok(Some((key, value)))`, `Ok(None)` for a comment or the end, `Err`
    /// for a line python-dotenv skips with a warning.
    fn binding(r: &mut Reader<'_>) -> Result<Option<(String, Option<String>)>, ()> {
        if r.rest().starts_with("export") {
            let after = &r.rest()[6..];
            let n = after.find(|c| !blank(c)).unwrap_or(after.len());
            if n > 0 {
                r.pos += 6 + n;
            }
        }
        let key = match r.peek() {
            Some('#') => None,
            Some('\'') => {
                let body = &r.rest()[1..];
                let end = body.find('\'').filter(|&e| e > 0).ok_or(())?;
                let key = body[..end].to_owned();
                r.pos += end + 2;
                Some(key)
            }
            _ => {
                let n = r
                    .rest()
                    .find(|c| c == '=' || c == '#' || space(c))
                    .unwrap_or(r.rest().len());
                if n == 0 {
                    return Err(());
                }
                let key = r.rest()[..n].to_owned();
                r.pos += n;
                Some(key)
            }
        };
        r.skip_while(blank);
        let value = if r.peek() == Some('=') {
            r.pos += 1;
            let blanks = r.skip_while(blank);
            if r.new && blanks > 0 && r.peek() == Some('#') {
                Some(String::new())
            } else {
                Some(value(r)?)
            }
        } else {
            None
        };
        // `_comment`, then `_end_of_line`.
        let save = r.pos;
        r.skip_while(blank);
        if r.peek() == Some('#') {
            r.skip_while(|c| c != '\r' && c != '\n');
        } else {
            r.pos = save;
        }
        r.skip_while(blank);
        if r.rest().starts_with("\r\n") {
            r.pos += 2;
        } else if matches!(r.peek(), Some('\r' | '\n')) {
            r.pos += 1;
        } else if r.peek().is_some() {
            return Err(());
        }
        Ok(key.map(|k| (k, value)))
    }

    fn value(r: &mut Reader<'_>) -> Result<String, ()> {
        match r.peek() {
            Some(q @ ('\'' | '"')) => r.quoted(q).ok_or(()),
            None | Some('\r' | '\n') => Ok(String::new()),
            _ => {
                let s = r.s;
                let rest = &s[r.pos..];
                let n = rest.find(['\r', '\n']).unwrap_or(rest.len());
                let part = &rest[..n];
                r.pos += n;
                // `re.sub(r"\s+#.*", "", part).rstrip()`
                let mut cut = part.len();
                for (i, c) in part.char_indices() {
                    if c == '#' && part[..i].ends_with(space) {
                        cut = part[..i].trim_end_matches(space).len();
                        break;
                    }
                }
                Ok(part[..cut].trim_end_matches(space).to_owned())
            }
        }
    }

    pub(super) fn read(text: &str, new: bool) -> Reading {
        // Python opens the file in text mode: `\r\n` and a lone `\r` are read as `\n`.
        let text: std::borrow::Cow<'_, str> = if text.contains('\r') {
            text.replace("\r\n", "\n").replace('\r', "\n").into()
        } else {
            text.into()
        };
        let s = if new {
            text.strip_prefix('\u{feff}').unwrap_or(&text)
        } else {
            &text
        };
        let lines = Lines::new(s);
        let mut r = Reader { s, pos: 0, new };
        let mut reading = Reading::default();
        while r.pos < s.len() {
            r.skip_while(space);
            if r.pos >= s.len() {
                break;
            }
            let start = r.pos;
            match binding(&mut r) {
                Ok(Some((key, value))) => {
                    let value = value.map(|v| interpolate(v, &reading));
                    let shown = value.map_or(Value::Unset, Value::Text);
                    reading.set(key, shown, lines.of(start));
                }
                Ok(None) => {}
                Err(()) => {
                    // `_rest_of_line`: to the end of the line the error is on.
                    r.skip_while(|c| c != '\r' && c != '\n');
                    if r.rest().starts_with('\r') || r.rest().starts_with('\n') {
                        r.pos += 1;
                    }
                }
            }
            if r.pos == start {
                r.pos += r.peek().map_or(1, char::len_utf8);
            }
        }
        reading
    }

    /// `${NAME}` and `${NAME:-default}` (the default used only when NAME is unset), from
    /// the values above; nothing else is special (`$NAME` and `$$` stay as written).
    fn interpolate(value: String, vars: &Reading) -> String {
        if !value.contains("${") {
            return value;
        }
        let mut out = String::new();
        let mut i = 0;
        while let Some(found) = value[i..].find("${") {
            let start = i + found;
            let inner = &value[start + 2..];
            let name_len = inner.find(['}', ':']).unwrap_or(inner.len());
            let after = &inner[name_len..];
            let (default, len) = if after.starts_with('}') {
                (None, name_len + 1)
            } else if let Some(d) = after.strip_prefix(":-") {
                match d.find('}') {
                    Some(e) => (Some(&d[..e]), name_len + 2 + e + 1),
                    None => {
                        out.push_str(&value[i..start + 1]);
                        i = start + 1;
                        continue;
                    }
                }
            } else {
                out.push_str(&value[i..start + 1]);
                i = start + 1;
                continue;
            };
            out.push_str(&value[i..start]);
            let name = &inner[..name_len];
            match vars.values.get(name) {
                Some((Value::Text(v), _)) => out.push_str(v),
                Some(_) => {}
                None => out.push_str(default.unwrap_or("")),
            }
            i = start + 2 + len;
        }
        out.push_str(&value[i..]);
        out
    }
}

/// compose-go's `dotenv/parser.go` and `template/template.go`.
mod go {
    use super::{Lines, Reading, Value};

    /// Go's `unicode.IsSpace`.
    fn uspace(c: char) -> bool {
        matches!(
            c,
            '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}'
        ) || (c > '\u{ff}' && c.is_whitespace())
    }

    /// The parser's `isSpace`: white space but not a line feed.
    fn space(c: char) -> bool {
        matches!(
            c,
            '\t' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}'
        )
    }

    pub(super) fn read(text: &str) -> Result<Reading, (usize, String)> {
        let s = text.strip_prefix('\u{feff}').unwrap_or(text);
        let lines = Lines::new(s);
        let mut reading = Reading::default();
        let mut pos = 0;
        loop {
            // getStatementStart: skip white space and comment lines.
            loop {
                let rest = &s[pos..];
                match rest.find(|c| !uspace(c)) {
                    None => return Ok(reading),
                    Some(n) => pos += n,
                }
                if s[pos..].starts_with('#') {
                    match s[pos..].find('\n') {
                        Some(n) => pos += n,
                        None => return Ok(reading),
                    }
                } else {
                    break;
                }
            }
            let start = pos;
            let line = lines.of(start);
            // locateKeyName: `^export\s+`, then the key up to `=`, `:` or a line feed.
            let mut src = &s[pos..];
            if let Some(after) = src.strip_prefix("export") {
                let n = after
                    .find(|c: char| !matches!(c, ' ' | '\t' | '\n' | '\u{c}' | '\r'))
                    .unwrap_or(after.len());
                if n > 0 {
                    src = &after[n..];
                }
            }
            let src = src.trim_start_matches(space);
            let mut end = None;
            for (i, c) in src.char_indices() {
                if space(c) {
                    continue;
                }
                match c {
                    '=' | ':' | '\n' => {
                        end = Some((i, c));
                        break;
                    }
                    '_' | '.' | '-' | '[' | ']' => {}
                    c if c.is_alphanumeric() => {}
                    c => {
                        return Err((
                            line,
                            format!("unexpected character {c:?} in a variable name"),
                        ))
                    }
                }
            }
            let Some((i, sep)) = end else {
                // A last key with no `=` and no line feed: nothing a pin depends on.
                return Ok(reading);
            };
            let key = src[..i].trim_end_matches(uspace).to_owned();
            if key.contains(' ') {
                return Err((line, "a key cannot contain a space".into()));
            }
            let consumed = s.len() - src.len() + i + 1;
            pos = consumed;
            if sep == '\n' {
                // Taken from the environment, which has none of these here.
                continue;
            }
            let rest = &s[pos..];
            let trimmed = rest.trim_start_matches(space);
            pos += rest.len() - trimmed.len();
            let (value, next) = value(s, pos, &reading, line)?;
            reading.set(key, value.map_or(Value::Unknown, Value::Text), line);
            pos = next;
        }
    }

    /// extractVarValue: the value at `pos` and where the next statement may start.
    fn value(
        s: &str,
        pos: usize,
        vars: &Reading,
        line: usize,
    ) -> Result<(Option<String>, usize), (usize, String)> {
        let src = &s[pos..];
        let quote = src.chars().next().filter(|c| *c == '"' || *c == '\'');
        let Some(q) = quote else {
            let end = src.find('\n').unwrap_or(src.len());
            let value = &src[..end];
            let value = value.split(" #").next().unwrap_or("");
            let value = value.trim_end_matches(uspace);
            return Ok((substitute(value, vars), pos + end));
        };
        let bytes = src.as_bytes();
        for i in 1..bytes.len() {
            if bytes[i] == q as u8 && bytes[i - 1] != b'\\' {
                let raw = &src[1..i];
                let value = if q == '"' {
                    substitute(&unescape(raw), vars)
                } else {
                    Some(raw.to_owned())
                };
                return Ok((value, pos + i + 1));
            }
        }
        Err((line, "unterminated quoted value".into()))
    }

    /// expandEscapes: `\a \b \f \n \r \t \v \" \\`, `\0` octal, and `\$` as `$$`.
    fn unescape(raw: &str) -> String {
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(i) = rest.find('\\') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let mut next = after.chars();
            let (text, used): (String, usize) = match next.next() {
                Some('a') => ("\u{7}".into(), 1),
                Some('b') => ("\u{8}".into(), 1),
                Some('c') => ("\\c".into(), 1),
                Some('f') => ("\u{c}".into(), 1),
                Some('n') => ("\n".into(), 1),
                Some('r') => ("\r".into(), 1),
                Some('t') => ("\t".into(), 1),
                Some('v') => ("\u{b}".into(), 1),
                Some('$') => ("$$".into(), 1),
                Some('"') => ("\"".into(), 1),
                Some('\\') => ("\\".into(), 1),
                Some('0') => {
                    let digits = after[1..]
                        .bytes()
                        .take(3)
                        .take_while(u8::is_ascii_digit)
                        .count();
                    let octal = &after[1..1 + digits];
                    match u32::from_str_radix(octal, 8).ok().filter(|_| digits == 3) {
                        Some(n) if n <= 0xff => (
                            char::from_u32(n).map(String::from).unwrap_or_default(),
                            1 + digits,
                        ),
                        _ => (format!("\\0{octal}"), 1 + digits),
                    }
                }
                _ => ("\\".into(), 0),
            };
            out.push_str(&text);
            rest = &after[used..];
        }
        out.push_str(rest);
        out
    }

    fn name_len(text: &str) -> usize {
        let mut n = 0;
        for (i, c) in text.char_indices() {
            let ok = c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit());
            if !ok {
                break;
            }
            n = i + 1;
        }
        n
    }

    /// template.Substitute for the forms whose outcome is plain: `$$`, `$NAME`, `${NAME}`,
    /// `${NAME:-x}`, `${NAME-x}` (defaults may nest). `None` for anything else.
    pub(super) fn substitute(value: &str, vars: &Reading) -> Option<String> {
        if !value.contains('$') {
            return Some(value.to_owned());
        }
        let lookup = |name: &str| match vars.values.get(name) {
            Some((Value::Text(v), _)) => Some(v.clone()),
            _ => None,
        };
        let mut out = String::new();
        let mut rest = value;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            if let Some(r) = after.strip_prefix('$') {
                out.push('$');
                rest = r;
            } else if let Some(inner) = after.strip_prefix('{') {
                let close = closing(inner)?;
                let expr = &inner[..close];
                rest = &inner[close + 1..];
                let n = name_len(expr);
                if n == 0 {
                    return None;
                }
                let (name, op) = expr.split_at(n);
                let current = lookup(name);
                let text = if op.is_empty() {
                    current.unwrap_or_default()
                } else if let Some(d) = op.strip_prefix(":-") {
                    match current.filter(|v| !v.is_empty()) {
                        Some(v) => v,
                        None => substitute(d, vars)?,
                    }
                } else if let Some(d) = op.strip_prefix('-') {
                    if d.contains('?') {
                        return None;
                    }
                    match current {
                        Some(v) => v,
                        None => substitute(d, vars)?,
                    }
                } else {
                    return None;
                };
                out.push_str(&text);
            } else {
                let n = name_len(after);
                if n == 0 {
                    // A `$` before anything else: an invalid template for compose.
                    return None;
                }
                out.push_str(&lookup(&after[..n]).unwrap_or_default());
                rest = &after[n..];
            }
        }
        out.push_str(rest);
        Some(out)
    }

    /// The `}` that closes an opened `${`, counting nested `${ }`; `None` if a stray `{` or
    /// `}` makes compose's greedy pattern hard to follow.
    fn closing(inner: &str) -> Option<usize> {
        let mut depth = 0usize;
        let bytes = inner.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'$' if bytes.get(i + 1) == Some(&b'{') => {
                    depth += 1;
                    i += 1;
                }
                b'{' => return None,
                b'}' if depth == 0 => return Some(i),
                b'}' => depth -= 1,
                _ => {}
            }
            i += 1;
        }
        None
    }
}

/// Values every tool reads alike, or why not. `Ok(None)`: no tool sets the key.
pub fn agreed(readings: &[(Tool, Reading)], key: &str) -> Result<Option<String>, String> {
    let mut seen: Vec<(Tool, Option<&str>)> = Vec::new();
    for (tool, reading) in readings {
        match reading.text(key) {
            Some(v) => seen.push((*tool, v)),
            None => {
                return Err(format!(
                    "{} reads it in a way cipug cannot follow",
                    tool.name()
                ))
            }
        }
    }
    let first = seen.first().map(|(_, v)| *v).unwrap_or(None);
    if seen.iter().all(|(_, v)| *v == first) {
        return Ok(first.map(str::to_owned));
    }
    let parts: Vec<String> = seen
        .iter()
        .map(|(tool, v)| match v {
            Some(v) => format!("{} reads `{}`", tool.name(), v.escape_debug()),
            None => format!("{} does not set it", tool.name()),
        })
        .collect();
    Err(format!("the compose tools disagree: {}", parts.join(", ")))
}

/// Every tool's reading of `text`, or the first tool that refuses the file.
pub fn read_all(text: &str) -> Result<Vec<(Tool, Reading)>, (usize, String)> {
    each_tool(|tool| {
        read(tool, text)
            .map(|r| (tool, r))
            .map_err(|(line, e)| (line, format!("{} cannot read the file: {e}", tool.name())))
    })
    .into_iter()
    .collect()
}

/// `f` for every tool, the tools side by side on threads (a big file reads in a third of
/// the time on three cores).
fn each_tool<T: Send>(f: impl Fn(Tool) -> T + Sync) -> Vec<T> {
    std::thread::scope(|scope| {
        let f = &f;
        let handles: Vec<_> = Tool::ALL
            .iter()
            .map(|&tool| scope.spawn(move || f(tool)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// Checks an edit before it is written: in `after`, every tool reads each `(key, pin)` of
/// `pins` as the pin and every other key as it read it in `before`. The error names the
/// line and the tool that would read something else.
pub fn check_edit(
    before: &str,
    after: &str,
    pins: &[(String, String)],
) -> Result<(), (usize, String)> {
    each_tool(|tool| check_edit_for(tool, before, after, pins))
        .into_iter()
        .collect()
}

fn check_edit_for(
    tool: Tool,
    before: &str,
    after: &str,
    pins: &[(String, String)],
) -> Result<(), (usize, String)> {
    let pinned: std::collections::HashSet<&str> = pins.iter().map(|(k, _)| k.as_str()).collect();
    {
        let old = read(tool, before)?;
        let new = read(tool, after)?;
        for (key, pin) in pins {
            if new.get(key) != Value::Text(pin.clone()) {
                let line = new.line(key).unwrap_or(1);
                return Err((
                    line,
                    format!(
                        "after the edit {} would not read {key} as the pin",
                        tool.name()
                    ),
                ));
            }
        }
        let changed = old
            .keys()
            .chain(new.keys())
            .filter(|k| !pinned.contains(k))
            .find(|k| old.get(k) != new.get(k));
        if let Some(key) = changed {
            let line = new.line(key).or(old.line(key)).unwrap_or(1);
            return Err((
                line,
                format!(
                    "after the edit {} would read {key} differently",
                    tool.name()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str, key: &str) -> Vec<Value> {
        Tool::ALL
            .iter()
            .map(|&t| read(t, text).map(|r| r.get(key)).unwrap_or(Value::Unknown))
            .collect()
    }

    fn t(s: &str) -> Value {
        Value::Text(s.into())
    }

    #[test]
    fn where_the_tools_differ() {
        // python-dotenv 0.21, 1.2, compose-go.
        let cases: &[(&str, &str, [Value; 3])] = &[
            ("A=#x", "A", [t("#x"), t("#x"), t("#x")]),
            ("A= #x", "A", [t("#x"), t(""), t("#x")]),
            ("A=b\t#x", "A", [t("b"), t("b"), t("b\t#x")]),
            ("B=1\nA=\"\\$B\"", "A", [t("\\$B"), t("\\$B"), t("$B")]),
            ("B=1\nA=$B", "A", [t("$B"), t("$B"), t("1")]),
            ("A=${B:-d}\nB=1", "A", [t("d"), t("d"), t("d")]),
            ("B=\nA=${B:-d}", "A", [t(""), t(""), t("d")]),
            ("A='it\\'s'", "A", [t("it's"), t("it's"), t("it\\'s")]),
            ("A=1\rB=2", "B", [t("2"), t("2"), Value::Unset]),
            ("\u{feff}A=1", "A", [Value::Unset, t("1"), t("1")]),
        ];
        for (text, key, want) in cases {
            assert_eq!(all(text, key), want.to_vec(), "{text:?}");
        }
    }
}
