//! python-dotenv's `parser.py`, `variables.py` and `main.py` (`dotenv_values`,
//! `interpolate=True`, `override=True`): how podman-compose 1.0 (python-dotenv 0.21) and
//! 1.6 (python-dotenv 1.2) read a `.env`.

use super::reading::{Lines, Reading, Value};

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

/// The keys and values `dotenv_values` reads from `text`: python-dotenv 1.2 when `new`, else
/// 0.21.
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
