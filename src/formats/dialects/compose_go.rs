//! compose-go's `dotenv/parser.go` and `template/template.go`: how docker compose v2 reads
//! a `.env`.

use super::reading::{Lines, Reading, Value};

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

/// The keys and values docker compose v2 reads from `text`; an error for a file it refuses.
pub(super) fn read(text: &str) -> Result<Reading, (usize, String)> {
    let s = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines = Lines::new(s);
    let mut reading = Reading::default();
    let mut pos = 0;
    while let Some(start) = statement_start(s, pos) {
        let line = lines.of(start);
        let Some((key, sep, after)) = key_name(s, start, line)? else {
            // A last key with no `=` and no line feed: nothing a pin depends on.
            return Ok(reading);
        };
        pos = after;
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
    Ok(reading)
}

/// getStatementStart: where the next statement starts at or after `pos`, past white space
/// and comment lines; `None` at the end of the text.
fn statement_start(s: &str, mut pos: usize) -> Option<usize> {
    loop {
        pos += s[pos..].find(|c| !uspace(c))?;
        if !s[pos..].starts_with('#') {
            return Some(pos);
        }
        pos += s[pos..].find('\n')?;
    }
}

/// locateKeyName: `^export\s+`, then the key up to `=`, `:` or a line feed. The key, that
/// separator and the position after it; `None` for a last key with no separator.
fn key_name(
    s: &str,
    pos: usize,
    line: usize,
) -> Result<Option<(String, char, usize)>, (usize, String)> {
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
        return Ok(None);
    };
    let key = src[..i].trim_end_matches(uspace).to_owned();
    if key.contains(' ') {
        return Err((line, "a key cannot contain a space".into()));
    }
    Ok(Some((key, sep, s.len() - src.len() + i + 1)))
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
