//! A version tag moved in a `.env` (`TAG_UPDATE`): only the tag's characters in the TAGGED
//! value change, in the file's text, so quoting, variables, comments and line endings stay.

use crate::formats::envfile::EnvFile;

/// A version tag that moves with a pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retag {
    /// The tag before (`1.2.3`).
    pub from: String,
    /// The tag after (`1.2.5`).
    pub to: String,
    /// The new reference after interpolation, to resolve.
    pub reference: String,
}

/// `env` with the tag of `key`'s value moved as `retag` says: only the tag's characters
/// change, in the file's text, so quoting, variables, comments and line endings stay. `None`
/// (a warning) if the tag cannot be found at the end of the value or the result does not
/// read back as the new reference.
pub fn rewrite(env: &EnvFile, key: &str, retag: &Retag) -> Option<EnvFile> {
    let text = env.render();
    let entry = env.get(key)?;
    let old = format!(":{}", retag.from);
    // The entry's line: its start is the end of the line before it.
    let start = match entry.line.checked_sub(2) {
        None => 0,
        Some(n) => text.match_indices('\n').nth(n)?.0 + 1,
    };
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let at = text[start..line_end]
        .match_indices(&old)
        .map(|(i, _)| start + i)
        .filter(|&i| {
            let next = text[i + old.len()..].chars().next();
            next.is_none_or(|c| matches!(c, '"' | '\'' | '#' | '\r' | '\n') || c.is_whitespace())
        })
        .last()?;
    let mut new_text = text.to_owned();
    new_text.replace_range(at..at + old.len(), &format!(":{}", retag.to));
    let new = EnvFile::parse(new_text.as_bytes()).ok()?;
    let vars = new.variables();
    let same_keys = new.entries().len() == env.entries().len();
    (same_keys && vars.get(key) == Some(&retag.reference)).then_some(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_only_the_tag() {
        let retag = Retag {
            from: "1.2.3".into(),
            to: "1.2.5".into(),
            reference: "r:5000/a:1.2.5".into(),
        };
        let cases = [
            (
                "R=r:5000\r\nSERVICE_A_IMAGE_TAGGED=\"${R}/a:1.2.3\" # c\r\nX=1\r\n",
                Some("R=r:5000\r\nSERVICE_A_IMAGE_TAGGED=\"${R}/a:1.2.5\" # c\r\nX=1\r\n"),
            ),
            (
                "export SERVICE_A_IMAGE_TAGGED='r:5000/a:1.2.3'",
                Some("export SERVICE_A_IMAGE_TAGGED='r:5000/a:1.2.5'"),
            ),
            ("SERVICE_A_IMAGE_TAGGED=r:5000/a:1.2.3#x\n", None),
            ("T=1.2.3\nSERVICE_A_IMAGE_TAGGED=r:5000/a:${T}\n", None),
        ];
        for (text, want) in cases {
            let env = EnvFile::parse(text.as_bytes()).unwrap();
            let got = rewrite(&env, "SERVICE_A_IMAGE_TAGGED", &retag);
            assert_eq!(got.as_ref().map(|e| e.render()), want, "{text:?}");
        }
    }
}
